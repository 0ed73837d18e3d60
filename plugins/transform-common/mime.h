// Media types the way Kong's kong.tools.mime_type parses them (RFC 2045 grammar).
#pragma once

#include <string_view>

namespace sbp::mime {

// Parses "type/subtype *( ; attribute=value )" (the whole string must match; no surrounding
// spaces). On success sets type and subtype (views into `s`, not lower-cased) and returns true.
bool parse(std::string_view s, std::string_view& type, std::string_view& subtype);

// response-transformer's is_json_body(): any comma-separated element of the header whose
// media type is application/json or application/<x>+json (case-insensitive).
bool is_json(std::string_view content_type);

}  // namespace sbp::mime
