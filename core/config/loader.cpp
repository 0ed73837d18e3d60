// kong.yaml -> Config. Three passes: (1) schema validation of every record while building the
// model, (2) id generation (Kong's deterministic UUIDv5 scheme), (3) uniqueness and reference
// resolution. Every problem is collected; nothing stops at the first error.
#include "config/loader.h"

#include "common/json.h"

#include <fmt/format.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "config/checks.h"
#include "config/yaml_tree.h"

namespace sb::config {

std::string Error::to_string() const {
  std::string out = file;
  if (pos.line > 0) out += fmt::format("{}{}:{}", out.empty() ? "" : ":", pos.line, pos.column);
  for (const std::string* part : {&entity, &field, &message}) {
    if (part->empty()) continue;
    if (!out.empty()) out += ": ";
    out += *part;
  }
  return out;
}

namespace {

using Node = tree::Node;

using checks::entity_uuid;

constexpr const char* kProtocols[] = {"grpc", "grpcs",           "http", "https", "tcp",
                                      "tls",  "tls_passthrough", "udp"};
constexpr const char* kProtocolList = "grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp";

// Top-level entity keys. `supported` = false: the key exists in Kong but needs a plugin to be
// enabled (credentials); without a plugin host they are reported as unknown fields.
struct EntityKey {
  const char* key;
  bool supported;
};
constexpr EntityKey kEntityKeys[] = {
    {"services", true},
    {"routes", true},
    {"consumers", true},
    {"plugins", true},
    {"upstreams", true},
    {"targets", true},
    {"certificates", true},
    {"snis", true},
    {"ca_certificates", true},
    {"workspaces", true},
    {"vaults", true},
    {"key_sets", true},
    {"keys", true},
    {"filter_chains", true},
    {"keyauth_credentials", false},
    {"basicauth_credentials", false},
    {"jwt_secrets", false},
    {"acls", false},
    {"hmacauth_credentials", false},
    {"oauth2_credentials", false},
    {"oauth2_authorization_codes", false},
    {"oauth2_tokens", false},
};

bool entity_key_supported(std::string_view key) {
  for (const auto& e : kEntityKeys)
    if (key == e.key) return e.supported;
  return false;
}

SourcePos pos_of(const Node& n) {
  try {
    auto m = n.Mark();
    if (m.is_null()) return {};
    return {m.line + 1, m.column + 1};
  } catch (...) {
    return {};
  }
}

// What a YAML node holds once resolved the way Kong's YAML/JSON decoders see it.
enum class Kind { kNull, kBool, kInt, kFloat, kString, kSeq, kMap };

bool plain(const Node& n) { return n.Tag() == "?" || n.Tag().empty(); }

bool parse_int(const std::string& s, int64_t* out) {
  std::string_view v = s;
  bool neg = false;
  if (!v.empty() && (v[0] == '+' || v[0] == '-')) {
    neg = v[0] == '-';
    v.remove_prefix(1);
  }
  if (v.empty()) return false;
  int base = 10;
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'o')) {
    base = v[1] == 'x' ? 16 : 8;
    v.remove_prefix(2);
  }
  for (char c : v) {
    bool ok = base == 16 ? std::isxdigit(static_cast<unsigned char>(c)) != 0
                         : (c >= '0' && c < static_cast<char>('0' + std::min(base, 10)));
    if (!ok) return false;
  }
  uint64_t value = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), value, base);
  if (r.ec == std::errc::result_out_of_range || value > uint64_t(INT64_MAX)) {
    *out = neg ? INT64_MIN : INT64_MAX;  // saturate: range checks still report it
    return true;
  }
  *out = neg ? -int64_t(value) : int64_t(value);
  return true;
}

bool parse_float(const std::string& s, double* out) {
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (s.empty() || s.find_first_not_of("0123456789+-.eE") != std::string::npos) return false;
  if (s.find_first_of("0123456789") == std::string::npos) return false;
  const char* b = s.data();
  if (*b == '+') ++b;
  auto r = std::from_chars(b, s.data() + s.size(), *out);
  if (r.ptr != s.data() + s.size()) return false;
  if (r.ec == std::errc::result_out_of_range) *out = std::numeric_limits<double>::infinity();
  return true;
}

Kind kind_of(const Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence:
      return Kind::kSeq;
    case YAML::NodeType::Map:
      return Kind::kMap;
    case YAML::NodeType::Scalar:
      break;
    default:
      return Kind::kNull;
  }
  if (!plain(n)) return Kind::kString;
  const std::string& s = n.Scalar();
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return Kind::kNull;
  if (s == "true" || s == "True" || s == "TRUE" || s == "false" || s == "False" || s == "FALSE")
    return Kind::kBool;
  int64_t i = 0;
  if (parse_int(s, &i)) return Kind::kInt;
  double d = 0;
  if (parse_float(s, &d)) return Kind::kFloat;
  return Kind::kString;
}

const char* expected_msg(const char* type) {
  if (std::string_view(type) == "integer") return "expected an integer";
  if (std::string_view(type) == "array") return "expected an array";
  return nullptr;
}

std::string expected(const char* type) {
  if (const char* m = expected_msg(type)) return m;
  return fmt::format("expected a {}", type);
}

// A reference to another entity as written: "name-or-id" or {id: ...}.
struct Ref {
  bool set = false;
  bool by_obj = false;  // {id: ...}
  std::string value;
  Node node;
  std::string field;
};

class Loader;

// One mapping node under validation. Keys read through get() are "known"; finish() reports the
// rest as unknown fields.
class Record {
 public:
  Record(Loader& l, const Node& node, std::string entity, std::string prefix = {});
  // The value node of `key`, or nullopt when absent or null.
  std::optional<Node> get(std::string_view key);
  bool has(std::string_view key) { return get(key).has_value(); }
  void allow(std::initializer_list<std::string_view> keys) {
    for (auto k : keys) get(k);
  }
  void finish();

  std::optional<std::string> str(std::string_view key, bool required = false);
  std::optional<int64_t> integer(std::string_view key, int64_t lo, int64_t hi);
  std::optional<double> number(std::string_view key, double lo, double hi);
  std::optional<bool> boolean(std::string_view key);
  // Array (or set) of strings; `check` returns an error message for a bad element.
  std::optional<std::vector<std::string>> strings(
      std::string_view key, const char* type = "set",
      const std::function<std::string(const std::string&)>& check = {});
  std::optional<std::string> one_of(std::string_view key,
                                    std::initializer_list<std::string_view> values);
  Ref ref(std::string_view key);
  std::vector<std::string> tags() {
    auto t = strings("tags", "set", [](const std::string& s) { return checks::check_tag(s); });
    return t ? *t : std::vector<std::string>{};
  }

  void error(std::string_view key, std::string message);  // on the field's value
  void entity_error(std::string message);                 // on the record itself
  void error_at(const Node& n, std::string field, std::string message);

  const Node& node() const { return node_; }
  const std::string& entity() const { return entity_; }
  void set_entity(std::string e) { entity_ = std::move(e); }
  std::string field(std::string_view key) const { return prefix_ + std::string(key); }

 private:
  struct Entry {
    std::string key;
    Node key_node, value;
    bool used = false;
  };
  Loader& l_;
  Node node_;
  std::string entity_, prefix_;
  std::vector<Entry> entries_;
};

struct RouteX {
  Ref service;
  int parent = -1;  // nesting service index
};
struct PluginX {
  Ref route, service, consumer;
  enum Parent { kNone, kService, kRoute, kConsumer } parent = kNone;
  int parent_idx = -1;
  std::string label;
  Node node;
  bool has_id = false;
};
struct TargetX {
  Target target;
  Ref upstream;
  int parent = -1;
  std::string key;  // `target` as written (part of the cache key)
  std::string label;
  Node node;
  bool has_id = false;
};
struct SniX {
  Ref certificate;
  int parent = -1;
};
struct Labeled {
  std::string label;
  Node node;
  bool has_id = false;
};

class Loader {
 public:
  Loader(std::string file, const LoadOptions& opts) : file_(std::move(file)), opts_(opts) {
    for (const auto& p : opts_.enabled_plugins) enabled_.insert(p);
  }

  void add(const Node& n, const std::string& entity, std::string field, std::string msg) {
    errors_.push_back(Error{file_, pos_of(n), entity, std::move(field), std::move(msg)});
  }

  LoadResult run(std::string_view text);

 private:
  friend class Record;
  void top_level(const Node& root);
  bool check_format_version(Record& r);
  template <typename F>
  void each(const Node& seq, Record& parent, std::string_view key, const std::string& path, F&& fn);
  void comment_fields(Record& r);
  void service(const Node& n, const std::string& path);
  void route(const Node& n, const std::string& path, int parent_service);
  void consumer(const Node& n, const std::string& path);
  void plugin(const Node& n, const std::string& path, PluginX::Parent parent, int idx);
  void plugin_entity(const Node& n, const std::string& path, const std::string& key, int consumer);
  void resolve_entities();
  bool plugin_entity_key(std::string_view key) const {
    return opts_.catalog != nullptr && opts_.catalog->entity_schema(key) != nullptr;
  }
  void add_schema_errors(const std::vector<SchemaError>& errs, const Node& at,
                         const std::string& entity, const std::string& prefix) {
    for (const auto& e : errs) {
      SourcePos pos = e.pos.line > 0 ? e.pos : pos_of(at);
      std::string field = e.field.empty() ? prefix.substr(0, prefix.size() - 1) : prefix + e.field;
      errors_.push_back(Error{file_, pos, entity, std::move(field), e.message});
    }
  }
  void upstream(const Node& n, const std::string& path);
  void target(const Node& n, const std::string& path, int parent);
  void certificate(const Node& n, const std::string& path);
  void sni(const Node& n, const std::string& path, int parent);
  void sni_name(const Node& el, Record& cert, const std::string& field, const std::string& path,
                int parent);
  void ca_certificate(const Node& n, const std::string& path);
  void vault(const Node& n, const std::string& path);
  void light(const Node& n, const std::string& path, std::string_view kind);
  void healthchecks(Record& up, Healthchecks& hc);
  std::string label(const std::string& path, const std::string& name) {
    return name.empty() ? path : fmt::format("{} (name: {})", path, name);
  }
  std::string ensure_id(Record& r, bool* has_id);
  std::string to_json(const Node& n, int depth, size_t* budget, bool* ok);

