// Node settings from their four sources, in Kong's precedence: defaults < settings file
// (kong.conf syntax) < KONG_<NAME> environment variables < command-line flags.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/settings.h"

namespace sb::proxy {

// One `key = value` line of a kong.conf-style file.
struct ConfEntry {
  std::string key;
  std::string value;
  int line = 0;
};

// Parses kong.conf syntax: `key = value` per line, blank lines and `#` comments ignored, a `#`
// inside a value starts a comment unless written `\#`. Keys are lower-cased. On a malformed line
// returns false with `error` = "line N: ...".
bool parse_conf_text(std::string_view text, std::vector<ConfEntry>& out, std::string& error);

// True when `text` looks like a kong.conf file rather than a declarative kong.yaml: its first
// meaningful line is `name = value`. Used to let `-c FILE` take either kind.
bool looks_like_conf(std::string_view text);

// Applies one setting by Kong's property name ("proxy_listen", "nginx_worker_processes", ...).
// Returns false with `error` on a bad value, or on a name this gateway does not know (then
// `*unknown` is set when given, so settings files can warn instead of failing).
bool apply_setting(Settings& s, std::string_view key, std::string_view value, std::string& error,
                   bool* unknown = nullptr);

// Every property name apply_setting knows, each also read from KONG_<NAME uppercased>.
const std::vector<std::string_view>& setting_names();

struct SettingsSources {
  std::string conf_file;                                   // kong.conf-style file, may be empty
  std::vector<std::pair<std::string, std::string>> flags;  // (property name, value), in order
  std::function<const char*(const char*)> getenv;          // null: the process environment
};

struct SettingsOutcome {
  std::vector<std::string> errors;    // any of these means the settings are invalid
  std::vector<std::string> warnings;  // e.g. settings-file keys this gateway ignores
  bool ok() const { return errors.empty(); }
};

// Builds `out` from defaults and the sources, in precedence order, then resolves the prefix.
SettingsOutcome resolve_settings(const SettingsSources& sources, Settings& out);

// The prefix used when none is given: /tmp/silverback-<uid> (writable without root; Kong's
// /usr/local/kong usually is not).
std::string default_prefix();

// A log or pid path setting made absolute: "off", "/dev/stdout", "/dev/stderr" and absolute
// paths are kept, relative paths are taken from `prefix`. Only the first word counts (Kong lets
// a log format name follow the path).
std::string prefix_path(const std::string& prefix, std::string_view path);

// PREFIX/pids/silverback.pid
std::string pid_file_path(const std::string& prefix);

}  // namespace sb::proxy
