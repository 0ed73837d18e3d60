// request-termination (Kong PRIORITY 2): answers in the access phase instead of proxying, with
// a fixed status and message or body, or an echo of the request; optionally only when a
// trigger header or query argument is present. Behaviour follows
// kong/plugins/request-termination (handler.lua, schema.lua) of Kong 3.9; see README.md.
#pragma once

#include <silverback/plugin.hpp>

#include <optional>
#include <string>

#include "schema.h"

namespace sbp {

struct RequestTermination {
  static constexpr const char* kName = "request-termination";
  static constexpr const char* kVersion = "1.0.0";
  static constexpr int32_t kPriority = 2;

  struct Config {
    int status = 503;
    std::optional<std::string> message;  // conf.message or Kong's default for the status
    bool echo = false;
    std::optional<std::string> trigger;
    // The answer when not echoing, built once.
    bool has_body = false;
    std::string body;
    std::optional<std::string> content_type;
  };

  static Config compile(const sb::Value& conf);
  static uint32_t flags(const Config& cfg);
  static sb::Result access(sb::Ctx& ctx, const Config& cfg);

  // Kong's DEFAULT_RESPONSE table (nullptr: no default message for that status).
  static const char* default_message(int status);
  // The echo document (exposed for tests).
  static void echo_json(sb::Ctx& ctx, const Config& cfg, std::string& out);
};

}  // namespace sbp
