// request-transformer's config schema in Kong's plugin-schema shape (JSON), from Kong 3.9's
// kong/plugins/request-transformer/schema.lua.
#pragma once

namespace sbp {

#define SBP_RT_STRINGS \
  R"({"type":"array","default":[],"required":true,"elements":{"type":"string"}})"
#define SBP_RT_COLON_HEADERS                                                     \
  R"({"type":"array","default":[],"required":true,"elements":{"type":"string",)" \
  R"("match":"^[^:]+:.*$"}})"

// Kong's schema.lua; the custom validators (header names, "key has no value", templates) run in
// compile() because a JSON schema cannot carry Lua functions.
inline constexpr char kRequestTransformerSchema[] =
    R"({"name":"request-transformer","fields":[)"
    R"({"protocols":{"type":"set","required":true,"default":["grpc","grpcs","http","https"],)"
    R"("elements":{"type":"string","one_of":["grpc","grpcs","http","https","tcp","tls",)"
    R"("tls_passthrough","udp"]}}},)"
    R"({"config":{"type":"record","fields":[)"
    R"({"http_method":{"type":"string","match":"^%u+$"}},)"
    R"({"remove":{"type":"record","fields":[{"body":)" SBP_RT_STRINGS
    R"(},{"headers":)" SBP_RT_STRINGS R"(},{"querystring":)" SBP_RT_STRINGS R"(}]}},)"
    R"({"rename":{"type":"record","fields":[{"body":)" SBP_RT_STRINGS
    R"(},{"headers":)" SBP_RT_COLON_HEADERS R"(},{"querystring":)" SBP_RT_STRINGS R"(}]}},)"
    R"({"replace":{"type":"record","fields":[{"body":)" SBP_RT_STRINGS
    R"(},{"headers":)" SBP_RT_COLON_HEADERS R"(},{"querystring":)" SBP_RT_STRINGS
    R"(},{"uri":{"type":"string"}}]}},)"
    R"({"add":{"type":"record","fields":[{"body":)" SBP_RT_STRINGS
    R"(},{"headers":)" SBP_RT_COLON_HEADERS R"(},{"querystring":)" SBP_RT_STRINGS R"(}]}},)"
    R"({"append":{"type":"record","fields":[{"body":)" SBP_RT_STRINGS
    R"(},{"headers":)" SBP_RT_COLON_HEADERS R"(},{"querystring":)" SBP_RT_STRINGS R"(}]}})"
    R"(]}}]})";

#undef SBP_RT_STRINGS
#undef SBP_RT_COLON_HEADERS

}  // namespace sbp
