#include "proxy/session.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cstring>

#include "http/message.h"
#include "proxy/admin_api.h"
#include "proxy/headers.h"
#include "proxy/pdk.h"
#include "proxy/transaction.h"
#include "proxy/worker.h"

namespace sb::proxy {

using sb::http::iequals;
using sb::http::MessageHead;

namespace {

constexpr size_t kMaxPendingInput = 64 * 1024;  // stop reading past this while a request waits
constexpr size_t kMaxAdminBody = 16 * 1024 * 1024;

bool route_has_protocol(const sb::config::Route& route, std::string_view protocol) {
  for (const auto& p : route.protocols) {
    if (p == protocol) return true;
  }
  return false;
}

// The scratch buffer every response and upstream request head is built in; Stream::write copies
// only what the kernel does not take at once, so one buffer per thread serves every connection.
std::string& scratch() {
  thread_local std::string s = [] {
    std::string b;
    b.reserve(8192);
    return b;
  }();
  s.clear();
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Lifecycle

// SNI callback (TlsServer selector): the certificate of the worker's current config generation.
SSL_CTX* ClientSession::select_certificate(void* app_data, std::string_view server_name) {
  auto* self = static_cast<ClientSession*>(app_data);
  const auto& snap = self->worker_->snapshot();
  if (!snap || !snap->certificates) return nullptr;
  if (snap->plugins && snap->plugins->any()) self->plugins_certificate(*snap);
  return snap->certificates->select(server_name);
}

void ClientSession::accept(Worker* worker, int fd, SSL_CTX* tls) {
  auto session = std::unique_ptr<ClientSession>(new ClientSession(worker));
  if (session->stream_.open(fd) != 0) {
    ::close(fd);
    session->stream_.close();
    session.release();  // freed in on_stream_closed
    return;
  }
  ClientSession* s = session.release();  // owned by the loop until on_stream_closed
  s->connection_id_ = static_cast<uint32_t>(
      worker->counters().accepted.fetch_add(1, std::memory_order_relaxed) + 1);
  worker->counters().handled.fetch_add(1, std::memory_order_relaxed);
  worker->counters().active.fetch_add(1, std::memory_order_relaxed);
  worker->add_session(s);
  s->stream_.set_nodelay();
  sockaddr_storage peer{};
  s->stream_.peer_address(&peer);
  s->peer_family_ = static_cast<uint8_t>(peer.ss_family);
  if (peer.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&peer);
    std::memcpy(s->peer_addr_, &a->sin6_addr, 16);
    s->peer_port_ = ntohs(a->sin6_port);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&peer);
    std::memcpy(s->peer_addr_, &a->sin_addr, 4);
    s->peer_port_ = ntohs(a->sin_port);
  }
  sockaddr_storage local{};
  s->stream_.local_address(&local);
  s->local_port_ =
      ntohs(local.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&local)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  s->trusted_ =
      cidr_contains(worker->settings().trusted_ips, reinterpret_cast<const sockaddr*>(&peer));
  if (tls != nullptr) {
    // The handshake counts against client_header_timeout like the request head does.
    s->stream_.use_tls(sb::net::TlsSession::server(tls, s));
    s->https_ = true;
  }
  s->timer_ = Timer::header;
  worker->counters().reading.fetch_add(1, std::memory_order_relaxed);
  s->stream_.timer_start(static_cast<uint64_t>(worker->settings().client_header_timeout_ms));
  s->stream_.read_start();
}

ClientSession::ClientSession(Worker* worker) : worker_(worker), stream_(worker->loop(), this) {}

ClientSession::~ClientSession() = default;

std::string_view ClientSession::peer_ip(char (&buf)[46]) const {
  if (peer_family_ != AF_INET6) {
    // Formatted by hand: this runs for every proxied request.
    char* p = buf;
    for (int i = 0; i < 4; ++i) {
      unsigned v = peer_addr_[i];
      if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
      if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
      *p++ = static_cast<char>('0' + v % 10);
      if (i < 3) *p++ = '.';
    }
    return {buf, static_cast<size_t>(p - buf)};
  }
  if (inet_ntop(peer_family_ == AF_INET6 ? AF_INET6 : AF_INET, peer_addr_, buf, sizeof(buf)) ==
      nullptr) {
    return {};
  }
  return buf;
}

void ClientSession::on_stream_closed() {
  std::unique_ptr<ClientSession> self(this);
  auto& counters = worker_->counters();
  if (timer_ == Timer::header) counters.reading.fetch_sub(1, std::memory_order_relaxed);
  if (txn_) {
    if (txn_->conn) {
      txn_->conn->abort();
      txn_->conn = nullptr;
    }
    if (txn_->plugins_active && !txn_->plugins->in_hook) plugins_log();
    if (!txn_->response_done && parser_) {
      // Cut off (the client left, a tunnel ended, the upstream broke mid-response): nginx
      // still logs the request, with 499 when no response had started.
      if (!txn_->response_started) txn_->status = 499;
      char ip[46];
      worker_->request_done(*txn_, parser_->head(), peer_ip(ip));
    }
    if (txn_->counted_writing) counters.writing.fetch_sub(1, std::memory_order_relaxed);
    worker_->release_transaction(std::move(txn_));
  }
  worker_->release_parser(std::move(parser_));
  worker_->remove_session(this);
  worker_->counters().active.fetch_sub(1, std::memory_order_relaxed);
  if (dns_pending_ > 0) {
    stream_closed_ = true;  // the last DNS answer frees the object
    self.release();
  }
}

void ClientSession::abort() {
  closing_ = true;
  if (txn_ && txn_->conn) {
    txn_->conn->abort();
    txn_->conn = nullptr;
  }
  stream_.close();
}

void ClientSession::shutdown_gently() {
  close_after_response_ = true;
  if (!txn_ && !(parser_ && parser_->message_started()) && !tunnel_) {
    closing_ = true;
    stream_.close_after_flush();
  }
}

// ---------------------------------------------------------------------------------------------
// Input

void ClientSession::on_stream_read(const char* data, size_t len) {
  if (closing_) return;
  if (tunnel_) {
    if (txn_ && txn_->conn) {
      txn_->conn->write(std::string_view(data, len));
      if (txn_->conn->congested()) stream_.read_stop();
    }
    return;
  }
  if (upgrading_ || paused_ || !pending_.empty()) {
    pending_.append(data, len);
    if (pending_.size() > kMaxPendingInput) stream_.read_stop();
    if (!paused_ && !upgrading_) process_pending();
    return;
  }
  process(data, len);
}

void ClientSession::process_pending() {
  if (pending_.empty()) return;
  std::string input = pending_.take();
  process(input.data(), input.size());
}

// Feeds request bytes to the parser until they run out, the parser pauses at the end of a
// request whose response is not complete yet, or the connection turns into a tunnel. Whatever
// is left is kept in pending_.
void ClientSession::process(const char* data, size_t len) {
  while (!closing_) {
    if (paused_) {
      if (txn_ && txn_->response_done) {
        finish_transaction();
        continue;
      }
      break;
    }
    if (len == 0) break;
    if (timer_ == Timer::keepalive) {
      timer_ = Timer::header;
      stream_.timer_start(static_cast<uint64_t>(worker_->settings().client_header_timeout_ms));
      worker_->counters().reading.fetch_add(1, std::memory_order_relaxed);
    }
    if (!parser_) parser_ = worker_->acquire_parser(this);
    size_t consumed = 0;
    auto status = parser_->execute(data, len, &consumed);
    if (status == sb::http::ParseStatus::error) {
      on_parse_error();
      return;
    }
    // Everything of this request that had arrived is parsed now: connect.
    if (txn_ && txn_->connect_pending && !txn_->local) {
      txn_->connect_pending = false;
      if (txn_->plugins_active && txn_->plugins->chain != nullptr) {
        plugins_start();
      } else {
        connect_upstream();
      }
      if (closing_) return;
    }
    if (status == sb::http::ParseStatus::ok) consumed = len;
    data += consumed;
    len -= consumed;
    if (status == sb::http::ParseStatus::paused) paused_ = true;
    if (status == sb::http::ParseStatus::upgraded) {
      paused_ = true;
      if (txn_ && txn_->upgrade && !txn_->local) {
        upgrading_ = true;  // the rest is tunnel data, sent once the upstream agrees (101)
      }
    }
    if (txn_ && !txn_->local && txn_->backlogged()) stream_.read_stop();
  }
  if (len > 0) {
    pending_.assign(data, len);
    if (pending_.size() > kMaxPendingInput) stream_.read_stop();
  }
  if (!closing_ && !txn_ && !(parser_ && parser_->message_started()) && pending_.empty()) {
    enter_idle();
  } else if (!closing_ && !tunnel_ && !upgrading_ && pending_.size() < kMaxPendingInput &&
             !(txn_ && !txn_->local && txn_->backlogged())) {
    stream_.read_start();
  }
}

void ClientSession::on_parse_error() {
  int status = parser_->error_status();
  std::string_view message = parser_->error_reason();
  if (status == 400 && message != "Request header or cookie too large") message = "Bad request";
  if (txn_ && txn_->body_reached_upstream) {
    // The request went bad after part of it reached the upstream (e.g. a broken chunk): the
    // upstream exchange cannot be trusted any more and the client gets no response.
    abort();
    return;
  }
  if (txn_ && txn_->response_started) {
    // Already answered (e.g. 404 while its body was still arriving): flush that and close.
    closing_ = true;
    stream_.close_after_flush(true);
    return;
  }
  if (txn_ && txn_->conn) {
    txn_->conn->abort();
    txn_->conn = nullptr;
  }
  if (!txn_) {
    txn_ = worker_->acquire_transaction();
    txn_->start_ms = uv_now(worker_->loop());
    worker_->next_request_id(txn_->request_id);
  }
  close_after_response_ = true;
  if (!txn_->response_started) respond_error(status, message, ErrorSource::nginx);
  closing_ = true;
  stream_.close_after_flush(true);
}

void ClientSession::on_stream_eof() {
  client_eof_ = true;
  if (tunnel_) {
    if (txn_ && txn_->conn && !upstream_eof_) {
      txn_->conn->shutdown_write();
      return;
    }
    abort();  // both directions are finished
    return;
  }
  if (!txn_ || (txn_->response_done && !paused_)) {
    closing_ = true;
    stream_.close();
    return;
  }
  if (txn_->response_done) {
    close_after_response_ = true;
    return;
  }
  // The client went away in the middle of its request, or while its response is on the way:
  // like nginx (proxy_ignore_client_abort off, as in Kong) a FIN is an abort; the upstream
  // connection closes and the request is logged with 499 when nothing was sent yet.
  abort();
}

void ClientSession::on_stream_error(int) { abort(); }

void ClientSession::on_stream_drain() {
  if (txn_ && txn_->conn) txn_->conn->resume_reading();
  if (timer_ == Timer::send) {
    timer_ = Timer::none;
    stream_.timer_stop();
  }
}

void ClientSession::on_stream_timeout() {
  switch (timer_) {
    case Timer::keepalive:
    case Timer::header:
      // nginx closes silently when a client is idle or too slow to send its header.
      abort();
      return;
    case Timer::body:
      if (txn_ && !txn_->response_started) {
        if (txn_->conn) {
          txn_->conn->abort();
          txn_->conn = nullptr;
        }
        close_after_response_ = true;
        respond_error(408, {}, ErrorSource::nginx);
        closing_ = true;
        stream_.close_after_flush(true);
        return;
      }
      abort();
      return;
    case Timer::plugin:
      timer_ = Timer::none;
      if (txn_ && txn_->plugins_active && txn_->plugins->pending) {
        plugins_pending_timeout();
        return;
      }
      abort();
      return;
    case Timer::send:
    case Timer::none:
      abort();
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Request parsing events

int ClientSession::on_head(MessageHead& head) {
  if (timer_ == Timer::header) {
    timer_ = Timer::none;
    stream_.timer_stop();
    worker_->counters().reading.fetch_sub(1, std::memory_order_relaxed);
  }
  worker_->counters().requests.fetch_add(1, std::memory_order_relaxed);
  start_request(head);
  if (txn_ && txn_->body_expected && !txn_->request_complete && !closing_) {
    // client_body_timeout runs from the head on, not only between body reads.
    timer_ = Timer::body;
    stream_.timer_start(static_cast<uint64_t>(worker_->settings().client_body_timeout_ms));
  }
  return 0;
}

void ClientSession::start_request(MessageHead& head) {
  txn_ = worker_->acquire_transaction();
  ++request_serial_;
  Transaction& t = *txn_;
  t.snapshot = worker_->snapshot();
  t.start_ms = uv_now(worker_->loop());
  worker_->next_request_id(t.request_id);
  t.client_minor = head.http_minor;
  t.head_request = head.method == HTTP_HEAD;
  t.idempotent = head.method == HTTP_GET || head.method == HTTP_HEAD ||
                 head.method == HTTP_OPTIONS || head.method == HTTP_PUT ||
                 head.method == HTTP_DELETE;
  t.chunked = head.chunked;
  t.content_length = head.content_length;
  t.body_expected = head.chunked || head.content_length > 0;
  t.request_complete = !t.body_expected && !head.upgrade;
  worker_->counters().writing.fetch_add(1, std::memory_order_relaxed);
  t.counted_writing = true;

  // nginx-level checks come first: they never reach routing or an upstream.
  bool host_found = false;
  std::string_view host = head.get("Host", &host_found);
  if (head.count("Host") > 1 || (head.http_major == 1 && head.http_minor == 1 && !host_found)) {
    t.local = true;
    respond_error(400, {}, ErrorSource::nginx);
    return;
  }
  if (head.method == HTTP_TRACE) {
    t.local = true;
    respond_error(405, {}, ErrorSource::nginx);
    return;
  }
  int64_t max_body = worker_->settings().client_max_body_size;
  if (max_body > 0 && head.content_length > max_body) {
    t.local = true;
    respond_error(413, {}, ErrorSource::nginx);
    return;
  }
  t.host_header = host;
  if (worker_->role() == Role::admin) {
    t.local = true;
    t.admin = true;
    return;  // answered when the whole request (and body) has arrived
  }
  route_request(head);
}

void ClientSession::on_body(const char* data, size_t len) {
  if (!txn_) return;
  Transaction& t = *txn_;
  t.body_received += len;
  if (timer_ != Timer::body) timer_ = Timer::body;
  stream_.timer_start(static_cast<uint64_t>(worker_->settings().client_body_timeout_ms));
  int64_t max_body = worker_->settings().client_max_body_size;
  if (max_body > 0 && static_cast<int64_t>(t.body_received) > max_body && !t.response_started) {
    if (t.conn) {
      t.conn->abort();
      t.conn = nullptr;
    }
    t.local = true;
    respond_error(413, {}, ErrorSource::nginx);
    return;
  }
  if (t.admin) {
    if (t.admin_body.size() + len <= kMaxAdminBody) t.admin_body.append(data, len);
    return;
  }
  if (t.local) return;  // discarded
  if (plugins_take_body(data, len)) return;
  forward_body(data, len, false);
}

bool ClientSession::on_message_end() {
  if (timer_ == Timer::body) {
    timer_ = Timer::none;
    stream_.timer_stop();
  }
  if (!txn_) return true;
  Transaction& t = *txn_;
  t.request_complete = true;
  if (t.admin && !t.response_started) {
    handle_admin_request();
  } else if (t.plugins_active && t.plugins->body_buffered) {
    plugins_body_complete();  // the phases run now; the body leaves with them
  } else if (!t.local && t.body_expected) {
    forward_body(nullptr, 0, true);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Routing

void ClientSession::route_request(MessageHead& head) {
  Transaction& t = *txn_;
  const Snapshot* snap = t.snapshot.get();
  std::string_view target = head.target();
  // Absolute-form targets carry the host (RFC 7230 §5.4: it overrides the Host header).
  std::string_view host_header = t.host_header;
  if (target.size() > 7 &&
      (target.substr(0, 7) == "http://" || target.substr(0, 8) == "https://")) {
    size_t start = target.find("//") + 2;
    size_t slash = target.find('/', start);
    host_header =
        target.substr(start, slash == std::string_view::npos ? target.npos : slash - start);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    t.host_header = host_header;
  }
  size_t q = target.find('?');
  t.raw_path = target.substr(0, q);
  t.query = q == std::string_view::npos ? std::string_view() : target.substr(q);
  if (t.raw_path.empty() || t.raw_path.front() != '/' ||
      !sb::router::normalize_path(t.raw_path, t.path)) {
    t.local = true;
    respond_error(400, {}, ErrorSource::nginx);
    return;
  }
  // $host: lower-case, without port.
  std::string_view h = host_header;
  if (!h.empty() && h.front() == '[') {
    h = h.substr(0, h.find(']') + 1);
  } else if (auto colon = h.rfind(':'); colon != std::string_view::npos) {
    h = h.substr(0, colon);
  }
  t.host.assign(h);
  for (char& c : t.host) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  }

  // Router input.
  t.router_headers.clear();
  for (size_t i = 0; i < head.field_count(); ++i) {
    t.router_headers.push_back({head.name(i), head.value(i)});
  }
  sb::router::Request req;
  req.method = llhttp_method_name(static_cast<llhttp_method_t>(head.method));
  req.host = host_header;
  req.path = t.path;
  req.scheme = https_ ? "https" : "http";
  if (https_ && stream_.tls() != nullptr) req.sni = stream_.tls()->server_name();
  t.https = https_;
  req.listen_port = local_port_;
  req.headers = t.router_headers;
  if (!snap || !snap->router || !snap->router->match(req, t.match)) {
    t.local = true;
    respond_error(404, "no Route matched with those values", ErrorSource::kong);
    return;
  }
  const auto& route = *t.match.route;
  bool forwarded_https = trusted_ && iequals(head.get("X-Forwarded-Proto"), "https");
  if (!https_ && !route_has_protocol(route, "http") &&
      !(forwarded_https && route_has_protocol(route, "https"))) {
    // An https-only route reached over plain http.
    t.local = true;
    int code = route.https_redirect_status_code;
    if (code == 426) {
      respond_error(426, "Please use HTTPS protocol", ErrorSource::kong);
    } else {
      std::string location = fmt::format("Location: https://{}{}\r\n", t.host, head.target());
      respond_local(code, {}, {}, location);
    }
    return;
  }
  if (t.match.service == nullptr) {
    t.local = true;
    respond_error(503, "no Service found with those values", ErrorSource::kong);
    return;
  }
  const auto& svc = *t.match.service;
  t.timeouts = {svc.connect_timeout, svc.write_timeout, svc.read_timeout};
  t.max_tries = svc.retries + 1;
  // Only WebSocket upgrades are tunnelled (as Kong); any other Upgrade request is answered
  // normally and the connection closed afterwards, its follow-up bytes being unusable.
  t.upgrade = head.upgrade && iequals(sb::http::trim(head.get("Upgrade")), "websocket");
  if (head.upgrade && !t.upgrade) close_after_response_ = true;
  t.expect_continue =
      head.http_minor >= 1 && t.body_expected && iequals(head.get("Expect"), "100-continue");
  if (t.expect_continue) {
    stream_.write("HTTP/1.1 100 Continue\r\n\r\n");
  }
  plugins_setup();
  // Connect once the bytes already received are parsed (see process()): a request that turns
  // out malformed in the same read never reaches an upstream.
  t.connect_pending = true;
}

// ---------------------------------------------------------------------------------------------
// Upstream

namespace {

// Kong's balancer hash input, once per request: hash_on's value, else hash_fallback's, else the
// empty string (so every such request lands on one target, as in Kong 3.x). hash_on cookie
// without the cookie: a fresh UUID is hashed and handed to the client with Set-Cookie.
void hash_for_balancer(Transaction& t, Worker& worker, const MessageHead& head,
                       std::string_view client_ip, const sb::config::Upstream& up,
                       const balancer::Plan& plan, const PluginRun* run) {
  t.hash_done = true;
  balancer::HashFacts facts;
  facts.head = &head;
  facts.path = t.path;
  facts.query = t.query;
  facts.captures = &t.match.captures;
  if (run != nullptr && run->consumer >= 0) {
    facts.consumer_id = t.snapshot->config.consumers[static_cast<size_t>(run->consumer)].id;
  }
  if (run != nullptr && run->credential != nullptr) {
    if (const auto* id = run->credential->get("id")) facts.credential_id = id->s;
  }
  facts.client_ip = client_ip;
  bool cookie_missing = false;
  if (balancer::hash_request(up, plan, facts, &t.hash, &cookie_missing)) return;
  if (!cookie_missing) {
    t.hash = balancer::crc32("");
    return;
  }
  // A version 4 UUID from the worker's random generator.
  char hex[32];
  worker.next_request_id(hex);
  hex[12] = '4';
  hex[16] = "89ab"[hex[16] & 3];
  char* out = t.hash_cookie;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) *out++ = '-';
    *out++ = hex[i];
  }
  t.hash_cookie_upstream = &up;
  t.hash = balancer::crc32(std::string_view(t.hash_cookie, sizeof(t.hash_cookie)));
}

}  // namespace

void ClientSession::connect_upstream() {
  Transaction& t = *txn_;
  const Snapshot& snap = *t.snapshot;
  const auto& svc = *t.match.service;
  const ServiceTarget& direct = snap.target_of(svc);
  ++t.tries;
  t.upstream_start_ms = uv_now(worker_->loop());
  const std::string* host = &svc.host;
  int port = svc.port;
  int upstream = direct.upstream;
  const PluginRun* run = t.plugins_active ? t.plugins.get() : nullptr;
  if (run != nullptr && run->upstream_override >= 0) upstream = run->upstream_override;
  if (run != nullptr && !run->target_host.empty()) {
    // kong.service.set_target: this host and port, no balancer.
    upstream = -1;
    host = &run->target_host;
    port = run->target_port;
    t.upstream_host_header = port == default_port_for(svc.protocol)
                                 ? run->target_host
                                 : fmt::format("{}:{}", run->target_host, port);
  } else if (upstream >= 0) {
    // Balanced over the upstream's targets by its algorithm.
    auto index = static_cast<size_t>(upstream);
    const auto& up = snap.config.upstreams[index];
    if (!t.hash_done && index < snap.balancers.size() &&
        snap.balancers[index].algorithm == balancer::Algorithm::consistent_hashing) {
      char ip[46];
      const MessageHead& head = parser_->head();
      hash_for_balancer(t, *worker_, head,
                        client_forwarded_ip(head, worker_->settings(), peer_ip(ip), trusted_), up,
                        snap.balancers[index], run);
    }
    t.load.release();  // the previous try's target is no longer busy with us
    auto pick = worker_->pick_target(snap, index, t.balanced_target, t.hash);
    const sb::config::Target* target = pick.target;
    if (target == nullptr) {
      respond_error(503, "failure to get a peer from the ring-balancer", ErrorSource::kong);
      return;
    }
    t.balanced_target = target;
    t.load = balancer::LoadClaim(std::move(pick.load));
    t.health_target = pick.health;
    t.health_checks = &up.healthchecks;
    if (pick.health != nullptr && !t.health_pin) t.health_pin = worker_->health_binding();
    host = &target->host;
    port = target->port;
    // Kong's set_host_header: the upstream's host_header (else the target host), plus the
    // target port unless it is the scheme's default.
    const std::string& name = up.host_header.empty() ? *host : up.host_header;
    if (port == default_port_for(svc.protocol)) {
      t.upstream_host_header.assign(name);
    } else {
      t.upstream_host_header.clear();
      fmt::format_to(std::back_inserter(t.upstream_host_header), "{}:{}", name, port);
    }
  } else {
    t.upstream_host_header.assign(direct.host_header);
  }
  if (t.match.route->preserve_host && !t.host_header.empty()) {
    t.upstream_host_header.assign(t.host_header);
  }
  if (run != nullptr && !run->host_override.empty()) t.upstream_host_header = run->host_override;
  if (upstream < 0 && direct.is_ip && (run == nullptr || run->target_host.empty())) {
    connect_to(direct.address);
    return;
  }
  sockaddr_storage addr;
  if (Resolver::parse_ip(*host, port, &addr)) {
    connect_to(addr);
    return;
  }
  ++dns_pending_;
  uint32_t serial = request_serial_;
  worker_->resolver().resolve(*host, port, [this, serial](int status, const sockaddr_storage* a) {
    --dns_pending_;
    if (stream_closed_) {
      if (dns_pending_ == 0) std::unique_ptr<ClientSession> self(this);
      return;
    }
    if (!txn_ || request_serial_ != serial || closing_) return;
    if (status != 0 || a == nullptr) {
      respond_error(503, "name resolution failed", ErrorSource::kong);
      return;
    }
    connect_to(*a);
  });
}

void ClientSession::connect_to(const sockaddr_storage& address) {
  Transaction& t = *txn_;
  // Pool key: the address in binary (port and IP bytes); TLS facts join it with the TLS issue.
  if (address.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&address);
    t.pool_key.assign(reinterpret_cast<const char*>(&a->sin6_port), 2);
    t.pool_key.append(reinterpret_cast<const char*>(&a->sin6_addr), 16);
  } else {
    auto* a = reinterpret_cast<const sockaddr_in*>(&address);
    t.pool_key.assign(reinterpret_cast<const char*>(&a->sin_port), 2);
    t.pool_key.append(reinterpret_cast<const char*>(&a->sin_addr), 4);
  }
  // TLS to the upstream: the service's client context and the SNI (the Host sent upstream,
  // without port; none for an IP literal). Both make connections different in the pool.
  const Snapshot& snap = *t.snapshot;
  const auto& svc = *t.match.service;
  SSL_CTX* tls = snap.target_of(svc).tls.get();
  std::string_view sni;
  if (tls != nullptr) {
    // TlsSession::client leaves IP literals out of SNI and verifies them as IPs.
    sni = t.upstream_host_header;
    if (!sni.empty() && sni.front() == '[') {
      sni = sni.substr(1, sni.find(']') - 1);  // [v6]:port
    } else if (auto colon = sni.rfind(':'); colon != std::string_view::npos) {
      sni = sni.substr(0, colon);
    }
    t.pool_key += '|';
    t.pool_key.append(sni);
    t.pool_key += '|';
    t.pool_key.append(reinterpret_cast<const char*>(&tls), sizeof(tls));
  }
  UpstreamConn* conn = worker_->pool().take(t.pool_key);
  if (conn != nullptr) {
    t.conn = conn;
    t.conn_reused = true;
    conn->attach(this, t.timeouts);
    conn->set_head_request(t.head_request);
    send_request_head();
    return;
  }
  auto fresh = std::make_unique<UpstreamConn>(worker_, t.pool_key);
  t.conn = fresh.release();  // owned by the loop until its stream closes
  t.conn_reused = false;
  t.conn->set_head_request(t.head_request);
  t.conn->connect(reinterpret_cast<const sockaddr*>(&address), this, t.timeouts, tls, sni);
}

void ClientSession::on_upstream_connected() {
  if (!txn_) return;
  send_request_head();
}

void ClientSession::send_request_head() {
  Transaction& t = *txn_;
  const MessageHead& head = parser_->head();
  std::string& out = scratch();
  char ip[46];
  build_upstream_request(out, t, head, worker_->settings(), peer_ip(ip), trusted_, local_port_);
  // Head and any body that arrived meanwhile leave in one writev.
  uv_buf_t bufs[2] = {
      uv_buf_init(out.data(), static_cast<unsigned>(out.size())),
      uv_buf_init(t.pending_body.data(), static_cast<unsigned>(t.pending_body.size()))};
  t.conn->write(bufs, t.pending_body.empty() ? 1 : 2);
  t.upstream_head_sent = true;
  if (!t.pending_body.empty()) {
    t.body_reached_upstream = true;
    t.pending_body.clear();
  }
  if (t.request_complete) t.conn->request_sent();
  // Reading may have stopped while the body waited for this connection.
  if (!t.backlogged() && !paused_ && !closing_) stream_.read_start();
}

void ClientSession::forward_body(const char* data, size_t len, bool last) {
  Transaction& t = *txn_;
  char size_line[24];
  uv_buf_t bufs[3];
  unsigned n = 0;
  if (t.chunked) {
    if (len > 0) {
      auto r = fmt::format_to_n(size_line, sizeof(size_line), "{:x}\r\n", len);
      bufs[n++] = uv_buf_init(size_line, static_cast<unsigned>(r.size));
      bufs[n++] = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(len));
      bufs[n++] = uv_buf_init(const_cast<char*>("\r\n"), 2);
    } else if (last) {
      bufs[n++] = uv_buf_init(const_cast<char*>("0\r\n\r\n"), 5);
    }
  } else if (len > 0) {
    bufs[n++] = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(len));
  }
  if (n > 0) {
    if (t.conn && t.upstream_head_sent) {
      t.conn->write(bufs, n);
      t.body_reached_upstream = true;
    } else {
      for (unsigned i = 0; i < n; ++i) t.pending_body.append(bufs[i].base, bufs[i].len);
    }
  }
  if (last && t.conn && t.upstream_head_sent) t.conn->request_sent();
}

