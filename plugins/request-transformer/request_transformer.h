// request-transformer (Kong PRIORITY 801): rewrites the request sent upstream in the access
// phase, in Kong's order: replace.uri, http_method, headers, body, querystring; inside each part
// remove, rename, replace, add, append. Behaviour follows kong/plugins/request-transformer
// (access.lua, schema.lua) of Kong 3.9; the differences are listed in README.md.
#pragma once

#include <silverback/plugin.hpp>

#include <string>
#include <vector>

#include "schema.h"
#include "template.h"

namespace sbp {

struct RequestTransformer {
  static constexpr const char* kName = "request-transformer";
  static constexpr const char* kVersion = "1.0.0";
  static constexpr int32_t kPriority = 801;

  struct Entry {
    std::string name;        // as configured (the case of added headers)
    std::string name_lower;  // ASCII lower-case
    bool has_value = false;  // Kong's nil for "name" / "name:" entries
    rt::Template value;
    std::string value_lower;  // rename.headers: the new name, lower-case (never a template)
  };
  struct Lists {
    std::vector<Entry> body, headers, querystring;
  };
  struct Config {
    std::string http_method;         // empty: unchanged
    bool method_moves_body = false;  // GET/HEAD/TRACE: an urlencoded body joins the query
    Lists remove, rename, replace, add, append;
    bool has_uri = false;
    rt::Template uri;
    bool header_ops = false, body_ops = false, qs_ops = false;
    // Header names read by body/querystring templates (see access: Kong's lazy `headers`).
    std::vector<std::string> late_header_keys;
  };

  static Config compile(const sb::Value& conf);
  static uint32_t flags(const Config& cfg);
  static sb::Result access(sb::Ctx& ctx, const Config& cfg);
};

}  // namespace sbp
