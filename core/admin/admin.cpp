#include "admin/admin.h"

#include <openssl/rand.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <fstream>

#include "admin/entities.h"
#include "common/json.h"
#include "common/log.h"
#include "config/checks.h"
#include "http/message.h"
#include "proxy/metrics.h"
#include "proxy/pdk.h"

namespace sb::admin {

using sb::proxy::AdminResponse;

namespace {

constexpr std::string_view kVersion = "0.1.0";
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

std::string random_uuid() {
  unsigned char b[16];
  RAND_bytes(b, sizeof(b));
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  return fmt::format(
      "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
      "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
      b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
      b[15]);
}

// Resident set size of this process, from /proc (bytes).
uint64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    size_t slash = path.find('/');
    out.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}

bool is_placeholder(const std::string& s) {
  return s.size() >= 2 && s.front() == '{' && s.back() == '}';
}

// Pagination offsets: the index of the next item, base64 (URL alphabet, no padding).
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string encode_offset(size_t index) {
  std::string in = std::to_string(index), out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kB64[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += kB64[(acc << (6 - bits)) & 63];
  return out;
}

bool decode_base64(std::string_view in, std::string& out) {
  uint32_t acc = 0;
  int bits = 0;
  size_t n = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '-' || c == '+') {
      v = 62;
    } else if (c == '_' || c == '/') {
      v = 63;
    } else if (c == '=') {
      break;
    } else {
      return false;
    }
    ++n;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return n % 4 != 1;  // one leftover character cannot encode a byte
}

std::string escape_uri(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      out += c;
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

void error_t(AdminResponse& out, int status, int code, std::string_view name,
             std::string_view message) {
  JsonWriter w;
  w.begin_object().field("code", code).field("name", name).field("message", message).end_object();
  Admin::json(out, status, std::move(w.text()));
}

// One page of `all` in Kong's envelope: {"data":[...],"offset":"...","next":"/x?offset=..."}.
template <typename T, typename RenderFn>
void page(const Admin::Request& r, AdminResponse& out, const std::vector<const T*>& all,
          const std::string& base, RenderFn&& render) {
  bool has_tags = false;
  std::string_view tags = r.arg("tags", &has_tags);
  std::vector<const T*> items;
  if (has_tags) {
    if (tags.empty()) {
      error_t(out, 400, 11, "invalid options", "invalid option (tags: cannot be null)");
      return;
    }
    for (const T* e : all) {
      if (matches_tags(e->tags, tags)) items.push_back(e);
    }
  }
  const std::vector<const T*>& list = has_tags ? items : all;
  bool has_size = false;
  std::string_view size_arg = r.arg("size", &has_size);
  long long size = kDefaultPageSize;
  if (has_size) {
    char* end = nullptr;
    std::string s(size_arg);
    double d = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') {
      error_t(out, 400, 9, "invalid size", "size must be a number");
      return;
    }
    if (d != static_cast<double>(static_cast<long long>(d)) || d < 1 || d > kMaxPageSize) {
      error_t(out, 400, 9, "invalid size",
              fmt::format("size must be an integer between 1 and {}", kMaxPageSize));
      return;
    }
    size = static_cast<long long>(d);
  }
  size_t start = 0;
  bool has_offset = false;
  std::string_view offset = r.arg("offset", &has_offset);
  if (has_offset) {
    std::string decoded;
    if (!decode_base64(offset, decoded)) {
      error_t(out, 400, 7, "invalid offset",
              fmt::format("'{}' is not a valid offset: bad base64 encoding", offset));
      return;
    }
    char* end = nullptr;
    unsigned long long v = std::strtoull(decoded.c_str(), &end, 10);
    if (decoded.empty() || *end != '\0') {
      error_t(out, 400, 7, "invalid offset",
              fmt::format("'{}' is not a valid offset: bad offset string", offset));
      return;
    }
    start = static_cast<size_t>(v);
  }
  size_t stop = std::min(list.size(), start + static_cast<size_t>(size));
  JsonWriter w;
  w.begin_object().key("data").begin_array();
  for (size_t i = start; i < stop; ++i) render(w, *list[i]);
  w.end_array();
  if (stop < list.size()) {
    std::string token = encode_offset(stop);
    std::string next = fmt::format("{}?offset={}", base, token);
    if (has_tags) next += "&tags=" + escape_uri(tags);
    if (has_size) next += fmt::format("&size={}", size);
    w.field("offset", token).field("next", next);
  } else {
    w.key("next").null();
  }
  w.end_object();
  Admin::json(out, 200, std::move(w.text()));
}

template <typename T>
std::vector<const T*> pointers(const std::vector<T>& v) {
  std::vector<const T*> out;
  out.reserve(v.size());
  for (const auto& e : v) out.push_back(&e);
  return out;
}

template <typename T>
void one(AdminResponse& out, const sb::admin::RenderContext& c, const T* e) {
  if (e == nullptr) {
    Admin::message(out, 404, "Not found");
    return;
  }
  JsonWriter w;
  render(w, c, *e);
  Admin::json(out, 200, std::move(w.text()));
}

}  // namespace

