// Outbound HTTP/1.1 calls for plugins (the PDK's http_call; cf. Envoy's http_callout,
// proxy-wasm's proxy_http_call, lua-resty-http): one client per worker loop, any number of calls
// in flight, nothing ever blocks the loop.
//
// Contract:
// - Exactly once: every call's callback runs exactly once, whatever ends it (response, error,
//   timeout, cancel(), destruction of the client).
// - Never re-entrant: the callback never runs inside start(), not even for a request known to be
//   invalid at once; such failures are reported on a later loop turn.
// - A callback may start new calls, cancel other calls, or destroy the client. cancel() runs the
//   cancelled call's callback before it returns.
// - Responses: Content-Length, chunked and close-delimited bodies; HEAD, 204 and 304 responses
//   have no body; 1xx interim responses are skipped (101 is a protocol error: no upgrades).
//   Errors: an unparsable, truncated or reset response is `protocol`; a body over
//   max_response_bytes is `too_large` (the connection is closed at once).
// - http and https. TLS uses one client SSL_CTX per client and verify mode; SNI is the URL's
//   host unless it is an IP literal. With tls_verify the certificate must chain to the system
//   store (SSL_CERT_FILE / SSL_CERT_DIR apply) and match the host (DNS name or IP address).
// - Names resolve through the worker's Resolver (asynchronous, cached); IP literals skip it.
// - timeout_ms covers the whole exchange (DNS, connect, TLS, request, response); when it expires
//   the socket is closed and the callback gets `timeout`.
// - One connection per call, always "Connection: close" (no keep-alive pooling yet).
// - Every libuv handle is closed through its close callback; a finished call frees everything
//   once its socket's close callback has run.
//
// Requirements: the loop carries a net::DeadlineQueue (as every worker loop does: net::Stream
// uses it), and the Resolver outlives the client's pending lookups (the worker owns both).
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "net/tls.h"

struct sockaddr_storage;

namespace sb::proxy {

class Resolver;

struct HttpCallRequest {
  std::string method = "GET";
  std::string url;  // http://host[:port]/path?query or https://...; IPv6 as [::1]
  // Host, Content-Length and Connection are set by the client unless given here. Names must be
  // tokens and values must not contain CR, LF or NUL; a given Content-Length must equal the
  // body's size; with a given Transfer-Encoding the body is sent as is (the caller frames it).
  // Anything else is invalid_request.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  uint64_t timeout_ms = 10000;  // whole exchange; 0 is invalid_request
  bool tls_verify = false;      // https: verify against the system store and the host name
  size_t max_response_bytes = 16 * 1024 * 1024;  // body bytes (after de-chunking)
};

struct HttpCallResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // as received, in order
  std::string body;                                          // de-chunked
};

enum class HttpCallError {
  ok,
  invalid_request,  // bad URL, method, header or timeout
  dns,              // name resolution failed
  connect,          // TCP connect failed (refused, unreachable, reset during the handshake)
  tls,              // TLS handshake or record failure (includes certificate verification)
  timeout,
  protocol,  // invalid, truncated or reset response
  too_large,
  cancelled,  // cancel() or the client's destruction
};
std::string_view to_string(HttpCallError e);

// `response` is non-null only with ok, and valid only during the call.
using HttpCallback = std::function<void(HttpCallError, HttpCallResponse*)>;

// The parts of an http(s) URL a call needs (exposed for tests and plugin-side validation).
struct HttpUrl {
  bool tls = false;
  std::string host;  // without brackets for IPv6
  int port = 0;
  std::string target;  // path and query ("/" when empty); the fragment is dropped
  bool ipv6 = false;
};
// False (with `error`) for anything but http/https with a host: userinfo is not supported.
bool parse_http_url(std::string_view url, HttpUrl* out, std::string* error);

class HttpClient {
 public:
  HttpClient(uv_loop_t* loop, Resolver& resolver);
  // Cancels every call still running (their callbacks run here with `cancelled`, including calls
  // such callbacks start).
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Returns the call's id (never 0, never reused by this client).
  uint64_t start(HttpCallRequest request, HttpCallback done);
  // Runs the call's callback with `cancelled` before returning true; false if the id is unknown
  // or the call already finished (its callback ran or is running).
  bool cancel(uint64_t id);
  size_t active() const { return calls_.size(); }

 private:
  class Call;
  friend class Call;
  void finish(uint64_t id, HttpCallError error);
  SSL_CTX* tls_context(bool verify);
  void on_resolved(uint64_t id, int status, const sockaddr_storage* address);

  uv_loop_t* loop_;
  Resolver& resolver_;
  std::unordered_map<uint64_t, std::unique_ptr<Call>> calls_;
  uint64_t next_id_ = 1;
  sb::net::SslCtxPtr tls_plain_, tls_verify_;
  // Resolver callbacks cannot be withdrawn: they hold a weak reference to this and find their
  // call by id, so a late answer for a finished call or a destroyed client is dropped.
  std::shared_ptr<HttpClient*> alive_;
};

}  // namespace sb::proxy
