// kong.yaml (Kong's DB-less declarative format) -> validated sb::config::Config.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"

namespace sb::config {

struct LoadOptions {
  // Plugin names the node has enabled (Kong's `plugins` setting, expanded). A plugin entity whose
  // name is not here is an error: "plugin 'x' not enabled; add it to the 'plugins' configuration
  // property".
  std::vector<std::string> enabled_plugins;
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
