// The plugins of one config generation: every enabled plugin instance compiled once by its
// plugin, and per route the ordered chain of candidates, so a request resolves Kong's
// precedence (kong-compat.md §4.2) with a few array reads and, only after authentication,
// one hash look-up per plugin that has consumer-scoped instances.
#pragma once

#include <silverback/plugin.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/model.h"
#include "plugins/registry.h"

namespace sb::plugins {

// Which phases a plugin implements (bits of Chain::hooks).
enum HookBit : uint32_t {
  kHookRewrite = 1u << 0,
  kHookAccess = 1u << 1,
  kHookResponse = 1u << 2,
  kHookHeaderFilter = 1u << 3,
  kHookBodyFilter = 1u << 4,
  kHookLog = 1u << 5,
};
uint32_t hook_bits(const LoadedPlugin& p);

struct Instance {
  const LoadedPlugin* plugin = nullptr;
  const sb::config::Plugin* entity = nullptr;  // in the generation's Config
  void* cfg = nullptr;                         // the plugin's compiled object
  uint32_t flags = 0;                          // SB_CFG_*
  int route = -1, service = -1, consumer = -1;
};

// One plugin's slot in a route's chain: the instance that applies without a consumer (may be
// null) and whether consumer-scoped instances exist that could apply once one is known.
struct ChainEntry {
  const LoadedPlugin* plugin = nullptr;
  const Instance* base = nullptr;
  bool consumer_scoped = false;
};

struct Chain {
  std::vector<ChainEntry> entries;  // by descending priority, then descending name (Kong 3.x)
  uint32_t flags = 0;               // OR of the base instances' flags
  uint32_t hooks = 0;               // kHook* bits some entry's plugin implements
  bool empty() const { return entries.empty(); }
  bool has(uint32_t hook) const { return (hooks & hook) != 0; }
};

class CompiledPlugins {
 public:
  // Compiles every enabled plugin instance of `config` (on the main thread). A plugin that
  // rejects its config produces an error naming the entity, its file and line.
  static std::unique_ptr<CompiledPlugins> build(const sb::config::Config& config,
                                                const Registry* registry,
                                                std::vector<std::string>* errors);
  ~CompiledPlugins();  // hands every compiled object to its plugin's on_config_free

  // The chain for a matched route (route index in the Config) and the global chain (no route:
  // rewrite, and the response phases of requests that never reached access).
  const Chain& for_route(int route) const {
    return route >= 0 && static_cast<size_t>(route) < by_route_.size() ? by_route_[route] : global_;
  }
  const Chain& global() const { return global_; }
  // The instance that applies to a request on `route`/`service` once `consumer` (or -1) is
  // known: Kong's order route+service+consumer, route+consumer, service+consumer,
  // route+service, consumer, route, service, global.
  const Instance* resolve(const ChainEntry& entry, int route, int service, int consumer) const;
  // Kong's configure phase: all configs per plugin, once per generation (main thread).
  void run_configure() const;
  bool any() const { return !instances_.empty(); }

 private:
  struct Scope {
    size_t plugin;
    int route, service, consumer;
    bool operator==(const Scope&) const = default;
  };
  struct ScopeHash {
    size_t operator()(const Scope& s) const {
      uint64_t h = s.plugin * 0x9E3779B97F4A7C15ull;
      h ^= static_cast<uint32_t>(s.route) + 0x9E3779B9u + (h << 6) + (h >> 2);
      h ^= static_cast<uint32_t>(s.service) + 0x9E3779B9u + (h << 6) + (h >> 2);
      h ^= static_cast<uint32_t>(s.consumer) + 0x9E3779B9u + (h << 6) + (h >> 2);
      return static_cast<size_t>(h);
    }
  };
  const Instance* find(size_t plugin, int route, int service, int consumer) const {
    auto it = scoped_.find(Scope{plugin, route, service, consumer});
    return it == scoped_.end() ? nullptr : it->second;
  }
  const Registry* registry_ = nullptr;
  std::vector<std::unique_ptr<Instance>> instances_;
  std::vector<Chain> by_route_;
  Chain global_;
  std::unordered_map<Scope, const Instance*, ScopeHash> scoped_;  // instances by exact scope
};

// Compiled objects must be freed on the main thread (a worker may drop the last reference to a
// generation). CompiledPlugins' destructor queues them here; the main loop drains the queue.
void defer_config_free(const LoadedPlugin* plugin, void* cfg);
// Runs the queued on_config_free calls (main thread); returns how many ran.
size_t drain_config_frees();
// Where the main loop wants to be told that frees are waiting (set once at start).
void set_config_free_notifier(void (*notify)(void*), void* arg);

}  // namespace sb::plugins