void ClientSession::on_upstream_drain() {
  if (!closing_ && !paused_ && !tunnel_) stream_.read_start();
  if (tunnel_ && !closing_) stream_.read_start();
}

void ClientSession::on_upstream_failure(UpstreamFailure failure, bool response_started) {
  if (!txn_) return;
  Transaction& t = *txn_;
  t.conn = nullptr;
  t.load.release();
  // Passive health check (a kept-alive connection closed under us is not the target's fault).
  if (t.health_target != nullptr && !(t.conn_reused && failure == UpstreamFailure::reset)) {
    health::report_failure(*t.health_target, *t.health_checks, health::failure_kind(failure));
  }
  t.health_target = nullptr;
  if (tunnel_) {
    closing_ = true;
    stream_.close_after_flush();
    return;
  }
  if (t.response_started || response_started) {
    // Part of the response already went to the client: all we can do is cut the connection.
    if (!t.response_started) {
      // The upstream sent something, but not a complete head: an invalid response.
      respond_error(502, {}, ErrorSource::nginx);
      return;
    }
    abort();
    return;
  }
  retry_or_fail(failure);
}

void ClientSession::retry_or_fail(UpstreamFailure failure) {
  Transaction& t = *txn_;
  bool connect_failure =
      failure == UpstreamFailure::connect_refused || failure == UpstreamFailure::connect_timeout;
  // nginx's proxy_next_upstream "error timeout" (Kong's behaviour): connection failures are
  // always retried; timeouts and resets only for idempotent requests, and never once a body
  // byte has reached the upstream.
  bool may_resend = !t.body_reached_upstream;
  bool retryable = connect_failure || ((failure == UpstreamFailure::reset ||
                                        failure == UpstreamFailure::write_timeout ||
                                        failure == UpstreamFailure::read_timeout) &&
                                       t.idempotent);
  // A kept-alive connection the upstream closed just before our request arrived: try again on
  // a fresh connection without counting it as a try.
  if (may_resend && t.conn_reused && failure == UpstreamFailure::reset) {
    --t.tries;
    t.upstream_head_sent = false;
    connect_upstream();
    return;
  }
  if (may_resend && retryable && t.tries < t.max_tries) {
    t.upstream_head_sent = false;
    connect_upstream();
    return;
  }
  int status = 502;
  if (failure == UpstreamFailure::connect_timeout || failure == UpstreamFailure::write_timeout ||
      failure == UpstreamFailure::read_timeout) {
    status = 504;
  }
  if (!t.request_complete) close_after_response_ = true;
  respond_error(status, {}, ErrorSource::nginx);
}

