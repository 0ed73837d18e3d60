// Loading plugin .so files: dlopen, ABI negotiation, descriptors, schemas, on_init/on_shutdown.
// One Registry per process; loaded plugins stay mapped until exit (RTLD_NODELETE: pending
// callbacks and thread-local destructors make unloading unsafe).
#pragma once

#include <silverback/plugin.h>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"
#include "config/schema.h"

namespace sb::plugins {

// The plugins `bundled` stands for: the Kong plugins Silverback ships in plugins/.
inline constexpr std::array<std::string_view, 6> kBundled = {
    "correlation-id",      "key-auth",
    "rate-limiting",       "request-termination",
    "request-transformer", "response-transformer"};

struct LoadedPlugin {
  size_t index = 0;  // position in Registry::plugins()
  std::string name;
  std::string version;
  std::string path;
  int32_t priority = 0;
  uint32_t abi_minor = 0;
  sb_plugin_hooks hooks{};  // the plugin's table, zero-extended to this host's size
  void* state = nullptr;    // from on_init
  sb::config::PluginSchema schema;
  std::vector<sb::config::EntitySchema> entities;
};

// Where plugin .so files are looked for: `configured` (Kong's plugins_dir: colon-separated, may
// be empty), then next to the executable (the build tree's plugins/) and the install tree's
// lib/silverback/plugins.
std::vector<std::string> plugin_dirs(const std::string& configured);

class Registry final : public sb::config::PluginCatalog {
 public:
  // Loads Kong's `plugins` list (names, "bundled", "off") from `dirs` (first match wins; a name
  // containing '/' is a path). `host` is handed to every entry point and on_init. On failure
  // returns nullptr and a message naming the plugin, the file and the reason.
  static std::unique_ptr<Registry> load(const std::vector<std::string>& names,
                                        const std::vector<std::string>& dirs,
                                        const sb_host_info* host, std::string* error);
  // Loads one file (tests, `silverback plugin inspect`).
  static std::unique_ptr<LoadedPlugin> load_file(const std::string& path, const sb_host_info* host,
                                                 std::string* error);
  ~Registry() override;  // on_shutdown, in reverse load order

  const LoadedPlugin* find(std::string_view name) const;
  const std::vector<std::unique_ptr<LoadedPlugin>>& plugins() const { return plugins_; }
  // Every plugin-declared entity, by its kong.yaml key.
  const sb::config::EntitySchema* entity(std::string_view key) const;
  std::vector<std::string> names() const;

  // PluginCatalog (what the config loader validates plugin entries with).
  const sb::config::PluginSchema* plugin_schema(std::string_view name) const override {
    const LoadedPlugin* p = find(name);
    return p != nullptr ? &p->schema : nullptr;
  }
  const sb::config::EntitySchema* entity_schema(std::string_view key) const override {
    return entity(key);
  }

 private:
  std::vector<std::unique_ptr<LoadedPlugin>> plugins_;
};

}  // namespace sb::plugins
