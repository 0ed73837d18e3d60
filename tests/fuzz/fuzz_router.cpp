// A small route table and a request, both from the fuzz input -> Router::build + match, plus the
// path helpers (normalize_path, join_upstream_path, escape_upstream_path, migrate_legacy_path)
// on every line. Values the loader would reject are dropped with its own checks, so the router
// only sees configs a kong.yaml could produce.
//
// Input: one flags byte, then lines. Route table lines, until "---":
//   R            new route          P<path>    path (prefix or ~regex)
//   H<host>      host               M<method>  method
//   X<name>:<v>  header (v may be ~*regex)     S<path>    the service path
//   N<digit>     regex_priority
// then the request: method, Host value, target, and "name: value" header lines.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/checks.h"
#include "config/model.h"
#include "fuzz_common.h"
#include "router/router.h"

namespace {

namespace checks = sb::config::checks;

void path_helpers(std::string_view s, uint8_t flags) {
  std::string norm;
  bool ok = sb::router::normalize_path(s, norm);
  std::string joined = sb::router::join_upstream_path(s, ok ? std::string_view(norm) : "/",
                                                      (flags & 1) ? s.substr(0, s.size() / 2) : "",
                                                      flags & 2, (flags & 4) ? "v1" : "v0");
  std::string esc = sb::router::escape_upstream_path(s);
  (void)sb::router::is_legacy_regex_path(s);
  if (!s.empty() && s[0] == '/') (void)sb::router::migrate_legacy_path(s);
  (void)checks::normalize_path(s);
  (void)(joined.size() + esc.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sb::fuzz::Input in(data, size);
  const uint8_t flags = in.byte();
  const bool legacy = flags & 8;

  sb::config::Config config;
  config.format_version = legacy ? "2.1" : "3.0";
  sb::config::Service service;
  service.id = "00000000-0000-0000-0000-000000000001";
  service.name = "svc";
  service.host = "127.0.0.1";
  config.services.push_back(service);

  auto new_route = [&]() {
    if (config.routes.size() >= 64) return;
    sb::config::Route r;
    r.id = "r" + std::to_string(config.routes.size());
    r.service = (flags & 16) ? -1 : 0;
    r.strip_path = flags & 32;
    r.path_handling = (flags & 64) ? "v1" : "v0";
    r.legacy_paths = legacy;
    r.created_at = static_cast<int64_t>(config.routes.size());
    config.routes.push_back(std::move(r));
  };
  auto route = [&]() -> sb::config::Route& {
    if (config.routes.empty()) new_route();
    return config.routes.back();
  };

  for (int lines = 0; in.size() > 0 && lines < 256; ++lines) {
    std::string_view line = in.line();
    if (line == "---") break;
    path_helpers(line, flags);
    if (line.empty()) continue;
    std::string_view v = line.substr(1);
    switch (line[0]) {
      case 'R':
        new_route();
        break;
      case 'P': {
        std::string err =
            legacy ? checks::check_legacy_router_path(v) : checks::check_router_path(v);
        if (err.empty()) route().paths.emplace_back(v);
        break;
      }
      case 'H':
        if (checks::check_route_host(v).empty()) route().hosts.emplace_back(v);
        break;
      case 'M':
        if (!v.empty() && v.size() < 16) route().methods.emplace_back(v);
        break;
      case 'N':
        route().regex_priority = v.empty() ? 0 : v[0] - '0';
        break;
      case 'S':
        if (checks::check_service_path(v).empty()) config.services[0].path = std::string(v);
        break;
      case 'X': {
        size_t colon = v.find(':');
        if (colon == std::string_view::npos) break;
        std::string_view name = v.substr(0, colon), value = v.substr(colon + 1);
        if (!checks::check_header_name(name).empty()) break;
        if (value.size() > 2 && value.substr(0, 2) == "~*" &&
            !checks::regex_error(value.substr(2)).empty())
          break;
        route().headers.push_back({std::string(name), {std::string(value)}});
        break;
      }
      default:
        break;
    }
  }

  std::string_view method = in.line(), host = in.line(), target = in.line();
  std::vector<std::string_view> header_lines;
  std::vector<sb::router::Header> headers;
  while (in.size() > 0 && headers.size() < 32) {
    std::string_view l = in.line();
    path_helpers(l, flags);
    size_t colon = l.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = l.substr(colon + 1);
    while (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    headers.push_back({l.substr(0, colon), value});
  }
  path_helpers(target, flags);

  std::vector<std::string> errors;
  for (auto flavor :
       {sb::router::Flavor::traditional, sb::router::Flavor::traditional_compatible}) {
    auto router = sb::router::Router::build(config, flavor, &errors);
    if (!router) continue;
    std::string path;
    if (!sb::router::normalize_path(target, path)) continue;
    sb::router::Request req;
    req.method = method;
    req.host = host;
    req.path = path;
    req.scheme = (flags & 128) ? "https" : "http";
    req.sni = (flags & 128) ? host : std::string_view();
    req.listen_port = 8000;
    req.headers = headers;
    sb::router::Match match;
    if (router->match(req, match)) {
      size_t sink = match.upstream_path.size() + match.stripped_prefix.size();
      for (const auto& c : match.captures) sink += c.value.size();
      (void)sink;
    }
  }
  return 0;
}
