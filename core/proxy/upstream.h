// Upstream side of a worker: connections to services (HTTP/1.1 client role), the keep-alive pool
// and the asynchronous DNS cache.
#pragma once

#include <netinet/in.h>
#include <uv.h>

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/parser.h"
#include "net/stream.h"
#include "net/tls.h"

namespace sb::proxy {

class Worker;

// Why an upstream attempt failed, mapped to Kong's statuses by the session.
enum class UpstreamFailure {
  connect_refused,   // 502, retryable
  connect_timeout,   // 504, retryable
  write_timeout,     // 504
  read_timeout,      // 504
  reset,             // connection closed/reset before a complete response: 502
  invalid_response,  // unparsable response: 502
  name_resolution,   // 503 "name resolution failed"
};

// The session side of an upstream exchange.
class UpstreamClient {
 public:
  virtual void on_upstream_connected() = 0;
  // Response head (1xx other than 101 are skipped before reaching here).
  virtual void on_upstream_head(sb::http::MessageHead& head) = 0;
  virtual void on_upstream_body(const char* data, size_t len) = 0;
  virtual void on_upstream_end() = 0;
  // `response_started` tells whether any response byte had arrived.
  virtual void on_upstream_failure(UpstreamFailure failure, bool response_started) = 0;
  virtual void on_upstream_drain() = 0;
  // Every event of one upstream read has been delivered (flush batched writes now).
  virtual void on_upstream_read_end() = 0;
  // Tunnel mode (after 101): raw bytes and end of stream.
  virtual void on_upstream_tunnel_data(const char* data, size_t len) = 0;
  virtual void on_upstream_tunnel_eof() = 0;

 protected:
  ~UpstreamClient() = default;
};

struct UpstreamTimeouts {
  int connect_ms = 60000;
  int write_ms = 60000;
  int read_ms = 60000;
};

class UpstreamConn final : sb::net::StreamHandler, sb::http::ParserEvents {
 public:
  UpstreamConn(Worker* worker, std::string key);

  // Starts a connection; the client hears on_upstream_connected (after the TLS handshake when
  // `tls` is given) or a failure. `sni` is sent and verified when non-empty.
  void connect(const sockaddr* address, UpstreamClient* client, const UpstreamTimeouts& timeouts,
               SSL_CTX* tls = nullptr, std::string_view sni = {});
  // Takes a pooled connection for a new exchange.
  void attach(UpstreamClient* client, const UpstreamTimeouts& timeouts);
  // Stops talking to the client; the connection goes back to the pool if it can be reused,
  // otherwise it is closed.
  void release(bool reusable);
  // Closes without reuse (the exchange was aborted).
  void abort();

  void set_head_request(bool is_head) { parser_.set_no_body_expected(is_head); }
  void write(const uv_buf_t* bufs, unsigned n);
  void write(std::string_view data) { stream_.write(data); }
  bool congested() const { return stream_.congested(); }
  // The whole request has been handed to write(): switch from write to read timeout.
  void request_sent();
  void pause_reading() { stream_.read_stop(); }
  void resume_reading();
  void enter_tunnel();
  void shutdown_write();  // tunnel: the client finished sending
  bool reused() const { return requests_ > 0; }
  bool response_started() const { return response_started_; }
  const std::string& key() const { return key_; }
  uint32_t requests() const { return requests_; }

 private:
  // StreamHandler
  void on_stream_read(const char* data, size_t len) override;
  void on_stream_eof() override;
  void on_stream_error(int error) override;
  void on_stream_drain() override;
  void on_stream_connected(int status) override;
  void on_stream_timeout() override;
  void on_stream_closed() override;
  // ParserEvents
  int on_head(sb::http::MessageHead& head) override;
  void on_body(const char* data, size_t len) override;
  bool on_message_end() override;

  void fail(UpstreamFailure failure);
  void notify_end();
  void close();

  enum class Phase { connecting, sending, waiting, idle, tunnel, closed };
  Worker* worker_;
  sb::net::Stream stream_;
  sb::http::Parser parser_;
  std::string key_;
  UpstreamClient* client_ = nullptr;
  UpstreamTimeouts timeouts_;
  Phase phase_ = Phase::connecting;
  uint32_t requests_ = 0;
  bool response_started_ = false;
  bool message_done_ = false;
  bool end_notified_ = false;
  bool keep_alive_ = true;
  bool in_pool_ = false;
};

// Idle keep-alive connections keyed by what makes two connections interchangeable
// ("ip:port" now; TLS facts join the key with the TLS issue).
class UpstreamPool {
 public:
  UpstreamPool(Worker* worker) : worker_(worker) {}
  ~UpstreamPool();
  UpstreamConn* take(const std::string& key);
  // Returns false when the pool for this key is full (the caller closes the connection).
  bool put(UpstreamConn* conn);
  void remove(UpstreamConn* conn);
  void close_all();
  size_t idle_count() const;

 private:
  Worker* worker_;
  std::unordered_map<std::string, std::vector<UpstreamConn*>> idle_;
};

// Asynchronous name resolution with a small per-worker cache (uv_getaddrinfo on the loop's
// thread pool, so nothing blocks the loop). IP literals resolve synchronously.
class Resolver {
 public:
  using Callback = std::function<void(int status, const sockaddr_storage* addr)>;
  // Needs only the loop (not a Worker), so loop-level clients such as HttpClient and tests can
  // own one.
  explicit Resolver(uv_loop_t* loop) : loop_(loop) {}
  // Calls `cb` (possibly synchronously) with the first address of `host`, port set.
  void resolve(const std::string& host, int port, Callback cb);
  static bool parse_ip(const std::string& host, int port, sockaddr_storage* out);

 private:
  struct Entry {
    sockaddr_storage addr;
    uint64_t expires_ms;
  };
  struct Lookup;
  static void on_resolved(uv_getaddrinfo_t* req, int status, struct addrinfo* res);
  uv_loop_t* loop_;
  std::unordered_map<std::string, Entry> cache_;
};

}  // namespace sb::proxy
