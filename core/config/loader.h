// kong.yaml (Kong's DB-less declarative format) -> validated sb::config::Config.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "config/schema.h"

namespace sb::config {

// What the plugin host knows about loaded plugins: their config schemas and the entities they
// declare (kong.yaml keys such as keyauth_credentials).
class PluginCatalog {
 public:
  virtual ~PluginCatalog() = default;
  virtual const PluginSchema* plugin_schema(std::string_view name) const = 0;
  virtual const EntitySchema* entity_schema(std::string_view key) const = 0;
};

struct LoadOptions {
  // Plugin names the node has enabled (Kong's `plugins` setting, expanded). A plugin entity whose
  // name is not here is an error: "plugin 'x' not enabled; add it to the 'plugins' configuration
  // property".
  std::vector<std::string> enabled_plugins;
  // Validates plugin configs and plugin entities; without it `config` is kept unvalidated and
  // plugin entity keys are unknown fields.
  const PluginCatalog* catalog = nullptr;
};

struct LoadResult {
  std::optional<Config> config;  // set only when `errors` is empty
  std::vector<Error> errors;     // every problem found, in file order
  bool ok() const { return config.has_value(); }
};

// Reads and validates a file. I/O errors are reported as an Error on the file.
LoadResult load_file(const std::string& path, const LoadOptions& options = {});

// Validates text already in memory (Admin API bodies, tests). `source_name` names it in errors;
// JSON is YAML, so both are accepted.
LoadResult load_string(std::string_view text, std::string_view source_name,
                       const LoadOptions& options = {});

}  // namespace sb::config
