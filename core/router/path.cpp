// Path normalization, upstream path joining and escaping (kong-compat.md §2.1, §2.5).
#include "router/path_internal.h"

#include <cstring>

#include "router/router.h"

namespace sb::router {
namespace detail {

namespace {

// RFC 3986 reserved characters plus '%': Kong never decodes these (kong/tools/uri.lua).
bool is_reserved(unsigned char c) {
  switch (c) {
    case '!':
    case '*':
    case '\'':
    case '(':
    case ')':
    case ';':
    case ':':
    case '@':
    case '&':
    case '=':
    case '+':
    case '$':
    case ',':
    case '/':
    case '?':
    case '%':
    case '#':
    case '[':
    case ']':
      return true;
    default:
      return false;
  }
}

// Decoded characters that Kong's regex-path migration escapes with a backslash.
bool is_regex_meta(unsigned char c) {
  switch (c) {
    case '.':
    case '^':
    case '-':
    case '{':
    case '}':
    case '\\':
    case '|':
      return true;
    default:
      return false;
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr char kHexUpper[] = "0123456789ABCDEF";

// Kong's escape set: A-Z a-z 0-9 - . _ ~ ! # $ & ' ( ) * + , / : ; = ? @ [ ] %
constexpr bool escape_allowed(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '-':
    case '.':
    case '_':
    case '~':
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
    case '%':
      return true;
    default:
      return false;
  }
}

// Percent-decodes `in` into `out` the way Kong does: reserved characters stay encoded (hex
// upper-cased). `strict`: a '%' not followed by two hex digits fails; otherwise it is kept.
// `escape_meta`: decoded regex meta characters get a backslash (regex path migration).
bool percent_decode(std::string_view in, std::string& out, bool strict, bool escape_meta) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (in.size() - i < 3) {  // fewer than two characters left
      if (strict) return false;
      out.push_back(c);
      continue;
    }
    int h = hex_value(in[i + 1]);
    int l = hex_value(in[i + 2]);
    if (h < 0 || l < 0) {
      if (strict) return false;
      out.push_back(c);
      continue;
    }
    auto decoded = static_cast<unsigned char>(h * 16 + l);
    if (is_reserved(decoded)) {
      out.push_back('%');
      out.push_back(kHexUpper[h]);
      out.push_back(kHexUpper[l]);
    } else {
      if (escape_meta && is_regex_meta(decoded)) out.push_back('\\');
      out.push_back(static_cast<char>(decoded));
    }
    i += 2;
  }
  return true;
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && std::memcmp(s.data(), p.data(), p.size()) == 0;
}

}  // namespace

void remove_dot_segments(std::string& s) {
  // Kong's loop (kong/tools/uri.lua normalize with merge_slashes), done in place: the output
  // (s[0, w)) never overtakes the input still to read (s[r, n)).
  const size_t n = s.size();
  size_t r = 0;
  size_t w = 0;
  auto pop = [&] {
    while (w > 0 && s[w - 1] != '/') --w;
    if (w > 0) --w;  // drop the segment's leading '/'
  };
  while (r < n) {
    std::string_view u(s.data() + r, n - r);
    if (u == "/.") {
      s[w++] = '/';
      break;
    }
    if (u == "/..") {
      pop();
      s[w++] = '/';
      break;
    }
    if (u == "." || u == "..") break;
    if (starts_with(u, "../")) {
      r += 3;
    } else if (starts_with(u, "./")) {
      r += 2;
    } else if (starts_with(u, "/./")) {
      r += 2;
    } else if (starts_with(u, "/../")) {
      r += 3;
      pop();
    } else if (starts_with(u, "//")) {
      r += 1;
    } else {
      size_t next = u.find('/', 1);
      size_t len = next == std::string_view::npos ? u.size() : next;
      if (w != r) std::memmove(s.data() + w, s.data() + r, len);
      w += len;
      r += len;
    }
  }
  s.resize(w);
}

bool normalize(std::string_view raw, std::string& out, bool strict) {
  if (!percent_decode(raw, out, strict, false)) return false;
  if (out.find('.') != std::string::npos || out.find("//") != std::string::npos) {
    remove_dot_segments(out);
  }
  return true;
}

std::string normalize_regex(std::string_view regex) {
  std::string out;
  percent_decode(regex, out, false, true);
  return out;
}

std::string_view sanitize_postfix(std::string_view postfix) {
  if (postfix == "." || postfix == "..") return {};
  if (starts_with(postfix, "./")) return postfix.substr(2);
  if (starts_with(postfix, "../")) return postfix.substr(3);
  return postfix;
}

void append_escaped(std::string& out, std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (escape_allowed(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHexUpper[c >> 4]);
      out.push_back(kHexUpper[c & 0xF]);
    }
  }
}

