// URL encoding the way Kong's PDK does it through lua-nginx-module (ngx.escape_uri,
// ngx.decode_args / ngx.req.get_uri_args, ngx.encode_args, kong.service.request.set_query).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sbp::url {

// Appends the decoded form of one argument key or value: '+' is a space, %XX a byte; an invalid
// '%' sequence is kept as it is.
void unescape(std::string& out, std::string_view s);

// Appends `s` escaped as a URI component (ngx.escape_uri): everything but ALPHA, DIGIT, '-', '.',
// '_' and '~' becomes %XX (upper-case hex).
void escape_component(std::string& out, std::string_view s);

// Appends `path` escaped as kong.service.request.set_path does (kong.tools.uri.escape): reserved
// characters, unreserved characters and '%' stay, every other byte becomes %XX. Idempotent.
void escape_path(std::string& out, std::string_view path);

// One decoded argument of a query string or an urlencoded body. A flag (`a` without '=') has
// flag = true and an empty value; Kong sees it as the Lua value `true`.
struct Arg {
  std::string name;
  std::string value;
  bool flag = false;
};

// Parses `a=1&b&c=x%20y` as ngx.decode_args does: split on '&', the first '=' ends the key, empty
// keys are dropped. Appends to `out` (reusing its elements' storage), returns the new count.
size_t parse_args(std::string_view s, std::vector<Arg>& out, size_t count);

// Kong's kong.service.request.set_query(): every name's values are encoded as one group
// ("k=v1&k=v2", a flag as "k"), groups are sorted byte-wise and joined with '&'.
void encode_sorted(std::string& out, const std::vector<Arg>& args, size_t count);

// ngx.encode_args() over the same groups, in first-appearance order instead of sorted (lua
// tables have no order; Silverback keeps the request's).
void encode_in_order(std::string& out, const std::vector<Arg>& args, size_t count);

}  // namespace sbp::url
