#include "proxy/health.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "proxy/balancer.h"
#include "proxy/http_client.h"
#include "proxy/snapshot.h"
#include "proxy/upstream.h"

namespace sb::proxy::health {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::success:
      return "successes";
    case Kind::http:
      return "http failures";
    case Kind::tcp:
      return "tcp failures";
    case Kind::timeout:
      return "timeouts";
  }
  return "";
}

uint64_t Word::pack() const {
  uint64_t v = static_cast<uint64_t>(state) << 32;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint64_t>(counters[i]) << (8 * i);
  return v;
}

Word Word::unpack(uint64_t v) {
  Word w;
  w.state = static_cast<State>((v >> 32) & 0xff);
  for (int i = 0; i < 4; ++i) w.counters[i] = static_cast<uint8_t>((v >> (8 * i)) & 0xff);
  return w;
}

Word apply(Word w, Kind kind, int limit) {
  if (limit <= 0) return w;
  bool success = kind == Kind::success;
  State goal = success ? State::healthy : State::unhealthy;
  // Fully healthy targets do not count successes, fully unhealthy ones do not count failures.
  if (w.state == goal) return w;
  State before = w.state;
  auto& c = w.counters[static_cast<int>(kind)];
  if (c < 255) ++c;  // resty's counters are 8 bits
  int count = c;
  if (success) {
    w.counters[1] = w.counters[2] = w.counters[3] = 0;
  } else {
    w.counters[0] = 0;
  }
  bool failures = (w.counters[1] | w.counters[2] | w.counters[3]) != 0;
  if (count >= limit) {
    w.state = goal;
  } else if (before == State::healthy && failures) {
    w.state = State::mostly_healthy;
  } else if (before == State::unhealthy && w.counters[0] != 0) {
    w.state = State::mostly_unhealthy;
  }
  return w;
}

Transition TargetHealth::report(Kind kind, int limit, const char* source) {
  if (limit <= 0) return {};
  uint64_t old = word_.load(std::memory_order_acquire);
  Word before, after;
  do {
    before = Word::unpack(old);
    after = apply(before, kind, limit);
    if (after.pack() == old) return {false, is_healthy(after.state), 0};
  } while (!word_.compare_exchange_weak(old, after.pack(), std::memory_order_acq_rel,
                                        std::memory_order_acquire));
  Transition t;
  t.healthy = is_healthy(after.state);
  t.changed = is_healthy(before.state) != t.healthy;
  t.count = after.counters[static_cast<int>(kind)];
  if (t.changed) {
    sb::log::notice("upstream {} target {} is now {} ({}: {} {})", upstream_, target_,
                    t.healthy ? "healthy" : "unhealthy", source, t.count, kind_name(kind));
  }
  return t;
}

void TargetHealth::set(bool healthy) {
  Word w;
  w.state = healthy ? State::healthy : State::unhealthy;
  uint64_t old = word_.exchange(w.pack(), std::memory_order_acq_rel);
  if (is_healthy(Word::unpack(old).state) != healthy) {
    sb::log::notice("upstream {} target {} is now {} (set through the Admin API)", upstream_,
                    target_, healthy ? "healthy" : "unhealthy");
  }
}

bool active_enabled(const sb::config::Healthchecks& h) {
  return h.active.healthy.interval > 0 || h.active.unhealthy.interval > 0;
}

bool enabled(const sb::config::Healthchecks& h) {
  const auto& p = h.passive.unhealthy;
  return active_enabled(h) || p.tcp_failures > 0 || p.timeouts > 0 || p.http_failures > 0;
}

