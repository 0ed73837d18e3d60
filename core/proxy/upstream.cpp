#include "proxy/upstream.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "proxy/worker.h"

namespace sb::proxy {

// ---------------------------------------------------------------------------------------------
// UpstreamConn

UpstreamConn::UpstreamConn(Worker* worker, std::string key)
    : worker_(worker),
      stream_(worker->loop(), this),
      parser_(HTTP_RESPONSE, this, &worker->settings().limits),
      key_(std::move(key)) {}

void UpstreamConn::connect(const sockaddr* address, UpstreamClient* client,
                           const UpstreamTimeouts& timeouts, SSL_CTX* tls, std::string_view sni) {
  client_ = client;
  timeouts_ = timeouts;
  phase_ = Phase::connecting;
  int rc = stream_.connect(address);
  if (rc == 0 && tls != nullptr) stream_.use_tls(sb::net::TlsSession::client(tls, sni, sni));
  if (rc != 0) {
    // Report asynchronously-equivalent: the caller expects no re-entrant callback from
    // connect(), so defer through a zero timer.
    stream_.timer_start(0);
    phase_ = Phase::closed;
    return;
  }
  stream_.timer_start(static_cast<uint64_t>(timeouts_.connect_ms));
}

void UpstreamConn::attach(UpstreamClient* client, const UpstreamTimeouts& timeouts) {
  client_ = client;
  timeouts_ = timeouts;
  in_pool_ = false;
  phase_ = Phase::sending;
  response_started_ = false;
  message_done_ = false;
  end_notified_ = false;
  parser_.reset();
  stream_.timer_start(static_cast<uint64_t>(timeouts_.write_ms));
  stream_.read_start();
}

void UpstreamConn::write(const uv_buf_t* bufs, unsigned n) { stream_.write(bufs, n); }

void UpstreamConn::request_sent() {
  if (phase_ == Phase::sending) {
    phase_ = Phase::waiting;
    stream_.timer_start(static_cast<uint64_t>(timeouts_.read_ms));
  }
}

void UpstreamConn::resume_reading() {
  if (phase_ != Phase::closed && phase_ != Phase::idle) stream_.read_start();
}

void UpstreamConn::enter_tunnel() {
  phase_ = Phase::tunnel;
  stream_.timer_stop();
  stream_.read_start();
}

void UpstreamConn::shutdown_write() {
  // The client finished sending: pass its FIN on and keep reading the upstream's side.
  stream_.shutdown_write();
}

void UpstreamConn::release(bool reusable) {
  client_ = nullptr;
  ++requests_;
  const Settings& s = worker_->settings();
  bool can_pool = reusable && keep_alive_ && message_done_ && phase_ != Phase::closed &&
                  phase_ != Phase::tunnel &&
                  requests_ < static_cast<uint32_t>(s.upstream_keepalive_max_requests) &&
                  !worker_->draining();
  if (can_pool) {
    phase_ = Phase::idle;
    parser_.reset();
    if (worker_->pool().put(this)) {
      in_pool_ = true;
      stream_.read_start();  // notice the upstream closing an idle connection
      stream_.timer_start(static_cast<uint64_t>(s.upstream_keepalive_idle_timeout_ms));
      return;
    }
  }
  close();
}

void UpstreamConn::abort() {
  client_ = nullptr;
  close();
}

void UpstreamConn::close() {
  if (in_pool_) {
    worker_->pool().remove(this);
    in_pool_ = false;
  }
  phase_ = Phase::closed;
  client_ = nullptr;
  stream_.close();
}

void UpstreamConn::fail(UpstreamFailure failure) {
  UpstreamClient* client = client_;
  bool started = response_started_;
  close();
  if (client != nullptr) client->on_upstream_failure(failure, started);
}

void UpstreamConn::on_stream_read(const char* data, size_t len) {
  if (phase_ == Phase::idle) {
    close();  // an idle upstream must not talk: drop the connection
    return;
  }
  if (phase_ == Phase::tunnel) {
    if (client_) client_->on_upstream_tunnel_data(data, len);
    return;
  }
  if (message_done_) {
    keep_alive_ = false;  // bytes after a complete response: never reuse this connection
    return;
  }
  response_started_ = true;
  stream_.timer_start(static_cast<uint64_t>(timeouts_.read_ms));
  UpstreamClient* client = client_;
  size_t consumed = 0;
  auto status = parser_.execute(data, len, &consumed);
  if (client != nullptr && client == client_) client->on_upstream_read_end();
  if (status == sb::http::ParseStatus::error) {
    fail(UpstreamFailure::invalid_response);
    return;
  }
  if (status == sb::http::ParseStatus::paused && consumed < len) keep_alive_ = false;
  if (status == sb::http::ParseStatus::upgraded) {
    // A 101 response: everything after its head is tunnel data.
    if (client_ && consumed < len)
      client_->on_upstream_tunnel_data(data + consumed, len - consumed);
    return;
  }
  notify_end();
}

void UpstreamConn::on_stream_eof() {
  if (phase_ == Phase::idle) {
    close();
    return;
  }
  if (phase_ == Phase::tunnel) {
    UpstreamClient* client = client_;
    if (client) client->on_upstream_tunnel_eof();
    return;
  }
  keep_alive_ = false;
  if (response_started_ && !message_done_) {
    // A close-delimited body ends here; anything else is a truncated response.
    if (parser_.finish() == sb::http::ParseStatus::ok && message_done_) {
      notify_end();
      return;
    }
  }
  if (!message_done_) fail(UpstreamFailure::reset);
}

void UpstreamConn::on_stream_error(int) {
  if (phase_ == Phase::idle || phase_ == Phase::closed) {
    close();
    return;
  }
  if (phase_ == Phase::tunnel) {
    fail(UpstreamFailure::reset);  // the tunnel is broken both ways
    return;
  }
  if (phase_ == Phase::connecting) {
    fail(UpstreamFailure::connect_refused);
    return;
  }
  fail(UpstreamFailure::reset);
}

void UpstreamConn::on_stream_drain() {
  if (client_) client_->on_upstream_drain();
}

void UpstreamConn::on_stream_connected(int status) {
  if (status != 0) {
    fail(UpstreamFailure::connect_refused);
    return;
  }
  stream_.set_nodelay();
  phase_ = Phase::sending;
  stream_.timer_start(static_cast<uint64_t>(timeouts_.write_ms));
  stream_.read_start();
  if (client_) client_->on_upstream_connected();
}

void UpstreamConn::on_stream_timeout() {
  switch (phase_) {
    case Phase::connecting:
      fail(UpstreamFailure::connect_timeout);
      break;
    case Phase::sending:
      fail(UpstreamFailure::write_timeout);
      break;
    case Phase::waiting:
      fail(UpstreamFailure::read_timeout);
      break;
    case Phase::closed:
      fail(UpstreamFailure::connect_refused);
      break;  // connect() failed
    default:
      close();
      break;  // idle timeout
  }
}

void UpstreamConn::on_stream_closed() {
  std::unique_ptr<UpstreamConn> self(this);  // owned by the loop until both handles closed
}

int UpstreamConn::on_head(sb::http::MessageHead& head) {
  if (head.status >= 100 && head.status < 200 && head.status != 101) return 0;  // skip 1xx
  keep_alive_ = head.keep_alive;
  if (client_) client_->on_upstream_head(head);
  // 204 and 304 never have a body, whatever Content-Length says (llhttp only knows that when
  // the header is absent): without this the exchange would wait for bytes that never come.
  return head.status == 204 || head.status == 304 ? 1 : 0;
}

void UpstreamConn::on_body(const char* data, size_t len) {
  if (client_) client_->on_upstream_body(data, len);
}

bool UpstreamConn::on_message_end() {
  const auto& head = parser_.head();
  if (head.status >= 100 && head.status < 200 && head.status != 101) {
    return false;  // an interim response; the final one follows on the same parser
  }
  message_done_ = true;
  stream_.timer_stop();
  return true;  // the client hears on_upstream_end once the parser has returned
}

void UpstreamConn::notify_end() {
  if (message_done_ && !end_notified_ && parser_.head().status != 101 && client_) {
    end_notified_ = true;
    client_->on_upstream_end();
  }
}

// ---------------------------------------------------------------------------------------------
// UpstreamPool

UpstreamPool::~UpstreamPool() { close_all(); }

UpstreamConn* UpstreamPool::take(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  UpstreamConn* conn = it->second.back();
  it->second.pop_back();
  return conn;
}

bool UpstreamPool::put(UpstreamConn* conn) {
  auto& list = idle_[conn->key()];
  if (list.size() >= static_cast<size_t>(worker_->settings().upstream_keepalive_pool_size)) {
    return false;
  }
  list.push_back(conn);
  return true;
}

void UpstreamPool::remove(UpstreamConn* conn) {
  auto it = idle_.find(conn->key());
  if (it == idle_.end()) return;
  auto& list = it->second;
  list.erase(std::remove(list.begin(), list.end(), conn), list.end());
}

void UpstreamPool::close_all() {
  auto idle = std::move(idle_);
  idle_.clear();
  for (auto& [key, list] : idle) {
    for (UpstreamConn* c : list) c->abort();
  }
}

size_t UpstreamPool::idle_count() const {
  size_t n = 0;
  for (const auto& [key, list] : idle_) n += list.size();
  return n;
}

// ---------------------------------------------------------------------------------------------
// Resolver

namespace {
constexpr uint64_t kDnsTtlMs = 30000;

void set_port(sockaddr_storage* addr, int port) {
  if (addr->ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(addr)->sin_port = htons(static_cast<uint16_t>(port));
  } else {
    reinterpret_cast<sockaddr_in6*>(addr)->sin6_port = htons(static_cast<uint16_t>(port));
  }
}
}  // namespace

struct Resolver::Lookup {
  uv_getaddrinfo_t req;
  Resolver* resolver;
  std::string host;
  int port;
  Callback cb;
};

bool Resolver::parse_ip(const std::string& host, int port, sockaddr_storage* out) {
  std::memset(out, 0, sizeof(*out));
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    return true;
  }
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    return true;
  }
  return false;
}

