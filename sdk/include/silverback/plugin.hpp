// Silverback plugin SDK: a header-only C++20 layer over the C ABI in silverback/plugin.h.
//
// Everything here is compiled into the plugin; nothing C++ crosses the boundary. A plugin is a
// class with static member functions named after Kong's phases, and one macro:
//
//   struct Hello {
//     struct Config { std::string header; };
//     static Config compile(const sb::Value& conf) { return {conf["header"].string()}; }
//     static sb::Result access(sb::Ctx& ctx, const Config& cfg) {
//       if (!ctx.request().header(cfg.header)) return ctx.response().exit_message(403, "nope");
//       return sb::Result::Continue;
//     }
//   };
//   SB_PLUGIN(Hello, "hello", "1.0.0", 1000, kSchemaJson, nullptr)
//
// What the class may declare (only what it declares becomes a non-NULL hook):
//   struct Config;                                              required, the compiled config
//   static Config compile(const sb::Value& conf);               required (or (conf, State&));
//                                  throw sb::ConfigError / any std::exception to reject the load
//   static uint32_t flags(const Config&);                       SB_CFG_* bits
//   struct State;                      plugin-global object, made in on_init (default ctor or
//                                      ctor(const sb_host_info&)), deleted in on_shutdown;
//                                      reach it with ctx.state<Plugin>(); shared by all workers
//   static constexpr uint32_t min_host_minor = N;               default 0
//   static void init_worker(sb::WorkerCtx&);                    or returning sb::Status
//   static void configure(std::span<const Config* const>);      Kong's configure
//   static sb::Result certificate|rewrite|access|response|header_filter(sb::Ctx&, const Config&);
//   static sb::Result body_filter(sb::Ctx&, const Config&, std::span<const sb_str>, bool eos);
//   static void log(sb::Ctx&, const Config&);
// A member with one of those names but another signature is a compile error, not a silent NULL.
//
// Every trampoline is noexcept: an exception becomes SB_ERROR (or a refused config / init) and
// an error log line. Views (std::string_view, sb::Value) follow plugin.h's lifetime rule: valid
// until the hook or completion returns, or until the same object is changed. Copy to keep.
#ifndef SILVERBACK_PLUGIN_HPP
#define SILVERBACK_PLUGIN_HPP

#include <silverback/plugin.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace sb {

// ---- Small conversions ---------------------------------------------------------------------

constexpr sb_str str(std::string_view s) noexcept { return sb_str{s.data(), s.size()}; }
constexpr std::string_view view(sb_str s) noexcept {
  return s.len ? std::string_view(s.ptr, s.len) : std::string_view();
}
// Concatenates a body_filter chunk (an array of slices).
inline std::string join(std::span<const sb_str> chunk) {
  size_t n = 0;
  for (const sb_str& s : chunk) n += s.len;
  std::string out;
  out.reserve(n);
  for (const sb_str& s : chunk) out.append(view(s));
  return out;
}
// ASCII case-insensitive comparison (header names).
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// The name of an sb_status constant ("SB_E_WRONG_PHASE"); no host needed.
constexpr const char* status_name(sb_status s) noexcept {
  switch (s) {
    case SB_OK:
      return "SB_OK";
    case SB_E_NOT_FOUND:
      return "SB_E_NOT_FOUND";
    case SB_E_INVALID_ARG:
      return "SB_E_INVALID_ARG";
    case SB_E_WRONG_PHASE:
      return "SB_E_WRONG_PHASE";
    case SB_E_UNSUPPORTED:
      return "SB_E_UNSUPPORTED";
    case SB_E_TOO_LARGE:
      return "SB_E_TOO_LARGE";
    case SB_E_STATE:
      return "SB_E_STATE";
    case SB_E_CANCELLED:
      return "SB_E_CANCELLED";
    case SB_E_TIMEOUT:
      return "SB_E_TIMEOUT";
    case SB_E_INTERNAL:
      return "SB_E_INTERNAL";
    case SB_E_WRONG_THREAD:
      return "SB_E_WRONG_THREAD";
    case SB_E_UPSTREAM:
      return "SB_E_UPSTREAM";
    default:
      return s < 0 ? "SB_E_(unknown)" : "SB_(unknown)";
  }
}

// The outcome of a host call. Open set: anything but SB_OK is a failure.
class Status {
 public:
  constexpr Status(sb_status code = SB_OK) noexcept : code_(code) {}  // NOLINT: implicit
  constexpr bool ok() const noexcept { return code_ == SB_OK; }
  constexpr explicit operator bool() const noexcept { return ok(); }
  constexpr sb_status code() const noexcept { return code_; }
  constexpr const char* name() const noexcept { return status_name(code_); }
  friend constexpr bool operator==(Status a, Status b) noexcept { return a.code_ == b.code_; }

 private:
  sb_status code_;
};

// What a phase hook (or resume) reports.
enum class Result : sb_result {
  Continue = SB_CONTINUE,
  Exited = SB_EXITED,  // respond()/exit()/error() was called
  Pending = SB_PENDING,
  Error = SB_ERROR,
};

// How body_filter sees the response body (header_filter only).
enum class BodyMode : uint32_t {
  Stream = SB_BODY_STREAM,
  Buffer = SB_BODY_BUFFER,
  Resize = SB_BODY_RESIZE,
};

// A config was rejected; the message goes to the host's error buffer.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Header {
  std::string_view name{};
  std::string_view value{};
};

// Borrowed list of headers to send: {{"a", "1"}, {"b", "2"}}, a vector or a span of sb::Header.
class HeaderList {
 public:
  HeaderList() = default;
  HeaderList(std::initializer_list<Header> l) : items_(l.begin(), l.size()) {}
  HeaderList(std::span<const Header> s) : items_(s) {}
  HeaderList(const std::vector<Header>& v) : items_(v) {}
  std::span<const Header> items() const { return items_; }
  std::vector<sb_header> to_c() const {
    std::vector<sb_header> out;
    out.reserve(items_.size());
    for (const Header& h : items_) out.push_back(sb_header{str(h.name), str(h.value)});
    return out;
  }

 private:
  std::span<const Header> items_;
};

// ---- JSON writer (bodies plugins build; no parser: configs arrive as sb::Value) ------------

namespace json {

// Appends s as a quoted JSON string. Control characters are escaped; invalid UTF-8 sequences
// become U+FFFD so the output is always valid JSON.
inline void quote_to(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xf]);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // A multi-byte UTF-8 sequence: copy it if well-formed (no overlongs, no surrogates).
    size_t n = 0;
    uint32_t cp = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 2, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4, cp = c & 0x07;
    }
    bool good = n != 0 && i + n <= s.size();
    for (size_t k = 1; good && k < n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) good = false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (good && ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
                 (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))) {
      good = false;
    }
    if (good) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out.push_back('"');
}
inline std::string quote(std::string_view s) {
  std::string out;
  quote_to(out, s);
  return out;
}
// {"message":"<msg>"}, Kong's error body shape.
inline std::string message(std::string_view msg) {
  std::string out = "{\"message\":";
  quote_to(out, msg);
  out.push_back('}');
  return out;
}