  void generate_ids();
  void resolve();

  struct EntityRowX {
    int parent = -1;  // nesting consumer
    std::string label;
    Node node;
    bool has_id = false;
  };
  std::vector<EntityRowX> entity_x_;
  std::string file_;
  const LoadOptions& opts_;
  std::unordered_set<std::string> enabled_;
  std::vector<Error> errors_;
  Config cfg_;
  bool legacy_ = false;

  std::vector<Labeled> svc_x_, route_lx_, consumer_x_, upstream_x_, cert_x_, sni_lx_, ca_x_,
      vault_x_;
  std::vector<RouteX> route_x_;
  std::vector<PluginX> plugin_x_;
  std::vector<TargetX> targets_;
  std::vector<SniX> sni_x_;
  struct CaRef {
    std::string id;
    Node node;
    std::string field;  // "ca_certificates[i]"
  };
  std::vector<std::vector<CaRef>> svc_ca_;  // per service
  std::vector<Ref> svc_client_cert_, up_client_cert_;
};

// ---------------------------------------------------------------------------------------------

Record::Record(Loader& l, const Node& node, std::string entity, std::string prefix)
    : l_(l), node_(node), entity_(std::move(entity)), prefix_(std::move(prefix)) {
  if (node.Type() != YAML::NodeType::Map) return;
  entries_.reserve(node.size());
  for (auto it = node.begin(); it != node.end(); ++it) {
    Entry e;
    e.key_node = it->first;
    e.key = it->first.Type() == YAML::NodeType::Scalar ? it->first.Scalar() : std::string();
    e.value = it->second;
    entries_.push_back(std::move(e));
  }
}

std::optional<Node> Record::get(std::string_view key) {
  std::optional<Node> found;
  for (auto& e : entries_) {
    if (e.key == key && e.key_node.Type() == YAML::NodeType::Scalar) {
      e.used = true;
      if (kind_of(e.value) != Kind::kNull) found = e.value;
    }
  }
  return found;
}

void Record::finish() {
  for (auto& e : entries_) {
    if (e.used) continue;
    if (e.key == "_comment") {
      if (kind_of(e.value) != Kind::kString && kind_of(e.value) != Kind::kNull)
        error_at(e.value, field("_comment"), "expected a string");
      continue;
    }
    if (e.key == "_ignore") {
      if (kind_of(e.value) != Kind::kSeq && kind_of(e.value) != Kind::kNull)
        error_at(e.value, field("_ignore"), "expected an array");
      continue;
    }
    error_at(e.key_node, field(e.key), "unknown field");
  }
}

void Record::error(std::string_view key, std::string message) {
  auto v = get(key);
  error_at(v ? *v : node_, field(key), std::move(message));
}
void Record::entity_error(std::string message) {
  error_at(node_, prefix_.empty() ? "" : prefix_.substr(0, prefix_.size() - 1), std::move(message));
}
void Record::error_at(const Node& n, std::string f, std::string message) {
  l_.add(n, entity_, std::move(f), std::move(message));
}

std::optional<std::string> Record::str(std::string_view key, bool required) {
  auto v = get(key);
  if (!v) {
    if (required) error_at(node_, field(key), "required field missing");
    return std::nullopt;
  }
  if (kind_of(*v) != Kind::kString) {
    error_at(*v, field(key), "expected a string");
    return std::nullopt;
  }
  return v->Scalar();
}

std::optional<int64_t> Record::integer(std::string_view key, int64_t lo, int64_t hi) {
  auto v = get(key);
  if (!v) return std::nullopt;
  Kind k = kind_of(*v);
  int64_t i = 0;
  if (k == Kind::kInt) {
    parse_int(v->Scalar(), &i);
  } else if (k == Kind::kFloat) {
    double d = 0;
    parse_float(v->Scalar(), &d);
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9e18) {
      error_at(*v, field(key), "expected an integer");
      return std::nullopt;
    }
    i = static_cast<int64_t>(d);
  } else {
    error_at(*v, field(key), "expected an integer");
    return std::nullopt;
  }
  if (i < lo || i > hi) {
    error_at(*v, field(key), fmt::format("value should be between {} and {}", lo, hi));
    return std::nullopt;
  }
  return i;
}

std::optional<double> Record::number(std::string_view key, double lo, double hi) {
  auto v = get(key);
  if (!v) return std::nullopt;
  Kind k = kind_of(*v);
  double d = 0;
  if (k == Kind::kInt || k == Kind::kFloat) {
    if (!parse_float(v->Scalar(), &d)) {
      int64_t i = 0;
      parse_int(v->Scalar(), &i);
      d = static_cast<double>(i);
    }
  } else {
    error_at(*v, field(key), "expected a number");
    return std::nullopt;
  }
  if (!(d >= lo && d <= hi)) {
    error_at(*v, field(key), fmt::format("value should be between {} and {}", lo, hi));
    return std::nullopt;
  }
  return d;
}

std::optional<bool> Record::boolean(std::string_view key) {
  auto v = get(key);
  if (!v) return std::nullopt;
  if (kind_of(*v) != Kind::kBool) {
    error_at(*v, field(key), "expected a boolean");
    return std::nullopt;
  }
  char c = v->Scalar()[0];
  return c == 't' || c == 'T';
}