void ClientSession::on_upstream_head(MessageHead& head) {
  Transaction& t = *txn_;
  t.upstream_head_ms = uv_now(worker_->loop());
  t.status = head.status;
  if (t.health_target != nullptr) {
    health::report_status(*t.health_target, *t.health_checks, head.status);
    t.health_target = nullptr;
  }
  if (head.status == 101) {
    if (!t.upgrade) {
      // 101 without an upgrade request is an invalid response.
      t.conn->abort();
      t.conn = nullptr;
      close_after_response_ = true;
      respond_error(502, {}, ErrorSource::nginx);
      return;
    }
    std::string& out = scratch();
    build_client_response_head(out, t, head, worker_->settings(), ResponseFraming::tunnel, false,
                               worker_->http_date());
    stream_.write(out);
    t.response_started = true;
    tunnel_ = true;
    upgrading_ = false;
    t.conn->enter_tunnel();
    if (!pending_.empty()) {
      t.conn->write(pending_.view());
      pending_.clear();
    }
    stream_.read_start();
    return;
  }
  if (t.upgrade) {
    // The upstream declined the upgrade: answer normally, then close (the client's follow-up
    // bytes, if any, were meant for a tunnel).
    upgrading_ = false;
    close_after_response_ = true;
  }
  if (t.plugins_active && plugins_on_upstream_head(head)) return;  // held for the whole body
  write_upstream_response_head(head);
}