// A streaming writer: commas and quoting are handled, nesting is the caller's job.
//   sb::json::Writer w; w.begin_object().key("a").value(1).key("b").begin_array().end_array()
//     .end_object(); w.str() == R"({"a":1,"b":[]})"
class Writer {
 public:
  Writer& begin_object() { return open('{'); }
  Writer& end_object() { return close('}'); }
  Writer& begin_array() { return open('['); }
  Writer& end_array() { return close(']'); }
  Writer& key(std::string_view k) {
    comma();
    quote_to(out_, k);
    out_.push_back(':');
    after_key_ = true;
    return *this;
  }
  Writer& value(std::string_view s) {
    comma();
    quote_to(out_, s);
    return *this;
  }
  Writer& value(const char* s) { return s ? value(std::string_view(s)) : null(); }
  Writer& value(const std::string& s) { return value(std::string_view(s)); }
  Writer& value(bool b) { return raw(b ? "true" : "false"); }
  template <std::integral T>
  requires(!std::same_as<T, bool>) Writer& value(T v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    return raw(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
  }
  Writer& value(double v) {
    if (!std::isfinite(v)) return null();
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    return raw(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
  }
  Writer& null() { return raw("null"); }
  // Inserts already-encoded JSON as one value.
  Writer& raw(std::string_view json) {
    comma();
    out_.append(json);
    return *this;
  }
  const std::string& str() const& { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void comma() {
    if (after_key_) {
      after_key_ = false;
    } else if (!first_.empty()) {
      if (!first_.back()) out_.push_back(',');
      first_.back() = false;
    }
  }
  Writer& open(char c) {
    comma();
    out_.push_back(c);
    first_.push_back(true);
    return *this;
  }
  Writer& close(char c) {
    out_.push_back(c);
    if (!first_.empty()) first_.pop_back();
    return *this;
  }
  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

}  // namespace json

// ---- Values: configs and entity rows -------------------------------------------------------

// A read-only view of a host value (null when absent). Lives as long as the host says (the
// config: during compile; entity rows: the request). Copy out what you keep.
class Value {
 public:
  enum class Kind : int32_t {
    Null = SB_VALUE_NULL,
    Bool = SB_VALUE_BOOL,
    Integer = SB_VALUE_INTEGER,
    Number = SB_VALUE_NUMBER,
    String = SB_VALUE_STRING,
    Array = SB_VALUE_ARRAY,
    Object = SB_VALUE_OBJECT,
  };
  struct Member;  // {key, value}; defined below
  class Members;  // range of Member

  Value() = default;
  Value(const sb_host_api* api, const sb_value* v) noexcept : api_(api), v_(api ? v : nullptr) {}

  // Present (a JSON null counts as present); absent members and failed look-ups are not.
  explicit operator bool() const noexcept { return v_ != nullptr; }
  const sb_value* raw() const noexcept { return v_; }
  Kind kind() const noexcept { return v_ ? Kind(api_->value_kind(v_)) : Kind::Null; }
  bool is_null() const noexcept { return kind() == Kind::Null; }
  bool is_bool() const noexcept { return kind() == Kind::Bool; }
  bool is_integer() const noexcept { return kind() == Kind::Integer; }
  bool is_number() const noexcept { return kind() == Kind::Number || kind() == Kind::Integer; }
  bool is_string() const noexcept { return kind() == Kind::String; }
  bool is_array() const noexcept { return kind() == Kind::Array; }
  bool is_object() const noexcept { return kind() == Kind::Object; }

  Value get(std::string_view key) const noexcept {
    return v_ ? Value(api_, api_->value_get(v_, ::sb::str(key))) : Value();
  }
  Value operator[](std::string_view key) const noexcept { return get(key); }
  Value operator[](const char* key) const noexcept { return get(key); }
  size_t size() const noexcept { return v_ ? api_->value_len(v_) : 0; }
  bool empty() const noexcept { return size() == 0; }
  Value at(size_t i) const noexcept { return v_ ? Value(api_, api_->value_at(v_, i)) : Value(); }
  Value operator[](size_t i) const noexcept { return at(i); }
  std::string_view key_at(size_t i) const noexcept {
    return v_ ? view(api_->value_key_at(v_, i)) : std::string_view();
  }
  std::string_view str() const noexcept { return v_ ? view(api_->value_str(v_)) : ""; }
  std::string string() const { return std::string(str()); }
  int64_t integer() const noexcept { return v_ ? api_->value_int(v_) : 0; }
  double number() const noexcept { return v_ ? api_->value_num(v_) : 0.0; }
  bool boolean() const noexcept { return integer() != 0 && is_bool(); }

  // Strings of an array (Kong's array/set of strings), copied.
  std::vector<std::string> strings() const {
    std::vector<std::string> out;
    for (Value item : *this) out.emplace_back(item.str());
    return out;
  }

  // Iteration over array items or object member values; members() gives the keys too.
  class Iterator {
   public:
    using value_type = Value;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    Iterator(const Value* owner, size_t i) : owner_(owner), i_(i) {}
    Value operator*() const { return owner_->at(i_); }
    Iterator& operator++() {
      ++i_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator t = *this;
      ++i_;
      return t;
    }
    bool operator==(const Iterator& o) const { return i_ == o.i_; }

   private:
    const Value* owner_ = nullptr;
    size_t i_ = 0;
  };
  Iterator begin() const { return Iterator(this, 0); }
  Iterator end() const { return Iterator(this, size()); }

  Members members() const;

 private:
  const sb_host_api* api_ = nullptr;
  const sb_value* v_ = nullptr;
};

struct Value::Member {
  std::string_view key;
  Value value;
};

class Value::Members {
 public:
  class Iterator {
   public:
    using value_type = Member;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    Iterator(Value v, size_t i) : v_(v), i_(i) {}
    Member operator*() const { return Member{v_.key_at(i_), v_.at(i_)}; }
    Iterator& operator++() {
      ++i_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator t = *this;
      ++i_;
      return t;
    }
    bool operator==(const Iterator& o) const { return i_ == o.i_; }

   private:
    Value v_;
    size_t i_ = 0;
  };
  explicit Members(Value v) : v_(v) {}
  Iterator begin() const { return Iterator(v_, 0); }
  Iterator end() const { return Iterator(v_, v_.is_object() ? v_.size() : 0); }

 private:
  Value v_;
};

inline Value::Members Value::members() const { return Members(*this); }

// ---- Outbound HTTP -------------------------------------------------------------------------

// Borrowed for the http_call() only.
// Every member has an initializer so designated initializers may skip any of them.
struct HttpRequest {
  std::string_view method{};  // empty = GET
  std::string_view url{};
  std::vector<Header> headers{};
  std::string_view body{};
  uint32_t timeout_ms = 0;  // 0 = the host's default (10 s)
  bool verify_tls = false;  // SB_HTTP_TLS_VERIFY
};

// The response inside an http_call completion (host-owned, valid in the callback only). On a
// failed call it is empty (status 0).
class HttpResponse {
 public:
  explicit HttpResponse(const sb_http_response* r) noexcept : r_(r) {}
  explicit operator bool() const noexcept { return r_ != nullptr; }
  int status() const noexcept { return r_ ? r_->status : 0; }
  std::optional<std::string_view> header(std::string_view name) const noexcept {
    for (const sb_header& h : headers())
      if (iequals(view(h.name), name)) return view(h.value);
    return std::nullopt;
  }
  std::span<const sb_header> headers() const noexcept {
    if (!r_ || !r_->headers) return {};
    return {r_->headers, r_->n_headers};
  }
  std::string_view body() const noexcept { return r_ ? view(r_->body) : std::string_view(); }
  const sb_http_response* raw() const noexcept { return r_; }

 private:
  const sb_http_response* r_;
};

// An async operation just started (or refused).
class Op {
 public:
  Op(Status status, sb_op id) noexcept : status_(status), id_(id) {}
  explicit operator bool() const noexcept { return status_.ok(); }
  Status status() const noexcept { return status_; }
  sb_op id() const noexcept { return id_; }
  // Result::Pending if the op started, else Result::Error: `return ctx.timer(...).pending();`
  Result pending() const noexcept { return status_.ok() ? Result::Pending : Result::Error; }

 private:
  Status status_;
  sb_op id_;
};

namespace detail {

// The api the plugin was initialised with (plugin.h: valid for the life of the process). Only
// SB_HOST_HAS uses it; everything else carries the api next to its ctx or value.
inline std::atomic<const sb_host_api*> g_api{nullptr};

inline void write_err(sb_errbuf err, std::string_view msg) noexcept {
  if (!err.buf || err.cap == 0) return;
  size_t n = msg.size() < err.cap - 1 ? msg.size() : err.cap - 1;
  if (n) std::memcpy(err.buf, msg.data(), n);
  err.buf[n] = '\0';
}

template <class... A>
std::string concat(const A&... a) {
  if constexpr (sizeof...(A) == 1 && (std::is_convertible_v<const A&, std::string_view> && ...)) {
    return std::string(std::string_view(a...));
  } else {
    std::ostringstream os;
    (os << ... << a);
    return std::move(os).str();
  }
}

// Logs without throwing (used from the catch blocks of the trampolines).
inline void log_noexcept(const sb_host_api* api, sb_ctx* ctx, int32_t level, const char* what,
                         const char* detail) noexcept {
  if (!api) return;
  try {
    std::string m = std::string(what) + ": " + detail;
    api->log_msg(ctx, level, str(m));
  } catch (...) {
    api->log_msg(ctx, level, str(what));
  }
}

// A handle to a ctx plus the api; the base of every group object.
struct Handle {
  const sb_host_api* api = nullptr;
  sb_ctx* ctx = nullptr;

  std::optional<std::string_view> var(uint32_t id) const noexcept {
    sb_str out{nullptr, 0};
    if (api->var_get(ctx, id, &out) != SB_OK) return std::nullopt;
    return view(out);
  }
  std::string_view var_or_empty(uint32_t id) const noexcept { return var(id).value_or(""); }
  std::optional<int64_t> num(uint32_t id) const noexcept {
    int64_t out = 0;
    if (api->num_get(ctx, id, &out) != SB_OK) return std::nullopt;
    return out;
  }
  std::optional<std::string_view> header(uint32_t map, std::string_view name) const noexcept {
    sb_str out{nullptr, 0};
    if (api->hdr_get(ctx, map, str(name), 0, &out, nullptr) != SB_OK) return std::nullopt;
    return view(out);
  }
  std::vector<std::string_view> header_values(uint32_t map, std::string_view name) const {
    std::vector<std::string_view> out;
    size_t count = 0;
    if (api->hdr_get(ctx, map, str(name), 0, nullptr, &count) != SB_OK) return out;
    for (size_t i = 0; i < count; ++i) {
      sb_str v{nullptr, 0};
      if (api->hdr_get(ctx, map, str(name), i, &v, nullptr) == SB_OK) out.push_back(view(v));
    }
    return out;
  }
  std::vector<Header> headers(uint32_t map) const {
    std::vector<Header> out;
    size_t n = 0;
    if (api->hdr_count(ctx, map, &n) != SB_OK) return out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      sb_header h{};
      if (api->hdr_at(ctx, map, i, &h) == SB_OK) out.push_back(Header{view(h.name), view(h.value)});
    }
    return out;
  }
};

}  // namespace detail

// Feature test for a host slot newer than the oldest host minor the plugin accepts:
//   if (SB_HOST_HAS(some_v1_1_slot)) ... else degrade.
// False before on_init ran (the api is recorded there).
#define SB_HOST_HAS(slot)                                            \
  (::sb::detail::g_api.load(std::memory_order_relaxed) != nullptr && \
   SB_HAS(::sb::detail::g_api.load(std::memory_order_relaxed), sb_host_api, slot))

// ---- PDK groups (thin handles; obtained from a Ctx, valid while it is) ---------------------

namespace pdk {

// kong.log: ctx.log().info("user ", id, " denied"). Arguments are streamed (operator<<).
class Log : detail::Handle {
 public:
  explicit Log(detail::Handle h) : Handle(h) {}
  template <class... A>
  void debug(const A&... a) const {
    write(SB_LOG_DEBUG, a...);
  }
  template <class... A>
  void info(const A&... a) const {
    write(SB_LOG_INFO, a...);
  }
  template <class... A>
  void notice(const A&... a) const {
    write(SB_LOG_NOTICE, a...);
  }
  template <class... A>
  void warn(const A&... a) const {
    write(SB_LOG_WARN, a...);
  }
  template <class... A>
  void err(const A&... a) const {
    write(SB_LOG_ERR, a...);
  }
  template <class... A>
  void crit(const A&... a) const {
    write(SB_LOG_CRIT, a...);
  }
  template <class... A>
  void alert(const A&... a) const {
    write(SB_LOG_ALERT, a...);
  }
  template <class... A>
  void emerg(const A&... a) const {
    write(SB_LOG_EMERG, a...);
  }
  template <class... A>
  void write(int32_t level, const A&... a) const {
    std::string m = detail::concat(a...);
    api->log_msg(ctx, level, str(m));
  }
  // kong.log.serialize() as compact JSON (log phase).
  std::optional<std::string_view> serialize() const noexcept {
    sb_str out{nullptr, 0};
    if (api->log_serialize(ctx, &out) != SB_OK) return std::nullopt;
    return view(out);
  }
};

// kong.node
class Node : detail::Handle {
 public:
  explicit Node(detail::Handle h) : Handle(h) {}
  std::string_view id() const noexcept { return var_or_empty(SB_VAR_NODE_ID); }
  std::string_view hostname() const noexcept { return var_or_empty(SB_VAR_HOSTNAME); }
  int64_t worker_id() const noexcept { return num(SB_NUM_WORKER_ID).value_or(0); }
};

// kong.request: the client request (read-only).
class Request : detail::Handle {
 public:
  explicit Request(detail::Handle h) : Handle(h) {}
  std::string_view method() const noexcept { return var_or_empty(SB_VAR_METHOD); }
  std::string_view scheme() const noexcept { return var_or_empty(SB_VAR_SCHEME); }
  std::string_view host() const noexcept { return var_or_empty(SB_VAR_HOST); }
  int64_t port() const noexcept { return num(SB_NUM_SERVER_PORT).value_or(0); }
  std::string_view path() const noexcept { return var_or_empty(SB_VAR_PATH); }
  std::string_view raw_path() const noexcept { return var_or_empty(SB_VAR_RAW_PATH); }
  std::string_view raw_query() const noexcept { return var_or_empty(SB_VAR_RAW_QUERY); }
  std::string_view http_version() const noexcept { return var_or_empty(SB_VAR_HTTP_VERSION); }
  std::string_view id() const noexcept { return var_or_empty(SB_VAR_REQUEST_ID); }
  std::string_view forwarded_scheme() const noexcept {
    return var_or_empty(SB_VAR_FORWARDED_SCHEME);
  }
  std::string_view forwarded_host() const noexcept { return var_or_empty(SB_VAR_FORWARDED_HOST); }
  int64_t forwarded_port() const noexcept { return num(SB_NUM_FORWARDED_PORT).value_or(0); }
  int64_t start_time_ms() const noexcept { return num(SB_NUM_START_TIME_MS).value_or(0); }
  // First value of a header (case-insensitive, '_' matches '-'); nullopt when absent.
  std::optional<std::string_view> header(std::string_view name) const noexcept {
    return Handle::header(SB_HDR_REQUEST, name);
  }
  std::vector<std::string_view> header_values(std::string_view name) const {
    return Handle::header_values(SB_HDR_REQUEST, name);
  }
  std::vector<Header> headers() const { return Handle::headers(SB_HDR_REQUEST); }
  // First value of a query argument, decoded; "" for a flag without '='.
  std::optional<std::string_view> query_arg(std::string_view name) const noexcept {
    sb_str out{nullptr, 0};
    if (api->query_get(ctx, str(name), 0, &out, nullptr) != SB_OK) return std::nullopt;
    return view(out);
  }
  std::vector<std::string_view> query_arg_values(std::string_view name) const {
    std::vector<std::string_view> out;
    size_t count = 0;
    if (api->query_get(ctx, str(name), 0, nullptr, &count) != SB_OK) return out;
    for (size_t i = 0; i < count; ++i) {
      sb_str v{nullptr, 0};
      if (api->query_get(ctx, str(name), i, &v, nullptr) == SB_OK) out.push_back(view(v));
    }
    return out;
  }
  // The raw body (needs SB_CFG_READS_REQUEST_BODY from flags()); nullopt if unavailable.
  std::optional<std::string_view> body() const noexcept {
    sb_str out{nullptr, 0};
    if (api->request_body_get(ctx, &out) != SB_OK) return std::nullopt;
    return view(out);
  }
};

// kong.service.request: the request sent upstream (rewrite, access).
class ServiceRequest : detail::Handle {
 public:
  explicit ServiceRequest(detail::Handle h) : Handle(h) {}
  Status set_header(std::string_view name, std::string_view value) const noexcept {
    return api->hdr_set(ctx, SB_HDR_UPSTREAM_REQUEST, str(name), str(value));
  }
  Status add_header(std::string_view name, std::string_view value) const noexcept {
    return api->hdr_add(ctx, SB_HDR_UPSTREAM_REQUEST, str(name), str(value));
  }
  Status clear_header(std::string_view name) const noexcept {
    return api->hdr_remove(ctx, SB_HDR_UPSTREAM_REQUEST, str(name));
  }
  Status set_path(std::string_view path) const noexcept {
    return api->var_set(ctx, SB_VAR_UPSTREAM_PATH, str(path));
  }
  Status set_raw_query(std::string_view query) const noexcept {
    return api->var_set(ctx, SB_VAR_UPSTREAM_QUERY, str(query));
  }
  Status set_method(std::string_view method) const noexcept {
    return api->var_set(ctx, SB_VAR_UPSTREAM_METHOD, str(method));
  }
  Status set_raw_body(std::string_view body) const noexcept {
    return api->request_body_set(ctx, str(body));
  }
  std::optional<std::string_view> path() const noexcept { return var(SB_VAR_UPSTREAM_PATH); }
  std::optional<std::string_view> raw_query() const noexcept { return var(SB_VAR_UPSTREAM_QUERY); }
  std::optional<std::string_view> method() const noexcept { return var(SB_VAR_UPSTREAM_METHOD); }
};

// kong.response: the response the client gets.
class Response : detail::Handle {
 public:
  explicit Response(detail::Handle h) : Handle(h) {}
  int status() const noexcept { return static_cast<int>(num(SB_NUM_RESPONSE_STATUS).value_or(0)); }
  Status set_status(int status) const noexcept {
    return api->num_set(ctx, SB_NUM_RESPONSE_STATUS, status);
  }
  // "service", "exit" or "error" (header_filter, body_filter, log).
  std::string_view source() const noexcept { return var_or_empty(SB_VAR_RESPONSE_SOURCE); }
  std::optional<std::string_view> header(std::string_view name) const noexcept {
    return Handle::header(SB_HDR_RESPONSE, name);
  }
  std::vector<Header> headers() const { return Handle::headers(SB_HDR_RESPONSE); }
  Status set_header(std::string_view name, std::string_view value) const noexcept {
    return api->hdr_set(ctx, SB_HDR_RESPONSE, str(name), str(value));
  }
  Status add_header(std::string_view name, std::string_view value) const noexcept {
    return api->hdr_add(ctx, SB_HDR_RESPONSE, str(name), str(value));
  }
  Status clear_header(std::string_view name) const noexcept {
    return api->hdr_remove(ctx, SB_HDR_RESPONSE, str(name));
  }

  // kong.response.exit: records the answer; return what it returns from the hook
  // (Result::Exited, or Result::Error with a log line if the host refused).
  Result exit(int status, std::string_view body = {}, HeaderList headers = {}) const {
    std::vector<sb_header> h = headers.to_c();
    return outcome(api->respond(ctx, status, h.data(), h.size(), str(body)), "respond");
  }
  // exit() with Content-Type: application/json; charset=utf-8 (unless headers has one), as
  // Kong does for a table body: exit_json(429, R"({"message":"slow down"})").
  Result exit_json(int status, std::string_view json, HeaderList headers = {}) const {
    std::vector<sb_header> h = headers.to_c();
    bool has_type = false;
    for (const Header& x : headers.items()) has_type = has_type || iequals(x.name, "content-type");
    if (!has_type) h.push_back(sb_header{str("Content-Type"), str(kJsonType)});
    return outcome(api->respond(ctx, status, h.data(), h.size(), str(json)), "respond");
  }
  // exit_json with {"message": msg} (escaped): Kong's exit(403, {message = "..."}).
  Result exit_message(int status, std::string_view msg, HeaderList headers = {}) const {
    return exit_json(status, json::message(msg), headers);
  }
  // kong.response.error: status >= 400, body from the host's templates (Accept-negotiated).
  Result error(int status, std::string_view message = {}, HeaderList headers = {}) const {
    std::vector<sb_header> h = headers.to_c();
    return outcome(api->respond_error(ctx, status, str(message), h.data(), h.size()),
                   "respond_error");
  }
  // header_filter: how body_filter sees the body.
  Status body_mode(BodyMode mode) const noexcept {
    return api->response_body_mode(ctx, static_cast<uint32_t>(mode));
  }
  // body_filter: replaces the current chunk (empty drops it); response: the whole body.
  Status set_body(std::string_view data) const noexcept { return api->body_set(ctx, str(data)); }

  static constexpr std::string_view kJsonType = "application/json; charset=utf-8";

 private:
  Result outcome(Status st, const char* what) const noexcept {
    if (st.ok()) return Result::Exited;
    detail::log_noexcept(api, ctx, SB_LOG_ERR, what, st.name());
    return Result::Error;
  }
};

// kong.service.response: the upstream's answer.
class ServiceResponse : detail::Handle {
 public:
  explicit ServiceResponse(detail::Handle h) : Handle(h) {}
  int status() const noexcept { return static_cast<int>(num(SB_NUM_UPSTREAM_STATUS).value_or(0)); }
  std::optional<std::string_view> header(std::string_view name) const noexcept {
    return Handle::header(SB_HDR_UPSTREAM_RESPONSE, name);
  }
  std::vector<Header> headers() const { return Handle::headers(SB_HDR_UPSTREAM_RESPONSE); }
  // The whole upstream body (response phase).
  std::optional<std::string_view> raw_body() const noexcept {
    sb_str out{nullptr, 0};
    if (api->response_body_get(ctx, &out) != SB_OK) return std::nullopt;
    return view(out);
  }
};

// kong.service: where to proxy (access).
class Service : detail::Handle {
 public:
  explicit Service(detail::Handle h) : Handle(h) {}
  Status set_target(std::string_view host, uint16_t port) const noexcept {
    return api->service_set_target(ctx, str(host), port);
  }
  Status set_upstream(std::string_view name) const noexcept {
    return api->service_set_upstream(ctx, str(name));
  }
};

// kong.client
class Client : detail::Handle {
 public:
  explicit Client(detail::Handle h) : Handle(h) {}
  std::string_view ip() const noexcept { return var_or_empty(SB_VAR_CLIENT_IP); }
  std::string_view forwarded_ip() const noexcept { return var_or_empty(SB_VAR_FORWARDED_IP); }
  int64_t port() const noexcept { return num(SB_NUM_CLIENT_PORT).value_or(0); }
  int64_t forwarded_port() const noexcept { return num(SB_NUM_FORWARDED_PORT).value_or(0); }
  // kong.client.authenticate (access): either id may be empty, not both.
  Status authenticate(std::string_view consumer_id, std::string_view credential_entity = {},
                      std::string_view credential_id = {}) const noexcept {
    return api->client_authenticate(ctx, str(consumer_id), str(credential_entity),
                                    str(credential_id));
  }
  Value consumer() const noexcept {
    const sb_value* out = nullptr;
    if (api->client_get_consumer(ctx, &out) != SB_OK) return Value();
    return Value(api, out);
  }
  Value credential() const noexcept {
    const sb_value* out = nullptr;
    if (api->client_get_credential(ctx, &out) != SB_OK) return Value();
    return Value(api, out);
  }
  // kong.client.load_consumer(id_or_username, by_username).
  Value load_consumer(std::string_view key, bool by_username = false) const noexcept {
    const sb_value* out = nullptr;
    std::string_view field = by_username ? "username" : "id";
    if (api->entity_find(ctx, str("consumers"), str(field), str(key), &out) != SB_OK) return {};
    return Value(api, out);
  }
  std::optional<std::string_view> consumer_id() const noexcept { return var(SB_VAR_CONSUMER_ID); }
  std::optional<std::string_view> credential_id() const noexcept {
    return var(SB_VAR_CREDENTIAL_ID);
  }
};

// kong.router
class Router : detail::Handle {
 public:
  explicit Router(detail::Handle h) : Handle(h) {}
  std::optional<std::string_view> route_id() const noexcept { return var(SB_VAR_ROUTE_ID); }
  std::optional<std::string_view> route_name() const noexcept { return var(SB_VAR_ROUTE_NAME); }
  std::optional<std::string_view> service_id() const noexcept { return var(SB_VAR_SERVICE_ID); }
  std::optional<std::string_view> service_name() const noexcept { return var(SB_VAR_SERVICE_NAME); }
  // kong.request.get_uri_captures: "0" whole match, "1".. unnamed groups, or a group name.
  std::optional<std::string_view> capture(std::string_view name) const noexcept {
    sb_str out{nullptr, 0};
    if (api->route_capture(ctx, str(name), &out) != SB_OK) return std::nullopt;
    return view(out);
  }
  std::optional<std::string_view> capture(size_t index) const {
    return capture(std::string_view(std::to_string(index)));
  }
};

// kong.ctx.shared: per-request strings shared by all plugins.
class Shared : detail::Handle {
 public:
  explicit Shared(detail::Handle h) : Handle(h) {}
  std::optional<std::string_view> get(std::string_view key) const noexcept {
    sb_str out{nullptr, 0};
    if (api->shared_get(ctx, str(key), &out) != SB_OK) return std::nullopt;
    return view(out);
  }
  Status set(std::string_view key, std::string_view value) const noexcept {
    return api->shared_set(ctx, str(key), str(value));
  }
};

// kong.ctx.plugin: one typed object per request and plugin instance, destroyed by the host
// (through the layer's deleter) after the log phase.
class PluginData : detail::Handle {
  struct BoxBase {
    const void* tag;
    virtual ~BoxBase() = default;
  };
  template <class T>
  struct Box : BoxBase {
    template <class... A>
    explicit Box(A&&... a) : value(std::forward<A>(a)...) {}
    T value;
  };
  template <class T>
  static const void* tag() noexcept {
    static const char t = 0;
    return &t;
  }
  static void destroy(void* p) noexcept {
    std::unique_ptr<BoxBase> owned(static_cast<BoxBase*>(p));
  }

 public:
  explicit PluginData(detail::Handle h) : Handle(h) {}
  // The object set by emplace<T>, or nullptr (none, or another type).
  template <class T>
  T* get() const noexcept {
    auto* b = static_cast<BoxBase*>(api->data_get(ctx));
    if (!b || b->tag != tag<T>()) return nullptr;
    return &static_cast<Box<T>*>(b)->value;
  }
  // Replaces the slot with a new T (the old object is destroyed by the host); nullptr if the
  // host refused (wrong phase).
  template <class T, class... A>
  T* emplace(A&&... args) const {
    // The box is handed to the host as void* with `destroy` as its dtor: the ABI's boxed pointer.
    auto box = std::make_unique<Box<T>>(std::forward<A>(args)...);
    box->tag = tag<T>();
    if (api->data_set(ctx, box.get(), &destroy) != SB_OK) return nullptr;
    return &box.release()->value;
  }
  Status clear() const noexcept { return api->data_set(ctx, nullptr, nullptr); }
};

}  // namespace pdk

namespace detail {
template <class Self, class F>
struct TimerBox {
  const sb_host_api* api;
  void* state;
  F fn;
};
template <class Self, class F>
struct HttpBox {
  const sb_host_api* api;
  void* state;
  F fn;
};
}  // namespace detail

// Shared by the request ctx (sb::Ctx) and the worker ctx (sb::WorkerCtx): logging, node facts,
// entity look-ups, timers and outbound calls. Completions get a Self* (nullptr = ctx gone).
template <class Self>
class CtxBase {
 public:
  CtxBase(const sb_host_api* api, sb_ctx* ctx, void* state = nullptr) noexcept
      : api_(api), ctx_(ctx), state_(state) {}

  sb_ctx* raw() const noexcept { return ctx_; }
  const sb_host_api* api() const noexcept { return api_; }

  pdk::Log log() const noexcept { return pdk::Log(handle()); }
  pdk::Node node() const noexcept { return pdk::Node(handle()); }
  int64_t now_ms() const noexcept { return handle().num(SB_NUM_NOW_MS).value_or(0); }
  // kong.ip.is_trusted
  bool ip_is_trusted(std::string_view ip) const noexcept {
    int32_t out = 0;
    return api_->ip_is_trusted(ctx_, str(ip), &out) == SB_OK && out != 0;
  }
  // One row of `entity` whose `field` equals `value` (consumers, or a plugin-declared entity);
  // a null Value when there is none.
  Value find_entity(std::string_view entity, std::string_view field,
                    std::string_view value) const noexcept {
    const sb_value* out = nullptr;
    if (api_->entity_find(ctx_, str(entity), str(field), str(value), &out) != SB_OK) return {};
    return Value(api_, out);
  }
  // Generic facts for selectors without a named accessor.
  std::optional<std::string_view> var(uint32_t id) const noexcept { return handle().var(id); }
  std::optional<int64_t> num(uint32_t id) const noexcept { return handle().num(id); }

  // The plugin-global object of plugin class P (P::State).
  template <class P>
  typename P::State& state() const noexcept;

  // Starts a timer; `fn(Self* ctx_or_null, sb::Status)` runs exactly once on this worker, later
  // (never inside this call). A null ctx means the request is gone: only clean up.
  template <class F>
  Op timer(uint64_t delay_ms, F&& fn) const {
    using Box = detail::TimerBox<Self, std::decay_t<F>>;
    static_assert(std::is_invocable_v<std::decay_t<F>&, Self*, Status>,
                  "timer callback: void(Ctx* ctx_or_null, sb::Status)");
    // Boxed for the ABI's `void* user`; freed by the trampoline on the one completion, or here
    // if the host refused to start the op.
    auto box = std::make_unique<Box>(Box{api_, state_, std::forward<F>(fn)});
    sb_op op = 0;
    Status st = api_->timer_start(ctx_, delay_ms, &timer_trampoline<Box>, box.get(), &op);
    if (st.ok()) box.release();
    return Op(st, op);
  }
  // Starts an outbound HTTP call; `fn(Self* ctx_or_null, sb::Status, const sb::HttpResponse&)`.
  template <class F>
  Op http_call(const HttpRequest& req, F&& fn) const {
    using Box = detail::HttpBox<Self, std::decay_t<F>>;
    static_assert(std::is_invocable_v<std::decay_t<F>&, Self*, Status, const HttpResponse&>,
                  "http callback: void(Ctx* ctx_or_null, sb::Status, const sb::HttpResponse&)");
    std::vector<sb_header> h = HeaderList(req.headers).to_c();
    sb_http_request r{};
    r.struct_size = sizeof r;
    r.timeout_ms = req.timeout_ms;
    r.flags = req.verify_tls ? SB_HTTP_TLS_VERIFY : 0u;
    r.method = str(req.method);
    r.url = str(req.url);
    r.headers = h.data();
    r.n_headers = h.size();
    r.body = str(req.body);
    auto box = std::make_unique<Box>(Box{api_, state_, std::forward<F>(fn)});  // see timer()
    sb_op op = 0;
    Status st = api_->http_call(ctx_, &r, &http_trampoline<Box>, box.get(), &op);
    if (st.ok()) box.release();
    return Op(st, op);
  }
  // Cancels an op; its callback runs (SB_E_CANCELLED) before this returns.
  Status cancel(sb_op op) const noexcept { return api_->cancel(ctx_, op); }

 protected:
  detail::Handle handle() const noexcept { return detail::Handle{api_, ctx_}; }
  void* plugin_state() const noexcept { return state_; }

  const sb_host_api* api_;
  sb_ctx* ctx_;
  void* state_;
  bool resumed_ = false;

 private:
  template <class Box>
  static void timer_trampoline(sb_ctx* ctx, void* user, sb_status st) noexcept {
    std::unique_ptr<Box> box(static_cast<Box*>(user));
    Self self(box->api, ctx, box->state);
    try {
      box->fn(ctx ? &self : nullptr, Status(st));
    } catch (const std::exception& e) {
      self.on_callback_exception("timer callback threw", e.what());
    } catch (...) {
      self.on_callback_exception("timer callback threw", "unknown exception");
    }
  }
  template <class Box>
  static void http_trampoline(sb_ctx* ctx, void* user, sb_status st,
                              const sb_http_response* r) noexcept {
    std::unique_ptr<Box> box(static_cast<Box*>(user));
    Self self(box->api, ctx, box->state);
    try {
      box->fn(ctx ? &self : nullptr, Status(st), HttpResponse(r));
    } catch (const std::exception& e) {
      self.on_callback_exception("http callback threw", e.what());
    } catch (...) {
      self.on_callback_exception("http callback threw", "unknown exception");
    }
  }
};

// The worker ctx from init_worker: long-lived (until the worker stops), for background timers,
// outbound calls and entity look-ups. Keep it (e.g. in a thread_local) to start work later.
class WorkerCtx : public CtxBase<WorkerCtx> {
 public:
  using CtxBase::CtxBase;

 private:
  friend class CtxBase<WorkerCtx>;
  void on_callback_exception(const char* what, const char* why) noexcept {
    detail::log_noexcept(api_, ctx_, SB_LOG_ERR, what, why);
  }
};

// A request, as a phase hook or a completion sees it. Do not keep it past the hook/callback.
class Ctx : public CtxBase<Ctx> {
 public:
  using CtxBase::CtxBase;

  pdk::Request request() const noexcept { return pdk::Request(handle()); }
  pdk::ServiceRequest service_request() const noexcept { return pdk::ServiceRequest(handle()); }
  pdk::Response response() const noexcept { return pdk::Response(handle()); }
  pdk::ServiceResponse service_response() const noexcept { return pdk::ServiceResponse(handle()); }
  pdk::Service service() const noexcept { return pdk::Service(handle()); }
  pdk::Client client() const noexcept { return pdk::Client(handle()); }
  pdk::Router router() const noexcept { return pdk::Router(handle()); }
  pdk::Shared ctx_shared() const noexcept { return pdk::Shared(handle()); }
  pdk::PluginData ctx_plugin() const noexcept { return pdk::PluginData(handle()); }
  // kong.plugin.get_id: the running plugin instance.
  std::string_view plugin_id() const noexcept { return handle().var_or_empty(SB_VAR_PLUGIN_ID); }

  // Ends a phase that returned Result::Pending (from a completion of this request).
  Status resume(Result r) noexcept {
    resumed_ = true;
    return api_->resume(ctx_, static_cast<sb_result>(r));
  }

 private:
  friend class CtxBase<Ctx>;
  // A completion threw: log it and, unless it already resumed, fail a pending phase (a harmless
  // SB_E_STATE when nothing is pending).
  void on_callback_exception(const char* what, const char* why) noexcept {
    detail::log_noexcept(api_, ctx_, SB_LOG_ERR, what, why);
    if (ctx_ && !resumed_) api_->resume(ctx_, SB_ERROR);
  }
};

namespace detail {

template <class P>
concept HasState = requires {
  typename P::State;
};

template <class P>
struct StateOf {
  struct None {};
  using type = None;
};
template <HasState P>
struct StateOf<P> {
  using type = typename P::State;
};

// What on_init allocates: the api and the plugin's State (if it declares one).
template <class P>
struct PluginState {
  const sb_host_api* api = nullptr;
  const sb_host_info* host = nullptr;
  std::unique_ptr<typename StateOf<P>::type> user;
};

// A compiled config as the host holds it: the api and state for the phase trampolines, and the
// plugin's Config. (The config is built in place so Config need not be movable.)
template <class P>
struct ConfigBox {
  template <class Make>
  ConfigBox(const sb_host_api* a, PluginState<P>* s, Make&& make)
      : api(a), state(s), config(std::forward<Make>(make)()) {}
  const sb_host_api* api;
  PluginState<P>* state;
  typename P::Config config;
};

template <class P>
using Cfg = typename P::Config;

// Hook detection: callable with the documented signature. HasName*: a member of that name
// exists (so a wrong signature can be reported instead of silently ignored).
#define SB_DETAIL_PHASE_CONCEPTS(hook)                        \
  template <class P>                                          \
  concept HasName_##hook = requires {                         \
    &P::hook;                                                 \
  };                                                          \
  template <class P>                                          \
  concept Has_##hook = requires(Ctx & c, const Cfg<P>& cfg) { \
    { P::hook(c, cfg) } -> std::convertible_to<Result>;       \
  };
SB_DETAIL_PHASE_CONCEPTS(certificate)
SB_DETAIL_PHASE_CONCEPTS(rewrite)
SB_DETAIL_PHASE_CONCEPTS(access)
SB_DETAIL_PHASE_CONCEPTS(response)
SB_DETAIL_PHASE_CONCEPTS(header_filter)
#undef SB_DETAIL_PHASE_CONCEPTS

template <class P>
concept HasName_body_filter = requires {
  &P::body_filter;
};
template <class P>
concept Has_body_filter = requires(Ctx& c, const Cfg<P>& cfg, std::span<const sb_str> chunk) {
  { P::body_filter(c, cfg, chunk, true) } -> std::convertible_to<Result>;
};
template <class P>
concept HasName_log = requires {
  &P::log;
};
template <class P>
concept Has_log = requires(Ctx& c, const Cfg<P>& cfg) {
  P::log(c, cfg);
};
template <class P>
concept HasName_init_worker = requires {
  &P::init_worker;
};
template <class P>
concept Has_init_worker = requires(WorkerCtx& w) {
  P::init_worker(w);
};
template <class P>
concept HasName_configure = requires {
  &P::configure;
};
template <class P>
concept Has_configure = requires(std::span<const Cfg<P>* const> s) {
  P::configure(s);
};
template <class P>
concept HasName_flags = requires {
  &P::flags;
};
template <class P>
concept Has_flags = requires(const Cfg<P>& cfg) {
  { P::flags(cfg) } -> std::convertible_to<uint32_t>;
};
template <class P>
concept CompileWithState = HasState<P> && requires(const Value& v, typename P::State& s) {
  { P::compile(v, s) } -> std::same_as<Cfg<P>>;
};
template <class P>
concept CompileValue = requires(const Value& v) {
  { P::compile(v) } -> std::same_as<Cfg<P>>;
};

template <class P>
constexpr bool check_plugin() {
  static_assert(
      requires { typename P::Config; }, "a plugin class declares `struct Config`");
  static_assert(CompileValue<P> || CompileWithState<P>,
                "a plugin class declares `static Config compile(const sb::Value&)`");
  static_assert(!HasName_certificate<P> || Has_certificate<P>,
                "certificate must be `static sb::Result certificate(sb::Ctx&, const Config&)`");
  static_assert(!HasName_rewrite<P> || Has_rewrite<P>,
                "rewrite must be `static sb::Result rewrite(sb::Ctx&, const Config&)`");
  static_assert(!HasName_access<P> || Has_access<P>,
                "access must be `static sb::Result access(sb::Ctx&, const Config&)`");
  static_assert(!HasName_response<P> || Has_response<P>,
                "response must be `static sb::Result response(sb::Ctx&, const Config&)`");
  static_assert(!HasName_header_filter<P> || Has_header_filter<P>,
                "header_filter must be `static sb::Result header_filter(sb::Ctx&, const Config&)`");
  static_assert(!HasName_body_filter<P> || Has_body_filter<P>,
                "body_filter must be `static sb::Result body_filter(sb::Ctx&, const Config&, "
                "std::span<const sb_str>, bool eos)`");
  static_assert(!HasName_log<P> || Has_log<P>,
                "log must be `static void log(sb::Ctx&, const Config&)`");
  static_assert(!HasName_init_worker<P> || Has_init_worker<P>,
                "init_worker must be `static void init_worker(sb::WorkerCtx&)`");
  static_assert(!HasName_configure<P> || Has_configure<P>,
                "configure must be `static void configure(std::span<const Config* const>)`");
  static_assert(!HasName_flags<P> || Has_flags<P>,
                "flags must be `static uint32_t flags(const Config&)`");
  return true;
}

// Runs f, turning any exception into `fail` plus an error log line.
template <class R, class F>
R guarded(const sb_host_api* api, sb_ctx* ctx, const char* what, R fail, F&& f) noexcept {
  try {
    return f();
  } catch (const std::exception& e) {
    log_noexcept(api, ctx, SB_LOG_ERR, what, e.what());
  } catch (...) {
    log_noexcept(api, ctx, SB_LOG_ERR, what, "unknown exception");
  }
  return fail;
}

template <class R>
sb_result to_result(R r) noexcept {
  sb_result v = static_cast<sb_result>(static_cast<Result>(r));
  return v >= SB_CONTINUE && v <= SB_ERROR ? v : SB_ERROR;
}

template <class P>
struct Trampolines {
  using State = PluginState<P>;
  using Box = ConfigBox<P>;

