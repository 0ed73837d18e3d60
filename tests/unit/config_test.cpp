// Declarative config loader: kong.yaml -> sb::config::Config.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>

#include "common/json.h"
#include "config/checks.h"
#include "config/loader.h"

namespace sb::config {
namespace {

LoadResult load(const std::string& text, const LoadOptions& opts = {}) {
  return load_string(text, "kong.yaml", opts);
}

LoadOptions with_plugins(std::vector<std::string> names) {
  LoadOptions o;
  o.enabled_plugins = std::move(names);
  return o;
}

// Kong 3.9's bundled plugins (kong/constants.lua).
LoadOptions bundled() {
  return with_plugins({"jwt",
                       "acl",
                       "correlation-id",
                       "cors",
                       "oauth2",
                       "tcp-log",
                       "udp-log",
                       "file-log",
                       "http-log",
                       "key-auth",
                       "hmac-auth",
                       "basic-auth",
                       "ip-restriction",
                       "request-transformer",
                       "response-transformer",
                       "request-size-limiting",
                       "rate-limiting",
                       "response-ratelimiting",
                       "syslog",
                       "loggly",
                       "datadog",
                       "ldap-auth",
                       "statsd",
                       "bot-detection",
                       "aws-lambda",
                       "request-termination",
                       "prometheus",
                       "proxy-cache",
                       "session",
                       "acme",
                       "grpc-gateway",
                       "grpc-web",
                       "pre-function",
                       "post-function",
                       "azure-functions",
                       "zipkin",
                       "opentelemetry",
                       "ai-proxy",
                       "ai-prompt-decorator",
                       "ai-prompt-template",
                       "ai-prompt-guard",
                       "ai-request-transformer",
                       "ai-response-transformer",
                       "standard-webhooks",
                       "redirect"});
}

std::string dump(const LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.to_string() + "\n";
  return out;
}

// Expects exactly one error and returns it.
Error only_error(const LoadResult& r) {
  EXPECT_EQ(r.errors.size(), 1u) << dump(r);
  return r.errors.empty() ? Error{} : r.errors[0];
}

TEST(ConfigFormat, MinimalConfigsForEachVersion) {
  for (const char* v : {"1.1", "2.1", "3.0"}) {
    auto r = load(fmt::format("_format_version: \"{}\"\n", v));
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->format_version, v);
    EXPECT_EQ(r.config->source_name, "kong.yaml");
  }
}

TEST(ConfigFormat, VersionErrors) {
  auto e = only_error(load("_format_version: 1.1\n"));
  EXPECT_EQ(e.message, "expected a string");
  EXPECT_EQ(e.field, "_format_version");
  EXPECT_EQ(e.pos.line, 1);
  EXPECT_EQ(e.pos.column, 18);
  EXPECT_EQ(only_error(load("_format_version: \"foobar\"\n")).message,
            "expected one of: 1.1, 2.1, 3.0");
  EXPECT_EQ(only_error(load("_format_version: \"2.0\"\n")).message,
            "expected one of: 1.1, 2.1, 3.0");
  EXPECT_EQ(only_error(load("_transform: true\n")).message, "required field missing");
}

TEST(ConfigFormat, NonObjectAndSyntaxErrors) {
  for (const char* text : {"- a\n- b\n", "just a string\n", ""}) {
    auto e = only_error(load(text));
    EXPECT_EQ(e.message, "failed parsing declarative configuration: expected an object") << text;
  }
  auto r = load("_format_version: \"3.0\"\nservices: [\n  {name: a\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_GT(r.errors[0].pos.line, 1);
  EXPECT_NE(r.errors[0].message.find("failed parsing declarative configuration"),
            std::string::npos);
}

TEST(ConfigFormat, MetaKeysAndUnknownKeys) {
  auto ok = load(
      "_format_version: \"3.0\"\n_transform: false\n_comment: hi\n_ignore: [1, {a: b}]\n"
      "services:\n- name: s\n  host: example.com\n  _comment: c\n  _ignore: [x]\n");
  ASSERT_TRUE(ok.ok()) << dump(ok);
  EXPECT_FALSE(ok.config->transform);

  auto r = load("_format_version: \"3.0\"\nfoo: 1\nkeyauth_credentials: []\n");
  ASSERT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_EQ(r.errors[0].field, "foo");
  EXPECT_EQ(r.errors[0].message, "unknown field");
  EXPECT_EQ(r.errors[0].pos.line, 2);
  EXPECT_EQ(r.errors[1].field, "keyauth_credentials");

  auto f = only_error(load("_format_version: \"3.0\"\nservices:\n- host: a.b\n  bogus: 1\n"));
  EXPECT_EQ(f.field, "bogus");
  EXPECT_EQ(f.message, "unknown field");
  EXPECT_EQ(f.entity, "services[0]");
  EXPECT_EQ(f.pos.line, 4);
}

TEST(ConfigFormat, ErrorToString) {
  Error e{"kong.yaml", {12, 7}, "services[0].routes[2]", "paths[1]", "boom"};
  EXPECT_EQ(e.to_string(), "kong.yaml:12:7: services[0].routes[2]: paths[1]: boom");
  Error f{"kong.yaml", {}, "", "", "cannot read"};
  EXPECT_EQ(f.to_string(), "kong.yaml: cannot read");
}

TEST(ConfigService, DefaultsFilled) {
  auto r = load("_format_version: \"3.0\"\nservices:\n- name: s\n  host: example.com\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  const Service& s = r.config->services.at(0);
  EXPECT_EQ(s.protocol, "http");
  EXPECT_EQ(s.port, 80);
  EXPECT_FALSE(s.path.has_value());
  EXPECT_EQ(s.retries, 5);
  EXPECT_EQ(s.connect_timeout, 60000);
  EXPECT_EQ(s.read_timeout, 60000);
  EXPECT_EQ(s.write_timeout, 60000);
  EXPECT_TRUE(s.enabled);
  EXPECT_FALSE(s.tls_verify.has_value());
  EXPECT_EQ(s.pos.line, 3);
}

TEST(ConfigService, UrlShorthand) {
  struct Case {
    const char* url;
    const char* protocol;
    const char* host;
    int port;
    std::optional<std::string> path;
  };
  const Case cases[] = {
      {"http://example.com", "http", "example.com", 80, std::nullopt},
      {"https://example.com", "https", "example.com", 443, std::nullopt},
      {"https://example.com:8443/a/b", "https", "example.com", 8443, "/a/b"},
      {"example.com:443", "https", "example.com", 443, std::nullopt},
      {"example.com:8080/x", "http", "example.com", 8080, "/x"},
      {"grpc://10.0.0.1:9000", "grpc", "10.0.0.1", 9000, std::nullopt},
      {"http://localhost:8001/status", "http", "localhost", 8001, "/status"},
  };
  for (const auto& c : cases) {
    auto r = load(fmt::format("_format_version: \"3.0\"\nservices:\n- url: {}\n", c.url));
    ASSERT_TRUE(r.ok()) << c.url << "\n" << dump(r);
    const Service& s = r.config->services.at(0);
    EXPECT_EQ(s.protocol, c.protocol) << c.url;
    EXPECT_EQ(s.host, c.host) << c.url;
    EXPECT_EQ(s.port, c.port) << c.url;
    EXPECT_EQ(s.path, c.path) << c.url;
  }
}

TEST(ConfigService, FieldErrorsAllReported) {
  auto r = load(
      "_format_version: \"1.1\"\n"
      "services:\n"
      "- name: foo\n"
      "  retries: -1\n"
      "  protocol: foo\n"
      "  host: 1234\n"
      "  port: 99999\n"
      "  path: /foo//bar/\n");
  ASSERT_EQ(r.errors.size(), 5u) << dump(r);
  EXPECT_EQ(r.errors[0].message, "value should be between 0 and 32767");
  EXPECT_EQ(r.errors[0].pos.line, 4);
  EXPECT_EQ(r.errors[1].message,
            "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp");
  EXPECT_EQ(r.errors[2].message, "expected a string");
  EXPECT_EQ(r.errors[2].field, "host");
  EXPECT_EQ(r.errors[3].message, "value should be between 0 and 65535");
  EXPECT_EQ(r.errors[4].message, "must not have empty segments");
  EXPECT_EQ(r.errors[4].entity, "services[0] (name: foo)");
  EXPECT_EQ(r.errors[4].to_string(),
            "kong.yaml:8:9: services[0] (name: foo): path: must not have empty segments");
}

TEST(ConfigService, HostPathAndTlsRules) {
  auto base = [](const std::string& body) {
    return load("_format_version: \"3.0\"\nservices:\n- name: s\n" + body);
  };
  EXPECT_EQ(only_error(base("  host: example.com:80\n")).message, "must not have a port");
  EXPECT_EQ(only_error(base("  host: exa mple\n")).message, "invalid value: exa mple");
  EXPECT_EQ(only_error(base("  protocol: http\n")).message, "required field missing");
  EXPECT_EQ(only_error(base("  host: a.b\n  path: foo\n")).message, "should start with: /");
  EXPECT_EQ(only_error(base("  host: a.b\n  path: /a%zz\n")).message,
            "invalid url-encoded value: '%zz'");
  EXPECT_EQ(only_error(base("  host: a.b\n  protocol: tcp\n  path: /x\n")).message,
            "value must be null");
  auto tls = only_error(base("  host: a.b\n  tls_verify: true\n"));
  EXPECT_EQ(tls.field, "tls_verify");
  EXPECT_EQ(tls.message, "value must be null");
  EXPECT_TRUE(
      base("  host: a.b\n  protocol: https\n  tls_verify: true\n  tls_verify_depth: 3\n").ok());
  EXPECT_EQ(only_error(base("  host: a.b\n  connect_timeout: 0\n")).message,
            "value should be between 1 and 2147483646");
  EXPECT_EQ(only_error(base("  host: a.b\n  port: \"80\"\n")).message, "expected an integer");
  EXPECT_EQ(only_error(base("  host: a.b\n  port: 99999999999999999999999\n")).message,
            "value should be between 0 and 65535");
  EXPECT_EQ(only_error(base("  host: a.b\n  enabled: 1\n")).message, "expected a boolean");
  EXPECT_EQ(only_error(base("  host: a.b\n  name2: x\n")).message, "unknown field");
}

TEST(ConfigNames, Utf8NameRule) {
  auto e = only_error(load("_format_version: \"3.0\"\nservices:\n- name: a b\n  host: x.y\n"));
  EXPECT_EQ(e.message,
            "invalid value 'a b': the only accepted ascii characters are alphanumerics or ., -, "
            "_, and ~");
  EXPECT_TRUE(
      load("_format_version: \"3.0\"\nservices:\n- name: s\xc3\xa9rvice.v1_~-\n  host: x\n").ok());
}

const char* kRouteHead = "_format_version: \"3.0\"\nroutes:\n- name: r\n";

Error route_error(const std::string& body) { return only_error(load(kRouteHead + body)); }

TEST(ConfigRoute, DefaultsFilled) {
  auto r = load(std::string(kRouteHead) + "  paths: [/a]\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  const Route& rt = r.config->routes.at(0);
  EXPECT_EQ(rt.protocols, (std::vector<std::string>{"http", "https"}));
  EXPECT_TRUE(rt.strip_path);
  EXPECT_FALSE(rt.preserve_host);
  EXPECT_EQ(rt.regex_priority, 0);
  EXPECT_EQ(rt.path_handling, "v0");
  EXPECT_EQ(rt.https_redirect_status_code, 426);
  EXPECT_TRUE(rt.request_buffering);
  EXPECT_TRUE(rt.response_buffering);
  EXPECT_EQ(rt.service, -1);
  EXPECT_FALSE(rt.legacy_paths);
}

TEST(ConfigRoute, Paths30) {
  EXPECT_EQ(route_error("  paths: [foo]\n").message,
            "should start with: / (fixed path) or ~/ (regex path)");
  auto e = route_error("  paths: [/ok, /a/../b]\n");
  EXPECT_EQ(e.message, "non-normalized path, consider use '/b' instead");
  EXPECT_EQ(e.field, "paths[1]");
  EXPECT_EQ(e.pos.line, 4);
  EXPECT_EQ(route_error("  paths: [/h%65llo]\n").message,
            "non-normalized path, consider use '/hello' instead");
  EXPECT_EQ(route_error("  paths: [\"~/regex.+(\"]\n").message,
            "invalid regex: '/regex.+(' (PCRE returned: pcre2_compile() failed: missing closing "
            "parenthesis in \"/regex.+(\")");
  EXPECT_EQ(route_error("  paths: [/a//b]\n").message, "must not have empty segments");
  auto ok = load(std::string(kRouteHead) + "  paths: [\"~/users/(?<id>\\\\d+)$\", /a%2Fb]\n");
  ASSERT_TRUE(ok.ok()) << dump(ok);
  EXPECT_EQ(ok.config->routes[0].paths[0], "~/users/(?<id>\\d+)$");
}

TEST(ConfigRoute, LegacyPaths) {
  auto r = load("_format_version: \"1.1\"\nroutes:\n- paths: [\"/status/\\\\d+\", /a/../b]\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_TRUE(r.config->routes[0].legacy_paths);
  EXPECT_EQ(r.config->routes[0].paths[0], "/status/\\d+");  // verbatim
  EXPECT_EQ(r.config->routes[0].paths[1], "/a/../b");
  auto e = only_error(load("_format_version: \"2.1\"\nroutes:\n- paths: [\"/regex.+(\"]\n"));
  EXPECT_NE(e.message.find("invalid regex: '/regex.+('"), std::string::npos) << e.message;
  EXPECT_EQ(only_error(load("_format_version: \"2.1\"\nroutes:\n- paths: [bla]\n")).message,
            "should start with: / (fixed path) or ~/ (regex path)");
}

TEST(ConfigRoute, FieldRules) {
  EXPECT_EQ(route_error("  hosts: [\"*.a.*\"]\n").message,
            "invalid wildcard: must have at most one wildcard");
  EXPECT_EQ(route_error("  hosts: [\"a.*.b\"]\n").message,
            "invalid wildcard: must be placed at leftmost or rightmost label");
  auto hosts = load(std::string(kRouteHead) + "  hosts: [\"*.a.com\", \"a.*\", \"b.com:8080\"]\n");
  EXPECT_TRUE(hosts.ok()) << dump(hosts);
  EXPECT_EQ(route_error("  methods: [get]\n").message, "invalid value: get");
  EXPECT_EQ(route_error("  headers: {Host: [a]}\n").message,
            "cannot contain 'host' header, which must be specified in the 'hosts' attribute");
  EXPECT_EQ(route_error("  paths: [/]\n  snis: [a.com]\n  protocols: [http]\n").message,
            "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or "
            "'tls_passthrough'");
  auto req = route_error("  protocols: [http]\n  strip_path: false\n");
  EXPECT_EQ(req.message,
            "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'");
  EXPECT_EQ(req.pos.line, 3);  // the route's mapping
  EXPECT_EQ(route_error("  strip_path: false\n").message,
            "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is "
            "'https'");
  EXPECT_EQ(route_error("  paths: [/]\n  https_redirect_status_code: 303\n").message,
            "expected one of: 426, 301, 302, 307, 308");
  EXPECT_EQ(route_error("  paths: [/]\n  path_handling: v2\n").message, "expected one of: v0, v1");
  EXPECT_EQ(route_error("  paths: [/]\n  protocols: [http, tcp]\n").message,
            "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp'), "
            "('tls_passthrough'), ('grpc', 'grpcs')");
  auto full = load(std::string(kRouteHead) +
                   "  methods: [GET]\n  headers: {X-A: [a, \"~*b\"]}\n  created_at: 1700000000\n"
                   "  regex_priority: 7\n  path_handling: v1\n  preserve_host: true\n"
                   "  tags: [a, b c]\n");
  ASSERT_TRUE(full.ok()) << dump(full);
  const Route& rt = full.config->routes[0];
  EXPECT_EQ(rt.headers.at(0).name, "X-A");
  EXPECT_EQ(rt.headers.at(0).values.size(), 2u);
  EXPECT_EQ(rt.created_at, 1700000000);
  EXPECT_EQ(rt.regex_priority, 7);
  EXPECT_EQ(rt.path_handling, "v1");
  EXPECT_TRUE(rt.preserve_host);
  auto stream =
      load(std::string(kRouteHead) + "  protocols: [tcp]\n  destinations: [{port: 9000}]\n");
  ASSERT_TRUE(stream.ok()) << dump(stream);
  EXPECT_EQ(stream.config->routes[0].destinations.at(0).port, 9000);
}

TEST(ConfigRoute, NestedAndTopLevel) {
  auto r = load(
      "_format_version: \"3.0\"\n"
      "services:\n"
      "- name: svc1\n"
      "  host: a.b\n"
      "  routes:\n"
      "  - name: nested\n"
      "    paths: [/n]\n"
      "routes:\n"
      "- name: by-name\n"
      "  service: svc1\n"
      "  paths: [/x]\n"
      "- name: by-obj\n"
      "  service: {id: 11111111-2222-3333-4444-555555555555}\n"
      "  paths: [/y]\n"
      "- name: none\n"
      "  paths: [/z]\n"
      "services:\n");
  // (duplicate `services` key above is YAML-legal for yaml-cpp; only the first counts)
  (void)r;
  auto ok = load(
      "_format_version: \"3.0\"\n"
      "services:\n"
      "- name: svc1\n"
      "  id: 11111111-2222-3333-4444-555555555555\n"
      "  host: a.b\n"
      "  routes:\n"
      "  - name: nested\n"
      "    paths: [/n]\n"
      "routes:\n"
      "- name: by-name\n"
      "  service: svc1\n"
      "  paths: [/x]\n"
      "- name: by-id\n"
      "  service: 11111111-2222-3333-4444-555555555555\n"
      "  paths: [/y]\n"
      "- name: by-obj\n"
      "  service: {id: 11111111-2222-3333-4444-555555555555}\n"
      "  paths: [/y2]\n"
      "- name: none\n"
      "  paths: [/z]\n");
  ASSERT_TRUE(ok.ok()) << dump(ok);
  const auto& routes = ok.config->routes;
  ASSERT_EQ(routes.size(), 5u);
  EXPECT_EQ(routes[0].name, "nested");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(routes[i].service, 0) << i;
  EXPECT_EQ(routes[4].service, -1);

  auto bad = only_error(
      load("_format_version: \"3.0\"\nroutes:\n- name: r\n  service: svc1\n  paths: [/]\n"));
  EXPECT_EQ(bad.message, "invalid reference 'service: svc1' (no such entry in 'services')");
  EXPECT_EQ(bad.field, "service");
  EXPECT_EQ(bad.pos.line, 4);
}

TEST(ConfigPlugin, NotEnabledAndScopes) {
  const std::string text =
      "_format_version: \"3.0\"\n"
      "services:\n"
      "- name: s\n"
      "  host: a.b\n"
      "  plugins:\n"
      "  - name: key-auth\n"
      "  routes:\n"
      "  - name: r\n"
      "    paths: [/]\n"
      "    plugins:\n"
      "    - name: key-auth\n"
      "consumers:\n"
      "- username: u\n"
      "  plugins:\n"
      "  - name: rate-limiting\n"
      "    config: {minute: 5, policy: local}\n"
      "plugins:\n"
      "- name: rate-limiting\n"
      "  route: r\n"
      "  consumer: u\n"
      "  config: {second: 1}\n";
  auto none = load(text);
  ASSERT_EQ(none.errors.size(), 4u) << dump(none);
  EXPECT_EQ(none.errors[0].message,
            "plugin 'key-auth' not enabled; add it to the 'plugins' configuration property");
  EXPECT_EQ(none.errors[0].pos.line, 6);

  auto r = load(text, with_plugins({"key-auth", "rate-limiting"}));
  ASSERT_TRUE(r.ok()) << dump(r);
  const auto& ps = r.config->plugins;
  ASSERT_EQ(ps.size(), 4u);
  EXPECT_EQ(ps[0].service, 0);
  EXPECT_EQ(ps[0].route, -1);
  EXPECT_EQ(ps[1].route, 0);
  EXPECT_EQ(ps[1].service, -1);
  EXPECT_EQ(ps[2].consumer, 0);
  EXPECT_EQ(ps[2].config_json, "{\"minute\":5,\"policy\":\"local\"}");
  EXPECT_EQ(ps[3].route, 0);
  EXPECT_EQ(ps[3].consumer, 0);
  EXPECT_EQ(ps[0].config_json, "{}");
  EXPECT_EQ(ps[0].protocols, (std::vector<std::string>{"grpc", "grpcs", "http", "https"}));
}

TEST(ConfigPlugin, NestedForeignMustBeNullAndUniqueness) {
  auto opts = with_plugins({"key-auth"});
  auto e = only_error(load(
      "_format_version: \"3.0\"\nconsumers:\n- username: u\nservices:\n- name: s\n  host: a.b\n"
      "  plugins:\n  - name: key-auth\n    consumer: u\n",
      opts));
  EXPECT_EQ(e.message, "value must be null");
  EXPECT_EQ(e.field, "consumer");
  EXPECT_EQ(e.pos.line, 9);

  auto dup = only_error(
      load("_format_version: \"3.0\"\nplugins:\n- name: key-auth\n- name: key-auth\n", opts));
  EXPECT_NE(dup.message.find("uniqueness violation: 'plugins' entity with primary key set to"),
            std::string::npos)
      << dup.message;
  EXPECT_EQ(dup.pos.line, 4);
  // Same route referenced by name and by id: still the same scope.
  auto scope = load(
      "_format_version: \"3.0\"\nroutes:\n- name: r\n  id: 11111111-2222-3333-4444-555555555555\n"
      "  paths: [/]\nplugins:\n- name: key-auth\n  route: r\n- name: key-auth\n"
      "  route: 11111111-2222-3333-4444-555555555555\n",
      opts);
  ASSERT_EQ(scope.errors.size(), 1u) << dump(scope);
  EXPECT_NE(scope.errors[0].message.find("uniqueness violation: 'plugins'"), std::string::npos);
}

TEST(ConfigUniqueness, NamesIdsCustomIds) {
  auto name = only_error(load(
      "_format_version: \"3.0\"\nservices:\n- name: foo\n  host: a\n- name: foo\n  host: b\n"));
  EXPECT_EQ(name.message,
            "uniqueness violation: 'services' entity with name set to 'foo' already "
            "declared");
  EXPECT_EQ(name.pos.line, 5);
  auto id = only_error(load(
      "_format_version: \"3.0\"\nservices:\n- id: 0855b320-0dd2-547d-891d-601e9b38647f\n  host: a\n"
      "- id: 0855b320-0dd2-547d-891d-601e9b38647f\n  host: b\n"));
  EXPECT_EQ(id.message,
            "uniqueness violation: 'services' entity with primary key set to "
            "'0855b320-0dd2-547d-891d-601e9b38647f' already declared");
  auto cid = only_error(
      load("_format_version: \"3.0\"\nconsumers:\n- username: foo\n  custom_id: conflict\n"
           "- username: bar\n  custom_id: conflict\n"));
  EXPECT_EQ(cid.message,
            "uniqueness violation: 'consumers' entity with custom_id set to "
            "'conflict' already declared");
  EXPECT_EQ(
      only_error(load("_format_version: \"3.0\"\nservices:\n- id: nope\n  host: a\n")).message,
      "expected a valid UUID");
  EXPECT_EQ(only_error(load("_format_version: \"3.0\"\nconsumers:\n- tags: [a]\n")).message,
            "at least one of these fields must be non-empty: 'custom_id', 'username'");
}

TEST(ConfigIds, DeterministicAcrossLoadsAndGivenIdsKept) {
  const std::string text =
      "_format_version: \"3.0\"\n"
      "services:\n- name: s\n  host: a.b\n  routes:\n  - name: r\n    paths: [/]\n"
      "upstreams:\n- name: up\n  targets:\n  - target: 10.0.0.1\n"
      "consumers:\n- username: u\n  id: AAAAAAAA-2222-3333-4444-555555555555\n";
  auto a = load(text);
  auto b = load(text);
  ASSERT_TRUE(a.ok() && b.ok()) << dump(a);
  EXPECT_EQ(a.config->services[0].id, b.config->services[0].id);
  EXPECT_EQ(a.config->routes[0].id, b.config->routes[0].id);
  EXPECT_EQ(a.config->upstreams[0].targets.at(0).id, b.config->upstreams[0].targets.at(0).id);
  EXPECT_TRUE(checks::is_uuid(a.config->services[0].id));
  EXPECT_EQ(a.config->services[0].id, checks::entity_uuid("services", "s"));
  EXPECT_EQ(a.config->consumers[0].id, "AAAAAAAA-2222-3333-4444-555555555555");
  EXPECT_NE(a.config->services[0].id, a.config->routes[0].id);
  // A route without a name gets a random id.
  auto c = load("_format_version: \"3.0\"\nroutes:\n- paths: [/]\n");
  auto d = load("_format_version: \"3.0\"\nroutes:\n- paths: [/]\n");
  ASSERT_TRUE(c.ok() && d.ok());
  EXPECT_NE(c.config->routes[0].id, d.config->routes[0].id);
  // RFC 4122 test vector for the v5 primitive.
  EXPECT_EQ(checks::uuid_v5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com"),
            "2ed6657d-e927-568b-95e1-2665a8aea6a2");
}

TEST(ConfigHash, StableAndContentSensitive) {
  auto a = load("_format_version: \"3.0\"\n");
  auto b = load("_format_version: \"3.0\"\n");
  auto c = load("_format_version: \"3.0\"\n# changed\n");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a.config->hash, b.config->hash);
  EXPECT_NE(a.config->hash, c.config->hash);
  EXPECT_EQ(a.config->hash, checks::md5_hex("_format_version: \"3.0\"\n"));
  EXPECT_EQ(checks::md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
}

TEST(ConfigErrors, EveryErrorReportedInFileOrder) {
  auto r = load(
      "_format_version: \"3.0\"\n"
      "routes:\n"
      "- name: r\n"
      "  service: missing\n"
      "  paths: [/a]\n"
      "services:\n"
      "- name: s\n"
      "  host: a.b\n"
      "  port: -1\n");
  ASSERT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_EQ(r.errors[0].pos.line, 4);
  EXPECT_EQ(r.errors[1].pos.line, 9);
}

TEST(ConfigUpstream, TargetsAndHealthchecks) {
  auto r = load(
      "_format_version: \"3.0\"\n"
      "upstreams:\n"
      "- name: up.example\n"
      "  healthchecks:\n"
      "    active: {healthy: {interval: 5}, type: https}\n"
      "    passive: {unhealthy: {http_failures: 3}}\n"
      "  targets:\n"
      "  - target: 10.20.30.40\n"
      "  - target: \"::1\"\n"
      "    weight: 0\n"
      "targets:\n"
      "- target: b.example:9000\n"
      "  upstream: up.example\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  const Upstream& u = r.config->upstreams.at(0);
  ASSERT_EQ(u.targets.size(), 3u);
  EXPECT_EQ(u.targets[0].target, "10.20.30.40:8000");
  EXPECT_EQ(u.targets[0].port, 8000);
  EXPECT_EQ(u.targets[0].weight, 100);
  EXPECT_EQ(u.targets[1].target, "[::1]:8000");
  EXPECT_EQ(u.targets[1].weight, 0);
  EXPECT_EQ(u.targets[2].port, 9000);
  EXPECT_EQ(u.healthchecks.active.healthy.interval, 5);
  EXPECT_EQ(u.healthchecks.active.type, "https");
  EXPECT_EQ(u.healthchecks.active.unhealthy.http_statuses.size(), 8u);
  EXPECT_EQ(u.healthchecks.passive.unhealthy.http_failures, 3);
  EXPECT_EQ(u.slots, 10000);
  auto up = [](const std::string& body) {
    return only_error(load("_format_version: \"3.0\"\nupstreams:\n" + body));
  };
  EXPECT_EQ(up("- name: 10.0.0.1\n").message, "Invalid name ('10.0.0.1'); no ip addresses allowed");
  EXPECT_EQ(up("- name: a.b:80\n").message, "Invalid name ('a.b:80'); no port allowed");
  EXPECT_EQ(up("- name: a..b\n").message, "Invalid name ('a..b'); must be a valid hostname");
  EXPECT_EQ(up("- name: u\n  targets: [{target: x, weight: 70000}]\n").message,
            "value should be between 0 and 65535");
  EXPECT_EQ(up("- name: u\n  targets: [{target: \"a b\"}]\n").message,
            "Invalid target ('a b'); not a valid hostname or ip address");
  EXPECT_EQ(up("- name: u\n  healthchecks: {active: {concurrency: 0}}\n").message,
            "value should be between 1 and 2147483648");
  EXPECT_EQ(up("- name: u\n  healthchecks: {passive: {bogus: 1}}\n").field,
            "healthchecks.passive.bogus");
}

TEST(ConfigCertificates, SnisAndCa) {
  auto r = load(
      "_format_version: \"3.0\"\n"
      "certificates:\n"
      "- id: 11111111-2222-3333-4444-555555555555\n"
      "  cert: \"{vault://env/cert}\"\n"  // references: PEM checks in ConfigTls*
      "  key: \"{vault://env/key}\"\n"
      "  snis:\n  - name: a.example\n"
      "snis:\n"
      "- name: \"*.b.example\"\n"
      "  certificate: 11111111-2222-3333-4444-555555555555\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.config->certificates[0].snis, (std::vector<std::string>{"a.example", "*.b.example"}));
  EXPECT_EQ(r.config->snis.at(1).certificate, 0);
  auto e = only_error(load("_format_version: \"3.0\"\ncertificates:\n- cert: \"{vault://e/c}\"\n"));
  EXPECT_EQ(e.field, "key");
  EXPECT_EQ(e.message, "required field missing");
}

// ---------------------------------------------------------------------------------------------
// TLS entities: certificates (OpenSSL checks), snis, route snis, service upstream TLS fields.

struct TestPem {
  std::string cert, key;
};

// A self-signed certificate for CN `cn` with a fresh RSA 2048 or EC P-256 key (`ca`: with the
// CA basic constraint, for ca_certificates).
TestPem make_pem(bool ec, const std::string& cn, bool ca = false) {
  TestPem out;
  EVP_PKEY* key = ec ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  if (ca) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    X509_EXTENSION* ext =
        X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, key, EVP_sha256());
  auto to_string = [](BIO* b) {
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    std::string s(data, static_cast<size_t>(n));
    BIO_free(b);
    return s;
  };
  BIO* cb = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cb, x);
  out.cert = to_string(cb);
  BIO* kb = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(kb, key, nullptr, nullptr, 0, nullptr, nullptr);
  out.key = to_string(kb);
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

// Generated once: two RSA and two EC pairs, and a CA.
const TestPem& rsa1() {
  static const TestPem p = make_pem(false, "rsa1.example");
  return p;
}
const TestPem& rsa2() {
  static const TestPem p = make_pem(false, "rsa2.example");
  return p;
}
const TestPem& ec1() {
  static const TestPem p = make_pem(true, "ec1.example");
  return p;
}
const TestPem& ec2() {
  static const TestPem p = make_pem(true, "ec2.example");
  return p;
}
const TestPem& ca1() {
  static const TestPem p = make_pem(true, "Test CA", true);
  return p;
}

// `key: |` followed by the PEM indented by `indent` spaces (a YAML block scalar).
std::string block(const std::string& key, const std::string& pem, int indent = 4) {
  std::string out = key + ": |\n";
  std::string pad(static_cast<size_t>(indent), ' ');
  size_t start = 0;
  while (start < pem.size()) {
    size_t nl = pem.find('\n', start);
    if (nl == std::string::npos) nl = pem.size();
    out += pad + pem.substr(start, nl - start) + "\n";
    start = nl + 1;
  }
  return out;
}

// One certificate entry ("- cert: |..." + "  key: |..."), then `rest` (fields at 2 spaces).
std::string cert_entry(const std::string& cert, const std::string& key,
                       const std::string& rest = "") {
  return "- " + block("cert", cert) + "  " + block("key", key) + rest;
}

int lines_in(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

const char* kCertId = "11111111-2222-3333-4444-555555555555";
const char* kCertId2 = "11111111-2222-3333-4444-666666666666";
const char* kCaId = "aaaaaaaa-2222-3333-4444-555555555555";

TEST(ConfigTlsCertificates, ValidPairsAndAlternateAccepted) {
  std::string text = "_format_version: \"3.0\"\ncertificates:\n" +
                     cert_entry(rsa1().cert, rsa1().key,
                                "  " + block("cert_alt", ec1().cert) + "  " +
                                    block("key_alt", ec1().key) + "  tags: [t]\n");
  auto r = load(text);
  ASSERT_TRUE(r.ok()) << dump(r);
  ASSERT_EQ(r.config->certificates.size(), 1u);
  const auto& c = r.config->certificates[0];
  EXPECT_EQ(c.cert, rsa1().cert);
  EXPECT_EQ(c.key, rsa1().key);
  EXPECT_EQ(c.cert_alt, ec1().cert);
  EXPECT_EQ(c.key_alt, ec1().key);
  EXPECT_TRUE(checks::is_uuid(c.id));
  // EC main pair with an RSA alternate is fine too, and JSON-style quoted PEMs work.
  std::string json = fmt::format(
      "{{\"_format_version\": \"3.0\", \"certificates\": [{{\"cert\": \"{}\", \"key\": \"{}\", "
      "\"cert_alt\": \"{}\", \"key_alt\": \"{}\"}}]}}",
      sb::json_escape(ec2().cert), sb::json_escape(ec2().key), sb::json_escape(rsa2().cert),
      sb::json_escape(rsa2().key));
  auto j = load(json);
  EXPECT_TRUE(j.ok()) << dump(j);
}

TEST(ConfigTlsCertificates, UnparsablePemIsAFieldError) {
  const std::string head = "_format_version: \"3.0\"\ncertificates:\n";
  // Line 3: "- cert: not a pem"; line 4: key.
  auto r = load(head + "- cert: not a pem\n  " + block("key", rsa1().key));
  auto e = only_error(r);
  EXPECT_EQ(e.entity, "certificates[0]");
  EXPECT_EQ(e.field, "cert");
  EXPECT_EQ(e.message.rfind("invalid certificate: x509.new: ", 0), 0u) << e.message;
  EXPECT_NE(e.message.find("no start line"), std::string::npos) << e.message;
  EXPECT_EQ(e.pos.line, 3);
  EXPECT_EQ(e.pos.column, 9);

  // Truncated base64 body: an ASN.1/PEM reason from OpenSSL; the key error is on line 4+.
  std::string broken = rsa1().cert.substr(0, 64) + "\n-----END CERTIFICATE-----\n";
  std::string text = head + cert_entry(broken, "garbage\n");
  r = load(text);
  ASSERT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_EQ(r.errors[0].field, "cert");
  EXPECT_EQ(r.errors[0].message.rfind("invalid certificate: x509.new: error:", 0), 0u)
      << r.errors[0].message;
  EXPECT_EQ(r.errors[0].pos.line, 3);
  EXPECT_EQ(r.errors[1].field, "key");
  EXPECT_EQ(r.errors[1].message.rfind("invalid key: pkey.new:load_key: error:", 0), 0u)
      << r.errors[1].message;
  EXPECT_EQ(r.errors[1].pos.line, 3 + lines_in(block("cert", broken)));
  // No "does not match" on top of a field error (Kong skips entity checks on invalid fields).
  EXPECT_EQ(dump(r).find("does not match"), std::string::npos);

  // A certificate where a key is expected, and vice versa.
  r = load(head + cert_entry(rsa1().key, rsa1().cert));
  ASSERT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_EQ(r.errors[0].field, "cert");
  EXPECT_EQ(r.errors[1].field, "key");

  // Type errors and missing fields keep their generic messages.
  e = only_error(load(head + "- cert: [1]\n  " + block("key", rsa1().key)));
  EXPECT_EQ(e.message, "expected a string");
  e = only_error(load(head + "- " + block("key", rsa1().key)));
  EXPECT_EQ(e.field, "cert");
  EXPECT_EQ(e.message, "required field missing");
  EXPECT_EQ(e.pos.line, 3);
}

TEST(ConfigTlsCertificates, EncryptedKeyIsRejectedWithoutPrompting) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  BIO* b = BIO_new(BIO_s_mem());
  const char* pass = "secret";
  PEM_write_bio_PrivateKey(b, key, EVP_aes_128_cbc(), nullptr, 0, nullptr, const_cast<char*>(pass));
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string encrypted(data, static_cast<size_t>(n));
  BIO_free(b);
  EVP_PKEY_free(key);
  auto e = only_error(
      load("_format_version: \"3.0\"\ncertificates:\n" + cert_entry(ec1().cert, encrypted)));
  EXPECT_EQ(e.field, "key");
  EXPECT_EQ(e.message.rfind("invalid key: pkey.new:load_key: ", 0), 0u) << e.message;
}

TEST(ConfigTlsCertificates, KeyMustMatchCertificate) {
  const std::string head =
      "_format_version: \"3.0\"\ncertificates:\n- id: " + std::string(kCertId) + "\n";
  auto e =
      only_error(load(head + "  " + block("cert", rsa1().cert) + "  " + block("key", rsa2().key)));
  EXPECT_EQ(e.entity, "certificates[0]");
  EXPECT_EQ(e.field, "");
  EXPECT_EQ(e.message, "certificate does not match key");
  EXPECT_EQ(e.pos.line, 3);  // the entity's mapping
  EXPECT_EQ(e.pos.column, 3);
  EXPECT_EQ(e.to_string(), "kong.yaml:3:3: certificates[0]: certificate does not match key");
  // Another key type does not match either.
  e = only_error(load(head + "  " + block("cert", rsa1().cert) + "  " + block("key", ec1().key)));
  EXPECT_EQ(e.message, "certificate does not match key");
}

TEST(ConfigTlsCertificates, AlternatePairRules) {
  const std::string head = "_format_version: \"3.0\"\ncertificates:\n";
  auto alt = [&](const std::string& rest) {
    return load(head + cert_entry(rsa1().cert, rsa1().key, rest));
  };
  // Both or neither.
  auto e = only_error(alt("  " + block("cert_alt", ec1().cert)));
  EXPECT_EQ(e.message, "all or none of these fields must be set: 'cert_alt', 'key_alt'");
  EXPECT_EQ(e.field, "");
  EXPECT_EQ(e.pos.line, 3);
  e = only_error(alt("  " + block("key_alt", ec1().key)));
  EXPECT_EQ(e.message, "all or none of these fields must be set: 'cert_alt', 'key_alt'");
  // The alternate key must match the alternate certificate.
  e = only_error(alt("  " + block("cert_alt", ec1().cert) + "  " + block("key_alt", ec2().key)));
  EXPECT_EQ(e.message, "alternative certificate does not match key");
  EXPECT_EQ(e.pos.line, 3);
  // ... and be of another key type than the main pair.
  e = only_error(alt("  " + block("cert_alt", rsa2().cert) + "  " + block("key_alt", rsa2().key)));
  EXPECT_EQ(e.message,
            "certificate and alternative certificate need to have different type (e.g. RSA and "
            "ECDSA), the provided certificates were both of the same type");
  EXPECT_EQ(e.field, "");
  EXPECT_EQ(e.pos.line, 3);
  // An unparsable alternate is a field error at its own line.
  std::string prefix = head + cert_entry(rsa1().cert, rsa1().key);
  auto r = load(prefix + "  cert_alt: nope\n  " + block("key_alt", ec1().key));
  e = only_error(r);
  EXPECT_EQ(e.field, "cert_alt");
  EXPECT_EQ(e.message.rfind("invalid certificate: x509.new: ", 0), 0u) << e.message;
  EXPECT_EQ(e.pos.line, lines_in(prefix) + 1);
  EXPECT_EQ(e.pos.column, 13);
}

TEST(ConfigTlsCertificates, VaultReferencesAreNotParsed) {
  auto r = load(
      "_format_version: \"3.0\"\ncertificates:\n"
      "- cert: \"{vault://env/cert}\"\n  key: \"{vault://env/key}\"\n"
      "  cert_alt: \"{vault://env/cert-alt}\"\n  key_alt: \"{vault://env/key-alt}\"\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.config->certificates[0].cert, "{vault://env/cert}");
  // A reference for the key only still skips the match check.
  r = load("_format_version: \"3.0\"\ncertificates:\n- " + block("cert", rsa1().cert) +
           "  key: \"{vault://env/key}\"\n");
  EXPECT_TRUE(r.ok()) << dump(r);
}

TEST(ConfigTlsSnis, NestedStringsRecordsAndTopLevelFillCertificateSnis) {
  std::string text = "_format_version: \"3.0\"\ncertificates:\n- id: " + std::string(kCertId) +
                     "\n  " + block("cert", rsa1().cert) + "  " + block("key", rsa1().key) +
                     "  snis:\n  - a.example\n  - name: \"*.b.example\"\n    tags: [x]\n"
                     "- id: " +
                     std::string(kCertId2) + "\n  " + block("cert", ec1().cert) + "  " +
                     block("key", ec1().key) +
                     "snis:\n"
                     "- name: c.example\n  certificate: " +
                     std::string(kCertId) +
                     "\n"
                     "- name: \"d.*\"\n  certificate: {id: " +
                     std::string(kCertId2) + "}\n";
  auto r = load(text);
  ASSERT_TRUE(r.ok()) << dump(r);
  const auto& cfg = *r.config;
  EXPECT_EQ(cfg.certificates[0].snis,
            (std::vector<std::string>{"a.example", "*.b.example", "c.example"}));
  EXPECT_EQ(cfg.certificates[1].snis, (std::vector<std::string>{"d.*"}));
  ASSERT_EQ(cfg.snis.size(), 4u);
  EXPECT_EQ(cfg.snis[0].name, "a.example");
  EXPECT_EQ(cfg.snis[0].certificate, 0);
  EXPECT_EQ(cfg.snis[0].id, checks::entity_uuid("snis", "a.example"));
  EXPECT_EQ(cfg.snis[1].tags, (std::vector<std::string>{"x"}));
  EXPECT_EQ(cfg.snis[3].certificate, 1);
  EXPECT_EQ(cfg.find_certificate(kCertId2), &cfg.certificates[1]);
  EXPECT_EQ(cfg.find_certificate("nope"), nullptr);
}

TEST(ConfigTlsSnis, NameRules) {
  struct Case {
    const char* name;
    const char* message;
  } cases[] = {
      {"\"*.*.example\"", "only one wildcard must be specified"},
      {"\"*.example.*\"", "only one wildcard must be specified"},
      {"\"a.*.example\"", "wildcard must be leftmost or rightmost character"},
      {"a.example:443", "must not have a port"},
      {"\"*.example:443\"", "must not have a port"},
      {"1.2.3.4", "must not be an IP"},
      {"\"a b.example\"", "invalid value: a b.example"},
      {"\"*.a_b!\"", "invalid value: wildcard.a_b!"},
  };
  for (const auto& c : cases) {
    // Top-level record: field `name`, line 4.
    auto e = only_error(load(fmt::format(
        "_format_version: \"3.0\"\ncertificates:\n- id: {}\n  cert: \"{{vault://e/c}}\"\n  "
        "key: \"{{vault://e/k}}\"\nsnis:\n- certificate: {}\n  name: {}\n",
        kCertId, kCertId, c.name)));
    EXPECT_EQ(e.field, "name") << c.name;
    EXPECT_EQ(e.message, c.message) << c.name;
    EXPECT_EQ(e.pos.line, 8) << c.name;
    EXPECT_EQ(e.pos.column, 9) << c.name;
    // Nested plain name: field `snis[1]` of the certificate, at the element.
    e = only_error(load(
        fmt::format("_format_version: \"3.0\"\ncertificates:\n- cert: \"{{vault://e/c}}\"\n  key: "
                    "\"{{vault://e/k}}\"\n  snis:\n  - ok.example\n  - {}\n",
                    c.name)));
    EXPECT_EQ(e.entity, "certificates[0]") << c.name;
    EXPECT_EQ(e.field, "snis[1]") << c.name;
    EXPECT_EQ(e.message, c.message) << c.name;
    EXPECT_EQ(e.pos.line, 7) << c.name;
    EXPECT_EQ(e.pos.column, 5) << c.name;
  }
  // Valid shapes: exact, leftmost and rightmost wildcards, a lone "*".
  auto r = load(
      "_format_version: \"3.0\"\ncertificates:\n- cert: \"{vault://e/c}\"\n  key: "
      "\"{vault://e/k}\"\n  snis: [a.example, \"*.example\", \"example.*\", \"*\", {name: "
      "x-y.example}]\n");
  EXPECT_TRUE(r.ok()) << dump(r);
  auto e =
      only_error(load("_format_version: \"3.0\"\ncertificates:\n- cert: \"{vault://e/c}\"\n  key: "
                      "\"{vault://e/k}\"\n  snis: [7]\n"));
  EXPECT_EQ(e.field, "snis[0]");
  EXPECT_EQ(e.message, "expected a string or a record");
}

TEST(ConfigTlsSnis, UniqueAcrossTheFile) {
  const std::string certs = fmt::format(
      "_format_version: \"3.0\"\ncertificates:\n- id: {}\n  cert: \"{{vault://e/c}}\"\n  key: "
      "\"{{vault://e/k}}\"\n  snis:\n  - a.example\n  - name: b.example\n",
      kCertId);
  // Nested string vs top-level record (line 10).
  auto e = only_error(
      load(certs + fmt::format("snis:\n- name: a.example\n  certificate: {}\n", kCertId)));
  EXPECT_EQ(e.message,
            "uniqueness violation: 'snis' entity with name set to 'a.example' already declared");
  EXPECT_EQ(e.entity, "snis[0] (name: a.example)");
  EXPECT_EQ(e.pos.line, 10);
  // Two nested entries (string then record) in two certificates.
  e = only_error(load(certs + fmt::format("- id: {}\n  cert: \"{{vault://e/c}}\"\n  key: "
                                          "\"{{vault://e/k}}\"\n  snis: [b.example]\n",
                                          kCertId2)));
  EXPECT_EQ(e.message,
            "uniqueness violation: 'snis' entity with name set to 'b.example' already declared");
  EXPECT_EQ(e.entity, "certificates[1].snis[0] (name: b.example)");
  EXPECT_EQ(e.pos.line, 12);
}

TEST(ConfigTlsSnis, CertificateReferenceMustResolve) {
  const std::string certs = fmt::format(
      "_format_version: \"3.0\"\ncertificates:\n- id: {}\n  cert: \"{{vault://e/c}}\"\n  key: "
      "\"{{vault://e/k}}\"\n",
      kCertId);
  auto e = only_error(
      load(certs + "snis:\n- name: a.example\n  certificate: " + std::string(kCertId2) + "\n"));
  EXPECT_EQ(e.field, "certificate");
  EXPECT_EQ(e.message,
            fmt::format("invalid reference 'certificate: {}' (no such entry in 'certificates')",
                        kCertId2));
  EXPECT_EQ(e.pos.line, 8);
  e = only_error(load(certs + "snis:\n- name: a.example\n"));
  EXPECT_EQ(e.field, "certificate");
  EXPECT_EQ(e.message, "required field missing");
  EXPECT_EQ(e.pos.line, 7);
  // Nested under a certificate, naming another existing one.
  e = only_error(load(certs + fmt::format("- id: {}\n  cert: \"{{vault://e/c}}\"\n  key: "
                                          "\"{{vault://e/k}}\"\n  snis:\n  - name: a.example\n"
                                          "    certificate: {}\n",
                                          kCertId2, kCertId)));
  EXPECT_EQ(e.message, "value must be null");
  EXPECT_EQ(e.pos.line, 11);
}

TEST(ConfigTlsRoutes, SnisNeedATlsProtocolAndRedirectCodes) {
  const std::string head = "_format_version: \"3.0\"\nroutes:\n- name: r\n  paths: [/]\n";
  auto e = only_error(load(head + "  protocols: [http]\n  snis: [a.example]\n"));
  EXPECT_EQ(e.field, "snis");
  EXPECT_EQ(e.message,
            "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or "
            "'tls_passthrough'");
  EXPECT_EQ(e.pos.line, 6);
  e = only_error(load(head + "  protocols: [grpc]\n  snis: [a.example]\n"));
  EXPECT_EQ(e.message,
            "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or "
            "'tls_passthrough'");
  // Default protocols include https; an empty list is fine with http (Kong: len_eq = 0).
  EXPECT_TRUE(load(head + "  snis: [a.example]\n").ok());
  EXPECT_TRUE(load(head + "  protocols: [https]\n  snis: [\"*.a.example\"]\n").ok());
  EXPECT_TRUE(load(head + "  protocols: [http]\n  snis: []\n").ok());
  auto r = load(
      "_format_version: \"3.0\"\nroutes:\n- name: t\n  protocols: [tls]\n  snis: [a.example]\n"
      "- name: p\n  protocols: [tls_passthrough]\n  snis: [b.example]\n"
      "- name: g\n  protocols: [grpcs]\n  snis: [c.example]\n");
  EXPECT_TRUE(r.ok()) << dump(r);
  e = only_error(load(head + "  snis: [\"a.*.example\"]\n"));
  EXPECT_EQ(e.field, "snis[0]");
  EXPECT_EQ(e.message, "wildcard must be leftmost or rightmost character");

  for (int code : {426, 301, 302, 307, 308}) {
    r = load(head + fmt::format("  https_redirect_status_code: {}\n", code));
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->routes[0].https_redirect_status_code, code);
  }
  EXPECT_EQ(load(head).config->routes[0].https_redirect_status_code, 426);
  e = only_error(load(head + "  https_redirect_status_code: 303\n"));
  EXPECT_EQ(e.field, "https_redirect_status_code");
  EXPECT_EQ(e.message, "expected one of: 426, 301, 302, 307, 308");
  EXPECT_EQ(e.pos.line, 5);
  e = only_error(load(head + "  https_redirect_status_code: \"301\"\n"));
  EXPECT_EQ(e.message, "expected an integer");
}

TEST(ConfigTlsServices, UpstreamTlsFields) {
  const std::string entities = fmt::format(
      "_format_version: \"3.0\"\ncertificates:\n- id: {}\n  cert: \"{{vault://e/c}}\"\n  key: "
      "\"{{vault://e/k}}\"\nca_certificates:\n- id: {}\n  {}",
      kCertId, kCaId, block("cert", ca1().cert));
  const int svc_line = lines_in(entities) + 2;  // "- name: s"
  auto svc = [&](const std::string& body) {
    return load(entities + "services:\n- name: s\n  host: up.example\n" + body);
  };
  auto r = svc(fmt::format(
      "  protocol: https\n  tls_verify: true\n  tls_verify_depth: 4\n  ca_certificates: "
      "[{}]\n  client_certificate: {}\n",
      kCaId, kCertId));
  ASSERT_TRUE(r.ok()) << dump(r);
  const auto& cfg = *r.config;
  const auto& s = cfg.services[0];
  EXPECT_EQ(s.tls_verify, true);
  EXPECT_EQ(s.tls_verify_depth, 4);
  ASSERT_EQ(s.ca_certificates, (std::vector<std::string>{kCaId}));
  EXPECT_EQ(cfg.find_ca_certificate(s.ca_certificates[0]), &cfg.ca_certificates[0]);
  ASSERT_TRUE(s.client_certificate.has_value());
  EXPECT_EQ(cfg.find_certificate(*s.client_certificate), &cfg.certificates[0]);
  // {id: ...} form, protocol tls, and the depth bounds.
  r = svc(fmt::format("  protocol: tls\n  tls_verify_depth: 0\n  client_certificate: {{id: {}}}\n",
                      kCertId));
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(*r.config->services[0].client_certificate, kCertId);
  EXPECT_TRUE(svc("  protocol: https\n  tls_verify_depth: 64\n").ok());
  auto e = only_error(svc("  protocol: https\n  tls_verify_depth: 65\n"));
  EXPECT_EQ(e.field, "tls_verify_depth");
  EXPECT_EQ(e.message, "value should be between 0 and 64");
  EXPECT_EQ(e.pos.line, svc_line + 3);
  e = only_error(svc("  protocol: https\n  tls_verify: \"yes\"\n"));
  EXPECT_EQ(e.message, "expected a boolean");
  // References must resolve.
  e = only_error(
      svc(fmt::format("  protocol: https\n  ca_certificates: [{}, {}]\n", kCaId, kCertId)));
  EXPECT_EQ(e.field, "ca_certificates[1]");
  EXPECT_EQ(e.message, fmt::format("invalid reference 'ca_certificates: {}' (no such entry in "
                                   "'ca_certificates')",
                                   kCertId));
  EXPECT_EQ(e.pos.line, svc_line + 3);
  e = only_error(svc("  protocol: https\n  ca_certificates: [not-a-uuid]\n"));
  EXPECT_EQ(e.field, "ca_certificates[0]");
  EXPECT_EQ(e.message, "expected a valid UUID");
  e = only_error(svc(fmt::format("  protocol: https\n  client_certificate: {}\n", kCaId)));
  EXPECT_EQ(e.field, "client_certificate");
  EXPECT_EQ(e.message, fmt::format("invalid reference 'client_certificate: {}' (no such entry in "
                                   "'certificates')",
                                   kCaId));
  EXPECT_EQ(e.pos.line, svc_line + 3);
  // Only with https / tls.
  for (const char* proto : {"http", "grpcs", "tcp"}) {
    for (std::string field : {std::string("tls_verify: true"), std::string("tls_verify_depth: 1"),
                              fmt::format("ca_certificates: [{}]", kCaId),
                              fmt::format("client_certificate: {}", kCertId)}) {
      e = only_error(svc(fmt::format("  protocol: {}\n  {}\n", proto, field)));
      EXPECT_EQ(e.field, field.substr(0, field.find(':'))) << proto << " " << field;
      EXPECT_EQ(e.message, "value must be null") << proto << " " << field;
      EXPECT_EQ(e.pos.line, svc_line + 3) << proto << " " << field;
    }
  }
  // The url shorthand sets the protocol too.
  EXPECT_TRUE(load(entities + "services:\n- name: s\n  url: https://up.example\n  tls_verify: "
                              "false\n")
                  .ok());
}

TEST(ConfigRobustness, NeverCrashes) {
  const char* inputs[] = {
      "_format_version: \"3.0\"\nservices: {a: b}\n",
      "_format_version: \"3.0\"\nservices: [1, [2], null, {host: [x]}]\n",
      "_format_version: \"3.0\"\nroutes: [{paths: {a: b}, hosts: 7, headers: [1]}]\n",
      "_format_version: \"3.0\"\nplugins: [{name: [x], config: [1], route: [1]}]\n",
      "_format_version: \"3.0\"\nupstreams: [{name: u, healthchecks: [1], targets: {}}]\n",
      "_format_version: \"3.0\"\nservices: [{host: a, port: 1e400, retries: .nan}]\n",
      "_format_version: [1]\n",
      "\x01\x02\xff\xfe binary junk \x00 here",
      "a: &a [*a]\n",
      "_format_version: \"3.0\"\nplugins:\n- name: x\n  config: &c {a: [1, 2]}\n- name: y\n"
      "  config: {b: *c}\n",
      "? [complex, key]\n: value\n",
  };
  for (const char* in : inputs) {
    auto r = load(in);
    EXPECT_FALSE(r.ok()) << in;
  }
  std::string deep = "_format_version: \"3.0\"\nplugins: [{name: x, config: {a: ";
  for (int i = 0; i < 5000; ++i) deep += "[";
  auto r = load(deep);
  EXPECT_FALSE(r.ok());
  std::string deep_map = "_format_version: \"3.0\"\nplugins: [{name: x, config: {a: ";
  for (int i = 0; i < 300; ++i) deep_map += "[";
  for (int i = 0; i < 300; ++i) deep_map += "]";
  deep_map += "}}]\n";
  EXPECT_FALSE(load(deep_map, with_plugins({"x"})).ok());
  EXPECT_FALSE(load_file("/nonexistent/kong.yaml").ok());
}

TEST(ConfigPerformance, TenThousandServices) {
  std::string text = "_format_version: \"3.0\"\nservices:\n";
  for (int i = 0; i < 10000; ++i)
    text += fmt::format(
        "- name: s{0}\n  url: http://h{0}.example:8080/p\n  routes:\n"
        "  - name: r{0}\n    paths: [/p{0}]\n    hosts: [h{0}.example]\n",
        i);
  auto start = std::chrono::steady_clock::now();
  auto r = load(text);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.config->routes.size(), 10000u);
  EXPECT_EQ(r.config->routes[9999].service, 9999);
  // Generous bound so Debug/sanitizer builds pass; Release is far below a second.
  EXPECT_LT(ms, 20000);
  std::printf("[ perf     ] 10000 services + routes loaded in %lld ms\n",
              static_cast<long long>(ms));
}

// ---------------------------------------------------------------------------------------------
// Corpus sweep. `kong` = what Kong 3.9 (default settings, bundled plugins) does with the file;
// `ours` = what this loader does with bundled plugins enabled. They differ only where a
// plugin-provided entity (credentials) appears: no plugin host yet, so those keys are unknown.

struct Expectation {
  bool kong_accepts;
  bool we_accept;
  const char* first_error;  // substring of our first error (bundled plugins), when rejected
  const char* reason;
};

const std::map<std::string, Expectation>& corpus_table() {
  static const std::map<std::string, Expectation> table = {
      {"001-kong-config-init-template.yaml", {true, true, "", ""}},
      {"002-kong-fixture-burst.yml", {true, true, "", ""}},
      {"003-kong-cmd-config-import.yaml", {true, true, "", ""}},
      {"004-kong-cmd-config-import-errors.yaml",
       {false, false, "host: expected a string", "host is a list, port -23, routes is a number"}},
      {"005-kong-cmd-config-parse-basicauth.yaml",
       {true, false, "basicauth_credentials: unknown field", "credentials need the plugin host"}},
      {"006-kong-off-pk-uniqueness.yaml",
       {false, false, "entity with primary key set to", "two services share one id"}},
      {"007-kong-off-name-uniqueness.yaml",
       {false, false, "with name set to 'foo' already declared", "two services named foo"}},
      {"008-kong-off-custom-id-uniqueness.yaml",
       {false, false, "with custom_id set to 'conflict'", "two consumers share custom_id"}},
      {"009-kong-off-stream-tcp-route.yaml", {true, true, "", ""}},
      {"010-kong-off-upstream-target-no-port.yaml", {true, true, "", ""}},
      {"011-kong-validate-format-version-number.yaml",
       {false, false, "_format_version: expected a string", "unquoted 1.1 is a number"}},
      {"012-kong-validate-format-version-foobar.yaml",
       {false, false, "expected one of: 1.1, 2.1, 3.0", "unknown format version"}},
      {"013-kong-validate-service-fields.yaml",
       {false, false, "retries: value should be between 0 and 32767", "five bad service fields"}},
      {"014-kong-validate-plugin-not-enabled.yaml",
       {false, false, "plugin 'foo' not enabled", "plugin foo does not exist"}},
      {"015-kong-validate-route-no-match-fields.yaml",
       {false, false, "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis'",
        "route without any matching field"}},
      {"016-kong-validate-route-path-no-slash.yaml",
       {false, false, "should start with: / (fixed path) or ~/ (regex path)", "path 'bla'"}},
      {"017-kong-flatten-missing-references.yaml",
       {false, false, "invalid reference 'service: svc1'", "plugin references missing entities"}},
      {"018-kong-flatten-issue-5750.json",
       {false, false, "basicauth_credentials: unknown field",
        "route 'does-not-exist' is unresolvable (Kong); credentials also unknown to us"}},
      {"019-kong-flatten-issue-7696.yaml",
       {false, false, "invalid reference 'service: {\"id\":\"769bdf51",
        "nested route references a service id that does not exist"}},
      {"020-kong-flatten-issue-7620-anchors.yaml", {true, true, "", ""}},
      {"021-kong-migration-invalid-regex.yaml",
       {false, false, "invalid regex: '/regex.+('", "unbalanced parenthesis in a regex path"}},
      {"022-deck-validate-kong.yaml", {true, true, "", ""}},
      {"023-deck-validate-kong-ee.yaml",
       {true, false, "keyauth_credentials: unknown field", "credentials need the plugin host"}},
      {"024-deck-validate-rbac-resources.yaml",
       {false, false, "_konnect: unknown field", "decK/Konnect key and Enterprise rbac_roles"}},
      {"025-deck-validate-konnect-no-version.yaml",
       {false, false, "_format_version: required field missing", "no _format_version"}},
      {"026-deck-convert-28x-routes.yaml", {true, true, "", ""}},
      {"027-deck-convert-28x-plugins.yaml",
       {false, false, "service.id: required field missing",
        "route references its service as {name: ...}; Kong also rejects removed plugin fields"}},
      {"028-deck-convert-run-on.yaml",
       {false, false, "run_on: unknown field", "plugin run_on was removed in 3.0"}},
      {"029-deck-convert-info-defaults.yaml",
       {false, false, "_info: unknown field", "decK-only _info key"}},
      {"030-deck-convert-ai-rla.yaml",
       {false, false, "host: required field missing",
        "services without host; Enterprise ai-* plugins"}},
      {"031-deck-convert-ee-plugins-wss.yaml",
       {false, false, "protocol: expected one of", "protocol wss and Enterprise plugins"}},
      {"032-deck-file-format-consumer-groups.yaml",
       {false, false, "consumer_groups: unknown field", "consumer groups are Enterprise"}},
      {"033-deck-diff-workspace.yaml",
       {false, false, "_workspace: unknown field", "decK-only _workspace key"}},
      {"034-deck-diff-jwt-global.yaml", {true, true, "", ""}},
      {"035-deck-diff-request-transformer-rename.yaml", {true, true, "", ""}},
      {"036-deck-diff-target-ipv6.yaml", {true, true, "", ""}},
      {"037-gdr-sync-vaults-env.yaml", {true, true, "", ""}},
      {"038-gdr-sync-plugin-ordering.yaml",
       {false, false, "ordering: unknown field", "plugin ordering is Enterprise"}},
      {"039-gdr-sync-target-failover.yaml",
       {false, false, "failover: unknown field", "target failover is Enterprise"}},
      {"040-gdr-sync-service-tls-sans.yaml",
       {false, false, "tls_sans: unknown field", "service tls_sans is Enterprise"}},
      {"041-gdr-sync-rate-limiting-redis-deprecated.yaml", {true, true, "", ""}},
      {"042-gdr-sync-ca-certificate-expired.yaml",
       {false, false, "certificate expired", "CA certificate expired in 2022"}},
      {"043-gdr-file-consumers-no-version.json",
       {false, false, "_format_version: required field missing", "no _format_version"}},
      {"044-gdr-file-filter-chains.yaml",
       {false, false, "_format_version: required field missing",
        "no _format_version; filter_chains nested in services/routes"}},
      {"045-kic-credentials.yaml",
       {true, false, "acls: unknown field", "credentials need the plugin host"}},
      {"046-kic-httproute.yaml", {true, true, "", ""}},
      {"047-kic-upstream-policy-healthchecks.yaml", {true, true, "", ""}},
      {"048-kic-tcproute.yaml", {true, true, "", ""}},
      {"049-kic-tlsroute.yaml", {true, true, "", ""}},
      {"050-kic-udproute.yaml", {true, true, "", ""}},
      {"051-kic-grpcroute.yaml", {true, true, "", ""}},
      {"052-kic-plugin-instance-name.yaml", {true, true, "", ""}},
      {"053-kic-httproute-expression-routes.yaml",
       {false, false, "must set one of",
        "expression/priority need router_flavor=expressions (unknown fields by default)"}},
      {"054-kic-consumer-groups-ee.yaml",
       {false, false, "consumer_group_consumers: unknown field", "consumer groups are Enterprise"}},
      {"055-insomnia-o2k-petstore.json", {true, true, "", ""}},
      {"056-insomnia-o2k-security.json",
       {false, false, "plugin 'openid-connect' not enabled", "openid-connect is Enterprise"}},
      {"057-docker-kong-compose-minimal.yaml", {true, true, "", ""}},
      {"058-docker-kong-pr514-load-balancing.yaml",
       {true, false, "keyauth_credentials: unknown field", "credentials need the plugin host"}},
      {"059-supabase-docker-kong.yml",
       {true, false, "keyauth_credentials: unknown field", "credentials need the plugin host"}},
      {"060-backendworks-nestjs-kong.yml", {true, true, "", ""}},
  };
  return table;
}

TEST(ConfigCorpus, Sweep) {
  namespace fs = std::filesystem;
  const fs::path dir = SB_CORPUS_DIR;
  if (!fs::is_directory(dir)) GTEST_SKIP() << "corpus not found at " << dir;
  const auto& table = corpus_table();
  size_t seen = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    auto ext = entry.path().extension();
    if (!entry.is_regular_file() || (ext != ".yaml" && ext != ".yml" && ext != ".json")) continue;
    ++seen;
    auto it = table.find(name);
    ASSERT_NE(it, table.end()) << "no expectation for " << name;
    const Expectation& want = it->second;

    // Without enabled plugins, a file declaring any plugin fails with the not-enabled message.
    auto plain = load_file(entry.path().string());
    bool declares_plugin = false;
    for (const auto& e : plain.errors)
      if (e.message.find("not enabled; add it to the 'plugins' configuration property") !=
          std::string::npos)
        declares_plugin = true;
    if (declares_plugin) {
      EXPECT_FALSE(plain.ok()) << name;
    }
    if (!declares_plugin && want.we_accept) {
      EXPECT_TRUE(plain.ok()) << name << "\n" << dump(plain);
    }

    auto r = load_file(entry.path().string(), bundled());
    EXPECT_EQ(r.ok(), want.we_accept) << name << "\n" << dump(r);
    if (!want.we_accept && !r.errors.empty()) {
      EXPECT_NE(r.errors[0].to_string().find(want.first_error), std::string::npos)
          << name << ": first error was: " << r.errors[0].to_string() << " (" << want.reason << ")";
      EXPECT_EQ(r.errors[0].file, entry.path().string());
      EXPECT_GT(r.errors[0].pos.line, 0) << name;
    }
    if (want.kong_accepts != want.we_accept) {  // only plugin-entity files may diverge
      EXPECT_NE(std::string(want.reason).find("credentials"), std::string::npos) << name;
    }
  }
  EXPECT_EQ(seen, table.size());
}

}  // namespace
}  // namespace sb::config
