// Silverback plugin test kit: an in-process fake host for unit tests (GoogleTest or not).
//
//   sb::testing::Host host;                                   // the fake gateway (this thread
//   auto plugin = host.load(&sb_plugin_entry_v1);            //   is its worker)
//   auto cfg = plugin.compile(R"({"header": "x-key"})");     // schema defaults filled in
//   auto req = host.request({.method = "GET", .path = "/", .headers = {{"x-key", "1"}}});
//   req.add(cfg);
//   EXPECT_EQ(req.access(), SB_PENDING);                    // phases run in Kong's order
//   host.advance(50);                                         // fire due timers
//   EXPECT_EQ(req.upstream_header("x-hello-delayed"), "1");
//   req.run();                                                // proxy to the fake upstream,
//   filters, log EXPECT_EQ(req.response_header("x-hello"), "world");
//
// The host enforces plugin.h: the phase table of every slot (SB_E_WRONG_PHASE), the worker
// thread (SB_E_WRONG_THREAD), live ctx pointers, exactly-once non-re-entrant completions (they
// only run from Host::advance/complete_http/..., never inside a plugin call except cancel()),
// resume rules, and the respond/SB_EXITED pairing. Views it returns are poisoned (overwritten
// with 0xDD) when the hook or completion returns, or when the same header map changes, so a
// plugin that keeps a view reads garbage in its tests instead of in production. Contract
// violations are recorded (Host::violations()) and, with GoogleTest, reported as failures.
//
// Plugins come in two ways: link the plugin's sources into the test and pass its entry
// function to Host::load (compile them with -Dsb_plugin_entry_v1=<unique name> when several
// plugins share one test binary), or Host::load_library("path/to/plugin.so") (dlopen).
//
// Header-only; needs -ldl only on glibc < 2.34. Single-threaded like a worker: one Host per test.
#ifndef SILVERBACK_TESTING_HPP
#define SILVERBACK_TESTING_HPP

#include <arpa/inet.h>
#include <dlfcn.h>
#include <sys/socket.h>
#include <silverback/plugin.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#if !defined(SB_TESTING_NO_GTEST) && __has_include(<gtest/gtest.h>)
#include <gtest/gtest.h>
#define SB_TESTING_HAS_GTEST 1
#endif

namespace sb::testing {

// ---- JSON: a small parser and tree, also the fake host's sb_value ---------------------------

class JsonError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Json {
 public:
  Json() = default;  // null
  static Json boolean(bool b) {
    Json j;
    j.kind_ = SB_VALUE_BOOL;
    j.i_ = b ? 1 : 0;
    return j;
  }
  static Json integer(int64_t v) {
    Json j;
    j.kind_ = SB_VALUE_INTEGER;
    j.i_ = v;
    return j;
  }
  static Json number(double v) {
    Json j;
    j.kind_ = SB_VALUE_NUMBER;
    j.d_ = v;
    return j;
  }
  static Json string(std::string s) {
    Json j;
    j.kind_ = SB_VALUE_STRING;
    j.s_ = std::move(s);
    return j;
  }
  static Json array() {
    Json j;
    j.kind_ = SB_VALUE_ARRAY;
    return j;
  }
  static Json object() {
    Json j;
    j.kind_ = SB_VALUE_OBJECT;
    return j;
  }
  // Parses one JSON text (RFC 8259); throws JsonError with the byte offset.
  static Json parse(std::string_view text) {
    Parser p{text, 0};
    p.ws();
    Json j = p.value(0);
    p.ws();
    if (p.i != text.size()) p.fail("trailing characters");
    return j;
  }

  int32_t kind() const { return kind_; }
  bool is_null() const { return kind_ == SB_VALUE_NULL; }
  bool is_bool() const { return kind_ == SB_VALUE_BOOL; }
  bool is_integer() const { return kind_ == SB_VALUE_INTEGER; }
  bool is_number() const { return kind_ == SB_VALUE_NUMBER || kind_ == SB_VALUE_INTEGER; }
  bool is_string() const { return kind_ == SB_VALUE_STRING; }
  bool is_array() const { return kind_ == SB_VALUE_ARRAY; }
  bool is_object() const { return kind_ == SB_VALUE_OBJECT; }
  bool as_bool() const { return kind_ == SB_VALUE_BOOL && i_ != 0; }
  int64_t as_int() const {
    if (kind_ == SB_VALUE_INTEGER || kind_ == SB_VALUE_BOOL) return i_;
    if (kind_ == SB_VALUE_NUMBER) return static_cast<int64_t>(d_);
    return 0;
  }
  double as_double() const {
    if (kind_ == SB_VALUE_NUMBER) return d_;
    if (kind_ == SB_VALUE_INTEGER) return static_cast<double>(i_);
    return 0;
  }
  const std::string& as_string() const { return s_; }

  size_t size() const { return items_.size(); }
  const Json& at(size_t i) const { return i < items_.size() ? items_[i] : null_json(); }
  const std::string& key_at(size_t i) const {
    static const std::string empty;
    return is_object() && i < keys_.size() ? keys_[i] : empty;
  }
  const Json* find(std::string_view key) const {
    if (!is_object()) return nullptr;
    for (size_t i = 0; i < keys_.size(); ++i)
      if (keys_[i] == key) return &items_[i];
    return nullptr;
  }
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  const Json& operator[](std::string_view key) const {
    const Json* j = find(key);
    return j ? *j : null_json();
  }
  const Json& operator[](size_t i) const { return at(i); }
  const std::vector<Json>& items() const { return items_; }
  const std::vector<std::string>& keys() const { return keys_; }

  Json& set(std::string_view key, Json v) {
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (keys_[i] == key) {
        items_[i] = std::move(v);
        return items_[i];
      }
    }
    keys_.emplace_back(key);
    items_.push_back(std::move(v));
    return items_.back();
  }
  Json& push(Json v) {
    items_.push_back(std::move(v));
    return items_.back();
  }

  // Compact JSON.
  std::string dump() const {
    std::string out;
    dump_to(out);
    return out;
  }
  void dump_to(std::string& out) const {
    switch (kind_) {
      case SB_VALUE_NULL:
        out += "null";
        break;
      case SB_VALUE_BOOL:
        out += i_ ? "true" : "false";
        break;
      case SB_VALUE_INTEGER:
        out += std::to_string(i_);
        break;
      case SB_VALUE_NUMBER: {
        char buf[32];
        auto r = std::to_chars(buf, buf + sizeof buf, d_);
        out.append(buf, r.ptr);
        break;
      }
      case SB_VALUE_STRING:
        sb::json::quote_to(out, s_);
        break;
      case SB_VALUE_ARRAY:
      case SB_VALUE_OBJECT: {
        out.push_back(is_array() ? '[' : '{');
        for (size_t i = 0; i < items_.size(); ++i) {
          if (i) out.push_back(',');
          if (is_object()) {
            sb::json::quote_to(out, keys_[i]);
            out.push_back(':');
          }
          items_[i].dump_to(out);
        }
        out.push_back(is_array() ? ']' : '}');
        break;
      }
    }
  }
  friend bool operator==(const Json& a, const Json& b) {
    if (a.is_number() && b.is_number() &&
        (a.kind_ == SB_VALUE_NUMBER || b.kind_ == SB_VALUE_NUMBER))
      return a.as_double() == b.as_double();
    if (a.kind_ != b.kind_) return false;
    switch (a.kind_) {
      case SB_VALUE_NULL:
        return true;
      case SB_VALUE_BOOL:
      case SB_VALUE_INTEGER:
        return a.i_ == b.i_;
      case SB_VALUE_STRING:
        return a.s_ == b.s_;
      default:
        return a.keys_ == b.keys_ && a.items_ == b.items_;
    }
  }

  // The fake host hands these out as sb_value (an opaque type on both sides of the ABI).
  const sb_value* as_value() const { return reinterpret_cast<const sb_value*>(this); }
  static const Json* from_value(const sb_value* v) { return reinterpret_cast<const Json*>(v); }

 private:
  static const Json& null_json() {
    static const Json n;
    return n;
  }
  struct Parser {
    std::string_view t;
    size_t i;
    [[noreturn]] void fail(const char* what) const {
      throw JsonError(std::string("JSON: ") + what + " at offset " + std::to_string(i));
    }
    void ws() {
      while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) ++i;
    }
    bool eat(std::string_view lit) {
      if (t.substr(i, lit.size()) != lit) return false;
      i += lit.size();
      return true;
    }
    Json value(int depth) {
      if (depth > 200) fail("nesting too deep");
      if (i >= t.size()) fail("unexpected end");
      char c = t[i];
      if (c == '{') return object(depth);
      if (c == '[') return array(depth);
      if (c == '"') return Json::string(str());
      if (eat("true")) return Json::boolean(true);
      if (eat("false")) return Json::boolean(false);
      if (eat("null")) return Json();
      if (c == '-' || (c >= '0' && c <= '9')) return num();
      fail("unexpected character");
    }
    Json object(int depth) {
      Json o = Json::object();
      ++i;
      ws();
      if (i < t.size() && t[i] == '}') {
        ++i;
        return o;
      }
      for (;;) {
        ws();
        if (i >= t.size() || t[i] != '"') fail("expected a key");
        std::string k = str();
        ws();
        if (i >= t.size() || t[i] != ':') fail("expected ':'");
        ++i;
        ws();
        o.keys_.push_back(std::move(k));
        o.items_.push_back(value(depth + 1));
        ws();
        if (i < t.size() && t[i] == ',') {
          ++i;
          continue;
        }
        if (i < t.size() && t[i] == '}') {
          ++i;
          return o;
        }
        fail("expected ',' or '}'");
      }
    }
    Json array(int depth) {
      Json a = Json::array();
      ++i;
      ws();
      if (i < t.size() && t[i] == ']') {
        ++i;
        return a;
      }
      for (;;) {
        ws();
        a.items_.push_back(value(depth + 1));
        ws();
        if (i < t.size() && t[i] == ',') {
          ++i;
          continue;
        }
        if (i < t.size() && t[i] == ']') {
          ++i;
          return a;
        }
        fail("expected ',' or ']'");
      }
    }
    unsigned hex4() {
      if (i + 4 > t.size()) fail("bad \\u escape");
      unsigned v = 0;
      for (int k = 0; k < 4; ++k) {
        char c = t[i++];
        v <<= 4;
        if (c >= '0' && c <= '9')
          v |= static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f')
          v |= static_cast<unsigned>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
          v |= static_cast<unsigned>(c - 'A' + 10);
        else
          fail("bad \\u escape");
      }
      return v;
    }
    static void utf8(std::string& out, uint32_t cp) {
      if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
      } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
      } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
      } else {
        out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
      }
    }
    std::string str() {
      ++i;  // opening quote
      std::string out;
      for (;;) {
        if (i >= t.size()) fail("unterminated string");
        char c = t[i++];
        if (c == '"') return out;
        if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
        if (c != '\\') {
          out.push_back(c);
          continue;
        }
        if (i >= t.size()) fail("unterminated string");
        char e = t[i++];
        switch (e) {
          case '"':
            out.push_back('"');
            break;
          case '\\':
            out.push_back('\\');
            break;
          case '/':
            out.push_back('/');
            break;
          case 'b':
            out.push_back('\b');
            break;
          case 'f':
            out.push_back('\f');
            break;
          case 'n':
            out.push_back('\n');
            break;
          case 'r':
            out.push_back('\r');
            break;
          case 't':
            out.push_back('\t');
            break;
          case 'u': {
            uint32_t cp = hex4();
            if (cp >= 0xd800 && cp <= 0xdbff) {
              if (!eat("\\u")) fail("lone surrogate");
              uint32_t lo = hex4();
              if (lo < 0xdc00 || lo > 0xdfff) fail("bad surrogate pair");
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
              fail("lone surrogate");
            }
            utf8(out, cp);
            break;
          }
          default:
            fail("bad escape");
        }
      }
    }
    Json num() {
      size_t start = i;
      if (t[i] == '-') ++i;
      if (i >= t.size() || !(t[i] >= '0' && t[i] <= '9')) fail("bad number");
      if (t[i] == '0') {
        ++i;
      } else {
        while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
      }
      bool is_int = true;
      if (i < t.size() && t[i] == '.') {
        is_int = false;
        ++i;
        if (i >= t.size() || !(t[i] >= '0' && t[i] <= '9')) fail("bad number");
        while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
      }
      if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
        is_int = false;
        ++i;
        if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
        if (i >= t.size() || !(t[i] >= '0' && t[i] <= '9')) fail("bad number");
        while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
      }
      const char* b = t.data() + start;
      const char* e = t.data() + i;
      if (is_int) {
        int64_t v = 0;
        auto r = std::from_chars(b, e, v);
        if (r.ec == std::errc() && r.ptr == e) return Json::integer(v);
      }
      double d = 0;
      auto r = std::from_chars(b, e, d);
      if (r.ec != std::errc() || r.ptr != e) fail("bad number");
      return Json::number(d);
    }
  };

  int32_t kind_ = SB_VALUE_NULL;
  int64_t i_ = 0;
  double d_ = 0;
  std::string s_;
  std::vector<std::string> keys_;  // objects: keys_[i] names items_[i]
  std::vector<Json> items_;
};