  static sb_status on_init(const sb_host_info* host, void** state, sb_errbuf err) noexcept {
    if (!host || !host->api || !state) return SB_E_INVALID_ARG;
    try {
      auto s = std::make_unique<State>();
      s->api = host->api;
      s->host = host;
      if constexpr (HasState<P>) {
        if constexpr (std::is_constructible_v<typename P::State, const sb_host_info&>) {
          s->user = std::make_unique<typename P::State>(*host);
        } else {
          s->user = std::make_unique<typename P::State>();
        }
      }
      g_api.store(host->api, std::memory_order_relaxed);
      *state = s.release();  // freed in on_shutdown
      return SB_OK;
    } catch (const std::exception& e) {
      write_err(err, e.what());
    } catch (...) {
      write_err(err, "plugin initialisation failed");
    }
    return SB_E_INTERNAL;
  }
  static void on_shutdown(void* state) noexcept {
    std::unique_ptr<State> owned(static_cast<State*>(state));
  }

  static sb_status on_init_worker(void* state, sb_ctx* worker) noexcept {
    auto* s = static_cast<State*>(state);
    return guarded<sb_status>(s->api, worker, "init_worker failed", SB_E_INTERNAL, [&] {
      WorkerCtx w(s->api, worker, s);
      if constexpr (std::is_void_v<decltype(P::init_worker(w))>) {
        P::init_worker(w);
        return sb_status{SB_OK};
      } else {
        return Status(P::init_worker(w)).code();
      }
    });
  }