std::optional<std::vector<std::string>> Record::strings(
    std::string_view key, const char* type,
    const std::function<std::string(const std::string&)>& check) {
  auto v = get(key);
  if (!v) return std::nullopt;
  if (kind_of(*v) != Kind::kSeq) {
    error_at(*v, field(key), expected(type));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  size_t i = 0;
  for (const auto& el : *v) {
    std::string f = fmt::format("{}[{}]", field(key), i++);
    if (kind_of(el) != Kind::kString) {
      error_at(el, f, "expected a string");
      ok = false;
      continue;
    }
    if (check) {
      if (auto e = check(el.Scalar()); !e.empty()) {
        error_at(el, f, e);
        ok = false;
        continue;
      }
    }
    out.push_back(el.Scalar());
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::string> Record::one_of(std::string_view key,
                                          std::initializer_list<std::string_view> values) {
  auto s = str(key);
  if (!s) return std::nullopt;
  for (auto v : values)
    if (*s == v) return s;
  std::string list;
  for (auto v : values) list += (list.empty() ? "" : ", ") + std::string(v);
  error(key, "expected one of: " + list);
  return std::nullopt;
}

Ref Record::ref(std::string_view key) {
  Ref r;
  r.field = std::string(key);
  auto v = get(key);
  if (!v) return r;
  r.node = *v;
  Kind k = kind_of(*v);
  if (k == Kind::kString) {
    r.set = true;
    r.value = v->Scalar();
  } else if (k == Kind::kMap) {
    Record sub(l_, *v, entity_, field(key) + ".");
    auto id = sub.str("id", true);
    if (id && !checks::is_uuid(*id)) {
      sub.error("id", "expected a valid UUID");
      id.reset();
    }
    sub.finish();
    if (id) {
      r.set = true;
      r.by_obj = true;
      r.value = *id;
    }
  } else {
    error_at(*v, field(key), "expected a record");
  }
  return r;
}

// ---------------------------------------------------------------------------------------------

template <typename F>
void Loader::each(const Node& seq, Record& parent, std::string_view key, const std::string& path,
                  F&& fn) {
  if (kind_of(seq) == Kind::kNull) return;
  if (kind_of(seq) != Kind::kSeq) {
    parent.error_at(seq, parent.field(key), "expected an array");
    return;
  }
  size_t i = 0;
  for (const auto& el : seq) {
    std::string p = fmt::format("{}{}{}[{}]", path, path.empty() ? "" : ".", key, i++);
    if (kind_of(el) != Kind::kMap) {
      add(el, p, "", "expected a record");
      continue;
    }
    fn(el, p);
  }
}

std::string Loader::ensure_id(Record& r, bool* has_id) {
  *has_id = false;
  auto id = r.str("id");
  if (!id) return {};
  if (!checks::is_uuid(*id)) {
    r.error("id", "expected a valid UUID");
    return {};
  }
  *has_id = true;
  return *id;
}

void Loader::comment_fields(Record& r) {
  r.integer("created_at", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  r.integer("updated_at", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
}

void Loader::service(const Node& n, const std::string& path) {
  Record r(*this, n, path);
  Service s;
  s.pos = pos_of(n);
  if (auto name = r.str("name")) {
    r.set_entity(label(path, *name));
    if (auto e = checks::check_utf8_name(*name); !e.empty()) {
      r.error("name", e);
    } else {
      s.name = *name;
    }
  }
  bool has_id = false;
  s.id = ensure_id(r, &has_id);
  comment_fields(r);

  // url shorthand: scheme://host[:port][/path]
  bool from_url = false;
  if (auto url = r.str("url")) {
    std::string u = *url;
    std::string scheme;
    auto sep = u.find("://");
    if (sep != std::string::npos) {
      scheme = u.substr(0, sep);
      u = u.substr(sep + 3);
    }
    auto cut = u.find_first_of("?#");
    if (cut != std::string::npos) u = u.substr(0, cut);
    auto slash = u.find('/');
    std::string authority = u.substr(0, slash);
    std::optional<std::string> upath;
    if (slash != std::string::npos) upath = u.substr(slash);
    auto at = authority.rfind('@');
    if (at != std::string::npos) authority = authority.substr(at + 1);
    std::string host = authority;
    int port = -1;
    auto colon = authority.rfind(':');
    if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
      std::string ps = authority.substr(colon + 1);
      host = authority.substr(0, colon);
      int64_t p = 0;
      if (!ps.empty() && ps.find_first_not_of("0123456789") == std::string::npos &&
          parse_int(ps, &p) && p <= 65535) {
        port = static_cast<int>(p);
      } else {
        r.error("url", fmt::format("invalid value: {}", *url));
      }
    }
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    if (scheme.empty()) scheme = port == 443 ? "https" : "http";
    s.protocol = scheme;
    s.port = port >= 0 ? port : (scheme == "https" ? 443 : 80);
    s.host = host;
    s.path = upath;
    from_url = true;
    // Kong applies the shorthand after the explicit fields: url wins, silently.
    r.allow({"protocol", "host", "port", "path"});
  }

  if (!from_url) {
    if (auto p = r.str("protocol")) s.protocol = *p;
    if (auto h = r.str("host", true)) s.host = *h;
    if (auto p = r.integer("port", 0, 65535)) s.port = static_cast<int>(*p);
    if (auto p = r.str("path")) s.path = *p;
  }
  auto where = [&](const char* k) { return from_url ? "url" : k; };
  if (std::find(std::begin(kProtocols), std::end(kProtocols), s.protocol) == std::end(kProtocols))
    r.error(where("protocol"), fmt::format("expected one of: {}", kProtocolList));
  if (!s.host.empty() || from_url) {
    if (s.host.empty()) {
      r.error(from_url ? "url" : "host", "required field missing");
    } else if (auto e = checks::check_host(s.host); !e.empty()) {
      r.error(where("host"), e);
    }
  }
  if (s.path) {
    if (auto e = checks::check_service_path(*s.path); !e.empty()) r.error(where("path"), e);
    static const char* kNoPath[] = {"tcp", "tls", "udp", "grpc", "grpcs"};
    if (std::find_if(std::begin(kNoPath), std::end(kNoPath),
                     [&](const char* p) { return s.protocol == p; }) != std::end(kNoPath))
      r.error(where("path"), "value must be null");
  }
  if (auto v = r.integer("retries", 0, 32767)) s.retries = static_cast<int>(*v);
  for (auto [key, dst] :
       {std::pair{"connect_timeout", &s.connect_timeout},
        std::pair{"write_timeout", &s.write_timeout}, std::pair{"read_timeout", &s.read_timeout}})
    if (auto v = r.integer(key, 1, 2147483646)) *dst = static_cast<int>(*v);
  if (auto v = r.boolean("enabled")) s.enabled = *v;
  bool tls_ok = s.protocol == "https" || s.protocol == "tls";
  if (auto v = r.boolean("tls_verify")) s.tls_verify = *v;
  if (auto v = r.integer("tls_verify_depth", 0, 64)) s.tls_verify_depth = static_cast<int>(*v);
  std::vector<CaRef> cas;
  if (auto v = r.get("ca_certificates")) {
    if (kind_of(*v) != Kind::kSeq) {
      r.error("ca_certificates", "expected an array");
    } else {
      size_t i = 0;
      for (const auto& el : *v) {
        std::string f = fmt::format("ca_certificates[{}]", i++);
        if (kind_of(el) != Kind::kString || !checks::is_uuid(el.Scalar())) {
          r.error_at(el, f, "expected a valid UUID");
          continue;
        }
        cas.push_back({el.Scalar(), el, f});
      }
    }
  }
  Ref client_cert = r.ref("client_certificate");
  if (!tls_ok) {
    for (auto k : {"tls_verify", "tls_verify_depth", "ca_certificates", "client_certificate"})
      if (r.has(k)) r.error(k, "value must be null");
  }
  s.tags = r.tags();
  int index = static_cast<int>(cfg_.services.size());
  cfg_.services.push_back(std::move(s));
  svc_x_.push_back({r.entity(), n, has_id});
  svc_ca_.push_back(std::move(cas));
  svc_client_cert_.push_back(std::move(client_cert));

  // Nested arrays in document order, so the flattened vectors follow the file.
  for (auto it = n.begin(); it != n.end(); ++it) {
    const std::string key = it->first.Type() == YAML::NodeType::Scalar ? it->first.Scalar() : "";
    if (key == "routes") {
      if (auto v = r.get("routes"))
        each(*v, r, "routes", path,
             [&](const Node& el, const std::string& p) { route(el, p, index); });
    } else if (key == "plugins") {
      if (auto v = r.get("plugins"))
        each(*v, r, "plugins", path, [&](const Node& el, const std::string& p) {
          plugin(el, p, PluginX::kService, index);
        });
    }
  }
  r.finish();
}

void Loader::route(const Node& n, const std::string& path, int parent_service) {
  Record r(*this, n, path);
  Route rt;
  rt.pos = pos_of(n);
  rt.legacy_paths = legacy_;
  if (auto name = r.str("name")) {
    r.set_entity(label(path, *name));
    if (auto e = checks::check_utf8_name(*name); !e.empty()) {
      r.error("name", e);
    } else {
      rt.name = *name;
    }
  }
  bool has_id = false;
  rt.id = ensure_id(r, &has_id);
  r.get("updated_at");
  if (auto v = r.integer("created_at", 0, std::numeric_limits<int64_t>::max())) rt.created_at = *v;

  bool protocols_ok = true;
  if (auto v = r.get("protocols")) {
    auto p = r.strings("protocols", "set", [](const std::string& s) -> std::string {
      if (std::find(std::begin(kProtocols), std::end(kProtocols), s) == std::end(kProtocols))
        return fmt::format("expected one of: {}", kProtocolList);
      return {};
    });
    if (!p) {
      protocols_ok = false;
    } else if (p->empty()) {
      r.error("protocols", "length must be at least 1");
      protocols_ok = false;
    } else {
      std::vector<std::string> dedup;
      for (auto& x : *p)
        if (std::find(dedup.begin(), dedup.end(), x) == dedup.end()) dedup.push_back(x);
      auto group = [](const std::string& x) {
        if (x == "http" || x == "https") return 0;
        if (x == "tcp" || x == "tls" || x == "udp") return 1;
        if (x == "tls_passthrough") return 2;
        return 3;
      };
      for (auto& x : dedup) {
        if (group(x) != group(dedup[0])) {
          r.error("protocols",
                  "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp'), "
                  "('tls_passthrough'), ('grpc', 'grpcs')");
          protocols_ok = false;
          break;
        }
      }
      rt.protocols = dedup;
    }
  }
  auto has_proto = [&](std::initializer_list<const char*> ps) {
    for (auto& x : rt.protocols)
      for (auto p : ps)
        if (x == p) return true;
    return false;
  };

  if (auto v = r.strings("methods", "set", [](const std::string& m) -> std::string {
        bool ok = !m.empty();
        for (char c : m)
          if (c < 'A' || c > 'Z') ok = false;
        return ok ? std::string() : fmt::format("invalid value: {}", m);
      }))
    rt.methods = *v;
  if (auto v = r.strings("hosts", "array",
                         [](const std::string& h) { return checks::check_route_host(h); }))
    rt.hosts = *v;
  if (auto v = r.strings("paths", "array", [this](const std::string& p) {
        return legacy_ ? checks::check_legacy_router_path(p) : checks::check_router_path(p);
      }))
    rt.paths = *v;
  if (auto v = r.get("headers")) {
    if (kind_of(*v) != Kind::kMap) {
      r.error("headers", "expected a map");
    } else {
      for (auto it = v->begin(); it != v->end(); ++it) {
        std::string name = it->first.Scalar();
        std::string f = fmt::format("headers.{}", name);
        if (kind_of(it->first) != Kind::kString && kind_of(it->first) != Kind::kInt) {
          r.error_at(it->first, "headers", "expected a string");
          continue;
        }
        if (auto e = checks::check_header_name(name); !e.empty()) {
          r.error_at(it->first, f, e);
          continue;
        }
        std::string lower = name;
        std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
        if (lower == "host") {
          r.error_at(it->first, f,
                     "cannot contain 'host' header, which must be specified in the 'hosts' "
                     "attribute");
          continue;
        }
        HeaderMatch hm{name, {}};
        if (kind_of(it->second) != Kind::kSeq) {
          r.error_at(it->second, f, "expected an array");
          continue;
        }
        size_t i = 0;
        const Node values = it->second;  // keep the node alive for the loop
        for (const auto& el : values) {
          if (kind_of(el) != Kind::kString) {
            r.error_at(el, fmt::format("{}[{}]", f, i), "expected a string");
          } else {
            hm.values.push_back(el.Scalar());
          }
          ++i;
        }
        rt.headers.push_back(std::move(hm));
      }
    }
  }
  if (auto v = r.strings("snis", "set",
                         [](const std::string& s) { return checks::check_wildcard_host(s); }))
    rt.snis = *v;
  for (auto [key, dst] :
       {std::pair{"sources", &rt.sources}, std::pair{"destinations", &rt.destinations}}) {
    auto v = r.get(key);
    if (!v) continue;
    if (kind_of(*v) != Kind::kSeq) {
      r.error(key, "expected a set");
      continue;
    }
    size_t i = 0;
    for (const auto& el : *v) {
      std::string f = fmt::format("{}[{}]", key, i++);
      if (kind_of(el) != Kind::kMap) {
        r.error_at(el, f, "expected a record");
        continue;
      }
      Record sub(*this, el, r.entity(), f + ".");
      CidrPort cp;
      if (auto ip = sub.str("ip")) {
        if (!checks::is_ip_or_cidr(*ip)) {
          sub.error("ip", fmt::format("invalid ip or cidr range: '{}'", *ip));
        }
        cp.ip = *ip;
      }
      if (auto p = sub.integer("port", 0, 65535)) cp.port = static_cast<int>(*p);
      if (!sub.has("ip") && !sub.has("port"))
        sub.entity_error("at least one of these fields must be non-empty: 'ip', 'port'");
      sub.finish();
      dst->push_back(cp);
    }
  }
  if (auto v = r.boolean("strip_path")) rt.strip_path = *v;
  if (auto v = r.boolean("preserve_host")) rt.preserve_host = *v;
  if (auto v = r.boolean("request_buffering")) rt.request_buffering = *v;
  if (auto v = r.boolean("response_buffering")) rt.response_buffering = *v;
  if (auto v = r.integer("regex_priority", std::numeric_limits<int>::min(),
                         std::numeric_limits<int>::max()))
    rt.regex_priority = static_cast<int>(*v);
  if (auto v = r.one_of("path_handling", {"v0", "v1"})) rt.path_handling = *v;
  if (auto v = r.get("https_redirect_status_code")) {
    auto code = r.integer("https_redirect_status_code", std::numeric_limits<int64_t>::min(),
                          std::numeric_limits<int64_t>::max());
    if (code) {
      if (*code == 426 || *code == 301 || *code == 302 || *code == 307 || *code == 308) {
        rt.https_redirect_status_code = static_cast<int>(*code);
      } else {
        r.error("https_redirect_status_code", "expected one of: 426, 301, 302, 307, 308");
      }
    }
  }
  rt.tags = r.tags();
  RouteX x;
  x.service = r.ref("service");
  x.parent = parent_service;

  // Entity checks (only meaningful when the protocols themselves are valid).
  if (protocols_ok) {
    // Kong: `then_match = { len_eq = 0 }`, so an empty `snis` is fine with any protocol.
    auto snis_node = r.get("snis");
    bool snis_set = snis_node && (kind_of(*snis_node) != Kind::kSeq || snis_node->size() > 0);
    if (snis_set && !has_proto({"grpcs", "https", "tls", "tls_passthrough"}))
      r.error("snis",
              "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or "
              "'tls_passthrough'");
    const std::string& first = rt.protocols[0];
    auto set = [&](const char* k) { return r.has(k); };
    auto forbid = [&](const char* k, const char* what) {
      if (set(k)) r.error(k, fmt::format("cannot set '{}' when 'protocols' is {}", k, what));
    };
    if (first == "http" || first == "https") {
      forbid("sources", "'http' or 'https'");
      forbid("destinations", "'http' or 'https'");
      bool https = has_proto({"https"});
      bool any = set("methods") || set("hosts") || set("headers") || set("paths") ||
                 (https && set("snis"));
      if (!any)
        r.entity_error(https ? "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' "
                               "when 'protocols' is 'https'"
                             : "must set one of 'methods', 'hosts', 'headers', 'paths' when "
                               "'protocols' is 'http'");
    } else if (first == "grpc" || first == "grpcs") {
      forbid("methods", "'grpc' or 'grpcs'");
      forbid("sources", "'grpc' or 'grpcs'");
      forbid("destinations", "'grpc' or 'grpcs'");
      bool grpcs = has_proto({"grpcs"});
      bool any = set("hosts") || set("headers") || set("paths") || (grpcs && set("snis"));
      if (!any)
        r.entity_error(grpcs ? "must set one of 'hosts', 'headers', 'paths', 'snis' when "
                               "'protocols' is 'grpcs'"
                             : "must set one of 'hosts', 'headers', 'paths' when 'protocols' is "
                               "'grpc'");
    } else {
      const char* what = "'tcp', 'tls', 'tls_passthrough' or 'udp'";
      forbid("methods", what);
      forbid("hosts", what);
      forbid("paths", what);
      forbid("headers", what);
      if (first == "tls_passthrough") {
        if (!set("snis")) r.entity_error("must set snis when 'protocols' is 'tls_passthrough'");
      } else if (!set("sources") && !set("destinations") && !set("snis")) {
        r.entity_error(
            "must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' "
            "or 'udp'");
      }
    }
  }

  int index = static_cast<int>(cfg_.routes.size());
  rt.service = parent_service;
  cfg_.routes.push_back(std::move(rt));
  route_lx_.push_back({r.entity(), n, has_id});
  route_x_.push_back(std::move(x));
  if (auto v = r.get("plugins"))
    each(*v, r, "plugins", path,
         [&](const Node& el, const std::string& p) { plugin(el, p, PluginX::kRoute, index); });
  r.finish();
}

void Loader::consumer(const Node& n, const std::string& path) {
  Record r(*this, n, path);
  Consumer c;
  c.pos = pos_of(n);
  if (auto u = r.str("username")) {
    c.username = *u;
    r.set_entity(label(path, *u));
  }
  if (auto v = r.str("custom_id")) c.custom_id = *v;
  if (c.username.empty() && c.custom_id.empty())
    r.entity_error("at least one of these fields must be non-empty: 'custom_id', 'username'");
  bool has_id = false;
  c.id = ensure_id(r, &has_id);
  comment_fields(r);
  c.tags = r.tags();
  int index = static_cast<int>(cfg_.consumers.size());
  cfg_.consumers.push_back(std::move(c));
  consumer_x_.push_back({r.entity(), n, has_id});
  if (auto v = r.get("plugins"))
    each(*v, r, "plugins", path,
         [&](const Node& el, const std::string& p) { plugin(el, p, PluginX::kConsumer, index); });
  // Plugin entities nested under their consumer (keyauth_credentials, ...), as Kong allows.
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (it->first.Type() != YAML::NodeType::Scalar) continue;
    const std::string key = it->first.Scalar();
    if (!plugin_entity_key(key)) continue;
    if (auto v = r.get(key))
      each(*v, r, key, path,
           [&](const Node& el, const std::string& p) { plugin_entity(el, p, key, index); });
  }
  r.finish();
}

std::string Loader::to_json(const Node& n, int depth, size_t* budget, bool* ok) {
  if (depth > 128 || *budget == 0) {
    *ok = false;
    return "null";
  }
  --*budget;
  auto quote = [](const std::string& s) { return "\"" + sb::json_escape(s) + "\""; };
  switch (kind_of(n)) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return (n.Scalar()[0] == 't' || n.Scalar()[0] == 'T') ? "true" : "false";
    case Kind::kInt: {
      int64_t i = 0;
      parse_int(n.Scalar(), &i);
      return std::to_string(i);
    }
    case Kind::kFloat: {
      double d = 0;
      parse_float(n.Scalar(), &d);
      return std::isfinite(d) ? fmt::format("{}", d) : "null";
    }
    case Kind::kString:
      return quote(n.Scalar());
    case Kind::kSeq: {
      std::string out = "[";
      bool first = true;
      for (const auto& el : n) {
        if (!first) out += ",";
        first = false;
        out += to_json(el, depth + 1, budget, ok);
        if (!*ok) return "null";
      }
      return out + "]";
    }
    case Kind::kMap: {
      std::string out = "{";
      bool first = true;
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (!first) out += ",";
        first = false;
        out += quote(it->first.Scalar()) + ":" + to_json(it->second, depth + 1, budget, ok);
        if (!*ok) return "null";
      }
      return out + "}";
    }
  }
  return "null";
}

void Loader::plugin(const Node& n, const std::string& path, PluginX::Parent parent, int idx) {
  Record r(*this, n, path);
  Plugin p;
  p.pos = pos_of(n);
  PluginX x;
  x.parent = parent;
  x.parent_idx = idx;
  if (auto name = r.str("name", true)) {
    p.name = *name;
    r.set_entity(label(path, *name));
    if (!enabled_.count(*name))
      r.error("name", fmt::format("plugin '{}' not enabled; add it to the 'plugins' configuration "
                                  "property",
                                  *name));
  }
  if (auto v = r.str("instance_name")) {
    if (auto e = checks::check_utf8_name(*v); !e.empty()) {
      r.error("instance_name", e);
    } else {
      p.instance_name = *v;
    }
  }
  p.id = ensure_id(r, &x.has_id);
  comment_fields(r);
  if (auto v = r.boolean("enabled")) p.enabled = *v;
  if (auto v = r.strings("protocols", "set", [](const std::string& s) -> std::string {
        if (std::find(std::begin(kProtocols), std::end(kProtocols), s) == std::end(kProtocols))
          return fmt::format("expected one of: {}", kProtocolList);
        return {};
      })) {
    if (v->empty()) {
      r.error("protocols", "length must be at least 1");
    } else {
      p.protocols = *v;
    }
  }
  const PluginSchema* schema =
      opts_.catalog != nullptr ? opts_.catalog->plugin_schema(p.name) : nullptr;
  if (schema != nullptr && schema->config) {
    // Validated against the plugin's schema, defaults filled (Kong stores it that way).
    auto v = r.get("config");
    if (v && kind_of(*v) != Kind::kMap) {
      r.error("config", "expected a record");
    } else {
      auto value = std::make_shared<Value>();
      std::vector<SchemaError> errs;
      schema->config->validate(v ? *v : Node(), value.get(), &errs);
      add_schema_errors(errs, v ? *v : n, r.entity(), "config.");
      p.config_json = value->to_json();
      p.config = std::move(value);
    }
  } else if (auto v = r.get("config")) {
    if (kind_of(*v) != Kind::kMap) {
      r.error("config", "expected a record");
    } else {
      size_t budget = 1000000;
      bool ok = true;
      p.config_json = to_json(*v, 0, &budget, &ok);
      if (!ok) r.error("config", "too deeply nested or too large");
    }
  } else {
    p.config_json = "{}";
  }
  p.tags = r.tags();
  x.route = r.ref("route");
  x.service = r.ref("service");
  x.consumer = r.ref("consumer");
  if (schema != nullptr) {
    // Kong's typedefs.no_consumer / no_route / no_service.
    if (schema->no_consumer && (x.consumer.set || parent == PluginX::kConsumer))
      r.error("consumer", "value must be null");
    if (schema->no_route && (x.route.set || parent == PluginX::kRoute))
      r.error("route", "value must be null");
    if (schema->no_service && (x.service.set || parent == PluginX::kService))
      r.error("service", "value must be null");
  }
  x.label = r.entity();
  x.node = n;
  cfg_.plugins.push_back(std::move(p));
  plugin_x_.push_back(std::move(x));
  r.finish();
}

// A row of a plugin-declared entity, validated against the plugin's entity schema.
void Loader::plugin_entity(const Node& n, const std::string& path, const std::string& key,
                           int consumer) {
  const EntitySchema* schema = opts_.catalog->entity_schema(key);
  EntityRow row;
  row.entity = key;
  row.pos = pos_of(n);
  row.consumer = consumer;
  EntityRowX x;
  x.parent = consumer;
  x.label = path;
  x.node = n;
  x.has_id = n["id"].IsDefined() && !n["id"].IsNull();
  std::vector<SchemaError> errs;
  schema->record->validate(n, &row.row, &errs);
  // Nested rows take their consumer from the parent, as Kong's declarative loader does.
  if (consumer >= 0) {
    std::erase_if(errs, [](const SchemaError& e) {
      return e.field == "consumer" && e.message == "required field missing";
    });
  }
  add_schema_errors(errs, n, path, "");
  cfg_.entity_rows.push_back(std::move(row));
  entity_x_.push_back(std::move(x));
}

// Consumer references and ids of plugin entity rows, once every consumer is known.
void Loader::resolve_entities() {
  if (cfg_.entity_rows.empty()) return;
  std::unordered_map<std::string, int> consumers;
  for (size_t i = 0; i < cfg_.consumers.size(); ++i) {
    consumers.emplace(cfg_.consumers[i].id, static_cast<int>(i));
    if (!cfg_.consumers[i].username.empty())
      consumers.emplace(cfg_.consumers[i].username, static_cast<int>(i));
  }
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < cfg_.entity_rows.size(); ++i) {
    EntityRow& row = cfg_.entity_rows[i];
    const EntityRowX& x = entity_x_[i];
    const EntitySchema* schema = opts_.catalog->entity_schema(row.entity);
    for (const auto& [field, target] : schema->foreign) {
      if (target != "consumers") continue;
      Value* ref = row.row.get(field);
      int idx = x.parent;
      if (ref != nullptr && ref->kind == Value::Kind::string) {
        auto it = consumers.find(ref->s);
        if (it == consumers.end() || (x.parent >= 0 && it->second != x.parent)) {
          add(x.node, x.label, field,
              fmt::format("invalid reference '{}: {}' (no such entry in 'consumers')", field,
                          ref->s));
          continue;
        }
        idx = it->second;
      }
      if (idx < 0) continue;
      row.consumer = idx;
      Value id = Value::object();
      id.set("id", Value::of_string(cfg_.consumers[static_cast<size_t>(idx)].id));
      row.row.set(field, std::move(id));
    }
    // Ids: as given; else derived from the cache key so they stay stable across reloads
    // (rate-limiting by credential keys its counters by the credential id).
    Value* id = row.row.get("id");
    if (x.has_id && id != nullptr && id->kind == Value::Kind::string) {
      row.id = id->s;
    } else {
      std::string ck;
      for (const auto& f : schema->cache_key) {
        const Value* v = row.row.get(f);
        ck += ':';
        if (v != nullptr && v->kind == Value::Kind::string) ck += v->s;
        if (v != nullptr && v->kind == Value::Kind::object && v->get("id") != nullptr)
          ck += v->get("id")->s;
      }
      row.id = schema->cache_key.empty() || ck.empty() ? checks::random_uuid()
                                                       : entity_uuid(row.entity.c_str(), ck);
      row.row.set("id", Value::of_string(row.id));
    }
    if (!seen.insert(row.entity + '\0' + row.id).second) {
      add(x.node, x.label, "",
          fmt::format("uniqueness violation: '{}' entity with primary key set to '{}' already "
                      "declared",
                      row.entity, row.id));
    }
    for (const auto& f : schema->unique_fields) {
      const Value* v = row.row.get(f);
      if (v == nullptr || v->kind != Value::Kind::string) continue;
      if (!seen.insert(row.entity + '\0' + f + '\0' + v->s).second) {
        add(x.node, x.label, "",
            fmt::format("uniqueness violation: '{}' entity with {} set to '{}' already declared",
                        row.entity, f, v->s));
      }
    }
  }
}

