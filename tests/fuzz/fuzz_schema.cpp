// Bytes -> a plugin schema and a config validated against it. The input is the schema JSON (as
// a plugin declares it through the ABI), a NUL byte, then the plugin's `config` as YAML (as a
// kong.yaml user writes it). Both halves are mutated: plugins are trusted code but their schema
// text is still parsed by the host, and the config is hostile user input. Parse failures and
// validation errors are expected; crashes, leaks, hangs and UB are not.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/schema.h"
#include "config/yaml_tree.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t cut = input.find('\0');
  if (cut == std::string_view::npos) return 0;
  std::string error;
  auto schema = sb::config::parse_plugin_schema(input.substr(0, cut), &error);
  if (!schema || !schema->config) return 0;
  std::string yaml(input.substr(cut + 1));
  try {
    sb::config::tree::Document doc(yaml);
    sb::config::Value out;
    std::vector<sb::config::SchemaError> errors;
    bool ok = schema->config->validate(doc.root(), &out, &errors);
    // The validator's contract: success exactly when it reported nothing.
    if (ok != errors.empty()) __builtin_trap();
  } catch (const std::exception&) {
    // YAML syntax errors (the loader reports them with their position).
  }
  return 0;
}
