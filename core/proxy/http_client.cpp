#include "proxy/http_client.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "http/parser.h"
#include "net/stream.h"
#include "net/uv_handle.h"
#include "proxy/upstream.h"

namespace sb::proxy {
namespace {

using sb::http::iequals;

// Response heads get the same limits as upstream responses.
const sb::http::Limits kLimits;
// A claimed Content-Length reserves at most this much up front; the rest grows as bytes arrive.
constexpr size_t kMaxReserve = 1024 * 1024;

bool is_tchar(char c) {
  static constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         kSpecials.find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

// Header values: no line breaks (header injection) and no NUL.
bool is_field_value(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool is_host_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
         c == '.' || c == '_';
}

bool parse_port(std::string_view s, int* port) {
  if (s.empty() || s.size() > 5) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v < 1 || v > 65535) return false;
  *port = v;
  return true;
}

// The request as sent: head (with the client's own Host, Content-Length and Connection unless
// the caller gave them) and body. Returns an error text, empty on success.
std::string build_request(const HttpCallRequest& r, const HttpUrl& url, std::string* out) {
  if (!is_token(r.method)) return "invalid method";
  bool host = false, length = false, chunked = false, connection = false;
  for (const auto& [name, value] : r.headers) {
    if (!is_token(name)) return fmt::format("invalid header name '{}'", name);
    if (!is_field_value(value)) return fmt::format("invalid value for header '{}'", name);
    if (iequals(name, "host")) {
      host = true;
    } else if (iequals(name, "content-length")) {
      // A length other than the body's would desynchronize the connection.
      if (value != std::to_string(r.body.size())) return "Content-Length differs from the body";
      length = true;
    } else if (iequals(name, "transfer-encoding")) {
      chunked = true;  // the caller frames the body itself
    } else if (iequals(name, "connection")) {
      connection = true;
    }
  }
  out->clear();
  out->reserve(256 + r.body.size());
  fmt::format_to(std::back_inserter(*out), "{} {} HTTP/1.1\r\n", r.method, url.target);
  if (!host) {
    int default_port = url.tls ? 443 : 80;
    std::string_view open = url.ipv6 ? "[" : "", close = url.ipv6 ? "]" : "";
    fmt::format_to(std::back_inserter(*out), "Host: {}{}{}", open, url.host, close);
    if (url.port != default_port) fmt::format_to(std::back_inserter(*out), ":{}", url.port);
    out->append("\r\n");
  }
  for (const auto& [name, value] : r.headers) {
    fmt::format_to(std::back_inserter(*out), "{}: {}\r\n", name, value);
  }
  bool wants_length =
      !r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH";
  if (!length && !chunked && wants_length) {
    fmt::format_to(std::back_inserter(*out), "Content-Length: {}\r\n", r.body.size());
  }
  if (!connection) out->append("Connection: close\r\n");
  out->append("\r\n");
  out->append(r.body);
  return {};
}

}  // namespace

std::string_view to_string(HttpCallError e) {
  switch (e) {
    case HttpCallError::ok:
      return "ok";
    case HttpCallError::invalid_request:
      return "invalid request";
    case HttpCallError::dns:
      return "name resolution failed";
    case HttpCallError::connect:
      return "connection failed";
    case HttpCallError::tls:
      return "TLS handshake failed";
    case HttpCallError::timeout:
      return "timeout";
    case HttpCallError::protocol:
      return "invalid response";
    case HttpCallError::too_large:
      return "response too large";
    case HttpCallError::cancelled:
      return "cancelled";
  }
  return "unknown";
}

bool parse_http_url(std::string_view url, HttpUrl* out, std::string* error) {
  *out = HttpUrl{};
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    *error = "URL without a scheme";
    return false;
  }
  std::string_view scheme = url.substr(0, sep);
  if (iequals(scheme, "https")) {
    out->tls = true;
  } else if (!iequals(scheme, "http")) {
    *error = fmt::format("unsupported scheme '{}'", scheme);
    return false;
  }
  std::string_view rest = url.substr(sep + 3);
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.find('@') != std::string_view::npos) {
    *error = "userinfo in URLs is not supported";
    return false;
  }
  std::string_view host, port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      *error = "unterminated IPv6 address";
      return false;
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        *error = "invalid authority";
        return false;
      }
      has_port = true;
      port = after.substr(1);
    }
    in6_addr addr;
    if (inet_pton(AF_INET6, std::string(host).c_str(), &addr) != 1) {
      *error = "invalid IPv6 address";
      return false;
    }
    out->ipv6 = true;
  } else {
    size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port = authority.substr(colon + 1);
    }
    if (host.empty() || !std::all_of(host.begin(), host.end(), is_host_char)) {
      *error = "invalid host";
      return false;
    }
  }
  out->host = std::string(host);
  out->port = out->tls ? 443 : 80;
  if (has_port && !parse_port(port, &out->port)) {
    *error = "invalid port";
    return false;
  }
  target = target.substr(0, target.find('#'));
  for (char c : target) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      *error = "invalid character in the URL path";
      return false;
    }
  }
  if (target.empty() || target.front() != '/') out->target = "/";
  out->target.append(target);
  return true;
}