  static sb_status on_config_compile(void* state, const sb_value* config, void** cfg,
                                     uint32_t* cfg_flags, sb_errbuf err) noexcept {
    auto* s = static_cast<State*>(state);
    if (!s || !cfg) return SB_E_INVALID_ARG;
    try {
      Value v(s->api, config);
      auto box = std::make_unique<Box>(s->api, s, [&]() -> Cfg<P> {
        if constexpr (CompileWithState<P>) {
          return P::compile(v, *s->user);
        } else {
          return P::compile(v);
        }
      });
      uint32_t flags = 0;
      if constexpr (Has_flags<P>) flags = static_cast<uint32_t>(P::flags(box->config));
      if (cfg_flags) *cfg_flags = flags;
      *cfg = box.release();  // the host owns it until on_config_free
      return SB_OK;
    } catch (const std::exception& e) {
      write_err(err, e.what());
    } catch (...) {
      write_err(err, "config compile failed (unknown exception)");
    }
    return SB_E_INVALID_ARG;
  }
  static void on_config_free(void*, void* cfg) noexcept {
    std::unique_ptr<Box> owned(static_cast<Box*>(cfg));
  }

  static void on_configure(void* state, void* const* cfgs, size_t n) noexcept {
    auto* s = static_cast<State*>(state);
    guarded<int>(s->api, nullptr, "configure failed", 0, [&] {
      std::vector<const Cfg<P>*> list;
      list.reserve(n);
      for (size_t i = 0; i < n; ++i) list.push_back(&static_cast<const Box*>(cfgs[i])->config);
      P::configure(std::span<const Cfg<P>* const>(list.data(), list.size()));
      return 0;
    });
  }

#define SB_DETAIL_PHASE_TRAMPOLINE(hook)                                      \
  static sb_result on_##hook(sb_ctx* ctx, const void* cfg) noexcept {         \
    auto* box = static_cast<const Box*>(cfg);                                 \
    return guarded<sb_result>(box->api, ctx, #hook " failed", SB_ERROR, [&] { \
      Ctx c(box->api, ctx, box->state);                                       \
      return to_result(P::hook(c, box->config));                              \
    });                                                                       \
  }
  SB_DETAIL_PHASE_TRAMPOLINE(certificate)
  SB_DETAIL_PHASE_TRAMPOLINE(rewrite)
  SB_DETAIL_PHASE_TRAMPOLINE(access)
  SB_DETAIL_PHASE_TRAMPOLINE(response)
  SB_DETAIL_PHASE_TRAMPOLINE(header_filter)