namespace {

bool contains(const std::vector<int>& list, int v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

void report_http(TargetHealth& t, const sb::config::HealthcheckHealthy& ok,
                 const sb::config::HealthcheckUnhealthy& bad, int status, const char* source) {
  if (contains(ok.http_statuses, status)) {
    t.report(Kind::success, ok.successes, source);
  } else if (status == 0 || contains(bad.http_statuses, status)) {
    t.report(Kind::http, bad.http_failures, source);
  }  // any other status does not count
}

int failure_limit(const sb::config::HealthcheckUnhealthy& bad, Kind kind) {
  switch (kind) {
    case Kind::http:
      return bad.http_failures;
    case Kind::tcp:
      return bad.tcp_failures;
    case Kind::timeout:
      return bad.timeouts;
    case Kind::success:
      break;
  }
  return 0;
}

}  // namespace

void report_status(TargetHealth& t, const sb::config::Healthchecks& h, int status) {
  report_http(t, h.passive.healthy, h.passive.unhealthy, status, "passive");
}

void report_failure(TargetHealth& t, const sb::config::Healthchecks& h, Kind kind) {
  t.report(kind, failure_limit(h.passive.unhealthy, kind), "passive");
}

Kind failure_kind(UpstreamFailure f) {
  switch (f) {
    case UpstreamFailure::connect_timeout:
    case UpstreamFailure::write_timeout:
    case UpstreamFailure::read_timeout:
      return Kind::timeout;
    default:
      return Kind::tcp;
  }
}

void report_active(TargetHealth& t, const sb::config::Healthchecks& h, Kind kind, int status) {
  const auto& a = h.active;
  if (kind == Kind::http) {
    report_http(t, a.healthy, a.unhealthy, status, "active");
  } else if (kind == Kind::success) {
    t.report(Kind::success, a.healthy.successes, "active");
  } else {
    t.report(kind, failure_limit(a.unhealthy, kind), "active");
  }
}

int pick(const std::vector<sb::config::Target>& targets, const std::vector<TargetHealth*>* health,
         int64_t* current, double threshold, int avoid) {
  // Eligibility and Kong's threshold are the balancer's, shared with the other algorithms.
  balancer::Candidates c{&targets, health};
  int count = 0;
  if (!c.usable(threshold, &count)) return -1;
  bool skip_avoid = avoid >= 0 && count > 1 && c.eligible(static_cast<size_t>(avoid));
  // Smooth weighted round-robin (nginx's) over the eligible targets only: the healthy ones keep
  // their relative shares.
  size_t n = targets.size();
  int64_t sum = 0;
  size_t best = n;
  for (size_t i = 0; i < n; ++i) {
    if (!c.eligible(i) || (skip_avoid && static_cast<int>(i) == avoid)) continue;
    current[i] += targets[i].weight;
    sum += targets[i].weight;
    if (best == n || current[i] > current[best]) best = i;
  }
  current[best] -= sum;
  return static_cast<int>(best);
}

// ---------------------------------------------------------------------------------------------
// Table

void Table::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  binding_.reset();
  snapshot_.reset();
  targets_.clear();
}

void Table::update(const std::shared_ptr<const Snapshot>& snapshot) {
  auto binding = std::make_shared<Binding>();
  binding->snapshot = snapshot.get();
  std::function<void()> notify;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    decltype(targets_) next;
    const auto& ups = snapshot->config.upstreams;
    binding->upstreams.resize(ups.size());
    for (size_t u = 0; u < ups.size(); ++u) {
      auto& b = binding->upstreams[u];
      b.enabled = enabled(ups[u].healthchecks);
      b.targets.assign(ups[u].targets.size(), nullptr);
      if (!b.enabled) continue;  // off: nothing kept, a later enable starts healthy (as Kong)
      for (size_t i = 0; i < ups[u].targets.size(); ++i) {
        const auto& t = ups[u].targets[i];
        if (t.weight <= 0) continue;  // Kong leaves weight-0 targets out of the checker
        auto key = std::make_pair(ups[u].name, t.target);
        auto& slot = next[key];
        if (!slot) {
          auto it = targets_.find(key);
          slot = it != targets_.end() ? it->second
                                      : std::make_shared<TargetHealth>(ups[u].name, t.target);
        }
        b.targets[i] = slot.get();
      }
    }
    binding->keep.reserve(next.size());
    for (const auto& [key, t] : next) binding->keep.push_back(t);
    targets_ = std::move(next);
    snapshot_ = snapshot;
    binding_ = std::move(binding);
    notify = notify_;
  }
  if (notify) notify();
}

