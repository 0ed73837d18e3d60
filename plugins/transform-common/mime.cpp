#include "mime.h"

#include "text.h"

namespace sbp::mime {
namespace {

constexpr bool is_separator(char c) {
  switch (c) {
    case '(':
    case ')':
    case '<':
    case '>':
    case '@':
    case ',':
    case ';':
    case ':':
    case '\\':
    case '"':
    case '/':
    case '[':
    case ']':
    case '?':
    case '=':
    case '{':
    case '}':
    case ' ':
    case '\t':
      return true;
    default:
      return false;
  }
}

constexpr bool is_token_char(char ch) {
  unsigned char c = static_cast<unsigned char>(ch);
  return c < 128 && c > 31 && c != 127 && !is_separator(ch);
}

size_t scan_token(std::string_view s, size_t p) {
  size_t start = p;
  while (p < s.size() && is_token_char(s[p])) ++p;
  return p - start;
}

}  // namespace

bool parse(std::string_view s, std::string_view& type, std::string_view& subtype) {
  size_t p = 0;
  size_t n = scan_token(s, p);
  if (n == 0 || p + n >= s.size() || s[p + n] != '/') {
    if (s == "*") {
      type = subtype = s;
      return true;
    }
    return false;
  }
  type = s.substr(0, n);
  p = n + 1;
  n = scan_token(s, p);
  if (n == 0) return false;
  subtype = s.substr(p, n);
  p += n;
  // parameters: *( spacing ";" spacing attribute "=" value ), then the end of the string.
  while (p < s.size()) {
    while (p < s.size() && (s[p] == ' ' || s[p] == '\t')) ++p;
    if (p >= s.size() || s[p] != ';') return false;
    ++p;
    while (p < s.size() && (s[p] == ' ' || s[p] == '\t')) ++p;
    n = scan_token(s, p);
    if (n == 0) return false;
    p += n;
    if (p >= s.size() || s[p] != '=') return false;
    ++p;
    if (p < s.size() && s[p] == '"') {
      ++p;
      bool closed = false;
      while (p < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[p]);
        if (c == '"') {
          closed = true;
          ++p;
          break;
        }
        if (c == '\\') {
          if (p + 1 >= s.size() || static_cast<unsigned char>(s[p + 1]) > 127) return false;
          p += 2;
          continue;
        }
        if (c < 32 || c == 127) return false;
        ++p;
      }
      if (!closed) return false;
    } else {
      n = scan_token(s, p);
      if (n == 0) return false;
      p += n;
    }
  }
  return true;
}

bool is_json(std::string_view content_type) {
  size_t pos = 0;
  while (pos <= content_type.size()) {
    size_t comma = content_type.find(',', pos);
    if (comma == std::string_view::npos) comma = content_type.size();
    std::string_view part = trim(content_type.substr(pos, comma - pos));
    pos = comma + 1;
    std::string_view type, subtype;
    if (!parse(part, type, subtype) || type == "*") continue;
    if (!iequals(type, "application")) continue;
    if (iequals(subtype, "json")) return true;
    if (subtype.size() >= 5 && iequals(subtype.substr(subtype.size() - 5), "+json")) return true;
  }
  return false;
}

}  // namespace sbp::mime