void ClientSession::write_upstream_response_head(MessageHead& head) {
  Transaction& t = *txn_;
  t.status = head.status;  // plugins may have changed it
  const bool client_11 = parser_->head().http_minor >= 1;
  ResponseFraming framing;
  if (t.head_request || head.status == 204 || head.status == 304) {
    framing = ResponseFraming::none;
  } else if (head.content_length >= 0 && !head.chunked) {
    framing = ResponseFraming::length;
  } else if (client_11) {
    framing = ResponseFraming::chunked;
  } else {
    framing = ResponseFraming::close;
    close_after_response_ = true;
  }
  t.framing = framing;
  if (!t.request_complete) close_after_response_ = true;
  bool keep_alive = keep_alive_after_response();
  stream_.cork();  // the head leaves together with the first body bytes
  std::string& out = scratch();
  build_client_response_head(out, t, head, worker_->settings(), framing, keep_alive,
                             worker_->http_date());
  if (t.hash_cookie_upstream != nullptr) {
    // The cookie the balancer hashed, so the client's next requests stick (Kong's set_cookie).
    const auto& up = *t.hash_cookie_upstream;
    out.resize(out.size() - 2);  // before the blank line
    out.append("Set-Cookie: ").append(up.hash_on_cookie).append("=");
    out.append(t.hash_cookie, sizeof(t.hash_cookie)).append("; Path=");
    out.append(up.hash_on_cookie_path).append("; Same-Site=Lax; HttpOnly\r\n\r\n");
  }
  stream_.write(out);
  t.response_started = true;
}