// ---- Kong schema subset: validation and defaults for configs ---------------------------------
//
// What the fake host checks (the real host's schema library does more): unknown fields,
// required, types (string, integer, number, boolean, array, set, map, record, json), defaults
// (absent optional fields become null, as Kong stores them; absent records get their fields'
// defaults), one_of, between, gt, len_min, len_max, starts_with, elements, keys/values, nested
// records. Error messages use Kong's vocabulary: "config.header: required field missing".
namespace schema {

inline std::string quote_list(const Json& list) {
  std::string out;
  for (size_t i = 0; i < list.size(); ++i) {
    if (i) out += ", ";
    out += list[i].is_string() ? "'" + list[i].as_string() + "'" : list[i].dump();
  }
  return out;
}

inline std::string num_text(const Json& j) { return j.dump(); }

// Validates `in` against one field schema ({"type": ...}); returns the stored value.
inline Json field(const Json& fs, const Json* in, const std::string& path,
                  std::vector<std::string>& errors);

inline Json record(const Json& fields, const Json* in, const std::string& path,
                   std::vector<std::string>& errors) {
  Json out = Json::object();
  if (in && !in->is_object()) {
    errors.push_back(path + ": expected a record");
    return out;
  }
  std::set<std::string> known;
  for (const Json& entry : fields.items()) {
    if (!entry.is_object() || entry.size() != 1) continue;
    const std::string& name = entry.key_at(0);
    known.insert(name);
    const Json* v = in ? in->find(name) : nullptr;
    out.set(name, field(entry.at(0), v, path.empty() ? name : path + "." + name, errors));
  }
  if (in) {
    for (const std::string& k : in->keys())
      if (!known.count(k))
        errors.push_back((path.empty() ? k : path + "." + k) + ": unknown field");
  }
  return out;
}

inline Json field(const Json& fs, const Json* in, const std::string& path,
                  std::vector<std::string>& errors) {
  const std::string type = fs["type"].as_string();
  if (!in || in->is_null()) {
    if (const Json* d = fs.find("default"); d && !d->is_null()) return *d;
    if (fs["required"].as_bool()) {
      errors.push_back(path + ": required field missing");
      return Json();
    }
    if (type == "record" && fs.contains("fields"))
      return record(fs["fields"], nullptr, path, errors);
    return Json();
  }
  const Json& v = *in;
  auto expect = [&](bool ok, const char* what) {
    if (!ok) errors.push_back(path + ": expected " + what);
    return ok;
  };
  Json out = v;
  if (type == "string") {
    if (!expect(v.is_string(), "a string")) return v;
    size_t n = v.as_string().size();
    if (fs.contains("len_min") && n < static_cast<size_t>(fs["len_min"].as_int()))
      errors.push_back(path + ": length must be at least " + num_text(fs["len_min"]));
    if (fs.contains("len_max") && n > static_cast<size_t>(fs["len_max"].as_int()))
      errors.push_back(path + ": length must be at most " + num_text(fs["len_max"]));
    if (fs.contains("starts_with") && v.as_string().rfind(fs["starts_with"].as_string(), 0) != 0)
      errors.push_back(path + ": should start with: " + fs["starts_with"].as_string());
  } else if (type == "integer") {
    bool ok = v.is_integer() || (v.is_number() && v.as_double() == static_cast<double>(v.as_int()));
    if (!expect(ok, "an integer")) return v;
    out = Json::integer(v.as_int());
  } else if (type == "number") {
    if (!expect(v.is_number(), "a number")) return v;
  } else if (type == "boolean") {
    if (!expect(v.is_bool(), "a boolean")) return v;
  } else if (type == "array" || type == "set") {
    if (!expect(v.is_array(), type == "array" ? "an array" : "a set")) return v;
    out = Json::array();
    for (size_t i = 0; i < v.size(); ++i) {
      Json item = fs.contains("elements") ? field(fs["elements"], &v[i],
                                                  path + "[" + std::to_string(i + 1) + "]", errors)
                                          : v[i];
      if (type == "set" &&
          std::find(out.items().begin(), out.items().end(), item) != out.items().end())
        continue;
      out.push(std::move(item));
    }
    if (fs.contains("len_min") && out.size() < static_cast<size_t>(fs["len_min"].as_int()))
      errors.push_back(path + ": length must be at least " + num_text(fs["len_min"]));
    if (fs.contains("len_max") && out.size() > static_cast<size_t>(fs["len_max"].as_int()))
      errors.push_back(path + ": length must be at most " + num_text(fs["len_max"]));
  } else if (type == "map") {
    if (!expect(v.is_object(), "a map")) return v;
    out = Json::object();
    for (size_t i = 0; i < v.size(); ++i) {
      std::string p = path + "." + v.key_at(i);
      if (fs.contains("keys")) {
        Json k = Json::string(v.key_at(i));
        field(fs["keys"], &k, p, errors);
      }
      out.set(v.key_at(i), fs.contains("values") ? field(fs["values"], &v[i], p, errors) : v[i]);
    }
  } else if (type == "record") {
    return record(fs["fields"], &v, path, errors);
  } else if (type == "json" || type.empty()) {
    // anything
  }
  if (const Json* one_of = fs.find("one_of")) {
    if (std::find(one_of->items().begin(), one_of->items().end(), out) == one_of->items().end())
      errors.push_back(path + ": expected one of: " + quote_list(*one_of));
  }
  if (const Json* b = fs.find("between"); b && b->size() == 2 && out.is_number()) {
    if (out.as_double() < (*b)[0].as_double() || out.as_double() > (*b)[1].as_double())
      errors.push_back(path + ": value should be between " + num_text((*b)[0]) + " and " +
                       num_text((*b)[1]));
  }
  if (const Json* gt = fs.find("gt"); gt && out.is_number() && !(out.as_double() > gt->as_double()))
    errors.push_back(path + ": value must be greater than " + num_text(*gt));
  return out;
}

// The "config" record of a plugin schema ({"fields":[{"config":{"type":"record",...}}]}), or
// null if the schema has none.
inline const Json* config_record(const Json& plugin_schema) {
  for (const Json& entry : plugin_schema["fields"].items())
    if (entry.is_object() && entry.size() == 1 && entry.key_at(0) == "config") return &entry.at(0);
  return nullptr;
}

}  // namespace schema

// ---- What tests describe and inspect --------------------------------------------------------

using Headers = std::vector<std::pair<std::string, std::string>>;

// What the fake upstream answers (or an http_call completion carries).
struct FakeResponse {
  int status = 200;
  Headers headers{};
  std::string body{};
  std::vector<std::string> chunks{};  // if set, the body as it arrives (body_filter calls)
};

// The client request. Entity rows and consumers live on the Host.
struct FakeRequest {
  std::string method = "GET";
  std::string scheme = "http";
  std::string host = "example.com";
  int64_t port = 8000;
  std::string path = "/";  // normalized; raw_path defaults to it
  std::string query{};     // raw query, no '?'
  Headers headers{};       // a Host header is added from `host` unless present
  std::string body{};
  std::string raw_path{};
  std::string http_version = "1.1";
  std::string client_ip = "127.0.0.1";
  int64_t client_port = 40000;
  std::string forwarded_ip{};  // defaults to client_ip
  std::string request_id = "00000000000000000000000000000001";
  std::string sni{};
  std::string route_id = "route-1";  // empty: no route (also no service)
  std::string route_name = "route";
  std::string service_id = "service-1";
  std::string service_name = "service";
  std::map<std::string, std::string> captures{};  // "0", "1", ..., or group names
  FakeResponse upstream{};                        // what the service answers
};

// Where a plugin instance is configured (Kong's scoping). Rewrite runs global instances only.
struct Scope {
  bool global = true;
  std::string route_id{}, service_id{}, consumer_id{};
};

enum class Phase {
  None,
  Certificate,
  Rewrite,
  Access,
  Response,
  HeaderFilter,
  BodyFilter,
  Log,
  Done,
};

inline const char* phase_name(Phase p) {
  switch (p) {
    case Phase::None:
      return "none";
    case Phase::Certificate:
      return "certificate";
    case Phase::Rewrite:
      return "rewrite";
    case Phase::Access:
      return "access";
    case Phase::Response:
      return "response";
    case Phase::HeaderFilter:
      return "header_filter";
    case Phase::BodyFilter:
      return "body_filter";
    case Phase::Log:
      return "log";
    case Phase::Done:
      return "done";
  }
  return "?";
}

struct LogLine {
  int32_t level;
  std::string plugin;
  std::string message;
};

struct HttpCall {  // an outbound call waiting for complete_http / fail_http
  sb_op id = 0;
  std::string method, url;
  Headers headers;
  std::string body;
  uint32_t timeout_ms = 0;
  uint32_t flags = 0;
  bool from_worker = false;
};

struct ExitInfo {  // what respond()/respond_error() recorded, or the host's error answer
  int status = 0;
  Headers headers;
  std::string body;
  std::string source;  // "exit" or "error"
};

struct HostOptions {
  uint32_t abi_minor = SB_ABI_MINOR;
  uint32_t api_size = sizeof(sb_host_api);  // smaller: simulate an older host's table
  std::string host_version = "0.0.0-fake";
  std::string node_id = "11111111-2222-3333-4444-555555555555";
  std::string hostname = "fake-node";
  std::vector<std::string> trusted_ips{};  // CIDRs or addresses
  size_t body_limit = 1 << 20;             // request / buffered response body limit
  uint64_t start_ms = 1700000000000;       // the fake clock, Unix epoch ms
  int64_t worker_id = 0;
  bool echo_logs = false;  // also print log lines to stderr
  // Contract violations are always recorded (Host::violations()); with GoogleTest they are also
  // test failures unless this is false (for tests that provoke them on purpose).
  bool fail_on_violation = true;
};

class Host;
class Request;

namespace detail {

constexpr uint32_t kIW = 1, kCERT = 2, kRW = 4, kACC = 8, kRESP = 16, kHF = 32, kBF = 64,
                   kLOG = 128;
constexpr uint32_t kREQ = kRW | kACC | kRESP | kHF | kBF | kLOG;
constexpr uint32_t kALL = kREQ | kIW | kCERT;

inline uint32_t phase_bit(Phase p) {
  switch (p) {
    case Phase::Certificate:
      return kCERT;
    case Phase::Rewrite:
      return kRW;
    case Phase::Access:
      return kACC;
    case Phase::Response:
      return kRESP;
    case Phase::HeaderFilter:
      return kHF;
    case Phase::BodyFilter:
      return kBF;
    case Phase::Log:
      return kLOG;
    default:
      return 0;
  }
}

inline char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
// Header names: case-insensitive, '_' matches '-' (plugin.h).
inline bool name_eq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = lower(a[i]) == '_' ? '-' : lower(a[i]);
    char y = lower(b[i]) == '_' ? '-' : lower(b[i]);
    if (x != y) return false;
  }
  return true;
}
inline void erase_header(Headers& h, std::string_view name) {
  h.erase(std::remove_if(h.begin(), h.end(), [&](auto& kv) { return name_eq(kv.first, name); }),
          h.end());
}
inline bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return false;
    if (std::strchr("()<>@,;:\\\"/[]?={}", c)) return false;
  }
  return true;
}
inline bool is_header_value(std::string_view s) {
  for (char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}
inline bool is_hop_by_hop(std::string_view n) {
  for (const char* h : {"content-length", "transfer-encoding", "connection", "keep-alive",
                        "proxy-connection", "te", "trailer", "upgrade"})
    if (name_eq(n, h)) return true;
  return false;
}
inline std::string url_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size()) {
      auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      int h = hex(s[i + 1]), l = hex(s[i + 2]);
      if (h < 0 || l < 0) {
        out.push_back('%');
        continue;
      }
      out.push_back(static_cast<char>(h * 16 + l));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// One CIDR (or address) match, IPv4 or IPv6.
inline bool ip_in(std::string_view ip, std::string_view cidr) {
  std::string net(cidr), addr(ip);
  int bits = -1;
  if (auto slash = net.find('/'); slash != std::string::npos) {
    bits = std::atoi(net.c_str() + slash + 1);
    net.resize(slash);
  }
  unsigned char a[16], b[16];
  int fam = net.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  if (inet_pton(fam, net.c_str(), b) != 1 || inet_pton(fam, addr.c_str(), a) != 1) return false;
  int len = fam == AF_INET ? 32 : 128;
  if (bits < 0 || bits > len) bits = len;
  for (int i = 0; i < bits; ++i) {
    int byte = i / 8, bit = 7 - i % 8;
    if (((a[byte] >> bit) & 1) != ((b[byte] >> bit) & 1)) return false;
  }
  return true;
}

inline const char* default_error_message(int status) {
  switch (status) {
    case 400:
      return "Bad request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not found";
    case 405:
      return "Method not allowed";
    case 408:
      return "Request timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length required";
    case 413:
      return "Payload too large";
    case 415:
      return "Unsupported media type";
    case 426:
      return "Upgrade required";
    case 429:
      return "Too many requests";
    case 500:
      return "An unexpected error occurred";
    case 502:
      return "An invalid response was received from the upstream server";
    case 503:
      return "The upstream server is currently unavailable";
    case 504:
      return "The upstream server is timing out";
    default:
      return nullptr;
  }
}

// Kong's error templates (3.5+ shape), the format chosen from Accept (JSON by default).
inline std::pair<std::string, std::string> error_body(std::string_view accept, std::string msg,
                                                      std::string_view request_id) {
  struct Cand {
    const char* type;
    double q = -1;
  } cands[] = {{"application/json"}, {"text/html"}, {"application/xml"}, {"text/plain"}};
  size_t pos = 0;
  while (pos < accept.size()) {
    size_t end = accept.find(',', pos);
    if (end == std::string_view::npos) end = accept.size();
    std::string_view item = accept.substr(pos, end - pos);
    pos = end + 1;
    double q = 1;
    std::string_view type = item.substr(0, item.find(';'));
    while (!type.empty() && type.front() == ' ') type.remove_prefix(1);
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    if (auto qp = item.find("q="); qp != std::string_view::npos)
      q = std::atof(std::string(item.substr(qp + 2)).c_str());
    for (Cand& c : cands)
      if (name_eq(type, c.type) && q > c.q) c.q = q;
  }
  const Cand* best = &cands[0];
  for (const Cand& c : cands)
    if (c.q > best->q) best = &c;
  std::string type = best->type;
  std::string id(request_id);
  if (type == "text/html")
    return {
        "text/html; charset=utf-8",
        "<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Error</title>"
        "\n  </head>\n  <body>\n    <h1>Error</h1>\n    <p>" +
            msg + ".</p>\n    <p>request_id: " + id + "</p>\n  </body>\n</html>\n"};
  if (type == "application/xml")
    return {"application/xml; charset=utf-8",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n  <message>" + msg +
                "</message>\n  <requestid>" + id + "</requestid>\n</error>\n"};
  if (type == "text/plain")
    return {"text/plain; charset=utf-8", msg + "\nrequest_id: " + id + "\n"};
  return {"application/json; charset=utf-8", "{\n  \"message\":" + sb::json::quote(msg) +
                                                 ",\n  \"request_id\":" + sb::json::quote(id) +
                                                 "\n}"};
}

struct PluginImpl;
struct ConfigImpl;
struct RequestImpl;
struct HostImpl;

// A ctx the fake host hands out: a request (or its TLS connection) or the worker.
struct CtxImpl {
  HostImpl* host = nullptr;
  RequestImpl* req = nullptr;  // null: the worker ctx
  int active = 0;              // > 0 while a hook or completion of this ctx runs
  bool in_completion = false;
  // The plugin whose code is running (log prefix, data slot, PLUGIN_ID).
  PluginImpl* plugin = nullptr;
  size_t entry = SIZE_MAX;                          // request: index in the chain
  std::deque<std::pair<int, std::string>> scratch;  // views handed out: (map group, bytes)
  std::deque<std::string> retired;

  sb_ctx* handle() { return reinterpret_cast<sb_ctx*>(this); }
  // Copies into storage that stays readable (and is poisoned later).
  sb_str keep(std::string_view s, int group = -1) {
    scratch.emplace_back(group, std::string(s));
    return sb_str{scratch.back().second.data(), scratch.back().second.size()};
  }
  void poison(int group) {
    for (auto& [g, bytes] : scratch) {
      if (group == -2 || g == group) std::fill(bytes.begin(), bytes.end(), '\xdd');
    }
  }
};

struct PluginImpl {
  HostImpl* host = nullptr;
  sb_plugin_def def{};
  sb_plugin_hooks hooks{};
  void* state = nullptr;
  bool initialised = false;
  void* dl = nullptr;
  std::string name;
  Json schema;
  Json entities;
  ~PluginImpl();
};

struct ConfigImpl {
  std::shared_ptr<PluginImpl> plugin;
  void* cfg = nullptr;
  uint32_t flags = 0;
  Json conf;
  std::string id;
  ~ConfigImpl() {
    if (plugin && plugin->hooks.on_config_free) plugin->hooks.on_config_free(plugin->state, cfg);
  }
};

struct OpImpl {
  sb_op id = 0;
  bool timer = true;
  CtxImpl* ctx = nullptr;
  PluginImpl* plugin = nullptr;
  size_t entry = SIZE_MAX;
  sb_timer_cb tcb = nullptr;
  sb_http_cb hcb = nullptr;
  void* user = nullptr;
  uint64_t due = 0;
  HttpCall call;
};

// The registry of live ctx pointers (any thread may present one).
inline std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
inline std::set<const void*>& registry() {
  static std::set<const void*> s;
  return s;
}
inline HostImpl*& current_host() {
  static HostImpl* h = nullptr;
  return h;
}

}  // namespace detail

