// `silverback` command line, Kong's CLI shape (kong-compat.md §7.4): start, stop, reload,
// health, check, config parse, version.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "admin/admin.h"
#include "common/log.h"
#include "config/loader.h"
#include "plugins/registry.h"
#include "proxy/conf.h"
#include "proxy/pdk.h"
#include "proxy/server.h"
#include "proxy/settings.h"

namespace {

constexpr std::string_view kVersion = "0.1.0";

constexpr std::string_view kMainHelp = R"(Usage: silverback COMMAND [OPTIONS]

A Kong-compatible API gateway (DB-less, declarative kong.yaml).

Commands:
  start           Start the gateway in the foreground.
  stop            Stop a running gateway (graceful) and wait for it to exit.
  reload          Reload the declarative configuration of a running gateway (SIGHUP).
  health          Tell whether a gateway is running in a prefix.
  check           Validate node settings (a kong.conf-style file and KONG_* variables).
  config parse    Validate a declarative configuration file.
  version         Print the version.

Run 'silverback COMMAND --help' for a command's options.
)";

constexpr std::string_view kStartHelp = R"(Usage: silverback start [-c FILE] [-p PREFIX] [OPTIONS]

Starts the gateway in the foreground. SIGTERM/SIGINT stop it gracefully (stop accepting,
finish in-flight requests up to --graceful-timeout, exit 0); SIGHUP reloads the declarative
config; SIGUSR1 reopens the log files.

Settings come from, lowest to highest precedence: defaults, the settings file (-c, kong.conf
syntax), KONG_<NAME> environment variables (e.g. KONG_PROXY_LISTEN), these flags.

  -c, --conf FILE               a kong.conf-style settings file ("name = value" lines), or a
                                declarative kong.yaml/kong.json (told apart by content)
  -p, --prefix DIR              pid file, relative log paths (KONG_PREFIX; default
                                /tmp/silverback-<uid>)
  --declarative-config FILE     declarative config (KONG_DECLARATIVE_CONFIG); without one the
                                gateway starts empty and POST /config loads one
  --proxy-listen LIST           default 0.0.0.0:8000 (KONG_PROXY_LISTEN)
  --admin-listen LIST           default 127.0.0.1:8001 (KONG_ADMIN_LISTEN); "off" disables
  --plugins LIST                plugins to load: names, "bundled" (default), "off"
                                (KONG_PLUGINS)
  --plugins-dir DIR             extra directories (':'-separated) searched first for NAME.so
                                (KONG_PLUGINS_DIR)
  --workers N                   event-loop threads, "auto" = cores (default)
                                (KONG_NGINX_WORKER_PROCESSES)
  --router-flavor F             traditional (default) | traditional_compatible
                                (KONG_ROUTER_FLAVOR)
  --trusted-ips LIST            CIDRs whose X-Forwarded-* are trusted (KONG_TRUSTED_IPS)
  --real-ip-header NAME         default X-Real-IP (KONG_REAL_IP_HEADER)
  --real-ip-recursive on|off    default off (KONG_REAL_IP_RECURSIVE)
  --headers LIST                Kong's `headers` setting (KONG_HEADERS)
  --log-level LEVEL             debug|info|notice|warn|error|crit (KONG_LOG_LEVEL)
  --proxy-access-log PATH       default logs/access.log; /dev/stdout, off (KONG_PROXY_ACCESS_LOG)
  --admin-access-log PATH       default logs/admin_access.log (KONG_ADMIN_ACCESS_LOG)
  --proxy-error-log PATH        default /dev/stderr (KONG_PROXY_ERROR_LOG)
  --client-header-timeout MS    default 60000
  --client-body-timeout MS      default 60000
  --keepalive-timeout MS        default 60000
  --client-max-body-size BYTES  default 0 (unlimited); also nginx_http_client_max_body_size
  --upstream-keepalive-pool-size N          default 60
  --upstream-keepalive-max-requests N       default 100
  --upstream-keepalive-idle-timeout SECONDS default 60
  --graceful-timeout MS         default 10000
  -h, --help                    this help
)";

constexpr std::string_view kStopHelp = R"(Usage: silverback stop [-p PREFIX] [-t SECONDS]

Sends SIGTERM to the gateway running in PREFIX (its pid file PREFIX/pids/silverback.pid) and
waits until it has exited: in-flight requests finish first (up to its --graceful-timeout).

  -p, --prefix DIR     default KONG_PREFIX, else /tmp/silverback-<uid>
  -t, --timeout S      how long to wait, default 60
)";

