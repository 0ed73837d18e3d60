#include "proxy/server.h"

#include <fmt/format.h>
#include <unistd.h>

#include <csignal>

#include "common/log.h"
#include "config/checks.h"
#include "config/loader.h"
#include "plugins/chain.h"
#include "proxy/pdk.h"
#include "proxy/session.h"

namespace sb::proxy {

Server::Server(Settings settings) : settings_(std::move(settings)) {}

Server::~Server() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

std::shared_ptr<const Snapshot> Server::load(std::vector<std::string>& errors) {
  sb::config::LoadOptions options;
  if (registry_) {
    options.enabled_plugins = registry_->names();
    options.catalog = registry_.get();
  }
  auto result = sb::config::load_file(settings_.declarative_config, options);
  if (!result.ok()) {
    for (const auto& e : result.errors) errors.push_back(e.to_string());
    return nullptr;
  }
  auto snap = build_snapshot(std::move(*result.config), settings_.router_flavor, ++generation_,
                             &errors, registry_.get());
  sb::plugins::drain_config_frees();  // what a rejected generation compiled (main thread)
  return snap;
}

void Server::on_config_free(uv_async_t*) { sb::plugins::drain_config_frees(); }

std::shared_ptr<const Snapshot> Server::snapshot() const {
  std::lock_guard<std::mutex> lock(snapshot_mutex_);
  return snapshot_;
}

std::string Server::start() {
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
  auto snap = load(errors);
  if (!snap) {
    std::string text =
        fmt::format("error parsing declarative config file {}:", settings_.declarative_config);
    for (const auto& e : errors) text += "\n  " + e;
    return text;
  }
  snapshot_ = snap;
  main_ = std::make_unique<Worker>(settings_, -1, Role::admin, snap);
  main_->set_admin(admin_);
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
  workers_.clear();
  main_.reset();
  {
    std::lock_guard<std::mutex> lock(snapshot_mutex_);
    snapshot_.reset();
  }
  sb::plugins::drain_config_frees();  // the last generation's plugin configs
  registry_.reset();                  // on_shutdown, after every worker stopped
  sb::log::notice("silverback stopped");
  return 0;
}

bool Server::reload() {
  std::vector<std::string> errors;
  auto snap = load(errors);
  if (!snap) {
    reloads_failed_.fetch_add(1);
    sb::log::error("reload failed, keeping the current configuration:");
    for (const auto& e : errors) sb::log::error("  {}", e);
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(snapshot_mutex_);
    snapshot_ = snap;
  }
  for (auto& w : workers_) w->publish(snap);
  main_->publish(snap);
  reloads_ok_.fetch_add(1);
  sb::log::notice("configuration reloaded (hash {})", snap->config.hash);
  return true;
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
    self->reload();
    return;
  }
  self->begin_shutdown();
}

void Server::begin_shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  sb::log::notice("stopping: finishing in-flight requests (up to {} ms)",
                  settings_.graceful_timeout_ms);
  for (auto& w : workers_) w->request_stop();
  main_->request_stop();
  sigterm_.reset();
  sigint_.reset();
  sighup_.reset();
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
