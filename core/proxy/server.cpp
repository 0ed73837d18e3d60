#include "proxy/server.h"

#include <malloc.h>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "common/log.h"
#include "config/checks.h"
#include "config/loader.h"
#include "plugins/chain.h"
#include "proxy/conf.h"
#include "proxy/pdk.h"
#include "proxy/session.h"

namespace sb::proxy {

Server::Server(Settings settings) : settings_(std::move(settings)) {}

Server::~Server() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

struct Server::LoadJob {
  Server* server = nullptr;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  // In, set on the main loop.
  std::shared_ptr<const std::string> pushed;  // POST /config; null = the file
  std::string path;                           // declarative_config
  sb::config::LoadOptions options;
  sb::router::Flavor flavor = sb::router::Flavor::traditional;
  // Out, written by run_load().
  std::shared_ptr<const std::string> text;     // what was parsed
  std::vector<sb::config::Error> load_errors;  // the loader's, structured
  std::vector<std::string> errors;             // every problem, as text
  std::shared_ptr<Snapshot> snapshot;          // without plugins yet; null on failure
  // Background loads: `done` once run_load() has returned; `applied` (main loop) once apply()
  // has used the result or it was dropped.
  uv_work_t req{};
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  bool applied = false;
};

std::unique_ptr<Server::LoadJob> Server::make_job(std::shared_ptr<const std::string> pushed) const {
  auto job = std::make_unique<LoadJob>();
  job->server = const_cast<Server*>(this);
  job->pushed = std::move(pushed);
  job->path = settings_.declarative_config;
  job->flavor = settings_.router_flavor;
  if (registry_) {
    job->options.enabled_plugins = registry_->names();
    job->options.catalog = registry_.get();  // read-only once loaded
  }
  return job;
}

void Server::run_load(LoadJob& job) {
  std::shared_ptr<const std::string> text = job.pushed;
  std::string name = "POST /config";
  bool empty = false;
  if (!text) {
    name = job.path;
    if (name.empty()) {
      // Kong starts DB-less without declarative_config on an empty config.
      text = std::make_shared<const std::string>("_format_version: \"3.0\"\n");
      empty = true;
    } else {
      std::ifstream in(name, std::ios::binary);
      if (!in) {
        job.load_errors.push_back(sb::config::Error{
            name, {}, "", "", fmt::format("cannot read file: {}", std::strerror(errno))});
        job.errors.push_back(job.load_errors.back().to_string());
        return;
      }
      std::ostringstream ss;
      ss << in.rdbuf();
      text = std::make_shared<const std::string>(std::move(ss).str());
    }
  }
  auto result = sb::config::load_string(*text, name, job.options);
  if (empty && result.ok()) result.config->hash = std::string(32, '0');  // Kong's empty hash
  job.text = std::move(text);
  job.load_errors = result.errors;
  if (!result.ok()) {
    for (const auto& e : result.errors) job.errors.push_back(e.to_string());
    return;
  }
  // The generation is numbered on the main loop, in apply order (finish()).
  job.snapshot = prepare_snapshot(std::move(*result.config), job.flavor, 0, &job.errors);
}

std::shared_ptr<const Snapshot> Server::finish(LoadJob& job, std::vector<std::string>& errors) {
  errors = std::move(job.errors);
  std::shared_ptr<Snapshot> snap = std::move(job.snapshot);
  if (!snap) return nullptr;
  snap->generation = ++generation_;
  bool ok = finish_snapshot(*snap, &errors, registry_.get());
  if (!ok) snap.reset();
  sb::plugins::drain_config_frees();  // what a rejected generation compiled (main thread)
  return snap;
}

void Server::on_config_free(uv_async_t*) { sb::plugins::drain_config_frees(); }

void Server::on_load_work(uv_work_t* req) {
  auto* job = static_cast<LoadJob*>(req->data);
  run_load(*job);
  // Certificates were parsed on this pool thread: free OpenSSL's per-thread state (its error
  // queue) now, as libuv's pool threads never exit before the process does (LSan saw it).
  OPENSSL_thread_stop();
  {
    std::lock_guard<std::mutex> lock(job->mutex);
    job->done = true;
  }
  job->cv.notify_all();
}

void Server::on_load_done(uv_work_t* req, int status) {
  auto* job = static_cast<LoadJob*>(req->data);
  Server* self = job->server;
  if (!job->applied) {
    job->applied = true;
    // Stopping: the result is dropped (it holds no plugin configs yet).
    if (status == 0 && !self->shutting_down_) self->apply(*job);
  }
  self->jobs_.remove_if([job](const auto& j) { return j.get() == job; });
  self->pump();
}

bool Server::loading() const {
  for (const auto& job : jobs_) {
    if (!job->applied) return true;
  }
  return false;
}

void Server::pump() {
  if (shutting_down_ || !reload_pending_ || loading()) return;
  reload_pending_ = false;
  if (settings_.declarative_config.empty()) {
    auto cur = current();
    sb::log::notice(
        "reload: no declarative_config set, keeping the current configuration "
        "(hash {})",
        cur.snapshot->config.hash);
    return;
  }
  auto job = make_job(nullptr);
  job->req.data = job.get();
  int rc = uv_queue_work(main_->loop(), &job->req, &Server::on_load_work, &Server::on_load_done);
  if (rc != 0) {
    sb::log::error("reload: cannot start a background load: {}", uv_strerror(rc));
    return;
  }
  jobs_.push_back(std::move(job));
}

void Server::finish_queued_loads() {
  for (auto& job : jobs_) {
    if (job->applied) continue;
    // Blocks the main loop, as the POST /config that waits here does anyway.
    {
      std::unique_lock<std::mutex> lock(job->mutex);
      job->cv.wait(lock, [&] { return job->done; });
    }
    job->applied = true;  // libuv's after-work callback only frees it
    apply(*job);
  }
  if (reload_pending_ && !shutting_down_) {
    // A SIGHUP that came first is loaded first.
    reload_pending_ = false;
    if (!settings_.declarative_config.empty()) {
      auto job = make_job(nullptr);
      run_load(*job);
      apply(*job);
    }
  }
}

std::shared_ptr<const Snapshot> Server::snapshot() const {
  std::lock_guard<std::mutex> lock(snapshot_mutex_);
  return snapshot_;
}

Server::Current Server::current() const {
  std::lock_guard<std::mutex> lock(snapshot_mutex_);
  return {snapshot_, snapshot_text_, snapshot_loaded_at_};
}

std::string Server::open_logs() {
  std::string error;
  auto open = [&](const std::string& setting, size_t channels) -> std::unique_ptr<AccessLogFile> {
    std::string path = prefix_path(settings_.prefix, setting);
    if (path.empty() || path == "off") return nullptr;
    return AccessLogFile::open(path, channels, &error);
  };
  proxy_access_log_ = open(settings_.proxy_access_log, static_cast<size_t>(settings_.workers));
  if (!error.empty()) return error;
  admin_access_log_ = open(settings_.admin_access_log, 1);
  return error;
}

void Server::reopen_logs() {
  for (const std::string& err :
       {sb::log::reopen(), proxy_access_log_ ? proxy_access_log_->reopen() : std::string(),
        admin_access_log_ ? admin_access_log_->reopen() : std::string()}) {
    if (!err.empty()) sb::log::error("reopening logs: {}", err);
  }
  sb::log::notice("log files reopened");
}

std::string Server::start() {
  if (auto err = open_logs(); !err.empty()) return err;
  {
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    node_identity().hostname = host;
    if (node_identity().id.empty()) node_identity().id = sb::config::checks::random_uuid();
    std::string error;
    registry_ = sb::plugins::Registry::load(
        settings_.plugins, sb::plugins::plugin_dirs(settings_.plugins_dir), host_info(), &error);
    if (!registry_) return error;
  }
  std::vector<std::string> errors;
  auto job = make_job(nullptr);
  run_load(*job);  // nothing to serve yet: on this thread
  auto snap = finish(*job, errors);
  if (!snap) {
    std::string text =
        fmt::format("error parsing declarative config file {}:", settings_.declarative_config);
    for (const auto& e : errors) text += "\n  " + e;
    return text;
  }
  snapshot_ = snap;
  snapshot_text_ = std::move(job->text);
  snapshot_loaded_at_ = static_cast<int64_t>(std::time(nullptr));
  malloc_trim(0);  // the parse tree is gone: give its memory back
  health_.update(snap);
  main_ = std::make_unique<Worker>(settings_, -1, Role::admin, snap);
  checker_ = std::make_unique<health::ActiveChecker>(main_->loop(), main_->resolver(), health_);
  checker_->sync();
  main_->set_admin(admin_);
  if (admin_access_log_) main_->set_access_log(&admin_access_log_->channel(0));
  if (auto err = main_->listen(settings_.admin_listen); !err.empty()) return err;
  bool any_ssl = false;
  for (const auto& a : settings_.proxy_listen) any_ssl = any_ssl || a.ssl;
  if (any_ssl) {
    std::string error;
    tls_server_ = sb::net::TlsServer::create(&ClientSession::select_certificate, &error);
    if (!tls_server_) return fmt::format("TLS: {}", error);
  }
  SSL_CTX* tls = tls_server_ ? tls_server_->ctx() : nullptr;
  for (int i = 0; i < settings_.workers; ++i) {
    auto w = std::make_unique<Worker>(settings_, i, Role::proxy, snap, tls);
    if (auto err = w->listen(settings_.proxy_listen); !err.empty()) return err;
    if (proxy_access_log_) w->set_access_log(&proxy_access_log_->channel(static_cast<size_t>(i)));
    w->set_health(&health_);
    workers_.push_back(std::move(w));
  }
  uv_loop_t* loop = main_->loop();
  auto make_signal = [&](int signum) {
    auto h = sb::net::make_uv_handle<uv_signal_t>();
    uv_signal_init(loop, h.get());
    h->data = this;
    uv_signal_start(h.get(), &Server::on_signal, signum);
    return h;
  };
  sigterm_ = make_signal(SIGTERM);
  sigint_ = make_signal(SIGINT);
  sighup_ = make_signal(SIGHUP);
  sigusr1_ = make_signal(SIGUSR1);
  reload_timer_ = sb::net::make_uv_handle<uv_timer_t>();
  uv_timer_init(loop, reload_timer_.get());
  reload_timer_->data = this;
  retire_timer_ = sb::net::make_uv_handle<uv_timer_t>();
  uv_timer_init(loop, retire_timer_.get());
  retire_timer_->data = this;
  std::signal(SIGPIPE, SIG_IGN);
  // Plugin configs are freed on this (main) thread when a worker drops their generation.
  config_free_ = sb::net::make_uv_handle<uv_async_t>();
  uv_async_init(loop, config_free_.get(), &Server::on_config_free);
  uv_unref(reinterpret_cast<uv_handle_t*>(config_free_.get()));
  sb::plugins::set_config_free_notifier(
      [](void* arg) { uv_async_send(static_cast<uv_async_t*>(arg)); }, config_free_.get());
  for (auto& w : workers_) w->set_plugins(registry_.get());
  worker_done_ = sb::net::make_uv_handle<uv_async_t>();
  uv_async_init(loop, worker_done_.get(), &Server::on_worker_done);
  worker_done_->data = this;
  // Workers signal through this handle when they end; it must not keep the main loop alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(worker_done_.get()));
  return {};
}

int Server::run() {
  workers_running_ = static_cast<int>(workers_.size());
  for (auto& w : workers_) {
    Worker* worker = w.get();
    threads_.emplace_back([this, worker] {
      worker->run();
      workers_running_.fetch_sub(1);
      uv_async_send(worker_done_.get());
    });
  }
  sb::log::notice("silverback started: {} worker(s), config {} (hash {})", workers_.size(),
                  settings_.declarative_config, snapshot_->config.hash);
  main_->run();
  for (auto& t : threads_) t.join();
  threads_.clear();
  sb::plugins::set_config_free_notifier(nullptr, nullptr);
  config_free_.reset();
  worker_done_.reset();
  grace_timer_.reset();
  reload_timer_.reset();
  retire_timer_.reset();
  sigusr1_.reset();
  workers_.clear();
  checker_.reset();
  main_.reset();
  {
    std::lock_guard<std::mutex> lock(snapshot_mutex_);
    snapshot_.reset();
  }
  retired_.clear();
  health_.clear();  // it holds the last generation too
  jobs_.clear();    // the loop ran every load's after-work callback before it ended
  sb::plugins::drain_config_frees();  // the last generation's plugin configs
  registry_.reset();                  // on_shutdown, after every worker stopped
  sb::log::notice("silverback stopped");
  return 0;
}

void Server::reload() {
  reload_pending_ = true;
  pump();
}

Server::LoadReport Server::load_text(std::string text) {
  finish_queued_loads();
  auto job = make_job(std::make_shared<const std::string>(std::move(text)));
  run_load(*job);
  return apply(*job);
}

Server::LoadReport Server::apply(LoadJob& job) {
  auto t0 = job.t0;
  job.applied = true;
  loading_text_ = std::move(job.text);
  load_errors_ = std::move(job.load_errors);
  std::vector<std::string> errors;
  auto snap = finish(job, errors);
  LoadReport report;
  if (!snap) {
    reloads_failed_.fetch_add(1);
    report.errors = std::move(load_errors_);
    if (report.errors.empty()) {
      // Not the loader's (e.g. a router problem): messages only.
      for (auto& e : errors) report.errors.push_back(sb::config::Error{{}, {}, "", "", e});
    }
    sb::log::error("reload failed, keeping the current configuration:");
    for (const auto& e : errors) sb::log::error("  {}", e);
    loading_text_.reset();
    return report;
  }
  {
    std::lock_guard<std::mutex> lock(snapshot_mutex_);
    retired_.push_back(std::move(snapshot_));
    snapshot_ = snap;
    snapshot_text_ = std::move(loading_text_);
    snapshot_loaded_at_ = static_cast<int64_t>(std::time(nullptr));
  }
  health_.update(snap);  // before publishing: workers find the generation's health view bound
  for (auto& w : workers_) w->publish(snap);
  main_->publish(snap);
  if (retire_timer_) uv_timer_start(retire_timer_.get(), &Server::on_retire_timer, 500, 0);
  reloads_ok_.fetch_add(1);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  sb::log::notice("configuration reloaded (hash {}, {} ms)", snap->config.hash, ms);
  report.ok = true;
  report.snapshot = std::move(snap);
  return report;
}

void Server::collect(metrics::Scrape& out) const {
  auto t = totals();
  out.accepted = t.accepted;
  out.handled = t.handled;
  out.requests = t.requests;
  out.active = t.active;
  out.reading = t.reading;
  out.writing = t.writing;
  out.waiting = std::max<int64_t>(0, t.active - t.reading - t.writing);
  for (const auto& w : workers_) {
    w->metrics().visit([&](const metrics::RouteSeries& s) { out.add(s); });
  }
  if (auto snap = snapshot()) out.config_hash = snap->config.hash;
  out.reloads_ok = reloads_ok_.load();
  out.reloads_failed = reloads_failed_.load();
  out.access_log_dropped = (proxy_access_log_ ? proxy_access_log_->dropped() : 0) +
                           (admin_access_log_ ? admin_access_log_->dropped() : 0);
}

Server::Totals Server::totals() const {
  Totals t;
  for (const auto& w : workers_) {
    auto& c = const_cast<Worker&>(*w).counters();
    t.accepted += c.accepted.load(std::memory_order_relaxed);
    t.handled += c.handled.load(std::memory_order_relaxed);
    t.requests += c.requests.load(std::memory_order_relaxed);
    t.active += c.active.load(std::memory_order_relaxed);
    t.reading += c.reading.load(std::memory_order_relaxed);
    t.writing += c.writing.load(std::memory_order_relaxed);
  }
  return t;
}

void Server::on_signal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<Server*>(handle->data);
  if (self == nullptr) return;
  if (signum == SIGHUP) {
    // Coalesced: signals that arrive before the timer fires or while a load runs lead to
    // exactly one more load, which reads the newest file (pump()).
    self->reload_pending_ = true;
    uv_timer_start(self->reload_timer_.get(), &Server::on_reload_timer, 0, 0);
    return;
  }
  if (signum == SIGUSR1) {
    self->reopen_logs();
    return;
  }
  self->begin_shutdown();
}