void Loader::healthchecks(Record& up, Healthchecks& hc) {
  auto v = up.get("healthchecks");
  if (!v) return;
  if (kind_of(*v) != Kind::kMap) {
    up.error("healthchecks", "expected a record");
    return;
  }
  Record h(*this, *v, up.entity(), "healthchecks.");
  if (auto t = h.number("threshold", 0, 100)) hc.threshold = *t;
  auto statuses = [&](Record& r, std::vector<int>& dst) {
    auto s = r.get("http_statuses");
    if (!s) return;
    if (kind_of(*s) != Kind::kSeq) {
      r.error("http_statuses", "expected an array");
      return;
    }
    std::vector<int> out;
    size_t i = 0;
    for (const auto& el : *s) {
      std::string f = fmt::format("{}http_statuses[{}]", r.field(""), i++);
      int64_t code = 0;
      if (kind_of(el) != Kind::kInt || !parse_int(el.Scalar(), &code)) {
        r.error_at(el, f, "expected an integer");
        continue;
      }
      if (code < 100 || code > 999) {
        r.error_at(el, f, "value should be between 100 and 999");
        continue;
      }
      out.push_back(static_cast<int>(code));
    }
    dst = out;
  };
  auto healthy = [&](Record& parent, HealthcheckHealthy& dst, bool active) {
    auto n = parent.get("healthy");
    if (!n) return;
    if (kind_of(*n) != Kind::kMap) {
      parent.error("healthy", "expected a record");
      return;
    }
    Record r(*this, *n, parent.entity(), parent.field("healthy."));
    if (active) {
      if (auto x = r.number("interval", 0, 65535)) dst.interval = *x;
    }
    if (auto x = r.integer("successes", 0, 255)) dst.successes = static_cast<int>(*x);
    statuses(r, dst.http_statuses);
    r.finish();
  };
  auto unhealthy = [&](Record& parent, HealthcheckUnhealthy& dst, bool active) {
    auto n = parent.get("unhealthy");
    if (!n) return;
    if (kind_of(*n) != Kind::kMap) {
      parent.error("unhealthy", "expected a record");
      return;
    }
    Record r(*this, *n, parent.entity(), parent.field("unhealthy."));
    if (active) {
      if (auto x = r.number("interval", 0, 65535)) dst.interval = *x;
    }
    if (auto x = r.integer("tcp_failures", 0, 255)) dst.tcp_failures = static_cast<int>(*x);
    if (auto x = r.integer("timeouts", 0, 255)) dst.timeouts = static_cast<int>(*x);
    if (auto x = r.integer("http_failures", 0, 255)) dst.http_failures = static_cast<int>(*x);
    statuses(r, dst.http_statuses);
    r.finish();
  };
  if (auto a = h.get("active")) {
    if (kind_of(*a) != Kind::kMap) {
      h.error("active", "expected a record");
    } else {
      Record r(*this, *a, up.entity(), "healthchecks.active.");
      auto& act = hc.active;
      if (auto t = r.one_of("type", {"tcp", "http", "https", "grpc", "grpcs"})) act.type = *t;
      if (auto x = r.number("timeout", 0, 65535)) act.timeout = *x;
      if (auto x = r.integer("concurrency", 1, 2147483648LL))
        act.concurrency = static_cast<int>(std::min<int64_t>(*x, INT32_MAX));
      if (auto x = r.str("http_path")) {
        if (auto e = checks::check_service_path(*x); !e.empty()) {
          r.error("http_path", e);
        } else {
          act.http_path = *x;
        }
      }
      if (auto x = r.str("https_sni")) {
        if (auto e = checks::check_wildcard_host(*x); !e.empty()) {
          r.error("https_sni", e);
        } else {
          act.https_sni = *x;
        }
      }
      if (auto x = r.boolean("https_verify_certificate")) act.https_verify_certificate = *x;
      if (auto hs = r.get("headers")) {
        if (kind_of(*hs) != Kind::kMap) {
          r.error("headers", "expected a map");
        } else {
          for (auto it = hs->begin(); it != hs->end(); ++it) {
            HeaderMatch hm{it->first.Scalar(), {}};
            std::string f = r.field("headers.") + hm.name;
            if (kind_of(it->second) != Kind::kSeq) {
              r.error_at(it->second, f, "expected an array");
              continue;
            }
            const Node values = it->second;  // keep the node alive for the loop
            for (const auto& el : values) {
              if (kind_of(el) != Kind::kString) {
                r.error_at(el, f, "expected a string");
              } else {
                hm.values.push_back(el.Scalar());
              }
            }
            act.headers.push_back(std::move(hm));
          }
        }
      }
      healthy(r, act.healthy, true);
      unhealthy(r, act.unhealthy, true);
      r.finish();
    }
  }
  if (auto p = h.get("passive")) {
    if (kind_of(*p) != Kind::kMap) {
      h.error("passive", "expected a record");
    } else {
      Record r(*this, *p, up.entity(), "healthchecks.passive.");
      if (auto t = r.one_of("type", {"tcp", "http", "https", "grpc", "grpcs"}))
        hc.passive.type = *t;
      healthy(r, hc.passive.healthy, false);
      unhealthy(r, hc.passive.unhealthy, false);
      r.finish();
    }
  }
  h.finish();
}

