/* abi-compat-1-0: a test plugin compiled against the frozen 1.0 header, so a current host can
 * prove it still runs a 1.0 binary (plugin-abi-anchors.md section 4, item 4). Built into
 * <build>/plugins/abi-compat-1-0.so; never edit it to use a newer slot (add an abi-compat-1-N).
 *
 * config.mode selects the scenario (see sdk/abi/README.md for what each one answers):
 *   continue       proxied; access stamps X-Compat-* headers on the upstream request
 *   exit           access answers 418 "short-circuit by abi-compat-1-0" (respond)
 *   respond_error  access answers 403 "compat denied" (respond_error)
 *   error          access returns SB_ERROR (the host answers 500)
 *   pending        access waits config.delay_ms on a timer, then resumes (X-Compat-Resumed: 1)
 *   pending_exit   the timer callback answers 202 "resumed into an exit" and resumes EXITED
 *   body           header_filter asks SB_BODY_RESIZE; body_filter upper-cases the body and
 *                  appends "|compat"
 *   read_body      SB_CFG_READS_REQUEST_BODY; the upstream body becomes "compat:" + body and
 *                  X-Compat-Body-Length carries the original length
 * Every mode: rewrite (global instances) sets ctx.shared abi-compat=rewrite; header_filter adds
 * X-Compat-Phases (the phases this plugin saw, from its per-request data) and X-Compat-Source;
 * log writes "abi-compat-1-0 log: status=<n> serialized=<bytes>". */
#include "silverback_plugin_1.0.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char kSchema[] =
    "{\"name\": \"abi-compat-1-0\", \"fields\": [{\"config\": {\"type\": \"record\", "
    "\"fields\": [{\"mode\": {\"type\": \"string\", \"default\": \"continue\", \"one_of\": "
    "[\"continue\", \"exit\", \"respond_error\", \"error\", \"pending\", \"pending_exit\", "
    "\"body\", \"read_body\"]}}, {\"delay_ms\": {\"type\": \"integer\", \"default\": 10, "
    "\"between\": [0, 60000]}}]}}]}";

static const sb_host_api *api;
static uint32_t host_minor;

enum { M_CONTINUE, M_EXIT, M_RESPOND_ERROR, M_ERROR, M_PENDING, M_PENDING_EXIT, M_BODY, M_READ };
static const char *const kModes[] = {"continue", "exit",         "respond_error", "error",
                                     "pending",  "pending_exit", "body",          "read_body"};

typedef struct compat_cfg {
  int32_t mode;
  uint32_t reserved;
  uint64_t delay_ms;
} compat_cfg;

typedef struct compat_data { /* per request (data_set), freed by the host through free() */
  char phases[64];
} compat_data;

static sb_str S(const char *s) {
  sb_str out;
  out.ptr = s;
  out.len = strlen(s);
  return out;
}

static void note(sb_ctx *ctx, const char *phase) {
  compat_data *d = (compat_data *)api->data_get(ctx);
  if (!d) {
    d = (compat_data *)calloc(1, sizeof *d);
    if (!d) return;
    if (api->data_set(ctx, d, free) != SB_OK) {
      free(d);
      return;
    }
  }
  if (strlen(d->phases) + strlen(phase) + 2 < sizeof d->phases) {
    if (d->phases[0]) strcat(d->phases, ",");
    strcat(d->phases, phase);
  }
}

static sb_status on_init(const sb_host_info *host, void **state, sb_errbuf err) {
  if (host->abi_major != 1) {
    snprintf(err.buf, err.cap, "abi-compat-1-0 needs ABI major 1");
    return SB_E_UNSUPPORTED;
  }
  api = host->api;
  host_minor = host->abi_minor;
  *state = NULL;
  {
    char msg[64];
    snprintf(msg, sizeof msg, "abi-compat-1-0: host ABI 1.%u", (unsigned)host_minor);
    api->log_msg(NULL, SB_LOG_INFO, S(msg));
  }
  return SB_OK;
}

static void on_shutdown(void *state) {
  (void)state;
  api->log_msg(NULL, SB_LOG_INFO, S("abi-compat-1-0: shutdown"));
}

static sb_status on_init_worker(void *state, sb_ctx *worker) {
  int64_t id = -1;
  char msg[64];
  (void)state;
  api->num_get(worker, SB_NUM_WORKER_ID, &id);
  snprintf(msg, sizeof msg, "abi-compat-1-0: init_worker %lld", (long long)id);
  api->log_msg(worker, SB_LOG_INFO, S(msg));
  return SB_OK;
}

