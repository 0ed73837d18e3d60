// A streaming JSON writer for the Admin API's responses (commas and escaping handled here).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"

namespace sb::admin {

class JsonWriter {
 public:
  JsonWriter& begin_object() { return open('{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array() { return open('['); }
  JsonWriter& end_array() { return close(']'); }
  JsonWriter& key(std::string_view k) {
    separate();
    out_ += '"';
    out_ += sb::json_escape(k);
    out_ += "\":";
    after_key_ = true;
    return *this;
  }
  JsonWriter& str(std::string_view v) {
    separate();
    out_ += '"';
    out_ += sb::json_escape(v);
    out_ += '"';
    return *this;
  }
  JsonWriter& num(int64_t v) { return raw(std::to_string(v)); }
  JsonWriter& num(double v);
  JsonWriter& boolean(bool v) { return raw(v ? "true" : "false"); }
  JsonWriter& null() { return raw("null"); }
  // Already-encoded JSON (e.g. a plugin's config).
  JsonWriter& raw(std::string_view json) {
    separate();
    out_.append(json);
    return *this;
  }

  // Field helpers in Kong's "nulls = true" rendering: unset values are null.
  JsonWriter& field(std::string_view k, std::string_view v) { return key(k).str(v); }
  JsonWriter& field(std::string_view k, const char* v) { return key(k).str(v); }
  JsonWriter& field(std::string_view k, int64_t v) { return key(k).num(v); }
  JsonWriter& field(std::string_view k, int v) { return key(k).num(static_cast<int64_t>(v)); }
  JsonWriter& field(std::string_view k, bool v) { return key(k).boolean(v); }
  JsonWriter& string_or_null(std::string_view k, std::string_view v) {
    return v.empty() ? key(k).null() : key(k).str(v);
  }
  // An array of strings, or null when empty (Kong stores unset arrays as null).
  JsonWriter& strings_or_null(std::string_view k, const std::vector<std::string>& v) {
    key(k);
    if (v.empty()) return null();
    begin_array();
    for (const auto& s : v) str(s);
    return end_array();
  }
  // A foreign key: {"id": "..."}, or null.
  JsonWriter& foreign(std::string_view k, const std::string* id) {
    key(k);
    if (id == nullptr || id->empty()) return null();
    return begin_object().field("id", *id).end_object();
  }

  std::string& text() { return out_; }

 private:
  JsonWriter& open(char c) {
    separate();
    out_ += c;
    first_.push_back(true);
    return *this;
  }
  JsonWriter& close(char c) {
    out_ += c;
    first_.pop_back();
    return *this;
  }
  void separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
    }
  }

  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

inline JsonWriter& JsonWriter::num(double v) {
  // Integral values print without a fraction, as cjson does ("1", not "1.0").
  if (v == static_cast<double>(static_cast<int64_t>(v))) return num(static_cast<int64_t>(v));
  char buf[32];
  int n = std::snprintf(buf, sizeof(buf), "%.14g", v);
  return raw(std::string_view(buf, static_cast<size_t>(n)));
}

}  // namespace sb::admin
