// The process: loads the declarative config, runs N proxy workers (one thread and loop each,
// SO_REUSEPORT listeners) and the main loop (admin listener, signals, reloads).
#pragma once

#include <uv.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/tls.h"
#include "net/uv_handle.h"
#include "plugins/registry.h"
#include "proxy/admin_api.h"
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

  // Re-reads the config file and publishes it; on failure the old config keeps serving.
  bool reload();

 private:
  static void on_signal(uv_signal_t* handle, int signum);
  static void on_worker_done(uv_async_t* handle);
  static void on_grace_timeout(uv_timer_t* handle);
  std::shared_ptr<const Snapshot> load(std::vector<std::string>& errors);
  void begin_shutdown();

  static void on_config_free(uv_async_t* handle);

  Settings settings_;
  std::unique_ptr<sb::plugins::Registry> registry_;  // loaded plugins, for the whole process
  std::unique_ptr<sb::net::TlsServer> tls_server_;   // when a proxy listener has `ssl`
  std::unique_ptr<Worker> main_;                     // admin role, runs on the calling thread
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<const Snapshot> snapshot_;
  AdminApi* admin_ = nullptr;
  uint64_t generation_ = 0;
  std::atomic<uint64_t> reloads_ok_{0};
  std::atomic<uint64_t> reloads_failed_{0};
  std::atomic<int> workers_running_{0};
  bool shutting_down_ = false;
  sb::net::UvHandle<uv_signal_t> sigterm_, sigint_, sighup_;
  sb::net::UvHandle<uv_async_t> worker_done_;
  sb::net::UvHandle<uv_async_t> config_free_;  // a retired generation's plugin configs to free
  sb::net::UvHandle<uv_timer_t> grace_timer_;
};

}  // namespace sb::proxy
