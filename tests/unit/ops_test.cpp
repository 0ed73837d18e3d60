// Operations: node settings (kong.conf syntax, precedence), metrics rendering, access-log lines
// and buffering, POST /config input and Kong's declarative error bodies.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "admin/declarative.h"
#include "config/loader.h"
#include "proxy/access_log.h"
#include "proxy/conf.h"
#include "proxy/metrics.h"
#include "proxy/snapshot.h"

namespace sb::proxy {
namespace {

std::string temp_file(const std::string& name, const std::string& text) {
  auto dir = std::filesystem::temp_directory_path() / fmt::format("sb-ops-{}", getpid());
  std::filesystem::create_directories(dir);
  auto path = (dir / name).string();
  std::ofstream(path) << text;
  return path;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---------------------------------------------------------------------------------------------
// kong.conf syntax

TEST(ConfText, KeyValueCommentsAndEscapes) {
  std::vector<ConfEntry> e;
  std::string err;
  ASSERT_TRUE(
      parse_conf_text("# a comment\n\n  Proxy_Listen = 0.0.0.0:9000   # trailing\r\n"
                      "real_ip_header=X-Forwarded-For\n"
                      "headers = off\n"
                      "log_level = \\#not a comment\n"
                      "empty =\n",
                      e, err))
      << err;
  ASSERT_EQ(e.size(), 5u);
  EXPECT_EQ(e[0].key, "proxy_listen");
  EXPECT_EQ(e[0].value, "0.0.0.0:9000");
  EXPECT_EQ(e[0].line, 3);
  EXPECT_EQ(e[1].key, "real_ip_header");
  EXPECT_EQ(e[1].value, "X-Forwarded-For");
  EXPECT_EQ(e[3].value, "#not a comment");
  EXPECT_EQ(e[4].value, "");
}

TEST(ConfText, MalformedLinesNameTheLine) {
  std::vector<ConfEntry> e;
  std::string err;
  EXPECT_FALSE(parse_conf_text("a = 1\njust words\n", e, err));
  EXPECT_EQ(err, "line 2: expected 'name = value', got 'just words'");
  e.clear();
  EXPECT_FALSE(parse_conf_text("= 1\n", e, err));
  EXPECT_EQ(err, "line 1: missing name before '='");
  e.clear();
  EXPECT_FALSE(parse_conf_text("bad-name = 1\n", e, err));
  EXPECT_EQ(err, "line 1: invalid name 'bad-name'");
}

TEST(ConfText, TellsConfFromDeclarativeConfig) {
  EXPECT_TRUE(looks_like_conf("# kong.conf\nproxy_listen = 0.0.0.0:8000\n"));
  EXPECT_FALSE(looks_like_conf("_format_version: \"3.0\"\nservices: []\n"));
  EXPECT_FALSE(looks_like_conf("# kong.yaml\nservices:\n  - url: http://x/?a=b\n"));
  EXPECT_FALSE(looks_like_conf("{\"_format_version\": \"3.0\", \"x\": \"a=b\"}"));
  EXPECT_FALSE(looks_like_conf(""));
}

// ---------------------------------------------------------------------------------------------
// Settings values

TEST(Settings, KongValueSyntax) {
  Settings s;
  std::string err;
  ASSERT_TRUE(apply_setting(s, "plugins", "bundled, my-plugin ,, off", err)) << err;
  EXPECT_EQ(s.plugins, (std::vector<std::string>{"bundled", "my-plugin", "off"}));
  EXPECT_EQ(Settings().plugins, std::vector<std::string>{"bundled"});
  ASSERT_TRUE(apply_setting(s, "plugins_dir", "/opt/plugins", err));
  EXPECT_EQ(s.plugins_dir, "/opt/plugins");
  ASSERT_TRUE(apply_setting(s, "nginx_worker_processes", "3", err));
  EXPECT_EQ(s.workers, 3);
  ASSERT_TRUE(apply_setting(s, "nginx_worker_processes", "auto", err));
  EXPECT_GE(s.workers, 1);
  EXPECT_FALSE(apply_setting(s, "nginx_worker_processes", "0", err));
  ASSERT_TRUE(apply_setting(s, "nginx_http_client_max_body_size", "10m", err));
  EXPECT_EQ(s.client_max_body_size, 10 * 1024 * 1024);
  ASSERT_TRUE(apply_setting(s, "upstream_keepalive_idle_timeout", "30", err));
  EXPECT_EQ(s.upstream_keepalive_idle_timeout_ms, 30000);  // Kong's unit: seconds
  ASSERT_TRUE(apply_setting(s, "real_ip_recursive", "on", err));
  EXPECT_TRUE(s.real_ip_recursive);
  ASSERT_TRUE(apply_setting(s, "proxy_access_log", "logs/proxy.log custom_fmt", err));
  EXPECT_EQ(s.proxy_access_log, "logs/proxy.log");
  ASSERT_TRUE(apply_setting(s, "log_level", "warn", err));
  EXPECT_EQ(s.log_level, sb::log::Level::warn);
  ASSERT_TRUE(apply_setting(s, "trusted_ips", "10.0.0.0/8, ::1, unix:", err));
  EXPECT_EQ(s.trusted_ips.size(), 2u);
  ASSERT_TRUE(apply_setting(s, "admin_listen", "off", err));
  EXPECT_TRUE(s.admin_listen.empty());
  ASSERT_TRUE(apply_setting(s, "database", "off", err));
}

TEST(Settings, BadValuesAndUnknownNames) {
  Settings s;
  std::string err;
  EXPECT_FALSE(apply_setting(s, "database", "postgres", err));
  EXPECT_EQ(err, "database: silverback runs DB-less only; the only value is off");
  EXPECT_FALSE(apply_setting(s, "log_level", "loud", err));
  EXPECT_FALSE(apply_setting(s, "proxy_listen", "nope:port", err));
  EXPECT_FALSE(apply_setting(s, "real_ip_recursive", "maybe", err));
  EXPECT_FALSE(apply_setting(s, "trusted_ips", "1.2.3.4/99", err));
  bool unknown = false;
  EXPECT_FALSE(apply_setting(s, "mem_cache_size", "128m", err, &unknown));
  EXPECT_TRUE(unknown);
  EXPECT_FALSE(apply_setting(s, "log_level", "loud", err, &unknown));
  EXPECT_FALSE(unknown);
}

TEST(Settings, PrecedenceDefaultsFileEnvFlags) {
  std::string conf = temp_file("kong.conf",
                               "nginx_worker_processes = 2\n"
                               "proxy_listen = 127.0.0.1:9100\n"
                               "real_ip_header = X-From-File\n"
                               "log_level = info\n"
                               "database = off\n"
                               "mem_cache_size = 128m\n"
                               "anonymous_reports = off\n");
  std::map<std::string, std::string> env = {{"KONG_NGINX_WORKER_PROCESSES", "3"},
                                            {"KONG_REAL_IP_HEADER", "X-From-Env"},
                                            {"KONG_PREFIX", "/srv/sb"},
                                            {"KONG_UNRELATED", "x"}};
  SettingsSources src;
  src.conf_file = conf;
  src.getenv = [&](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  src.flags = {{"workers", "1"}};
  Settings s;
  auto out = resolve_settings(src, s);
  ASSERT_TRUE(out.ok()) << out.errors.front();
  EXPECT_EQ(s.workers, 1);                       // flag > env > file
  EXPECT_EQ(s.real_ip_header, "X-From-Env");     // env > file
  EXPECT_EQ(s.proxy_listen.at(0).port, 9100);    // file > default
  EXPECT_EQ(s.admin_listen.at(0).port, 8001);    // default
  EXPECT_EQ(s.log_level, sb::log::Level::info);  // file
  EXPECT_EQ(s.prefix, "/srv/sb");                // KONG_PREFIX
  ASSERT_EQ(out.warnings.size(), 1u);            // unused Kong settings are named, not fatal
  EXPECT_NE(out.warnings[0].find("mem_cache_size, anonymous_reports"), std::string::npos);

  Settings s2;
  src.flags.clear();
  ASSERT_TRUE(resolve_settings(src, s2).ok());
  EXPECT_EQ(s2.workers, 3);
  env.clear();
  Settings s3;
  ASSERT_TRUE(resolve_settings(src, s3).ok());
  EXPECT_EQ(s3.workers, 2);
  EXPECT_EQ(s3.prefix, default_prefix());
}

TEST(Settings, ErrorsNameTheirSource) {
  std::string conf = temp_file("bad.conf", "log_level = loud\nproxy_listen = 0.0.0.0:8000\n");
  SettingsSources src;
  src.conf_file = conf;
  src.getenv = [](const char* n) -> const char* {
    return std::string_view(n) == "KONG_HEADERS" ? "Bogus-Header" : nullptr;
  };
  src.flags = {{"no_such_flag", "1"}};
  Settings s;
  auto out = resolve_settings(src, s);
  ASSERT_EQ(out.errors.size(), 3u);
  EXPECT_EQ(out.errors[0], conf + ":1: log_level: invalid log_level 'loud'");
  EXPECT_EQ(out.errors[1], "KONG_HEADERS: headers: invalid entry 'Bogus-Header'");
  EXPECT_EQ(out.errors[2], "unknown setting 'no_such_flag'");
  SettingsSources missing;
  missing.conf_file = "/nonexistent/kong.conf";
  missing.getenv = [](const char*) -> const char* { return nullptr; };
  EXPECT_EQ(resolve_settings(missing, s).errors.at(0), "no file at: /nonexistent/kong.conf");
}

TEST(Settings, PrefixPaths) {
  EXPECT_EQ(prefix_path("/p", "logs/access.log"), "/p/logs/access.log");
  EXPECT_EQ(prefix_path("/p", "/var/log/a.log basic"), "/var/log/a.log");
  EXPECT_EQ(prefix_path("/p", "/dev/stdout"), "/dev/stdout");
  EXPECT_EQ(prefix_path("/p", "off"), "off");
  EXPECT_EQ(pid_file_path("/p"), "/p/pids/silverback.pid");
}

// ---------------------------------------------------------------------------------------------
// Metrics

std::shared_ptr<const Snapshot> snapshot_of(const std::string& yaml, uint64_t generation) {
  auto r = sb::config::load_string(yaml, "kong.yaml");
  EXPECT_TRUE(r.ok());
  std::vector<std::string> errors;
  return build_snapshot(std::move(*r.config), sb::router::Flavor::traditional, generation, &errors);
}

// The sample lines of a rendering: name{labels} -> value.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    out[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return out;
}

TEST(Metrics, CountsHistogramsAndLabelsAcrossReloads) {
  const std::string yaml = R"(_format_version: "3.0"
services:
  - name: svc
    url: http://127.0.0.1:1
    routes:
      - name: r1
        paths: [/a]
  - host: bare.host
    routes:
      - paths: [/b]
        id: 6a38f15e-bfa5-5fd5-9da5-0f8cf7e34b7d
)";
  auto snap = snapshot_of(yaml, 1);
  metrics::WorkerMetrics w1, w2;
  const auto& cfg = snap->config;
  w1.record(*snap, cfg.routes[0], &cfg.services[0], {200, true, 30, 20, 3});
  w1.record(*snap, cfg.routes[0], &cfg.services[0], {200, true, 7000, 6500, 0});
  w2.record(*snap, cfg.routes[0], &cfg.services[0], {502, false, 1, -1, 1});
  w2.record(*snap, cfg.routes[1], &cfg.services[1], {404, true, 0, 0, 0});
  // A reload: same labels, new Snapshot, the series carry on.
  auto snap2 = snapshot_of(yaml, 2);
  w1.record(*snap2, snap2->config.routes[0], &snap2->config.services[0], {200, true, 1, 1, 0});

  metrics::Scrape s;
  s.node_id = "node\"1";
  s.version = "0.1.0";
  s.config_hash = "abc";
  s.requests = 9;
  s.reloads_ok = 2;
  w1.visit([&](const metrics::RouteSeries& r) { s.add(r); });
  w2.visit([&](const metrics::RouteSeries& r) { s.add(r); });
  std::string text = metrics::render(s);
  auto m = samples(text);
  EXPECT_EQ(
      m["kong_http_requests_total{service=\"svc\",route=\"r1\",code=\"200\",source=\"service\","
        "workspace=\"default\",consumer=\"\"}"],
      "3");
  EXPECT_EQ(m["kong_http_requests_total{service=\"svc\",route=\"r1\",code=\"502\",source=\"kong\","
              "workspace=\"default\",consumer=\"\"}"],
            "1");
  // Unnamed service: host; unnamed route: id.
  EXPECT_EQ(
      m["kong_http_requests_total{service=\"bare.host\",route=\"6a38f15e-bfa5-5fd5-9da5-"
        "0f8cf7e34b7d\",code=\"404\",source=\"service\",workspace=\"default\",consumer=\"\"}"],
      "1");
  const std::string l = "service=\"svc\",route=\"r1\",workspace=\"default\"";
  // Cumulative buckets; +Inf equals _count.
  EXPECT_EQ(m["kong_request_latency_ms_bucket{" + l + ",le=\"25\"}"], "2");  // 1, 1
  EXPECT_EQ(m["kong_request_latency_ms_bucket{" + l + ",le=\"50\"}"], "3");  // + 30
  EXPECT_EQ(m["kong_request_latency_ms_bucket{" + l + ",le=\"5000\"}"], "3");
  EXPECT_EQ(m["kong_request_latency_ms_bucket{" + l + ",le=\"10000\"}"], "4");  // + 7000
  EXPECT_EQ(m["kong_request_latency_ms_bucket{" + l + ",le=\"+Inf\"}"], "4");
  EXPECT_EQ(m["kong_request_latency_ms_count{" + l + "}"], "4");
  EXPECT_EQ(m["kong_request_latency_ms_sum{" + l + "}"], "7032");
  EXPECT_EQ(m["kong_upstream_latency_ms_count{" + l + "}"], "3");  // the 502 had no upstream
  EXPECT_EQ(m["kong_kong_latency_ms_bucket{" + l + ",le=\"1\"}"], "3");
  EXPECT_EQ(m["kong_kong_latency_ms_bucket{" + l + ",le=\"5\"}"], "4");
  EXPECT_EQ(m["kong_nginx_requests_total{node_id=\"node\\\"1\",subsystem=\"http\"}"], "9");
  EXPECT_EQ(m["silverback_config_reloads_total{result=\"success\"}"], "2");
  EXPECT_EQ(m["silverback_config_hash{hash=\"abc\"}"], "1");
  EXPECT_EQ(m["kong_datastore_reachable"], "1");
  // Every family is declared once, before its samples.
  std::regex type_re("^# TYPE (\\S+) (counter|gauge|histogram)$");
  std::istringstream in(text);
  std::string line, current;
  std::map<std::string, int> declared;
  while (std::getline(in, line)) {
    std::smatch mm;
    if (std::regex_match(line, mm, type_re)) {
      current = mm[1];
      EXPECT_EQ(++declared[current], 1) << current;
    } else if (!line.empty() && line[0] != '#') {
      EXPECT_EQ(line.rfind(current, 0), 0u) << line << " outside family " << current;
    }
  }
  EXPECT_EQ(declared.size(), 12u);  // with kong_upstream_target_health
}

// ---------------------------------------------------------------------------------------------
// Access log

TEST(AccessLog, LineFormatAndEscaping) {
  AccessLogFields f;
  f.remote_addr = "10.0.0.1";
  f.time_local = "26/Nov/2026:10:00:00 +0000";
  f.method = "GET";
  f.target = "/a?b=\"c\"";
  f.status = 200;
  f.body_bytes_sent = 612;
  f.user_agent = "agent\x01";
  f.request_id = "abc";
  f.kong_latency = 1;
  f.upstream_latency = 3;
  f.request_latency = 4;
  std::string out;
  append_access_line(out, f);
  EXPECT_EQ(out,
            "10.0.0.1 - - [26/Nov/2026:10:00:00 +0000] \"GET /a?b=\\x22c\\x22 HTTP/1.1\" 200 612 "
            "\"-\" \"agent\\x01\" kong_request_id: \"abc\" kong_latency: 1 upstream_latency: 3 "
            "request_latency: 4\n");
  f.upstream_latency = -1;
  f.http_minor = 0;
  out.clear();
  append_access_line(out, f);
  EXPECT_NE(out.find("HTTP/1.0\""), std::string::npos);
  EXPECT_NE(out.find("upstream_latency: - "), std::string::npos);
  f.method = {};  // no request line
  out.clear();
  append_access_line(out, f);
  EXPECT_NE(out.find("+0000] \"-\" 200 612 "), std::string::npos) << out;
}

TEST(AccessLog, WritesEverythingAndBoundsMemory) {
  std::string path = temp_file("access.log", "");
  std::string err;
  {
    auto log = AccessLogFile::open(path, 2, &err);
    ASSERT_TRUE(log) << err;
    for (int i = 0; i < 1000; ++i) {
      auto& ch = log->channel(static_cast<size_t>(i % 2));
      std::string* b = ch.line_buffer();
      ASSERT_NE(b, nullptr);
      *b += fmt::format("line {}\n", i);
      if (i % 100 == 0) ch.flush();
    }
    // Never flushed: the buffer fills up, then lines are dropped and counted.
    auto& ch = log->channel(0);
    std::string big(1000, 'x');
    big += '\n';
    int accepted = 0;
    while (std::string* b = ch.line_buffer()) {
      *b += big;
      ++accepted;
    }
    EXPECT_EQ(ch.line_buffer(), nullptr);
    EXPECT_EQ(log->dropped(), 2u);
    EXPECT_GT(accepted, 1000);
  }  // destruction writes what is left
  std::string text = slurp(path);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_NE(text.find(fmt::format("line {}\n", i)), std::string::npos) << i;
  }
}

TEST(AccessLog, FailedWritesAreCountedAsDropped) {
  std::string err;
  auto log = AccessLogFile::open("/dev/full", 1, &err);
  ASSERT_TRUE(log) << err;
  auto& ch = log->channel(0);
  *ch.line_buffer() += "a\nb\nc\n";
  EXPECT_FALSE(ch.flush());
  for (int i = 0; i < 500 && log->dropped() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(log->dropped(), 3u);
}

TEST(AccessLog, ReopenWritesToTheNewFile) {
  std::string path = temp_file("rotate.log", "");
  std::string err;
  auto log = AccessLogFile::open(path, 1, &err);
  ASSERT_TRUE(log) << err;
  auto& ch = log->channel(0);
  *ch.line_buffer() += "before\n";
  ch.flush();
  for (int i = 0; i < 500 && slurp(path).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::filesystem::rename(path, path + ".1");
  ASSERT_EQ(log->reopen(), "");
  while (ch.flush()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  *ch.line_buffer() += "after\n";
  log.reset();
  EXPECT_EQ(slurp(path + ".1"), "before\n");
  EXPECT_EQ(slurp(path), "after\n");
}

}  // namespace
}  // namespace sb::proxy

// ---------------------------------------------------------------------------------------------
// POST /config

namespace sb::admin {
namespace {

std::vector<sb::config::Error> errors_of(const std::string& yaml) {
  auto r = sb::config::load_string(yaml, "POST /config");
  EXPECT_FALSE(r.ok());
  return r.errors;
}

TEST(PostConfig, FindsTheConfigInEveryBodyKind) {
  Params p;
  EXPECT_EQ(config_from_body("application/json", R"({"_format_version":"3.0","services":[]})", p),
            R"({"_format_version":"3.0","services":[]})");
  EXPECT_EQ(config_from_body("application/json; charset=utf-8",
                             R"({"config":"a: \"b\"\nc: \u00e9","check_hash":1})", p),
            "a: \"b\"\nc: \xc3\xa9");
  EXPECT_EQ(p["check_hash"], "1");
  EXPECT_EQ(config_from_body("application/json", R"({"config":{"_format_version":"3.0"}})", p),
            R"({"_format_version":"3.0"})");
  p.clear();
  EXPECT_EQ(config_from_body("application/x-www-form-urlencoded",
                             "flatten_errors=on&config=_format_version%3A+%223.0%22%0A", p),
            "_format_version: \"3.0\"\n");
  EXPECT_EQ(p["flatten_errors"], "on");
  EXPECT_EQ(config_from_body("multipart/form-data; boundary=XyZ",
                             "--XyZ\r\nContent-Disposition: form-data; name=\"config\"\r\n\r\n"
                             "_format_version: \"3.0\"\r\n--XyZ--\r\n",
                             p),
            "_format_version: \"3.0\"");
  EXPECT_EQ(config_from_body("text/yaml", "services: []\n", p), "services: []\n");
  EXPECT_EQ(config_from_body("", "", p), "");
  EXPECT_TRUE(truthy("YES") && truthy("1") && truthy("on") && truthy("true"));
  EXPECT_FALSE(truthy("0") || truthy("off") || truthy(""));
}

// The bodies of Kong's spec/02-integration/04-admin_api/15-off_spec.lua.
TEST(PostConfig, KongErrorBodies) {
  EXPECT_EQ(declarative_error_body(errors_of("bobby tables"), "bobby tables", false),
            R"({"code":14,"name":"invalid declarative configuration","message":"declarative )"
            R"(config is invalid: {error=\"failed parsing declarative configuration: expected )"
            R"(an object\"}","fields":{"error":"failed parsing declarative configuration: )"
            R"(expected an object"}})");
  std::string bad_port = "_format_version: \"1.1\"\nservices:\n- port: -12\n";
  EXPECT_EQ(declarative_error_body(errors_of(bad_port), bad_port, false),
            R"({"code":14,"name":"invalid declarative configuration","message":"declarative )"
            R"(config is invalid: {services={{host=\"required field missing\",port=\"value )"
            R"(should be between 0 and 65535\"}}}","fields":{"services":[{"host":"required )"
            R"(field missing","port":"value should be between 0 and 65535"}]}})");
  std::string dup =
      "_format_version: \"1.1\"\nservices:\n- name: foo\n  host: example.com\n"
      "- name: foo\n  host: example.test\n";
  EXPECT_EQ(declarative_error_body(errors_of(dup), dup, false),
            R"({"code":14,"name":"invalid declarative configuration","message":"declarative )"
            R"(config is invalid: {services={[2]=\"uniqueness violation: 'services' entity with )"
            R"(name set to 'foo' already declared\"}}","fields":{"services":[null,"uniqueness )"
            R"(violation: 'services' entity with name set to 'foo' already declared"]}})");
}

