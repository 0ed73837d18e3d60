/* Silverback native plugin ABI, major 1.
 *
 * The only contract between the gateway and a plugin `.so`. Pure C99, no dependencies beyond
 * <stddef.h>/<stdint.h>; a C++ layer (silverback/plugin.hpp) sits on top inside the plugin.
 *
 * Evolution rules (sdk/ABI.md has the changelog):
 *  1. Every released change bumps SB_ABI_MINOR; a major bump (a new entry symbol) needs a written
 *     reason. Minor changes only append: a slot at the end of sb_host_api, a member at the end of
 *     a struct, a hook at the end of sb_plugin_hooks, a constant, a flag bit.
 *  2. Nothing released is ever reordered, removed, retyped or re-meant; a changed signature is a
 *     new `name_v2` slot next to the old one.
 *  3. New struct members mean "old behaviour" when zero. Every struct starts with its size:
 *     a reader treats a missing tail as absent (zero) and, for data structs, refuses a bigger
 *     struct whose unknown tail is not all zero (the Linux copy_struct_from_user rule).
 *  4. Status codes and selector values are open sets: treat an unknown negative sb_status as a
 *     failure. The host never hands a plugin a selector newer than the plugin's minor.
 *
 * Memory and lifetime rules (one rule, everywhere):
 *  - sb_str is a (pointer, length) view, never NUL-terminated, bytes not guaranteed UTF-8.
 *  - IN (plugin -> host): borrowed for the duration of the call; the host copies what it keeps.
 *  - OUT (host -> plugin): borrowed; valid until the hook (or completion callback) returns, or
 *    until the plugin changes the same object (a header set/add/remove invalidates views into
 *    that header map). Copy to keep. Exceptions are written next to the slot.
 *  - Each side frees only what it allocated. Plugin objects handed to the host (compiled
 *    configs, ctx data) come back to the plugin's own destructor.
 *
 * Threads: the entry point, on_init, on_config_compile, on_configure, on_config_free and
 * on_shutdown run on the main (control) thread. on_init_worker, every phase hook and every
 * completion callback run on the worker thread that owns the ctx. Slots marked [any thread]
 * may be called from any thread; every other slot must be called on the ctx's worker, from a
 * hook or completion of that ctx, and returns SB_E_WRONG_THREAD otherwise. Workers are threads
 * of one process: plugin globals are shared and must be synchronised by the plugin.
 *
 * Faults: no exception, longjmp or panic may cross this boundary. A hook returning an unknown
 * sb_result is treated as SB_ERROR. Plugins are trusted native code: a crash in a plugin is a
 * crash of the gateway.
 */
#ifndef SILVERBACK_PLUGIN_H
#define SILVERBACK_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SB_ABI_MAJOR 1
#define SB_ABI_MINOR 0

#if defined(__GNUC__) || defined(__clang__)
#define SB_EXPORT __attribute__((visibility("default")))
#else
#define SB_EXPORT
#endif

/* Does the size-prefixed struct *p (first member: uint32_t struct_size) contain member f?
   Use it before calling a slot newer than the oldest host minor the plugin accepts. */
#define SB_HAS(p, T, f) ((p)->struct_size >= offsetof(T, f) + sizeof(((T *)0)->f))

/* ---- Status of a host call (sb_status). 0 is success, failures are negative. ---------------- */
typedef int32_t sb_status;
#define SB_OK 0
#define SB_E_NOT_FOUND -1     /* no such header, entity, variable value, op */
#define SB_E_INVALID_ARG -2   /* NULL where a value is required, bad selector, bad value */
#define SB_E_WRONG_PHASE -3   /* not callable in the current phase (see each slot) */
#define SB_E_UNSUPPORTED -4   /* this host cannot do it (documented per slot) */
#define SB_E_TOO_LARGE -5     /* a size limit was hit */
#define SB_E_STATE -6         /* e.g. response headers already sent, resume twice */
#define SB_E_CANCELLED -7     /* async op cancelled (request gone, cancel(), shutdown) */
#define SB_E_TIMEOUT -8       /* async op timed out */
#define SB_E_INTERNAL -9      /* host failure; logged by the host */
#define SB_E_WRONG_THREAD -10 /* called from a thread that does not own the ctx */
#define SB_E_UPSTREAM -11     /* outbound call: connect/DNS/TLS/protocol failure */

