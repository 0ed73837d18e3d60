// response-transformer's config schema in Kong's plugin-schema shape (JSON), from Kong 3.9's
// kong/plugins/response-transformer/schema.lua.
#pragma once

namespace sbp {

#define SBP_RST_STRINGS \
  R"({"type":"array","default":[],"required":true,"elements":{"type":"string"}})"
#define SBP_RST_COLON_STRINGS                                                    \
  R"({"type":"array","default":[],"required":true,"elements":{"type":"string",)" \
  R"("match":"^[^:]+:.*$"}})"
#define SBP_RST_JSON_TYPES                                                                  \
  R"({"type":"array","default":[],"required":true,"elements":{"type":"string",)"            \
  R"("one_of":["boolean","number","string"]},"description":"List of JSON type names. )"     \
  R"(Specify the types of the JSON values returned when appending\nJSON properties. Each )" \
  R"(string element can be one of: boolean, number, or string."})"
#define SBP_RST_COLON_RECORD                                     \
  R"({"type":"record","fields":[{"json":)" SBP_RST_COLON_STRINGS \
  R"(},{"json_types":)" SBP_RST_JSON_TYPES R"(},{"headers":)" SBP_RST_COLON_STRINGS R"(}]})"

// The rename.headers validator (both names must be header names) runs in compile().
inline constexpr char kResponseTransformerSchema[] =
    R"({"name":"response-transformer","fields":[)"
    R"({"protocols":{"type":"set","required":true,"default":["grpc","grpcs","http","https"],)"
    R"("elements":{"type":"string","one_of":["grpc","grpcs","http","https"]}}},)"
    R"({"config":{"type":"record","fields":[)"
    R"({"remove":{"type":"record","fields":[{"json":)" SBP_RST_STRINGS
    R"(},{"headers":)" SBP_RST_STRINGS R"(}]}},)"
    R"({"rename":{"type":"record","fields":[{"json":)" SBP_RST_COLON_STRINGS
    R"(},{"headers":)" SBP_RST_COLON_STRINGS R"(}]}},)"
    R"({"replace":)" SBP_RST_COLON_RECORD R"(},)"
    R"({"add":)" SBP_RST_COLON_RECORD R"(},)"
    R"({"append":)" SBP_RST_COLON_RECORD R"(})"
    R"(]}}]})";

#undef SBP_RST_STRINGS
#undef SBP_RST_COLON_STRINGS
#undef SBP_RST_JSON_TYPES
#undef SBP_RST_COLON_RECORD

}  // namespace sbp
