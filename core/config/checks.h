// String-level validators and helpers shared by the config loader (Kong's typedefs, in C++).
//
// Each validator returns an empty string when the value is fine, else Kong's error message.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sb::config::checks {

// UUIDs -----------------------------------------------------------------------------------------

bool is_uuid(std::string_view s);  // 8-4-4-4-12 hex digits, any case
// Name-based UUIDv5 (RFC 4122, SHA-1) of `name` in `namespace_uuid` (textual UUID).
std::string uuid_v5(std::string_view namespace_uuid, std::string_view name);
// Kong's declarative id: uuid_v5(uuid_v5(fd02801f-..., entity), key).
std::string entity_uuid(std::string_view entity, std::string_view key);
std::string random_uuid();  // UUIDv4 from OpenSSL RAND
std::string md5_hex(std::string_view data);

// Hosts -----------------------------------------------------------------------------------------

struct HostPort {
  enum Type { kName, kIpv4, kIpv6 } type = kName;
  std::string host;  // IPv6 without brackets
  int port = -1;     // -1 = none
};
// Kong's tools.ip.normalize_ip: hostname, IPv4 or IPv6 (bracketed when it has a port), with an
// optional ":port". On failure returns nullopt and sets `error` (e.g. "invalid hostname: x").
std::optional<HostPort> parse_host(std::string_view text, std::string* error);
std::string check_host(std::string_view host);  // typedefs.host (no port)
std::string check_host_with_optional_port(std::string_view host);
std::string check_wildcard_host(std::string_view host);  // route snis / sni names
std::string check_route_host(std::string_view host);     // route hosts (wildcards, :port)
bool is_ip_or_cidr(std::string_view s);

// Names, tags, headers -------------------------------------------------------------------------

std::string check_utf8_name(std::string_view name);
std::string check_tag(std::string_view tag);
std::string check_header_name(std::string_view name);
bool valid_utf8(std::string_view s, size_t* bad_index);

// Paths -----------------------------------------------------------------------------------------

// typedefs.path (service paths): starts with '/', no '//', RFC 3986 characters, %XX escapes.
std::string check_service_path(std::string_view path);
// Kong 3.x router path ("/prefix" or "~/regex"); compiles regexes with PCRE2.
std::string check_router_path(std::string_view path);
// 1.1 / 2.1 router path (2.x regex heuristic; regexes compiled with PCRE2).
std::string check_legacy_router_path(std::string_view path);
// Kong 2.x heuristic: a path with any character outside [A-Za-z0-9.-_~/%] is a regex.
bool legacy_path_is_regex(std::string_view path);
// Request-path normalization (kong-compat.md §2.1, steps 2-4).
std::string normalize_path(std::string_view path);
// Empty when `re` compiles (PCRE2, anchored), else "pcre2_compile() failed: <msg> in \"<re>\"".
std::string regex_error(std::string_view re);

// Certificates (OpenSSL) -------------------------------------------------------------------------

// Kong's vault reference syntax "{vault://...}": such values are not validated until resolved
// (Kong skips field validators and entity checks for referenceable fields holding one).
bool is_vault_reference(std::string_view s);
// typedefs.certificate: the first PEM certificate of `pem` parses. Empty when fine, else
// "invalid certificate: x509.new: <OpenSSL reason>".
std::string check_certificate(std::string_view pem);
// typedefs.key: a PEM private key (never prompts for a passphrase). Empty when fine, else
// "invalid key: pkey.new:load_key: <OpenSSL reason>".
std::string check_key(std::string_view pem);
// The certificate's public key is the key's public half (both must parse).
bool certificate_matches_key(std::string_view cert_pem, std::string_view key_pem);
// OpenSSL base id of the certificate's public key type (EVP_PKEY_RSA, EVP_PKEY_EC, ...); 0 when
// it does not parse.
int certificate_key_type(std::string_view cert_pem);

}  // namespace sb::config::checks