TEST(PostConfig, NestedFieldsAndFlattenedErrors) {
  std::string yaml = R"(_format_version: "3.0"
services:
  - name: s
    id: 0855b320-0dd2-547d-891d-601e9b38647f
    url: http://example.test
    tags: [svc]
    routes:
      - name: ok
        paths: [/ok]
      - name: r
        paths: [/fine, nope]
        bogus: 1
abnormal_extra_field: 1
)";
  auto errors = errors_of(yaml);
  std::string plain = declarative_error_body(errors, yaml, false);
  EXPECT_NE(
      plain.find(R"x("fields":{"abnormal_extra_field":"unknown field","services":[{"routes":)x"
                 R"x([null,{"bogus":"unknown field","paths":[null,"should start with: / )x"
                 R"x((fixed path) or ~/ (regex path)"]}]}]})x"),
      std::string::npos)
      << plain;
  EXPECT_NE(plain.find(R"x(paths={[2]=\"should start with)x"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("flattened_errors"), std::string::npos);

  std::string flat = declarative_error_body(errors, yaml, true);
  // Top-level field errors stay in `fields`; entity errors move to flattened_errors.
  EXPECT_NE(flat.find(R"x("fields":{"abnormal_extra_field":"unknown field"},)x"), std::string::npos)
      << flat;
  EXPECT_NE(flat.find(R"x("flattened_errors":[{"entity_type":"route","entity_name":"r",)x"
                      R"x("entity":{"name":"r","paths":["/fine","nope"],"bogus":1,)x"
                      R"x("service":{"id":"0855b320-0dd2-547d-891d-601e9b38647f"}},)x"
                      R"x("errors":[)x"),
            std::string::npos)
      << flat;
  EXPECT_NE(flat.find(R"x({"type":"field","field":"paths.2","message":"should start with: / )x"
                      R"x((fixed path) or ~/ (regex path)"})x"),
            std::string::npos)
      << flat;
  EXPECT_NE(flat.find(R"x({"type":"field","field":"bogus","message":"unknown field"})x"),
            std::string::npos)
      << flat;
}

}  // namespace
}  // namespace sb::admin