#undef SB_DETAIL_PHASE_TRAMPOLINE

  static sb_result on_body_filter(sb_ctx* ctx, const void* cfg, const sb_str* chunk, size_t n,
                                  int32_t eos) noexcept {
    auto* box = static_cast<const Box*>(cfg);
    return guarded<sb_result>(box->api, ctx, "body_filter failed", SB_ERROR, [&] {
      Ctx c(box->api, ctx, box->state);
      std::span<const sb_str> slices =
          chunk ? std::span<const sb_str>(chunk, n) : std::span<const sb_str>();
      return to_result(P::body_filter(c, box->config, slices, eos != 0));
    });
  }
  static void on_log(sb_ctx* ctx, const void* cfg) noexcept {
    auto* box = static_cast<const Box*>(cfg);
    guarded<int>(box->api, ctx, "log failed", 0, [&] {
      Ctx c(box->api, ctx, box->state);
      P::log(c, box->config);
      return 0;
    });
  }
};

template <class P>
struct Hooks {
  using T = Trampolines<P>;
  static constexpr auto init_worker() {
    if constexpr (Has_init_worker<P>)
      return &T::on_init_worker;
    else
      return static_cast<sb_status (*)(void*, sb_ctx*) noexcept>(nullptr);
  }
  static constexpr auto configure() {
    if constexpr (Has_configure<P>)
      return &T::on_configure;
    else
      return static_cast<void (*)(void*, void* const*, size_t) noexcept>(nullptr);
  }
#define SB_DETAIL_PHASE_PTR(hook)                                                \
  static constexpr auto hook() {                                                 \
    if constexpr (Has_##hook<P>)                                                 \
      return &T::on_##hook;                                                      \
    else                                                                         \
      return static_cast<sb_result (*)(sb_ctx*, const void*) noexcept>(nullptr); \
  }
  SB_DETAIL_PHASE_PTR(certificate)
  SB_DETAIL_PHASE_PTR(rewrite)
  SB_DETAIL_PHASE_PTR(access)
  SB_DETAIL_PHASE_PTR(response)
  SB_DETAIL_PHASE_PTR(header_filter)
#undef SB_DETAIL_PHASE_PTR
  static constexpr auto body_filter() {
    if constexpr (Has_body_filter<P>)
      return &T::on_body_filter;
    else
      return static_cast<sb_result (*)(sb_ctx*, const void*, const sb_str*, size_t,
                                       int32_t) noexcept>(nullptr);
  }
  static constexpr auto log() {
    if constexpr (Has_log<P>)
      return &T::on_log;
    else
      return static_cast<void (*)(sb_ctx*, const void*) noexcept>(nullptr);
  }

  static constexpr sb_plugin_hooks table = {
      .struct_size = sizeof(sb_plugin_hooks),
      .flags = 0,
      .on_init = &T::on_init,
      .on_shutdown = &T::on_shutdown,
      .on_init_worker = init_worker(),
      .on_config_compile = &T::on_config_compile,
      .on_config_free = &T::on_config_free,
      .on_configure = configure(),
      .on_certificate = certificate(),
      .on_rewrite = rewrite(),
      .on_access = access(),
      .on_response = response(),
      .on_header_filter = header_filter(),
      .on_body_filter = body_filter(),
      .on_log = log(),
  };
};

template <class P>
constexpr uint32_t min_host_minor() {
  if constexpr (requires { P::min_host_minor; }) {
    static_assert(P::min_host_minor <= SB_ABI_MINOR, "min_host_minor is newer than this SDK");
    return P::min_host_minor;
  } else {
    return 0;
  }
}

template <class P>
constexpr sb_plugin_def make_def(const char* name, const char* version, int32_t priority,
                                 const char* schema, const char* entities) {
  static_assert(check_plugin<P>());
  return sb_plugin_def{
      .struct_size = sizeof(sb_plugin_def),
      .abi_major = SB_ABI_MAJOR,
      .abi_minor = SB_ABI_MINOR,
      .min_host_minor = min_host_minor<P>(),
      .name = name,
      .version = version,
      .priority = priority,
      .flags = 0,
      .config_schema = schema,
      .entities_schema = entities,
      .hooks = &Hooks<P>::table,
  };
}

// The entry's only check: same major, and a table covering every slot this SDK minor calls
// unconditionally (min_host_minor's). No side effects.
inline bool accept_host(const sb_host_info* host, const sb_plugin_def& def) noexcept {
  if (!host) return true;  // tooling inspecting the plugin
  if (host->abi_major != SB_ABI_MAJOR || host->abi_minor < def.min_host_minor) return false;
  if (!host->api) return false;
  return SB_HAS(host->api, sb_host_api, resume);
}

}  // namespace detail