static sb_status on_config_compile(void *state, const sb_value *config, void **cfg,
                                   uint32_t *cfg_flags, sb_errbuf err) {
  sb_str mode = api->value_str(api->value_get(config, S("mode")));
  compat_cfg *c;
  size_t i;
  (void)state;
  c = (compat_cfg *)calloc(1, sizeof *c);
  if (!c) return SB_E_INTERNAL;
  c->mode = -1;
  for (i = 0; i < sizeof kModes / sizeof kModes[0]; ++i)
    if (mode.len == strlen(kModes[i]) && memcmp(mode.ptr, kModes[i], mode.len) == 0)
      c->mode = (int32_t)i;
  if (c->mode < 0) {
    snprintf(err.buf, err.cap, "abi-compat-1-0: unknown mode '%.*s'", (int)mode.len, mode.ptr);
    free(c);
    return SB_E_INVALID_ARG;
  }
  c->delay_ms = (uint64_t)api->value_int(api->value_get(config, S("delay_ms")));
  *cfg = c;
  *cfg_flags = c->mode == M_READ ? SB_CFG_READS_REQUEST_BODY : 0;
  return SB_OK;
}

static void on_config_free(void *state, void *cfg) {
  (void)state;
  free(cfg);
}

static void on_configure(void *state, void *const *cfgs, size_t n) {
  char msg[64];
  (void)state;
  (void)cfgs;
  snprintf(msg, sizeof msg, "abi-compat-1-0: configure %zu", n);
  api->log_msg(NULL, SB_LOG_INFO, S(msg));
}

static sb_result on_rewrite(sb_ctx *ctx, const void *cfg) {
  (void)cfg;
  note(ctx, "rw");
  return api->shared_set(ctx, S("abi-compat"), S("rewrite")) == SB_OK ? SB_CONTINUE : SB_ERROR;
}

typedef struct timer_user {
  int32_t exit;
  uint32_t reserved;
} timer_user;

static void on_timer(sb_ctx *ctx, void *user, sb_status status) {
  timer_user *u = (timer_user *)user;
  if (!ctx) { /* the request is gone: only free */
    free(u);
    return;
  }
  if (status != SB_OK) {
    api->resume(ctx, SB_ERROR);
  } else if (u->exit) {
    sb_header h;
    h.name = S("X-Compat-Exit");
    h.value = S("timer");
    api->respond(ctx, 202, &h, 1, S("resumed into an exit"));
    api->resume(ctx, SB_EXITED);
  } else {
    api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, S("X-Compat-Resumed"), S("1"));
    api->resume(ctx, SB_CONTINUE);
  }
  free(u);
}

static sb_result on_access(sb_ctx *ctx, const void *cfg) {
  const compat_cfg *c = (const compat_cfg *)cfg;
  sb_str v;
  char buf[32];
  note(ctx, "acc");
  api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, S("X-Compat-Plugin"), S("abi-compat-1-0"));
  snprintf(buf, sizeof buf, "%u", (unsigned)host_minor);
  api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, S("X-Compat-Host-Minor"), S(buf));
  if (api->var_get(ctx, SB_VAR_METHOD, &v) == SB_OK)
    api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, S("X-Compat-Method"), v);
  if (api->query_get(ctx, S("q"), 0, &v, NULL) == SB_OK)
    api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, S("X-Compat-Q"), v);
  if (api->shared_get(ctx, S("abi-compat"), &v) == SB_OK)
    api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, S("X-Compat-Shared"), v);
  switch (c->mode) {
    case M_EXIT: {
      sb_header h;
      h.name = S("X-Compat-Exit");
      h.value = S("1");
      if (api->respond(ctx, 418, &h, 1, S("short-circuit by abi-compat-1-0")) != SB_OK)
        return SB_ERROR;
      return SB_EXITED;
    }
    case M_RESPOND_ERROR:
      return api->respond_error(ctx, 403, S("compat denied"), NULL, 0) == SB_OK ? SB_EXITED
                                                                                : SB_ERROR;
    case M_ERROR:
      return SB_ERROR;
    case M_PENDING:
    case M_PENDING_EXIT: {
      timer_user *u = (timer_user *)calloc(1, sizeof *u);
      if (!u) return SB_ERROR;
      u->exit = c->mode == M_PENDING_EXIT;
      if (api->timer_start(ctx, c->delay_ms, on_timer, u, NULL) != SB_OK) {
        free(u); /* not started: no callback will free it */
        return SB_ERROR;
      }
      return SB_PENDING;
    }
    case M_READ: {
      sb_str body;
      char *replaced;
      if (api->request_body_get(ctx, &body) != SB_OK) return SB_ERROR;
      snprintf(buf, sizeof buf, "%zu", body.len);
      api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, S("X-Compat-Body-Length"), S(buf));
      replaced = (char *)malloc(body.len + 7);
      if (!replaced) return SB_ERROR;
      memcpy(replaced, "compat:", 7);
      if (body.len) memcpy(replaced + 7, body.ptr, body.len);
      v.ptr = replaced;
      v.len = body.len + 7;
      {
        sb_status st = api->request_body_set(ctx, v); /* the host copies */
        free(replaced);
        return st == SB_OK ? SB_CONTINUE : SB_ERROR;
      }
    }
    default:
      return SB_CONTINUE;
  }
}

