// The exported entry point of response-transformer.so.
#include "response_transformer.h"

SB_PLUGIN(sbp::ResponseTransformer, sbp::ResponseTransformer::kName,
          sbp::ResponseTransformer::kVersion, sbp::ResponseTransformer::kPriority,
          sbp::kResponseTransformerSchema, nullptr)
