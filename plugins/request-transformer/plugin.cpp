// The exported entry point of request-transformer.so.
#include "request_transformer.h"

SB_PLUGIN(sbp::RequestTransformer, "request-transformer", "1.0.0", 801,
          sbp::kRequestTransformerSchema, nullptr)
