// Router micro-benchmark: ns per match() for 100, 1,000 and 10,000 routes, per kind of request,
// for both flavours. Shows that plain-host and prefix-path lookups do not grow with route count.
//
// Route mix per N: 40% plain host, 40% prefix path, 10% wildcard host, 3% regex path scoped by a
// host (300 regex routes at N = 10,000), 7% host + method + prefix.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "config/model.h"
#include "router/router.h"

namespace {

using sb::config::Config;
using sb::config::Route;
using sb::config::Service;
using sb::router::Flavor;
using sb::router::Match;
using sb::router::Request;
using sb::router::Router;

Config make_config(int n) {
  Config c;
  c.format_version = "3.0";
  Service s;
  s.id = "svc";
  s.host = "upstream";
  s.path = "/base";
  c.services.push_back(s);
  for (int i = 0; i < n; ++i) {
    Route r;
    r.id = fmt::format("00000000-0000-4000-8000-{:012d}", i);
    r.name = fmt::format("r{}", i);
    r.service = 0;
    int kind = i % 100;
    if (kind < 40) {
      r.hosts = {fmt::format("svc-{}.example.com", i)};
    } else if (kind < 80) {
      r.paths = {fmt::format("/api/svc-{}/v1", i)};
    } else if (kind < 90) {
      r.hosts = {fmt::format("*.tenant-{}.example.org", i)};
    } else if (kind < 93) {
      r.hosts = {fmt::format("re-{}.example.com", i)};
      r.paths = {"~/items/(?<id>\\d+)/(\\w+)$"};
    } else {
      r.hosts = {fmt::format("combo-{}.example.com", i)};
      r.methods = {"GET", "POST"};
      r.paths = {"/v2"};
    }
    c.routes.push_back(std::move(r));
  }
  return c;
}

struct Probe {
  const char* label;
  std::vector<std::string> hosts;
  std::vector<std::string> paths;
};

// Requests spread over the whole route range (first, middle, last routes of each kind).
Probe probe(const char* label, int n, int lo, int hi, const char* host_fmt, const char* path_fmt) {
  Probe p{label, {}, {}};
  for (int i = 0; i < n; ++i) {
    int kind = i % 100;
    if (kind < lo || kind >= hi) continue;
    p.hosts.push_back(fmt::format(fmt::runtime(host_fmt), i));
    p.paths.push_back(fmt::format(fmt::runtime(path_fmt), i));
  }
  return p;
}

double run(const Router& router, const Probe& p, bool expect_match) {
  Match m;
  Request r;
  r.method = "GET";
  r.scheme = "http";
  r.listen_port = 8000;
  const int iterations = 400000;
  size_t hits = 0;
  // warm-up
  for (size_t i = 0; i < p.hosts.size() && i < 1000; ++i) {
    r.host = p.hosts[i];
    r.path = p.paths[i];
    hits += router.match(r, m);
  }
  hits = 0;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) {
    size_t k = static_cast<size_t>(i) % p.hosts.size();
    r.host = p.hosts[k];
    r.path = p.paths[k];
    hits += router.match(r, m);
  }
  auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start);
  if (expect_match != (hits == static_cast<size_t>(iterations))) {
    std::fprintf(stderr, "%s: unexpected match count %zu/%d\n", p.label, hits, iterations);
  }
  return ns.count() / iterations;
}

}  // namespace

int main() {
  const int sizes[] = {100, 1000, 10000};
  for (Flavor flavor : {Flavor::traditional, Flavor::traditional_compatible}) {
    fmt::print("flavor: {}\n", sb::router::flavor_name(flavor));
    fmt::print("{:<28}{:>12}{:>12}{:>12}\n", "request kind (ns/match)", "100", "1000", "10000");
    std::vector<std::vector<double>> table(6);
    const char* labels[] = {"plain host",         "prefix path",      "wildcard host",
                            "regex path (+host)", "host+method+path", "no match"};
    for (int n : sizes) {
      Config config = make_config(n);
      std::vector<std::string> errors;
      auto build_start = std::chrono::steady_clock::now();
      auto router = Router::build(config, flavor, &errors);
      auto build_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - build_start);
      if (!errors.empty()) fmt::print(stderr, "build error: {}\n", errors.front());
      fmt::print(stderr, "  built {} routes in {:.1f} ms\n", router->route_count(),
                 build_ms.count());
      Probe probes[] = {
          probe("plain host", n, 0, 40, "svc-{}.example.com", "/some/path"),
          probe("prefix path", n, 40, 80, "gateway.local", "/api/svc-{}/v1/users/42"),
          probe("wildcard host", n, 80, 90, "a.tenant-{}.example.org:8000", "/x"),
          probe("regex path", n, 90, 93, "re-{}.example.com", "/items/{}/detail"),
          probe("combo", n, 93, 100, "combo-{}.example.com", "/v2/orders"),
          probe("no match", n, 0, 100, "nohost-{}.invalid", "/nothing/{}"),
      };
      for (int k = 0; k < 6; ++k) table[k].push_back(run(*router, probes[k], k != 5));
    }
    for (int k = 0; k < 6; ++k) {
      fmt::print("{:<28}{:>12.0f}{:>12.0f}{:>12.0f}\n", labels[k], table[k][0], table[k][1],
                 table[k][2]);
    }
    fmt::print("\n");
  }
  return 0;
}