/* ---- What a phase hook (or resume) reports (sb_result). -------------------------------------- */
typedef int32_t sb_result;
#define SB_CONTINUE 0 /* go on: next plugin, then next phase */
#define SB_EXITED 1   /* the plugin called respond()/respond_error() (Kong's kong.response.exit):
                         the remaining request phases and the upstream are skipped; header_filter,
                         body_filter and log still run for the plugins collected so far, as Kong */
#define SB_PENDING 2  /* async work started: the request is parked until resume() is called from
                         a completion. Allowed in rewrite, access and response only. */
#define SB_ERROR 3    /* failure: the host logs it and answers 500 (Kong's "An unexpected error
                         occurred"), later phases run as for an exit */

/* ---- Log levels (nginx's, as kong.log.*) ---------------------------------------------------- */
#define SB_LOG_DEBUG 0
#define SB_LOG_INFO 1
#define SB_LOG_NOTICE 2
#define SB_LOG_WARN 3
#define SB_LOG_ERR 4
#define SB_LOG_CRIT 5
#define SB_LOG_ALERT 6
#define SB_LOG_EMERG 7

typedef struct sb_str {
  const char *ptr; /* may be NULL when len == 0 */
  size_t len;
} sb_str;

typedef struct sb_header {
  sb_str name;
  sb_str value;
} sb_header;

/* A buffer the host owns and the plugin writes an error message into (truncated to cap-1 bytes
   and NUL-terminated by the plugin; the C++ layer does it). */
typedef struct sb_errbuf {
  char *buf;
  size_t cap;
} sb_errbuf;

typedef struct sb_ctx sb_ctx;     /* a request (or a worker, see on_init_worker); opaque */
typedef struct sb_value sb_value; /* a read-only JSON-like value owned by the host; opaque */
typedef uint64_t sb_op;           /* an async operation id; 0 = none */

/* ---- Values: validated plugin configs and entity rows (read-only trees) --------------------- */
#define SB_VALUE_NULL 0
#define SB_VALUE_BOOL 1
#define SB_VALUE_INTEGER 2
#define SB_VALUE_NUMBER 3
#define SB_VALUE_STRING 4
#define SB_VALUE_ARRAY 5 /* Kong's array and set */
#define SB_VALUE_OBJECT 6 /* Kong's record and map; members in schema order */

/* ---- Header maps (selector for the hdr_* slots) ---------------------------------------------- *
 * As in Kong, the client request and the request sent upstream are one map: changes made through
 * SB_HDR_UPSTREAM_REQUEST are seen by later reads of SB_HDR_REQUEST.                            */
#define SB_HDR_REQUEST 0           /* client request (kong.request): read; any request phase */
#define SB_HDR_UPSTREAM_REQUEST 1  /* kong.service.request: writable in rewrite and access */
#define SB_HDR_UPSTREAM_RESPONSE 2 /* kong.service.response: read in response, header_filter,
                                      body_filter, log (empty for gateway-made responses) */
#define SB_HDR_RESPONSE 3          /* kong.response: writable in rewrite, access (kept for the
                                      eventual response), response and header_filter; readable
                                      in body_filter and log */

