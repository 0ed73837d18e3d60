// key-auth: Kong 3.9's bundled API-key authentication (kong/plugins/key-auth/{handler,schema,
// daos}.lua), PRIORITY 1250. The plugin class is separate from its SB_PLUGIN entry (entry.cpp)
// so the unit tests can link it next to the other bundled plugins.
#pragma once

#include <silverback/plugin.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sbp::key_auth {

inline constexpr int32_t kPriority = 1250;  // 1003 in 2.8
inline constexpr const char* kVersion = "1.0.0";
extern const char kConfigSchema[];
extern const char kEntitiesSchema[];  // keyauth_credentials

// Kong's messages (handler.lua). 2.8-3.5 said "Invalid authentication credentials" for an
// unknown key; 3.6+ says "Unauthorized".
inline constexpr std::string_view kErrNoKey = "No API key found in request";
inline constexpr std::string_view kErrDuplicate = "Duplicate API key found";
inline constexpr std::string_view kErrInvalid = "Unauthorized";
inline constexpr std::string_view kErrUnexpected = "An unexpected error occurred";

struct KeyAuth {
  struct Config {
    std::vector<std::string> key_names{"apikey"};
    bool hide_credentials = false;
    std::optional<std::string> anonymous;
    bool key_in_header = true;
    bool key_in_query = true;
    bool key_in_body = false;
    bool run_on_preflight = true;
    std::optional<std::string> realm;
    // WWW-Authenticate on every 401 (3.7+): `Key`, or `Key realm="<realm>"`.
    std::string www_authenticate = "Key";
  };

  static Config compile(const sb::Value& conf);
  static uint32_t flags(const Config& cfg) {
    return cfg.key_in_body ? SB_CFG_READS_REQUEST_BODY : 0u;
  }
  static sb::Result access(sb::Ctx& ctx, const Config& cfg);
};

// Kong's header_name typedef check (kong.tools.http.validate_header_name): nullopt when valid,
// else its message.
std::optional<std::string> header_name_error(std::string_view name);
// Kong's UUID check (kong.tools.uuid.is_valid_uuid): 8-4-4-4-12 hex digits.
bool is_uuid(std::string_view s);

}  // namespace sbp::key_auth
