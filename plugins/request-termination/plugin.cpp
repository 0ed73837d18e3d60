// The exported entry point of request-termination.so.
#include "request_termination.h"

SB_PLUGIN(sbp::RequestTermination, sbp::RequestTermination::kName,
          sbp::RequestTermination::kVersion, sbp::RequestTermination::kPriority,
          sbp::kRequestTerminationSchema, nullptr)