std::shared_ptr<const Binding> Table::binding_for(const Snapshot* snapshot) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (binding_ && binding_->snapshot == snapshot) return binding_;
  return nullptr;
}

std::shared_ptr<const Snapshot> Table::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return snapshot_;
}

std::shared_ptr<TargetHealth> Table::find(const std::string& upstream,
                                          const std::string& target) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = targets_.find(std::make_pair(upstream, target));
  return it != targets_.end() ? it->second : nullptr;
}

void Table::set_notifier(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mutex_);
  notify_ = std::move(fn);
}

// ---------------------------------------------------------------------------------------------
// ActiveChecker

// One upstream's probing: a timer per mode (healthy targets, unhealthy targets) and a queue
// drained at most `concurrency` at a time.
struct ActiveChecker::Upstream {
  ActiveChecker* owner = nullptr;
  const sb::config::Upstream* config = nullptr;  // in owner->snapshot_
  std::vector<TargetHealth*> targets;            // kept alive by owner->binding_
  std::vector<size_t> indexes;                   // into config->targets, parallel to `targets`
  std::vector<bool> busy;                        // a probe in flight or queued
  std::vector<size_t> queue;
  int in_flight = 0;
  sb::net::UvHandle<uv_timer_t> healthy_timer, unhealthy_timer;
};

// A probe in flight: an HTTP call (id in the client) or a TCP connect.
struct ActiveChecker::Probe {
  Upstream* upstream = nullptr;
  size_t slot = 0;
  uint64_t call = 0;  // HttpClient id
  sb::net::UvHandle<uv_tcp_t> tcp;
  sb::net::UvHandle<uv_timer_t> timer;
};

namespace {

// A uv_connect_t outlives the probe it served when the probe is cancelled: libuv still calls
// back (UV_ECANCELED) and the request is freed there.
struct ConnectReq {
  uv_connect_t req;
  uint64_t id;
  ActiveChecker* checker;
};

}  // namespace

ActiveChecker::ActiveChecker(uv_loop_t* loop, Resolver& resolver, Table& table)
    : loop_(loop), resolver_(resolver), table_(table) {
  http_ = std::make_unique<HttpClient>(loop_, resolver_);
  alive_ = std::make_shared<ActiveChecker*>(this);
  async_ = sb::net::make_uv_handle<uv_async_t>();
  uv_async_init(loop_, async_.get(), &ActiveChecker::on_async);
  async_->data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(async_.get()));
  table_.set_notifier([h = async_.get()] { uv_async_send(h); });
}

ActiveChecker::~ActiveChecker() {
  table_.set_notifier(nullptr);
  stop();
}

void ActiveChecker::on_async(uv_async_t* handle) {
  auto* self = static_cast<ActiveChecker*>(handle->data);
  if (self != nullptr && !self->stopped_) self->sync();
}

void ActiveChecker::stop() {
  stopped_ = true;
  cancel_probes();
  upstreams_.clear();  // their timers close
}

void ActiveChecker::cancel_probes() {
  auto probes = std::move(probes_);
  probes_.clear();
  // Their callbacks (run by cancel) find no probe and do nothing.
  for (auto& [id, p] : probes) {
    if (p->call != 0) http_->cancel(p->call);
  }
}

