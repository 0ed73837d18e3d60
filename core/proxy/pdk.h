// The plugin host's runtime side: the sb_host_api table handed to plugins, node identity, and
// each worker's registry of plugins' async operations.
#pragma once

#include <silverback/plugin.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/uv_handle.h"
#include "plugins/registry.h"
#include "proxy/plugin_run.h"

namespace sb::proxy {

class Worker;
class HttpClient;
struct HttpCallRequest;
enum class HttpCallError;
struct HttpCallResponse;

// The host info (and API table) every plugin entry point and on_init receives.
const sb_host_info* host_info();

// kong.node.get_id / get_hostname (set once at start).
struct NodeIdentity {
  std::string id;
  std::string hostname;
};
NodeIdentity& node_identity();

// One per worker: plugins' timers and outbound calls, and the per-plugin worker contexts.
// Every op completes exactly once: with its result, or cancelled (request gone: ctx NULL).
class PluginOps {
 public:
  explicit PluginOps(Worker& worker);
  ~PluginOps();  // cancels everything still running
  PluginOps(const PluginOps&) = delete;
  PluginOps& operator=(const PluginOps&) = delete;

  sb_op start_timer(sb_ctx* ctx, uint64_t delay_ms, sb_timer_cb cb, void* user);
  sb_op start_http(sb_ctx* ctx, HttpCallRequest request, sb_http_cb cb, void* user);
  bool cancel(sb_ctx* ctx, sb_op id);   // callback runs with SB_E_CANCELLED and ctx
  void cancel_request(PluginRun& run);  // request gone: callbacks run with ctx NULL
  void cancel_all();                    // worker stopping

  // Runs every loaded plugin's on_init_worker with its worker ctx.
  void init_worker(const sb::plugins::Registry& registry);
  sb_ctx* worker_ctx(const sb::plugins::LoadedPlugin* plugin);

 private:
  struct Op;
  HttpClient& http();
  void track(sb_ctx* ctx, sb_op id);
  void untrack(sb_ctx* ctx, sb_op id);
  void complete_timer(sb_op id);
  void complete_http(sb_op id, HttpCallError error, HttpCallResponse* response);
  void after_completion(sb_ctx* ctx);
  void finish_cancelled(std::unique_ptr<Op> op, sb_ctx* ctx_for_cb);

  Worker& worker_;
  std::unique_ptr<HttpClient> http_;
  std::unordered_map<sb_op, std::unique_ptr<Op>> ops_;
  std::vector<std::unique_ptr<sb_ctx>> worker_ctxs_;
  sb_op next_id_ = 0;
};

}  // namespace sb::proxy