void ClientSession::on_upstream_body(const char* data, size_t len) {
  if (!(txn_->plugins_active && plugins_on_upstream_body(data, len)))
    write_response_body(data, len);
  if (!txn_) return;
  if (stream_.congested() && txn_ && txn_->conn) {
    txn_->conn->pause_reading();
    timer_ = Timer::send;
    stream_.timer_start(static_cast<uint64_t>(worker_->settings().send_timeout_ms));
  }
}

void ClientSession::write_response_body(const char* data, size_t len) {
  Transaction& t = *txn_;
  if (len == 0 || t.framing == ResponseFraming::none) return;
  t.body_bytes_sent += len;
  if (t.framing == ResponseFraming::chunked) {
    char size_line[24];
    auto r = fmt::format_to_n(size_line, sizeof(size_line), "{:x}\r\n", len);
    uv_buf_t bufs[3] = {uv_buf_init(size_line, static_cast<unsigned>(r.size)),
                        uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(len)),
                        uv_buf_init(const_cast<char*>("\r\n"), 2)};
    stream_.write(bufs, 3);
  } else {
    stream_.write(std::string_view(data, len));
  }
}

void ClientSession::on_upstream_end() {
  Transaction& t = *txn_;
  if (auto* load = t.load.get()) {
    // Latency: the try's whole time, connect to last byte (Kong's connect + response time).
    uint64_t now = uv_now(worker_->loop());
    load->observe(static_cast<double>(now - t.upstream_start_ms), now);
    t.load.release();
  }
  if (t.plugins_active) plugins_on_upstream_end();
  if (t.framing == ResponseFraming::chunked) stream_.write("0\r\n\r\n");
  if (t.conn) {
    t.conn->release(t.request_complete);
    t.conn = nullptr;
  }
  response_complete();
}