/* ---- String facts (var_get / var_set selector). RO = read-only. ----------------------------- */
#define SB_VAR_METHOD 1          /* RO client method, upper-case */
#define SB_VAR_SCHEME 2          /* RO "http" or "https" */
#define SB_VAR_HOST 3            /* RO lower-case host, no port (kong.request.get_host) */
#define SB_VAR_PATH 4            /* RO normalized path, no query (kong.request.get_path) */
#define SB_VAR_RAW_PATH 5        /* RO path as received */
#define SB_VAR_RAW_QUERY 6       /* RO query as received, without '?' */
#define SB_VAR_HTTP_VERSION 7    /* RO "1.0" or "1.1" */
#define SB_VAR_CLIENT_IP 8       /* RO connecting peer (kong.client.get_ip) */
#define SB_VAR_FORWARDED_IP 9    /* RO after real-IP processing (kong.client.get_forwarded_ip) */
#define SB_VAR_REQUEST_ID 10     /* RO Kong's request id (X-Kong-Request-Id) */
#define SB_VAR_ROUTE_ID 11       /* RO matched route (kong.router.get_route), after routing */
#define SB_VAR_ROUTE_NAME 12     /* RO */
#define SB_VAR_SERVICE_ID 13     /* RO matched service */
#define SB_VAR_SERVICE_NAME 14   /* RO */
#define SB_VAR_CONSUMER_ID 15    /* RO authenticated consumer, set by client_authenticate */
#define SB_VAR_CREDENTIAL_ID 16  /* RO authenticated credential */
#define SB_VAR_PLUGIN_ID 17      /* RO id of the plugin instance whose hook is running */
#define SB_VAR_PLUGIN_ROUTE_ID 18    /* RO route the running instance is scoped to (or none) */
#define SB_VAR_PLUGIN_SERVICE_ID 19  /* RO service the running instance is scoped to */
#define SB_VAR_PLUGIN_CONSUMER_ID 20 /* RO consumer the running instance is scoped to */
#define SB_VAR_NODE_ID 21        /* RO kong.node.get_id; any phase, also worker ctx */
#define SB_VAR_HOSTNAME 22       /* RO kong.node.get_hostname; any phase, also worker ctx */
#define SB_VAR_TLS_SNI 23        /* RO server name the client sent (certificate phase on) */
#define SB_VAR_UPSTREAM_PATH 24  /* RW path sent upstream (kong.service.request.set_path);
                                    must start with '/', no '?'; rewrite and access */
#define SB_VAR_UPSTREAM_QUERY 25 /* RW query sent upstream, without '?' (set_raw_query) */
#define SB_VAR_UPSTREAM_METHOD 26 /* RW method sent upstream (set_method), a token */
#define SB_VAR_RESPONSE_SOURCE 27 /* RO "service", "exit" or "error" (kong.response.get_source);
                                     header_filter, body_filter, log */
#define SB_VAR_FORWARDED_SCHEME 28 /* RO honours X-Forwarded-Proto from trusted peers */
#define SB_VAR_FORWARDED_HOST 29   /* RO honours X-Forwarded-Host from trusted peers */

/* ---- Number facts (num_get / num_set selector) ---------------------------------------------- */
#define SB_NUM_CLIENT_PORT 1        /* RO */
#define SB_NUM_FORWARDED_PORT 2     /* RO */
#define SB_NUM_SERVER_PORT 3        /* RO the listener's port (kong.request.get_port) */
#define SB_NUM_START_TIME_MS 4      /* RO request start, Unix epoch milliseconds */
#define SB_NUM_NOW_MS 5             /* RO the worker loop's cached clock, Unix epoch ms */
#define SB_NUM_RESPONSE_STATUS 6    /* RW kong.response.get_status / set_status: writable in
                                       rewrite, access, response, header_filter */
#define SB_NUM_UPSTREAM_STATUS 7    /* RO status the upstream answered (0 if none) */
#define SB_NUM_WORKER_ID 8          /* RO 0-based worker index; also on a worker ctx */
#define SB_NUM_CONNECTION_ID 9      /* RO per-worker serial of the client connection */
#define SB_NUM_CONNECTION_REQUESTS 10 /* RO requests served on this connection, this included */
#define SB_NUM_REQUEST_BODY_SIZE 11 /* RO bytes of request body received so far */
#define SB_NUM_RESPONSE_BODY_SIZE 12 /* RO bytes of response body sent so far (log: total) */

/* ---- Flags a compiled config reports (on_config_compile's *cfg_flags) ----------------------- */
/* The host reads the whole client request body before access runs, so request_body_get works
   (up to the host's buffer limit; bigger bodies report SB_E_TOO_LARGE). Such a body is sent
   upstream with Content-Length, as nginx does with request buffering. */
#define SB_CFG_READS_REQUEST_BODY 0x1u