// The static def SB_PLUGIN emits, for tests that hold several plugin classes in one binary:
//   static constexpr sb_plugin_def kDef = sb::plugin_def<MyPlugin>("my-plugin", "1.0", 10,
//   kSchema); host.load(kDef);
template <class P>
constexpr sb_plugin_def plugin_def(const char* name, const char* version, int32_t priority,
                                   const char* schema_json, const char* entities_json = nullptr) {
  return detail::make_def<P>(name, version, priority, schema_json, entities_json);
}

template <class Self>
template <class P>
typename P::State& CtxBase<Self>::state() const noexcept {
  static_assert(detail::HasState<P>, "ctx.state<P>() needs P::State");
  return *static_cast<detail::PluginState<P>*>(state_)->user;
}

}  // namespace sb

// Emits the static plugin def, its hook table and the exported entry point. Use once per plugin
// (.so), at namespace scope: SB_PLUGIN(MyPlugin, "my-plugin", "1.0.0", 1000, kSchema, nullptr).
#define SB_PLUGIN(Class, name, version, priority, schema_json, entities_json)                  \
  static constexpr sb_plugin_def sb_plugin_def_instance_ =                                     \
      ::sb::plugin_def<Class>(name, version, priority, schema_json, entities_json);            \
  extern "C" SB_EXPORT const sb_plugin_def* sb_plugin_entry_v1(const sb_host_info* host) {     \
    return ::sb::detail::accept_host(host, sb_plugin_def_instance_) ? &sb_plugin_def_instance_ \
                                                                    : nullptr;                 \
  }

#endif  // SILVERBACK_PLUGIN_HPP