// A loaded plugin.
class Plugin;
// A compiled config (plugin instance); freed (on_config_free) when the last copy goes.
class Config {
 public:
  Config() = default;
  explicit operator bool() const { return impl_ != nullptr; }
  const Json& json() const { return impl_->conf; }  // the validated config, defaults filled
  uint32_t flags() const { return impl_->flags; }
  void* raw() const { return impl_->cfg; }
  const std::string& id() const { return impl_->id; }
  std::shared_ptr<detail::ConfigImpl> impl() const { return impl_; }

 private:
  friend class Plugin;
  explicit Config(std::shared_ptr<detail::ConfigImpl> i) : impl_(std::move(i)) {}
  std::shared_ptr<detail::ConfigImpl> impl_;
};

namespace detail {

struct Entry {
  std::shared_ptr<ConfigImpl> cfg;
  Scope scope;
  bool collected = false;
  void* data = nullptr;
  sb_dtor_fn dtor = nullptr;
};

struct RequestImpl {
  HostImpl* host = nullptr;
  CtxImpl ctx;
  FakeRequest in;
  std::vector<Entry> chain;
  std::vector<std::string> trace;

  Phase phase = Phase::None;  // the phase running or last run
  Phase stage = Phase::None;  // the next thing to do
  size_t next = 0;            // next chain index in the stage
  Phase target = Phase::None;
  bool parked = false;
  size_t parked_entry = 0;
  bool resumed = false;
  sb_result resume_result = SB_CONTINUE;
  bool cert_done = false;
  bool finished = false;
  bool registered = false;
  bool body_error = false;
  sb_result outcome = SB_CONTINUE;  // overall: CONTINUE, EXITED or ERROR

  Headers req_headers;    // REQUEST and UPSTREAM_REQUEST (one map)
  Headers resp_headers;   // RESPONSE
  Headers upstream_resp;  // UPSTREAM_RESPONSE
  std::string upstream_path, upstream_query, upstream_method;
  std::optional<std::string> upstream_body;
  std::string target_host, upstream_name;
  uint16_t target_port = 0;
  bool proxied = false;
  int status = 0;
  int upstream_status = 0;
  std::string source;
  bool any_body_flag = false;

  std::optional<ExitInfo> recorded;  // respond() in the running hook / completion
  std::optional<ExitInfo> exit;      // applied
  std::vector<std::string> chunks_in;
  std::vector<std::string> chunks_out;
  std::string resp_body;  // response phase: the whole body
  bool resp_body_set = false;
  uint32_t body_mode = SB_BODY_STREAM;
  std::optional<std::string> chunk_set;  // body_filter: body_set on the current chunk
  int64_t body_sent = 0;

  std::map<std::string, std::string> shared;
  std::string consumer_id, credential_id;
  const Json* consumer = nullptr;
  const Json* credential = nullptr;
};

struct HostImpl {
  HostOptions opt;
  sb_host_api api{};
  sb_host_info info{};
  std::thread::id thread = std::this_thread::get_id();
  std::vector<std::shared_ptr<PluginImpl>> plugins;
  std::map<std::string, std::vector<std::unique_ptr<Json>>> entities;
  std::vector<LogLine> logs;
  std::vector<std::string> violations;
  std::map<sb_op, OpImpl> ops;
  sb_op next_op = 1;
  uint64_t now = 0;
  uint64_t seq = 0;
  CtxImpl worker;
  PluginImpl* initialising = nullptr;
  int depth = 0;  // plugin code on the stack
  HostImpl* previous = nullptr;

  void violation(std::string msg) {
    violations.push_back(msg);
    if (!opt.fail_on_violation) return;
#ifdef SB_TESTING_HAS_GTEST
    ADD_FAILURE() << "plugin contract violation: " << msg;
#else
    std::fprintf(stderr, "plugin contract violation: %s\n", msg.c_str());
#endif
  }
  void log(int32_t level, std::string plugin, std::string msg) {
    if (opt.echo_logs) std::fprintf(stderr, "[%s] %s\n", plugin.c_str(), msg.c_str());
    logs.push_back(LogLine{level, std::move(plugin), std::move(msg)});
  }
};

inline PluginImpl::~PluginImpl() {
  if (initialised && hooks.on_shutdown) hooks.on_shutdown(state);
  // dlopen'ed code stays mapped (RTLD_NODELETE), as in the real host.
}

// RAII: plugin code of `c` is on the stack (hook or completion).
struct Running {
  CtxImpl* c;
  HostImpl* h;
  Running(HostImpl* host, CtxImpl* ctx) : c(ctx), h(host) {
    ++h->depth;
    if (c) ++c->active;
  }
  ~Running() {
    --h->depth;
    if (c) --c->active;
    if (h->depth == 0) {  // the hook or completion returned: views die
      if (c) c->poison(-2);
      h->worker.poison(-2);
    }
  }
};

}  // namespace detail

// ---- The fake host ----------------------------------------------------------------------------

class Plugin {
 public:
  Plugin() = default;
  const sb_plugin_def& def() const { return impl_->def; }
  const std::string& name() const { return impl_->name; }
  const sb_plugin_hooks& hooks() const { return impl_->hooks; }
  void* state() const { return impl_->state; }

  // Validates `json` against the schema (defaults filled), then on_config_compile. Throws
  // std::runtime_error with the message on rejection.
  Config compile(std::string_view json, bool validate = true) const {
    std::string err;
    Config c = try_compile(json, validate, err);
    if (!c) throw std::runtime_error(err);
    return c;
  }
  // The rejection message, or nullopt if the config compiles.
  std::optional<std::string> compile_error(std::string_view json, bool validate = true) const {
    std::string err;
    Config c = try_compile(json, validate, err);
    if (c) return std::nullopt;
    return err;
  }
  // on_init_worker with the host's worker ctx.
  sb_status init_worker() const;
  // on_configure with these configs.
  void configure(const std::vector<Config>& cfgs) const {
    if (!impl_->hooks.on_configure) return;
    std::vector<void*> raw;
    for (const Config& c : cfgs) raw.push_back(c.raw());
    detail::Running run(impl_->host, nullptr);
    impl_->hooks.on_configure(impl_->state, raw.data(), raw.size());
  }
  std::shared_ptr<detail::PluginImpl> impl() const { return impl_; }

 private:
  friend class Host;
  explicit Plugin(std::shared_ptr<detail::PluginImpl> i) : impl_(std::move(i)) {}
  Config try_compile(std::string_view json, bool validate, std::string& err) const;
  std::shared_ptr<detail::PluginImpl> impl_;
};

class Request {
 public:
  Request(Request&&) noexcept = default;
  Request& operator=(Request&&) noexcept = default;
  ~Request();

  // Adds a plugin instance; the chain runs in priority order (higher first).
  Request& add(const Config& cfg, Scope scope = {});

  // Run the request up to and including a phase (earlier phases first, each once). Returns
  // SB_PENDING while parked on an async op, else the request's outcome so far: SB_CONTINUE
  // (proxied or going to be), SB_EXITED (a plugin answered) or SB_ERROR (the host answered 500).
  sb_result certificate() { return run_until(Phase::Certificate); }
  sb_result rewrite() { return run_until(Phase::Rewrite); }
  sb_result access() { return run_until(Phase::Access); }
  sb_result response() { return run_until(Phase::Response); }
  sb_result header_filter() { return run_until(Phase::HeaderFilter); }
  sb_result body_filter() { return run_until(Phase::BodyFilter); }
  sb_result log() { return run_until(Phase::Log); }
  sb_result run() { return run_until(Phase::Done); }
  sb_result run_until(Phase p);

  // The client goes away / the pending timeout fires: the request's ops complete with a NULL
  // ctx (SB_E_CANCELLED / SB_E_TIMEOUT), then the log phase runs as the request stood.
  void abort();
  void expire_pending();

  // Calls `fn(sb_ctx*)` as if plugin `entry` of the chain were running in `phase`.
  template <class F>
  auto in_phase(Phase phase, F&& fn, size_t entry = 0);

  bool pending() const { return impl_->parked; }
  bool done() const { return impl_->finished; }
  Phase phase() const { return impl_->phase; }
  sb_ctx* ctx() const { return impl_->ctx.handle(); }
  // "plugin:phase->RESULT" per hook call, in order.
  const std::vector<std::string>& trace() const { return impl_->trace; }

  // Upstream request (as plugins left it; after access it is what was sent).
  bool proxied() const { return impl_->proxied; }
  const std::string& upstream_method() const { return impl_->upstream_method; }
  const std::string& upstream_path() const { return impl_->upstream_path; }
  const std::string& upstream_query() const { return impl_->upstream_query; }
  std::string upstream_body() const { return impl_->upstream_body.value_or(impl_->in.body); }
  std::optional<std::string> upstream_header(std::string_view name) const {
    return find(impl_->req_headers, name);
  }
  const Headers& upstream_headers() const { return impl_->req_headers; }
  const std::string& upstream_target_host() const { return impl_->target_host; }
  uint16_t upstream_target_port() const { return impl_->target_port; }
  const std::string& upstream_name() const { return impl_->upstream_name; }

  // The answer.
  const std::optional<ExitInfo>& exit() const { return impl_->exit; }
  int status() const { return impl_->status; }
  const std::string& source() const { return impl_->source; }
  std::optional<std::string> response_header(std::string_view name) const {
    return find(impl_->resp_headers, name);
  }
  std::vector<std::string> response_header_values(std::string_view name) const {
    std::vector<std::string> out;
    for (auto& [n, v] : impl_->resp_headers)
      if (detail::name_eq(n, name)) out.push_back(v);
    return out;
  }
  const Headers& response_headers() const { return impl_->resp_headers; }
  // After body_filter: what the client got; before: the body as it stands.
  std::string body() const {
    const auto& chunks = impl_->stage > Phase::BodyFilter ? impl_->chunks_out : impl_->chunks_in;
    std::string out;
    for (const std::string& c : chunks) out += c;
    return out;
  }
  const std::vector<std::string>& body_chunks() const { return impl_->chunks_out; }

  std::optional<std::string> shared(const std::string& key) const {
    auto it = impl_->shared.find(key);
    if (it == impl_->shared.end()) return std::nullopt;
    return it->second;
  }
  const std::string& consumer_id() const { return impl_->consumer_id; }
  const std::string& credential_id() const { return impl_->credential_id; }

