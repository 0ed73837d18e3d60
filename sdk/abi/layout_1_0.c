/* Silverback plugin ABI 1.0: sizes and offsets of every public struct member, frozen.
 *
 * A compiler-level second net under the abidw layout check (sdk/abi/README.md). Generated once
 * from the 1.0 header on x86-64 Linux (LP64, System V); never edit a line, only add a file for a
 * new minor (its appended members). Compiled as C11 (for _Static_assert) by the build and by
 * the abi.header_hygiene test. */
#include <silverback/plugin.h>
#include <stddef.h>

_Static_assert(sizeof(void *) == 8 && sizeof(size_t) == 8, "the ABI targets LP64");
#define SB_ABI_MEMBER(T, f, off, size)                                        \
  _Static_assert(offsetof(T, f) == (off), #T "." #f " moved");               \
  _Static_assert(sizeof(((T *)0)->f) == (size), #T "." #f " changed size")

_Static_assert(sizeof(sb_str) == 16, "sb_str changed size (it has no struct_size: it never grows)");
SB_ABI_MEMBER(sb_str, ptr, 0, 8);
SB_ABI_MEMBER(sb_str, len, 8, 8);

_Static_assert(sizeof(sb_header) == 32, "sb_header changed size (it has no struct_size: it never grows)");
SB_ABI_MEMBER(sb_header, name, 0, 16);
SB_ABI_MEMBER(sb_header, value, 16, 16);

_Static_assert(sizeof(sb_errbuf) == 16, "sb_errbuf changed size (it has no struct_size: it never grows)");
SB_ABI_MEMBER(sb_errbuf, buf, 0, 8);
SB_ABI_MEMBER(sb_errbuf, cap, 8, 8);

_Static_assert(sizeof(sb_http_request) >= 80, "sb_http_request shrank (it may only grow at the end)");
SB_ABI_MEMBER(sb_http_request, struct_size, 0, 4);
SB_ABI_MEMBER(sb_http_request, timeout_ms, 4, 4);
SB_ABI_MEMBER(sb_http_request, flags, 8, 4);
SB_ABI_MEMBER(sb_http_request, reserved, 12, 4);
SB_ABI_MEMBER(sb_http_request, method, 16, 16);
SB_ABI_MEMBER(sb_http_request, url, 32, 16);
SB_ABI_MEMBER(sb_http_request, headers, 48, 8);
SB_ABI_MEMBER(sb_http_request, n_headers, 56, 8);
SB_ABI_MEMBER(sb_http_request, body, 64, 16);

_Static_assert(sizeof(sb_http_response) >= 40, "sb_http_response shrank (it may only grow at the end)");
SB_ABI_MEMBER(sb_http_response, struct_size, 0, 4);
SB_ABI_MEMBER(sb_http_response, status, 4, 4);
SB_ABI_MEMBER(sb_http_response, headers, 8, 8);
SB_ABI_MEMBER(sb_http_response, n_headers, 16, 8);
SB_ABI_MEMBER(sb_http_response, body, 24, 16);

_Static_assert(sizeof(sb_host_api) >= 368, "sb_host_api shrank (it may only grow at the end)");
SB_ABI_MEMBER(sb_host_api, struct_size, 0, 4);
SB_ABI_MEMBER(sb_host_api, abi_minor, 4, 4);
SB_ABI_MEMBER(sb_host_api, log_msg, 8, 8);
SB_ABI_MEMBER(sb_host_api, status_str, 16, 8);
SB_ABI_MEMBER(sb_host_api, value_kind, 24, 8);
SB_ABI_MEMBER(sb_host_api, value_get, 32, 8);
SB_ABI_MEMBER(sb_host_api, value_len, 40, 8);
SB_ABI_MEMBER(sb_host_api, value_at, 48, 8);
SB_ABI_MEMBER(sb_host_api, value_key_at, 56, 8);
SB_ABI_MEMBER(sb_host_api, value_str, 64, 8);
SB_ABI_MEMBER(sb_host_api, value_int, 72, 8);
SB_ABI_MEMBER(sb_host_api, value_num, 80, 8);
SB_ABI_MEMBER(sb_host_api, var_get, 88, 8);
SB_ABI_MEMBER(sb_host_api, var_set, 96, 8);
SB_ABI_MEMBER(sb_host_api, num_get, 104, 8);
SB_ABI_MEMBER(sb_host_api, num_set, 112, 8);
SB_ABI_MEMBER(sb_host_api, hdr_get, 120, 8);
SB_ABI_MEMBER(sb_host_api, hdr_count, 128, 8);
SB_ABI_MEMBER(sb_host_api, hdr_at, 136, 8);
SB_ABI_MEMBER(sb_host_api, hdr_set, 144, 8);
SB_ABI_MEMBER(sb_host_api, hdr_add, 152, 8);
SB_ABI_MEMBER(sb_host_api, hdr_remove, 160, 8);
SB_ABI_MEMBER(sb_host_api, query_get, 168, 8);
SB_ABI_MEMBER(sb_host_api, request_body_get, 176, 8);
SB_ABI_MEMBER(sb_host_api, request_body_set, 184, 8);
SB_ABI_MEMBER(sb_host_api, route_capture, 192, 8);
SB_ABI_MEMBER(sb_host_api, respond, 200, 8);
SB_ABI_MEMBER(sb_host_api, respond_error, 208, 8);
SB_ABI_MEMBER(sb_host_api, response_body_mode, 216, 8);
SB_ABI_MEMBER(sb_host_api, body_set, 224, 8);
SB_ABI_MEMBER(sb_host_api, response_body_get, 232, 8);
SB_ABI_MEMBER(sb_host_api, service_set_target, 240, 8);
SB_ABI_MEMBER(sb_host_api, service_set_upstream, 248, 8);
SB_ABI_MEMBER(sb_host_api, client_authenticate, 256, 8);
SB_ABI_MEMBER(sb_host_api, client_get_consumer, 264, 8);
SB_ABI_MEMBER(sb_host_api, client_get_credential, 272, 8);
SB_ABI_MEMBER(sb_host_api, entity_find, 280, 8);
SB_ABI_MEMBER(sb_host_api, shared_set, 288, 8);
SB_ABI_MEMBER(sb_host_api, shared_get, 296, 8);
SB_ABI_MEMBER(sb_host_api, data_set, 304, 8);
SB_ABI_MEMBER(sb_host_api, data_get, 312, 8);
SB_ABI_MEMBER(sb_host_api, ip_is_trusted, 320, 8);
SB_ABI_MEMBER(sb_host_api, log_serialize, 328, 8);
SB_ABI_MEMBER(sb_host_api, timer_start, 336, 8);
SB_ABI_MEMBER(sb_host_api, http_call, 344, 8);
SB_ABI_MEMBER(sb_host_api, cancel, 352, 8);
SB_ABI_MEMBER(sb_host_api, resume, 360, 8);

_Static_assert(sizeof(sb_host_info) >= 32, "sb_host_info shrank (it may only grow at the end)");
SB_ABI_MEMBER(sb_host_info, struct_size, 0, 4);
SB_ABI_MEMBER(sb_host_info, abi_major, 4, 4);
SB_ABI_MEMBER(sb_host_info, abi_minor, 8, 4);
SB_ABI_MEMBER(sb_host_info, flags, 12, 4);
SB_ABI_MEMBER(sb_host_info, host_version, 16, 8);
SB_ABI_MEMBER(sb_host_info, api, 24, 8);

_Static_assert(sizeof(sb_plugin_hooks) >= 112, "sb_plugin_hooks shrank (it may only grow at the end)");
SB_ABI_MEMBER(sb_plugin_hooks, struct_size, 0, 4);
SB_ABI_MEMBER(sb_plugin_hooks, flags, 4, 4);
SB_ABI_MEMBER(sb_plugin_hooks, on_init, 8, 8);
SB_ABI_MEMBER(sb_plugin_hooks, on_shutdown, 16, 8);
SB_ABI_MEMBER(sb_plugin_hooks, on_init_worker, 24, 8);
SB_ABI_MEMBER(sb_plugin_hooks, on_config_compile, 32, 8);
SB_ABI_MEMBER(sb_plugin_hooks, on_config_free, 40, 8);
SB_ABI_MEMBER(sb_plugin_hooks, on_configure, 48, 8);
SB_ABI_MEMBER(sb_plugin_hooks, on_certificate, 56, 8);
SB_ABI_MEMBER(sb_plugin_hooks, on_rewrite, 64, 8);
SB_ABI_MEMBER(sb_plugin_hooks, on_access, 72, 8);
SB_ABI_MEMBER(sb_plugin_hooks, on_response, 80, 8);
SB_ABI_MEMBER(sb_plugin_hooks, on_header_filter, 88, 8);
SB_ABI_MEMBER(sb_plugin_hooks, on_body_filter, 96, 8);
SB_ABI_MEMBER(sb_plugin_hooks, on_log, 104, 8);

_Static_assert(sizeof(sb_plugin_def) >= 64, "sb_plugin_def shrank (it may only grow at the end)");
SB_ABI_MEMBER(sb_plugin_def, struct_size, 0, 4);
SB_ABI_MEMBER(sb_plugin_def, abi_major, 4, 4);
SB_ABI_MEMBER(sb_plugin_def, abi_minor, 8, 4);
SB_ABI_MEMBER(sb_plugin_def, min_host_minor, 12, 4);
SB_ABI_MEMBER(sb_plugin_def, name, 16, 8);
SB_ABI_MEMBER(sb_plugin_def, version, 24, 8);
SB_ABI_MEMBER(sb_plugin_def, priority, 32, 4);
SB_ABI_MEMBER(sb_plugin_def, flags, 36, 4);
SB_ABI_MEMBER(sb_plugin_def, config_schema, 40, 8);
SB_ABI_MEMBER(sb_plugin_def, entities_schema, 48, 8);
SB_ABI_MEMBER(sb_plugin_def, hooks, 56, 8);

/* Values the ABI fixed in 1.0 (selectors, status codes, results) are checked against the
   frozen header by check_append_only.py --headers. */
int sb_abi_layout_1_0(void);
int sb_abi_layout_1_0(void) { return SB_ABI_MAJOR; }
