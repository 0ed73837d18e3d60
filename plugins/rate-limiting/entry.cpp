// The rate-limiting.so entry point (kept apart from rate_limiting.cpp so tests can link the plugin
// class next to the other bundled plugins without clashing entry symbols).
#include "rate_limiting.h"

SB_PLUGIN(sbp::rate_limiting::RateLimiting, "rate-limiting", sbp::rate_limiting::kVersion,
          sbp::rate_limiting::kPriority, sbp::rate_limiting::kConfigSchema, nullptr)
