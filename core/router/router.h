// Kong's route matching, compiled once per config Snapshot.
//
// Two flavours, as Kong's `router_flavor` node setting:
//  - Flavor::traditional (Silverback's default): Kong 2.8 semantics. Honours `path_handling: v1`,
//    orders candidates by Kong 2.8's rules (criteria count, category bits, sub-weights, header
//    count, regex_priority, prefix length, created_at). 2.x regex heuristic for "1.1"/"2.1" files.
//  - Flavor::traditional_compatible: Kong 3.x's default router. v1 treated as v0, Kong 3.x's
//    64-bit priority order with the route-id tie-break.
// Regexes are PCRE2 with JIT (Kong 2.8's dialect, look-around included), anchored at the start.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"

namespace sb::router {

enum class Flavor { traditional, traditional_compatible };

struct Header {
  std::string_view name;  // as received (compare case-insensitively)
  std::string_view value;
};

// What the router looks at. All views must outlive the match() call only.
struct Request {
  std::string_view method;   // upper-case, e.g. "GET"
  std::string_view host;     // Host header as received, may carry ":port"; empty if absent
  std::string_view path;     // already normalized with normalize_path()
  std::string_view scheme;   // "http" or "https"
  std::string_view sni;      // TLS server name, empty on plain http
  uint16_t listen_port = 0;  // local port the request arrived on (for host entries with a port)
  std::span<const Header> headers;
};

// A named or numbered regex capture (kept for plugins).
struct Capture {
  std::string name;  // empty for numbered captures
  int index = 0;     // 1-based group number
  std::string value;
};

struct Match {
  const sb::config::Route* route = nullptr;
  const sb::config::Service* service = nullptr;  // null when the route has no service
  std::string matched_path;     // route path that matched ("" for a route without paths)
  std::string stripped_prefix;  // what strip_path removed ("" when nothing was stripped)
  std::string upstream_path;    // service path joined with the request path, re-escaped, no query
  std::vector<Capture> captures;
};

class Router {
 public:
  // Compiles the router for `config` (which must outlive it). Regexes that do not compile are
  // reported in `errors` as "invalid regex: '<re>' (PCRE returned: ...)" and the route skipped.
  static std::unique_ptr<Router> build(const sb::config::Config& config, Flavor flavor,
                                       std::vector<std::string>* errors = nullptr);
  virtual ~Router() = default;

  // Best matching route for the request, or false. `out` is overwritten on success.
  virtual bool match(const Request& request, Match& out) const = 0;

  virtual size_t route_count() const = 0;
};

// Kong's path normalization (kong-compat.md §2.1): cut at '?', percent-decode except reserved
// characters (kept as upper-case %XX), remove dot segments, merge repeated slashes.
// Returns false for input that cannot be a path (bad percent escape, not starting with '/').
bool normalize_path(std::string_view raw_target, std::string& out);

// Kong's upstream path construction (kong-compat.md §2.5); `handling` is "v0" or "v1".
// `request_path` is normalized; `prefix` is what strip_path removes ("" if nothing).
std::string join_upstream_path(std::string_view service_path, std::string_view request_path,
                               std::string_view prefix, bool strip_path, std::string_view handling);

// Re-escapes characters outside Kong's allowed set as %XX (kong-compat.md §2.5).
std::string escape_upstream_path(std::string_view path);

// "traditional" / "traditional_compatible" (Kong's `router_flavor` values).
std::string_view flavor_name(Flavor flavor);
// Parses a `router_flavor` value; false for anything else ("expressions" is not supported).
bool parse_flavor(std::string_view name, Flavor* flavor);

// Kong 2.x's regex heuristic for "1.1"/"2.1" paths: true when `path` has a character outside
// [A-Za-z0-9.-_~/%] (such a path is a regex).
bool is_legacy_regex_path(std::string_view path);

// Kong 3.x's on-load migration of one "1.1"/"2.1" route path (kong-compat.md §1.1): a prefix path
// is normalized, a regex path gets the "~" prefix and its %XX escapes decoded (reserved characters
// kept as upper-case %XX, decoded regex meta characters backslash-escaped).
std::string migrate_legacy_path(std::string_view path);

}  // namespace sb::router
