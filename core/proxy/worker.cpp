#include "proxy/worker.h"

#include <openssl/rand.h>
#include <unistd.h>

#include <fmt/format.h>
#include <ctime>

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
  pool_ = std::make_unique<UpstreamPool>(this);
  resolver_ = std::make_unique<Resolver>(this);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(rng_), sizeof(rng_)) != 1) {
    rng_[0] = static_cast<uint64_t>(std::time(nullptr)) ^ 0x9E3779B97F4A7C15ull;
    rng_[1] = reinterpret_cast<uintptr_t>(this);
  }
  if ((rng_[0] | rng_[1]) == 0) rng_[1] = 1;
}

Worker::~Worker() {
  listeners_.clear();
  pool_->close_all();
  async_.reset();
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

void Worker::run() { uv_run(&loop_, UV_RUN_DEFAULT); }

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
  if (incoming) self->snapshot_ = std::move(incoming);
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

const sb::config::Target* Worker::pick_target(const sb::config::Upstream& upstream) {
  // Smooth weighted round-robin (nginx's): targets are interleaved in proportion to their
  // weights. The running weights live outside the Snapshot, keyed by the upstream's id, so a
  // reload that keeps the upstream keeps its rotation.
  auto& current = balancer_state_[upstream.id];
  if (current.size() != upstream.targets.size()) current.assign(upstream.targets.size(), 0);
  int64_t total = 0;
  size_t best = upstream.targets.size();
  for (size_t i = 0; i < upstream.targets.size(); ++i) {
    int64_t w = upstream.targets[i].weight;
    if (w <= 0) continue;
    current[i] += w;
    total += w;
    if (best == upstream.targets.size() || current[i] > current[best]) best = i;
  }
  if (best == upstream.targets.size()) return nullptr;
  current[best] -= total;
  return &upstream.targets[best];
}

}  // namespace sb::proxy