constexpr std::string_view kReloadHelp = R"(Usage: silverback reload [-p PREFIX]

Sends SIGHUP to the gateway running in PREFIX: it re-reads its declarative_config file and
swaps it in without dropping connections; a config that fails validation is logged and the
current one keeps serving.

  -p, --prefix DIR     default KONG_PREFIX, else /tmp/silverback-<uid>
)";

constexpr std::string_view kHealthHelp = R"(Usage: silverback health [-p PREFIX]

Tells whether a gateway is running in PREFIX. Exit 0 when it is, 1 when not.

  -p, --prefix DIR     default KONG_PREFIX, else /tmp/silverback-<uid>
)";

constexpr std::string_view kCheckHelp = R"(Usage: silverback check [FILE]

Validates node settings: FILE (kong.conf syntax, "name = value" lines) merged with the KONG_*
environment variables, as 'start' would. Exit 0 when valid, 1 with every problem when not.
Settings silverback does not use are reported as warnings. (To validate a declarative
kong.yaml, use 'silverback config parse'.)
)";

constexpr std::string_view kConfigHelp = R"(Usage: silverback config parse FILE [options]

Validates a declarative configuration (kong.yaml / kong.json) without starting anything.
Exit 0 and a summary when valid; exit 1 and every problem (file:line:column, entity, field,
reason) when not. Plugin entries are validated against the loaded plugins' schemas.

Options:
  --plugins LIST                plugins to load: names, "bundled" (default), "off"
                                (KONG_PLUGINS)
  --plugins-dir DIR             extra directories searched first for NAME.so (KONG_PLUGINS_DIR)
)";

constexpr std::string_view kVersionHelp = R"(Usage: silverback version

Prints the version.
)";

int fail(std::string_view message) {
  fmt::print(stderr, "Error: {}\n", message);
  return 1;
}

bool is_help(std::string_view a) { return a == "-h" || a == "--help"; }

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

// mkdir -p
bool make_dirs(const std::string& path, std::string& error) {
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
      error = fmt::format("could not create {}: {}", cur, std::strerror(errno));
      return false;
    }
  }
  return true;
}

// The default prefix lives in /tmp: refuse one another user created for us.
bool check_prefix_owner(const std::string& prefix, std::string& error) {
  struct stat st;
  if (::lstat(prefix.c_str(), &st) != 0) {
    error = fmt::format("prefix {}: {}", prefix, std::strerror(errno));
    return false;
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) {
    error = fmt::format("prefix {} is not a directory owned by this user", prefix);
    return false;
  }
  return true;
}

// The pid in PREFIX/pids/silverback.pid, or 0.
pid_t read_pid(const std::string& prefix) {
  std::string text;
  if (!read_file(sb::proxy::pid_file_path(prefix), text)) return 0;
  long v = std::strtol(text.c_str(), nullptr, 10);
  return v > 0 ? static_cast<pid_t>(v) : 0;
}

// Alive and not a zombie (a stopped gateway may wait to be reaped by whoever started it).
bool running(pid_t pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno != EPERM)) return false;
  std::string stat;
  if (read_file(fmt::format("/proc/{}/stat", pid), stat)) {
    size_t paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z') {
      return false;
    }
  }
  return true;
}

bool write_pid_file(const std::string& path, std::string& error) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << ::getpid() << "\n";
    if (!out) {
      error = fmt::format("could not write {}: {}", tmp, std::strerror(errno));
      return false;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    error = fmt::format("could not write {}: {}", path, std::strerror(errno));
    return false;
  }
  return true;
}

// Options of stop/reload/health: -p/--prefix (KONG_PREFIX, default), -t/--timeout.
struct ControlArgs {
  std::string prefix;
  int timeout_s = 60;
  bool help = false;
};

