// The validated declarative configuration: Kong's entities as plain C++ values.
//
// Produced by core/config/loader (kong.yaml -> Config), consumed by core/router and core/proxy.
// Everything here is immutable once loaded; a Snapshot (snapshot.h) owns one Config together with
// what is compiled from it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/source_pos.h"
#include "config/value.h"

namespace sb::config {

struct Service {
  std::string id;    // UUID; generated deterministically (UUIDv5) when absent
  std::string name;  // may be empty
  std::string protocol = "http";
  std::string host;
  int port = 80;
  std::optional<std::string> path;  // null = no path ("/" when joining)
  int retries = 5;
  int connect_timeout = 60000;  // milliseconds
  int write_timeout = 60000;
  int read_timeout = 60000;
  bool enabled = true;
  std::optional<bool> tls_verify;
  std::optional<int> tls_verify_depth;
  // Upstream TLS (only with protocol https or tls). Ids of entities that exist in this Config,
  // checked by the loader: look them up with Config::find_ca_certificate / find_certificate.
  std::vector<std::string> ca_certificates;       // Config::ca_certificates ids, in file order
  std::optional<std::string> client_certificate;  // a Config::certificates id
  std::vector<std::string> tags;
  SourcePos pos;
};

// One entry of a stream route's `sources` / `destinations`.
struct CidrPort {
  std::string ip;  // IP or CIDR; empty = any
  int port = -1;   // -1 = any
};

struct HeaderMatch {
  std::string name;                 // as written (matching is case-insensitive)
  std::vector<std::string> values;  // any one value suffices; "~*regex" is a regex
};

struct Route {
  std::string id;
  std::string name;
  std::vector<std::string> protocols = {"http", "https"};
  std::vector<std::string> methods;
  std::vector<std::string> hosts;
  // As written in the file after format migration: for _format_version "3.0" regex paths carry
  // the "~" prefix; for "1.1"/"2.1" paths are kept verbatim and the router applies Kong 2.x's
  // regex heuristic (see `legacy_paths`).
  std::vector<std::string> paths;
  std::vector<HeaderMatch> headers;
  std::vector<std::string> snis;
  std::vector<CidrPort> sources;       // stream routes only
  std::vector<CidrPort> destinations;  // stream routes only
  bool strip_path = true;
  bool preserve_host = false;
  int regex_priority = 0;
  std::string path_handling = "v0";  // "v0" or "v1"
  int https_redirect_status_code = 426;
  bool request_buffering = true;
  bool response_buffering = true;
  int64_t created_at = 0;  // seconds; 0 when the file does not set it
  // Index into Config::services, or -1 for a route without a service (requests get 503).
  int service = -1;
  bool legacy_paths = false;  // true when loaded from a "1.1"/"2.1" file
  std::vector<std::string> tags;
  SourcePos pos;
};

struct Consumer {
  std::string id;
  std::string username;
  std::string custom_id;
  std::vector<std::string> tags;
  SourcePos pos;
};

struct Target {
  std::string id;
  std::string target;  // host:port (port defaults to 8000); IPv6 as "[::1]:8000"
  std::string host;    // IPv6 without brackets
  int port = 8000;
  int weight = 100;
  std::vector<std::string> tags;
  SourcePos pos;
};

// Upstream health checking, with Kong's defaults (0 = disabled for intervals/counters).
struct HealthcheckHealthy {
  double interval = 0;  // seconds
  int successes = 0;
  std::vector<int> http_statuses;
};

struct HealthcheckUnhealthy {
  double interval = 0;  // seconds
  int tcp_failures = 0;
  int timeouts = 0;
  int http_failures = 0;
  std::vector<int> http_statuses;
};

struct ActiveHealthcheck {
  std::string type = "http";  // tcp, http, https, grpc, grpcs
  double timeout = 1;         // seconds
  int concurrency = 10;
  std::string http_path = "/";
  std::string https_sni;  // empty = unset
  bool https_verify_certificate = true;
  std::vector<HeaderMatch> headers;
  HealthcheckHealthy healthy{0, 0, {200, 302}};
  HealthcheckUnhealthy unhealthy{0, 0, 0, 0, {429, 404, 500, 501, 502, 503, 504, 505}};
};

struct PassiveHealthcheck {
  std::string type = "http";
  HealthcheckHealthy healthy{0,
                             0,
                             {200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303,
                              304, 305, 306, 307, 308}};
  HealthcheckUnhealthy unhealthy{0, 0, 0, 0, {429, 500, 503}};
};

struct Healthchecks {
  ActiveHealthcheck active;
  PassiveHealthcheck passive;
  double threshold = 0;  // percent
};

struct Upstream {
  std::string id;
  std::string name;
  std::string algorithm = "round-robin";
  std::string hash_on = "none";
  std::string hash_fallback = "none";
  std::string hash_on_header, hash_fallback_header;            // empty = unset
  std::string hash_on_cookie, hash_on_cookie_path = "/";       // cookie empty = unset
  std::string hash_on_query_arg, hash_fallback_query_arg;      // empty = unset
  std::string hash_on_uri_capture, hash_fallback_uri_capture;  // empty = unset
  std::string host_header;                                     // empty = unset
  std::optional<std::string> client_certificate;               // id
  bool use_srv_name = false;
  int slots = 10000;
  Healthchecks healthchecks;
  std::vector<Target> targets;
  std::vector<std::string> tags;
  SourcePos pos;
};

// A plugin instance as written; its `config` is validated by the plugin host (a later issue).
struct Plugin {
  std::string id;
  std::string name;
  std::string instance_name;
  bool enabled = true;
  int route = -1;     // index into Config::routes, -1 = not scoped
  int service = -1;   // index into Config::services
  int consumer = -1;  // index into Config::consumers
  std::vector<std::string> protocols = {"grpc", "grpcs", "http", "https"};
  std::string config_json;  // the `config` record re-encoded as JSON ("{}" when absent)
  // The validated config with defaults filled (Kong's stored form), when the plugin's schema
  // is known; what the plugin compiles.
  std::shared_ptr<const Value> config;
  std::vector<std::string> tags;
  SourcePos pos;
};

// A row of an entity a plugin declares (e.g. key-auth's keyauth_credentials), validated
// against the plugin's entity schema; foreign keys to consumers are stored as {"id": ...}.
struct EntityRow {
  std::string entity;  // the kong.yaml key
  std::string id;
  int consumer = -1;  // index into Config::consumers when the entity references one
  Value row;
  SourcePos pos;
};

// A server certificate. The loader parses every PEM with OpenSSL (first certificate of `cert`,
// private `key`) and checks that each key matches its certificate and that the alternate pair
// has another key type (e.g. ECDSA + RSA). A value may instead be a vault reference
// ("{vault://...}"), kept verbatim and not checked (resolution is a later issue).
struct Certificate {
  std::string id;
  std::string cert, key;          // PEM text (cert may carry the chain after the leaf)
  std::string cert_alt, key_alt;  // PEM text; both empty or both set
  // Every SNI name pointing at this certificate: nested (records or plain names) and top-level
  // `snis` entries, in file order. Unique across the file; exact or wildcard ("*.a.b", "a.*").
  std::vector<std::string> snis;
  std::vector<std::string> tags;
  SourcePos pos;
};

struct Sni {
  std::string id;
  std::string name;
  int certificate = -1;  // index into Config::certificates
  std::vector<std::string> tags;
  SourcePos pos;
};

struct CaCertificate {
  std::string id;
  std::string cert;
  std::string cert_digest;  // as given (empty when absent)
  std::vector<std::string> tags;
  SourcePos pos;
};

// Vaults are accepted with light validation; secrets resolution is a later issue.
struct Vault {
  std::string id;
  std::string name;    // vault implementation, e.g. "env"
  std::string prefix;  // referenced as {vault://<prefix>/...}
  std::string description;
  std::string config_json = "{}";
  std::vector<std::string> tags;
  SourcePos pos;
};

struct Config {
  std::string format_version;  // "1.1", "2.1" or "3.0"
  std::string source_name;     // file name used in error messages
  std::string hash;            // MD5 hex of the raw text (Kong's configuration_hash)
  bool transform = true;       // `_transform`
  std::vector<Service> services;
  std::vector<Route> routes;  // nested and top-level routes, flattened, in file order
  std::vector<Consumer> consumers;
  std::vector<Upstream> upstreams;
  std::vector<Plugin> plugins;
  std::vector<Certificate> certificates;
  std::vector<Sni> snis;
  std::vector<CaCertificate> ca_certificates;
  std::vector<Vault> vaults;
  std::vector<EntityRow> entity_rows;  // plugin entities, top-level and nested, in file order

  // Lookups by id (linear; for building per-snapshot indexes, not per request).
  const Certificate* find_certificate(std::string_view id) const {
    for (const auto& c : certificates)
      if (c.id == id) return &c;
    return nullptr;
  }
  const CaCertificate* find_ca_certificate(std::string_view id) const {
    for (const auto& c : ca_certificates)
      if (c.id == id) return &c;
    return nullptr;
  }
};

// One problem found while loading: everything an operator needs to find and fix it.
struct Error {
  std::string file;
  SourcePos pos;
  std::string entity;   // e.g. "services[0].routes[2]" or "routes[1] (name: foo)"
  std::string field;    // e.g. "paths[1]"; empty for entity-level problems
  std::string message;  // Kong's wording where Kong has one

  // "kong.yaml:12:7: services[0].routes[2]: paths[1]: should start with: / (fixed path) ..."
  std::string to_string() const;
};

}  // namespace sb::config
