// An HTTP/1.x message head (request or response) as parsed by llhttp, stored compactly: the
// request target and every header name/value live in one arena string, fields are offsets.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sb::http {

// ASCII case-insensitive equality (header names, tokens).
bool iequals(std::string_view a, std::string_view b);
// True if the comma-separated token list `list` contains `token` (case-insensitive).
bool has_token(std::string_view list, std::string_view token);
std::string_view trim(std::string_view s);

struct Span {
  uint32_t offset = 0;
  uint32_t length = 0;
};

struct Field {
  Span name;
  Span value;
};

class MessageHead {
 public:
  std::string_view target() const { return view(target_); }  // request target (URL) as sent
  std::string_view reason() const { return view(reason_); }  // response reason phrase
  size_t field_count() const { return fields_.size(); }
  std::string_view name(size_t i) const { return view(fields_[i].name); }
  std::string_view value(size_t i) const { return view(fields_[i].value); }
  // First value of a header (case-insensitive name), or empty with found=false.
  std::string_view get(std::string_view name, bool* found = nullptr) const;
  size_t count(std::string_view name) const;

  int http_major = 1;
  int http_minor = 1;
  int method = 0;               // llhttp_method_t for requests
  int status = 0;               // responses
  int64_t content_length = -1;  // -1 when absent
  bool chunked = false;
  bool keep_alive = true;
  bool upgrade = false;

  // Builder side, used by the parser.
  void clear();
  void release();  // also frees the arena (idle keep-alive connections hold no memory)
  size_t bytes() const { return arena_.size(); }
  size_t capacity() const { return arena_.capacity(); }
  void append_target(const char* p, size_t n) { append(target_, p, n); }
  void append_reason(const char* p, size_t n) { append(reason_, p, n); }
  void append_name(const char* p, size_t n);
  void append_value(const char* p, size_t n);
  void trim_last_value();

  // Editing side, used by plugins (kong.service.request / kong.response headers). Appends to the
  // arena, so views taken earlier may dangle afterwards.
  void add_field(std::string_view name, std::string_view value);
  size_t remove_fields(std::string_view name);  // every field of that name; returns how many
  void set_field(std::string_view name, std::string_view value) {
    remove_fields(name);
    add_field(name, value);
  }
  void clear_reason() { reason_ = {}; }

 private:
  // Fields added by plugins live in `edits_` (offset flagged with kEdited), so editing never
  // moves the parsed arena that the request's other views (path, query, Host) point into.
  static constexpr uint32_t kEdited = 0x80000000u;
  std::string_view view(Span s) const {
    return (s.offset & kEdited) ? std::string_view(edits_.data() + (s.offset & ~kEdited), s.length)
                                : std::string_view(arena_.data() + s.offset, s.length);
  }
  void append(Span& span, const char* p, size_t n);
  std::string arena_;
  std::string edits_;
  Span target_;
  Span reason_;
  std::vector<Field> fields_;
  bool in_value_ = false;
};

// Reason phrase for a status code ("OK", "Not Found", ...); "Unknown" when unknown.
std::string_view status_reason(int status);

}  // namespace sb::http