void ClientSession::on_upstream_tunnel_data(const char* data, size_t len) {
  stream_.write(std::string_view(data, len));
  if (txn_) txn_->body_bytes_sent += len;  // $body_bytes_sent counts a tunnel's bytes
  if (stream_.congested() && txn_ && txn_->conn) txn_->conn->pause_reading();
}

void ClientSession::on_upstream_tunnel_eof() {
  upstream_eof_ = true;
  if (!client_eof_) {
    // The upstream finished sending: pass its FIN on; the client may still talk.
    stream_.shutdown_write();
    return;
  }
  if (txn_ && txn_->conn) {
    txn_->conn->abort();
    txn_->conn = nullptr;
  }
  closing_ = true;
  stream_.close_after_flush();
}

// ---------------------------------------------------------------------------------------------
// Responses

void ClientSession::respond_error(int status, std::string_view message, ErrorSource source) {
  // nginx drops keep-alive after these (ngx_http_special_response_handler).
  if (source == ErrorSource::nginx &&
      (status == 400 || status == 413 || status == 414 || status == 500 || status == 501)) {
    close_after_response_ = true;
  }
  const MessageHead& head = parser_->head();
  std::string_view accept = head.get("Accept");
  std::string_view content_type = head.get("Content-Type");
  Transaction& t = *txn_;
  ErrorBody body = render_error(status, message, accept, content_type, source,
                                std::string_view(t.request_id, sizeof(t.request_id)));
  respond_local(status, body.content_type, body.body);
}