/* ---- Response body modes (response_body_mode, header_filter only) --------------------------- */
#define SB_BODY_STREAM 0  /* default: chunks pass through body_filter as they come */
#define SB_BODY_BUFFER 1  /* the host buffers the whole body (up to its limit, else 502) and calls
                             body_filter once with all of it and eos = 1 */
#define SB_BODY_RESIZE 2  /* streamed, but the plugin may change the length: the host drops
                             Content-Length and sends chunked (HTTP/1.1) or closes (HTTP/1.0) */

/* ---- Outbound HTTP (http_call) -------------------------------------------------------------- */
#define SB_HTTP_TLS_VERIFY 0x1u /* https: verify the peer against the system CAs and host name */

typedef struct sb_http_request { /* IN, borrowed for the call */
  uint32_t struct_size;
  uint32_t timeout_ms; /* whole exchange; 0 = 10000 */
  uint32_t flags;      /* SB_HTTP_* */
  uint32_t reserved;   /* must be 0 */
  sb_str method;       /* empty = GET */
  sb_str url;          /* http://host[:port]/path?query or https://... */
  const sb_header *headers;
  size_t n_headers;
  sb_str body;
} sb_http_request;

typedef struct sb_http_response { /* OUT, host-owned, valid inside the callback only */
  uint32_t struct_size;
  int32_t status;
  const sb_header *headers;
  size_t n_headers;
  sb_str body; /* de-chunked */
} sb_http_response;

/* Completion callbacks. Each started op completes exactly once, on the worker that started it,
   never inside the call that started it. `ctx` is the ctx the op was started on, or NULL when
   that request is gone (client closed, pending timeout): then only free `user`. */
typedef void (*sb_http_cb)(sb_ctx *ctx, void *user, sb_status status, const sb_http_response *r);
typedef void (*sb_timer_cb)(sb_ctx *ctx, void *user, sb_status status);
typedef void (*sb_dtor_fn)(void *data);

/* ---- The host function table. APPEND-ONLY. ------------------------------------------------- *
 * Phases named per slot: iw = init_worker (worker ctx), cert, rw = rewrite, acc = access,
 * resp = response, hf = header_filter, bf = body_filter, log. Outside them: SB_E_WRONG_PHASE. */
