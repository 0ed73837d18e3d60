// The key-auth.so entry point (kept apart from key_auth.cpp so tests can link the plugin class
// next to the other bundled plugins without clashing entry symbols).
#include "key_auth.h"

SB_PLUGIN(sbp::key_auth::KeyAuth, "key-auth", sbp::key_auth::kVersion, sbp::key_auth::kPriority,
          sbp::key_auth::kConfigSchema, sbp::key_auth::kEntitiesSchema)