std::string_view Admin::Request::arg(std::string_view name, bool* found) const {
  auto it = args.find(name);
  if (found != nullptr) *found = it != args.end();
  return it == args.end() ? std::string_view() : std::string_view(it->second);
}

void Admin::json(AdminResponse& out, int status, std::string body) {
  out.status = status;
  out.content_type = "application/json; charset=utf-8";
  out.body = std::move(body);
}

void Admin::message(AdminResponse& out, int status, std::string_view text) {
  JsonWriter w;
  w.begin_object().field("message", text).end_object();
  json(out, status, std::move(w.text()));
}

Admin::Admin(sb::proxy::Server& server) : server_(server) {
  // One node id for the Admin API and the PDK (kong.node.get_id).
  if (sb::proxy::node_identity().id.empty()) sb::proxy::node_identity().id = random_uuid();
  node_id_ = sb::proxy::node_identity().id;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  hostname_ = host;
  register_endpoints();
}

void Admin::add(Endpoint endpoint) {
  patterns_.push_back(split_path(endpoint.pattern));
  endpoints_.push_back(std::move(endpoint));
}

void Admin::handle(const sb::http::MessageHead& request, const std::string& body,
                   AdminResponse& out) {
  std::string_view target = request.target();
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  std::vector<std::string> segments = split_path(path);
  for (auto& s : segments) s = url_decode(s, false);

  // Best match: most literal segments.
  int best = -1, best_score = -1;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const auto& pat = patterns_[i];
    if (pat.size() != segments.size()) continue;
    int score = 0;
    bool ok = true;
    for (size_t k = 0; k < pat.size() && ok; ++k) {
      if (is_placeholder(pat[k])) continue;
      ok = pat[k] == segments[k];
      ++score;
    }
    if (ok && score > best_score) {
      best = static_cast<int>(i);
      best_score = score;
    }
  }
  if (best < 0) {
    message(out, 404, "Not found");
    return;
  }
  const Endpoint& ep = endpoints_[static_cast<size_t>(best)];
  Request r{request, path, {}, {}, body};
  for (size_t k = 0; k < segments.size(); ++k) {
    if (is_placeholder(patterns_[static_cast<size_t>(best)][k])) r.params.push_back(segments[k]);
  }
  if (q != std::string_view::npos) parse_urlencoded(target.substr(q + 1), r.args);

  std::string_view method = llhttp_method_name(static_cast<llhttp_method_t>(request.method));
  if (method == "HEAD") method = "GET";
  if (request.content_length > static_cast<int64_t>(body.size())) {
    // The session keeps at most 16 MiB of an admin request body.
    message(out, 413, "Payload too large");
    return;
  }
  if (auto it = ep.methods.find(method); it != ep.methods.end()) {
    try {
      it->second(r, out);
    } catch (const std::exception& e) {
      // A handler bug must not take the gateway down.
      sb::log::error("admin API: {} {}: {}", method, path, e.what());
      message(out, 500, "An unexpected error occurred");
    }
    return;
  }
  // Kong's DB-less refusals (off strategy's insert/upsert/update/delete).
  std::string_view op;
  std::string entity;
  if (method == "POST" && !ep.collection_of.empty()) {
    op = "create";
    entity = ep.collection_of;
  } else if (!ep.item_of.empty() && (method == "PUT" || method == "PATCH" || method == "DELETE")) {
    op = method == "PUT" ? "create or update" : method == "PATCH" ? "update" : "remove";
    entity = ep.item_of;
  }
  if (op.empty()) {
    message(out, 405, "Method not allowed");
    return;
  }
  std::string text = fmt::format("cannot {} '{}' entities", op, entity);
  if (!ep.item_of.empty() && !ep.endpoint_key.empty() && !r.params.empty() &&
      !sb::config::checks::is_uuid(r.params.back())) {
    text += fmt::format(" by '{}'", ep.endpoint_key);
  }
  text += " when not using a database";
  error_t(out, 405, 12, "operation unsupported", text);
}