 private:
  friend class Host;
  explicit Request(std::unique_ptr<detail::RequestImpl> i) : impl_(std::move(i)) {}
  static std::optional<std::string> find(const Headers& h, std::string_view name) {
    for (auto& [n, v] : h)
      if (detail::name_eq(n, name)) return v;
    return std::nullopt;
  }
  std::unique_ptr<detail::RequestImpl> impl_;
};

class Host {
 public:
  explicit Host(HostOptions opt = {});
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // Loads a plugin from its entry function (sources linked into the test) or a .so (dlopen):
  // the same checks as the real loader, then on_init. Throws std::runtime_error on refusal.
  Plugin load(sb_plugin_entry_fn entry);
  Plugin load(const sb_plugin_def& def);  // a def without an entry (sb::plugin_def<P>(...))
  Plugin load_library(const std::string& path);
  // The refusal message, or nullopt if the plugin loads.
  std::optional<std::string> load_error(sb_plugin_entry_fn entry);

  // Entity rows: {"consumers": [{"id": "c1", "username": "alice"}], "keyauth_credentials": [...]}.
  void add_entities(std::string_view json);
  void add_entity(const std::string& entity, std::string_view row_json);

  Request request(FakeRequest r);
  Request request(FakeRequest r, std::initializer_list<Config> cfgs) {
    Request req = request(std::move(r));
    for (const Config& c : cfgs) req.add(c);
    return req;
  }

  // The event queue. Completions run only from these calls, one at a time.
  uint64_t now_ms() const { return impl_->now; }
  void advance(uint64_t ms);                 // fires timers due by now + ms, in due order
  bool fire_next_timer();                    // jumps the clock to the next timer and fires it
  size_t run_timers(size_t max = 100000);    // fires timers until none is left
  std::vector<HttpCall> http_calls() const;  // outbound calls waiting for an answer
  bool complete_http(sb_op id, const FakeResponse& r);  // SB_OK completion
  bool fail_http(sb_op id, sb_status status);           // e.g. SB_E_TIMEOUT, SB_E_UPSTREAM
  size_t pending_ops() const { return impl_->ops.size(); }
  size_t pending_timers() const;

  sb_ctx* worker_ctx() { return impl_->worker.handle(); }
  const sb_host_api* api() const { return &impl_->api; }
  const sb_host_info* info() const { return &impl_->info; }

  const std::vector<LogLine>& logs() const { return impl_->logs; }
  bool logged(std::string_view needle) const {
    for (const LogLine& l : impl_->logs)
      if (l.message.find(needle) != std::string::npos) return true;
    return false;
  }
  void clear_logs() { impl_->logs.clear(); }
  const std::vector<std::string>& violations() const { return impl_->violations; }
  detail::HostImpl* impl() { return impl_.get(); }

 private:
  std::unique_ptr<detail::HostImpl> impl_;
};

// ---- Implementation ---------------------------------------------------------------------------

namespace detail {

inline HostImpl* host_of(CtxImpl* c) { return c ? c->host : current_host(); }

// Validates a ctx and the calling thread; `allowed` is the slot's phase mask.
inline sb_status enter(sb_ctx* ctx, uint32_t allowed, CtxImpl** out, const char* slot) {
  auto* c = reinterpret_cast<CtxImpl*>(ctx);
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    if (!ctx || !registry().count(c)) {
      if (HostImpl* h = current_host())
        h->violation(std::string(slot) + ": unknown or dead ctx pointer");
      return SB_E_INVALID_ARG;
    }
  }
  HostImpl* h = c->host;
  if (std::this_thread::get_id() != h->thread) return SB_E_WRONG_THREAD;
  bool usable = c->req ? c->active > 0 : h->depth > 0;
  if (!usable) {
    h->violation(std::string(slot) + ": ctx used outside a hook or completion of its own");
    return SB_E_STATE;
  }
  uint32_t bit = c->req ? phase_bit(c->req->phase) : kIW;
  *out = c;
  if (!(allowed & bit)) return SB_E_WRONG_PHASE;
  return SB_OK;
}

inline Headers* header_map(RequestImpl* r, uint32_t map) {
  switch (map) {
    case SB_HDR_REQUEST:
    case SB_HDR_UPSTREAM_REQUEST:
      return &r->req_headers;
    case SB_HDR_UPSTREAM_RESPONSE:
      return &r->upstream_resp;
    case SB_HDR_RESPONSE:
      return &r->resp_headers;
    default:
      return nullptr;
  }
}
inline int map_group(uint32_t map) { return map == SB_HDR_UPSTREAM_REQUEST ? 0 : int(map); }

inline std::string current_plugin_name(CtxImpl* c) {
  HostImpl* h = host_of(c);
  if (c && c->plugin) return c->plugin->name;
  if (h && h->initialising) return h->initialising->name;
  return "plugin";
}

// The api table.
struct Api {
  static void log_msg(sb_ctx* ctx, int32_t level, sb_str message) {
    CtxImpl* c = nullptr;
    {
      std::lock_guard<std::mutex> lock(registry_mutex());
      if (ctx && registry().count(ctx)) c = reinterpret_cast<CtxImpl*>(ctx);
    }
    HostImpl* h = host_of(c);
    if (!h) return;
    h->log(level, current_plugin_name(c), std::string(sb::view(message)));
  }
  static const char* status_str(sb_status s) { return sb::status_name(s); }

  static const Json* J(const sb_value* v) { return Json::from_value(v); }
  static int32_t value_kind(const sb_value* v) { return v ? J(v)->kind() : SB_VALUE_NULL; }
  static const sb_value* value_get(const sb_value* o, sb_str key) {
    if (!o) return nullptr;
    const Json* j = J(o)->find(sb::view(key));
    return j ? j->as_value() : nullptr;
  }
  static size_t value_len(const sb_value* v) {
    return v && (J(v)->is_array() || J(v)->is_object()) ? J(v)->size() : 0;
  }
  static const sb_value* value_at(const sb_value* v, size_t i) {
    if (!v || !(J(v)->is_array() || J(v)->is_object()) || i >= J(v)->size()) return nullptr;
    return J(v)->at(i).as_value();
  }
  static sb_str value_key_at(const sb_value* o, size_t i) {
    if (!o || !J(o)->is_object() || i >= J(o)->size()) return sb_str{nullptr, 0};
    return sb::str(J(o)->key_at(i));
  }
  static sb_str value_str(const sb_value* v) {
    return v && J(v)->is_string() ? sb::str(J(v)->as_string()) : sb_str{nullptr, 0};
  }
  static int64_t value_int(const sb_value* v) {
    return v && (J(v)->is_number() || J(v)->is_bool()) ? J(v)->as_int() : 0;
  }
  static double value_num(const sb_value* v) {
    return v && J(v)->is_number() ? J(v)->as_double() : 0;
  }

  static const Entry* entry_of(CtxImpl* c) {
    return c->req && c->entry < c->req->chain.size() ? &c->req->chain[c->entry] : nullptr;
  }