void Resolver::resolve(const std::string& host, int port, Callback cb) {
  sockaddr_storage addr;
  if (parse_ip(host, port, &addr)) {
    cb(0, &addr);
    return;
  }
  uint64_t now = uv_now(loop_);
  if (auto it = cache_.find(host); it != cache_.end() && it->second.expires_ms > now) {
    addr = it->second.addr;
    set_port(&addr, port);
    cb(0, &addr);
    return;
  }
  auto lookup = std::make_unique<Lookup>();
  lookup->resolver = this;
  lookup->host = host;
  lookup->port = port;
  lookup->cb = std::move(cb);
  lookup->req.data = lookup.get();
  struct addrinfo hints {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = uv_getaddrinfo(loop_, &lookup->req, &Resolver::on_resolved, lookup->host.c_str(),
                          nullptr, &hints);
  if (rc != 0) {
    lookup->cb(rc, nullptr);
    return;
  }
  lookup.release();  // reclaimed in on_resolved
}

void Resolver::on_resolved(uv_getaddrinfo_t* req, int status, struct addrinfo* res) {
  std::unique_ptr<Lookup> lookup(static_cast<Lookup*>(req->data));
  if (status != 0 || res == nullptr) {
    if (res) uv_freeaddrinfo(res);
    lookup->cb(status != 0 ? status : UV_EAI_NONAME, nullptr);
    return;
  }
  // Prefer IPv4 (Kong's default dns_order resolves A before AAAA).
  const struct addrinfo* pick = res;
  for (const struct addrinfo* a = res; a; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      pick = a;
      break;
    }
  }
  Entry entry;
  std::memset(&entry.addr, 0, sizeof(entry.addr));
  std::memcpy(&entry.addr, pick->ai_addr, pick->ai_addrlen);
  uv_freeaddrinfo(res);
  Resolver* self = lookup->resolver;
  entry.expires_ms = uv_now(self->loop_) + kDnsTtlMs;
  self->cache_[lookup->host] = entry;
  sockaddr_storage addr = entry.addr;
  set_port(&addr, lookup->port);
  lookup->cb(0, &addr);
}

}  // namespace sb::proxy
