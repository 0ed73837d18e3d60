#include "proxy/conf.h"

#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "http/message.h"

namespace sb::proxy {
namespace {

using sb::http::trim;

bool parse_int(std::string_view text, long long min, long long max, long long& out) {
  std::string s(trim(text));
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0 || v < min || v > max) return false;
  out = v;
  return true;
}

// nginx size syntax: "0", "512", "8k", "10m", "1g".
bool parse_size(std::string_view text, long long& out) {
  text = trim(text);
  long long unit = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'k':
      case 'K':
        unit = 1024;
        break;
      case 'm':
      case 'M':
        unit = 1024 * 1024;
        break;
      case 'g':
      case 'G':
        unit = 1024LL * 1024 * 1024;
        break;
      default:
        break;
    }
    if (unit != 1) text.remove_suffix(1);
  }
  long long n = 0;
  if (!parse_int(text, 0, (1LL << 50) / unit, n)) return false;
  out = n * unit;
  return true;
}

// Kong's booleans: on/off (true/false accepted too).
bool parse_bool(std::string_view text, bool& out) {
  text = trim(text);
  if (text == "on" || text == "true") {
    out = true;
  } else if (text == "off" || text == "false") {
    out = false;
  } else {
    return false;
  }
  return true;
}

// Comma list, items trimmed, empty items dropped.
std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = trim(text.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

bool parse_listen_list(std::string_view text, std::vector<sb::net::ListenAddress>& out,
                       std::string& error) {
  out.clear();
  if (trim(text) == "off") return true;
  for (const auto& item : split_list(text)) {
    sb::net::ListenAddress a;
    if (!sb::net::parse_listen_address(item, a, error)) return false;
    out.push_back(a);
  }
  if (out.empty()) {
    error = "expected a comma-separated list of addresses or \"off\"";
    return false;
  }
  return true;
}

// A log destination: the first word of the value (Kong allows a format name after the path).
bool parse_log_path(std::string_view text, std::string& out, std::string& error) {
  text = trim(text);
  std::string_view path = text.substr(0, text.find_first_of(" \t"));
  if (path.empty()) {
    error = "expected a path, /dev/stdout, /dev/stderr or off";
    return false;
  }
  out = std::string(path);
  return true;
}

const std::vector<std::string_view> kNames = {
    "prefix",
    "declarative_config",
    "database",
    "proxy_listen",
    "admin_listen",
    "plugins",
    "plugins_dir",
    "nginx_worker_processes",
    "nginx_main_worker_processes",
    "workers",
    "router_flavor",
    "trusted_ips",
    "real_ip_header",
    "real_ip_recursive",
    "headers",
    "log_level",
    "proxy_access_log",
    "admin_access_log",
    "proxy_error_log",
    "client_header_timeout",
    "client_body_timeout",
    "keepalive_timeout",
    "client_max_body_size",
    "nginx_http_client_max_body_size",
    "upstream_keepalive_pool_size",
    "upstream_keepalive_max_requests",
    "upstream_keepalive_idle_timeout",
    "graceful_timeout",
};

}  // namespace

const std::vector<std::string_view>& setting_names() { return kNames; }

bool parse_conf_text(std::string_view text, std::vector<ConfEntry>& out, std::string& error) {
  int line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    // Strip a comment: the first '#' not escaped as "\#".
    std::string value;
    value.reserve(line.size());
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '#') {
        value += '#';
        ++i;
      } else if (line[i] == '#') {
        break;
      } else {
        value += line[i];
      }
    }
    std::string_view v = trim(value);
    if (!v.empty() && v.back() == '\r') v = trim(v.substr(0, v.size() - 1));
    if (v.empty()) continue;
    size_t eq = v.find('=');
    if (eq == std::string_view::npos) {
      error = fmt::format("line {}: expected 'name = value', got '{}'", line_no, v);
      return false;
    }
    std::string key(trim(v.substr(0, eq)));
    if (key.empty()) {
      error = fmt::format("line {}: missing name before '='", line_no);
      return false;
    }
    for (char& c : key) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      if (!ok) {
        error = fmt::format("line {}: invalid name '{}'", line_no, trim(v.substr(0, eq)));
        return false;
      }
    }
    out.push_back({std::move(key), std::string(trim(v.substr(eq + 1))), line_no});
  }
  return true;
}

