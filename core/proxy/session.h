// A downstream (client) connection: HTTP/1.1 server role. Parses requests, routes them, and
// drives one Transaction at a time through the upstream, streaming bodies both ways with
// backpressure. Pipelined requests wait, unparsed, until the previous response is complete.
#pragma once

#include <netinet/in.h>

#include <silverback/plugin.h>

#include <memory>
#include <string>
#include <vector>

#include "http/parser.h"
#include "net/stream.h"
#include "net/tls.h"
#include "proxy/errors.h"
#include "proxy/upstream.h"
#include "router/router.h"

namespace sb::plugins {
struct Instance;
}

namespace sb::proxy {

class Worker;
struct Snapshot;
struct Transaction;
struct PluginRun;

// A byte buffer that costs one pointer while unused (most connections never need it).
class LazyBuffer {
 public:
  bool empty() const { return !s_ || s_->empty(); }
  size_t size() const { return s_ ? s_->size() : 0; }
  std::string_view view() const { return s_ ? std::string_view(*s_) : std::string_view(); }
  void append(const char* p, size_t n) {
    if (!s_) s_ = std::make_unique<std::string>();
    s_->append(p, n);
  }
  void assign(const char* p, size_t n) {
    if (!s_) s_ = std::make_unique<std::string>();
    s_->assign(p, n);
  }
  std::string take() {
    std::string out = s_ ? std::move(*s_) : std::string();
    s_.reset();
    return out;
  }
  void clear() { s_.reset(); }

 private:
  std::unique_ptr<std::string> s_;
};

class ClientSession final : sb::net::StreamHandler, sb::http::ParserEvents, UpstreamClient {
 public:
  // Takes an accepted connection (`fd`, owned from now on) onto `worker`'s loop; with `tls`, the
  // connection speaks TLS (the listener is an `ssl` one).
  static void accept(Worker* worker, int fd, SSL_CTX* tls);
  // The TlsServer selector: picks the certificate for a handshake's SNI.
  static SSL_CTX* select_certificate(void* app_data, std::string_view server_name);
  ~ClientSession();

  // Graceful stop: close now if idle, otherwise after the current response.
  void shutdown_gently();
  void abort();

  ClientSession* next = nullptr;  // Worker's intrusive registry
  ClientSession* prev = nullptr;

  // For the PDK (pdk.cpp), with a live request ctx.
  sb::http::MessageHead& request_head() { return parser_->head(); }
  sb_status plugin_var(sb_ctx& ctx, uint32_t var, sb_str* out);
  sb_status plugin_num(sb_ctx& ctx, uint32_t num, int64_t* out);
  void plugin_serialize(sb_ctx& ctx, std::string& out);
  void plugins_resume();  // after a completion that called resume()

 private:
  explicit ClientSession(Worker* worker);

  // StreamHandler
  void on_stream_read(const char* data, size_t len) override;
  void on_stream_eof() override;
  void on_stream_error(int error) override;
  void on_stream_drain() override;
  void on_stream_timeout() override;
  void on_stream_closed() override;
  // ParserEvents (request)
  int on_head(sb::http::MessageHead& head) override;
  void on_body(const char* data, size_t len) override;
  bool on_message_end() override;
  // UpstreamClient
  void on_upstream_connected() override;
  void on_upstream_head(sb::http::MessageHead& head) override;
  void on_upstream_body(const char* data, size_t len) override;
  void on_upstream_end() override;
  void on_upstream_failure(UpstreamFailure failure, bool response_started) override;
  void on_upstream_drain() override;
  void on_upstream_read_end() override { stream_.uncork(); }
  void on_upstream_tunnel_data(const char* data, size_t len) override;
  void on_upstream_tunnel_eof() override;