  static sb_status var_get(sb_ctx* ctx, uint32_t var, sb_str* out) {
    uint32_t allowed = kREQ;
    if (var == SB_VAR_NODE_ID || var == SB_VAR_HOSTNAME) allowed = kALL;
    if (var == SB_VAR_TLS_SNI) allowed = kREQ | kCERT;
    if (var == SB_VAR_RESPONSE_SOURCE) allowed = kHF | kBF | kLOG;
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, allowed, &c, "var_get")) return st;
    if (!out) return SB_E_INVALID_ARG;
    *out = sb_str{nullptr, 0};
    HostImpl* h = c->host;
    RequestImpl* r = c->req;
    auto give = [&](std::string_view v) {
      *out = c->keep(v);
      return SB_OK;
    };
    if (var == SB_VAR_NODE_ID) return give(h->opt.node_id);
    if (var == SB_VAR_HOSTNAME) return give(h->opt.hostname);
    if (!r) return SB_E_WRONG_PHASE;
    const FakeRequest& in = r->in;
    bool routed =
        r->phase != Phase::Rewrite && r->phase != Phase::Certificate && !in.route_id.empty();
    const Entry* e = entry_of(c);
    switch (var) {
      case SB_VAR_METHOD:
        return give(in.method);
      case SB_VAR_SCHEME:
        return give(in.scheme);
      case SB_VAR_HOST:
        return give(in.host);
      case SB_VAR_PATH:
        return give(in.path);
      case SB_VAR_RAW_PATH:
        return give(in.raw_path.empty() ? in.path : in.raw_path);
      case SB_VAR_RAW_QUERY:
        return give(in.query);
      case SB_VAR_HTTP_VERSION:
        return give(in.http_version);
      case SB_VAR_CLIENT_IP:
        return give(in.client_ip);
      case SB_VAR_FORWARDED_IP:
        return give(in.forwarded_ip.empty() ? in.client_ip : in.forwarded_ip);
      case SB_VAR_REQUEST_ID:
        return give(in.request_id);
      case SB_VAR_ROUTE_ID:
        return routed ? give(in.route_id) : SB_E_NOT_FOUND;
      case SB_VAR_ROUTE_NAME:
        return routed && !in.route_name.empty() ? give(in.route_name) : SB_E_NOT_FOUND;
      case SB_VAR_SERVICE_ID:
        return routed && !in.service_id.empty() ? give(in.service_id) : SB_E_NOT_FOUND;
      case SB_VAR_SERVICE_NAME:
        return routed && !in.service_name.empty() ? give(in.service_name) : SB_E_NOT_FOUND;
      case SB_VAR_CONSUMER_ID:
        return r->consumer_id.empty() ? SB_E_NOT_FOUND : give(r->consumer_id);
      case SB_VAR_CREDENTIAL_ID:
        return r->credential_id.empty() ? SB_E_NOT_FOUND : give(r->credential_id);
      case SB_VAR_PLUGIN_ID:
        return e ? give(e->cfg->id) : SB_E_NOT_FOUND;
      case SB_VAR_PLUGIN_ROUTE_ID:
        return e && !e->scope.route_id.empty() ? give(e->scope.route_id) : SB_E_NOT_FOUND;
      case SB_VAR_PLUGIN_SERVICE_ID:
        return e && !e->scope.service_id.empty() ? give(e->scope.service_id) : SB_E_NOT_FOUND;
      case SB_VAR_PLUGIN_CONSUMER_ID:
        return e && !e->scope.consumer_id.empty() ? give(e->scope.consumer_id) : SB_E_NOT_FOUND;
      case SB_VAR_TLS_SNI:
        return in.sni.empty() ? SB_E_NOT_FOUND : give(in.sni);
      case SB_VAR_UPSTREAM_PATH:
        return give(r->upstream_path);
      case SB_VAR_UPSTREAM_QUERY:
        return give(r->upstream_query);
      case SB_VAR_UPSTREAM_METHOD:
        return give(r->upstream_method);
      case SB_VAR_RESPONSE_SOURCE:
        return give(r->source);
      case SB_VAR_FORWARDED_SCHEME: {
        auto fwd = trusted_header(c, "x-forwarded-proto");
        return give(fwd ? *fwd : in.scheme);
      }
      case SB_VAR_FORWARDED_HOST: {
        auto fwd = trusted_header(c, "x-forwarded-host");
        return give(fwd ? *fwd : in.host);
      }
      default:
        return SB_E_INVALID_ARG;
    }
  }
  static std::optional<std::string> trusted_header(CtxImpl* c, std::string_view name) {
    bool trusted = false;
    for (const std::string& cidr : c->host->opt.trusted_ips)
      trusted = trusted || ip_in(c->req->in.client_ip, cidr);
    if (!trusted) return std::nullopt;
    for (auto& [n, v] : c->req->req_headers)
      if (name_eq(n, name)) return v;
    return std::nullopt;
  }
  static sb_status var_set(sb_ctx* ctx, uint32_t var, sb_str value) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kRW | kACC, &c, "var_set")) {
      if (st == SB_E_WRONG_PHASE && var != SB_VAR_UPSTREAM_PATH && var != SB_VAR_UPSTREAM_QUERY &&
          var != SB_VAR_UPSTREAM_METHOD)
        return SB_E_INVALID_ARG;
      return st;
    }
    RequestImpl* r = c->req;
    std::string_view v = sb::view(value);
    switch (var) {
      case SB_VAR_UPSTREAM_PATH:
        if (v.empty() || v[0] != '/' || v.find('?') != std::string_view::npos ||
            !is_header_value(v))
          return SB_E_INVALID_ARG;
        r->upstream_path = v;
        return SB_OK;
      case SB_VAR_UPSTREAM_QUERY:
        if (!is_header_value(v) || v.find('#') != std::string_view::npos) return SB_E_INVALID_ARG;
        r->upstream_query = v;
        return SB_OK;
      case SB_VAR_UPSTREAM_METHOD:
        if (!is_token(v)) return SB_E_INVALID_ARG;
        r->upstream_method = v;
        return SB_OK;
      default:
        return SB_E_INVALID_ARG;  // unknown or read-only
    }
  }
  static sb_status num_get(sb_ctx* ctx, uint32_t num, int64_t* out) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, num == SB_NUM_WORKER_ID ? kALL : kREQ, &c, "num_get")) return st;
    if (!out) return SB_E_INVALID_ARG;
    HostImpl* h = c->host;
    if (num == SB_NUM_WORKER_ID) return *out = h->opt.worker_id, SB_OK;
    RequestImpl* r = c->req;
    if (!r) return SB_E_WRONG_PHASE;
    switch (num) {
      case SB_NUM_CLIENT_PORT:
        *out = r->in.client_port;
        return SB_OK;
      case SB_NUM_FORWARDED_PORT:
        *out = r->in.client_port;
        return SB_OK;
      case SB_NUM_SERVER_PORT:
        *out = r->in.port;
        return SB_OK;
      case SB_NUM_START_TIME_MS:
        *out = static_cast<int64_t>(h->opt.start_ms);
        return SB_OK;
      case SB_NUM_NOW_MS:
        *out = static_cast<int64_t>(h->now);
        return SB_OK;
      case SB_NUM_RESPONSE_STATUS:
        *out = r->status;
        return SB_OK;
      case SB_NUM_UPSTREAM_STATUS:
        *out = r->upstream_status;
        return SB_OK;
      case SB_NUM_CONNECTION_ID:
        *out = 1;
        return SB_OK;
      case SB_NUM_CONNECTION_REQUESTS:
        *out = 1;
        return SB_OK;
      case SB_NUM_REQUEST_BODY_SIZE:
        *out = static_cast<int64_t>(r->in.body.size());
        return SB_OK;
      case SB_NUM_RESPONSE_BODY_SIZE:
        *out = r->body_sent;
        return SB_OK;
      default:
        return SB_E_INVALID_ARG;
    }
  }
  static sb_status num_set(sb_ctx* ctx, uint32_t num, int64_t value) {
    CtxImpl* c = nullptr;
    if (num != SB_NUM_RESPONSE_STATUS) {
      if (sb_status st = enter(ctx, kALL, &c, "num_set")) return st;
      return SB_E_INVALID_ARG;
    }
    if (sb_status st = enter(ctx, kRW | kACC | kRESP | kHF, &c, "num_set")) return st;
    if (value < 100 || value > 999) return SB_E_INVALID_ARG;
    c->req->status = static_cast<int>(value);
    return SB_OK;
  }

  static uint32_t read_mask(uint32_t map) {
    return map == SB_HDR_UPSTREAM_RESPONSE ? kRESP | kHF | kBF | kLOG : kREQ;
  }
  static sb_status hdr_get(sb_ctx* ctx, uint32_t map, sb_str name, size_t idx, sb_str* out,
                           size_t* count) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, read_mask(map), &c, "hdr_get")) return st;
    if (out) *out = sb_str{nullptr, 0};
    if (count) *count = 0;
    Headers* m = c->req ? header_map(c->req, map) : nullptr;
    if (!m) return SB_E_INVALID_ARG;
    size_t n = 0;
    const std::string* found = nullptr;
    for (auto& [k, v] : *m) {
      if (!name_eq(k, sb::view(name))) continue;
      if (n == idx) found = &v;
      ++n;
    }
    if (count) *count = n;
    if (n == 0 || !found) return SB_E_NOT_FOUND;
    if (out) *out = c->keep(*found, map_group(map));
    return SB_OK;
  }
  static sb_status hdr_count(sb_ctx* ctx, uint32_t map, size_t* out) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, read_mask(map), &c, "hdr_count")) return st;
    Headers* m = c->req ? header_map(c->req, map) : nullptr;
    if (!m || !out) return SB_E_INVALID_ARG;
    *out = m->size();
    return SB_OK;
  }
  static sb_status hdr_at(sb_ctx* ctx, uint32_t map, size_t i, sb_header* out) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, read_mask(map), &c, "hdr_at")) return st;
    Headers* m = c->req ? header_map(c->req, map) : nullptr;
    if (!m || !out) return SB_E_INVALID_ARG;
    if (i >= m->size()) return SB_E_NOT_FOUND;
    out->name = c->keep((*m)[i].first, map_group(map));
    out->value = c->keep((*m)[i].second, map_group(map));
    return SB_OK;
  }
  static sb_status hdr_write(sb_ctx* ctx, uint32_t map, sb_str name, const sb_str* value, bool add,
                             const char* slot) {
    uint32_t allowed = map == SB_HDR_UPSTREAM_REQUEST ? kRW | kACC
                       : map == SB_HDR_RESPONSE       ? kRW | kACC | kRESP | kHF
                                                      : kALL;
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, allowed, &c, slot)) return st;
    if (map != SB_HDR_UPSTREAM_REQUEST && map != SB_HDR_RESPONSE) return SB_E_INVALID_ARG;
    if (!c->req) return SB_E_WRONG_PHASE;
    std::string_view n = sb::view(name);
    if (!is_token(n) || is_hop_by_hop(n)) return SB_E_INVALID_ARG;
    if (value && !is_header_value(sb::view(*value))) return SB_E_INVALID_ARG;
    Headers& m = *header_map(c->req, map);
    c->poison(map_group(map));  // views into this map die
    if (add) {
      m.emplace_back(std::string(n), std::string(sb::view(*value)));
      return SB_OK;
    }
    auto first = std::find_if(m.begin(), m.end(), [&](auto& kv) { return name_eq(kv.first, n); });
    if (value && first != m.end()) {
      first->second = std::string(sb::view(*value));
      ++first;
    }
    m.erase(std::remove_if(first, m.end(), [&](auto& kv) { return name_eq(kv.first, n); }),
            m.end());
    if (value && std::none_of(m.begin(), m.end(), [&](auto& kv) { return name_eq(kv.first, n); }))
      m.emplace_back(std::string(n), std::string(sb::view(*value)));
    return SB_OK;
  }
  static sb_status hdr_set(sb_ctx* ctx, uint32_t map, sb_str name, sb_str value) {
    return hdr_write(ctx, map, name, &value, false, "hdr_set");
  }
  static sb_status hdr_add(sb_ctx* ctx, uint32_t map, sb_str name, sb_str value) {
    return hdr_write(ctx, map, name, &value, true, "hdr_add");
  }
  static sb_status hdr_remove(sb_ctx* ctx, uint32_t map, sb_str name) {
    return hdr_write(ctx, map, name, nullptr, false, "hdr_remove");
  }

  static sb_status query_get(sb_ctx* ctx, sb_str name, size_t idx, sb_str* out, size_t* count) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kREQ, &c, "query_get")) return st;
    if (out) *out = sb_str{nullptr, 0};
    if (count) *count = 0;
    std::string_view q = c->req->in.query;
    size_t n = 0;
    std::optional<std::string> found;
    size_t pos = 0;
    while (pos <= q.size() && !q.empty()) {
      size_t end = q.find('&', pos);
      if (end == std::string_view::npos) end = q.size();
      std::string_view item = q.substr(pos, end - pos);
      pos = end + 1;
      if (item.empty()) continue;
      size_t eq = item.find('=');
      std::string k = url_decode(item.substr(0, eq));
      if (k == sb::view(name)) {
        if (n == idx) found = eq == std::string_view::npos ? "" : url_decode(item.substr(eq + 1));
        ++n;
      }
      if (end == q.size()) break;
    }
    if (count) *count = n;
    if (!found) return SB_E_NOT_FOUND;
    if (out) *out = c->keep(*found);
    return SB_OK;
  }
  static sb_status request_body_get(sb_ctx* ctx, sb_str* out) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kRW | kACC | kRESP, &c, "request_body_get")) return st;
    if (!out) return SB_E_INVALID_ARG;
    if (!c->req->any_body_flag) return SB_E_UNSUPPORTED;
    if (c->req->in.body.size() > c->host->opt.body_limit) return SB_E_TOO_LARGE;
    *out = c->keep(c->req->in.body);
    return SB_OK;
  }
  static sb_status request_body_set(sb_ctx* ctx, sb_str body) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kRW | kACC, &c, "request_body_set")) return st;
    if (!c->req->any_body_flag) return SB_E_UNSUPPORTED;
    c->req->upstream_body = std::string(sb::view(body));
    return SB_OK;
  }
  static sb_status route_capture(sb_ctx* ctx, sb_str name, sb_str* out) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kACC | kHF | kBF | kLOG, &c, "route_capture")) return st;
    if (!out) return SB_E_INVALID_ARG;
    auto it = c->req->in.captures.find(std::string(sb::view(name)));
    if (it == c->req->in.captures.end()) return SB_E_NOT_FOUND;
    *out = c->keep(it->second);
    return SB_OK;
  }

  static sb_status record_exit(CtxImpl* c, ExitInfo e) {
    RequestImpl* r = c->req;
    if (r->phase == Phase::HeaderFilter && !e.body.empty()) return SB_E_INVALID_ARG;
    if (e.status < 100 || e.status > 999) return SB_E_INVALID_ARG;
    r->recorded = std::move(e);
    return SB_OK;
  }
  static bool copy_headers(const sb_header* h, size_t n, Headers& out) {
    if (n && !h) return false;
    for (size_t i = 0; i < n; ++i) {
      std::string_view name = sb::view(h[i].name), value = sb::view(h[i].value);
      if (!is_token(name) || !is_header_value(value)) return false;
      if (is_hop_by_hop(name)) return false;
      out.emplace_back(std::string(name), std::string(value));
    }
    return true;
  }
  static sb_status respond(sb_ctx* ctx, int32_t status, const sb_header* headers, size_t n,
                           sb_str body) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kRW | kACC | kRESP | kHF, &c, "respond")) return st;
    ExitInfo e{status, {}, std::string(sb::view(body)), "exit"};
    if (!copy_headers(headers, n, e.headers)) return SB_E_INVALID_ARG;
    return record_exit(c, std::move(e));
  }
  static sb_status respond_error(sb_ctx* ctx, int32_t status, sb_str message,
                                 const sb_header* headers, size_t n) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kRW | kACC | kRESP | kHF, &c, "respond_error")) return st;
    if (status < 400 || status > 999) return SB_E_INVALID_ARG;
    ExitInfo e{status, {}, {}, "exit"};
    if (!copy_headers(headers, n, e.headers)) return SB_E_INVALID_ARG;
    std::string msg(sb::view(message));
    if (msg.empty()) {
      const char* d = default_error_message(status);
      msg = d ? d : "The upstream server responded with " + std::to_string(status);
    }
    if (c->req->phase != Phase::HeaderFilter) {
      std::string accept;
      for (auto& [k, v] : c->req->req_headers)
        if (name_eq(k, "accept")) accept = v;
      auto [type, body] = error_body(accept, msg, c->req->in.request_id);
      if (std::none_of(e.headers.begin(), e.headers.end(),
                       [](auto& kv) { return name_eq(kv.first, "content-type"); }))
        e.headers.emplace_back("Content-Type", type);
      e.body = std::move(body);
    }
    return record_exit(c, std::move(e));
  }
  static sb_status response_body_mode(sb_ctx* ctx, uint32_t mode) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kHF, &c, "response_body_mode")) return st;
    if (mode > SB_BODY_RESIZE) return SB_E_INVALID_ARG;
    // The strongest request wins: buffer > resize > stream.
    uint32_t& m = c->req->body_mode;
    if (mode == SB_BODY_BUFFER || (mode == SB_BODY_RESIZE && m == SB_BODY_STREAM)) m = mode;
    return SB_OK;
  }
  static sb_status body_set(sb_ctx* ctx, sb_str data) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kBF | kRESP, &c, "body_set")) return st;
    if (c->req->phase == Phase::Response) {
      c->req->resp_body = std::string(sb::view(data));
      c->req->resp_body_set = true;
    } else {
      c->req->chunk_set = std::string(sb::view(data));
    }
    return SB_OK;
  }
  static sb_status response_body_get(sb_ctx* ctx, sb_str* out) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kRESP, &c, "response_body_get")) return st;
    if (!out) return SB_E_INVALID_ARG;
    *out = c->keep(c->req->resp_body);
    return SB_OK;
  }
  static sb_status service_set_target(sb_ctx* ctx, sb_str host, uint16_t port) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kACC, &c, "service_set_target")) return st;
    if (host.len == 0 || port == 0) return SB_E_INVALID_ARG;
    c->req->target_host = std::string(sb::view(host));
    c->req->target_port = port;
    c->req->upstream_name.clear();
    return SB_OK;
  }
  static sb_status service_set_upstream(sb_ctx* ctx, sb_str name) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kACC, &c, "service_set_upstream")) return st;
    if (name.len == 0) return SB_E_INVALID_ARG;
    c->req->upstream_name = std::string(sb::view(name));
    c->req->target_host.clear();
    c->req->target_port = 0;
    return SB_OK;
  }

  // Entities ------------------------------------------------------------------------------------
  static const Json* entity_schema(HostImpl* h, std::string_view entity) {
    for (auto& p : h->plugins)
      for (const Json& e : p->entities.items())
        if (e["name"].as_string() == entity) return &e;
    return nullptr;
  }
  static std::string field_text(const Json& row, const std::string& f) {
    const Json& v = row[f];
    if (v.is_object() && v.contains("id")) return v["id"].as_string();  // foreign key
    if (v.is_string()) return v.as_string();
    if (v.is_null()) return "";
    return v.dump();
  }
  static sb_status find_row(HostImpl* h, std::string_view entity, std::string_view field,
                            std::string_view value, const Json** out) {
    std::vector<std::string> key_fields;
    if (entity == "consumers") {
      if (field != "id" && field != "username" && field != "custom_id") return SB_E_INVALID_ARG;
      key_fields = {std::string(field)};
    } else {
      const Json* s = entity_schema(h, entity);
      if (!s) return SB_E_INVALID_ARG;
      if (field == "cache_key") {
        for (const Json& k : (*s)["cache_key"].items()) key_fields.push_back(k.as_string());
        if (key_fields.empty()) return SB_E_INVALID_ARG;
      } else {
        bool ok = field == "id";
        for (const Json& f : (*s)["fields"].items())
          if (f.size() == 1 && f.key_at(0) == field && f.at(0)["unique"].as_bool()) ok = true;
        if (!ok) return SB_E_INVALID_ARG;
        key_fields = {std::string(field)};
      }
    }
    auto it = h->entities.find(std::string(entity));
    if (it == h->entities.end()) return SB_E_NOT_FOUND;
    for (const auto& row : it->second) {
      std::string key;
      for (size_t i = 0; i < key_fields.size(); ++i) {
        if (i) key += ':';
        key += field_text(*row, key_fields[i]);
      }
      if (key == value) {
        *out = row.get();
        return SB_OK;
      }
    }
    return SB_E_NOT_FOUND;
  }
  static sb_status client_authenticate(sb_ctx* ctx, sb_str consumer_id, sb_str credential_entity,
                                       sb_str credential_id) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kACC, &c, "client_authenticate")) return st;
    if (consumer_id.len == 0 && credential_id.len == 0) return SB_E_INVALID_ARG;
    const Json* consumer = nullptr;
    const Json* credential = nullptr;
    if (consumer_id.len) {
      if (sb_status st = find_row(c->host, "consumers", "id", sb::view(consumer_id), &consumer))
        return st;
    }
    if (credential_id.len) {
      if (credential_entity.len == 0) return SB_E_INVALID_ARG;
      if (sb_status st = find_row(c->host, sb::view(credential_entity), "id",
                                  sb::view(credential_id), &credential))
        return st;
    }
    c->req->consumer = consumer;
    c->req->credential = credential;
    c->req->consumer_id = std::string(sb::view(consumer_id));
    c->req->credential_id = std::string(sb::view(credential_id));
    return SB_OK;
  }
  static sb_status client_get_consumer(sb_ctx* ctx, const sb_value** out) {
    CtxImpl* c = nullptr;
    if (out) *out = nullptr;
    if (sb_status st = enter(ctx, kACC | kHF | kBF | kLOG, &c, "client_get_consumer")) return st;
    if (!out) return SB_E_INVALID_ARG;
    if (!c->req->consumer) return SB_E_NOT_FOUND;
    *out = c->req->consumer->as_value();
    return SB_OK;
  }
  static sb_status client_get_credential(sb_ctx* ctx, const sb_value** out) {
    CtxImpl* c = nullptr;
    if (out) *out = nullptr;
    if (sb_status st = enter(ctx, kACC | kHF | kBF | kLOG, &c, "client_get_credential")) return st;
    if (!out) return SB_E_INVALID_ARG;
    if (!c->req->credential) return SB_E_NOT_FOUND;
    *out = c->req->credential->as_value();
    return SB_OK;
  }
  static sb_status entity_find(sb_ctx* ctx, sb_str entity, sb_str field, sb_str value,
                               const sb_value** out) {
    CtxImpl* c = nullptr;
    if (out) *out = nullptr;
    if (sb_status st = enter(ctx, kREQ | kIW, &c, "entity_find")) return st;
    if (!out) return SB_E_INVALID_ARG;
    const Json* row = nullptr;
    if (sb_status st = find_row(c->host, sb::view(entity), sb::view(field), sb::view(value), &row))
      return st;
    *out = row->as_value();
    return SB_OK;
  }

  static sb_status shared_set(sb_ctx* ctx, sb_str key, sb_str value) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kREQ, &c, "shared_set")) return st;
    c->poison(-3);
    c->req->shared[std::string(sb::view(key))] = std::string(sb::view(value));
    return SB_OK;
  }
  static sb_status shared_get(sb_ctx* ctx, sb_str key, sb_str* out) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kREQ, &c, "shared_get")) return st;
    if (!out) return SB_E_INVALID_ARG;
    auto it = c->req->shared.find(std::string(sb::view(key)));
    if (it == c->req->shared.end()) return SB_E_NOT_FOUND;
    *out = c->keep(it->second, -3);
    return SB_OK;
  }
  static sb_status data_set(sb_ctx* ctx, void* data, sb_dtor_fn dtor) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kREQ, &c, "data_set")) return st;
    Entry* e = c->entry < c->req->chain.size() ? &c->req->chain[c->entry] : nullptr;
    if (!e) return SB_E_STATE;
    void* old = e->data;
    sb_dtor_fn old_dtor = e->dtor;
    e->data = data;
    e->dtor = dtor;
    if (old && old_dtor && old != data) old_dtor(old);
    return SB_OK;
  }
  static void* data_get(sb_ctx* ctx) {
    CtxImpl* c = nullptr;
    if (enter(ctx, kREQ, &c, "data_get") != SB_OK) return nullptr;
    return c->entry < c->req->chain.size() ? c->req->chain[c->entry].data : nullptr;
  }
  static sb_status ip_is_trusted(sb_ctx* ctx, sb_str ip, int32_t* out) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kALL, &c, "ip_is_trusted")) return st;
    if (!out) return SB_E_INVALID_ARG;
    std::string a(sb::view(ip));
    unsigned char buf[16];
    if (inet_pton(AF_INET, a.c_str(), buf) != 1 && inet_pton(AF_INET6, a.c_str(), buf) != 1)
      return SB_E_INVALID_ARG;
    *out = 0;
    for (const std::string& cidr : c->host->opt.trusted_ips)
      if (ip_in(a, cidr)) *out = 1;
    return SB_OK;
  }
  static sb_status log_serialize(sb_ctx* ctx, sb_str* out) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kLOG, &c, "log_serialize")) return st;
    if (!out) return SB_E_INVALID_ARG;
    RequestImpl* r = c->req;
    Json j = Json::object();
    Json req = Json::object();
    req.set("id", Json::string(r->in.request_id));
    std::string uri = r->in.raw_path.empty() ? r->in.path : r->in.raw_path;
    if (!r->in.query.empty()) uri += "?" + r->in.query;
    req.set("uri", Json::string(uri));
    req.set("url", Json::string(r->in.scheme + "://" + r->in.host + ":" +
                                std::to_string(r->in.port) + uri));
    req.set("method", Json::string(r->in.method));
    Json rh = Json::object();
    for (auto& [k, v] : r->req_headers) {
      std::string lk;
      for (char ch : k) lk.push_back(lower(ch));
      bool redact = lk == "authorization" || lk == "proxy-authorization";
      rh.set(lk, Json::string(redact ? "REDACTED" : v));
    }
    req.set("headers", std::move(rh));
    req.set("size", Json::integer(static_cast<int64_t>(r->in.body.size())));
    j.set("request", std::move(req));
    j.set("upstream_uri", Json::string(r->upstream_path +
                                       (r->upstream_query.empty() ? "" : "?" + r->upstream_query)));
    Json resp = Json::object();
    resp.set("status", Json::integer(r->status));
    Json hh = Json::object();
    for (auto& [k, v] : r->resp_headers) hh.set(k, Json::string(v));
    resp.set("headers", std::move(hh));
    resp.set("size", Json::integer(r->body_sent));
    j.set("response", std::move(resp));
    if (!r->in.route_id.empty()) {
      Json route = Json::object();
      route.set("id", Json::string(r->in.route_id));
      j.set("route", std::move(route));
    }
    if (!r->in.service_id.empty()) {
      Json svc = Json::object();
      svc.set("id", Json::string(r->in.service_id));
      j.set("service", std::move(svc));
    }
    if (r->consumer) j.set("consumer", *r->consumer);
    j.set("client_ip", Json::string(r->in.client_ip));
    j.set("started_at", Json::integer(static_cast<int64_t>(c->host->opt.start_ms)));
    j.set("source", Json::string(r->source));
    *out = c->keep(j.dump());
    return SB_OK;
  }

  // Async ---------------------------------------------------------------------------------------
  static sb_status start_op(CtxImpl* c, OpImpl op, sb_op* out) {
    HostImpl* h = c->host;
    sb_op id = h->next_op++;
    op.id = id;
    op.call.id = id;
    op.ctx = c;
    op.plugin = c->plugin;
    op.entry = c->entry;
    if (out) *out = id;
    h->ops.emplace(id, std::move(op));
    return SB_OK;
  }
  static sb_status timer_start(sb_ctx* ctx, uint64_t delay_ms, sb_timer_cb cb, void* user,
                               sb_op* op) {
    CtxImpl* c = nullptr;
    if (op) *op = 0;
    if (sb_status st = enter(ctx, kIW | kRW | kACC | kRESP, &c, "timer_start")) return st;
    if (!cb) return SB_E_INVALID_ARG;
    OpImpl o;
    o.timer = true;
    o.tcb = cb;
    o.user = user;
    o.due = c->host->now + delay_ms;
    return start_op(c, std::move(o), op);
  }
  static sb_status http_call(sb_ctx* ctx, const sb_http_request* rq, sb_http_cb cb, void* user,
                             sb_op* op) {
    CtxImpl* c = nullptr;
    if (op) *op = 0;
    if (sb_status st = enter(ctx, kIW | kRW | kACC | kRESP, &c, "http_call")) return st;
    if (!cb || !rq) return SB_E_INVALID_ARG;
    // Data struct rule: a smaller struct is an older plugin; a bigger one must have a zero tail.
    if (rq->struct_size < offsetof(sb_http_request, body) + sizeof(sb_str)) return SB_E_INVALID_ARG;
    if (rq->struct_size > sizeof(sb_http_request)) {
      const unsigned char* p = reinterpret_cast<const unsigned char*>(rq);
      for (size_t i = sizeof(sb_http_request); i < rq->struct_size; ++i)
        if (p[i]) return SB_E_INVALID_ARG;
    }
    if (rq->reserved != 0 || (rq->flags & ~SB_HTTP_TLS_VERIFY)) return SB_E_INVALID_ARG;
    std::string url(sb::view(rq->url));
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) return SB_E_INVALID_ARG;
    OpImpl o;
    o.timer = false;
    o.hcb = cb;
    o.user = user;
    o.call.method = rq->method.len ? std::string(sb::view(rq->method)) : "GET";
    if (!is_token(o.call.method)) return SB_E_INVALID_ARG;
    o.call.url = url;
    Headers hs;
    if (!copy_headers(rq->headers, rq->n_headers, hs)) return SB_E_INVALID_ARG;
    o.call.headers = std::move(hs);
    o.call.body = std::string(sb::view(rq->body));
    o.call.timeout_ms = rq->timeout_ms ? rq->timeout_ms : 10000;
    o.call.flags = rq->flags;
    o.call.from_worker = c->req == nullptr;
    return start_op(c, std::move(o), op);
  }
  static sb_status cancel(sb_ctx* ctx, sb_op op);
  static sb_status resume(sb_ctx* ctx, sb_result result) {
    CtxImpl* c = nullptr;
    if (sb_status st = enter(ctx, kALL, &c, "resume"); st != SB_OK && st != SB_E_WRONG_PHASE)
      return st;
    if (!c->req) return SB_E_STATE;
    if (result != SB_CONTINUE && result != SB_EXITED && result != SB_ERROR) return SB_E_INVALID_ARG;
    RequestImpl* r = c->req;
    if (!r->parked || !c->in_completion || r->resumed) return SB_E_STATE;
    r->resumed = true;
    r->resume_result = result;
    return SB_OK;
  }

  static void fill(sb_host_api& a) {
    a.struct_size = sizeof(sb_host_api);
    a.log_msg = &log_msg;
    a.status_str = &status_str;
    a.value_kind = &value_kind;
    a.value_get = &value_get;
    a.value_len = &value_len;
    a.value_at = &value_at;
    a.value_key_at = &value_key_at;
    a.value_str = &value_str;
    a.value_int = &value_int;
    a.value_num = &value_num;
    a.var_get = &var_get;
    a.var_set = &var_set;
    a.num_get = &num_get;
    a.num_set = &num_set;
    a.hdr_get = &hdr_get;
    a.hdr_count = &hdr_count;
    a.hdr_at = &hdr_at;
    a.hdr_set = &hdr_set;
    a.hdr_add = &hdr_add;
    a.hdr_remove = &hdr_remove;
    a.query_get = &query_get;
    a.request_body_get = &request_body_get;
    a.request_body_set = &request_body_set;
    a.route_capture = &route_capture;
    a.respond = &respond;
    a.respond_error = &respond_error;
    a.response_body_mode = &response_body_mode;
    a.body_set = &body_set;
    a.response_body_get = &response_body_get;
    a.service_set_target = &service_set_target;
    a.service_set_upstream = &service_set_upstream;
    a.client_authenticate = &client_authenticate;
    a.client_get_consumer = &client_get_consumer;
    a.client_get_credential = &client_get_credential;
    a.entity_find = &entity_find;
    a.shared_set = &shared_set;
    a.shared_get = &shared_get;
    a.data_set = &data_set;
    a.data_get = &data_get;
    a.ip_is_trusted = &ip_is_trusted;
    a.log_serialize = &log_serialize;
    a.timer_start = &timer_start;
    a.http_call = &http_call;
    a.cancel = &cancel;
    a.resume = &resume;
  }
};