void Server::on_retire_timer(uv_timer_t* handle) {
  auto* self = static_cast<Server*>(handle->data);
  if (self == nullptr) return;
  size_t before = self->retired_.size();
  // use_count() == 1: only this list holds it (nothing can take a new reference to a replaced
  // Snapshot), so it is freed here, on the main loop.
  std::erase_if(self->retired_, [](const auto& s) { return !s || s.use_count() == 1; });
  if (self->retired_.size() < before) {
    malloc_trim(0);  // hand the freed config's memory back to the system
    sb::log::info("freed {} replaced configuration(s), {} still in use",
                  before - self->retired_.size(), self->retired_.size());
  }
  if (!self->retired_.empty()) {
    // A worker has not switched yet, or a long request still pins an old config.
    uv_timer_start(handle, &Server::on_retire_timer, 500, 0);
  }
}

void Server::on_reload_timer(uv_timer_t* handle) {
  auto* self = static_cast<Server*>(handle->data);
  if (self == nullptr || self->shutting_down_) return;
  self->pump();
}

void Server::begin_shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  sb::log::notice("stopping: finishing in-flight requests (up to {} ms)",
                  settings_.graceful_timeout_ms);
  for (auto& w : workers_) w->request_stop();
  main_->request_stop();
  if (checker_) checker_->stop();
  sigterm_.reset();
  sigint_.reset();
  sighup_.reset();
  sigusr1_.reset();
  reload_timer_.reset();
  retire_timer_.reset();
  grace_timer_ = sb::net::make_uv_handle<uv_timer_t>();
  uv_timer_init(main_->loop(), grace_timer_.get());
  grace_timer_->data = this;
  // The timer keeps the main loop alive until the last worker has ended.
  uv_timer_start(grace_timer_.get(), &Server::on_grace_timeout,
                 static_cast<uint64_t>(settings_.graceful_timeout_ms), 0);
  if (workers_running_.load() == 0) grace_timer_.reset();
}

void Server::on_worker_done(uv_async_t* handle) {
  auto* self = static_cast<Server*>(handle->data);
  if (self == nullptr) return;
  if (self->workers_running_.load() == 0 && self->shutting_down_) self->grace_timer_.reset();
}

void Server::on_grace_timeout(uv_timer_t* handle) {
  auto* self = static_cast<Server*>(handle->data);
  if (self == nullptr) return;
  sb::log::warn("graceful stop timed out: closing remaining connections");
  for (auto& w : self->workers_) w->request_abort();
  self->main_->request_abort();
  // Keep waiting for the workers, which now end promptly.
  uv_timer_start(handle, &Server::on_grace_timeout, 1000, 0);
}

}  // namespace sb::proxy
