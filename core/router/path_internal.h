// Internals shared by the router's translation units (not part of the contract).
#pragma once

#include <string>
#include <string_view>

namespace sb::router::detail {

// Kong's normalize(uri, merge_slashes=true) without the query cut. `strict`: invalid %XX fails
// (request paths); otherwise it is kept verbatim (route paths from legacy files, like Kong).
bool normalize(std::string_view raw, std::string& out, bool strict);
// RFC 3986 dot-segment removal plus slash merging, in place (Kong's algorithm).
void remove_dot_segments(std::string& s);
// Kong's normalize_regex for "1.1"/"2.1" regex paths.
std::string normalize_regex(std::string_view regex);
// Drops a leading "./" or "../" (or a bare "." / "..") from a postfix.
std::string_view sanitize_postfix(std::string_view postfix);
// Appends `s` to `out`, %XX-escaping characters outside Kong's allowed set.
void append_escaped(std::string& out, std::string_view s);
// join_upstream_path() + escape_upstream_path() straight into `out` (reusing its capacity).
void join_escaped(std::string& out, std::string_view base, std::string_view req,
                  std::string_view prefix, bool strip_path, bool v1);

}  // namespace sb::router::detail