void Admin::register_endpoints() {
  add({"/",
       {{"GET", [this](const Request&, AdminResponse& out) { json(out, 200, root_json()); }}}});
  add({"/status",
       {{"GET", [this](const Request&, AdminResponse& out) { json(out, 200, status_json()); }}}});
  add({"/metrics",
       {{"GET", [this](const Request& r, AdminResponse& out) { get_metrics(r, out); }}}});
  add({"/config",
       {{"GET", [this](const Request& r, AdminResponse& out) { get_config(r, out); }},
        {"POST", [this](const Request& r, AdminResponse& out) { post_config(r, out); }}}});
  add_entity_endpoints();
  add_health_endpoints();
}

void Admin::add_entity_endpoints() {
  using sb::config::Config;
  // Every handler reads the config being served at the time of the request.
  auto ctx = [this](auto&& fn) {
    return [this, fn](const Request& r, AdminResponse& out) {
      auto cur = server_.current();
      RenderContext c{cur.snapshot->config, cur.loaded_at};
      fn(r, out, c);
    };
  };
  auto renderer = [](const RenderContext& c) {
    return [&c](JsonWriter& w, const auto& e) { render(w, c, e); };
  };

  // Services
  add({"/services",
       {{"GET", ctx([=](const Request& r, AdminResponse& out, const RenderContext& c) {
           page(r, out, pointers(c.config.services), "/services", renderer(c));
         })}},
       "services"});
  add({"/services/{service}",
       {{"GET", ctx([](const Request& r, AdminResponse& out, const RenderContext& c) {
           one(out, c, find_service(c.config, r.params[0]));
         })}},
       "",
       "services",
       "name"});
  add({"/services/{service}/routes",
       {{"GET", ctx([=](const Request& r, AdminResponse& out, const RenderContext& c) {
           const auto* svc = find_service(c.config, r.params[0]);
           if (svc == nullptr) return message(out, 404, "Not found");
           int idx = static_cast<int>(svc - c.config.services.data());
           std::vector<const sb::config::Route*> list;
           for (const auto& rt : c.config.routes) {
             if (rt.service == idx) list.push_back(&rt);
           }
           page(r, out, list, fmt::format("/services/{}/routes", svc->id), renderer(c));
         })}},
       "routes"});
  add({"/services/{service}/plugins",
       {{"GET", ctx([=](const Request& r, AdminResponse& out, const RenderContext& c) {
           const auto* svc = find_service(c.config, r.params[0]);
           if (svc == nullptr) return message(out, 404, "Not found");
           int idx = static_cast<int>(svc - c.config.services.data());
           std::vector<const sb::config::Plugin*> list;
           for (const auto& p : c.config.plugins) {
             if (p.service == idx) list.push_back(&p);
           }
           page(r, out, list, fmt::format("/services/{}/plugins", svc->id), renderer(c));
         })}},
       "plugins"});

  // Routes
  add({"/routes",
       {{"GET", ctx([=](const Request& r, AdminResponse& out, const RenderContext& c) {
           page(r, out, pointers(c.config.routes), "/routes", renderer(c));
         })}},
       "routes"});
  add({"/routes/{route}",
       {{"GET", ctx([](const Request& r, AdminResponse& out, const RenderContext& c) {
           one(out, c, find_route(c.config, r.params[0]));
         })}},
       "",
       "routes",
       "name"});
  add({"/routes/{route}/service",
       {{"GET", ctx([](const Request& r, AdminResponse& out, const RenderContext& c) {
           const auto* rt = find_route(c.config, r.params[0]);
           if (rt == nullptr || rt->service < 0) return message(out, 404, "Not found");
           one(out, c, &c.config.services[static_cast<size_t>(rt->service)]);
         })}}});
  add({"/routes/{route}/plugins",
       {{"GET", ctx([=](const Request& r, AdminResponse& out, const RenderContext& c) {
           const auto* rt = find_route(c.config, r.params[0]);
           if (rt == nullptr) return message(out, 404, "Not found");
           int idx = static_cast<int>(rt - c.config.routes.data());
           std::vector<const sb::config::Plugin*> list;
           for (const auto& p : c.config.plugins) {
             if (p.route == idx) list.push_back(&p);
           }
           page(r, out, list, fmt::format("/routes/{}/plugins", rt->id), renderer(c));
         })}},
       "plugins"});

  // Consumers
  add({"/consumers",
       {{"GET", ctx([=](const Request& r, AdminResponse& out, const RenderContext& c) {
           page(r, out, pointers(c.config.consumers), "/consumers", renderer(c));
         })}},
       "consumers"});
  add({"/consumers/{consumer}",
       {{"GET", ctx([](const Request& r, AdminResponse& out, const RenderContext& c) {
           one(out, c, find_consumer(c.config, r.params[0]));
         })}},
       "",
       "consumers",
       "username"});
  add({"/consumers/{consumer}/plugins",
       {{"GET", ctx([=](const Request& r, AdminResponse& out, const RenderContext& c) {
           const auto* cs = find_consumer(c.config, r.params[0]);
           if (cs == nullptr) return message(out, 404, "Not found");
           int idx = static_cast<int>(cs - c.config.consumers.data());
           std::vector<const sb::config::Plugin*> list;
           for (const auto& p : c.config.plugins) {
             if (p.consumer == idx) list.push_back(&p);
           }
           page(r, out, list, fmt::format("/consumers/{}/plugins", cs->id), renderer(c));
         })}},
       "plugins"});

  // Plugins (the plugin host adds /plugins/enabled and /plugins/schema/{name}).
  add({"/plugins",
       {{"GET", ctx([=](const Request& r, AdminResponse& out, const RenderContext& c) {
           page(r, out, pointers(c.config.plugins), "/plugins", renderer(c));
         })}},
       "plugins"});
  // Loaded plugins (Kong's /plugins/enabled) and their declared schemas.
  add({"/plugins/enabled", {{"GET", [this](const Request&, AdminResponse& out) {
                               std::string body = R"({"enabled_plugins":[)";
                               const auto* reg = server_.plugins();
                               bool first = true;
                               for (const auto& name :
                                    reg ? reg->names() : std::vector<std::string>{}) {
                                 if (!first) body += ',';
                                 first = false;
                                 body += '"' + sb::json_escape(name) + '"';
                               }
                               json(out, 200, body + "]}");
                             }}}});
  auto schema = [this](const Request& r, AdminResponse& out) {
    const auto* reg = server_.plugins();
    const auto* p = reg ? reg->find(r.params[0]) : nullptr;
    if (p == nullptr) {
      message(out, 404, fmt::format("No plugin named '{}'", r.params[0]));
      return;
    }
    json(out, 200, p->schema.json);
  };
  add({"/plugins/schema/{name}", {{"GET", schema}}});
  add({"/schemas/plugins/{name}", {{"GET", schema}}});
  add({"/plugins/{plugin}",
       {{"GET", ctx([](const Request& r, AdminResponse& out, const RenderContext& c) {
           one(out, c, find_plugin(c.config, r.params[0]));
         })}},
       "",
       "plugins",
       "instance_name"});

  // Upstreams and targets
  add({"/upstreams",
       {{"GET", ctx([=](const Request& r, AdminResponse& out, const RenderContext& c) {
           page(r, out, pointers(c.config.upstreams), "/upstreams", renderer(c));
         })}},
       "upstreams"});
  add({"/upstreams/{upstream}",
       {{"GET", ctx([](const Request& r, AdminResponse& out, const RenderContext& c) {
           one(out, c, find_upstream(c.config, r.params[0]));
         })}},
       "",
       "upstreams",
       "name"});
  auto targets = ctx([](const Request& r, AdminResponse& out, const RenderContext& c) {
    const auto* up = find_upstream(c.config, r.params[0]);
    if (up == nullptr) return message(out, 404, "Not found");
    page(r, out, pointers(up->targets), fmt::format("/upstreams/{}/targets", up->id),
         [&](JsonWriter& w, const sb::config::Target& t) { render(w, c, t, *up); });
  });
  add({"/upstreams/{upstream}/targets", {{"GET", targets}}, "targets"});
  add({"/upstreams/{upstream}/targets/all", {{"GET", targets}}});
  add({"/upstreams/{upstream}/targets/{target}",
       {{"GET", ctx([](const Request& r, AdminResponse& out, const RenderContext& c) {
           const auto* up = find_upstream(c.config, r.params[0]);
           const auto* t = up ? find_target(*up, r.params[1]) : nullptr;
           if (t == nullptr) return message(out, 404, "Not found");
           JsonWriter w;
           render(w, c, *t, *up);
           json(out, 200, std::move(w.text()));
         })}},
       "",
       "targets",
       "target"});

  // Certificates, SNIs, CA certificates
  add({"/certificates",
       {{"GET", ctx([=](const Request& r, AdminResponse& out, const RenderContext& c) {
           page(r, out, pointers(c.config.certificates), "/certificates", renderer(c));
         })}},
       "certificates"});
  add({"/certificates/{certificate}",
       {{"GET", ctx([](const Request& r, AdminResponse& out, const RenderContext& c) {
           one(out, c, find_certificate(c.config, r.params[0]));
         })}},
       "",
       "certificates"});
  add({"/certificates/{certificate}/snis",
       {{"GET", ctx([=](const Request& r, AdminResponse& out, const RenderContext& c) {
           const auto* cert = find_certificate(c.config, r.params[0]);
           if (cert == nullptr) return message(out, 404, "Not found");
           int idx = static_cast<int>(cert - c.config.certificates.data());
           std::vector<const sb::config::Sni*> list;
           for (const auto& s : c.config.snis) {
             if (s.certificate == idx) list.push_back(&s);
           }
           page(r, out, list, fmt::format("/certificates/{}/snis", cert->id), renderer(c));
         })}},
       "snis"});
  add({"/snis",
       {{"GET", ctx([=](const Request& r, AdminResponse& out, const RenderContext& c) {
           page(r, out, pointers(c.config.snis), "/snis", renderer(c));
         })}},
       "snis"});
  add({"/snis/{sni}",
       {{"GET", ctx([](const Request& r, AdminResponse& out, const RenderContext& c) {
           one(out, c, find_sni(c.config, r.params[0]));
         })}},
       "",
       "snis",
       "name"});
  add({"/ca_certificates",
       {{"GET", ctx([=](const Request& r, AdminResponse& out, const RenderContext& c) {
           page(r, out, pointers(c.config.ca_certificates), "/ca_certificates", renderer(c));
         })}},
       "ca_certificates"});
  add({"/ca_certificates/{ca_certificate}",
       {{"GET", ctx([](const Request& r, AdminResponse& out, const RenderContext& c) {
           one(out, c, find_ca_certificate(c.config, r.params[0]));
         })}},
       "",
       "ca_certificates"});
}