bool looks_like_conf(std::string_view text) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty() || line.front() == '#') continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) return false;
    for (char c : trim(line.substr(0, eq))) {
      bool ok =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
      if (!ok) return false;
    }
    return true;
  }
  return false;
}

bool apply_setting(Settings& s, std::string_view key, std::string_view value, std::string& error,
                   bool* unknown) {
  if (unknown != nullptr) *unknown = false;
  value = trim(value);
  long long n = 0;
  auto bad = [&](std::string_view what = {}) {
    error = what.empty() ? fmt::format("invalid value '{}' for {}", value, key)
                         : fmt::format("{}: {}", key, what);
    return false;
  };
  auto int_setting = [&](int& field, long long min, long long max, long long scale = 1) {
    if (!parse_int(value, min, max, n)) return bad();
    field = static_cast<int>(n * scale);
    return true;
  };
  if (key == "prefix") {
    if (value.empty()) return bad();
    s.prefix = std::string(value);
  } else if (key == "declarative_config") {
    s.declarative_config = std::string(value);
  } else if (key == "database") {
    if (value != "off") return bad("silverback runs DB-less only; the only value is off");
  } else if (key == "proxy_listen") {
    if (!parse_listen_list(value, s.proxy_listen, error)) return bad(error);
  } else if (key == "admin_listen") {
    if (!parse_listen_list(value, s.admin_listen, error)) return bad(error);
  } else if (key == "plugins") {
    s.plugins = split_list(value);
  } else if (key == "plugins_dir") {
    s.plugins_dir = std::string(value);
  } else if (key == "nginx_worker_processes" || key == "nginx_main_worker_processes" ||
             key == "workers") {
    if (value == "auto") {
      s.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      return true;
    }
    return int_setting(s.workers, 1, 256);
  } else if (key == "router_flavor") {
    if (value == "traditional") {
      s.router_flavor = sb::router::Flavor::traditional;
    } else if (value == "traditional_compatible") {
      s.router_flavor = sb::router::Flavor::traditional_compatible;
    } else {
      return bad(fmt::format("must be traditional or traditional_compatible, got '{}'", value));
    }
  } else if (key == "trusted_ips") {
    std::vector<Cidr> list;
    for (const auto& item : split_list(value)) {
      if (item == "unix:") continue;
      Cidr c;
      if (!parse_cidr(item, c)) return bad(fmt::format("invalid entry '{}'", item));
      list.push_back(c);
    }
    s.trusted_ips = std::move(list);
  } else if (key == "real_ip_header") {
    if (value.empty()) return bad();
    s.real_ip_header = std::string(value);
  } else if (key == "real_ip_recursive") {
    if (!parse_bool(value, s.real_ip_recursive)) return bad("must be on or off");
  } else if (key == "headers") {
    uint32_t bits = 0;
    if (!parse_headers_setting(value, bits, error)) return false;
    s.headers = bits;
  } else if (key == "log_level") {
    if (!sb::log::parse_level(value, s.log_level)) {
      return bad(fmt::format("invalid log_level '{}'", value));
    }
  } else if (key == "proxy_access_log") {
    if (!parse_log_path(value, s.proxy_access_log, error)) return bad(error);
  } else if (key == "admin_access_log") {
    if (!parse_log_path(value, s.admin_access_log, error)) return bad(error);
  } else if (key == "proxy_error_log") {
    if (!parse_log_path(value, s.proxy_error_log, error)) return bad(error);
  } else if (key == "client_header_timeout") {
    return int_setting(s.client_header_timeout_ms, 1, 1 << 30);
  } else if (key == "client_body_timeout") {
    return int_setting(s.client_body_timeout_ms, 1, 1 << 30);
  } else if (key == "keepalive_timeout") {
    return int_setting(s.keepalive_timeout_ms, 1, 1 << 30);
  } else if (key == "client_max_body_size") {
    if (!parse_int(value, 0, 1LL << 50, n)) return bad();
    s.client_max_body_size = n;
  } else if (key == "nginx_http_client_max_body_size") {
    if (!parse_size(value, n)) return bad();
    s.client_max_body_size = n;
  } else if (key == "upstream_keepalive_pool_size") {
    return int_setting(s.upstream_keepalive_pool_size, 0, 1 << 20);
  } else if (key == "upstream_keepalive_max_requests") {
    return int_setting(s.upstream_keepalive_max_requests, 0, 1 << 30);
  } else if (key == "upstream_keepalive_idle_timeout") {
    // Seconds, as Kong.
    return int_setting(s.upstream_keepalive_idle_timeout_ms, 1, 1 << 20, 1000);
  } else if (key == "graceful_timeout") {
    return int_setting(s.graceful_timeout_ms, 0, 1 << 30);
  } else {
    if (unknown != nullptr) *unknown = true;
    error = fmt::format("unknown setting '{}'", key);
    return false;
  }
  return true;
}

