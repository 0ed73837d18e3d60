// The exported entry point of request-termination.so.
#include "request_termination.h"

SB_PLUGIN(sbp::RequestTermination, "request-termination", "1.0.0", 2,
          sbp::kRequestTerminationSchema, nullptr)