typedef struct sb_host_api {
  uint32_t struct_size;
  uint32_t abi_minor;

  /* [any thread] Writes to the error log with the running plugin's name as prefix (ctx may be
     NULL, then the prefix is the plugin that is being initialised or "plugin"). */
  void (*log_msg)(sb_ctx *ctx, int32_t level, sb_str message);
  /* [any thread] A static description of a status code. */
  const char *(*status_str)(sb_status status);

  /* [any thread] Values (configs in on_config_compile, entity rows from entity_find and the
     client_* getters). All accept NULL and then behave as for a null value. Views returned
     live as long as the value. */
  int32_t (*value_kind)(const sb_value *v);
  const sb_value *(*value_get)(const sb_value *object, sb_str key); /* NULL if absent */
  size_t (*value_len)(const sb_value *v);                     /* array items / object members */
  const sb_value *(*value_at)(const sb_value *v, size_t i);   /* item i or member i's value */
  sb_str (*value_key_at)(const sb_value *object, size_t i);   /* member i's key */
  sb_str (*value_str)(const sb_value *v);                     /* string; empty otherwise */
  int64_t (*value_int)(const sb_value *v);  /* integer (numbers truncated, bool 0/1) else 0 */
  double (*value_num)(const sb_value *v);   /* number or integer, else 0 */

  /* Request facts. rw acc resp hf bf log (the selector lists exceptions). An unset fact
     (no route yet, no consumer) is SB_E_NOT_FOUND. */
  sb_status (*var_get)(sb_ctx *ctx, uint32_t var, sb_str *out);
  sb_status (*var_set)(sb_ctx *ctx, uint32_t var, sb_str value);
  sb_status (*num_get)(sb_ctx *ctx, uint32_t num, int64_t *out);
  sb_status (*num_set)(sb_ctx *ctx, uint32_t num, int64_t value);

  /* Headers. Names match case-insensitively (and, as Kong's get_header, '_' matches '-').
     hdr_get: the idx-th value of `name` in *out and the number of values in *count (either out
     pointer may be NULL); SB_E_NOT_FOUND (count 0) when absent. Setting Host on
     SB_HDR_UPSTREAM_REQUEST changes the Host sent upstream; Content-Length, Transfer-Encoding,
     Connection and other hop-by-hop names are refused with SB_E_INVALID_ARG (the host owns
     framing). */
  sb_status (*hdr_get)(sb_ctx *ctx, uint32_t map, sb_str name, size_t idx, sb_str *out,
                       size_t *count);
  sb_status (*hdr_count)(sb_ctx *ctx, uint32_t map, size_t *out);
  sb_status (*hdr_at)(sb_ctx *ctx, uint32_t map, size_t i, sb_header *out);
  sb_status (*hdr_set)(sb_ctx *ctx, uint32_t map, sb_str name, sb_str value); /* replace all */
  sb_status (*hdr_add)(sb_ctx *ctx, uint32_t map, sb_str name, sb_str value); /* append one */
  sb_status (*hdr_remove)(sb_ctx *ctx, uint32_t map, sb_str name);            /* remove all */

  /* The idx-th value of client query argument `name` (percent- and '+'-decoded), like
     kong.request.get_query_arg; a flag without '=' reads as empty. rw acc resp hf bf log. */
  sb_status (*query_get)(sb_ctx *ctx, sb_str name, size_t idx, sb_str *out, size_t *count);
  /* The client request body (raw, de-chunked). rw acc resp; needs SB_CFG_READS_REQUEST_BODY on
     one of the request's plugin configs, else SB_E_UNSUPPORTED. */
  sb_status (*request_body_get)(sb_ctx *ctx, sb_str *out);
  /* Replaces the body sent upstream (kong.service.request.set_raw_body); the host sets
     Content-Length. rw acc; needs SB_CFG_READS_REQUEST_BODY like request_body_get. */
  sb_status (*request_body_set)(sb_ctx *ctx, sb_str body);
  /* A capture of the matched route's regex path (kong.request.get_uri_captures): name "0" is the
     whole match, "1".. the unnamed groups, other names the named groups. acc hf bf log. */
  sb_status (*route_capture)(sb_ctx *ctx, sb_str name, sb_str *out);

  /* Short-circuit (kong.response.exit): records status, headers and body; the host applies it
     after the hook returns SB_EXITED. rw acc resp; hf only with an empty body. Headers set on
     SB_HDR_RESPONSE earlier are kept. */
  sb_status (*respond)(sb_ctx *ctx, int32_t status, const sb_header *headers, size_t n_headers,
                       sb_str body);
  /* kong.response.error: status >= 400, body from Kong's templates in the format the client's
     Accept asks for; an empty message uses the status' default. Same phases as respond. */
  sb_status (*respond_error)(sb_ctx *ctx, int32_t status, sb_str message,
                             const sb_header *headers, size_t n_headers);
  /* header_filter: how body_filter sees the response body (SB_BODY_*). */
  sb_status (*response_body_mode)(sb_ctx *ctx, uint32_t mode);
  /* body_filter: replaces the current chunk (empty = drop it); response: replaces the whole
     body. The host copies. */
  sb_status (*body_set)(sb_ctx *ctx, sb_str data);
  /* response: the whole upstream response body (kong.service.response.get_raw_body). */
  sb_status (*response_body_get)(sb_ctx *ctx, sb_str *out);

  /* kong.service: proxy this request to host:port directly / balance over a named upstream
     entity. acc. */
  sb_status (*service_set_target)(sb_ctx *ctx, sb_str host, uint16_t port);
  sb_status (*service_set_upstream)(sb_ctx *ctx, sb_str upstream_name);

  /* kong.client.authenticate: records the consumer and credential (ids; either may be empty,
     not both). acc. The consumer must exist (SB_E_NOT_FOUND otherwise); the credential is
     looked up in entity `credential_entity` by id. */
  sb_status (*client_authenticate)(sb_ctx *ctx, sb_str consumer_id, sb_str credential_entity,
                                   sb_str credential_id);
  /* The authenticated consumer / credential rows (NULL out and SB_E_NOT_FOUND if none).
     acc hf bf log. Rows live as long as the request. */
  sb_status (*client_get_consumer)(sb_ctx *ctx, const sb_value **out);
  sb_status (*client_get_credential)(sb_ctx *ctx, const sb_value **out);
  /* Looks up one row of `entity` ("consumers" or an entity a loaded plugin declared) whose
     `field` equals `value`, in O(1): consumers by id, username or custom_id; plugin entities
     by id, their unique fields and their cache_key (a single-field cache_key, or the fields'
     values joined with ':'). rw acc resp hf bf log, and iw. Rows live as long as the request
     (a worker ctx: until the hook returns). */
  sb_status (*entity_find)(sb_ctx *ctx, sb_str entity, sb_str field, sb_str value,
                           const sb_value **out);

  /* kong.ctx.shared: per-request strings shared by all plugins (the host copies the value).
     rw acc resp hf bf log. */
  sb_status (*shared_set)(sb_ctx *ctx, sb_str key, sb_str value);
  sb_status (*shared_get)(sb_ctx *ctx, sb_str key, sb_str *out);
  /* kong.ctx.plugin: one per-request pointer per plugin instance. The host calls `dtor` (may be
     NULL) on the worker after the log phase, after every op of the request completed, or when
     the slot is set again. rw acc resp hf bf log. */
  sb_status (*data_set)(sb_ctx *ctx, void *data, sb_dtor_fn dtor);
  void *(*data_get)(sb_ctx *ctx);

  /* kong.ip.is_trusted: is `ip` inside the node's trusted_ips? *out = 1 or 0. Any phase. */
  sb_status (*ip_is_trusted)(sb_ctx *ctx, sb_str ip, int32_t *out);
  /* Kong's log serializer (kong.log.serialize) as compact JSON. log. */
  sb_status (*log_serialize)(sb_ctx *ctx, sb_str *out);

  /* Async. The started op's id goes to *op (may be NULL). Worker ctx or rw acc resp; on a
     request ctx the plugin returns SB_PENDING after starting work it waits for, and calls
     resume() from the completion. Timers and calls started in hf/bf/log are refused: copy what
     you need and use the worker ctx from on_init_worker. */
  sb_status (*timer_start)(sb_ctx *ctx, uint64_t delay_ms, sb_timer_cb cb, void *user, sb_op *op);
  sb_status (*http_call)(sb_ctx *ctx, const sb_http_request *request, sb_http_cb cb, void *user,
                         sb_op *op);
  /* Cancels an op; its callback runs with SB_E_CANCELLED before cancel returns. */
  sb_status (*cancel)(sb_ctx *ctx, sb_op op);
  /* Ends a phase that returned SB_PENDING with SB_CONTINUE, SB_EXITED or SB_ERROR. Called from a
     completion of the same request; the host continues after the callback returns. A second
     resume, or resume without a pending phase, is SB_E_STATE. */
  sb_status (*resume)(sb_ctx *ctx, sb_result result);

  /* ---- minor 1 and later: append here ---- */
} sb_host_api;

