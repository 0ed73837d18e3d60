// The state of one request on its way through the gateway.
#pragma once

#include <netinet/in.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/stream.h"
#include "proxy/balancer.h"
#include "proxy/health.h"
#include "proxy/plugin_run.h"
#include "proxy/snapshot.h"
#include "proxy/upstream.h"
#include "router/router.h"

namespace sb::proxy {

enum class ResponseFraming { none, length, chunked, close, tunnel };

struct Transaction {
  std::shared_ptr<const Snapshot> snapshot;  // pinned for the whole request
  sb::router::Match match;
  std::vector<sb::router::Header> router_headers;
  char request_id[32];
  uint64_t start_ms = 0;
  uint64_t upstream_start_ms = 0;
  uint64_t upstream_head_ms = 0;

  // Request (views point into the session's parsed head, valid for the whole transaction).
  std::string_view host_header;  // Host as received (or from an absolute-form target)
  std::string_view raw_path;     // path as received, for X-Forwarded-Path
  std::string_view query;        // "?..." or empty, forwarded verbatim
  std::string path;              // normalized
  std::string host;              // $host: lower-case, no port
  int client_minor = 1;          // HTTP/1.x of the client
  bool https = false;            // the client connection is TLS
  bool head_request = false;
  bool idempotent = false;
  bool body_expected = false;
  bool chunked = false;
  bool upgrade = false;
  bool expect_continue = false;
  bool request_complete = false;
  int64_t content_length = -1;
  uint64_t body_received = 0;
  bool local = false;            // the gateway answers this request itself
  bool connect_pending = false;  // routed; connect after the current read is parsed
  bool admin = false;
  std::string admin_body;
  bool counted_writing = false;

  // Upstream
  UpstreamConn* conn = nullptr;
  bool conn_reused = false;
  bool upstream_head_sent = false;
  bool body_reached_upstream = false;  // once true, the request can never be re-sent
  std::string pending_body;            // framed body bytes waiting for the connection
  int tries = 0;
  int max_tries = 1;
  UpstreamTimeouts timeouts;
  std::string pool_key;
  std::string upstream_host_header;
  // Health checks: the balanced target of the current try (the next try avoids it) and where
  // its outcome is reported, once; `health_pin` keeps that state alive across a reload.
  const sb::config::Target* balanced_target = nullptr;
  health::TargetHealth* health_target = nullptr;
  const sb::config::Healthchecks* health_checks = nullptr;
  std::shared_ptr<const health::Binding> health_pin;
  // Balancing: the consistent-hashing input's hash (computed once, on the first try), a cookie
  // the gateway made up for hash_on cookie (sent back with Set-Cookie), and the current try's
  // claim on its target's in-flight count (least-connections/latency; released when it ends).
  bool hash_done = false;
  uint32_t hash = 0;
  const sb::config::Upstream* hash_cookie_upstream = nullptr;  // null: no cookie to set
  char hash_cookie[36];
  balancer::LoadClaim load;

  // Response
  int status = 0;
  ResponseFraming framing = ResponseFraming::none;
  bool response_started = false;
  bool response_done = false;
  uint64_t body_bytes_sent = 0;  // response body bytes written to the client (access log)

  // Plugins: allocated the first time a request runs one, kept across recycling.
  std::unique_ptr<PluginRun> plugins;
  bool plugins_active = false;  // `plugins` belongs to this request

  // Back to the state of a new transaction, keeping string and vector capacity (transactions
  // are recycled by the worker so a request costs no allocations once warm).
  void reset() {
    auto keep_match = std::move(match);
    auto keep_headers = std::move(router_headers);
    auto keep_path = std::move(path), keep_host = std::move(host),
         keep_body = std::move(pending_body);
    auto keep_key = std::move(pool_key);
    auto keep_hh = std::move(upstream_host_header);
    auto keep_plugins = std::move(plugins);  // cleared by Worker::release_transaction
    *this = Transaction();
    plugins = std::move(keep_plugins);
    match = std::move(keep_match);
    match.route = nullptr;  // a recycled transaction must not look routed
    match.service = nullptr;
    match.captures.clear();
    router_headers = std::move(keep_headers);
    router_headers.clear();
    path = std::move(keep_path);
    path.clear();
    host = std::move(keep_host);
    host.clear();
    pending_body = std::move(keep_body);
    pending_body.clear();
    pool_key = std::move(keep_key);
    upstream_host_header = std::move(keep_hh);
  }

  bool backlogged() const {
    return pending_body.size() >= sb::net::Stream::kHighWatermark ||
           (conn != nullptr && conn->congested());
  }
};

}  // namespace sb::proxy