void ActiveChecker::sync() {
  auto snap = table_.snapshot();
  if (!snap || snap == snapshot_) return;
  // Re-timed from scratch: probes in flight for the old schedule are dropped.
  cancel_probes();
  upstreams_.clear();
  snapshot_ = snap;
  binding_ = table_.binding_for(snap.get());
  if (!binding_) return;  // a newer generation is being bound: its notification follows
  const Binding* binding = binding_.get();
  const auto& ups = snap->config.upstreams;
  for (size_t u = 0; u < ups.size(); ++u) {
    const auto& cfg = ups[u];
    if (!binding->upstreams[u].enabled || !active_enabled(cfg.healthchecks)) continue;
    if (cfg.healthchecks.active.type != "http" && cfg.healthchecks.active.type != "https" &&
        cfg.healthchecks.active.type != "tcp") {
      sb::log::warn("upstream {}: active health checks of type {} are not supported", cfg.name,
                    cfg.healthchecks.active.type);
      continue;
    }
    auto up = std::make_unique<Upstream>();
    up->owner = this;
    up->config = &cfg;
    for (size_t i = 0; i < cfg.targets.size(); ++i) {
      TargetHealth* t = binding->upstreams[u].targets[i];
      if (t == nullptr) continue;
      // Duplicate host:port targets share one state; probe it once.
      bool dup = false;
      for (const auto* have : up->targets) dup = dup || have == t;
      if (dup) continue;
      up->targets.push_back(t);
      up->indexes.push_back(i);
    }
    up->busy.assign(up->targets.size(), false);
    auto arm = [&](sb::net::UvHandle<uv_timer_t>& timer, double interval, bool healthy_mode) {
      if (interval <= 0) return;
      timer = sb::net::make_uv_handle<uv_timer_t>();
      uv_timer_init(loop_, timer.get());
      timer->data = up.get();
      uv_unref(reinterpret_cast<uv_handle_t*>(timer.get()));  // never keeps the loop alive
      auto ms = static_cast<uint64_t>(std::max(1.0, interval * 1000.0));
      auto cb =
          healthy_mode ? &ActiveChecker::on_healthy_timer : &ActiveChecker::on_unhealthy_timer;
      uv_timer_start(timer.get(), cb, ms, ms);
    };
    arm(up->healthy_timer, cfg.healthchecks.active.healthy.interval, true);
    arm(up->unhealthy_timer, cfg.healthchecks.active.unhealthy.interval, false);
    upstreams_.push_back(std::move(up));
  }
}

// Queues the targets of one mode (healthy or not) that have no probe pending.
void ActiveChecker::enqueue(Upstream& u, bool healthy_mode) {
  for (size_t i = 0; i < u.targets.size(); ++i) {
    if (u.targets[i] && u.targets[i]->healthy() == healthy_mode && !u.busy[i]) {
      u.busy[i] = true;
      u.queue.push_back(i);
    }
  }
  fill(u);
}

void ActiveChecker::on_healthy_timer(uv_timer_t* handle) {
  if (auto* u = static_cast<Upstream*>(handle->data)) u->owner->enqueue(*u, true);
}

void ActiveChecker::on_unhealthy_timer(uv_timer_t* handle) {
  if (auto* u = static_cast<Upstream*>(handle->data)) u->owner->enqueue(*u, false);
}

void ActiveChecker::fill(Upstream& u) {
  int cap = std::max(1, u.config->healthchecks.active.concurrency);
  while (!u.queue.empty() && u.in_flight < cap) {
    size_t slot = u.queue.front();
    u.queue.erase(u.queue.begin());
    ++u.in_flight;
    start_probe(u, slot);
  }
}