void Loader::upstream(const Node& n, const std::string& path) {
  Record r(*this, n, path);
  Upstream u;
  u.pos = pos_of(n);
  if (auto name = r.str("name", true)) {
    r.set_entity(label(path, *name));
    std::string err;
    auto hp = checks::parse_host(*name, &err);
    if (!hp) {
      r.error("name", fmt::format("Invalid name ('{}'); must be a valid hostname", *name));
    } else if (hp->type != checks::HostPort::kName) {
      r.error("name", fmt::format("Invalid name ('{}'); no ip addresses allowed", *name));
    } else if (hp->port >= 0) {
      r.error("name", fmt::format("Invalid name ('{}'); no port allowed", *name));
    } else {
      u.name = *name;
    }
  }
  bool has_id = false;
  u.id = ensure_id(r, &has_id);
  comment_fields(r);
  auto algorithm =
      r.one_of("algorithm", {"consistent-hashing", "least-connections", "round-robin", "latency"});
  if (auto v = r.one_of("hash_on", {"none", "consumer", "ip", "header", "cookie", "path",
                                    "query_arg", "uri_capture"}))
    u.hash_on = *v;
  if (auto v = r.one_of("hash_fallback", {"none", "consumer", "ip", "header", "cookie", "path",
                                          "query_arg", "uri_capture"}))
    u.hash_fallback = *v;
  auto header = [&](const char* k, std::string& dst) {
    if (auto v = r.str(k)) {
      if (auto e = checks::check_header_name(*v); !e.empty()) {
        r.error(k, e);
      } else {
        dst = *v;
      }
    }
  };
  header("hash_on_header", u.hash_on_header);
  header("hash_fallback_header", u.hash_fallback_header);
  if (auto v = r.str("hash_on_cookie")) u.hash_on_cookie = *v;
  if (auto v = r.str("hash_on_cookie_path")) {
    if (auto e = checks::check_service_path(*v); !e.empty()) {
      r.error("hash_on_cookie_path", e);
    } else {
      u.hash_on_cookie_path = *v;
    }
  }
  for (auto [k, dst] : {std::pair{"hash_on_query_arg", &u.hash_on_query_arg},
                        std::pair{"hash_fallback_query_arg", &u.hash_fallback_query_arg},
                        std::pair{"hash_on_uri_capture", &u.hash_on_uri_capture},
                        std::pair{"hash_fallback_uri_capture", &u.hash_fallback_uri_capture}})
    if (auto v = r.str(k)) *dst = *v;
  if (auto v = r.integer("slots", 10, 65536)) u.slots = static_cast<int>(*v);
  if (auto v = r.str("host_header")) {
    if (auto e = checks::check_host_with_optional_port(*v); !e.empty()) {
      r.error("host_header", e);
    } else {
      u.host_header = *v;
    }
  }
  if (auto v = r.boolean("use_srv_name")) u.use_srv_name = *v;
  Ref client_cert = r.ref("client_certificate");
  healthchecks(r, u.healthchecks);
  u.tags = r.tags();

  // Entity checks (Kong's conditionals).
  auto required_if = [&](bool cond, const char* field) {
    if (cond && !r.has(field)) r.entity_error(fmt::format("{}: required field missing", field));
  };
  required_if(u.hash_on == "header", "hash_on_header");
  required_if(u.hash_fallback == "header", "hash_fallback_header");
  required_if(u.hash_on == "cookie" || u.hash_fallback == "cookie", "hash_on_cookie");
  required_if(u.hash_on == "query_arg", "hash_on_query_arg");
  required_if(u.hash_fallback == "query_arg", "hash_fallback_query_arg");
  required_if(u.hash_on == "uri_capture", "hash_on_uri_capture");
  required_if(u.hash_fallback == "uri_capture", "hash_fallback_uri_capture");
  if ((u.hash_on == "none" || u.hash_on == "cookie") && u.hash_fallback != "none")
    r.error("hash_fallback", "expected one of: none");
  else if (u.hash_on != "none" && u.hash_on != "header" && u.hash_on != "query_arg" &&
           u.hash_on != "uri_capture" && u.hash_on == u.hash_fallback)
    r.error("hash_fallback", fmt::format("must not be one of: {}", u.hash_on));
  if (u.hash_on == "header" && u.hash_fallback == "header" && !u.hash_on_header.empty() &&
      u.hash_on_header == u.hash_fallback_header)
    r.entity_error(
        "values of these fields must be distinct: 'hash_on_header', 'hash_fallback_header'");
  // Kong's algorithm/hash_on coupling.
  if (algorithm) {
    u.algorithm = *algorithm;
  } else if (u.hash_on != "none") {
    u.algorithm = "consistent-hashing";
  }

  int index = static_cast<int>(cfg_.upstreams.size());
  cfg_.upstreams.push_back(std::move(u));
  upstream_x_.push_back({r.entity(), n, has_id});
  up_client_cert_.push_back(std::move(client_cert));
  if (auto v = r.get("targets"))
    each(*v, r, "targets", path,
         [&](const Node& el, const std::string& p) { target(el, p, index); });
  r.finish();
}

