/* host-probe: a test plugin in plain C99, built only against sdk/include/silverback/plugin.h.
 * The integration tests (tests/integration/test_plugin_host.py) drive every host feature
 * through it: phases, exits, errors, pending/resume with timers and outbound calls, header
 * maps, body filters, consumers, the log phase. `config.mode` picks the behaviour. */
#include <silverback/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sb_host_api *api;

typedef struct probe_cfg {
  char mode[32];
  int64_t delay_ms;
  char url[256];
  char tag[64];
} probe_cfg;

static sb_str S(const char *s) {
  sb_str r;
  r.ptr = s;
  r.len = strlen(s);
  return r;
}

static void copy_str(char *dst, size_t cap, sb_str s) {
  size_t n = s.len < cap - 1 ? s.len : cap - 1;
  if (n > 0) memcpy(dst, s.ptr, n);
  dst[n] = '\0';
}

static sb_status on_init(const sb_host_info *host, void **state, sb_errbuf err) {
  (void)state;
  (void)err;
  api = host->api;
  return SB_OK;
}

static sb_status compile(void *state, const sb_value *conf, void **cfg, uint32_t *flags,
                         sb_errbuf err) {
  probe_cfg *c;
  (void)state;
  c = (probe_cfg *)calloc(1, sizeof(probe_cfg));
  if (c == NULL) return SB_E_INTERNAL;
  copy_str(c->mode, sizeof c->mode, api->value_str(api->value_get(conf, S("mode"))));
  c->delay_ms = api->value_int(api->value_get(conf, S("delay_ms")));
  copy_str(c->url, sizeof c->url, api->value_str(api->value_get(conf, S("url"))));
  copy_str(c->tag, sizeof c->tag, api->value_str(api->value_get(conf, S("tag"))));
  if (strcmp(c->mode, "reject") == 0) {
    snprintf(err.buf, err.cap, "mode 'reject' is refused by the plugin");
    free(c);
    return SB_E_INVALID_ARG;
  }
  if (strcmp(c->mode, "echo-body") == 0) *flags = SB_CFG_READS_REQUEST_BODY;
  *cfg = c;
  return SB_OK;
}

static void free_cfg(void *state, void *cfg) {
  (void)state;
  free(cfg);
}

static void on_timer(sb_ctx *ctx, void *user, sb_status st) {
  const probe_cfg *c = (const probe_cfg *)user;
  if (ctx == NULL || st != SB_OK) return; /* request gone: nothing to free (cfg is not ours) */
  if (strcmp(c->mode, "async-exit") == 0) {
    sb_header h;
    h.name = S("X-Exit");
    h.value = S("async");
    api->respond(ctx, 403, &h, 1, S("denied later\n"));
    api->resume(ctx, SB_EXITED);
    return;
  }
  api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, S("X-Async"), S("done"));
  api->resume(ctx, SB_CONTINUE);
}

static void on_call(sb_ctx *ctx, void *user, sb_status st, const sb_http_response *r) {
  char buf[32];
  (void)user;
  if (ctx == NULL) return;
  snprintf(buf, sizeof buf, "%d", st == SB_OK && r != NULL ? (int)r->status : (int)st);
  api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, S("X-Call-Status"), S(buf));
  if (st == SB_OK && r != NULL) {
    sb_str body = r->body;
    if (body.len > 64) body.len = 64;
    api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, S("X-Call-Body"), body);
  }
  api->resume(ctx, SB_CONTINUE);
}