void ClientSession::respond_local(int status, std::string_view content_type, std::string_view body,
                                  std::string_view extra_headers, bool admin) {
  Transaction& t = *txn_;
  if (!admin && !t.response_started && worker_->role() == Role::proxy &&
      (t.plugins_active || global_hooks(sb::plugins::kHookHeaderFilter |
                                        sb::plugins::kHookBodyFilter | sb::plugins::kHookLog))) {
    plugins_local_response(status, content_type, body, extra_headers);
    return;
  }
  write_local_response(status, content_type, body, extra_headers, admin);
}

void ClientSession::write_local_response(int status, std::string_view content_type,
                                         std::string_view body, std::string_view extra_headers,
                                         bool admin) {
  Transaction& t = *txn_;
  t.local = true;
  t.status = status;
  if (!t.request_complete) close_after_response_ = true;
  bool keep_alive = keep_alive_after_response();
  std::string& out = scratch();
  build_local_response(out, t, worker_->settings(), status, content_type, body.size(), keep_alive,
                       extra_headers, admin, uv_now(worker_->loop()) - t.start_ms,
                       worker_->http_date());
  if (!t.head_request) out.append(body);
  stream_.write(out);
  if (!t.head_request) t.body_bytes_sent += body.size();
  t.response_started = true;
  if (t.conn) {
    t.conn->abort();
    t.conn = nullptr;
  }
  response_complete();
}

