// Where key-auth looks for a key besides headers: the query string and the request body
// (application/x-www-form-urlencoded, application/json, multipart/form-data), read and rewritten
// the way Kong 3.9's key-auth sees them through kong.request.get_query()/get_body() and
// kong.service.request.clear_query_arg()/set_body().
//
// Pure functions over byte views so they are unit-tested without a host. Decoded values go into
// a caller-owned scratch string (reused per worker thread: no allocation once it has grown).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sbp::key_auth {

// What a Lua lookup `args[name]` / `body[name]` would have returned, reduced to what key-auth
// branches on.
enum class Found {
  kAbsent,  // nil: look further
  kString,  // a string: the key candidate (maybe empty)
  kMulti,   // a table (repeated argument, JSON array/object): "Duplicate API key found"
  kOther,   // another truthy non-string (flag without '=', number, true, null): ignored
  kFalse,   // JSON false: like nil for "look further", ignored
};

struct Lookup {
  Found found = Found::kAbsent;
  std::string_view value;  // kString only; points into the input or into the scratch string
};

// ---- percent-decoding (nginx's ngx_unescape_uri for arguments: "%XY" decoded, a malformed
// escape kept as is, '+' as a space when plus_is_space).
void percent_decode(std::string_view in, bool plus_is_space, std::string* out);

// ---- application/x-www-form-urlencoded (ngx.req.get_post_args / get_uri_args): '&'-separated,
// name up to the first '=', an argument without '=' is a flag (Lua `true`), at most `max_args`
// arguments are read (nginx's default 100). A repeated name is kMulti.
Lookup form_lookup(std::string_view args, std::string_view name, std::string* scratch,
                   size_t max_args = 100);
// Whether `name` appears in `args` exactly once and as a bare flag (no '='); used to tell
// `?apikey` (Lua true) from `?apikey=` ("") when the host reports both as an empty value.
bool form_is_flag(std::string_view args, std::string_view name, size_t max_args = 100);
// Drops every argument whose decoded name is `name`, keeping the others' bytes and order.
// Returns false (out untouched) when nothing was removed.
bool form_remove(std::string_view args, std::string_view name, std::string* out);

// kong.service.request.clear_query_arg in 3.x (lua-resty-ada's search.remove, WHATWG
// URLSearchParams): parses the query, drops `name`, and re-serializes the remaining arguments
// with the application/x-www-form-urlencoded serializer (so "valu%651" becomes "value1" and an
// argument without '=' becomes "name="). Kong does this whenever hide_credentials is on and the
// query is not empty, whether or not the key was in the query.
void query_remove_whatwg(std::string_view query, std::string_view name, std::string* out);

// ---- application/json: the whole body must be valid JSON (else Kong's get_body fails and the
// body is ignored); only a top-level object has members. Duplicate member names: the last one
// wins, as cjson.
Lookup json_lookup(std::string_view body, std::string_view name, std::string* scratch);
// Rewrites the top-level object without any member called `name` (other members' bytes kept).
// Returns false when the body is not a valid object or has no such member.
bool json_remove(std::string_view body, std::string_view name, std::string* out);

// ---- multipart/form-data (lua-multipart as used by kong.request.get_body): parts named by
// their Content-Disposition `name`; a repeated name is kMulti.
std::string_view multipart_boundary(std::string_view content_type);
Lookup multipart_lookup(std::string_view body, std::string_view boundary, std::string_view name,
                        std::string* scratch);
bool multipart_remove(std::string_view body, std::string_view boundary, std::string_view name,
                      std::string* out);

// ---- the body kinds kong.request.get_body() understands, chosen from Content-Type: the media
// type (before ';', lower-cased) must START with the known type, as Kong's find(...) == 1.
enum class BodyKind { kNone, kForm, kJson, kMultipart };
BodyKind body_kind(std::string_view content_type);

}  // namespace sbp::key_auth
