// The exported entry point of request-transformer.so.
#include "request_transformer.h"

SB_PLUGIN(sbp::RequestTransformer, sbp::RequestTransformer::kName,
          sbp::RequestTransformer::kVersion, sbp::RequestTransformer::kPriority,
          sbp::kRequestTransformerSchema, nullptr)
