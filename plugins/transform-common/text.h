// Small string helpers shared by the transform plugins (request-transformer,
// response-transformer, request-termination). Header-only, no allocation unless noted.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sbp {

constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// Header names as ngx.req.get_headers()' metatable compares them: case-insensitive, '_' = '-'.
constexpr char header_fold(char c) noexcept { return c == '_' ? '-' : ascii_lower(c); }
constexpr bool header_name_equals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (header_fold(a[i]) != header_fold(b[i])) return false;
  }
  return true;
}

constexpr bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

constexpr std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Case-insensitive substring search (Kong's `str_find(value:lower(), needle, nil, true)` with a
// lower-case needle).
constexpr bool icontains(std::string_view hay, std::string_view lower_needle) noexcept {
  if (lower_needle.size() > hay.size()) return false;
  for (size_t i = 0; i + lower_needle.size() <= hay.size(); ++i) {
    size_t k = 0;
    while (k < lower_needle.size() && ascii_lower(hay[i + k]) == lower_needle[k]) ++k;
    if (k == lower_needle.size()) return true;
  }
  return false;
}

// A config entry split the way Kong's plugins split them, with the Lua pattern
// "^([^:]+):*(.-)$": the name runs to the first ':', then every following ':' is skipped and the
// rest is the value ("a::b" -> "a", "b"; "h2:value:2" -> "h2", "value:2"). An entry that starts
// with ':' (or is empty) does not match: nullopt.
struct NameValue {
  std::string_view name;
  std::string_view value;
};
constexpr std::optional<NameValue> split_entry(std::string_view entry) noexcept {
  size_t colon = entry.find(':');
  if (colon == 0 || entry.empty()) return std::nullopt;
  if (colon == std::string_view::npos) return NameValue{entry, {}};
  size_t v = colon;
  while (v < entry.size() && entry[v] == ':') ++v;
  return NameValue{entry.substr(0, colon), entry.substr(v)};
}

// Kong's kong.tools.http.validate_header_name: ^[a-zA-Z0-9-_]+$.
constexpr bool valid_header_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace sbp
