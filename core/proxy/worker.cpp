#include "proxy/worker.h"

#include <openssl/rand.h>
#include <unistd.h>

#include <fmt/format.h>
#include <ctime>

#include <chrono>

#include "http/message.h"
#include "proxy/pdk.h"
#include "proxy/session.h"
#include "proxy/transaction.h"
#include "proxy/upstream.h"

namespace sb::proxy {

Worker::Worker(const Settings& settings, int index, Role role,
               std::shared_ptr<const Snapshot> snapshot, SSL_CTX* tls)
    : settings_(settings), index_(index), role_(role), tls_(tls), snapshot_(std::move(snapshot)) {
  uv_loop_init(&loop_);
  deadlines_ = std::make_unique<sb::net::DeadlineQueue>(&loop_);
  deadlines_->attach();
  async_ = sb::net::make_uv_handle<uv_async_t>();
  uv_async_init(&loop_, async_.get(), &Worker::on_async);
  async_->data = this;
  log_timer_ = sb::net::make_uv_handle<uv_timer_t>();
  uv_timer_init(&loop_, log_timer_.get());
  log_timer_->data = this;
  // Never keeps the loop alive: whatever is buffered at exit is written by AccessLogFile.
  uv_unref(reinterpret_cast<uv_handle_t*>(log_timer_.get()));
  pool_ = std::make_unique<UpstreamPool>(this);
  resolver_ = std::make_unique<Resolver>(&loop_);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(rng_), sizeof(rng_)) != 1) {
    rng_[0] = static_cast<uint64_t>(std::time(nullptr)) ^ 0x9E3779B97F4A7C15ull;
    rng_[1] = reinterpret_cast<uintptr_t>(this);
  }
  if ((rng_[0] | rng_[1]) == 0) rng_[1] = 1;
  if (snapshot_) loads_.bind(snapshot_->config, snapshot_.get());
}

Worker::~Worker() {
  listeners_.clear();
  plugin_ops_.reset();  // cancels plugins' timers and calls while the loop can still close them
  pool_->close_all();
  async_.reset();
  log_timer_.reset();
  deadlines_.reset();
  // Let the close callbacks run, then free the loop.
  uv_run(&loop_, UV_RUN_NOWAIT);
  while (uv_loop_close(&loop_) == UV_EBUSY) uv_run(&loop_, UV_RUN_ONCE);
}

std::string Worker::listen(const std::vector<sb::net::ListenAddress>& addresses) {
  for (const auto& address : addresses) {
    if (address.ssl && tls_ == nullptr) {
      return fmt::format("could not listen on {}: TLS is not available", address.to_string());
    }
    auto listener = std::make_unique<sb::net::Listener>(
        &loop_, address.ssl ? &Worker::on_accept_tls : &Worker::on_accept, this);
    int rc = listener->listen(address, /*reuseport=*/true);
    if (rc != 0) {
      return fmt::format("could not listen on {}: {}", address.to_string(), uv_strerror(rc));
    }
    listeners_.push_back(std::move(listener));
  }
  return {};
}

void Worker::on_accept(void* ctx, int fd) {
  auto* self = static_cast<Worker*>(ctx);
  if (self->draining_) {
    ::close(fd);
    return;
  }
  ClientSession::accept(self, fd, nullptr);
}

void Worker::on_accept_tls(void* ctx, int fd) {
  auto* self = static_cast<Worker*>(ctx);
  if (self->draining_) {
    ::close(fd);
    return;
  }
  ClientSession::accept(self, fd, self->tls_);
}

void Worker::run() {
  thread_ = std::this_thread::get_id();
  uv_update_time(&loop_);
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  epoch_offset_ms_ = static_cast<int64_t>(now) - static_cast<int64_t>(uv_now(&loop_));
  if (plugins_ != nullptr && role_ == Role::proxy) plugin_ops().init_worker(*plugins_);
  uv_run(&loop_, UV_RUN_DEFAULT);
}