bool parse_control_args(int argc, char** argv, bool allow_timeout, ControlArgs& out,
                        std::string& error) {
  sb::proxy::Settings s;
  sb::proxy::SettingsSources src;
  for (int i = 0; i < argc; ++i) {
    std::string_view a = argv[i];
    if (is_help(a)) {
      out.help = true;
      return true;
    }
    std::string_view value;
    std::string_view name = a;
    if (auto eq = a.find('='); a.substr(0, 2) == "--" && eq != std::string_view::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
    }
    bool prefix = name == "-p" || name == "--prefix";
    bool timeout = allow_timeout && (name == "-t" || name == "--timeout");
    if (!prefix && !timeout) {
      error = fmt::format("unexpected argument '{}'", a);
      return false;
    }
    if (value.empty()) {
      if (i + 1 >= argc) {
        error = fmt::format("option '{}' needs a value", a);
        return false;
      }
      value = argv[++i];
    }
    if (prefix) {
      src.flags.emplace_back("prefix", std::string(value));
    } else {
      out.timeout_s = std::atoi(std::string(value).c_str());
      if (out.timeout_s <= 0) {
        error = fmt::format("invalid timeout '{}'", value);
        return false;
      }
    }
  }
  // Only the prefix matters here; other KONG_* variables are not validated.
  src.getenv = [](const char* name) -> const char* {
    return std::string_view(name) == "KONG_PREFIX" ? std::getenv(name) : nullptr;
  };
  auto outcome = sb::proxy::resolve_settings(src, s);
  if (!outcome.ok()) {
    error = outcome.errors.front();
    return false;
  }
  out.prefix = s.prefix;
  return true;
}

int cmd_start(int argc, char** argv) {
  sb::proxy::SettingsSources src;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (is_help(arg)) {
      fmt::print("{}", kStartHelp);
      return 0;
    }
    std::string key;
    std::string_view value;
    if (arg == "-c" || arg == "--conf") {
      key = "-c";
    } else if (arg == "-p") {
      key = "prefix";
    } else if (arg.substr(0, 2) == "--") {
      std::string_view name = arg.substr(2);
      if (auto eq = name.find('='); eq != std::string_view::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      key = std::string(name);
      for (char& c : key) c = c == '-' ? '_' : c;
      if (key == "conf") key = "-c";
    } else {
      return fail(fmt::format("unexpected argument '{}' (see 'silverback start --help')", arg));
    }
    if (value.empty()) {
      if (i + 1 >= argc) return fail(fmt::format("option '{}' needs a value", arg));
      value = argv[++i];
    }
    if (key == "-c") {
      // Kong's -c is the kong.conf; Silverback's has also been the kong.yaml: tell them apart.
      std::string path(value), text;
      if (!read_file(path, text)) {
        return fail(fmt::format("could not read {}: {}", path, std::strerror(errno)));
      }
      if (sb::proxy::looks_like_conf(text)) {
        if (!src.conf_file.empty()) return fail("only one settings file (-c) may be given");
        src.conf_file = path;
      } else {
        src.flags.emplace_back("declarative_config", path);
      }
      continue;
    }
    src.flags.emplace_back(key, std::string(value));
  }

  sb::proxy::Settings s;
  auto outcome = sb::proxy::resolve_settings(src, s);
  for (const auto& w : outcome.warnings) fmt::print(stderr, "Warning: {}\n", w);
  if (!outcome.ok()) {
    std::string text;
    for (const auto& e : outcome.errors) text += (text.empty() ? "" : "\n") + e;
    return fail(text);
  }

  // Prefix: pids/ and logs/ as Kong lays it out.
  std::string error;
  if (!make_dirs(s.prefix + "/pids", error) || !make_dirs(s.prefix + "/logs", error)) {
    return fail(error);
  }
  if (s.prefix == sb::proxy::default_prefix() && !check_prefix_owner(s.prefix, error)) {
    return fail(error);
  }
  sb::log::set_level(s.log_level);
  std::string error_log = sb::proxy::prefix_path(s.prefix, s.proxy_error_log);
  if (auto err = sb::log::open(error_log == "off" ? "/dev/null" : error_log); !err.empty()) {
    return fail(err);
  }
  std::string pid_path = sb::proxy::pid_file_path(s.prefix);
  if (pid_t other = read_pid(s.prefix); other != 0 && other != ::getpid() && running(other)) {
    return fail(fmt::format("silverback is already running in {} (pid {})", s.prefix, other));
  }

  sb::proxy::Server server(std::move(s));
  sb::admin::Admin admin(server);
  server.set_admin(&admin);
  if (auto err = server.start(); !err.empty()) return fail(err);
  if (!write_pid_file(pid_path, error)) return fail(error);
  int rc = server.run();
  if (read_pid(server.settings().prefix) == ::getpid()) ::unlink(pid_path.c_str());
  return rc;
}