  // Input
  void process(const char* data, size_t len);
  void process_pending();
  void on_parse_error();
  // Request handling
  void start_request(sb::http::MessageHead& head);
  void route_request(sb::http::MessageHead& head);
  void handle_admin_request();
  // Upstream
  void connect_upstream();
  void connect_to(const sockaddr_storage& address);
  void send_request_head();
  void forward_body(const char* data, size_t len, bool last);
  void retry_or_fail(UpstreamFailure failure);
  // Responses
  void respond_error(int status, std::string_view message, ErrorSource source);
  void respond_local(int status, std::string_view content_type, std::string_view body,
                     std::string_view extra_headers = {}, bool admin = false);
  void write_local_response(int status, std::string_view content_type, std::string_view body,
                            std::string_view extra_headers, bool admin);
  void write_upstream_response_head(sb::http::MessageHead& head);
  void write_response_body(const char* data, size_t len);
  void response_complete();
  void finish_transaction();
  void enter_idle();
  std::string_view peer_ip(char (&buf)[46]) const;
  bool keep_alive_after_response() const;

  // Plugin phases (plugin_phases.cpp).
  PluginRun& plugin_run();
  bool global_hooks(uint32_t hook) const;
  void plugins_setup();
  bool plugins_take_body(const char* data, size_t len);
  void plugins_body_complete();
  void plugins_start();
  void plugins_run_request_phases();
  sb_result plugins_call(PluginRun& run, const sb::plugins::Instance* inst, uint32_t phase);
  bool plugins_result(PluginRun& run, const sb::plugins::Instance* inst, uint32_t phase,
                      sb_result r);
  void plugins_pending_timeout();
  void plugins_proceed();
  void plugins_apply_exit();
  const std::vector<const sb::plugins::Instance*>& plugins_response_list(PluginRun& run);
  void plugins_apply_response_ops(PluginRun& run, sb::http::MessageHead& head);
  void plugins_header_filter(PluginRun& run, sb::http::MessageHead& head);
  std::string_view plugins_body_filter(PluginRun& run, std::string_view chunk, bool eos);
  bool plugins_on_upstream_head(sb::http::MessageHead& head);
  bool plugins_on_upstream_body(const char* data, size_t len);
  void plugins_on_upstream_end();
  void plugins_local_response(int status, std::string_view content_type, std::string_view body,
                              std::string_view extra_headers);
  void plugins_log();
  void plugins_certificate(const Snapshot& snap);

  Worker* worker_;
  sb::net::Stream stream_;
  std::unique_ptr<sb::http::Parser> parser_;  // from the worker's pool while a request runs
  LazyBuffer pending_;  // bytes read but not parsed yet (pipelining, early tunnel data)
  std::unique_ptr<Transaction> txn_;
  uint8_t peer_addr_[16] = {};  // the connecting peer (IPv4 in the first 4 bytes)
  uint8_t peer_family_ = 0;
  uint8_t dns_pending_ = 0;      // DNS answers still to come: keep the object alive for them
  uint32_t request_serial_ = 0;  // tells a late DNS answer which request it was for
  uint32_t connection_id_ = 0;   // per-worker serial (kong's tracker ids)
  uint16_t peer_port_ = 0;
  uint16_t local_port_ = 0;
  // Flags as bits: the session object is what an idle keep-alive connection costs.
  bool stream_closed_ : 1 = false;  // the socket is closed; freed once dns_pending_ is 0
  bool trusted_ : 1 = false;
  bool https_ : 1 = false;   // accepted on an ssl listener
  bool paused_ : 1 = false;  // parser stopped at the end of the current request
  bool closing_ : 1 = false;
  bool close_after_response_ : 1 = false;
  bool client_eof_ : 1 = false;
  bool tunnel_ : 1 = false;
  bool upstream_eof_ : 1 = false;  // tunnel: the upstream finished sending
  bool upgrading_ : 1 = false;     // sent an Upgrade request, waiting for 101
  enum class Timer : uint8_t { none, keepalive, header, body, send, plugin } timer_ = Timer::none;
};

}  // namespace sb::proxy