template <typename Put>
static void join(Put&& put, std::string_view base, std::string_view req, std::string_view prefix,
                 bool strip_path, bool v1) {
  if (base.empty()) base = "/";
  if (req.empty()) req = "/";
  std::string_view postfix;
  if (strip_path && !prefix.empty()) {
    postfix = sanitize_postfix(req.substr(prefix.size() < req.size() ? prefix.size() : req.size()));
  } else {
    postfix = sanitize_postfix(req.substr(1));
  }
  const bool base_slash = base.back() == '/';
  const bool post_slash = !postfix.empty() && postfix.front() == '/';
  if (v1) {
    if (strip_path) {
      put(base_slash && post_slash ? base.substr(0, base.size() - 1) : base);
      put(postfix);
    } else {
      put(base);
      put(req.substr(1));
    }
    return;
  }
  if (base_slash) {
    if (!strip_path) {
      put(base);
      put(req.substr(1));
    } else if (postfix.empty()) {
      if (base == "/") {
        put("/");
      } else if (req.back() == '/') {
        put(base);
      } else {
        put(base.substr(0, base.size() - 1));
      }
    } else if (post_slash) {
      put(base.substr(0, base.size() - 1));
      put(postfix);
    } else {
      put(base);
      put(postfix);
    }
    return;
  }
  if (!strip_path) {
    put(base);
    if (req != "/") put(req);
  } else if (postfix.empty()) {
    put(base);
    if (req.size() > 1 && req.back() == '/') put("/");
  } else if (post_slash) {
    put(base);
    put(postfix);
  } else {
    put(base);
    put("/");
    put(postfix);
  }
}

void join_escaped(std::string& out, std::string_view base, std::string_view req,
                  std::string_view prefix, bool strip_path, bool v1) {
  out.clear();
  join([&](std::string_view piece) { append_escaped(out, piece); }, base, req, prefix, strip_path,
       v1);
}

}  // namespace detail

bool normalize_path(std::string_view raw_target, std::string& out) {
  size_t q = raw_target.find('?');
  if (q != std::string_view::npos) raw_target = raw_target.substr(0, q);
  if (raw_target.empty() || raw_target.front() != '/') {
    out.clear();
    return false;
  }
  if (!detail::normalize(raw_target, out, true)) {
    out.clear();
    return false;
  }
  if (out.empty()) out.push_back('/');
  return true;
}

std::string join_upstream_path(std::string_view service_path, std::string_view request_path,
                               std::string_view prefix, bool strip_path,
                               std::string_view handling) {
  std::string out;
  detail::join([&](std::string_view piece) { out.append(piece); }, service_path, request_path,
               prefix, strip_path, handling == "v1");
  return out;
}

std::string escape_upstream_path(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  detail::append_escaped(out, path);
  return out;
}

bool is_legacy_regex_path(std::string_view path) {
  for (char ch : path) {
    auto c = static_cast<unsigned char>(ch);
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_' || c == '~' || c == '/' || c == '%';
    if (!plain) return true;
  }
  return false;
}

std::string migrate_legacy_path(std::string_view path) {
  if (!is_legacy_regex_path(path)) {
    std::string out;
    detail::normalize(path, out, false);
    return out;
  }
  std::string out = "~";
  out += detail::normalize_regex(path);
  return out;
}

}  // namespace sb::router
