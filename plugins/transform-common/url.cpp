#include "url.h"

#include <algorithm>
#include <cstdint>

namespace sbp::url {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

constexpr int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr bool is_alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

constexpr bool keep_in_component(unsigned char c) {
  return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

// kong.tools.uri: ESCAPE_PATTERN = "[^!#$&'()*+,/:;=?@[\\]A-Z\\d\\-_.~%]" (case-insensitive).
constexpr bool keep_in_path(unsigned char c) {
  if (is_alnum(c)) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case '/':
    case ':':
    case ';':
    case '=':
    case '?':
    case '@':
    case '[':
    case ']':
    case '-':
    case '_':
    case '.':
    case '~':
    case '%':
      return true;
    default:
      return false;
  }
}

void percent(std::string& out, unsigned char c) {
  out.push_back('%');
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 0xf]);
}

// Indices of args[0..count) ordered by name, then by position (each name's values stay in
// order). O(n log n); reuses a per-thread vector.
const std::vector<uint32_t>& by_name(const std::vector<Arg>& args, size_t count) {
  thread_local std::vector<uint32_t> idx;
  idx.resize(count);
  for (size_t i = 0; i < count; ++i) idx[i] = static_cast<uint32_t>(i);
  std::stable_sort(idx.begin(), idx.end(),
                   [&](uint32_t a, uint32_t b) { return args[a].name < args[b].name; });
  return idx;
}

// Appends the group "k=v1&k=v2" made of idx[from, to).
void encode_group(std::string& out, const std::vector<Arg>& args, const std::vector<uint32_t>& idx,
                  size_t from, size_t to) {
  for (size_t k = from; k < to; ++k) {
    const Arg& a = args[idx[k]];
    if (k != from) out.push_back('&');
    escape_component(out, a.name);
    if (!a.flag) {
      out.push_back('=');
      escape_component(out, a.value);
    }
  }
}

// Calls fn(from, to) for each run of equal names in `idx`.
template <class F>
void for_each_group(const std::vector<Arg>& args, const std::vector<uint32_t>& idx, F&& fn) {
  for (size_t from = 0; from < idx.size();) {
    size_t to = from + 1;
    while (to < idx.size() && args[idx[to]].name == args[idx[from]].name) ++to;
    fn(from, to);
    from = to;
  }
}

}  // namespace

void unescape(std::string& out, std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
}

void escape_component(std::string& out, std::string_view s) {
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (keep_in_component(c)) {
      out.push_back(ch);
    } else {
      percent(out, c);
    }
  }
}

void escape_path(std::string& out, std::string_view path) {
  for (char ch : path) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (keep_in_path(c)) {
      out.push_back(ch);
    } else {
      percent(out, c);
    }
  }
}

size_t parse_args(std::string_view s, std::vector<Arg>& out, size_t count) {
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t amp = s.find('&', pos);
    if (amp == std::string_view::npos) amp = s.size();
    std::string_view part = s.substr(pos, amp - pos);
    pos = amp + 1;
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string_view key = eq == std::string_view::npos ? part : part.substr(0, eq);
    if (key.empty()) continue;
    if (count == out.size()) out.emplace_back();
    Arg& a = out[count++];
    a.name.clear();
    a.value.clear();
    unescape(a.name, key);
    a.flag = eq == std::string_view::npos;
    if (!a.flag) unescape(a.value, part.substr(eq + 1));
  }
  return count;
}

void encode_sorted(std::string& out, const std::vector<Arg>& args, size_t count) {
  // Kong sorts the encoded groups; groups of distinct names never tie.
  thread_local std::vector<std::string> groups;
  const std::vector<uint32_t>& idx = by_name(args, count);
  size_t n = 0;
  for_each_group(args, idx, [&](size_t from, size_t to) {
    if (n == groups.size()) groups.emplace_back();
    groups[n].clear();
    encode_group(groups[n], args, idx, from, to);
    ++n;
  });
  std::sort(groups.begin(), groups.begin() + static_cast<std::ptrdiff_t>(n));
  for (size_t g = 0; g < n; ++g) {
    if (g) out.push_back('&');
    out.append(groups[g]);
  }
}

void encode_in_order(std::string& out, const std::vector<Arg>& args, size_t count) {
  // Groups in the order their name first appears.
  thread_local std::vector<std::pair<uint32_t, uint32_t>> spans;  // (from, to) into idx
  const std::vector<uint32_t>& idx = by_name(args, count);
  spans.clear();
  for_each_group(args, idx, [&](size_t from, size_t to) {
    spans.emplace_back(static_cast<uint32_t>(from), static_cast<uint32_t>(to));
  });
  std::sort(spans.begin(), spans.end(),
            [&](const auto& a, const auto& b) { return idx[a.first] < idx[b.first]; });
  bool first = true;
  for (const auto& [from, to] : spans) {
    if (!first) out.push_back('&');
    first = false;
    encode_group(out, args, idx, from, to);
  }
}

}  // namespace sbp::url