// ---- Request driving --------------------------------------------------------------------------

struct Driver {
  static const char* result_name(sb_result r) {
    switch (r) {
      case SB_CONTINUE:
        return "CONTINUE";
      case SB_EXITED:
        return "EXITED";
      case SB_PENDING:
        return "PENDING";
      case SB_ERROR:
        return "ERROR";
      default:
        return "UNKNOWN";
    }
  }

  static bool has_hook(const Entry& e, Phase p) {
    const sb_plugin_hooks& h = e.cfg->plugin->hooks;
    switch (p) {
      case Phase::Certificate:
        return h.on_certificate;
      case Phase::Rewrite:
        return h.on_rewrite;
      case Phase::Access:
        return h.on_access;
      case Phase::Response:
        return h.on_response;
      case Phase::HeaderFilter:
        return h.on_header_filter;
      case Phase::BodyFilter:
        return h.on_body_filter;
      case Phase::Log:
        return h.on_log;
      default:
        return false;
    }
  }

  // Calls one hook of entry i in phase p with the ctx set up; returns its result.
  static sb_result call(RequestImpl* r, size_t i, Phase p, const sb_str* chunk = nullptr,
                        size_t n = 0, int32_t eos = 0) {
    Entry& e = r->chain[i];
    CtxImpl& c = r->ctx;
    c.plugin = e.cfg->plugin.get();
    c.entry = i;
    c.in_completion = false;
    r->phase = p;
    r->recorded.reset();
    const sb_plugin_hooks& h = e.cfg->plugin->hooks;
    sb_result res = SB_CONTINUE;
    {
      Running run(r->host, &c);
      sb_ctx* x = c.handle();
      switch (p) {
        case Phase::Certificate:
          res = h.on_certificate(x, e.cfg->cfg);
          break;
        case Phase::Rewrite:
          res = h.on_rewrite(x, e.cfg->cfg);
          break;
        case Phase::Access:
          res = h.on_access(x, e.cfg->cfg);
          break;
        case Phase::Response:
          res = h.on_response(x, e.cfg->cfg);
          break;
        case Phase::HeaderFilter:
          res = h.on_header_filter(x, e.cfg->cfg);
          break;
        case Phase::BodyFilter:
          res = h.on_body_filter(x, e.cfg->cfg, chunk, n, eos);
          break;
        case Phase::Log:
          h.on_log(x, e.cfg->cfg);
          break;
        default:
          break;
      }
    }
    r->trace.push_back(e.cfg->plugin->name + ":" + phase_name(p) +
                       (p == Phase::Log ? "" : std::string("->") + result_name(res)));
    return res;
  }

