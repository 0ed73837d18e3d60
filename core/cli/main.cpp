// `silverback` command line: start, config parse, version (Kong's CLI shape).
#include <fmt/format.h>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "admin/admin.h"
#include "common/log.h"
#include "config/loader.h"
#include "plugins/registry.h"
#include "proxy/pdk.h"
#include "proxy/server.h"
#include "proxy/settings.h"

namespace {

constexpr std::string_view kVersion = "0.1.0";

constexpr std::string_view kMainHelp = R"(Usage: silverback COMMAND [OPTIONS]

A Kong-compatible API gateway (DB-less, declarative kong.yaml).

Commands:
  start           Start the gateway in the foreground.
  config parse    Validate a declarative configuration file.
  version         Print the version.

Run 'silverback COMMAND --help' for a command's options.
)";

constexpr std::string_view kStartHelp = R"(Usage: silverback start [-c kong.yaml] [OPTIONS]

Starts the gateway in the foreground. SIGTERM/SIGINT stop it gracefully (stop accepting,
finish in-flight requests up to --graceful-timeout, exit 0); SIGHUP reloads the config file.

Options (each also read from Kong's environment variable shown; flags win):
  -c, --conf FILE               declarative config (KONG_DECLARATIVE_CONFIG)
  --proxy-listen LIST           default 0.0.0.0:8000 (KONG_PROXY_LISTEN)
  --admin-listen LIST           default 127.0.0.1:8001 (KONG_ADMIN_LISTEN); "off" disables
  --plugins LIST                plugins to load: names, "bundled", "off" (KONG_PLUGINS)
  --plugins-dir DIR             extra directories (':'-separated) searched for NAME.so first
                                (KONG_PLUGINS_DIR)
  --workers N                   event-loop threads, default: number of cores
                                (KONG_NGINX_WORKER_PROCESSES, "auto" = cores)
  --router-flavor F             traditional (default) | traditional_compatible
                                (KONG_ROUTER_FLAVOR)
  --trusted-ips LIST            CIDRs whose X-Forwarded-* are trusted (KONG_TRUSTED_IPS)
  --real-ip-header NAME         default X-Real-IP (KONG_REAL_IP_HEADER)
  --real-ip-recursive on|off    default off (KONG_REAL_IP_RECURSIVE)
  --headers LIST                Kong's `headers` setting (KONG_HEADERS)
  --log-level LEVEL             debug|info|notice|warn|error|crit (KONG_LOG_LEVEL)
  --client-header-timeout MS    default 60000
  --client-body-timeout MS      default 60000
  --keepalive-timeout MS        default 60000
  --client-max-body-size BYTES  default 0 (unlimited)
  --upstream-keepalive-pool-size N          default 60
  --upstream-keepalive-max-requests N       default 100
  --upstream-keepalive-idle-timeout MS      default 60000
  --graceful-timeout MS         default 10000
  -h, --help                    this help
)";

constexpr std::string_view kConfigHelp = R"(Usage: silverback config parse FILE [options]

Validates a declarative configuration (kong.yaml / kong.json) without starting anything.
Exit 0 and a summary when valid; exit 1 and every problem (file:line:column, entity, field,
reason) when not. Plugin entries are validated against the loaded plugins' schemas.

Options:
  --plugins LIST                plugins to load: names, "bundled", "off" (KONG_PLUGINS)
  --plugins-dir DIR             extra directories searched for NAME.so (KONG_PLUGINS_DIR)
)";

constexpr std::string_view kVersionHelp = R"(Usage: silverback version

Prints the version.
)";

int fail(std::string_view message) {
  fmt::print(stderr, "Error: {}\n", message);
  return 1;
}

bool parse_int(std::string_view text, long long min, long long max, long long& out) {
  std::string s(text);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0 || v < min || v > max) return false;
  out = v;
  return true;
}

bool parse_listen_list(std::string_view text, std::vector<sb::net::ListenAddress>& out,
                       std::string& error) {
  out.clear();
  if (sb::http::trim(text) == "off") return true;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    sb::net::ListenAddress a;
    if (!sb::net::parse_listen_address(item, a, error)) return false;
    out.push_back(a);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return true;
}

