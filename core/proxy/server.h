// The process: loads the declarative config, runs N proxy workers (one thread and loop each,
// SO_REUSEPORT listeners) and the main loop (admin listener, signals, reloads).
//
// Config loads (start, SIGHUP, POST /config) all run on the main loop, one at a time, through
// load(): the workers keep serving their current Snapshot meanwhile and switch when the new one
// is published; a config that fails keeps the old one in place.
#pragma once

#include <uv.h>

#include <atomic>
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

  // SIGHUP: re-reads declarative_config and publishes it; on failure the old config keeps
  // serving. With no declarative_config set, the config in use (e.g. from POST /config) is kept,
  // as Kong 3.x keeps the config it persisted in LMDB.
  bool reload();

  // POST /config: loads `text` (YAML or JSON) and publishes it exactly as reload() does.
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
  std::shared_ptr<const Snapshot> load(std::vector<std::string>& errors);
  // What load() parses: the pushed text, the declarative_config file, or an empty config.
  sb::config::LoadResult load_source(const sb::config::LoadOptions& options);
  LoadReport apply(std::shared_ptr<const std::string> text);
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
  // The load in progress (main loop only): its input and the loader's structured errors.
  std::shared_ptr<const std::string> pushed_text_;   // POST /config; null = the file
  std::shared_ptr<const std::string> loading_text_;  // what load_source() parsed
  std::vector<sb::config::Error> load_errors_;
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
  // reload runs, make one more reload.
  sb::net::UvHandle<uv_timer_t> reload_timer_;
  bool reload_pending_ = false;
  sb::net::UvHandle<uv_async_t> worker_done_;
  sb::net::UvHandle<uv_async_t> config_free_;  // a retired generation's plugin configs to free
  sb::net::UvHandle<uv_timer_t> grace_timer_;
};

}  // namespace sb::proxy
