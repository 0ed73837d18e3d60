// Request metrics in Kong's Prometheus shape (kong-compat.md §6.16, Kong 3.x names).
//
// Each worker records into its own WorkerMetrics with relaxed atomic counters it alone writes:
// no lock and no allocation per request once a (service, route, status) series exists. A scrape
// sums the workers' series (taking each worker's mutex, which the worker only takes when it adds
// a series) and renders the text format.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/model.h"

namespace sb::proxy {

struct Snapshot;

namespace metrics {

// Kong 3.x's bucket bounds (ms).
inline constexpr std::array<int64_t, 17> kKongLatencyBuckets = {
    1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000, 6000};
inline constexpr std::array<int64_t, 13> kUpstreamLatencyBuckets = {
    25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000};

// Written by one thread, read by any: a relaxed load + store, not a locked add.
class Counter {
 public:
  void add(uint64_t n) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

template <size_t N>
struct Histogram {
  std::array<Counter, N + 1> buckets;  // per bucket (not cumulative); the last is +Inf
  Counter sum;
  void observe(int64_t ms, const std::array<int64_t, N>& bounds) {
    size_t i = 0;
    while (i < N && ms > bounds[i]) ++i;
    buckets[i].add(1);
    sum.add(static_cast<uint64_t>(ms));
  }
};

struct StatusCount {
  int code = 0;
  bool from_service = false;  // the `source` label: "service" or "kong"
  Counter count;
};

// What one worker recorded for one (service, route) label pair.
struct RouteSeries {
  std::string service;               // service name, else host; "" for a route without service
  std::string route;                 // route name, else id
  std::deque<StatusCount> statuses;  // grows under the worker's mutex
  Histogram<kKongLatencyBuckets.size()> kong;
  Histogram<kUpstreamLatencyBuckets.size()> upstream;
  Histogram<kUpstreamLatencyBuckets.size()> request;
};

// One finished request, as the exporter sees it.
struct Observation {
  int status = 0;
  bool from_service = false;
  int64_t request_ms = 0;
  int64_t upstream_ms = -1;  // -1: no upstream answered
  int64_t kong_ms = 0;
};

class WorkerMetrics {
 public:
  // Worker thread only. `route` belongs to `snap`.
  void record(const Snapshot& snap, const sb::config::Route& route,
              const sb::config::Service* service, const Observation& o);

  // Any thread: calls fn(const RouteSeries&) for every series.
  template <typename F>
  void visit(F&& fn) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& s : series_) fn(*s);
  }

 private:
  RouteSeries* series_for(const Snapshot& snap, const sb::config::Route& route,
                          const sb::config::Service* service);

  mutable std::mutex mutex_;  // guards series_ and statuses growth against readers
  std::vector<std::unique_ptr<RouteSeries>> series_;
  std::unordered_map<std::string, RouteSeries*> by_labels_;  // worker thread only
  // Route index -> series for the snapshot generation last seen (worker thread only).
  uint64_t cached_generation_ = 0;
  std::vector<RouteSeries*> by_route_;
};

// Everything /metrics shows, summed over workers.
struct Scrape {
  struct Series {
    std::map<std::pair<int, bool>, uint64_t> statuses;  // (code, from_service) -> count
    std::array<uint64_t, kKongLatencyBuckets.size() + 1> kong{};
    std::array<uint64_t, kUpstreamLatencyBuckets.size() + 1> upstream{};
    std::array<uint64_t, kUpstreamLatencyBuckets.size() + 1> request{};
    uint64_t kong_sum = 0, upstream_sum = 0, request_sum = 0;
  };
  std::map<std::pair<std::string, std::string>, Series> routes;  // (service, route)
  // nginx stub_status counters.
  uint64_t accepted = 0, handled = 0, requests = 0;
  int64_t active = 0, reading = 0, writing = 0, waiting = 0;
  std::string node_id, version;
  std::string config_hash;
  uint64_t reloads_ok = 0, reloads_failed = 0;
  uint64_t access_log_dropped = 0;
  // kong_upstream_target_health: one row per target, `state` one of healthchecks_off, healthy,
  // unhealthy, dns_error.
  struct TargetHealth {
    std::string upstream, target, address, state;
  };
  std::vector<TargetHealth> target_health;

  void add(const RouteSeries& s);
};

// Prometheus text exposition format 0.0.4.
std::string render(const Scrape& s);

}  // namespace metrics
}  // namespace sb::proxy