// Applies one node setting by Kong's property name; used for both env and flags.
bool apply_setting(sb::proxy::Settings& s, std::string_view key, std::string_view value,
                   std::string& error) {
  long long n = 0;
  auto int_setting = [&](int& field, long long min, long long max) {
    if (!parse_int(value, min, max, n)) {
      error = fmt::format("invalid value '{}' for {}", value, key);
      return false;
    }
    field = static_cast<int>(n);
    return true;
  };
  if (key == "declarative_config") {
    s.declarative_config = std::string(value);
  } else if (key == "proxy_listen") {
    return parse_listen_list(value, s.proxy_listen, error);
  } else if (key == "admin_listen") {
    return parse_listen_list(value, s.admin_listen, error);
  } else if (key == "plugins_dir") {
    s.plugins_dir = std::string(value);
  } else if (key == "plugins") {
    s.plugins.clear();
    std::string_view rest = value;
    while (true) {
      size_t comma = rest.find(',');
      std::string_view item = sb::http::trim(rest.substr(0, comma));
      if (!item.empty()) s.plugins.emplace_back(item);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  } else if (key == "workers") {
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
      error = fmt::format("router_flavor must be traditional or traditional_compatible, got '{}'",
                          value);
      return false;
    }
  } else if (key == "trusted_ips") {
    s.trusted_ips.clear();
    while (!value.empty()) {
      size_t comma = value.find(',');
      std::string_view item = sb::http::trim(value.substr(0, comma));
      if (item == "unix:") {
      } else if (!item.empty()) {
        sb::proxy::Cidr c;
        if (!sb::proxy::parse_cidr(item, c)) {
          error = fmt::format("invalid trusted_ips entry '{}'", item);
          return false;
        }
        s.trusted_ips.push_back(c);
      }
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  } else if (key == "real_ip_header") {
    s.real_ip_header = std::string(value);
  } else if (key == "real_ip_recursive") {
    if (value != "on" && value != "off") {
      error = fmt::format("real_ip_recursive must be on or off, got '{}'", value);
      return false;
    }
    s.real_ip_recursive = value == "on";
  } else if (key == "headers") {
    return sb::proxy::parse_headers_setting(value, s.headers, error);
  } else if (key == "log_level") {
    sb::log::Level level;
    if (!sb::log::parse_level(value, level)) {
      error = fmt::format("invalid log_level '{}'", value);
      return false;
    }
    sb::log::set_level(level);
  } else if (key == "client_header_timeout") {
    return int_setting(s.client_header_timeout_ms, 1, 1 << 30);
  } else if (key == "client_body_timeout") {
    return int_setting(s.client_body_timeout_ms, 1, 1 << 30);
  } else if (key == "keepalive_timeout") {
    return int_setting(s.keepalive_timeout_ms, 1, 1 << 30);
  } else if (key == "client_max_body_size") {
    if (!parse_int(value, 0, 1LL << 50, n)) {
      error = fmt::format("invalid value '{}' for {}", value, key);
      return false;
    }
    s.client_max_body_size = n;
  } else if (key == "upstream_keepalive_pool_size") {
    return int_setting(s.upstream_keepalive_pool_size, 0, 1 << 20);
  } else if (key == "upstream_keepalive_max_requests") {
    return int_setting(s.upstream_keepalive_max_requests, 0, 1 << 30);
  } else if (key == "upstream_keepalive_idle_timeout") {
    return int_setting(s.upstream_keepalive_idle_timeout_ms, 1, 1 << 30);
  } else if (key == "graceful_timeout") {
    return int_setting(s.graceful_timeout_ms, 0, 1 << 30);
  } else {
    error = fmt::format("unknown setting '{}'", key);
    return false;
  }
  return true;
}

int cmd_start(int argc, char** argv) {
  sb::proxy::Settings s;
  std::string error;
  apply_setting(s, "proxy_listen", "0.0.0.0:8000", error);
  apply_setting(s, "admin_listen", "127.0.0.1:8001", error);
  apply_setting(s, "workers", "auto", error);
  // Kong's environment variables.
  static const std::pair<const char*, const char*> kEnv[] = {
      {"KONG_DECLARATIVE_CONFIG", "declarative_config"},
      {"KONG_PROXY_LISTEN", "proxy_listen"},
      {"KONG_ADMIN_LISTEN", "admin_listen"},
      {"KONG_NGINX_WORKER_PROCESSES", "workers"},
      {"KONG_ROUTER_FLAVOR", "router_flavor"},
      {"KONG_TRUSTED_IPS", "trusted_ips"},
      {"KONG_REAL_IP_HEADER", "real_ip_header"},
      {"KONG_REAL_IP_RECURSIVE", "real_ip_recursive"},
      {"KONG_HEADERS", "headers"},
      {"KONG_LOG_LEVEL", "log_level"},
      {"KONG_PLUGINS", "plugins"},
      {"KONG_PLUGINS_DIR", "plugins_dir"},
  };
  for (const auto& [env, key] : kEnv) {
    if (const char* v = std::getenv(env); v != nullptr && *v != '\0') {
      if (!apply_setting(s, key, v, error)) return fail(fmt::format("{}: {}", env, error));
    }
  }
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      fmt::print("{}", kStartHelp);
      return 0;
    }
    std::string key;
    std::string_view value;
    if (arg == "-c" || arg == "--conf") {
      key = "declarative_config";
    } else if (arg.substr(0, 2) == "--") {
      std::string_view name = arg.substr(2);
      if (auto eq = name.find('='); eq != std::string_view::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      key = std::string(name);
      for (char& c : key) c = c == '-' ? '_' : c;
    } else {
      return fail(fmt::format("unexpected argument '{}' (see 'silverback start --help')", arg));
    }
    if (value.empty()) {
      if (i + 1 >= argc) return fail(fmt::format("option '{}' needs a value", arg));
      value = argv[++i];
    }
    if (!apply_setting(s, key, value, error)) return fail(error);
  }
  if (s.declarative_config.empty()) {
    return fail("no declarative config: use -c kong.yaml (or KONG_DECLARATIVE_CONFIG)");
  }
  sb::proxy::Server server(std::move(s));
  sb::admin::Admin admin(server);
  server.set_admin(&admin);
  if (auto err = server.start(); !err.empty()) return fail(err);
  return server.run();
}

