// Upstream health checks (Kong's healthchecks, as lua-resty-healthcheck counts them).
//
// State is process-wide and outlives config generations: one TargetHealth per (upstream name,
// target "host:port"), kept by a reload that still has the target and dropped otherwise. Proxy
// workers read and update it lock-free (one atomic word per target); the table itself is only
// locked when a config is bound, by the Admin API and by /metrics.
//
// Active probes run on one loop (the main loop) in ActiveChecker; passive reports come from
// every worker's sessions.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "config/model.h"
#include "net/uv_handle.h"

namespace sb::proxy {

struct Snapshot;
class Resolver;
enum class UpstreamFailure;
class HttpClient;

namespace health {

// lua-resty-healthcheck's internal states: "mostly" states count as their majority side.
enum class State : uint8_t { healthy = 0, mostly_healthy = 1, mostly_unhealthy = 2, unhealthy = 3 };
inline bool is_healthy(State s) { return s == State::healthy || s == State::mostly_healthy; }

// What one check or proxied try found.
enum class Kind : uint8_t { success = 0, http = 1, tcp = 2, timeout = 3 };
const char* kind_name(Kind k);  // "successes", "http failures", "tcp failures", "timeouts"

// The packed word: four 8-bit counters (success, http, tcp, timeout) and the state, so a report
// is one compare-and-swap.
struct Word {
  State state = State::healthy;
  uint8_t counters[4] = {0, 0, 0, 0};
  uint64_t pack() const;
  static Word unpack(uint64_t v);
};

// One report applied to a word, resty's incr_counter: a disabled limit (0) or a report that
// agrees with a fully healthy/unhealthy state does nothing; a success clears the failure
// counters, a failure clears the success counter; reaching `limit` flips the state.
Word apply(Word w, Kind kind, int limit);

struct Transition {
  bool changed = false;  // healthy <-> unhealthy (the "mostly" steps are not changes)
  bool healthy = true;   // the state after the report
  int count = 0;         // the counter that decided it
};

class TargetHealth {
 public:
  TargetHealth(std::string upstream, std::string target)
      : upstream_(std::move(upstream)), target_(std::move(target)) {}
  const std::string& upstream() const { return upstream_; }
  const std::string& target() const { return target_; }

  bool healthy() const { return is_healthy(word().state); }
  Word word() const { return Word::unpack(word_.load(std::memory_order_acquire)); }
  // Any thread. Logs the change at notice level, naming `source` ("passive", "active").
  Transition report(Kind kind, int limit, const char* source);
  // Admin API: the state by hand, counters cleared (resty's set_target_status).
  void set(bool healthy);

 private:
  std::string upstream_, target_;
  std::atomic<uint64_t> word_{0};
};

// The checks an upstream's config asks for (Kong's is_upstream_using_healthcheck).
bool enabled(const sb::config::Healthchecks& h);
bool active_enabled(const sb::config::Healthchecks& h);

// Passive report of one proxied try: an HTTP status (0 = invalid response) ...
void report_status(TargetHealth& t, const sb::config::Healthchecks& h, int status);
// ... or a failure to get one.
void report_failure(TargetHealth& t, const sb::config::Healthchecks& h, Kind kind);
// What a failed try counts as: timeouts for the three timeouts, tcp_failures otherwise.
Kind failure_kind(UpstreamFailure f);
// An active probe's result, against the `active` thresholds.
void report_active(TargetHealth& t, const sb::config::Healthchecks& h, Kind kind, int status);

// One config generation's view of the table: per upstream index, per target index.
struct Binding {
  const Snapshot* snapshot = nullptr;
  struct Upstream {
    bool enabled = false;
    std::vector<TargetHealth*> targets;  // parallel to the upstream's targets; null: weight 0
  };
  std::vector<Upstream> upstreams;  // parallel to config.upstreams
  std::vector<std::shared_ptr<TargetHealth>> keep;
};

// The balancer's choice among `weights` (smooth weighted round-robin over the healthy targets,
// `current` holding the running weights). Returns the index, or -1 when no target is eligible
// or the healthy weight is below `threshold` percent of the total. `avoid` (-1: none) is
// skipped when another target is eligible (a retry moves on).
// `health` (null: all healthy) is parallel to `targets`; `current` has one slot per target.
int pick(const std::vector<sb::config::Target>& targets, const std::vector<TargetHealth*>* health,
         int64_t* current, double threshold, int avoid);

class Table {
 public:
  // Binds a new generation before it is published: targets that still exist keep their state,
  // the others are dropped. Thread-safe. Pokes the active checker.
  void update(const std::shared_ptr<const Snapshot>& snapshot);
  // The binding for `snapshot` (null when it is not the newest one bound).
  std::shared_ptr<const Binding> binding_for(const Snapshot* snapshot) const;
  std::shared_ptr<const Snapshot> snapshot() const;
  std::shared_ptr<TargetHealth> find(const std::string& upstream, const std::string& target) const;
  void set_notifier(std::function<void()> fn);
  // Drops the bound generation (at shutdown: it must die before the plugin registry does).
  void clear();

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<TargetHealth>> targets_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::shared_ptr<const Binding> binding_;
  std::function<void()> notify_;
};

// Active probes, on one loop. Re-reads the table's snapshot whenever it changes.
class ActiveChecker {
 public:
  ActiveChecker(uv_loop_t* loop, Resolver& resolver, Table& table);
  ~ActiveChecker();
  ActiveChecker(const ActiveChecker&) = delete;
  ActiveChecker& operator=(const ActiveChecker&) = delete;
  // Loop thread: rebuild the schedule from the table's current snapshot.
  void sync();
  // Loop thread: cancel everything (shutdown).
  void stop();

 private:
  struct Upstream;
  struct Probe;
  static void on_async(uv_async_t* handle);
  static void on_healthy_timer(uv_timer_t* handle);
  static void on_unhealthy_timer(uv_timer_t* handle);
  void enqueue(Upstream& u, bool healthy_mode);
  void cancel_probes();
  void start_probe(Upstream& u, size_t target);
  void connect_probe(uint64_t id, int status, const sockaddr_storage* addr);
  void finish_probe(uint64_t id, Kind kind, int status);
  void fill(Upstream& u);

  uv_loop_t* loop_;
  Resolver& resolver_;
  Table& table_;
  std::unique_ptr<HttpClient> http_;
  sb::net::UvHandle<uv_async_t> async_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::shared_ptr<const Binding> binding_;  // snapshot_'s: keeps the probed states alive
  std::vector<std::unique_ptr<Upstream>> upstreams_;
  std::map<uint64_t, std::unique_ptr<Probe>> probes_;
  uint64_t next_probe_ = 1;
  bool stopped_ = false;
  std::shared_ptr<ActiveChecker*> alive_;  // name lookups reach the checker through this
};

}  // namespace health
}  // namespace sb::proxy