typedef struct sb_host_info {
  uint32_t struct_size;
  uint32_t abi_major;       /* 1 */
  uint32_t abi_minor;       /* newest minor this host implements */
  uint32_t flags;           /* 0 */
  const char *host_version; /* e.g. "0.2.0" */
  const sb_host_api *api;   /* valid for the life of the process */
} sb_host_info;

/* ---- Hooks a plugin implements. NULL = not implemented; phases are the non-NULL hooks. ------ */
typedef struct sb_plugin_hooks {
  uint32_t struct_size;
  uint32_t flags; /* 0 */
  /* [main] Once after loading. *state is passed to every hook below. A non-OK return refuses
     the plugin (and the start) with the message written to err. */
  sb_status (*on_init)(const sb_host_info *host, void **state, sb_errbuf err);
  /* [main] At process exit, after every worker stopped. */
  void (*on_shutdown)(void *state);
  /* [worker] Once per worker at start (Kong's init_worker), for every loaded plugin, configured
     or not. `worker` is a long-lived ctx (timers, http calls, entity_find) valid until the
     worker stops. */
  sb_status (*on_init_worker)(void *state, sb_ctx *worker);
  /* [main] Compiles one validated plugin config (defaults filled, as Kong stores it) into the
     plugin's own immutable object, shared read-only by every worker. `config` is valid during
     the call only. A non-OK return rejects the whole config load (start or reload) with the
     message in err, reported with the plugin entity's file and line. *cfg_flags: SB_CFG_*. */
  sb_status (*on_config_compile)(void *state, const sb_value *config, void **cfg,
                                 uint32_t *cfg_flags, sb_errbuf err);
  /* [main] Frees a compiled config once no request of its config generation is left. */
  void (*on_config_free)(void *state, void *cfg);
  /* [main] Kong's configure phase: once per config generation, after every config of this
     plugin compiled and before any worker uses the generation; cfgs has the enabled configs
     (n may be 0). */
  void (*on_configure)(void *state, void *const *cfgs, size_t n);
  /* [worker] Phases, in request order. `cfg` is the compiled config selected for this request
     (Kong's precedence). certificate and rewrite run global configs only. */
  sb_result (*on_certificate)(sb_ctx *ctx, const void *cfg); /* no SB_PENDING */
  sb_result (*on_rewrite)(sb_ctx *ctx, const void *cfg);
  sb_result (*on_access)(sb_ctx *ctx, const void *cfg);
  /* Implementing it makes the host buffer the whole upstream response first (Kong's buffered
     proxying); status, SB_HDR_RESPONSE and the body (body_set) are then writable. */
  sb_result (*on_response)(sb_ctx *ctx, const void *cfg);
  sb_result (*on_header_filter)(sb_ctx *ctx, const void *cfg); /* no SB_PENDING */
  /* Per chunk of response body (n slices, possibly 0), eos = 1 on the last call. Pass through
     by calling nothing; body_set replaces the chunk. No SB_PENDING. */
  sb_result (*on_body_filter)(sb_ctx *ctx, const void *cfg, const sb_str *chunk, size_t n,
                              int32_t eos);
  /* After the response was sent. */
  void (*on_log)(sb_ctx *ctx, const void *cfg);
  /* ---- minor 1 and later: append here ---- */
} sb_plugin_hooks;

