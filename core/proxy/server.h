// The process: loads the declarative config, runs N proxy workers (one thread and loop each,
// SO_REUSEPORT listeners) and the main loop (admin listener, signals, reloads).
//
// Config loads (start, SIGHUP, POST /config) run one at a time: parsing, validation and the
// router compile in run_load() (on the libuv thread pool for SIGHUP, so the admin API keeps
// answering), then plugin compile and publish in apply() on the main loop. The workers keep
// serving their current Snapshot meanwhile and switch when the new one is published; a config
// that fails keeps the old one in place.
#pragma once

#include <uv.h>

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/loader.h"
#include "net/tls.h"
#include "net/uv_handle.h"
#include "plugins/registry.h"
#include "proxy/access_log.h"
#include "proxy/admin_api.h"
#include "proxy/health.h"
#include "proxy/metrics.h"
#include "proxy/settings.h"
#include "proxy/snapshot.h"
#include "proxy/worker.h"

namespace sb::proxy {

class Server {
 public:
  explicit Server(Settings settings);
  ~Server();

  // Loads the config and binds every listener; returns an error text or "".
  std::string start();
  // Serves until SIGTERM/SIGINT (graceful stop); returns the process exit code.
  int run();

  void set_admin(AdminApi* admin) { admin_ = admin; }
  const sb::plugins::Registry* plugins() const { return registry_.get(); }
  const Settings& settings() const { return settings_; }
  std::shared_ptr<const Snapshot> snapshot() const;
  // Summed counters of every proxy worker.
  struct Totals {
    uint64_t accepted = 0, handled = 0, requests = 0;
    int64_t active = 0, reading = 0, writing = 0;
  };
  Totals totals() const;
  uint64_t reloads_ok() const { return reloads_ok_; }
  uint64_t reloads_failed() const { return reloads_failed_; }

  // SIGHUP: queues a re-read of declarative_config, loaded in the background and published on
  // the main loop; on failure the old config keeps serving. Calls made while a load runs add
  // exactly one more load, which reads the newest file. With no declarative_config set, the
  // config in use (e.g. from POST /config) is kept, as Kong 3.x keeps the config it persisted
  // in LMDB.
  void reload();

  // POST /config: loads `text` (YAML or JSON) and publishes it exactly as reload() does. Loads
  // queued before it are finished first. Runs on the main loop and returns when published: the
  // admin API answers a request from within one call (AdminApi::handle).
  struct LoadReport {
    bool ok = false;
    std::vector<sb::config::Error> errors;     // why it failed
    std::shared_ptr<const Snapshot> snapshot;  // the new config when ok
  };
  LoadReport load_text(std::string text);

  // The config being served, with the text it was loaded from and when (seconds since epoch).
  struct Current {
    std::shared_ptr<const Snapshot> snapshot;
    std::shared_ptr<const std::string> text;
    int64_t loaded_at = 0;
  };
  Current current() const;
  bool stopping() const { return shutting_down_; }

  // Upstream health-check state (Admin API: /upstreams/{u}/health and friends).
  health::Table& health() { return health_; }
  const health::Table& health() const { return health_; }

  // Fills the request metrics and node counters /metrics shows.
  void collect(metrics::Scrape& out) const;

 private:
  static void on_signal(uv_signal_t* handle, int signum);
  static void on_worker_done(uv_async_t* handle);
  static void on_grace_timeout(uv_timer_t* handle);
  static void on_reload_timer(uv_timer_t* handle);
  static void on_retire_timer(uv_timer_t* handle);
  // One config load; see the comment at the top.
  struct LoadJob;
  std::unique_ptr<LoadJob> make_job(std::shared_ptr<const std::string> pushed) const;
  // Reads (the pushed text, the declarative_config file, or an empty config), validates and
  // prepares the Snapshot. Touches only `job`: safe on any thread.
  static void run_load(LoadJob& job);
  // Main loop: the plugin part of the Snapshot; null (with `errors`) when the load failed.
  std::shared_ptr<const Snapshot> finish(LoadJob& job, std::vector<std::string>& errors);
  LoadReport apply(LoadJob& job);
  // Starts the queued SIGHUP load in the background unless one is running.
  void pump();
  bool loading() const;
  // POST /config: waits for and applies the loads queued before it.
  void finish_queued_loads();
  static void on_load_work(uv_work_t* req);
  static void on_load_done(uv_work_t* req, int status);
  std::string open_logs();
  void reopen_logs();
  void begin_shutdown();

  static void on_config_free(uv_async_t* handle);

  Settings settings_;
  std::unique_ptr<sb::plugins::Registry> registry_;  // loaded plugins, for the whole process
  // Declared before the workers: destroyed after them, writing what they left buffered.
  std::unique_ptr<AccessLogFile> proxy_access_log_, admin_access_log_;
  std::unique_ptr<sb::net::TlsServer> tls_server_;  // when a proxy listener has `ssl`
  health::Table health_;                            // outlives the workers that read it
  std::unique_ptr<Worker> main_;                    // admin role, runs on the calling thread
  std::unique_ptr<health::ActiveChecker> checker_;  // on main_'s loop, destroyed before it
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::shared_ptr<const std::string> snapshot_text_;
  int64_t snapshot_loaded_at_ = 0;
  // The load being applied (main loop only): its input and the loader's structured errors.
  std::shared_ptr<const std::string> loading_text_;  // what run_load() parsed
  std::vector<sb::config::Error> load_errors_;
  // Background loads, from uv_queue_work() until libuv's after-work callback (which may come
  // after POST /config has already applied the job).
  std::list<std::unique_ptr<LoadJob>> jobs_;
  // Replaced configs, held until every worker and request has let go, so that freeing them
  // (tens of ms for 10k services) happens here and not on a worker's loop.
  std::vector<std::shared_ptr<const Snapshot>> retired_;
  sb::net::UvHandle<uv_timer_t> retire_timer_;
  AdminApi* admin_ = nullptr;
  uint64_t generation_ = 0;
  std::atomic<uint64_t> reloads_ok_{0};
  std::atomic<uint64_t> reloads_failed_{0};
  std::atomic<int> workers_running_{0};
  bool shutting_down_ = false;
  sb::net::UvHandle<uv_signal_t> sigterm_, sigint_, sighup_, sigusr1_;
  // SIGHUPs set this and start the timer; however many arrive before it fires, or while a
  // load runs, make one more load (pump()).
  sb::net::UvHandle<uv_timer_t> reload_timer_;
  bool reload_pending_ = false;
  sb::net::UvHandle<uv_async_t> worker_done_;
  sb::net::UvHandle<uv_async_t> config_free_;  // a retired generation's plugin configs to free
  sb::net::UvHandle<uv_timer_t> grace_timer_;
};

}  // namespace sb::proxy
