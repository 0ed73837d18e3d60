// response-transformer (Kong PRIORITY 800): response headers in header_filter (remove, rename,
// replace existing, add missing, append) and the top-level keys of a JSON body in body_filter.
// Behaviour follows kong/plugins/response-transformer (handler.lua, header_transformer.lua,
// body_transformer.lua, schema.lua) of Kong 3.9; differences are listed in README.md.
#pragma once

#include <silverback/plugin.hpp>

#include <string>
#include <vector>

#include "json_edit.h"
#include "schema.h"

namespace sbp {

struct ResponseTransformer {
  static constexpr const char* kName = "response-transformer";
  static constexpr const char* kVersion = "1.0.0";
  static constexpr int32_t kPriority = 800;

  struct Pair {
    std::string name;
    std::string value;
    bool has_value = false;  // Kong's nil for "name" / "name:" entries
  };
  struct JsonValue {
    std::string name;
    bool valid = false;     // Kong's `v ~= nil` (a "number" that is not one is nil)
    bool encodable = true;  // false for inf/nan: lua-cjson refuses the whole body
    json::Item::T type = json::Item::T::kString;
    std::string text;  // the string, or the JSON of a number/boolean
    json::Item item() const { return json::Item{type, 0, text}; }
  };
  struct Config {
    std::vector<std::string> remove_headers;
    std::vector<Pair> rename_headers, replace_headers, add_headers, append_headers;
    std::vector<std::string> remove_json;
    std::vector<Pair> rename_json;
    std::vector<JsonValue> replace_json, add_json, append_json;
    bool json_ops = false;  // is_body_transform_set()
  };

  static Config compile(const sb::Value& conf);
  static sb::Result header_filter(sb::Ctx& ctx, const Config& cfg);
  static sb::Result body_filter(sb::Ctx& ctx, const Config& cfg, std::span<const sb_str> chunk,
                                bool eos);

  // body_transformer.lua's transform_json_body(): false when the body is not JSON it can
  // change (it is then left as it is). Exposed for tests.
  static bool transform_json(const Config& cfg, std::string_view body, std::string& out);
  // body_transformer.lua's json_value(): what a configured value becomes (exposed for tests).
  static JsonValue json_value(std::string_view name, const std::string* value,
                              std::string_view json_type);
};

}  // namespace sbp