// One exchange. Owned by the client's table while running; once finished it belongs to the loop
// until its socket's close callback (Stream requires its handler to outlive the handle).
class HttpClient::Call final : sb::net::StreamHandler, sb::http::ParserEvents {
 public:
  Call(HttpClient* client, uint64_t id, HttpCallRequest request, HttpCallback done)
      : client_(client),
        id_(id),
        loop_(client->loop_),
        stream_(client->loop_, this),
        parser_(HTTP_RESPONSE, this, &kLimits),
        timer_(client->loop_),
        done_(std::move(done)),
        timeout_ms_(request.timeout_ms),
        started_ms_(uv_now(client->loop_)),
        max_body_(request.max_response_bytes),
        tls_verify_(request.tls_verify) {
    std::string error;
    if (!parse_http_url(request.url, &url_, &error)) {
      invalid_ = fmt::format("{}: {}", error, request.url);
    } else if (timeout_ms_ == 0) {
      invalid_ = "timeout_ms must be positive";
    } else {
      invalid_ = build_request(request, url_, &request_);
    }
    head_request_ = request.method == "HEAD";
    parser_.set_no_body_expected(head_request_);
  }

  // Everything starts on a later loop turn, so no outcome can reach the callback inside start().
  void schedule() { timer_.start(0, &Call::on_kick, this); }

  // Resolved (or an IP literal): open the connection.
  void connect(const sockaddr* address) {
    phase_ = Phase::connecting;
    std::unique_ptr<sb::net::TlsSession> tls;
    if (url_.tls) {
      SSL_CTX* ctx = client_->tls_context(tls_verify_);
      if (ctx != nullptr) tls = sb::net::TlsSession::client(ctx, url_.host, url_.host);
      if (tls == nullptr) {
        fail(HttpCallError::tls);
        return;
      }
    }
    if (stream_.connect(address) != 0) {
      fail(HttpCallError::connect);
      return;
    }
    stream_.use_tls(std::move(tls));
  }

  bool resolving() const { return phase_ == Phase::resolving; }

  // Detaches from the client, closes the socket and reports. Nothing of the client is touched
  // after the callback: it may have destroyed the client.
  void end(HttpCallError error) {
    client_ = nullptr;
    timer_.stop();
    // Closed outright even after a complete response: waiting to flush (or for close_notify to go
    // out) could wait forever on a peer that stopped reading, with no deadline left to end it.
    stream_.close();
    HttpCallback done = std::move(done_);
    done_ = nullptr;
    if (done) done(error, error == HttpCallError::ok ? &response_ : nullptr);
  }

 private:
  enum class Phase { queued, resolving, connecting, exchanging };