void ActiveChecker::start_probe(Upstream& u, size_t slot) {
  const auto& active = u.config->healthchecks.active;
  const auto& target = u.config->targets[u.indexes[slot]];
  uint64_t id = next_probe_++;
  auto probe = std::make_unique<Probe>();
  probe->upstream = &u;
  probe->slot = slot;
  auto timeout_ms = static_cast<uint64_t>(std::max(1.0, active.timeout * 1000.0));
  Probe* p = probe.get();
  probes_.emplace(id, std::move(probe));
  if (active.type == "tcp") {
    // Connect only: resolve, connect, close.
    p->timer = sb::net::make_uv_handle<uv_timer_t>();
    uv_timer_init(loop_, p->timer.get());
    p->timer->data = this;  // the probe is found by its timer
    uv_timer_start(
        p->timer.get(),
        [](uv_timer_t* h) {
          auto* self = static_cast<ActiveChecker*>(h->data);
          if (self == nullptr) return;
          for (auto& [pid, pr] : self->probes_) {
            if (pr->timer.get() == h) {
              self->finish_probe(pid, Kind::timeout, 0);
              return;
            }
          }
        },
        timeout_ms, 0);
    // A name lookup cannot be withdrawn: it finds the checker through a weak reference.
    auto connect = [alive = std::weak_ptr<ActiveChecker*>(alive_), id](
                       int status, const sockaddr_storage* addr) {
      auto self = alive.lock();
      if (!self) return;
      (*self)->connect_probe(id, status, addr);
    };
    resolver_.resolve(target.host, target.port, connect);
    return;
  }
  HttpCallRequest req;
  bool tls = active.type == "https";
  bool v6 = target.host.find(':') != std::string::npos;
  req.url = fmt::format("{}://{}{}{}:{}{}", tls ? "https" : "http", v6 ? "[" : "", target.host,
                        v6 ? "]" : "", target.port, active.http_path);
  const std::string& host = u.config->host_header.empty() ? target.host : u.config->host_header;
  req.headers.emplace_back("Host", host);
  for (const auto& h : active.headers) {
    for (const auto& v : h.values) req.headers.emplace_back(h.name, v);
  }
  req.timeout_ms = timeout_ms;
  req.tls_verify = tls && active.https_verify_certificate;
  req.max_response_bytes = 1024 * 1024;
  p->call = http_->start(std::move(req), [this, id](HttpCallError err, HttpCallResponse* resp) {
    if (err == HttpCallError::cancelled) return;
    switch (err) {
      case HttpCallError::ok:
        return finish_probe(id, Kind::http, resp->status);
      case HttpCallError::timeout:
        return finish_probe(id, Kind::timeout, 0);
      case HttpCallError::too_large:
      case HttpCallError::invalid_request:
        return finish_probe(id, Kind::success, -1);  // no verdict
      default:
        return finish_probe(id, Kind::tcp, 0);
    }
  });
}

// TCP probe: the target's address is known; connect, and that is the whole check.
void ActiveChecker::connect_probe(uint64_t id, int status, const sockaddr_storage* addr) {
  auto it = probes_.find(id);
  if (it == probes_.end()) return;
  if (status != 0 || addr == nullptr) return finish_probe(id, Kind::tcp, 0);
  Probe* pr = it->second.get();
  pr->tcp = sb::net::make_uv_handle<uv_tcp_t>();
  uv_tcp_init(loop_, pr->tcp.get());
  pr->tcp->data = this;
  auto req = std::make_unique<ConnectReq>();
  req->id = id;
  req->checker = this;
  req->req.data = req.get();
  int rc = uv_tcp_connect(&req->req, pr->tcp.get(), reinterpret_cast<const sockaddr*>(addr),
                          [](uv_connect_t* r, int st) {
                            std::unique_ptr<ConnectReq> owned(static_cast<ConnectReq*>(r->data));
                            if (st == UV_ECANCELED) return;  // the probe is gone
                            owned->checker->finish_probe(owned->id,
                                                         st == 0 ? Kind::success : Kind::tcp, 0);
                          });
  if (rc != 0) return finish_probe(id, Kind::tcp, 0);
  req.release();  // libuv holds it until the callback, which frees it
}

void ActiveChecker::finish_probe(uint64_t id, Kind kind, int status) {
  auto it = probes_.find(id);
  if (it == probes_.end()) return;
  std::unique_ptr<Probe> p = std::move(it->second);
  probes_.erase(it);
  Upstream& u = *p->upstream;
  p->call = 0;  // finished (its callback is running or the client has forgotten it)
  if (status >= 0 && u.targets[p->slot]) {
    report_active(*u.targets[p->slot], u.config->healthchecks, kind, status);
  }
  u.busy[p->slot] = false;
  --u.in_flight;
  p.reset();  // closes the socket and timer (a pending connect is called back cancelled)
  fill(u);
}

}  // namespace sb::proxy::health