// ---------------------------------------------------------------------------------------------
// /config

void Admin::get_config(const Request&, AdminResponse& out) {
  // The text the current config was loaded from (file or POST /config), not a re-export:
  // loading it again gives the same entities and ids, and the same configuration_hash.
  auto cur = server_.current();
  JsonWriter w;
  w.begin_object().field("config", cur.text ? std::string_view(*cur.text) : "").end_object();
  json(out, 200, std::move(w.text()));
}

void Admin::post_config(const Request& r, AdminResponse& out) {
  if (server_.stopping()) return message(out, 503, "Kong currently exiting");
  Params params = r.args;
  std::string text = config_from_body(r.head.get("Content-Type"), r.body, params);
  if (sb::http::trim(text).empty()) {
    return message(out, 400, "expected a declarative configuration");
  }
  bool flatten = false, check_hash = false;
  if (auto it = params.find("flatten_errors"); it != params.end()) flatten = truthy(it->second);
  if (auto it = params.find("check_hash"); it != params.end()) check_hash = it->second == "1";
  if (check_hash) {
    auto cur = server_.current();
    if (sb::config::checks::md5_hex(text) == cur.snapshot->config.hash) {
      out.status = 304;
      out.body.clear();
      return;
    }
  }
  auto report = server_.load_text(text);
  if (!report.ok) return json(out, 400, declarative_error_body(report.errors, text, flatten));
  // 201 with the loaded entities by type and id, as Kong's flattened entities.
  auto cur = server_.current();
  RenderContext c{report.snapshot->config, cur.loaded_at};
  const auto& cfg = report.snapshot->config;
  JsonWriter w;
  w.begin_object();
  auto section = [&](std::string_view name, const auto& list) {
    if (list.empty()) return;
    w.key(name).begin_object();
    for (const auto& e : list) {
      w.key(e.id);
      render(w, c, e);
    }
    w.end_object();
  };
  section("ca_certificates", cfg.ca_certificates);
  section("certificates", cfg.certificates);
  section("consumers", cfg.consumers);
  section("plugins", cfg.plugins);
  section("routes", cfg.routes);
  section("services", cfg.services);
  section("snis", cfg.snis);
  bool any_target = false;
  for (const auto& u : cfg.upstreams) any_target = any_target || !u.targets.empty();
  if (any_target) {
    w.key("targets").begin_object();
    for (const auto& u : cfg.upstreams) {
      for (const auto& t : u.targets) {
        w.key(t.id);
        render(w, c, t, u);
      }
    }
    w.end_object();
  }
  section("upstreams", cfg.upstreams);
  w.end_object();
  json(out, 201, std::move(w.text()));
}