  void fail(HttpCallError error) {
    if (client_ != nullptr) client_->finish(id_, error);
  }

  static void on_kick(void* ctx) { static_cast<Call*>(ctx)->kick(); }
  static void on_deadline(void* ctx) { static_cast<Call*>(ctx)->fail(HttpCallError::timeout); }

  void kick() {
    if (client_ == nullptr) return;
    if (!invalid_.empty()) {
      sb::log::at(sb::log::Level::debug, "http_call: {}", invalid_);
      fail(HttpCallError::invalid_request);
      return;
    }
    uint64_t elapsed = uv_now(loop_) - started_ms_;
    if (elapsed >= timeout_ms_) {
      fail(HttpCallError::timeout);
      return;
    }
    timer_.start(timeout_ms_ - elapsed, &Call::on_deadline, this);
    sockaddr_storage address;
    if (Resolver::parse_ip(url_.host, url_.port, &address)) {
      connect(reinterpret_cast<const sockaddr*>(&address));
      return;
    }
    phase_ = Phase::resolving;
    // Last: the resolver may answer synchronously (cache), and the answer may end the client.
    std::weak_ptr<HttpClient*> alive = client_->alive_;
    client_->resolver_.resolve(url_.host, url_.port,
                               [alive, id = id_](int status, const sockaddr_storage* address) {
                                 auto client = alive.lock();
                                 if (client && *client != nullptr) {
                                   (*client)->on_resolved(id, status, address);
                                 }
                               });
  }

  // StreamHandler
  void on_stream_connected(int status) override {
    if (client_ == nullptr) return;
    if (status != 0) {
      bool tls_failed = status == UV_EPROTO && stream_.tls() != nullptr;
      if (tls_failed) {
        sb::log::at(sb::log::Level::debug, "http_call {}: {}", url_.host,
                    stream_.tls()->error_text());
      }
      fail(tls_failed ? HttpCallError::tls : HttpCallError::connect);
      return;
    }
    phase_ = Phase::exchanging;
    stream_.set_nodelay();
    stream_.read_start();
    stream_.write(request_);  // Stream copies whatever the kernel does not take at once
    std::string().swap(request_);
  }

  void on_stream_read(const char* data, size_t len) override {
    if (client_ == nullptr) return;
    size_t consumed = 0;
    sb::http::ParseStatus status = parser_.execute(data, len, &consumed);
    if (too_large_) {
      fail(HttpCallError::too_large);
    } else if (status == sb::http::ParseStatus::error ||
               status == sb::http::ParseStatus::upgraded) {
      fail(HttpCallError::protocol);
    } else if (complete_) {
      fail(HttpCallError::ok);
    }
  }

  void on_stream_eof() override {
    if (client_ == nullptr) return;
    // A close-delimited body ends here; any other unfinished response is truncated.
    if (!complete_ && parser_.finish() == sb::http::ParseStatus::error) {
      fail(HttpCallError::protocol);
      return;
    }
    fail(complete_ ? HttpCallError::ok : HttpCallError::protocol);
  }

  void on_stream_error(int error) override {
    if (client_ == nullptr) return;
    if (phase_ == Phase::connecting) {
      fail(HttpCallError::connect);
    } else if (error == UV_EPROTO && stream_.tls() != nullptr) {
      fail(HttpCallError::tls);
    } else {
      fail(HttpCallError::protocol);
    }
  }

  void on_stream_closed() override {
    std::unique_ptr<Call> self(this);  // released to the loop by HttpClient::finish
  }

