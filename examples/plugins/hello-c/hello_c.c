/* hello-c: the plain C99 SDK example.
 *
 * access: answers 403 {"message":"missing header <name>"} when the configured request header is
 * absent; header_filter: adds a configured response header. Configs are compiled into a malloc'd
 * struct (copies: the sb_value tree is only valid during on_config_compile) and freed by
 * on_config_free. Only plugin.h is needed; the host table comes from on_init. */
#include <silverback/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char kSchema[] =
    "{\"name\": \"hello-c\", \"fields\": [{\"config\": {\"type\": \"record\", \"fields\": ["
    "{\"header\": {\"type\": \"string\", \"required\": true, \"len_min\": 1}},"
    "{\"response_header\": {\"type\": \"string\", \"default\": \"X-Hello-C\"}},"
    "{\"response_value\": {\"type\": \"string\", \"default\": \"hello\"}}"
    "]}}]}";

/* Set once in on_init (main thread, before any worker runs), read-only afterwards. */
static const sb_host_api* api;

typedef struct hello_cfg {
  sb_str header;
  sb_str response_header;
  sb_str response_value;
  char* body; /* {"message":"missing header <name>"} */
  size_t body_len;
} hello_cfg;

static sb_str str_of(const char* s) {
  sb_str out;
  out.ptr = s;
  out.len = strlen(s);
  return out;
}

static int copy_str(sb_str in, sb_str* out) {
  char* p = (char*)malloc(in.len + 1);
  if (!p) return 0;
  if (in.len) memcpy(p, in.ptr, in.len);
  p[in.len] = '\0';
  out->ptr = p;
  out->len = in.len;
  return 1;
}

static void set_error(sb_errbuf err, const char* msg) {
  if (!err.buf || err.cap == 0) return;
  snprintf(err.buf, err.cap, "%s", msg);
}

static void free_cfg(hello_cfg* c) {
  if (!c) return;
  free((void*)c->header.ptr);
  free((void*)c->response_header.ptr);
  free((void*)c->response_value.ptr);
  free(c->body);
  free(c);
}

static sb_status on_init(const sb_host_info* host, void** state, sb_errbuf err) {
  (void)err;
  api = host->api;
  *state = NULL;
  return SB_OK;
}

static sb_status on_config_compile(void* state, const sb_value* config, void** cfg,
                                   uint32_t* cfg_flags, sb_errbuf err) {
  hello_cfg* c;
  size_t i, n;
  (void)state;
  c = (hello_cfg*)calloc(1, sizeof *c);
  if (!c) return SB_E_INTERNAL;
  if (!copy_str(api->value_str(api->value_get(config, str_of("header"))), &c->header) ||
      !copy_str(api->value_str(api->value_get(config, str_of("response_header"))),
                &c->response_header) ||
      !copy_str(api->value_str(api->value_get(config, str_of("response_value"))),
                &c->response_value)) {
    free_cfg(c);
    return SB_E_INTERNAL;
  }
  if (c->header.len == 0) {
    set_error(err, "config.header must not be empty");
    free_cfg(c);
    return SB_E_INVALID_ARG;
  }
  /* The header name is a token (no quotes or backslashes), so it needs no JSON escaping; be
     strict anyway. */
  for (i = 0; i < c->header.len; ++i) {
    char ch = c->header.ptr[i];
    if (ch == '"' || ch == '\\' || (unsigned char)ch < 0x20) {
      set_error(err, "config.header is not a header name");
      free_cfg(c);
      return SB_E_INVALID_ARG;
    }
  }
  n = strlen("{\"message\":\"missing header \"}") + c->header.len;
  c->body = (char*)malloc(n + 1);
  if (!c->body) {
    free_cfg(c);
    return SB_E_INTERNAL;
  }
  snprintf(c->body, n + 1, "{\"message\":\"missing header %s\"}", c->header.ptr);
  c->body_len = n;
  *cfg = c;
  *cfg_flags = 0;
  return SB_OK;
}

static void on_config_free(void* state, void* cfg) {
  (void)state;
  free_cfg((hello_cfg*)cfg);
}

static sb_result on_access(sb_ctx* ctx, const void* cfg) {
  const hello_cfg* c = (const hello_cfg*)cfg;
  sb_header h;
  sb_status st = api->hdr_get(ctx, SB_HDR_REQUEST, c->header, 0, NULL, NULL);
  if (st == SB_OK) return SB_CONTINUE;
  if (st != SB_E_NOT_FOUND) return SB_ERROR;
  h.name = str_of("Content-Type");
  h.value = str_of("application/json; charset=utf-8");
  {
    sb_str body;
    body.ptr = c->body;
    body.len = c->body_len;
    if (api->respond(ctx, 403, &h, 1, body) != SB_OK) return SB_ERROR;
  }
  return SB_EXITED;
}

static sb_result on_header_filter(sb_ctx* ctx, const void* cfg) {
  const hello_cfg* c = (const hello_cfg*)cfg;
  return api->hdr_set(ctx, SB_HDR_RESPONSE, c->response_header, c->response_value) == SB_OK
             ? SB_CONTINUE
             : SB_ERROR;
}

static const sb_plugin_hooks kHooks = {
    sizeof(sb_plugin_hooks),
    0,
    on_init,
    NULL, /* on_shutdown */
    NULL, /* on_init_worker */
    on_config_compile,
    on_config_free,
    NULL, /* on_configure */
    NULL, /* on_certificate */
    NULL, /* on_rewrite */
    on_access,
    NULL, /* on_response */
    on_header_filter,
    NULL, /* on_body_filter */
    NULL, /* on_log */
};

static const sb_plugin_def kDef = {
    sizeof(sb_plugin_def),
    SB_ABI_MAJOR,
    SB_ABI_MINOR,
    0,
    "hello-c",
    "1.0.0",
    800,
    0,
    kSchema,
    NULL,
    &kHooks,
};

const sb_plugin_def* sb_plugin_entry_v1(const sb_host_info* host) {
  if (host && host->abi_major != SB_ABI_MAJOR) return NULL;
  return &kDef;
}