bool ClientSession::keep_alive_after_response() const {
  return !close_after_response_ && !closing_ && !worker_->draining() &&
         parser_->head().keep_alive && !client_eof_;
}

void ClientSession::response_complete() {
  Transaction& t = *txn_;
  t.response_done = true;
  if (t.plugins_active) plugins_log();
  char ip[46];
  worker_->request_done(t, parser_->head(), peer_ip(ip));  // metrics and access log
  if (t.counted_writing) {
    t.counted_writing = false;
    worker_->counters().writing.fetch_sub(1, std::memory_order_relaxed);
  }
  if (!t.request_complete || !keep_alive_after_response()) {
    // The request was not read to its end (or the connection must close): close once the
    // response is flushed, draining the client's input meanwhile.
    closing_ = true;
    stream_.close_after_flush(!t.request_complete);
    return;
  }
  if (paused_) {
    // Asynchronous completion: move on to the next pipelined request, if any.
    finish_transaction();
    process_pending();
    if (!closing_ && !txn_ && pending_.empty() && !(parser_ && parser_->message_started())) {
      enter_idle();
    }
  }
}

void ClientSession::finish_transaction() {
  worker_->release_transaction(std::move(txn_));
  paused_ = false;
  upgrading_ = false;
  parser_->resume();
}

void ClientSession::enter_idle() {
  if (closing_) return;
  if (close_after_response_ || worker_->draining()) {
    closing_ = true;
    stream_.close_after_flush();
    return;
  }
  // Idle connections hold no parser and no request memory.
  worker_->release_parser(std::move(parser_));
  timer_ = Timer::keepalive;
  stream_.timer_start(static_cast<uint64_t>(worker_->settings().keepalive_timeout_ms));
  if (!stream_.reading()) stream_.read_start();
}

void ClientSession::handle_admin_request() {
  Transaction& t = *txn_;
  AdminResponse r;
  worker_->admin()->handle(parser_->head(), t.admin_body, r);
  respond_local(r.status, r.content_type, r.body, {}, true);
}

}  // namespace sb::proxy
