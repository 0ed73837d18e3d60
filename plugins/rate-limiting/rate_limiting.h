// rate-limiting: Kong 3.9's bundled request rate limiting (kong/plugins/rate-limiting/{handler,
// schema,expiration,policies/init}.lua), PRIORITY 910, `local` policy. The plugin class is
// separate from its SB_PLUGIN entry (entry.cpp) so the unit tests can link it.
#pragma once

#include <silverback/plugin.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "counters.h"

namespace sbp::rate_limiting {

inline constexpr int32_t kPriority = 910;  // 901 in 2.8
inline constexpr const char* kVersion = "1.0.0";
extern const char kConfigSchema[];

enum class LimitBy { kConsumer, kCredential, kIp, kService, kHeader, kPath };
enum class Policy { kLocal, kRedis };

struct RateLimiting {
  // Plugin-global: the counters outlive every compiled config (reloads keep the counts).
  struct State {
    CounterStore counters;
  };

  struct Config {
    uint8_t mask = 0;                  // configured periods, bit i = Period i
    double limit[kPeriods] = {};       // config.second .. config.year
    std::string limit_text[kPeriods];  // as the X-RateLimit-Limit-* headers print them
    LimitBy limit_by = LimitBy::kConsumer;
    std::string header_name;
    std::string path;
    Policy policy = Policy::kLocal;
    bool fault_tolerant = true;
    bool hide_client_headers = false;
    int32_t error_code = 429;
    std::string error_message = "API rate limit exceeded";  // "" = the status' default
    double sync_rate = -1;
    CounterStore* counters = nullptr;  // State's
  };

  static Config compile(const sb::Value& conf, State& state);
  // Worker 0 sweeps expired counters every kSweepIntervalMs, so memory comes back after a burst
  // of identifiers even when no new ones arrive.
  static void init_worker(sb::WorkerCtx& worker);
  static sb::Result access(sb::Ctx& ctx, const Config& cfg);
};

inline constexpr uint64_t kSweepIntervalMs = 10000;

// Lua's tostring() of a number ("%.14g": 10 -> "10", 2.5 -> "2.5") into buf; returns the length.
size_t format_number(double v, char* buf, size_t cap);

}  // namespace sbp::rate_limiting