void Loader::target(const Node& n, const std::string& path, int parent) {
  Record r(*this, n, path);
  TargetX x;
  Target& t = x.target;
  t.pos = pos_of(n);
  if (auto v = r.str("target", true)) {
    r.set_entity(fmt::format("{} (target: {})", path, *v));
    std::string err;
    auto hp = checks::parse_host(*v, &err);
    if (!hp) {
      r.error("target",
              fmt::format("Invalid target ('{}'); not a valid hostname or ip address", *v));
    } else {
      t.host = hp->host;
      t.port = hp->port >= 0 ? hp->port : 8000;
      t.target = hp->type == checks::HostPort::kIpv6 ? fmt::format("[{}]:{}", t.host, t.port)
                                                     : fmt::format("{}:{}", t.host, t.port);
    }
    x.key = *v;
  }
  t.id = ensure_id(r, &x.has_id);
  r.get("created_at");
  r.get("updated_at");
  if (auto v = r.integer("weight", 0, 65535)) t.weight = static_cast<int>(*v);
  t.tags = r.tags();
  x.upstream = r.ref("upstream");
  x.parent = parent;
  x.node = n;
  x.label = r.entity();
  targets_.push_back(std::move(x));
  r.finish();
}

// Kong's certificates schema: cert/key (and cert_alt/key_alt) must parse; entity checks run only
// when their fields are valid and none is a vault reference (resolved later).
void Loader::certificate(const Node& n, const std::string& path) {
  Record r(*this, n, path);
  Certificate c;
  c.pos = pos_of(n);
  bool has_id = false;
  c.id = ensure_id(r, &has_id);
  comment_fields(r);
  // Per PEM field: parsed and usable for the entity checks?
  auto pem = [&](const char* key, bool required, bool is_key, std::string& dst) {
    auto v = r.str(key, required);
    if (!v) return false;
    dst = *v;
    if (checks::is_vault_reference(*v)) return false;
    std::string e = is_key ? checks::check_key(*v) : checks::check_certificate(*v);
    if (!e.empty()) {
      r.error(key, std::move(e));
      return false;
    }
    return true;
  };
  bool cert_ok = pem("cert", true, false, c.cert);
  bool key_ok = pem("key", true, true, c.key);
  bool cert_alt_ok = pem("cert_alt", false, false, c.cert_alt);
  bool key_alt_ok = pem("key_alt", false, true, c.key_alt);
  if (r.has("cert_alt") != r.has("key_alt"))
    r.entity_error("all or none of these fields must be set: 'cert_alt', 'key_alt'");
  if (cert_ok && key_ok && !checks::certificate_matches_key(c.cert, c.key))
    r.entity_error("certificate does not match key");
  if (cert_alt_ok && key_alt_ok && !checks::certificate_matches_key(c.cert_alt, c.key_alt))
    r.entity_error("alternative certificate does not match key");
  if (cert_ok && cert_alt_ok &&
      checks::certificate_key_type(c.cert) == checks::certificate_key_type(c.cert_alt))
    r.entity_error(
        "certificate and alternative certificate need to have different type (e.g. RSA and "
        "ECDSA), the provided certificates were both of the same type");
  c.tags = r.tags();
  int index = static_cast<int>(cfg_.certificates.size());
  cfg_.certificates.push_back(std::move(c));
  cert_x_.push_back({r.entity(), n, has_id});
  // Nested snis: records ({name: ...}, decK's form) or plain names (the certificate schema's
  // transient `snis` array, the Admin API's form).
  if (auto v = r.get("snis")) {
    if (kind_of(*v) != Kind::kSeq) {
      r.error("snis", "expected an array");
    } else {
      size_t i = 0;
      for (const auto& el : *v) {
        std::string p = fmt::format("{}.snis[{}]", path, i);
        Kind k = kind_of(el);
        if (k == Kind::kMap) {
          sni(el, p, index);
        } else if (k == Kind::kString) {
          sni_name(el, r, fmt::format("snis[{}]", i), p, index);
        } else {
          r.error_at(el, fmt::format("snis[{}]", i), "expected a string or a record");
        }
        ++i;
      }
    }
  }
  r.finish();
}

// A nested SNI given as a plain name.
void Loader::sni_name(const Node& el, Record& cert, const std::string& field,
                      const std::string& path, int parent) {
  Sni s;
  s.pos = pos_of(el);
  const std::string& name = el.Scalar();
  if (auto e = checks::check_wildcard_host(name); !e.empty()) {
    cert.error_at(el, field, e);
  } else {
    s.name = name;
  }
  s.certificate = parent;
  cfg_.snis.push_back(std::move(s));
  sni_lx_.push_back({label(path, name), el, false});
  SniX x;
  x.parent = parent;
  sni_x_.push_back(std::move(x));
}

void Loader::sni(const Node& n, const std::string& path, int parent) {
  Record r(*this, n, path);
  Sni s;
  s.pos = pos_of(n);
  if (auto v = r.str("name", true)) {
    r.set_entity(label(path, *v));
    if (auto e = checks::check_wildcard_host(*v); !e.empty()) {
      r.error("name", e);
    } else {
      s.name = *v;
    }
  }
  bool has_id = false;
  s.id = ensure_id(r, &has_id);
  comment_fields(r);
  s.tags = r.tags();
  SniX x;
  x.certificate = r.ref("certificate");
  x.parent = parent;
  if (parent < 0 && !x.certificate.set && !r.has("certificate"))
    r.error("certificate", "required field missing");
  s.certificate = parent;
  cfg_.snis.push_back(std::move(s));
  sni_lx_.push_back({r.entity(), n, has_id});
  sni_x_.push_back(std::move(x));
  r.finish();
}

// Kong's CA certificate checks: exactly one PEM certificate, CA basic constraint, not expired.
std::string check_ca_pem(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), int(pem.size())),
                                                &BIO_free);
  if (!bio) return "invalid certificate";
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (!cert) return "invalid certificate: failed to parse PEM";
  std::unique_ptr<X509, decltype(&X509_free)> second(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (second) return "please submit only one certificate at a time";
  if (X509_check_ca(cert.get()) == 0)
    return "certificate does not appear to be a CA because "
           "it is missing the \"CA\" basic constraint";
  if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) < 0)
    return "certificate expired, \"Not After\" time is in the past";
  return {};
}

void Loader::ca_certificate(const Node& n, const std::string& path) {
  Record r(*this, n, path);
  CaCertificate c;
  c.pos = pos_of(n);
  bool has_id = false;
  c.id = ensure_id(r, &has_id);
  comment_fields(r);
  if (auto v = r.str("cert", true)) {
    c.cert = *v;
    if (auto e = check_ca_pem(*v); !e.empty()) r.error("cert", e);
  }
  if (auto v = r.str("cert_digest")) c.cert_digest = *v;
  c.tags = r.tags();
  cfg_.ca_certificates.push_back(std::move(c));
  ca_x_.push_back({r.entity(), n, has_id});
  r.finish();
}

void Loader::vault(const Node& n, const std::string& path) {
  Record r(*this, n, path);
  Vault v;
  v.pos = pos_of(n);
  if (auto x = r.str("name", true)) v.name = *x;
  if (auto x = r.str("prefix", true)) {
    v.prefix = *x;
    r.set_entity(fmt::format("{} (prefix: {})", path, *x));
  }
  if (auto x = r.str("description")) v.description = *x;
  bool has_id = false;
  v.id = ensure_id(r, &has_id);
  comment_fields(r);
  if (auto c = r.get("config")) {
    if (kind_of(*c) != Kind::kMap) {
      r.error("config", "expected a record");
    } else {
      size_t budget = 100000;
      bool ok = true;
      v.config_json = to_json(*c, 0, &budget, &ok);
      if (!ok) r.error("config", "too deeply nested or too large");
    }
  }
  v.tags = r.tags();
  cfg_.vaults.push_back(std::move(v));
  vault_x_.push_back({r.entity(), n, has_id});
  r.finish();
}

