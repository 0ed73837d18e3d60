// Node settings (Kong's kong.conf properties that the proxy core uses).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/log.h"
#include "http/parser.h"
#include "net/listener.h"
#include "router/router.h"

namespace sb::proxy {

struct Cidr {
  uint8_t family = 0;  // AF_INET or AF_INET6
  uint8_t bits = 0;
  uint8_t addr[16] = {};
};

// Kong's `headers` setting, as bits.
enum HeaderBits : uint32_t {
  kHeaderServer = 1u << 0,
  kHeaderVia = 1u << 1,
  kHeaderProxyLatency = 1u << 2,
  kHeaderResponseLatency = 1u << 3,
  kHeaderUpstreamLatency = 1u << 4,
  kHeaderUpstreamStatus = 1u << 5,
  kHeaderRequestId = 1u << 6,
  kHeaderAdminLatency = 1u << 7,
};

struct Settings {
  // Working directory for the pid file and relative log paths (Kong's `prefix`).
  std::string prefix;
  std::string declarative_config;  // empty: start with an empty config (POST /config fills it)
  std::vector<sb::net::ListenAddress> proxy_listen;
  std::vector<sb::net::ListenAddress> admin_listen;
  // Kong's `plugins` as written ("bundled", "off" or names), and where plugin .so files live.
  // Parsed and stored only; the plugin host interprets them.
  std::vector<std::string> plugins = {"bundled"};
  std::string plugins_dir;
  // Log destinations as written: a path (relative to `prefix`), "/dev/stdout", "/dev/stderr" or
  // "off". Kong's defaults, except the error log, which stays on stderr (a foreground process).
  std::string proxy_access_log = "logs/access.log";
  std::string admin_access_log = "logs/admin_access.log";
  std::string proxy_error_log = "/dev/stderr";
  sb::log::Level log_level = sb::log::Level::notice;
  int workers = 1;
  sb::router::Flavor router_flavor = sb::router::Flavor::traditional;
  std::vector<Cidr> trusted_ips;
  std::string real_ip_header = "X-Real-IP";
  bool real_ip_recursive = false;
  uint32_t headers = kHeaderServer | kHeaderVia | kHeaderProxyLatency | kHeaderResponseLatency |
                     kHeaderUpstreamLatency | kHeaderAdminLatency | kHeaderRequestId;
  uint32_t headers_upstream = kHeaderRequestId;
  // Upstream keep-alive (Kong 2.8 defaults, as the issue asks).
  int upstream_keepalive_pool_size = 60;
  int upstream_keepalive_max_requests = 100;
  int upstream_keepalive_idle_timeout_ms = 60000;
  // Client side (nginx defaults Kong keeps).
  int client_header_timeout_ms = 60000;
  int client_body_timeout_ms = 60000;
  int keepalive_timeout_ms = 60000;
  int send_timeout_ms = 60000;
  int64_t client_max_body_size = 0;  // 0 = unlimited
  int graceful_timeout_ms = 10000;
  sb::http::Limits limits;
};

bool parse_cidr(std::string_view text, Cidr& out);
bool cidr_contains(const std::vector<Cidr>& list, const struct sockaddr* addr);
// Parses Kong's `headers` value ("server_tokens, latency_tokens", "off", names...).
bool parse_headers_setting(std::string_view text, uint32_t& out, std::string& error);

}  // namespace sb::proxy