static sb_result access(sb_ctx *ctx, const void *cfgp) {
  const probe_cfg *c = (const probe_cfg *)cfgp;
  sb_str id, v;
  size_t n = 0;
  api->var_get(ctx, SB_VAR_PLUGIN_ID, &id);
  api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, S("X-Probe"), c->tag[0] ? S(c->tag) : id);
  api->hdr_set(ctx, SB_HDR_RESPONSE, S("X-Probe-Access"), S("1"));
  if (strcmp(c->mode, "exit") == 0) {
    sb_header h[2];
    h[0].name = S("X-Exit");
    h[0].value = S("yes");
    h[1].name = S("Content-Type");
    h[1].value = S("text/plain");
    api->respond(ctx, 418, h, 2, S("teapot\n"));
    return SB_EXITED;
  }
  if (strcmp(c->mode, "error") == 0) return SB_ERROR;
  if (strcmp(c->mode, "error-exit") == 0) {
    api->respond_error(ctx, 401, S("No API key found in request"), NULL, 0);
    return SB_EXITED;
  }
  if (strcmp(c->mode, "async") == 0 || strcmp(c->mode, "async-exit") == 0) {
    api->timer_start(ctx, (uint64_t)c->delay_ms, on_timer, (void *)c, NULL);
    return SB_PENDING;
  }
  if (strcmp(c->mode, "call") == 0) {
    sb_http_request rq;
    memset(&rq, 0, sizeof rq);
    rq.struct_size = sizeof rq;
    rq.timeout_ms = 5000;
    rq.url = S(c->url);
    api->http_call(ctx, &rq, on_call, NULL, NULL);
    return SB_PENDING;
  }
  if (strcmp(c->mode, "auth") == 0) {
    const sb_value *consumer = NULL;
    if (api->hdr_get(ctx, SB_HDR_REQUEST, S("X-Who"), 0, &v, &n) != SB_OK ||
        api->entity_find(ctx, S("consumers"), S("username"), v, &consumer) != SB_OK) {
      api->respond_error(ctx, 401, S("Unauthorized"), NULL, 0);
      return SB_EXITED;
    }
    api->client_authenticate(ctx, api->value_str(api->value_get(consumer, S("id"))), S(""),
                             S(""));
    api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, S("X-Consumer-Id"),
                 api->value_str(api->value_get(consumer, S("id"))));
    return SB_CONTINUE;
  }
  if (strcmp(c->mode, "rewrite-request") == 0) {
    api->var_set(ctx, SB_VAR_UPSTREAM_PATH, S("/rewritten"));
    api->var_set(ctx, SB_VAR_UPSTREAM_QUERY, S("a=1&b=two"));
    api->var_set(ctx, SB_VAR_UPSTREAM_METHOD, S("PUT"));
    api->hdr_remove(ctx, SB_HDR_UPSTREAM_REQUEST, S("X-Remove-Me"));
    if (api->query_get(ctx, S("q"), 0, &v, &n) == SB_OK)
      api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, S("X-Query-Q"), v);
    /* Refused: the host owns framing. */
    if (api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, S("Content-Length"), S("5")) ==
        SB_E_INVALID_ARG)
      api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, S("X-Framing-Refused"), S("yes"));
    /* Wrong phase: body_set is for body_filter. */
    if (api->body_set(ctx, S("x")) == SB_E_WRONG_PHASE)
      api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, S("X-Phase-Checked"), S("yes"));
    return SB_CONTINUE;
  }
  if (strcmp(c->mode, "echo-body") == 0) {
    sb_str body;
    if (api->request_body_get(ctx, &body) == SB_OK) {
      char buf[32];
      snprintf(buf, sizeof buf, "%zu", body.len);
      api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, S("X-Body-Size"), S(buf));
      api->request_body_set(ctx, S("replaced body"));
    }
    return SB_CONTINUE;
  }
  return SB_CONTINUE;
}

static sb_result header_filter(sb_ctx *ctx, const void *cfgp) {
  const probe_cfg *c = (const probe_cfg *)cfgp;
  int64_t status = 0;
  char buf[16];
  sb_str source;
  api->num_get(ctx, SB_NUM_RESPONSE_STATUS, &status);
  snprintf(buf, sizeof buf, "%d", (int)status);
  api->hdr_set(ctx, SB_HDR_RESPONSE, S("X-Probe-Status"), S(buf));
  if (api->var_get(ctx, SB_VAR_RESPONSE_SOURCE, &source) == SB_OK)
    api->hdr_set(ctx, SB_HDR_RESPONSE, S("X-Probe-Source"), source);
  if (strcmp(c->mode, "upper") == 0) api->response_body_mode(ctx, SB_BODY_BUFFER);
  if (strcmp(c->mode, "append") == 0) api->response_body_mode(ctx, SB_BODY_RESIZE);
  return SB_CONTINUE;
}