PluginOps& Worker::plugin_ops() {
  if (!plugin_ops_) plugin_ops_ = std::make_unique<PluginOps>(*this);
  return *plugin_ops_;
}

void Worker::publish(std::shared_ptr<const Snapshot> snapshot) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    incoming_ = std::move(snapshot);
  }
  uv_async_send(async_.get());
}

void Worker::request_stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_requested_ = true;
  }
  uv_async_send(async_.get());
}

void Worker::request_abort() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    abort_requested_ = true;
  }
  uv_async_send(async_.get());
}

void Worker::on_async(uv_async_t* handle) {
  auto* self = static_cast<Worker*>(handle->data);
  if (self == nullptr) return;
  std::shared_ptr<const Snapshot> incoming;
  bool stop, abort;
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    incoming = std::move(self->incoming_);
    self->incoming_.reset();
    stop = self->stop_requested_;
    abort = self->abort_requested_;
  }
  if (incoming) {
    self->snapshot_ = std::move(incoming);
    self->loads_.bind(self->snapshot_->config, self->snapshot_.get());
    if (self->health_table_ != nullptr) {
      self->health_ = self->health_table_->binding_for(self->snapshot_.get());
    }
  }
  if (stop && !self->draining_) {
    self->draining_ = true;
    self->listeners_.clear();
    self->pool_->close_all();
    for (ClientSession* s = self->sessions_; s != nullptr;) {
      ClientSession* next = s->next;
      s->shutdown_gently();
      s = next;
    }
  }
  if (abort) {
    for (ClientSession* s = self->sessions_; s != nullptr;) {
      ClientSession* next = s->next;
      s->abort();
      s = next;
    }
    self->pool_->close_all();
  }
  self->drain_step();
}

// Once draining and no session is left, release the last handles so uv_run() returns.
void Worker::drain_step() {
  if (draining_ && sessions_ == nullptr) {
    pool_->close_all();
    if (plugin_ops_) plugin_ops_->cancel_all();
    // Other threads may still signal this worker, so the handle stays open (freed in the
    // destructor) but no longer keeps the loop running.
    uv_unref(reinterpret_cast<uv_handle_t*>(async_.get()));
  }
}

std::unique_ptr<sb::http::Parser> Worker::acquire_parser(sb::http::ParserEvents* events) {
  if (free_parsers_.empty()) {
    return std::make_unique<sb::http::Parser>(HTTP_REQUEST, events, &settings_.limits);
  }
  auto p = std::move(free_parsers_.back());
  free_parsers_.pop_back();
  p->bind(events);
  return p;
}

void Worker::release_parser(std::unique_ptr<sb::http::Parser> p) {
  constexpr size_t kMaxFree = 256;
  constexpr size_t kMaxKeptArena = 8192;  // big heads give their memory back
  if (!p || free_parsers_.size() >= kMaxFree) return;
  if (p->head().capacity() > kMaxKeptArena) {
    p->head().release();
  } else {
    p->head().clear();
  }
  free_parsers_.push_back(std::move(p));
}

std::unique_ptr<Transaction> Worker::acquire_transaction() {
  if (free_transactions_.empty()) return std::make_unique<Transaction>();
  auto t = std::move(free_transactions_.back());
  free_transactions_.pop_back();
  return t;
}

void Worker::release_transaction(std::unique_ptr<Transaction> t) {
  constexpr size_t kMaxFree = 256;
  if (t && t->plugins_active) {
    // Every plugin operation of the request ends (ctx NULL) before its data is destroyed.
    plugin_ops().cancel_request(*t->plugins);
    t->plugins->clear();
    t->plugins_active = false;
  }
  if (!t || free_transactions_.size() >= kMaxFree) return;
  t->reset();  // drops the pinned snapshot now
  free_transactions_.push_back(std::move(t));
}

void Worker::add_session(ClientSession* s) {
  s->next = sessions_;
  s->prev = nullptr;
  if (sessions_) sessions_->prev = s;
  sessions_ = s;
}

