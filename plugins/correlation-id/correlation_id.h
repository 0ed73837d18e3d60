// correlation-id: Kong's bundled request id header (kong/plugins/correlation-id/{handler,
// schema}.lua). PRIORITY 100001 as in Kong 3.9 (it was 1 up to 3.8): it runs before the auth
// plugins, so even a request they reject carries (and, with echo_downstream, echoes) the id.
// The plugin class is separate from its SB_PLUGIN entry (entry.cpp) so unit tests can link it.
#pragma once

#include <silverback/plugin.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sbp::correlation_id {

inline constexpr int32_t kPriority = 100001;
inline constexpr const char* kVersion = "1.0.0";
extern const char kConfigSchema[];

enum class Generator { kUuid, kUuidCounter, kTracker };

struct CorrelationId {
  struct Config {
    std::string header_name = "Kong-Request-ID";
    Generator generator = Generator::kUuidCounter;
    bool echo_downstream = false;
  };

  static Config compile(const sb::Value& conf);
  static void init_worker(sb::WorkerCtx& worker);
  static sb::Result access(sb::Ctx& ctx, const Config& cfg);
  static sb::Result header_filter(sb::Ctx& ctx, const Config& cfg);
};

// An id from `generator` into buf (at least kIdCap bytes); returns its length.
inline constexpr size_t kIdCap = 128;
size_t generate(sb::Ctx& ctx, Generator generator, char* buf);
// A random (version 4) UUID, lower-case: 36 bytes into out.
void uuid_v4(char* out);
// A fresh per-worker uuid for uuid#counter and its counter reset (Kong's init_worker).
void reset_worker_uuid();

}  // namespace sbp::correlation_id