  static void error_answer(RequestImpl* r) {
    ExitInfo e;
    e.status = 500;
    std::string accept;
    for (auto& [k, v] : r->req_headers)
      if (name_eq(k, "accept")) accept = v;
    auto [type, body] = error_body(accept, "An unexpected error occurred", r->in.request_id);
    e.headers.emplace_back("Content-Type", type);
    e.body = body;
    e.source = "error";
    apply_exit(r, std::move(e));
    r->outcome = SB_ERROR;
  }

  static void apply_exit(RequestImpl* r, ExitInfo e) {
    r->status = e.status;
    Headers h = r->resp_headers;  // set earlier by plugins: kept
    for (auto& kv : e.headers) erase_header(h, kv.first);
    for (auto& kv : e.headers) h.push_back(kv);
    erase_header(h, "content-length");
    h.emplace_back("Content-Length", std::to_string(e.body.size()));
    r->resp_headers = std::move(h);
    r->upstream_resp.clear();
    r->source = e.source;
    r->chunks_in = {e.body};
    r->exit = std::move(e);
    r->outcome = SB_EXITED;
    r->stage = Phase::HeaderFilter;
    r->next = 0;
  }

  // What a rewrite/access/response hook (or a resume) reported.
  static void outcome(RequestImpl* r, size_t i, Phase p, sb_result res, bool from_resume) {
    HostImpl* h = r->host;
    const std::string who = r->chain[i].cfg->plugin->name + " " + phase_name(p);
    bool recorded = r->recorded.has_value();
    switch (res) {
      case SB_CONTINUE:
        if (recorded) {
          h->violation(who + ": respond() called but the hook returned SB_CONTINUE");
          error_answer(r);
          return;
        }
        r->next = i + 1;
        return;
      case SB_EXITED:
        if (!recorded) {
          h->violation(who + ": SB_EXITED without respond()/respond_error()");
          error_answer(r);
          return;
        }
        apply_exit(r, std::move(*r->recorded));
        r->recorded.reset();
        return;
      case SB_PENDING: {
        if (from_resume || p == Phase::Certificate) {
          h->violation(who + ": SB_PENDING is not allowed here");
          error_answer(r);
          return;
        }
        bool has_op = false;
        for (auto& [id, op] : h->ops) has_op = has_op || op.ctx == &r->ctx;
        if (!has_op) {
          h->violation(who + ": SB_PENDING with no op started on the request: nothing can resume");
          error_answer(r);
          return;
        }
        r->parked = true;
        r->parked_entry = i;
        r->resumed = false;
        return;
      }
      case SB_ERROR:
        h->log(SB_LOG_ERR, r->chain[i].cfg->plugin->name, std::string(phase_name(p)) + " failed");
        error_answer(r);
        return;
      default:
        h->violation(who + ": unknown sb_result " + std::to_string(res));
        error_answer(r);
        return;
    }
  }

  static void proxy(RequestImpl* r) {
    const FakeResponse& up = r->in.upstream;
    r->proxied = true;
    r->upstream_status = up.status;
    r->status = up.status;
    r->upstream_resp = up.headers;
    Headers h = up.headers;
    // Set in rewrite/access: applied over the upstream's.
    for (auto& kv : r->resp_headers) erase_header(h, kv.first);
    for (auto& kv : r->resp_headers) h.push_back(kv);
    r->resp_headers = std::move(h);
    r->source = "service";
    if (!up.chunks.empty()) {
      r->chunks_in = up.chunks;
    } else {
      r->chunks_in = {up.body};
    }
    r->resp_body.clear();
    for (const std::string& c : r->chunks_in) r->resp_body += c;
  }

  static bool wants_response_phase(RequestImpl* r) {
    for (const Entry& e : r->chain)
      if (e.collected && has_hook(e, Phase::Response)) return true;
    return false;
  }

  // Runs until parked, done, or past r->target.
  static void drive(RequestImpl* r) {
    HostImpl* h = r->host;
    while (!r->parked && !r->finished && r->stage <= r->target) {
      switch (r->stage) {
        case Phase::None:
          r->stage = r->in.scheme == "https" ? Phase::Certificate : Phase::Rewrite;
          r->next = 0;
          break;
        case Phase::Certificate: {
          if (r->next >= r->chain.size()) {
            r->stage = Phase::Rewrite;
            r->next = 0;
            break;
          }
          size_t i = r->next;
          if (!r->chain[i].scope.global || !has_hook(r->chain[i], Phase::Certificate)) {
            r->next = i + 1;
            break;
          }
          sb_result res = call(r, i, Phase::Certificate);
          if (res == SB_CONTINUE && !r->recorded) {
            r->next = i + 1;
          } else {
            if (res != SB_ERROR)
              h->violation(r->chain[i].cfg->plugin->name +
                           " certificate: only SB_CONTINUE or SB_ERROR");
            // The handshake fails: no request.
            r->outcome = SB_ERROR;
            r->source = "error";
            finish(r, false);
          }
          break;
        }
        case Phase::Rewrite:
        case Phase::Access:
        case Phase::Response: {
          Phase p = r->stage;
          if (r->next >= r->chain.size()) {
            if (p == Phase::Rewrite) {
              r->stage = Phase::Access;
            } else if (p == Phase::Access) {
              proxy(r);
              r->stage = wants_response_phase(r) ? Phase::Response : Phase::HeaderFilter;
            } else {
              if (r->resp_body_set) r->chunks_in = {r->resp_body};
              r->stage = Phase::HeaderFilter;
            }
            r->next = 0;
            break;
          }
          size_t i = r->next;
          Entry& e = r->chain[i];
          // Kong's collection: rewrite runs (and collects) global instances; access collects
          // every instance, even those after an exit (their filters and log still run).
          if (i == 0 && p == Phase::Access)
            for (Entry& x : r->chain) x.collected = true;
          if (p == Phase::Rewrite && e.scope.global) e.collected = true;
          bool runs = has_hook(e, p) && (p != Phase::Rewrite || e.scope.global) &&
                      (p != Phase::Response || e.collected);
          if (!runs) {
            r->next = i + 1;
            break;
          }
          outcome(r, i, p, call(r, i, p), false);
          break;
        }
        case Phase::HeaderFilter: {
          if (r->next >= r->chain.size()) {
            if (r->body_mode == SB_BODY_RESIZE || r->body_mode == SB_BODY_BUFFER)
              erase_header(r->resp_headers, "content-length");
            r->stage = Phase::BodyFilter;
            r->next = 0;
            break;
          }
          size_t i = r->next++;
          Entry& e = r->chain[i];
          if (!e.collected || !has_hook(e, Phase::HeaderFilter)) break;
          sb_result res = call(r, i, Phase::HeaderFilter);
          std::string who = e.cfg->plugin->name + " header_filter";
          if (res == SB_EXITED && r->recorded) {
            ExitInfo x = std::move(*r->recorded);
            r->recorded.reset();
            r->status = x.status;
            for (auto& kv : x.headers) {
              erase_header(r->resp_headers, kv.first);
              r->resp_headers.push_back(kv);
            }
            r->chunks_in = {""};
            r->source = "exit";
            x.source = "exit";
            r->exit = std::move(x);
            r->outcome = SB_EXITED;
          } else if (res == SB_CONTINUE && !r->recorded) {
          } else if (res == SB_ERROR) {
            h->log(SB_LOG_ERR, e.cfg->plugin->name, "header_filter failed");
            error_answer(r);
            r->stage = Phase::HeaderFilter;
            r->next = i + 1;
          } else {
            h->violation(who + ": returned " + result_name(res) +
                         (r->recorded ? " after respond()" : " without respond()"));
            r->recorded.reset();
            error_answer(r);
            r->stage = Phase::HeaderFilter;
            r->next = i + 1;
          }
          break;
        }
        case Phase::BodyFilter:
          body_filter(r);
          r->stage = Phase::Log;
          r->next = 0;
          break;
        case Phase::Log:
          for (size_t i = 0; i < r->chain.size(); ++i)
            if (r->chain[i].collected && has_hook(r->chain[i], Phase::Log)) call(r, i, Phase::Log);
          finish(r, false);
          break;
        default:
          r->stage = Phase::Done;
          break;
      }
    }
  }

  static void body_filter(RequestImpl* r) {
    HostImpl* h = r->host;
    std::vector<std::string> in = r->chunks_in;
    if (in.empty()) in.push_back("");
    if (r->body_mode == SB_BODY_BUFFER) {
      std::string all;
      for (const std::string& c : in) all += c;
      if (all.size() > h->opt.body_limit) {
        h->log(SB_LOG_ERR, "host", "buffered response body over the limit");
        r->status = 502;
        r->body_error = true;
        r->chunks_out.clear();
        return;
      }
      in = {all};
    }
    size_t in_total = 0, out_total = 0;
    r->chunks_out.clear();
    for (size_t k = 0; k < in.size() && !r->body_error; ++k) {
      std::string chunk = in[k];
      in_total += chunk.size();
      int32_t eos = k + 1 == in.size();
      for (size_t i = 0; i < r->chain.size(); ++i) {
        Entry& e = r->chain[i];
        if (!e.collected || !has_hook(e, Phase::BodyFilter)) continue;
        CtxImpl& c = r->ctx;
        sb_str slice = c.keep(chunk);
        r->chunk_set.reset();
        sb_result res = call(r, i, Phase::BodyFilter, chunk.empty() ? nullptr : &slice,
                             chunk.empty() ? 0 : 1, eos);
        if (r->chunk_set) chunk = std::move(*r->chunk_set);
        if (res == SB_ERROR) {
          h->log(SB_LOG_ERR, e.cfg->plugin->name, "body_filter failed: response truncated");
          r->body_error = true;
          break;
        }
        if (res != SB_CONTINUE)
          h->violation(e.cfg->plugin->name + " body_filter: returned " + result_name(res));
      }
      if (r->body_error) break;
      out_total += chunk.size();
      r->body_sent += static_cast<int64_t>(chunk.size());
      r->chunks_out.push_back(std::move(chunk));
    }
    if (r->body_mode == SB_BODY_STREAM && !r->body_error && in_total != out_total &&
        std::any_of(r->resp_headers.begin(), r->resp_headers.end(),
                    [](auto& kv) { return name_eq(kv.first, "content-length"); }))
      h->violation("body_filter changed the body length (" + std::to_string(in_total) + " -> " +
                   std::to_string(out_total) +
                   ") without response_body_mode(SB_BODY_RESIZE) in header_filter");
  }

  // Completes (with a NULL ctx) every op of the request, then the per-request destructors.
  static void cancel_ops(RequestImpl* r, sb_status why);
  static void finish(RequestImpl* r, bool) {
    if (r->finished) return;
    cancel_ops(r, SB_E_CANCELLED);
    for (Entry& e : r->chain) {
      if (e.data && e.dtor) {
        Running run(r->host, nullptr);
        e.dtor(e.data);
      }
      e.data = nullptr;
      e.dtor = nullptr;
    }
    r->finished = true;
    r->parked = false;
    r->phase = Phase::Done;
    r->stage = Phase::Done;
    std::lock_guard<std::mutex> lock(registry_mutex());
    registry().erase(&r->ctx);
    r->registered = false;
  }

  // Delivers one completion (exactly once: the op leaves the queue first).
  static void complete(HostImpl* h, sb_op id, sb_status st, const FakeResponse* resp,
                       bool null_ctx) {
    auto it = h->ops.find(id);
    if (it == h->ops.end()) return;
    OpImpl op = std::move(it->second);
    h->ops.erase(it);
    CtxImpl* c = null_ctx ? nullptr : op.ctx;
    RequestImpl* r = op.ctx->req;
    if (c && r && r->finished) c = nullptr;
    if (c) {
      c->plugin = op.plugin;
      c->entry = op.entry;
      c->in_completion = true;
    }
    {
      Running run(h, c);
      sb_ctx* x = c ? c->handle() : nullptr;
      if (op.timer) {
        op.tcb(x, op.user, st);
      } else {
        std::vector<sb_header> hs;
        sb_http_response hr{};
        if (resp) {
          for (auto& [k, v] : resp->headers) hs.push_back(sb_header{sb::str(k), sb::str(v)});
          hr.struct_size = sizeof hr;
          hr.status = resp->status;
          hr.headers = hs.data();
          hr.n_headers = hs.size();
          hr.body = sb::str(resp->body);
        }
        op.hcb(x, op.user, st, resp ? &hr : nullptr);
      }
    }
    if (c) c->in_completion = false;
    // Continue a resumed request once no plugin code is on the stack (never re-entrantly).
    if (c && r && h->depth == 0 && r->parked && r->resumed) {
      r->parked = false;
      r->resumed = false;
      Phase p = r->phase;
      outcome(r, r->parked_entry, p, r->resume_result, true);
      drive(r);
    }
  }
};