void Worker::remove_session(ClientSession* s) {
  if (s->prev) s->prev->next = s->next;
  if (s->next) s->next->prev = s->prev;
  if (sessions_ == s) sessions_ = s->next;
  s->next = s->prev = nullptr;
  drain_step();
}

void Worker::next_request_id(char out[32]) {
  // xorshift128+: cheap, per worker, seeded from OpenSSL. Unique enough for correlation.
  auto next = [this] {
    uint64_t s1 = rng_[0];
    const uint64_t s0 = rng_[1];
    rng_[0] = s0;
    s1 ^= s1 << 23;
    rng_[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return rng_[1] + s0;
  };
  static const char hex[] = "0123456789abcdef";
  uint64_t a = next(), b = next();
  for (int i = 0; i < 16; ++i) {
    out[i] = hex[(a >> (i * 4)) & 0xf];
    out[16 + i] = hex[(b >> (i * 4)) & 0xf];
  }
}

std::string_view Worker::http_date() {
  std::time_t now = std::time(nullptr);
  if (now != date_second_) {
    date_second_ = now;
    struct tm tm;
    gmtime_r(&now, &tm);
    date_len_ = std::strftime(date_, sizeof(date_), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  }
  return {date_, date_len_};
}

void Worker::set_health(health::Table* table) {
  health_table_ = table;
  health_ = table != nullptr ? table->binding_for(snapshot_.get()) : nullptr;
}

Worker::TargetPick Worker::pick_target(const Snapshot& snap, size_t index,
                                       const sb::config::Target* avoid, uint32_t hash) {
  const auto& upstream = snap.config.upstreams[index];
  // Health applies when this request's generation is the one the worker's view was bound for (a
  // request that started before a reload balances without it).
  const health::Binding::Upstream* bound = nullptr;
  if (health_ && health_->snapshot == &snap && health_->upstreams[index].enabled) {
    bound = &health_->upstreams[index];
  }
  const auto* first = upstream.targets.data();
  int avoid_index = avoid != nullptr && avoid >= first && avoid < first + upstream.targets.size()
                        ? static_cast<int>(avoid - first)
                        : -1;
  auto algorithm = index < snap.balancers.size() ? snap.balancers[index].algorithm
                                                 : balancer::Algorithm::round_robin;
  // Loads are this worker's and bound to its current generation: a request still on an older
  // one balances round-robin.
  const std::shared_ptr<balancer::TargetLoad>* loads =
      loads_.bound() == &snap ? loads_.of(index) : nullptr;
  if (algorithm != balancer::Algorithm::round_robin &&
      (algorithm == balancer::Algorithm::consistent_hashing || loads != nullptr)) {
    balancer::Candidates c{&upstream.targets, bound ? &bound->targets : nullptr};
    int eligible = 0;
    if (!c.usable(upstream.healthchecks.threshold, &eligible)) return {};
    if (avoid_index >= 0 && (eligible <= 1 || !c.eligible(static_cast<size_t>(avoid_index)))) {
      avoid_index = -1;  // nothing else to move to
    }
    int i = -1;
    switch (algorithm) {
      case balancer::Algorithm::consistent_hashing:
        i = snap.balancers[index].ring.pick(hash, c, avoid_index);
        break;
      case balancer::Algorithm::least_connections:
        i = balancer::pick_least_connections(c, loads, avoid_index, loads_.next_rotation());
        break;
      default:
        i = balancer::pick_latency(c, loads, avoid_index, uv_now(&loop_));
        break;
    }
    if (i < 0) return {};
    auto n = static_cast<size_t>(i);
    TargetPick pick{&upstream.targets[n], bound ? bound->targets[n] : nullptr, nullptr};
    if (loads != nullptr) pick.load = loads[n];
    return pick;
  }
  // Round-robin. The running weights live outside the Snapshot, keyed by the upstream's id, so
  // a reload that keeps the upstream keeps its rotation.
  auto& current = balancer_state_[upstream.id];
  if (current.size() != upstream.targets.size()) current.assign(upstream.targets.size(), 0);
  int i = health::pick(upstream.targets, bound ? &bound->targets : nullptr, current.data(),
                       upstream.healthchecks.threshold, avoid_index);
  if (i < 0) return {};
  auto n = static_cast<size_t>(i);
  return {&upstream.targets[n], bound ? bound->targets[n] : nullptr, nullptr};
}

}  // namespace sb::proxy

namespace sb::proxy {

void Worker::request_done(const Transaction& t, const sb::http::MessageHead& request,
                          std::string_view peer) {
  auto request_ms = static_cast<int64_t>(uv_now(&loop_) - t.start_ms);
  // Kong's latencies: upstream = waiting for the upstream's response head; kong = the gateway's
  // own time before the upstream (all of it for a response the gateway made).
  bool from_service = !t.local && t.upstream_head_ms != 0;
  int64_t upstream_ms =
      from_service ? static_cast<int64_t>(t.upstream_head_ms - t.upstream_start_ms) : -1;
  int64_t kong_ms =
      from_service ? static_cast<int64_t>(t.upstream_start_ms - t.start_ms) : request_ms;
  // As Kong's exporter: only requests that matched a route are counted.
  if (role_ == Role::proxy && t.match.route != nullptr && t.snapshot) {
    metrics::Observation o{t.status, from_service, request_ms, upstream_ms, kong_ms};
    metrics_.record(*t.snapshot, *t.match.route, t.match.service, o);
  }
  if (access_log_ != nullptr) {
    write_access_line(t, request, peer, request_ms, upstream_ms, kong_ms);
  }
}

void Worker::write_access_line(const Transaction& t, const sb::http::MessageHead& request,
                               std::string_view peer, int64_t request_ms, int64_t upstream_ms,
                               int64_t kong_ms) {
  std::string* out = access_log_->line_buffer();
  if (out == nullptr) return;  // the writer is behind: dropped and counted
  std::time_t now = std::time(nullptr);
  if (now != log_second_) {
    log_second_ = now;
    struct tm tm;
    localtime_r(&now, &tm);
    log_time_len_ = std::strftime(log_time_, sizeof(log_time_), "%d/%b/%Y:%H:%M:%S %z", &tm);
  }
  AccessLogFields f;
  f.remote_addr = peer;
  f.time_local = std::string_view(log_time_, log_time_len_);
  // A request rejected before its head was complete has no usable request line: "-".
  if (t.snapshot != nullptr) {
    f.method = llhttp_method_name(static_cast<llhttp_method_t>(request.method));
    f.target = request.target();
  }
  f.http_major = request.http_major;
  f.http_minor = request.http_minor;
  f.status = t.status;
  f.body_bytes_sent = t.body_bytes_sent;
  f.referer = request.get("Referer");
  f.user_agent = request.get("User-Agent");
  f.request_id = std::string_view(t.request_id, sizeof(t.request_id));
  f.kong_latency = kong_ms;
  f.upstream_latency = upstream_ms;
  f.request_latency = request_ms;
  append_access_line(*out, f);
  if (access_log_->buffered() >= AccessLogFile::kFlushBytes) {
    if (!access_log_->flush()) return;
  }
  if (!log_timer_armed_) {
    log_timer_armed_ = true;
    uv_timer_start(log_timer_.get(), &Worker::on_log_timer, 100, 0);
  }
}

void Worker::on_log_timer(uv_timer_t* handle) {
  auto* self = static_cast<Worker*>(handle->data);
  self->log_timer_armed_ = false;
  if (self->access_log_ != nullptr && self->access_log_->flush()) {
    // The writer still has the previous batch: try again shortly.
    self->log_timer_armed_ = true;
    uv_timer_start(handle, &Worker::on_log_timer, 20, 0);
  }
}

}  // namespace sb::proxy