static sb_result body_filter(sb_ctx *ctx, const void *cfgp, const sb_str *chunk, size_t n,
                             int32_t eos) {
  const probe_cfg *c = (const probe_cfg *)cfgp;
  if (strcmp(c->mode, "upper") == 0 && n == 1) {
    char *up = (char *)malloc(chunk[0].len + 1);
    size_t i;
    sb_str out;
    if (up == NULL) return SB_ERROR;
    for (i = 0; i < chunk[0].len; ++i) {
      char ch = chunk[0].ptr[i];
      up[i] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
    }
    out.ptr = up;
    out.len = chunk[0].len;
    api->body_set(ctx, out);
    free(up);
  }
  if (strcmp(c->mode, "append") == 0 && eos) {
    char buf[4096];
    size_t len = 0;
    sb_str out;
    if (n == 1 && chunk[0].len < sizeof buf - 16) {
      memcpy(buf, chunk[0].ptr, chunk[0].len);
      len = chunk[0].len;
    }
    memcpy(buf + len, "[appended]\n", 11);
    out.ptr = buf;
    out.len = len + 11;
    api->body_set(ctx, out);
  }
  return SB_CONTINUE;
}

static sb_result on_certificate(sb_ctx *ctx, const void *cfgp) {
  sb_str sni;
  char line[300];
  int64_t port = 0;
  (void)cfgp;
  if (api->var_get(ctx, SB_VAR_TLS_SNI, &sni) != SB_OK) sni = S("-");
  api->num_get(ctx, SB_NUM_SERVER_PORT, &port);
  /* Request slots are refused here: no request exists yet. */
  snprintf(line, sizeof line, "certificate phase: sni=%.*s port_ok=%d headers_refused=%d",
           (int)sni.len, sni.ptr, port > 0,
           api->hdr_set(ctx, SB_HDR_RESPONSE, S("X-A"), S("b")) == SB_E_WRONG_PHASE);
  api->log_msg(ctx, SB_LOG_NOTICE, S(line));
  return SB_CONTINUE;
}

static void on_log(sb_ctx *ctx, const void *cfgp) {
  const probe_cfg *c = (const probe_cfg *)cfgp;
  sb_str json;
  char line[512];
  int64_t status = 0;
  api->num_get(ctx, SB_NUM_RESPONSE_STATUS, &status);
  if (api->log_serialize(ctx, &json) == SB_OK && json.len > 0 && json.ptr[0] == '{') {
    snprintf(line, sizeof line, "log phase: tag=%s status=%d serialized=ok", c->tag, (int)status);
  } else {
    snprintf(line, sizeof line, "log phase: tag=%s status=%d serialized=FAILED", c->tag,
             (int)status);
  }
  api->log_msg(ctx, SB_LOG_NOTICE, S(line));
}

static const sb_plugin_hooks hooks = {
    sizeof(sb_plugin_hooks),
    0,
    on_init,
    NULL,
    NULL,
    compile,
    free_cfg,
    NULL,
    on_certificate,
    NULL,
    access,
    NULL,
    header_filter,
    body_filter,
    on_log,
};

static const sb_plugin_def def = {
    sizeof(sb_plugin_def),
    SB_ABI_MAJOR,
    SB_ABI_MINOR,
    0,
    "host-probe",
    "1.0.0",
    1000,
    0,
    "{\"name\":\"host-probe\",\"fields\":[{\"config\":{\"type\":\"record\",\"fields\":["
    "{\"mode\":{\"type\":\"string\",\"default\":\"headers\",\"one_of\":[\"headers\",\"exit\","
    "\"error\",\"error-exit\",\"async\",\"async-exit\",\"call\",\"auth\",\"rewrite-request\","
    "\"echo-body\",\"upper\",\"append\",\"reject\"]}},"
    "{\"delay_ms\":{\"type\":\"integer\",\"default\":0,\"between\":[0,60000]}},"
    "{\"url\":{\"type\":\"string\"}},"
    "{\"tag\":{\"type\":\"string\"}}]}}]}",
    NULL,
    &hooks,
};

SB_EXPORT const sb_plugin_def *sb_plugin_entry_v1(const sb_host_info *host) {
  if (host == NULL || host->abi_major != SB_ABI_MAJOR) return NULL;
  return &def;
}
