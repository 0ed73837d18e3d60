// One event loop (one thread): its listeners, client sessions, upstream pool, DNS cache and its
// view of the current config Snapshot. Nothing here is shared between workers except the
// immutable Snapshot and the relaxed counters read by /status.
#pragma once

#include <openssl/ssl.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "http/parser.h"
#include "net/deadlines.h"
#include "net/listener.h"
#include "net/uv_handle.h"
#include "plugins/registry.h"
#include "proxy/access_log.h"
#include "proxy/balancer.h"
#include "proxy/health.h"
#include "proxy/metrics.h"
#include "proxy/settings.h"
#include "proxy/snapshot.h"

namespace sb::proxy {

class ClientSession;
class PluginOps;
class UpstreamPool;
class Resolver;
class AdminApi;
struct Transaction;

struct Counters {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> handled{0};
  std::atomic<int64_t> active{0};
  std::atomic<int64_t> reading{0};
  std::atomic<int64_t> writing{0};
  std::atomic<uint64_t> requests{0};
};

enum class Role { proxy, admin };

class Worker {
 public:
  // `tls` (may be null) is the process's TLS listener context, used by `ssl` listeners.
  Worker(const Settings& settings, int index, Role role, std::shared_ptr<const Snapshot> snapshot,
         SSL_CTX* tls = nullptr);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  uv_loop_t* loop() { return &loop_; }
  const Settings& settings() const { return settings_; }
  Role role() const { return role_; }
  int index() const { return index_; }
  Counters& counters() { return counters_; }
  UpstreamPool& pool() { return *pool_; }
  Resolver& resolver() { return *resolver_; }
  const std::shared_ptr<const Snapshot>& snapshot() const { return snapshot_; }
  void set_admin(AdminApi* admin) { admin_ = admin; }
  AdminApi* admin() const { return admin_; }
  // Where this worker's access-log lines go (null: access log off). Set before run().
  void set_access_log(AccessLogFile::Channel* channel) { access_log_ = channel; }
  const metrics::WorkerMetrics& metrics() const { return metrics_; }

  // A response is complete: records metrics and writes the access-log line. `peer` is the
  // client address as text.
  void request_done(const Transaction& t, const sb::http::MessageHead& request,
                    std::string_view peer);
  bool draining() const { return draining_; }

  // Binds the listeners for this worker's role. Returns an error text, or "" on success.
  std::string listen(const std::vector<sb::net::ListenAddress>& addresses);
  // Runs the loop until stopped and drained. Call on the worker's own thread.
  void run();

  // Thread-safe: hand a new Snapshot to this worker (applies on its loop).
  void publish(std::shared_ptr<const Snapshot> snapshot);
  // Thread-safe: stop accepting, let in-flight requests finish, then end run().
  void request_stop();
  // Thread-safe: close every connection now (after the graceful timeout).
  void request_abort();

  // Plugins: the process's loaded plugins (may be null), this worker's async operations.
  void set_plugins(const sb::plugins::Registry* registry) { plugins_ = registry; }
  PluginOps& plugin_ops();
  bool on_loop_thread() const { return std::this_thread::get_id() == thread_; }
  int64_t epoch_ms() const { return epoch_offset_ms_ + static_cast<int64_t>(uv_now(&loop_)); }

  // Per-request helpers.
  void next_request_id(char out[32]);
  std::string_view http_date();  // RFC 7231 date, formatted at most once per second
  // The balancer's choice among the healthy targets of `snap`'s upstream `index`, by the
  // upstream's algorithm (consistent-hashing uses `hash`); `avoid` (a retry's previous target)
  // is skipped when another one can serve. No target: null (all weights 0, none healthy, or the
  // healthy weight under the upstream's threshold).
  struct TargetPick {
    const sb::config::Target* target = nullptr;
    health::TargetHealth* health = nullptr;  // null: the upstream has no health checks
    // least-connections/latency: this worker's load of the target, for the try to claim.
    std::shared_ptr<balancer::TargetLoad> load;
  };
  TargetPick pick_target(const Snapshot& snap, size_t index, const sb::config::Target* avoid,
                         uint32_t hash = 0);
  // The process's health-check table (set before run()) and this worker's view of it for its
  // current Snapshot; a try holds the view while it may report into it.
  void set_health(health::Table* table);
  const std::shared_ptr<const health::Binding>& health_binding() const { return health_; }

  // Recycled request parsers: a connection holds one only while a request is in progress.
  std::unique_ptr<sb::http::Parser> acquire_parser(sb::http::ParserEvents* events);
  void release_parser(std::unique_ptr<sb::http::Parser> p);

  // Recycled transactions (bounded free list).
  std::unique_ptr<Transaction> acquire_transaction();
  void release_transaction(std::unique_ptr<Transaction> t);

  // Session registry (graceful stop closes idle sessions, abort closes all).
  void add_session(ClientSession* s);
  void remove_session(ClientSession* s);

 private:
  static void on_accept(void* ctx, int fd);
  static void on_accept_tls(void* ctx, int fd);
  static void on_async(uv_async_t* handle);
  static void on_log_timer(uv_timer_t* handle);
  void drain_step();
  void write_access_line(const Transaction& t, const sb::http::MessageHead& request,
                         std::string_view peer, int64_t request_ms, int64_t upstream_ms,
                         int64_t kong_ms);

  const Settings& settings_;
  int index_;
  Role role_;
  uv_loop_t loop_;
  std::unique_ptr<sb::net::DeadlineQueue> deadlines_;
  std::vector<std::unique_ptr<sb::net::Listener>> listeners_;
  SSL_CTX* tls_ = nullptr;
  sb::net::UvHandle<uv_async_t> async_;
  std::mutex mutex_;  // guards the fields below that other threads write
  std::shared_ptr<const Snapshot> incoming_;
  bool stop_requested_ = false;
  bool abort_requested_ = false;

  std::shared_ptr<const Snapshot> snapshot_;
  std::unique_ptr<UpstreamPool> pool_;
  const sb::plugins::Registry* plugins_ = nullptr;
  std::unique_ptr<PluginOps> plugin_ops_;
  std::thread::id thread_;
  int64_t epoch_offset_ms_ = 0;  // Unix epoch ms minus the loop clock
  std::unique_ptr<Resolver> resolver_;
  AdminApi* admin_ = nullptr;
  Counters counters_;
  ClientSession* sessions_ = nullptr;  // intrusive list head
  std::vector<std::unique_ptr<Transaction>> free_transactions_;
  std::vector<std::unique_ptr<sb::http::Parser>> free_parsers_;
  bool draining_ = false;
  uint64_t rng_[2];
  std::unordered_map<std::string, std::vector<int64_t>> balancer_state_;
  balancer::WorkerLoads loads_;  // least-connections/latency, bound to snapshot_
  health::Table* health_table_ = nullptr;
  std::shared_ptr<const health::Binding> health_;  // for snapshot_ (null: none bound)
  int64_t date_second_ = -1;
  char date_[40] = {};
  size_t date_len_ = 0;
  metrics::WorkerMetrics metrics_;
  AccessLogFile::Channel* access_log_ = nullptr;
  sb::net::UvHandle<uv_timer_t> log_timer_;  // hands buffered lines over after a short while
  bool log_timer_armed_ = false;
  int64_t log_second_ = -1;
  char log_time_[40] = {};
  size_t log_time_len_ = 0;
};

}  // namespace sb::proxy
