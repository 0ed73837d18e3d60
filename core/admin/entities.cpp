#include "admin/entities.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fmt/format.h>

#include "config/checks.h"
#include "router/router.h"

namespace sb::admin {

using namespace sb::config;

namespace {

int64_t stamp(const RenderContext& c) { return c.loaded_at; }

void timestamps(JsonWriter& w, int64_t t) {
  w.field("created_at", t);
  w.field("updated_at", t);
}

void header_map(JsonWriter& w, std::string_view k, const std::vector<HeaderMatch>& headers) {
  w.key(k);
  if (headers.empty()) {
    w.null();
    return;
  }
  w.begin_object();
  for (const auto& h : headers) {
    w.key(h.name).begin_array();
    for (const auto& v : h.values) w.str(v);
    w.end_array();
  }
  w.end_object();
}

void cidr_ports(JsonWriter& w, std::string_view k, const std::vector<CidrPort>& list) {
  w.key(k);
  if (list.empty()) {
    w.null();
    return;
  }
  w.begin_array();
  for (const auto& e : list) {
    w.begin_object();
    w.string_or_null("ip", e.ip);
    w.key("port");
    if (e.port < 0) {
      w.null();
    } else {
      w.num(static_cast<int64_t>(e.port));
    }
    w.end_object();
  }
  w.end_array();
}

void ints(JsonWriter& w, std::string_view k, const std::vector<int>& v) {
  w.key(k).begin_array();
  for (int i : v) w.num(static_cast<int64_t>(i));
  w.end_array();
}

const std::string* id_of_service(const Config& c, int index) {
  return index >= 0 ? &c.services[static_cast<size_t>(index)].id : nullptr;
}

// SHA-256 of the certificate's DER, hex: what Kong fills cert_digest with.
std::string cert_digest(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return {};
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (x == nullptr) return {};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  std::string out;
  if (X509_digest(x, EVP_sha256(), md, &n) == 1) {
    for (unsigned i = 0; i < n; ++i) out += fmt::format("{:02x}", md[i]);
  }
  X509_free(x);
  return out;
}

template <typename T, typename KeyFn>
const T* find(const std::vector<T>& list, std::string_view key, KeyFn endpoint_key) {
  bool uuid = checks::is_uuid(key);
  for (const auto& e : list) {
    if (uuid ? e.id == key : endpoint_key(e) == key) return &e;
  }
  // A UUID-looking name is still a name.
  if (uuid) {
    for (const auto& e : list) {
      if (endpoint_key(e) == key) return &e;
    }
  }
  return nullptr;
}

}  // namespace

void render(JsonWriter& w, const RenderContext& c, const Service& e) {
  w.begin_object();
  w.field("id", e.id);
  timestamps(w, stamp(c));
  w.string_or_null("name", e.name);
  w.field("retries", e.retries);
  w.field("protocol", e.protocol);
  w.field("host", e.host);
  w.field("port", e.port);
  w.key("path");
  if (e.path) {
    w.str(*e.path);
  } else {
    w.null();
  }
  w.field("connect_timeout", e.connect_timeout);
  w.field("write_timeout", e.write_timeout);
  w.field("read_timeout", e.read_timeout);
  w.strings_or_null("tags", e.tags);
  w.foreign("client_certificate", e.client_certificate ? &*e.client_certificate : nullptr);
  w.key("tls_verify");
  if (e.tls_verify) {
    w.boolean(*e.tls_verify);
  } else {
    w.null();
  }
  w.key("tls_verify_depth");
  if (e.tls_verify_depth) {
    w.num(static_cast<int64_t>(*e.tls_verify_depth));
  } else {
    w.null();
  }
  w.strings_or_null("ca_certificates", e.ca_certificates);
  w.field("enabled", e.enabled);
  w.end_object();
}

void render(JsonWriter& w, const RenderContext& c, const Route& e) {
  w.begin_object();
  w.field("id", e.id);
  int64_t created = e.created_at != 0 ? e.created_at : stamp(c);
  w.field("created_at", created);
  w.field("updated_at", stamp(c));
  w.string_or_null("name", e.name);
  w.strings_or_null("protocols", e.protocols);
  w.strings_or_null("methods", e.methods);
  w.strings_or_null("hosts", e.hosts);
  if (e.legacy_paths) {
    // Kong 3.x migrates "1.1"/"2.1" paths on load and shows the migrated form.
    std::vector<std::string> paths;
    for (const auto& p : e.paths) paths.push_back(sb::router::migrate_legacy_path(p));
    w.strings_or_null("paths", paths);
  } else {
    w.strings_or_null("paths", e.paths);
  }
  header_map(w, "headers", e.headers);
  w.field("https_redirect_status_code", e.https_redirect_status_code);
  w.field("regex_priority", e.regex_priority);
  w.field("strip_path", e.strip_path);
  w.field("path_handling", e.path_handling);
  w.field("preserve_host", e.preserve_host);
  w.field("request_buffering", e.request_buffering);
  w.field("response_buffering", e.response_buffering);
  w.strings_or_null("snis", e.snis);
  cidr_ports(w, "sources", e.sources);
  cidr_ports(w, "destinations", e.destinations);
  w.strings_or_null("tags", e.tags);
  w.foreign("service", id_of_service(c.config, e.service));
  w.end_object();
}

void render(JsonWriter& w, const RenderContext& c, const Consumer& e) {
  w.begin_object();
  w.field("id", e.id);
  timestamps(w, stamp(c));
  w.string_or_null("username", e.username);
  w.string_or_null("custom_id", e.custom_id);
  w.strings_or_null("tags", e.tags);
  w.end_object();
}

void render(JsonWriter& w, const RenderContext& c, const Plugin& e) {
  w.begin_object();
  w.field("id", e.id);
  w.field("name", e.name);
  w.string_or_null("instance_name", e.instance_name);
  timestamps(w, stamp(c));
  w.foreign("route", e.route >= 0 ? &c.config.routes[static_cast<size_t>(e.route)].id : nullptr);
  w.foreign("service", id_of_service(c.config, e.service));
  w.foreign("consumer",
            e.consumer >= 0 ? &c.config.consumers[static_cast<size_t>(e.consumer)].id : nullptr);
  w.key("config").raw(e.config_json.empty() ? "{}" : e.config_json);
  w.strings_or_null("protocols", e.protocols);
  w.field("enabled", e.enabled);
  w.strings_or_null("tags", e.tags);
  w.end_object();
}

void render(JsonWriter& w, const RenderContext& c, const Upstream& e) {
  w.begin_object();
  w.field("id", e.id);
  timestamps(w, stamp(c));
  w.field("name", e.name);
  w.field("algorithm", e.algorithm);
  w.field("hash_on", e.hash_on);
  w.field("hash_fallback", e.hash_fallback);
  w.string_or_null("hash_on_header", e.hash_on_header);
  w.string_or_null("hash_fallback_header", e.hash_fallback_header);
  w.string_or_null("hash_on_cookie", e.hash_on_cookie);
  w.field("hash_on_cookie_path", e.hash_on_cookie_path);
  w.string_or_null("hash_on_query_arg", e.hash_on_query_arg);
  w.string_or_null("hash_fallback_query_arg", e.hash_fallback_query_arg);
  w.string_or_null("hash_on_uri_capture", e.hash_on_uri_capture);
  w.string_or_null("hash_fallback_uri_capture", e.hash_fallback_uri_capture);
  w.field("slots", e.slots);
  const auto& h = e.healthchecks;
  w.key("healthchecks").begin_object();
  w.key("threshold").num(h.threshold);
  w.key("active").begin_object();
  w.field("type", h.active.type);
  w.key("timeout").num(h.active.timeout);
  w.field("concurrency", h.active.concurrency);
  w.field("http_path", h.active.http_path);
  w.string_or_null("https_sni", h.active.https_sni);
  w.field("https_verify_certificate", h.active.https_verify_certificate);
  header_map(w, "headers", h.active.headers);
  w.key("healthy").begin_object();
  w.key("interval").num(h.active.healthy.interval);
  w.field("successes", h.active.healthy.successes);
  ints(w, "http_statuses", h.active.healthy.http_statuses);
  w.end_object();
  w.key("unhealthy").begin_object();
  w.key("interval").num(h.active.unhealthy.interval);
  w.field("tcp_failures", h.active.unhealthy.tcp_failures);
  w.field("timeouts", h.active.unhealthy.timeouts);
  w.field("http_failures", h.active.unhealthy.http_failures);
  ints(w, "http_statuses", h.active.unhealthy.http_statuses);
  w.end_object();
  w.end_object();  // active
  w.key("passive").begin_object();
  w.field("type", h.passive.type);
  w.key("healthy").begin_object();
  w.field("successes", h.passive.healthy.successes);
  ints(w, "http_statuses", h.passive.healthy.http_statuses);
  w.end_object();
  w.key("unhealthy").begin_object();
  w.field("tcp_failures", h.passive.unhealthy.tcp_failures);
  w.field("timeouts", h.passive.unhealthy.timeouts);
  w.field("http_failures", h.passive.unhealthy.http_failures);
  ints(w, "http_statuses", h.passive.unhealthy.http_statuses);
  w.end_object();
  w.end_object();  // passive
  w.end_object();  // healthchecks
  w.strings_or_null("tags", e.tags);
  w.string_or_null("host_header", e.host_header);
  w.foreign("client_certificate", e.client_certificate ? &*e.client_certificate : nullptr);
  w.field("use_srv_name", e.use_srv_name);
  w.end_object();
}

void render(JsonWriter& w, const RenderContext& c, const Target& e, const Upstream& upstream) {
  w.begin_object();
  w.field("id", e.id);
  // Targets carry millisecond timestamps in Kong (auto_timestamp_ms).
  w.key("created_at").num(static_cast<double>(stamp(c)));
  w.key("updated_at").num(static_cast<double>(stamp(c)));
  w.foreign("upstream", &upstream.id);
  w.field("target", e.target);
  w.field("weight", e.weight);
  w.strings_or_null("tags", e.tags);
  w.end_object();
}

void render(JsonWriter& w, const RenderContext& c, const Certificate& e) {
  w.begin_object();
  w.field("id", e.id);
  timestamps(w, stamp(c));
  w.field("cert", e.cert);
  w.field("key", e.key);
  w.string_or_null("cert_alt", e.cert_alt);
  w.string_or_null("key_alt", e.key_alt);
  w.strings_or_null("tags", e.tags);
  w.key("snis").begin_array();
  for (const auto& s : e.snis) w.str(s);
  w.end_array();
  w.end_object();
}

void render(JsonWriter& w, const RenderContext& c, const Sni& e) {
  w.begin_object();
  w.field("id", e.id);
  w.field("name", e.name);
  timestamps(w, stamp(c));
  w.strings_or_null("tags", e.tags);
  w.foreign("certificate", e.certificate >= 0
                               ? &c.config.certificates[static_cast<size_t>(e.certificate)].id
                               : nullptr);
  w.end_object();
}

void render(JsonWriter& w, const RenderContext& c, const CaCertificate& e) {
  w.begin_object();
  w.field("id", e.id);
  timestamps(w, stamp(c));
  w.field("cert", e.cert);
  w.string_or_null("cert_digest", e.cert_digest.empty() ? cert_digest(e.cert) : e.cert_digest);
  w.strings_or_null("tags", e.tags);
  w.end_object();
}

const Service* find_service(const Config& c, std::string_view key) {
  return find(c.services, key, [](const Service& e) -> const std::string& { return e.name; });
}
const Route* find_route(const Config& c, std::string_view key) {
  return find(c.routes, key, [](const Route& e) -> const std::string& { return e.name; });
}
const Consumer* find_consumer(const Config& c, std::string_view key) {
  return find(c.consumers, key, [](const Consumer& e) -> const std::string& { return e.username; });
}
const Plugin* find_plugin(const Config& c, std::string_view key) {
  return find(c.plugins, key,
              [](const Plugin& e) -> const std::string& { return e.instance_name; });
}
const Upstream* find_upstream(const Config& c, std::string_view key) {
  return find(c.upstreams, key, [](const Upstream& e) -> const std::string& { return e.name; });
}
const Target* find_target(const Upstream& u, std::string_view key) {
  return find(u.targets, key, [](const Target& e) -> const std::string& { return e.target; });
}
const Certificate* find_certificate(const Config& c, std::string_view key) {
  if (checks::is_uuid(key)) {
    for (const auto& e : c.certificates) {
      if (e.id == key) return &e;
    }
  }
  for (const auto& e : c.certificates) {
    for (const auto& s : e.snis) {
      if (s == key) return &e;
    }
  }
  return nullptr;
}
const Sni* find_sni(const Config& c, std::string_view key) {
  return find(c.snis, key, [](const Sni& e) -> const std::string& { return e.name; });
}
const CaCertificate* find_ca_certificate(const Config& c, std::string_view key) {
  for (const auto& e : c.ca_certificates) {
    if (e.id == key) return &e;
  }
  return nullptr;
}

bool matches_tags(const std::vector<std::string>& entity_tags, std::string_view filter) {
  auto has = [&](std::string_view t) {
    for (const auto& e : entity_tags) {
      if (e == t) return true;
    }
    return false;
  };
  // Kong: "a,b" = every tag, "a/b" = any tag.
  bool any = filter.find('/') != std::string_view::npos;
  char sep = any ? '/' : ',';
  while (true) {
    size_t p = filter.find(sep);
    bool hit = has(filter.substr(0, p));
    if (any && hit) return true;
    if (!any && !hit) return false;
    if (p == std::string_view::npos) break;
    filter.remove_prefix(p + 1);
  }
  return !any;
}

}  // namespace sb::admin