static sb_result on_header_filter(sb_ctx *ctx, const void *cfg) {
  const compat_cfg *c = (const compat_cfg *)cfg;
  compat_data *d;
  sb_str v;
  note(ctx, "hf");
  d = (compat_data *)api->data_get(ctx);
  api->hdr_set(ctx, SB_HDR_RESPONSE, S("X-Compat-Phases"), S(d ? d->phases : "?"));
  if (api->var_get(ctx, SB_VAR_RESPONSE_SOURCE, &v) == SB_OK)
    api->hdr_set(ctx, SB_HDR_RESPONSE, S("X-Compat-Source"), v);
  if (c->mode == M_BODY && api->response_body_mode(ctx, SB_BODY_RESIZE) != SB_OK) return SB_ERROR;
  return SB_CONTINUE;
}

static sb_result on_body_filter(sb_ctx *ctx, const void *cfg, const sb_str *chunk, size_t n,
                                int32_t eos) {
  const compat_cfg *c = (const compat_cfg *)cfg;
  size_t i, k, len = 0, at = 0;
  char *out;
  sb_str data;
  sb_status st;
  if (c->mode != M_BODY) return SB_CONTINUE;
  for (i = 0; i < n; ++i) len += chunk[i].len;
  out = (char *)malloc(len + 8);
  if (!out) return SB_ERROR;
  for (i = 0; i < n; ++i)
    for (k = 0; k < chunk[i].len; ++k) {
      char ch = chunk[i].ptr[k];
      out[at++] = (char)(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
    }
  if (eos) {
    memcpy(out + at, "|compat", 7);
    at += 7;
  }
  data.ptr = out;
  data.len = at;
  st = api->body_set(ctx, data);
  free(out);
  return st == SB_OK ? SB_CONTINUE : SB_ERROR;
}

static void on_log(sb_ctx *ctx, const void *cfg) {
  int64_t status = 0;
  sb_str serialized;
  char msg[96];
  (void)cfg;
  note(ctx, "log");
  api->num_get(ctx, SB_NUM_RESPONSE_STATUS, &status);
  serialized.len = 0;
  api->log_serialize(ctx, &serialized);
  snprintf(msg, sizeof msg, "abi-compat-1-0 log: status=%lld serialized=%zu", (long long)status,
           serialized.len);
  api->log_msg(ctx, SB_LOG_INFO, S(msg));
}

static const sb_plugin_hooks kHooks = {
    sizeof(sb_plugin_hooks), 0,         on_init,          on_shutdown,    on_init_worker,
    on_config_compile,       on_config_free, on_configure, NULL, /* on_certificate */
    on_rewrite,              on_access, NULL, /* on_response */
    on_header_filter,        on_body_filter, on_log,
};

static const sb_plugin_def kDef = {
    sizeof(sb_plugin_def), SB_ABI_MAJOR, SB_ABI_MINOR, 0,      "abi-compat-1-0", "1.0.0",
    10,                    0,            kSchema,      NULL, &kHooks,
};

SB_EXPORT const sb_plugin_def *sb_plugin_entry_v1(const sb_host_info *host) {
  if (host && host->abi_major != SB_ABI_MAJOR) return NULL;
  return &kDef;
}