int cmd_config(int argc, char** argv) {
  if (argc < 1 || std::string_view(argv[0]) == "-h" || std::string_view(argv[0]) == "--help") {
    fmt::print("{}", kConfigHelp);
    return argc < 1 ? 1 : 0;
  }
  std::string_view sub = argv[0];
  if (sub != "parse") return fail(fmt::format("unknown config command '{}'", sub));
  if (argc < 2 || std::string_view(argv[1]) == "-h" || std::string_view(argv[1]) == "--help") {
    fmt::print("{}", kConfigHelp);
    return argc < 2 ? 1 : 0;
  }
  sb::proxy::Settings settings;
  std::string error;
  for (auto [env, key] :
       {std::pair{"KONG_PLUGINS", "plugins"}, std::pair{"KONG_PLUGINS_DIR", "plugins_dir"}}) {
    if (const char* v = std::getenv(env); v != nullptr && *v != '\0') {
      if (!apply_setting(settings, key, v, error)) return fail(error);
    }
  }
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string_view flag = argv[i];
    if (flag != "--plugins" && flag != "--plugins-dir")
      return fail(fmt::format("unexpected argument '{}' (see 'silverback config --help')", flag));
    if (!apply_setting(settings, flag == "--plugins" ? "plugins" : "plugins_dir", argv[i + 1],
                       error))
      return fail(error);
  }
  if (argc > 2 && argc % 2 != 0)
    return fail(fmt::format("option '{}' needs a value", argv[argc - 1]));
  auto registry =
      sb::plugins::Registry::load(settings.plugins, sb::plugins::plugin_dirs(settings.plugins_dir),
                                  sb::proxy::host_info(), &error);
  if (!registry) return fail(error);
  sb::config::LoadOptions options;
  options.enabled_plugins = registry->names();
  options.catalog = registry.get();
  auto result = sb::config::load_file(argv[1], options);
  if (!result.ok()) {
    fmt::print(stderr, "Error: Failed parsing:\n");
    for (const auto& e : result.errors) fmt::print(stderr, "{}\n", e.to_string());
    fmt::print(stderr, "{} error(s)\n", result.errors.size());
    return 1;
  }
  const auto& c = *result.config;
  fmt::print("parse successful\n");
  fmt::print(
      "{}: _format_version {}, {} services, {} routes, {} consumers, {} plugins, {} upstreams, "
      "{} certificates\nconfiguration_hash {}\n",
      argv[1], c.format_version, c.services.size(), c.routes.size(), c.consumers.size(),
      c.plugins.size(), c.upstreams.size(), c.certificates.size(), c.hash);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "{}", kMainHelp);
    return 1;
  }
  std::string_view cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    fmt::print("{}", kMainHelp);
    return 0;
  }
  if (cmd == "version" || cmd == "--version") {
    if (argc > 2 && (std::string_view(argv[2]) == "-h" || std::string_view(argv[2]) == "--help")) {
      fmt::print("{}", kVersionHelp);
      return 0;
    }
    fmt::print("{}\n", kVersion);
    return 0;
  }
  if (cmd == "start") return cmd_start(argc - 2, argv + 2);
  if (cmd == "config") return cmd_config(argc - 2, argv + 2);
  return fail(fmt::format("unknown command '{}'\n\n{}", cmd, kMainHelp));
}