/* What a plugin is (static const data inside the plugin). */
typedef struct sb_plugin_def {
  uint32_t struct_size;
  uint32_t abi_major;      /* SB_ABI_MAJOR the plugin was compiled against */
  uint32_t abi_minor;      /* SB_ABI_MINOR the plugin was compiled against */
  uint32_t min_host_minor; /* oldest host minor it accepts (<= abi_minor) */
  const char *name;        /* Kong plugin name, [a-z0-9-]+ */
  const char *version;     /* the plugin's own version, e.g. "1.0.0" */
  int32_t priority;        /* Kong's PRIORITY: higher runs first in every phase */
  uint32_t flags;          /* 0 */
  /* Kong's plugin-schema shape as JSON: {"name":..,"fields":[{"config":{"type":"record",
     "fields":[...]}}, ...]}. The host validates kong.yaml against it and fills defaults. */
  const char *config_schema;
  /* NULL, or a JSON array of Kong DAO schemas for entities the plugin owns (e.g. key-auth's
     keyauth_credentials); they become kong.yaml keys, nested under consumers as in Kong. */
  const char *entities_schema;
  const sb_plugin_hooks *hooks;
} sb_plugin_def;

/* The only exported symbol. No side effects (tooling may call it without on_init); returns
   static data, or NULL to refuse this host. The major is in the name: a major-2 plugin exports
   sb_plugin_entry_v2 and a major-1 host says so instead of misreading it. */
#define SB_ENTRY_SYMBOL "sb_plugin_entry_v1"
typedef const sb_plugin_def *(*sb_plugin_entry_fn)(const sb_host_info *host);
SB_EXPORT const sb_plugin_def *sb_plugin_entry_v1(const sb_host_info *host);

#ifdef __cplusplus
}
#endif

#endif /* SILVERBACK_PLUGIN_H */
