#include "plugins/chain.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>

#include "common/log.h"

namespace sb::plugins {

namespace {

struct FreeQueue {
  std::mutex mutex;
  std::vector<std::pair<const LoadedPlugin*, void*>> items;
  void (*notify)(void*) = nullptr;
  void* arg = nullptr;
};

FreeQueue& free_queue() {
  static FreeQueue q;
  return q;
}

}  // namespace

void set_config_free_notifier(void (*notify)(void*), void* arg) {
  auto& q = free_queue();
  std::lock_guard<std::mutex> lock(q.mutex);
  q.notify = notify;
  q.arg = arg;
}

void defer_config_free(const LoadedPlugin* plugin, void* cfg) {
  auto& q = free_queue();
  void (*notify)(void*) = nullptr;
  void* arg = nullptr;
  {
    std::lock_guard<std::mutex> lock(q.mutex);
    q.items.emplace_back(plugin, cfg);
    notify = q.notify;
    arg = q.arg;
  }
  if (notify != nullptr) notify(arg);
}

size_t drain_config_frees() {
  auto& q = free_queue();
  std::vector<std::pair<const LoadedPlugin*, void*>> items;
  {
    std::lock_guard<std::mutex> lock(q.mutex);
    items.swap(q.items);
  }
  for (auto& [plugin, cfg] : items) plugin->hooks.on_config_free(plugin->state, cfg);
  return items.size();
}

uint32_t hook_bits(const LoadedPlugin& p) {
  const auto& h = p.hooks;
  return (h.on_rewrite ? kHookRewrite : 0u) | (h.on_access ? kHookAccess : 0u) |
         (h.on_response ? kHookResponse : 0u) | (h.on_header_filter ? kHookHeaderFilter : 0u) |
         (h.on_body_filter ? kHookBodyFilter : 0u) | (h.on_log ? kHookLog : 0u);
}

std::unique_ptr<CompiledPlugins> CompiledPlugins::build(const sb::config::Config& config,
                                                        const Registry* registry,
                                                        std::vector<std::string>* errors) {
  auto out = std::make_unique<CompiledPlugins>();
  out->registry_ = registry;
  if (registry == nullptr) {
    out->by_route_.resize(config.routes.size());
    return out;
  }
  size_t errors_before = errors->size();
  for (const auto& entity : config.plugins) {
    if (!entity.enabled) continue;  // disabled configs are invisible (Kong)
    const LoadedPlugin* plugin = registry->find(entity.name);
    if (plugin == nullptr) continue;  // the loader already rejected unknown names
    auto inst = std::make_unique<Instance>();
    inst->plugin = plugin;
    inst->entity = &entity;
    inst->route = entity.route;
    inst->service = entity.service;
    inst->consumer = entity.consumer;
    if (plugin->hooks.on_config_compile != nullptr) {
      char message[1024] = {};
      const auto* value = reinterpret_cast<const sb_value*>(entity.config.get());
      sb_status st = plugin->hooks.on_config_compile(plugin->state, value, &inst->cfg, &inst->flags,
                                                     sb_errbuf{message, 1024});
      if (st != SB_OK) {
        message[sizeof(message) - 1] = '\0';
        errors->push_back(fmt::format("{}:{}:{}: plugins[{}]: config: {}", config.source_name,
                                      entity.pos.line, entity.pos.column, entity.name,
                                      message[0] != '\0' ? message : "invalid configuration"));
        continue;
      }
    }
    out->instances_.push_back(std::move(inst));
  }
  if (errors->size() > errors_before) return nullptr;  // destructor of `out` frees what compiled

  for (const auto& inst : out->instances_) {
    out->scoped_.emplace(Scope{inst->plugin->index, inst->route, inst->service, inst->consumer},
                         inst.get());
  }
  // Kong 3.x order: descending priority, ties by descending name.
  std::vector<const LoadedPlugin*> order;
  for (const auto& p : registry->plugins()) {
    bool used = std::any_of(out->instances_.begin(), out->instances_.end(),
                            [&](const auto& i) { return i->plugin == p.get(); });
    if (used) order.push_back(p.get());
  }
  std::sort(order.begin(), order.end(), [](const LoadedPlugin* a, const LoadedPlugin* b) {
    return a->priority != b->priority ? a->priority > b->priority : a->name > b->name;
  });
  std::vector<bool> has_consumer_scope(registry->plugins().size(), false);
  for (const auto& inst : out->instances_) {
    if (inst->consumer >= 0 && !inst->plugin->schema.no_consumer)
      has_consumer_scope[inst->plugin->index] = true;
  }
  auto add_entry = [&](Chain& chain, const LoadedPlugin* p, const Instance* base, bool scoped) {
    if (base == nullptr && !scoped) return;
    chain.entries.push_back(ChainEntry{p, base, scoped});
    chain.hooks |= hook_bits(*p);
    if (base != nullptr) chain.flags |= base->flags;
  };
  for (const LoadedPlugin* p : order) {
    add_entry(out->global_, p, out->find(p->index, -1, -1, -1), false);
  }
  out->by_route_.resize(config.routes.size());
  for (size_t r = 0; r < config.routes.size(); ++r) {
    int route = static_cast<int>(r);
    int service = config.routes[r].service;
    Chain& chain = out->by_route_[r];
    for (const LoadedPlugin* p : order) {
      const Instance* base = nullptr;
      if (service >= 0) base = out->find(p->index, route, service, -1);
      if (base == nullptr) base = out->find(p->index, route, -1, -1);
      if (base == nullptr && service >= 0) base = out->find(p->index, -1, service, -1);
      if (base == nullptr) base = out->find(p->index, -1, -1, -1);
      add_entry(chain, p, base, has_consumer_scope[p->index]);
    }
  }
  return out;
}

const Instance* CompiledPlugins::resolve(const ChainEntry& entry, int route, int service,
                                         int consumer) const {
  if (consumer < 0 || !entry.consumer_scoped) return entry.base;
  size_t p = entry.plugin->index;
  if (route >= 0 && service >= 0) {
    if (auto* i = find(p, route, service, consumer)) return i;
  }
  if (route >= 0) {
    if (auto* i = find(p, route, -1, consumer)) return i;
  }
  if (service >= 0) {
    if (auto* i = find(p, -1, service, consumer)) return i;
  }
  if (entry.base != nullptr && entry.base->route >= 0 && entry.base->service >= 0) {
    return entry.base;
  }
  if (auto* i = find(p, -1, -1, consumer)) return i;
  return entry.base;
}

void CompiledPlugins::run_configure() const {
  if (registry_ == nullptr) return;
  for (const auto& p : registry_->plugins()) {
    if (p->hooks.on_configure == nullptr) continue;
    std::vector<void*> cfgs;
    for (const auto& inst : instances_)
      if (inst->plugin == p.get()) cfgs.push_back(inst->cfg);
    p->hooks.on_configure(p->state, cfgs.data(), cfgs.size());
  }
}

CompiledPlugins::~CompiledPlugins() {
  for (const auto& inst : instances_) {
    if (inst->cfg != nullptr && inst->plugin->hooks.on_config_free != nullptr) {
      defer_config_free(inst->plugin, inst->cfg);
    }
  }
}

}  // namespace sb::plugins