int cmd_signal(int argc, char** argv, std::string_view command) {
  ControlArgs args;
  std::string error;
  if (!parse_control_args(argc, argv, command == "stop", args, error)) return fail(error);
  if (args.help) {
    fmt::print("{}", command == "stop"     ? kStopHelp
                     : command == "reload" ? kReloadHelp
                                           : kHealthHelp);
    return 0;
  }
  pid_t pid = read_pid(args.prefix);
  bool alive = running(pid);
  if (command == "health") {
    // Kong's layout: one line per process, padded with dots.
    fmt::print("{}{}\n\n", "silverback..", alive ? "running" : "not running");
    if (!alive) return fail(fmt::format("Silverback is not running at {}", args.prefix));
    fmt::print("Silverback is healthy at {}\n", args.prefix);
    return 0;
  }
  if (!alive) return fail(fmt::format("Silverback is not running at {}", args.prefix));
  if (command == "reload") {
    if (::kill(pid, SIGHUP) != 0)
      return fail(fmt::format("kill {}: {}", pid, std::strerror(errno)));
    fmt::print("Silverback reloaded\n");
    return 0;
  }
  if (::kill(pid, SIGTERM) != 0) return fail(fmt::format("kill {}: {}", pid, std::strerror(errno)));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(args.timeout_s);
  while (running(pid)) {
    if (std::chrono::steady_clock::now() > deadline) {
      return fail(fmt::format("silverback (pid {}) did not stop within {} s", pid, args.timeout_s));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  fmt::print("Silverback stopped\n");
  return 0;
}

int cmd_check(int argc, char** argv) {
  sb::proxy::SettingsSources src;
  if (argc > 0 && is_help(argv[0])) {
    fmt::print("{}", kCheckHelp);
    return 0;
  }
  if (argc > 1) return fail(fmt::format("unexpected argument '{}'", argv[1]));
  if (argc == 1) src.conf_file = argv[0];
  sb::proxy::Settings s;
  auto outcome = sb::proxy::resolve_settings(src, s);
  for (const auto& w : outcome.warnings) fmt::print(stderr, "Warning: {}\n", w);
  if (!outcome.ok()) {
    for (const auto& e : outcome.errors) fmt::print(stderr, "Error: {}\n", e);
    return 1;
  }
  if (src.conf_file.empty()) {
    fmt::print("configuration is valid (defaults and KONG_* environment)\n");
  } else {
    fmt::print("configuration at {} is valid\n", src.conf_file);
  }
  return 0;
}

int cmd_config(int argc, char** argv) {
  if (argc < 1 || is_help(argv[0])) {
    fmt::print("{}", kConfigHelp);
    return argc < 1 ? 1 : 0;
  }
  std::string_view sub = argv[0];
  if (sub != "parse") return fail(fmt::format("unknown config command '{}'", sub));
  if (argc < 2 || is_help(argv[1])) {
    fmt::print("{}", kConfigHelp);
    return argc < 2 ? 1 : 0;
  }
  sb::proxy::Settings settings;
  std::string error;
  for (auto [env, key] :
       {std::pair{"KONG_PLUGINS", "plugins"}, std::pair{"KONG_PLUGINS_DIR", "plugins_dir"}}) {
    if (const char* v = std::getenv(env); v != nullptr && *v != '\0') {
      if (!sb::proxy::apply_setting(settings, key, v, error)) return fail(error);
    }
  }
  for (int i = 2; i < argc; i += 2) {
    std::string_view flag = argv[i];
    if (flag != "--plugins" && flag != "--plugins-dir")
      return fail(fmt::format("unexpected argument '{}' (see 'silverback config --help')", flag));
    if (i + 1 >= argc) return fail(fmt::format("option '{}' needs a value", flag));
    if (!sb::proxy::apply_setting(settings, flag == "--plugins" ? "plugins" : "plugins_dir",
                                  argv[i + 1], error))
      return fail(error);
  }
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
    if (argc > 2 && is_help(argv[2])) {
      fmt::print("{}", kVersionHelp);
      return 0;
    }
    fmt::print("{}\n", kVersion);
    return 0;
  }
  if (cmd == "start") return cmd_start(argc - 2, argv + 2);
  if (cmd == "stop" || cmd == "reload" || cmd == "health") {
    return cmd_signal(argc - 2, argv + 2, cmd);
  }
  if (cmd == "check") return cmd_check(argc - 2, argv + 2);
  if (cmd == "config") return cmd_config(argc - 2, argv + 2);
  return fail(fmt::format("unknown command '{}'\n\n{}", cmd, kMainHelp));
}
