/* The ABI probe: one exported function whose parameters reach every public struct of
   silverback/plugin.h, built with -g so abidw can describe their layout (libabigail only looks
   at types reachable from exported symbols). Never loaded; sdk/abi/README.md explains the use. */
#include <silverback/plugin.h>

SB_EXPORT void sb_abi_probe(sb_str *s, sb_header *h, sb_errbuf *e, sb_http_request *rq,
                            sb_http_response *rs, sb_host_api *api, sb_host_info *info,
                            sb_plugin_hooks *hooks, sb_plugin_def *def, sb_http_cb http_cb,
                            sb_timer_cb timer_cb, sb_dtor_fn dtor, sb_plugin_entry_fn entry);

void sb_abi_probe(sb_str *s, sb_header *h, sb_errbuf *e, sb_http_request *rq,
                  sb_http_response *rs, sb_host_api *api, sb_host_info *info,
                  sb_plugin_hooks *hooks, sb_plugin_def *def, sb_http_cb http_cb,
                  sb_timer_cb timer_cb, sb_dtor_fn dtor, sb_plugin_entry_fn entry) {
  (void)s, (void)h, (void)e, (void)rq, (void)rs, (void)api, (void)info, (void)hooks, (void)def;
  (void)http_cb, (void)timer_cb, (void)dtor, (void)entry;
}
