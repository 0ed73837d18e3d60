// The correlation-id.so entry point (kept apart from correlation_id.cpp so tests can link the
// plugin class next to the other bundled plugins without clashing entry symbols).
#include "correlation_id.h"

SB_PLUGIN(sbp::correlation_id::CorrelationId, "correlation-id", sbp::correlation_id::kVersion,
          sbp::correlation_id::kPriority, sbp::correlation_id::kConfigSchema, nullptr)