// ---------------------------------------------------------------------------------------------
// /metrics, /status, /

void Admin::get_metrics(const Request&, AdminResponse& out) {
  sb::proxy::metrics::Scrape s;
  s.node_id = node_id_;
  s.version = std::string(kVersion);
  server_.collect(s);
  collect_health(s);
  out.status = 200;
  out.content_type = "text/plain; version=0.0.4; charset=utf-8";
  out.body = sb::proxy::metrics::render(s);
}

std::string Admin::status_json() const {
  auto snap = server_.snapshot();
  auto t = server_.totals();
  std::string hash = snap ? snap->config.hash : std::string(32, '0');
  // Kong's shape: server counters as nginx's stub_status, memory, configuration_hash.
  return fmt::format(
      R"({{"configuration_hash":"{}","database":{{"reachable":true}},)"
      R"("memory":{{"workers_lua_vms":[],"lua_shared_dicts":{{}},"process_rss_bytes":{}}},)"
      R"("server":{{"connections_accepted":{},"connections_active":{},"connections_handled":{},)"
      R"("connections_reading":{},"connections_waiting":{},"connections_writing":{},)"
      R"("total_requests":{}}}}})",
      hash, rss_bytes(), t.accepted, t.active, t.handled, t.reading,
      std::max<int64_t>(0, t.active - t.reading - t.writing), t.writing, t.requests);
}

