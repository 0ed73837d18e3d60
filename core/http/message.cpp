#include "http/message.h"

namespace sb::http {
namespace {
inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    if (iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view MessageHead::get(std::string_view name, bool* found) const {
  for (const auto& f : fields_) {
    if (iequals(view(f.name), name)) {
      if (found) *found = true;
      return view(f.value);
    }
  }
  if (found) *found = false;
  return {};
}

size_t MessageHead::count(std::string_view name) const {
  size_t n = 0;
  for (const auto& f : fields_) n += iequals(view(f.name), name) ? 1 : 0;
  return n;
}

void MessageHead::clear() {
  arena_.clear();
  edits_.clear();
  fields_.clear();
  target_ = {};
  reason_ = {};
  in_value_ = false;
  http_major = http_minor = 1;
  method = status = 0;
  content_length = -1;
  chunked = false;
  keep_alive = true;
  upgrade = false;
}

void MessageHead::release() {
  clear();
  std::string().swap(arena_);
  std::string().swap(edits_);
  std::vector<Field>().swap(fields_);
}

void MessageHead::add_field(std::string_view name, std::string_view value) {
  if (name.empty()) return;
  // A view into edits_ itself (a value read from this head) would dangle when edits_ grows.
  auto inside = [&](std::string_view v) {
    return !v.empty() && v.data() >= edits_.data() && v.data() < edits_.data() + edits_.size();
  };
  if (inside(name) || inside(value)) {
    std::string n(name), v(value);
    add_field(n, v);
    return;
  }
  Field f;
  f.name = {static_cast<uint32_t>(edits_.size()) | kEdited, static_cast<uint32_t>(name.size())};
  edits_.append(name);
  f.value = {static_cast<uint32_t>(edits_.size()) | kEdited, static_cast<uint32_t>(value.size())};
  edits_.append(value);
  fields_.push_back(f);
  in_value_ = true;
}

size_t MessageHead::remove_fields(std::string_view name) {
  size_t before = fields_.size();
  std::erase_if(fields_, [&](const Field& f) { return iequals(view(f.name), name); });
  return before - fields_.size();
}

void MessageHead::append(Span& span, const char* p, size_t n) {
  if (span.length == 0) span.offset = static_cast<uint32_t>(arena_.size());
  arena_.append(p, n);
  span.length += static_cast<uint32_t>(n);
}

void MessageHead::append_name(const char* p, size_t n) {
  if (fields_.empty() || in_value_) {
    fields_.push_back({});
    in_value_ = false;
  }
  append(fields_.back().name, p, n);
}

void MessageHead::append_value(const char* p, size_t n) {
  if (fields_.empty()) fields_.push_back({});
  in_value_ = true;
  append(fields_.back().value, p, n);
}

void MessageHead::trim_last_value() {
  if (fields_.empty()) return;
  Span& v = fields_.back().value;
  while (v.length > 0) {
    char c = arena_[v.offset + v.length - 1];
    if (c != ' ' && c != '\t') break;
    --v.length;
  }
}

std::string_view status_reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Moved Temporarily";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Not Allowed";
    case 408:
      return "Request Time-out";
    case 411:
      return "Length Required";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "Request-URI Too Large";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Temporarily Unavailable";
    case 504:
      return "Gateway Time-out";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace sb::http