inline sb_status Api::cancel(sb_ctx* ctx, sb_op op) {
  CtxImpl* c = nullptr;
  if (sb_status st = enter(ctx, kALL, &c, "cancel")) return st;
  auto it = c->host->ops.find(op);
  if (it == c->host->ops.end() || it->second.ctx != c) return SB_E_NOT_FOUND;
  bool was = c->in_completion;
  Driver::complete(c->host, op, SB_E_CANCELLED, nullptr, false);
  c->in_completion = was;
  return SB_OK;
}

inline void Driver::cancel_ops(RequestImpl* r, sb_status why) {
  std::vector<sb_op> ids;
  for (auto& [id, op] : r->host->ops)
    if (op.ctx == &r->ctx) ids.push_back(id);
  for (sb_op id : ids) complete(r->host, id, why, nullptr, true);
}

}  // namespace detail

// ---- Host / Plugin / Request out-of-line ------------------------------------------------------

inline Host::Host(HostOptions opt) : impl_(std::make_unique<detail::HostImpl>()) {
  detail::HostImpl& h = *impl_;
  h.opt = std::move(opt);
  h.now = h.opt.start_ms;
  detail::Api::fill(h.api);
  h.api.struct_size = h.opt.api_size;
  h.api.abi_minor = h.opt.abi_minor;
  h.info.struct_size = sizeof(sb_host_info);
  h.info.abi_major = SB_ABI_MAJOR;
  h.info.abi_minor = h.opt.abi_minor;
  h.info.flags = 0;
  h.info.host_version = h.opt.host_version.c_str();
  h.info.api = &h.api;
  h.worker.host = &h;
  h.previous = detail::current_host();
  detail::current_host() = &h;
  std::lock_guard<std::mutex> lock(detail::registry_mutex());
  detail::registry().insert(&h.worker);
}

inline Host::~Host() {
  detail::HostImpl& h = *impl_;
  // The worker stops: its ops complete with a NULL ctx.
  std::vector<sb_op> ids;
  for (auto& [id, op] : h.ops) ids.push_back(id);
  for (sb_op id : ids) detail::Driver::complete(&h, id, SB_E_CANCELLED, nullptr, true);
  h.plugins.clear();  // on_shutdown once the last config is gone
  {
    std::lock_guard<std::mutex> lock(detail::registry_mutex());
    detail::registry().erase(&h.worker);
  }
  detail::current_host() = h.previous;
}

inline std::optional<std::string> Host::load_error(sb_plugin_entry_fn entry) {
  try {
    load(entry);
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

inline Plugin Host::load(sb_plugin_entry_fn entry) {
  if (!entry) throw std::runtime_error("no entry function");
  const sb_plugin_def* d = entry(&impl_->info);
  if (!d) throw std::runtime_error("the plugin refused this host (entry returned NULL)");
  return load(*d);
}

inline Plugin Host::load(const sb_plugin_def& def) {
  detail::HostImpl& h = *impl_;
  const sb_plugin_def* d = &def;
  constexpr size_t min_def = offsetof(sb_plugin_def, hooks) + sizeof(void*);
  if (d->struct_size < min_def) throw std::runtime_error("sb_plugin_def too small");
  if (d->struct_size > sizeof(sb_plugin_def)) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(d);
    for (size_t i = sizeof(sb_plugin_def); i < d->struct_size; ++i)
      if (p[i]) throw std::runtime_error("sb_plugin_def has unknown non-zero members");
  }
  if (d->abi_major != SB_ABI_MAJOR)
    throw std::runtime_error("plugin built for ABI major " + std::to_string(d->abi_major));
  if (d->min_host_minor > h.opt.abi_minor)
    throw std::runtime_error("plugin needs Silverback ABI >= 1." +
                             std::to_string(d->min_host_minor) + ", host is 1." +
                             std::to_string(h.opt.abi_minor));
  if (d->min_host_minor > d->abi_minor)
    throw std::runtime_error("min_host_minor is newer than the plugin's own abi_minor");
  std::string name = d->name ? d->name : "";
  if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      }))
    throw std::runtime_error("bad plugin name '" + name + "': [a-z0-9-]+");
  if (!d->hooks) throw std::runtime_error("plugin has no hooks table");
  auto p = std::make_shared<detail::PluginImpl>();
  p->host = &h;
  std::memcpy(&p->def, d, std::min<size_t>(d->struct_size, sizeof p->def));
  size_t hs = std::min<size_t>(d->hooks->struct_size, sizeof p->hooks);
  std::memcpy(&p->hooks, d->hooks, hs);
  p->name = name;
  try {
    p->schema = d->config_schema ? Json::parse(d->config_schema) : Json();
    p->entities = d->entities_schema ? Json::parse(d->entities_schema) : Json::array();
  } catch (const JsonError& e) {
    throw std::runtime_error(name + ": schema is not valid JSON: " + e.what());
  }
  if (!p->hooks.on_config_compile)
    throw std::runtime_error(name + ": on_config_compile is required");
  if (p->hooks.on_init) {
    char buf[512] = {0};
    h.initialising = p.get();
    sb_status st;
    {
      detail::Running run(&h, nullptr);
      st = p->hooks.on_init(&h.info, &p->state, sb_errbuf{buf, sizeof buf});
    }
    h.initialising = nullptr;
    if (st != SB_OK)
      throw std::runtime_error(name + ": on_init failed (" + sb::status_name(st) + "): " + buf);
  }
  p->initialised = true;
  h.plugins.push_back(p);
  return Plugin(p);
}

inline Plugin Host::load_library(const std::string& path) {
  void* dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!dl) throw std::runtime_error(std::string("dlopen: ") + dlerror());
  auto entry = reinterpret_cast<sb_plugin_entry_fn>(dlsym(dl, SB_ENTRY_SYMBOL));
  if (!entry) throw std::runtime_error(path + ": no " SB_ENTRY_SYMBOL);
  Plugin p = load(entry);
  p.impl()->dl = dl;
  return p;
}

inline void Host::add_entity(const std::string& entity, std::string_view row_json) {
  impl_->entities[entity].push_back(std::make_unique<Json>(Json::parse(row_json)));
}

inline void Host::add_entities(std::string_view json) {
  Json all = Json::parse(json);
  if (!all.is_object()) throw std::runtime_error("add_entities: expected an object");
  for (size_t i = 0; i < all.size(); ++i)
    for (const Json& row : all.at(i).items())
      impl_->entities[all.key_at(i)].push_back(std::make_unique<Json>(row));
}

inline Request Host::request(FakeRequest r) {
  auto impl = std::make_unique<detail::RequestImpl>();
  impl->host = impl_.get();
  impl->ctx.host = impl_.get();
  impl->ctx.req = impl.get();
  if (r.raw_path.empty()) r.raw_path = r.path;
  if (r.route_id.empty()) r.service_id.clear();
  impl->req_headers = r.headers;
  if (std::none_of(r.headers.begin(), r.headers.end(),
                   [](auto& kv) { return detail::name_eq(kv.first, "host"); }))
    impl->req_headers.insert(impl->req_headers.begin(), {"Host", r.host});
  impl->upstream_method = r.method;
  impl->upstream_path = r.path;
  impl->upstream_query = r.query;
  impl->in = std::move(r);
  {
    std::lock_guard<std::mutex> lock(detail::registry_mutex());
    detail::registry().insert(&impl->ctx);
    impl->registered = true;
  }
  return Request(std::move(impl));
}

inline void Host::advance(uint64_t ms) {
  uint64_t until = impl_->now + ms;
  for (;;) {
    const detail::OpImpl* next = nullptr;
    for (auto& [id, op] : impl_->ops)
      if (op.timer && op.due <= until && (!next || op.due < next->due)) next = &op;
    if (!next) break;
    if (next->due > impl_->now) impl_->now = next->due;
    detail::Driver::complete(impl_.get(), next->id, SB_OK, nullptr, false);
  }
  impl_->now = until;
}

inline bool Host::fire_next_timer() {
  const detail::OpImpl* next = nullptr;
  for (auto& [id, op] : impl_->ops)
    if (op.timer && (!next || op.due < next->due)) next = &op;
  if (!next) return false;
  if (next->due > impl_->now) impl_->now = next->due;
  detail::Driver::complete(impl_.get(), next->id, SB_OK, nullptr, false);
  return true;
}

inline size_t Host::run_timers(size_t max) {
  size_t n = 0;
  while (n < max && fire_next_timer()) ++n;
  return n;
}

inline size_t Host::pending_timers() const {
  size_t n = 0;
  for (auto& [id, op] : impl_->ops) n += op.timer ? 1 : 0;
  return n;
}

inline std::vector<HttpCall> Host::http_calls() const {
  std::vector<HttpCall> out;
  for (auto& [id, op] : impl_->ops)
    if (!op.timer) out.push_back(op.call);
  return out;
}

inline bool Host::complete_http(sb_op id, const FakeResponse& r) {
  auto it = impl_->ops.find(id);
  if (it == impl_->ops.end() || it->second.timer) return false;
  FakeResponse copy = r;
  if (!copy.chunks.empty() && copy.body.empty())
    for (const std::string& c : copy.chunks) copy.body += c;
  detail::Driver::complete(impl_.get(), id, SB_OK, &copy, false);
  return true;
}

inline bool Host::fail_http(sb_op id, sb_status status) {
  auto it = impl_->ops.find(id);
  if (it == impl_->ops.end() || it->second.timer) return false;
  detail::Driver::complete(impl_.get(), id, status, nullptr, false);
  return true;
}

inline Config Plugin::try_compile(std::string_view json, bool validate, std::string& err) const {
  detail::HostImpl* h = impl_->host;
  Json conf;
  try {
    conf = Json::parse(json);
  } catch (const JsonError& e) {
    err = e.what();
    return Config();
  }
  if (validate) {
    if (const Json* rec = schema::config_record(impl_->schema)) {
      std::vector<std::string> errors;
      conf = schema::field(*rec, &conf, "config", errors);
      if (!errors.empty()) {
        err.clear();
        for (const std::string& e : errors) err += (err.empty() ? "" : "; ") + e;
        return Config();
      }
    }
  }
  auto c = std::make_shared<detail::ConfigImpl>();
  c->conf = std::move(conf);
  char buf[512] = {0};
  void* cfg = nullptr;
  uint32_t flags = 0;
  sb_status st;
  {
    detail::Running run(h, nullptr);
    h->initialising = impl_.get();
    // A copy that dies after the call: a plugin keeping views into it fails under ASan.
    Json transient = c->conf;
    st = impl_->hooks.on_config_compile(impl_->state, transient.as_value(), &cfg, &flags,
                                        sb_errbuf{buf, sizeof buf});
    h->initialising = nullptr;
  }
  if (st != SB_OK) {
    err = buf[0] ? buf : std::string("on_config_compile failed: ") + sb::status_name(st);
    if (cfg) h->violation(impl_->name + ": on_config_compile failed but set *cfg");
    return Config();
  }
  c->plugin = impl_;
  c->cfg = cfg;
  c->flags = flags;
  static uint64_t counter = 0;
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012llu",
                static_cast<unsigned long long>(++counter));
  c->id = id;
  return Config(std::move(c));
}

inline sb_status Plugin::init_worker() const {
  if (!impl_->hooks.on_init_worker) return SB_OK;
  detail::HostImpl* h = impl_->host;
  h->worker.plugin = impl_.get();
  detail::Running run(h, &h->worker);
  return impl_->hooks.on_init_worker(impl_->state, h->worker.handle());
}

inline Request::~Request() {
  if (!impl_ || impl_->finished) return;
  // Dropped mid-way: the ops go (NULL ctx) and the data destructors run; no log phase.
  detail::Driver::finish(impl_.get(), false);
}

inline Request& Request::add(const Config& cfg, Scope scope) {
  detail::Entry e;
  e.cfg = cfg.impl();
  e.scope = std::move(scope);
  auto& chain = impl_->chain;
  auto pos = std::find_if(chain.begin(), chain.end(), [&](const detail::Entry& x) {
    return x.cfg->plugin->def.priority < e.cfg->plugin->def.priority;
  });
  chain.insert(pos, std::move(e));
  if (cfg.flags() & SB_CFG_READS_REQUEST_BODY) impl_->any_body_flag = true;
  return *this;
}

inline sb_result Request::run_until(Phase p) {
  detail::RequestImpl* r = impl_.get();
  if (r->target < p) r->target = p;
  detail::Driver::drive(r);
  if (r->parked) return SB_PENDING;
  return r->outcome;
}

inline void Request::abort() {
  detail::RequestImpl* r = impl_.get();
  if (r->finished) return;
  detail::Driver::cancel_ops(r, SB_E_CANCELLED);
  r->parked = false;
  if (r->status == 0) r->status = 499;
  r->source = r->source.empty() ? "error" : r->source;
  r->stage = Phase::Log;
  r->target = Phase::Done;
  detail::Driver::drive(r);
}

inline void Request::expire_pending() {
  detail::RequestImpl* r = impl_.get();
  if (!r->parked) return;
  detail::Driver::cancel_ops(r, SB_E_TIMEOUT);
  r->parked = false;
  detail::Driver::error_answer(r);
  r->target = Phase::Done;
  detail::Driver::drive(r);
}

template <class F>
auto Request::in_phase(Phase phase, F&& fn, size_t entry) {
  detail::RequestImpl* r = impl_.get();
  Phase saved = r->phase;
  r->phase = phase;
  r->ctx.entry = entry;
  r->ctx.plugin = entry < r->chain.size() ? r->chain[entry].cfg->plugin.get() : nullptr;
  struct Restore {
    detail::RequestImpl* r;
    Phase p;
    ~Restore() { r->phase = p; }
  } restore{r, saved};
  detail::Running run(r->host, &r->ctx);
  return fn(r->ctx.handle());
}

}  // namespace sb::testing

#endif  // SILVERBACK_TESTING_HPP