std::string Admin::root_json() const {
  const auto& s = server_.settings();
  // Kong 3.x: name -> {version, priority}; and the plugin names the current config uses.
  std::string available, enabled;
  if (const auto* reg = server_.plugins()) {
    for (const auto& p : reg->plugins()) {
      if (!available.empty()) available += ',';
      available += fmt::format(R"("{}":{{"version":"{}","priority":{}}})", sb::json_escape(p->name),
                               sb::json_escape(p->version), p->priority);
    }
  }
  if (auto snap = server_.snapshot()) {
    std::vector<std::string> names;
    for (const auto& p : snap->config.plugins)
      if (std::find(names.begin(), names.end(), p.name) == names.end()) names.push_back(p.name);
    for (const auto& n : names) {
      if (!enabled.empty()) enabled += ',';
      enabled += '"' + sb::json_escape(n) + '"';
    }
  }
  return fmt::format(
      R"({{"tagline":"Welcome to silverback","version":"{}","edition":"community",)"
      R"("hostname":"{}","node_id":"{}","lua_version":"none",)"
      R"("plugins":{{"available_on_server":{{{}}},"enabled_in_cluster":[{}]}},)"
      R"("configuration":{{"database":"off","declarative_config":"{}","nginx_worker_processes":{},)"
      R"("router_flavor":"{}","prefix":"{}"}},"pids":{{"master":{}}}}})",
      kVersion, sb::json_escape(hostname_), node_id_, available, enabled,
      sb::json_escape(s.declarative_config), s.workers,
      s.router_flavor == sb::router::Flavor::traditional ? "traditional" : "traditional_compatible",
      sb::json_escape(s.prefix), getpid());
}

}  // namespace sb::admin
