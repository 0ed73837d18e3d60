// POST /config helpers: finding the declarative text in a request body (raw YAML/JSON, a JSON
// config, or a `config` field in JSON, urlencoded or multipart bodies) and Kong's 400 body
// (code 14) built from the loader's errors.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"

namespace sb::admin {

// Request parameters (query string, then form or top-level JSON scalars), Kong's self.params.
using Params = std::map<std::string, std::string, std::less<>>;

// Decodes an application/x-www-form-urlencoded string ('+' is a space) into `out`.
void parse_urlencoded(std::string_view text, Params& out);
std::string url_decode(std::string_view s, bool plus_is_space);

// The declarative text of a POST /config body; empty when there is none. Top-level scalar
// fields of JSON/form bodies (check_hash, flatten_errors) are added to `params`.
std::string config_from_body(std::string_view content_type, const std::string& body,
                             Params& params);

// Kong's truthy(): true, 1, on, yes (case-insensitive).
bool truthy(std::string_view v);

// Kong's error body for an invalid declarative config: {"code":14,"name":"invalid declarative
// configuration","message":"declarative config is invalid: <Lua rendering>","fields":{...}},
// plus "flattened_errors":[...] when `flatten` (and `input` parses).
std::string declarative_error_body(const std::vector<sb::config::Error>& errors,
                                   const std::string& input, bool flatten);

}  // namespace sb::admin