// workspaces, key_sets, keys, filter_chains: field names and basic types only.
void Loader::light(const Node& n, const std::string& path, std::string_view kind) {
  Record r(*this, n, path);
  bool has_id = false;
  ensure_id(r, &has_id);
  comment_fields(r);
  r.tags();
  if (kind == "workspaces") {
    if (auto name = r.str("name", true)) {
      r.set_entity(label(path, *name));
      if (*name != "default")
        r.error("name", "only the 'default' workspace is supported in DB-less mode");
    }
    r.str("comment");
    r.allow({"meta", "config"});
  } else if (kind == "key_sets") {
    if (auto name = r.str("name")) r.set_entity(label(path, *name));
  } else if (kind == "keys") {
    if (auto name = r.str("name")) r.set_entity(label(path, *name));
    r.str("kid", true);
    r.str("pem");
    r.allow({"jwk", "set"});
    if (!r.has("jwk") && !r.has("pem"))
      r.entity_error("at least one of these fields must be non-empty: 'jwk', 'pem'");
  } else if (kind == "filter_chains") {
    if (auto name = r.str("name")) r.set_entity(label(path, *name));
    r.boolean("enabled");
    r.allow({"route", "service"});
    if (auto f = r.get("filters")) {
      if (kind_of(*f) != Kind::kSeq) r.error("filters", "expected an array");
    } else {
      r.error("filters", "required field missing");
    }
  }
  r.finish();
}

// ---------------------------------------------------------------------------------------------

bool Loader::check_format_version(Record& r) {
  auto v = r.get("_format_version");
  if (!v) {
    r.error_at(r.node(), "_format_version", "required field missing");
    return false;
  }
  if (kind_of(*v) != Kind::kString) {
    r.error_at(*v, "_format_version", "expected a string");
    return false;
  }
  const std::string& s = v->Scalar();
  if (s != "1.1" && s != "2.1" && s != "3.0") {
    r.error_at(*v, "_format_version", "expected one of: 1.1, 2.1, 3.0");
    return false;
  }
  cfg_.format_version = s;
  legacy_ = s != "3.0";
  return true;
}

void Loader::top_level(const Node& root) {
  Record r(*this, root, "");
  check_format_version(r);
  if (auto t = r.boolean("_transform")) cfg_.transform = *t;
  if (auto c = r.get("_comment"); c && kind_of(*c) != Kind::kString)
    r.error_at(*c, "_comment", "expected a string");
  if (auto c = r.get("_ignore"); c && kind_of(*c) != Kind::kSeq)
    r.error_at(*c, "_ignore", "expected an array");
  // Entities in document order, so flattened vectors follow the file.
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it->first.Type() != YAML::NodeType::Scalar) continue;
    const std::string key = it->first.Scalar();
    if (!entity_key_supported(key) && !plugin_entity_key(key)) continue;
    Node v = it->second;
    r.get(key);
    auto on = [&](auto fn) {
      each(v, r, key, "", [&](const Node& el, const std::string& p) { fn(el, p); });
    };
    if (key == "services") {
      on([&](const Node& el, const std::string& p) { service(el, p); });
    } else if (key == "routes") {
      on([&](const Node& el, const std::string& p) { route(el, p, -1); });
    } else if (key == "consumers") {
      on([&](const Node& el, const std::string& p) { consumer(el, p); });
    } else if (key == "plugins") {
      on([&](const Node& el, const std::string& p) { plugin(el, p, PluginX::kNone, -1); });
    } else if (key == "upstreams") {
      on([&](const Node& el, const std::string& p) { upstream(el, p); });
    } else if (key == "targets") {
      on([&](const Node& el, const std::string& p) { target(el, p, -1); });
    } else if (key == "certificates") {
      on([&](const Node& el, const std::string& p) { certificate(el, p); });
    } else if (key == "snis") {
      on([&](const Node& el, const std::string& p) { sni(el, p, -1); });
    } else if (key == "ca_certificates") {
      on([&](const Node& el, const std::string& p) { ca_certificate(el, p); });
    } else if (key == "vaults") {
      on([&](const Node& el, const std::string& p) { vault(el, p); });
    } else if (plugin_entity_key(key)) {
      on([&](const Node& el, const std::string& p) { plugin_entity(el, p, key, -1); });
    } else {
      on([&](const Node& el, const std::string& p) { light(el, p, key); });
    }
  }
  r.finish();
}

// ---------------------------------------------------------------------------------------------

void Loader::generate_ids() {
  auto gen = [](std::string& id, const char* entity, const std::string& key) {
    if (!id.empty()) return;
    id = key.empty() ? checks::random_uuid() : entity_uuid(entity, key);
  };
  for (auto& s : cfg_.services) gen(s.id, "services", s.name);
  for (auto& r : cfg_.routes) gen(r.id, "routes", r.name);
  for (auto& c : cfg_.consumers) gen(c.id, "consumers", c.username);
  for (auto& u : cfg_.upstreams) gen(u.id, "upstreams", u.name);
  for (auto& c : cfg_.certificates) gen(c.id, "certificates", "");
  for (auto& c : cfg_.ca_certificates) gen(c.id, "ca_certificates", "");
  for (auto& s : cfg_.snis) gen(s.id, "snis", s.name);
  for (auto& v : cfg_.vaults) gen(v.id, "vaults", v.prefix.empty() ? "" : "vaults:*:" + v.prefix);
  // Cache-key based: "<entity>:*:<field>..." with the parent's id for the nesting foreign key,
  // the reference as written for a string reference, nothing for an {id=...} reference.
  auto part = [](std::string& ck, const Ref& r, bool is_parent, const std::string& parent_id) {
    if (r.set && !r.by_obj) {
      ck += ":" + r.value;
    } else if (!r.set && is_parent) {
      ck += ":" + parent_id;
    } else if (!r.set) {
      ck += ":";
    }
  };
  for (size_t i = 0; i < cfg_.plugins.size(); ++i) {
    auto& p = cfg_.plugins[i];
    const auto& x = plugin_x_[i];
    if (!p.id.empty()) continue;
    if (p.name.empty()) {
      p.id = checks::random_uuid();
      continue;
    }
    std::string ck = "plugins:*:" + p.name;
    auto pid = [&](PluginX::Parent k) -> std::string {
      if (x.parent != k) return {};
      if (k == PluginX::kService) return cfg_.services[x.parent_idx].id;
      if (k == PluginX::kRoute) return cfg_.routes[x.parent_idx].id;
      return cfg_.consumers[x.parent_idx].id;
    };
    part(ck, x.route, x.parent == PluginX::kRoute, pid(PluginX::kRoute));
    part(ck, x.service, x.parent == PluginX::kService, pid(PluginX::kService));
    part(ck, x.consumer, x.parent == PluginX::kConsumer, pid(PluginX::kConsumer));
    p.id = entity_uuid("plugins", ck);
  }
  for (auto& x : targets_) {
    if (!x.target.id.empty()) continue;
    if (x.key.empty()) {
      x.target.id = checks::random_uuid();
      continue;
    }
    std::string ck = "targets:*";
    part(ck, x.upstream, x.parent >= 0, x.parent >= 0 ? cfg_.upstreams[x.parent].id : "");
    ck += ":" + x.key;
    x.target.id = entity_uuid("targets", ck);
  }
}

// Endpoint-key and id indexes for one entity type, with uniqueness errors.
struct Index {
  std::unordered_map<std::string, int> by_key, by_id;
  int find(const Ref& r) const {
    if (!r.by_obj) {
      if (auto it = by_key.find(r.value); it != by_key.end()) return it->second;
    }
    if (auto it = by_id.find(r.value); it != by_id.end()) return it->second;
    return -1;
  }
};