SettingsOutcome resolve_settings(const SettingsSources& sources, Settings& out) {
  SettingsOutcome r;
  std::string error;
  // Defaults that need parsing.
  apply_setting(out, "proxy_listen", "0.0.0.0:8000", error);
  apply_setting(out, "admin_listen", "127.0.0.1:8001", error);
  apply_setting(out, "nginx_worker_processes", "auto", error);

  if (!sources.conf_file.empty()) {
    std::ifstream in(sources.conf_file, std::ios::binary);
    if (!in) {
      r.errors.push_back(fmt::format("no file at: {}", sources.conf_file));
      return r;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    std::vector<ConfEntry> entries;
    if (!parse_conf_text(ss.str(), entries, error)) {
      r.errors.push_back(fmt::format("{}: {}", sources.conf_file, error));
      return r;
    }
    std::vector<std::string> ignored;
    for (const auto& e : entries) {
      bool unknown = false;
      if (!apply_setting(out, e.key, e.value, error, &unknown)) {
        if (unknown) {
          ignored.push_back(e.key);
        } else {
          r.errors.push_back(fmt::format("{}:{}: {}", sources.conf_file, e.line, error));
        }
      }
    }
    if (!ignored.empty()) {
      std::string list;
      for (const auto& k : ignored) list += (list.empty() ? "" : ", ") + k;
      r.warnings.push_back(fmt::format("{}: ignoring settings silverback does not use: {}",
                                       sources.conf_file, list));
    }
  }

  auto env = sources.getenv ? sources.getenv : [](const char* n) { return std::getenv(n); };
  for (std::string_view name : kNames) {
    std::string var = "KONG_";
    for (char c : name) var += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    const char* v = env(var.c_str());
    if (v == nullptr || *v == '\0') continue;
    if (!apply_setting(out, name, v, error)) r.errors.push_back(fmt::format("{}: {}", var, error));
  }

  for (const auto& [key, value] : sources.flags) {
    if (!apply_setting(out, key, value, error)) r.errors.push_back(error);
  }

  if (out.prefix.empty()) out.prefix = default_prefix();
  if (out.prefix.front() != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) != nullptr) out.prefix = fmt::format("{}/{}", cwd, out.prefix);
  }
  while (out.prefix.size() > 1 && out.prefix.back() == '/') out.prefix.pop_back();
  return r;
}

std::string default_prefix() { return fmt::format("/tmp/silverback-{}", geteuid()); }

std::string prefix_path(const std::string& prefix, std::string_view path) {
  path = trim(path);
  path = path.substr(0, path.find_first_of(" \t"));
  if (path.empty() || path == "off" || path.front() == '/') return std::string(path);
  return fmt::format("{}/{}", prefix, path);
}

std::string pid_file_path(const std::string& prefix) {
  return fmt::format("{}/pids/silverback.pid", prefix);
}

}  // namespace sb::proxy
