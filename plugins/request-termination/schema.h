// request-termination's config schema in Kong's plugin-schema shape (JSON), from Kong 3.9's
// kong/plugins/request-termination/schema.lua. The record's custom_validator (message / body /
// content_type / echo exclusions) and the trigger's header-name validator run in compile().
#pragma once

namespace sbp {

inline constexpr char kRequestTerminationSchema[] =
    R"({"name":"request-termination","fields":[)"
    R"({"protocols":{"type":"set","required":true,"default":["grpc","grpcs","http","https"],)"
    R"("elements":{"type":"string","one_of":["grpc","grpcs","http","https"]}}},)"
    R"({"config":{"type":"record","fields":[)"
    R"({"status_code":{"type":"integer","required":true,"default":503,"between":[100,599],)"
    R"("description":"The response code to send. Must be an integer between 100 and 599."}},)"
    R"({"message":{"type":"string","description":"The message to send, if using the default )"
    R"(response generator."}},)"
    R"({"content_type":{"type":"string","description":"Content type of the raw response )"
    R"(configured with `config.body`."}},)"
    R"({"body":{"type":"string","description":"The raw response body to send. This is )"
    R"(mutually exclusive with the `config.message` field."}},)"
    R"({"echo":{"type":"boolean","required":true,"default":false,"description":"When set, )"
    R"(the plugin will echo a copy of the request back to the client. The main usecase for )"
    R"(this is debugging. It can be combined with `trigger` in order to debug requests on )"
    R"(live systems without disturbing real traffic."}},)"
    R"({"trigger":{"type":"string","description":"A string representing an HTTP header )"
    R"(name."}})"
    R"(]}}]})";

}  // namespace sbp