void Loader::resolve() {
  auto index = [&](const char* entity, const char* key_name, size_t n, auto key_of, auto id_of,
                   auto where) {
    Index ix;
    ix.by_key.reserve(n);
    ix.by_id.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      bool failed = false;
      const std::string& key = key_of(i);
      auto [label, node] = where(i);
      if (!key.empty() && key_name != nullptr) {
        if (!ix.by_key.emplace(key, int(i)).second) {
          add(node, label, "",
              fmt::format("uniqueness violation: '{}' entity with {} set to '{}' already declared",
                          entity, key_name, key));
          failed = true;
        }
      }
      const std::string& id = id_of(i);
      if (!id.empty() && !ix.by_id.emplace(id, int(i)).second && !failed)
        add(node, label, "",
            fmt::format("uniqueness violation: '{}' entity with primary key set to '{}' already "
                        "declared",
                        entity, id));
    }
    return ix;
  };
  auto lx = [](std::vector<Labeled>& v) {
    return [&v](size_t i) { return std::pair<std::string, Node>{v[i].label, v[i].node}; };
  };
  Index services = index(
      "services", "name",
      cfg_.services.size(), [&](size_t i) -> auto& { return cfg_.services[i].name; },
      [&](size_t i) -> auto& { return cfg_.services[i].id; }, lx(svc_x_));
  Index routes = index(
      "routes", "name", cfg_.routes.size(), [&](size_t i) -> auto& { return cfg_.routes[i].name; },
      [&](size_t i) -> auto& { return cfg_.routes[i].id; }, lx(route_lx_));
  Index consumers = index(
      "consumers", "username",
      cfg_.consumers.size(), [&](size_t i) -> auto& { return cfg_.consumers[i].username; },
      [&](size_t i) -> auto& { return cfg_.consumers[i].id; }, lx(consumer_x_));
  index(
      "consumers", "custom_id",
      cfg_.consumers.size(), [&](size_t i) -> auto& { return cfg_.consumers[i].custom_id; },
      [](size_t) -> const std::string& {
        static const std::string empty;
        return empty;
      },
      lx(consumer_x_));
  Index upstreams = index(
      "upstreams", "name",
      cfg_.upstreams.size(), [&](size_t i) -> auto& { return cfg_.upstreams[i].name; },
      [&](size_t i) -> auto& { return cfg_.upstreams[i].id; }, lx(upstream_x_));
  static const std::string kNone;
  Index certs = index(
      "certificates", nullptr, cfg_.certificates.size(),
      [](size_t) -> const std::string& { return kNone; },
      [&](size_t i) -> auto& { return cfg_.certificates[i].id; }, lx(cert_x_));
  index(
      "snis", "name", cfg_.snis.size(), [&](size_t i) -> auto& { return cfg_.snis[i].name; },
      [&](size_t i) -> auto& { return cfg_.snis[i].id; }, lx(sni_lx_));
  index(
      "ca_certificates", nullptr, cfg_.ca_certificates.size(),
      [](size_t) -> const std::string& { return kNone; },
      [&](size_t i) -> auto& { return cfg_.ca_certificates[i].id; }, lx(ca_x_));
  index(
      "vaults", "prefix",
      cfg_.vaults.size(), [&](size_t i) -> auto& { return cfg_.vaults[i].prefix; },
      [&](size_t i) -> auto& { return cfg_.vaults[i].id; }, lx(vault_x_));
  Index cas;
  for (size_t i = 0; i < cfg_.ca_certificates.size(); ++i)
    cas.by_id.emplace(cfg_.ca_certificates[i].id, int(i));

  auto invalid = [&](const std::string& label, const Ref& r, const char* entity) {
    add(r.node, label, r.field,
        fmt::format("invalid reference '{}: {}' (no such entry in '{}')", r.field, r.value,
                    entity));
  };
  // Resolve `r` against `ix`; -1 (and an error) when unresolvable.
  auto lookup = [&](const std::string& label, const Ref& r, const Index& ix, const char* entity) {
    int i = ix.find(r);
    if (i < 0) invalid(label, r, entity);
    return i;
  };
  // A nested child may repeat its own parent (by id); anything else must be null.
  // A nested child may repeat its own parent (by id). Naming another existing entity is an
  // error ("value must be null"); an unresolvable value is reported like Kong, as an invalid
  // reference (objects JSON-encoded).
  auto nested_ok = [&](const std::string& label, const Ref& r, const std::string& parent_id,
                       const Index& ix, const char* entity) {
    if (!r.set || r.value == parent_id) return;
    if (ix.find(r) >= 0) {
      add(r.node, label, r.field, "value must be null");
    } else {
      std::string shown = r.by_obj ? fmt::format("{{\"id\":\"{}\"}}", r.value) : r.value;
      add(r.node, label, r.field,
          fmt::format("invalid reference '{}: {}' (no such entry in '{}')", r.field, shown,
                      entity));
    }
  };

  // Services: certificates by id.
  for (size_t i = 0; i < cfg_.services.size(); ++i) {
    for (auto& [id, node, field] : svc_ca_[i]) {
      if (cas.by_id.count(id)) {
        cfg_.services[i].ca_certificates.push_back(id);
      } else {
        add(node, svc_x_[i].label, field,
            fmt::format("invalid reference 'ca_certificates: {}' (no such entry in "
                        "'ca_certificates')",
                        id));
      }
    }
    const Ref& cc = svc_client_cert_[i];
    if (cc.set) {
      Ref byid = cc;
      byid.by_obj = true;
      int c = lookup(svc_x_[i].label, byid, certs, "certificates");
      if (c >= 0) cfg_.services[i].client_certificate = cfg_.certificates[c].id;
    }
  }
  for (size_t i = 0; i < cfg_.upstreams.size(); ++i) {
    const Ref& cc = up_client_cert_[i];
    if (cc.set) {
      Ref byid = cc;
      byid.by_obj = true;
      int c = lookup(upstream_x_[i].label, byid, certs, "certificates");
      if (c >= 0) cfg_.upstreams[i].client_certificate = cfg_.certificates[c].id;
    }
  }
  // Routes.
  for (size_t i = 0; i < cfg_.routes.size(); ++i) {
    const auto& x = route_x_[i];
    const auto& label = route_lx_[i].label;
    if (x.parent >= 0) {
      nested_ok(label, x.service, cfg_.services[x.parent].id, services, "services");
    } else if (x.service.set) {
      cfg_.routes[i].service = lookup(label, x.service, services, "services");
    }
  }
  // Plugins.
  struct Combo {
    std::string name;
    int route, service, consumer;
    bool operator==(const Combo&) const = default;
  };
  struct ComboHash {
    size_t operator()(const Combo& c) const {
      return std::hash<std::string>()(c.name) ^ (size_t(c.route) * 1000003u) ^
             (size_t(c.service) * 998244353u) ^ (size_t(c.consumer) * 19260817u);
    }
  };
  std::unordered_set<Combo, ComboHash> combos;
  std::unordered_map<std::string, int> plugin_ids, instance_names;
  for (size_t i = 0; i < cfg_.plugins.size(); ++i) {
    auto& p = cfg_.plugins[i];
    const auto& x = plugin_x_[i];
    bool ok = true;
    auto one = [&](const Ref& r, PluginX::Parent kind, const Index& ix, const char* entity,
                   int& dst) {
      if (x.parent == kind) {
        dst = x.parent_idx;
        const std::string& pid = kind == PluginX::kService ? cfg_.services[dst].id
                                 : kind == PluginX::kRoute ? cfg_.routes[dst].id
                                                           : cfg_.consumers[dst].id;
        nested_ok(x.label, r, pid, ix, entity);
      } else if (r.set) {
        if (x.parent != PluginX::kNone) {
          add(r.node, x.label, r.field, "value must be null");
          ok = false;
        } else {
          dst = lookup(x.label, r, ix, entity);
          if (dst < 0) ok = false;
        }
      }
    };
    one(x.route, PluginX::kRoute, routes, "routes", p.route);
    one(x.service, PluginX::kService, services, "services", p.service);
    one(x.consumer, PluginX::kConsumer, consumers, "consumers", p.consumer);
    if (!p.id.empty() && !plugin_ids.emplace(p.id, int(i)).second) {
      add(x.node, x.label, "",
          fmt::format("uniqueness violation: 'plugins' entity with primary key set to '{}' "
                      "already declared",
                      p.id));
      continue;
    }
    if (!p.instance_name.empty() && !instance_names.emplace(p.instance_name, int(i)).second) {
      add(x.node, x.label, "",
          fmt::format("uniqueness violation: 'plugins' entity with instance_name set to '{}' "
                      "already declared",
                      p.instance_name));
      continue;
    }
    if (ok && !p.name.empty() && !combos.insert({p.name, p.route, p.service, p.consumer}).second) {
      std::string scope;
      auto idof = [](const std::string& id) { return id.empty() ? std::string() : id; };
      scope = fmt::format("{}:{}:{}:{}", p.name, p.route >= 0 ? idof(cfg_.routes[p.route].id) : "",
                          p.service >= 0 ? idof(cfg_.services[p.service].id) : "",
                          p.consumer >= 0 ? idof(cfg_.consumers[p.consumer].id) : "");
      add(x.node, x.label, "",
          fmt::format("uniqueness violation: 'plugins' entity with cache key set to 'plugins:{}' "
                      "already declared",
                      scope));
    }
  }
  // Targets -> upstreams.
  std::unordered_set<std::string> target_ids, target_keys;
  for (auto& x : targets_) {
    const std::string& label = x.label;
    int up = x.parent;
    if (up >= 0) {
      nested_ok(label, x.upstream, cfg_.upstreams[up].id, upstreams, "upstreams");
    } else if (x.upstream.set) {
      up = lookup(label, x.upstream, upstreams, "upstreams");
    } else if (!x.upstream.node.IsDefined() || x.upstream.node.IsNull()) {
      add(x.node, label, "upstream", "required field missing");
    }
    if (!target_ids.insert(x.target.id).second) {
      add(x.node, label, "",
          fmt::format("uniqueness violation: 'targets' entity with primary key set to '{}' "
                      "already declared",
                      x.target.id));
      continue;
    }
    if (up >= 0) {
      if (!x.target.target.empty() &&
          !target_keys.insert(cfg_.upstreams[up].id + "|" + x.target.target).second) {
        add(x.node, label, "target",
            fmt::format("uniqueness violation: 'targets' entity with target set to '{}' already "
                        "declared",
                        x.target.target));
        continue;
      }
      cfg_.upstreams[up].targets.push_back(x.target);
    }
  }
  // SNIs -> certificates.
  for (size_t i = 0; i < cfg_.snis.size(); ++i) {
    auto& s = cfg_.snis[i];
    const auto& x = sni_x_[i];
    if (x.parent >= 0) {
      nested_ok(sni_lx_[i].label, x.certificate, cfg_.certificates[x.parent].id, certs,
                "certificates");
    } else if (x.certificate.set) {
      Ref byid = x.certificate;
      byid.by_obj = true;
      s.certificate = lookup(sni_lx_[i].label, byid, certs, "certificates");
    }
    if (s.certificate >= 0 && !s.name.empty())
      cfg_.certificates[s.certificate].snis.push_back(s.name);
  }
}

LoadResult Loader::run(std::string_view text) {
  LoadResult result;
  try {
    std::optional<tree::Document> doc;
    Node root;
    try {
      root = doc.emplace(text).root();
    } catch (const YAML::Exception& e) {
      Error err{file_, {}, "", "", e.msg};
      if (!e.mark.is_null()) err.pos = {e.mark.line + 1, e.mark.column + 1};
      err.message = "failed parsing declarative configuration: " + e.msg;
      result.errors.push_back(std::move(err));
      return result;
    }
    if (kind_of(root) != Kind::kMap) {
      add(root, "", "", "failed parsing declarative configuration: expected an object");
      if (errors_.back().pos.line == 0) errors_.back().pos = {1, 1};
    } else {
      top_level(root);
      generate_ids();
      resolve();
      resolve_entities();
    }
  } catch (const std::exception& e) {
    errors_.push_back(Error{file_, {}, "", "", fmt::format("internal error: {}", e.what())});
  } catch (...) {
    errors_.push_back(Error{file_, {}, "", "", "internal error"});
  }
  std::stable_sort(errors_.begin(), errors_.end(), [](const Error& a, const Error& b) {
    return std::tie(a.pos.line, a.pos.column) < std::tie(b.pos.line, b.pos.column);
  });
  result.errors = std::move(errors_);
  if (result.errors.empty()) {
    cfg_.source_name = file_;
    cfg_.hash = checks::md5_hex(text);
    result.config = std::move(cfg_);
  }
  return result;
}

}  // namespace

LoadResult load_string(std::string_view text, std::string_view source_name,
                       const LoadOptions& options) {
  Loader loader{std::string(source_name), options};
  return loader.run(text);
}

LoadResult load_file(const std::string& path, const LoadOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult r;
    r.errors.push_back(
        Error{path, {}, "", "", fmt::format("cannot read file: {}", std::strerror(errno))});
    return r;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return load_string(ss.str(), path, options);
}

}  // namespace sb::config