  // ParserEvents
  int on_head(sb::http::MessageHead& head) override {
    if (head.status == 101) return -1;                      // no upgrades: protocol error
    if (head.status >= 100 && head.status < 200) return 1;  // interim: bodyless, skipped
    response_.status = head.status;
    response_.headers.reserve(head.field_count());
    for (size_t i = 0; i < head.field_count(); ++i) {
      response_.headers.emplace_back(head.name(i), head.value(i));
    }
    // 204 and 304 never have a body (RFC 9110 §15.3.5, §15.4.5), whatever Content-Length says
    // (a 304's is the representation's); llhttp only knows that when the header is absent.
    if (head.status == 204 || head.status == 304) return 1;
    if (!head_request_ && head.content_length > 0) {
      if (static_cast<uint64_t>(head.content_length) > max_body_) {
        too_large_ = true;  // known from the head: stop before reading the body
        return -1;
      }
      response_.body.reserve(std::min(static_cast<size_t>(head.content_length), kMaxReserve));
    }
    return 0;
  }

  void on_body(const char* data, size_t len) override {
    if (too_large_) return;
    if (response_.body.size() + len > max_body_) {
      too_large_ = true;  // reported once the parser returns
      return;
    }
    response_.body.append(data, len);
  }

  bool on_message_end() override {
    int status = parser_.head().status;
    if (status >= 100 && status < 200) return false;  // the final response follows
    complete_ = true;
    return true;  // pause: bytes after the response are ignored
  }

  HttpClient* client_;  // null once finished
  uint64_t id_;
  uv_loop_t* loop_;
  sb::net::Stream stream_;
  sb::http::Parser parser_;
  sb::net::Timer timer_;  // the kick, then the whole-exchange deadline
  HttpCallback done_;
  HttpUrl url_;
  std::string request_;  // serialized until written
  std::string invalid_;  // why start() rejected the request
  HttpCallResponse response_;
  uint64_t timeout_ms_;
  uint64_t started_ms_;
  size_t max_body_;
  Phase phase_ = Phase::queued;
  bool tls_verify_;
  bool head_request_ = false;
  bool complete_ = false;
  bool too_large_ = false;
};

HttpClient::HttpClient(uv_loop_t* loop, Resolver& resolver)
    : loop_(loop), resolver_(resolver), alive_(std::make_shared<HttpClient*>(this)) {}

HttpClient::~HttpClient() {
  *alive_ = nullptr;
  // Callbacks may start or cancel calls meanwhile: take whatever is first each time.
  while (!calls_.empty()) finish(calls_.begin()->first, HttpCallError::cancelled);
}

uint64_t HttpClient::start(HttpCallRequest request, HttpCallback done) {
  uint64_t id = next_id_++;
  auto call = std::make_unique<Call>(this, id, std::move(request), std::move(done));
  Call* c = call.get();
  calls_.emplace(id, std::move(call));
  c->schedule();
  return id;
}

bool HttpClient::cancel(uint64_t id) {
  if (calls_.find(id) == calls_.end()) return false;
  finish(id, HttpCallError::cancelled);
  return true;  // nothing of this is touched after the callback (it may destroy the client)
}

void HttpClient::finish(uint64_t id, HttpCallError error) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call* call = it->second.release();  // freed by its socket's close callback
  calls_.erase(it);
  call->end(error);
}

void HttpClient::on_resolved(uint64_t id, int status, const sockaddr_storage* address) {
  auto it = calls_.find(id);
  if (it == calls_.end() || !it->second->resolving()) return;
  if (status != 0 || address == nullptr) {
    sb::log::at(sb::log::Level::debug, "http_call: name resolution failed: {}",
                uv_strerror(status));
    finish(id, HttpCallError::dns);
    return;
  }
  it->second->connect(reinterpret_cast<const sockaddr*>(address));
}

SSL_CTX* HttpClient::tls_context(bool verify) {
  sb::net::SslCtxPtr& ctx = verify ? tls_verify_ : tls_plain_;
  if (ctx == nullptr) {
    sb::net::ClientTlsOptions options;
    options.verify = verify;
    std::string error;
    ctx = sb::net::make_client_ctx(options, &error);
    if (ctx == nullptr) sb::log::error("http_call: {}", error);
  }
  return ctx.get();
}

}  // namespace sb::proxy
