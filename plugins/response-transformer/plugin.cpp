// The exported entry point of response-transformer.so.
#include "response_transformer.h"

SB_PLUGIN(sbp::ResponseTransformer, "response-transformer", "1.0.0", 800,
          sbp::kResponseTransformerSchema, nullptr)
