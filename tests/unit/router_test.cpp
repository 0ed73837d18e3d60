// Router, path normalization and upstream path construction (kong-compat.md §2).
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "config/model.h"
#include "router/router.h"

namespace {

using sb::config::Config;
using sb::config::HeaderMatch;
using sb::config::Route;
using sb::config::Service;
using sb::router::Flavor;
using sb::router::Header;
using sb::router::Match;
using sb::router::Request;
using sb::router::Router;

constexpr Flavor kTrad = Flavor::traditional;
constexpr Flavor kCompat = Flavor::traditional_compatible;

// A route attached to service 0 unless told otherwise.
Route R(const std::string& name, const std::function<void(Route&)>& setup = {}) {
  Route r;
  r.name = name;
  r.id = name;  // ids only matter for the compat tie-break; tests that care set them
  r.service = 0;
  if (setup) setup(r);
  return r;
}

Config Cfg(std::vector<Route> routes, std::optional<std::string> service_path = std::nullopt) {
  Config c;
  c.format_version = "3.0";
  Service s;
  s.id = "svc-0";
  s.name = "svc";
  s.host = "upstream";
  s.path = std::move(service_path);
  c.services.push_back(s);
  c.routes = std::move(routes);
  return c;
}

struct Req {
  std::string method = "GET";
  std::string host = "example.com";
  std::string path = "/";
  std::string scheme = "http";
  std::string sni;
  uint16_t listen_port = 8000;
  std::vector<std::pair<std::string, std::string>> headers;
};

bool MatchReq(const Router& router, const Req& q, Match& m) {
  std::vector<Header> hs;
  for (const auto& [n, v] : q.headers) hs.push_back({n, v});
  std::string path;
  EXPECT_TRUE(sb::router::normalize_path(q.path, path)) << q.path;
  Request r;
  r.method = q.method;
  r.host = q.host;
  r.path = path;
  r.scheme = q.scheme;
  r.sni = q.sni;
  r.listen_port = q.listen_port;
  r.headers = hs;
  return router.match(r, m);
}

// Name of the matching route, or "<none>".
std::string Which(const Router& router, const Req& q) {
  Match m;
  if (!MatchReq(router, q, m)) return "<none>";
  return m.route->name;
}

std::unique_ptr<Router> Build(const Config& c, Flavor f) {
  std::vector<std::string> errors;
  auto r = Router::build(c, f, &errors);
  EXPECT_TRUE(errors.empty()) << errors.front();
  return r;
}

class RouterBoth : public ::testing::TestWithParam<Flavor> {};
INSTANTIATE_TEST_SUITE_P(Router, RouterBoth, ::testing::Values(kTrad, kCompat),
                         [](const auto& info) {
                           return std::string(sb::router::flavor_name(info.param));
                         });

Req Q(const std::function<void(Req&)>& setup) {
  Req q;
  setup(q);
  return q;
}

// ------------------------------------------------------------------------------------------
// Each field alone and combined (both flavours)

TEST_P(RouterBoth, MethodsAlone) {
  auto cfg = Cfg({R("get", [](Route& r) { r.methods = {"GET"}; }), R("post", [](Route& r) {
                    r.methods = {"POST", "PUT"};
                  })});
  auto router = Build(cfg, GetParam());
  EXPECT_EQ(router->route_count(), 2u);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.method = "GET"; })), "get");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.method = "PUT"; })), "post");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.method = "DELETE"; })), "<none>");
}

TEST_P(RouterBoth, PlainHostsCaseSensitiveAnyPort) {
  auto cfg = Cfg({R("a", [](Route& r) { r.hosts = {"a.example.com", "b.example.com"}; })});
  auto router = Build(cfg, GetParam());
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "a.example.com"; })), "a");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "b.example.com:80"; })), "a");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "b.example.com:9999"; })), "a");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "c.example.com"; })), "<none>");
  // Kong compares the Host header as-is (documented as case sensitive).
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "A.example.com"; })), "<none>");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = ""; })), "<none>");
}

TEST_P(RouterBoth, WildcardHosts) {
  auto cfg = Cfg({R("suffix", [](Route& r) { r.hosts = {"*.example.com"}; }),
                  R("prefix", [](Route& r) { r.hosts = {"api.*"}; })});
  auto router = Build(cfg, GetParam());
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "a.example.com"; })), "suffix");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "a.b.example.com:8080"; })), "suffix");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "example.com"; })), "<none>");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "aexample.com"; })), "<none>");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "api.foo.org"; })), "prefix");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "api.foo.org:1234"; })), "prefix");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "apix.org"; })), "<none>");
}

TEST(RouterHostPort, TraditionalUsesHostHeaderPortElseSchemeDefault) {
  auto cfg = Cfg({R("p8000", [](Route& r) { r.hosts = {"example.com:8000"}; }),
                  R("p443", [](Route& r) { r.hosts = {"secure.com:443"}; }),
                  R("wild80", [](Route& r) { r.hosts = {"*.wild.com:80"}; })});
  auto router = Build(cfg, kTrad);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "example.com:8000"; })), "p8000");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "example.com:8001"; })), "<none>");
  // no port in Host: the scheme's default port, not the listening port
  EXPECT_EQ(Which(*router, Q([](Req& q) {
              q.host = "example.com";
              q.listen_port = 8000;
            })),
            "<none>");
  EXPECT_EQ(Which(*router, Q([](Req& q) {
              q.host = "secure.com";
              q.scheme = "https";
            })),
            "p443");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "secure.com"; })), "<none>");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "a.wild.com"; })), "wild80");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "a.wild.com:81"; })), "<none>");
}

TEST(RouterHostPort, CompatUsesHostHeaderPortElseListeningPort) {
  auto cfg = Cfg({R("p8000", [](Route& r) { r.hosts = {"example.com:8000"}; })});
  auto router = Build(cfg, kCompat);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "example.com:8000"; })), "p8000");
  EXPECT_EQ(Which(*router, Q([](Req& q) {
              q.host = "example.com";
              q.listen_port = 8000;
            })),
            "p8000");
  EXPECT_EQ(Which(*router, Q([](Req& q) {
              q.host = "example.com";
              q.listen_port = 8443;
            })),
            "<none>");
}

TEST(RouterHostPort, TraditionalPrefersEntryEqualToRawHost) {
  // Kong 2.8 unit test: "domain-1.org:321" goes to the route listing that exact host:port even
  // though an earlier route lists the port-less host.
  auto cfg = Cfg({R("any", [](Route& r) { r.hosts = {"domain-1.org"}; }),
                  R("port",
                    [](Route& r) {
                      r.hosts = {"domain-1.org:321", "domain-2.org"};
                    }),
                  R("only", [](Route& r) { r.hosts = {"domain-3.org:321"}; })});
  auto router = Build(cfg, kTrad);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "domain-1.org:321"; })), "port");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "domain-1.org:123"; })), "any");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "domain-1.org"; })), "any");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "domain-3.org:321"; })), "only");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "domain-3.org:123"; })), "<none>");
}

TEST_P(RouterBoth, Ipv6Hosts) {
  auto cfg = Cfg({R("v6", [](Route& r) { r.hosts = {"[::1]"}; })});
  auto router = Build(cfg, GetParam());
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "[::1]"; })), "v6");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "[::1]:8000"; })), "v6");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "[::2]"; })), "<none>");
}

TEST_P(RouterBoth, PrefixPathsAreNotSegmentAware) {
  auto cfg = Cfg({R("route", [](Route& r) { r.paths = {"/route"}; })});
  auto router = Build(cfg, GetParam());
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/route"; })), "route");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/routereq"; })), "route");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/route/x?q=1"; })), "route");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/rout"; })), "<none>");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/Route"; })), "<none>");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/x/route"; })), "<none>");
}

TEST_P(RouterBoth, NestedPrefixesLongestWins) {
  auto cfg =
      Cfg({R("root", [](Route& r) { r.paths = {"/"}; }), R("a", [](Route& r) { r.paths = {"/a"}; }),
           R("abc", [](Route& r) { r.paths = {"/a/b/c"}; }),
           R("ab", [](Route& r) { r.paths = {"/a/b"}; }),
           R("ax", [](Route& r) { r.paths = {"/a/x"}; })});
  auto router = Build(cfg, GetParam());
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/a/b/c/d"; })), "abc");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/a/b/z"; })), "ab");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/a/c"; })), "a");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/a/xyz"; })), "ax");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/b"; })), "root");
}

TEST_P(RouterBoth, HeadersNameAndValueCaseInsensitive) {
  auto cfg = Cfg({R("h", [](Route& r) {
    r.headers = {HeaderMatch{"X-Version", {"V1", "v2"}}, HeaderMatch{"x_team", {"blue"}}};
  })});
  auto router = Build(cfg, GetParam());
  EXPECT_EQ(Which(*router, Q([](Req& q) {
              q.headers = {{"x-version", "v1"}, {"X-Team", "BLUE"}};
            })),
            "h");
  EXPECT_EQ(Which(*router, Q([](Req& q) {
              q.headers = {{"X-VERSION", "V2"}, {"x-team", "blue"}};
            })),
            "h");
  // every listed header must match
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.headers = {{"x-version", "v1"}}; })), "<none>");
  EXPECT_EQ(Which(*router, Q([](Req& q) {
              q.headers = {{"x-version", "v3"}, {"x-team", "blue"}};
            })),
            "<none>");
  // a repeated header matches when any of its values does
  EXPECT_EQ(Which(*router, Q([](Req& q) {
              q.headers = {{"x-version", "v9"}, {"x-version", "v2"}, {"x-team", "blue"}};
            })),
            "h");
}

TEST(RouterHeaders, TraditionalRegexOnlyAsSingleValue) {
  auto cfg = Cfg({R("one",
                    [](Route& r) {
                      r.headers = {HeaderMatch{"ua", {"~*windows|linux"}}};
                    }),
                  R("two", [](Route& r) {
                    r.headers = {HeaderMatch{"x", {"~*^a.*", "plain"}}};
                  })});
  auto router = Build(cfg, kTrad);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.headers = {{"UA", "Mozilla (Linux x86)"}}; })), "one");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.headers = {{"ua", "mac"}}; })), "<none>");
  // two values: "~*^a.*" is a literal value in 2.8
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.headers = {{"x", "abc"}}; })), "<none>");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.headers = {{"x", "PLAIN"}}; })), "two");
}

TEST(RouterHeaders, CompatRegexOnAnyValue) {
  auto cfg = Cfg({R("two", [](Route& r) { r.headers = {HeaderMatch{"x", {"~*^A.*", "plain"}}}; })});
  auto router = Build(cfg, kCompat);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.headers = {{"x", "ABC"}}; })), "two");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.headers = {{"x", "plain"}}; })), "two");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.headers = {{"x", "bcd"}}; })), "<none>");
}

TEST_P(RouterBoth, SnisOnlyCheckedOnHttps) {
  auto cfg = Cfg({R("sni", [](Route& r) {
    r.snis = {"secure.example.com."};
    r.paths = {"/s"};
  })});
  auto router = Build(cfg, GetParam());
  EXPECT_EQ(Which(*router, Q([](Req& q) {
              q.path = "/s";
              q.scheme = "https";
              q.sni = "secure.example.com";
            })),
            "sni");
  EXPECT_EQ(Which(*router, Q([](Req& q) {
              q.path = "/s";
              q.scheme = "https";
              q.sni = "other.example.com";
            })),
            "<none>");
  EXPECT_EQ(Which(*router, Q([](Req& q) {
              q.path = "/s";
              q.scheme = "https";
            })),
            "<none>");
  EXPECT_EQ(Which(*router, Q([](Req& q) {
              q.path = "/s";
              q.scheme = "http";
            })),
            "sni");
}

TEST(RouterSnis, CompatWildcardSni) {
  auto cfg = Cfg({R("w", [](Route& r) { r.snis = {"*.example.com"}; })});
  auto router = Build(cfg, kCompat);
  EXPECT_EQ(Which(*router, Q([](Req& q) {
              q.scheme = "https";
              q.sni = "a.example.com";
            })),
            "w");
  EXPECT_EQ(Which(*router, Q([](Req& q) {
              q.scheme = "https";
              q.sni = "example.org";
            })),
            "<none>");
}

TEST_P(RouterBoth, ProtocolsAndServices) {
  Config cfg = Cfg({R("grpc",
                      [](Route& r) {
                        r.protocols = {"grpc", "grpcs"};
                        r.paths = {"/g"};
                      }),
                    R("https_only",
                      [](Route& r) {
                        r.protocols = {"https"};
                        r.paths = {"/h"};
                      }),
                    R("disabled",
                      [](Route& r) {
                        r.paths = {"/d"};
                        r.service = 1;
                      }),
                    R("no_service", [](Route& r) {
                      r.paths = {"/n"};
                      r.service = -1;
                    })});
  Service off;
  off.id = "svc-1";
  off.enabled = false;
  cfg.services.push_back(off);
  auto router = Build(cfg, GetParam());
  EXPECT_EQ(router->route_count(), 2u);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/g"; })), "<none>");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/d"; })), "<none>");
  Match m;
  ASSERT_TRUE(
      MatchReq(*router, Q([](Req& q) { q.path = "/h"; }), m));  // proxy answers the redirect
  EXPECT_EQ(m.route->name, "https_only");
  EXPECT_EQ(m.service, &cfg.services[0]);
  ASSERT_TRUE(MatchReq(*router, Q([](Req& q) { q.path = "/n/x"; }), m));
  EXPECT_EQ(m.route->name, "no_service");
  EXPECT_EQ(m.service, nullptr);
  EXPECT_EQ(m.upstream_path, "/x");
}

TEST_P(RouterBoth, AllFieldsCombinedAreAnded) {
  auto cfg = Cfg({R("all", [](Route& r) {
    r.methods = {"POST"};
    r.hosts = {"api.com"};
    r.paths = {"/v1"};
    r.headers = {HeaderMatch{"x-k", {"y"}}};
    r.snis = {"api.com"};
  })});
  auto router = Build(cfg, GetParam());
  auto ok = [](Req& q) {
    q.method = "POST";
    q.host = "api.com";
    q.path = "/v1/x";
    q.headers = {{"x-k", "y"}};
    q.scheme = "https";
    q.sni = "api.com";
  };
  EXPECT_EQ(Which(*router, Q(ok)), "all");
  EXPECT_EQ(Which(*router, Q([&](Req& q) { ok(q), q.method = "GET"; })), "<none>");
  EXPECT_EQ(Which(*router, Q([&](Req& q) { ok(q), q.host = "api.org"; })), "<none>");
  EXPECT_EQ(Which(*router, Q([&](Req& q) { ok(q), q.path = "/v2"; })), "<none>");
  EXPECT_EQ(Which(*router, Q([&](Req& q) { ok(q), q.headers.clear(); })), "<none>");
  EXPECT_EQ(Which(*router, Q([&](Req& q) { ok(q), q.sni = "x.com"; })), "<none>");
}

// ------------------------------------------------------------------------------------------
// Regex paths, captures, legacy heuristic

TEST_P(RouterBoth, RegexLookAroundAndCaptures) {
  auto cfg = Cfg({R("re", [](Route& r) { r.paths = {"~/users/(?<id>\\d+)(?!/private)/(\\w+)"}; }),
                  R("plain", [](Route& r) { r.paths = {"/users"}; })});
  auto router = Build(cfg, GetParam());
  Match m;
  ASSERT_TRUE(MatchReq(*router, Q([](Req& q) { q.path = "/users/42/profile/more"; }), m));
  EXPECT_EQ(m.route->name, "re");
  EXPECT_EQ(m.matched_path, "~/users/(?<id>\\d+)(?!/private)/(\\w+)");
  ASSERT_EQ(m.captures.size(), 2u);
  EXPECT_EQ(m.captures[0].name, "id");
  EXPECT_EQ(m.captures[0].index, 1);
  EXPECT_EQ(m.captures[0].value, "42");
  EXPECT_EQ(m.captures[1].name, "");
  EXPECT_EQ(m.captures[1].index, 2);
  EXPECT_EQ(m.captures[1].value, "profile");
  EXPECT_EQ(m.stripped_prefix, "/users/42/profile");
  EXPECT_EQ(m.upstream_path, "/more");
  // the negative look-ahead rejects it, so the prefix route gets it
  ASSERT_TRUE(MatchReq(*router, Q([](Req& q) { q.path = "/users/42/private"; }), m));
  EXPECT_EQ(m.route->name, "plain");
  EXPECT_TRUE(m.captures.empty());  // reused Match: captures cleared
  // anchored at the start
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/x/users/1/a"; })), "<none>");
}

TEST_P(RouterBoth, RegexLookBehind) {
  auto cfg = Cfg({R("lb", [](Route& r) { r.paths = {"~/files/.*(?<!\\.tmp)$"}; })});
  auto router = Build(cfg, GetParam());
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/files/a.txt"; })), "lb");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/files/a.tmp"; })), "<none>");
}

TEST_P(RouterBoth, InvalidRegexReportedAndSkipped) {
  auto cfg = Cfg({R("bad", [](Route& r) { r.paths = {"~/a(b"}; }),
                  R("good", [](Route& r) { r.paths = {"/a"}; })});
  std::vector<std::string> errors;
  auto router = Router::build(cfg, GetParam(), &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("invalid regex: '/a(b' (PCRE returned: ", 0), 0u) << errors[0];
  EXPECT_EQ(router->route_count(), 1u);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/a(b"; })), "good");
}

TEST(RouterLegacy, TraditionalHeuristic) {
  // "2.1" files: a path with a character outside [A-Za-z0-9.-_~/%] is a regex.
  auto cfg = Cfg({R("regex",
                    [](Route& r) {
                      r.paths = {"/items/\\d+$"};
                      r.legacy_paths = true;
                    }),
                  R("tilde",
                    [](Route& r) {
                      r.paths = {"~/t[0-9]"};
                      r.legacy_paths = true;
                    }),
                  R("prefix", [](Route& r) {
                    r.paths = {"/pre%7efix"};  // normalized to /pre~fix
                    r.legacy_paths = true;
                  })});
  auto router = Build(cfg, kTrad);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/items/12"; })), "regex");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/items/12/x"; })), "<none>");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/t5"; })), "tilde");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/pre~fix/a"; })), "prefix");
  EXPECT_TRUE(sb::router::is_legacy_regex_path("/a(b)"));
  EXPECT_TRUE(sb::router::is_legacy_regex_path("/a b"));
  EXPECT_FALSE(sb::router::is_legacy_regex_path("/a-b_c.d~e%20/f"));
}

TEST(RouterLegacy, ThreeZeroPathsArePrefixesInTraditional) {
  auto cfg = Cfg({R("p", [](Route& r) { r.paths = {"/items/\\d+"}; })});
  auto router = Build(cfg, kTrad);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/items/12"; })), "<none>");
}

TEST(RouterLegacy, CompatMigratesLikeKong3) {
  EXPECT_EQ(sb::router::migrate_legacy_path("/a/%2e/../b"), "/b");
  EXPECT_EQ(sb::router::migrate_legacy_path("/a%2Eb(\\d+)"), "~/a\\.b(\\d+)");
  EXPECT_EQ(sb::router::migrate_legacy_path("/x%2f(y)"), "~/x%2F(y)");
  EXPECT_EQ(sb::router::migrate_legacy_path("/x%41(y)"), "~/xA(y)");
  auto cfg = Cfg({R("re", [](Route& r) {
    r.paths = {"/v%2E(\\d+)$"};  // "." decoded and escaped: matches "/v.1" but not "/vx1"
    r.legacy_paths = true;
  })});
  for (Flavor f : {kTrad, kCompat}) {
    auto router = Build(cfg, f);
    EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/v.1"; })), "re");
    EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/vx1"; })), "<none>");
  }
}

// ------------------------------------------------------------------------------------------
// Kong 2.8 ordering rules (§2.3), one by one

TEST(RouterTraditionalOrder, MoreCriteriaWins) {
  auto cfg = Cfg({R("host", [](Route& r) { r.hosts = {"api.com"}; }), R("host_path", [](Route& r) {
                    r.hosts = {"api.com"};
                    r.paths = {"/"};
                  })});
  auto router = Build(cfg, kTrad);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "api.com"; })), "host_path");
}

TEST(RouterTraditionalOrder, CategoryBitsBreakCountTies) {
  auto cfg = Cfg({R("methods", [](Route& r) { r.methods = {"GET"}; }),
                  R("paths", [](Route& r) { r.paths = {"/"}; }),
                  R("hosts", [](Route& r) { r.hosts = {"api.com"}; }),
                  R("headers_paths",
                    [](Route& r) {
                      r.headers = {HeaderMatch{"x", {"1"}}};
                      r.paths = {"/"};
                    }),
                  R("hosts_methods", [](Route& r) {
                    r.hosts = {"api.com"};
                    r.methods = {"GET"};
                  })});
  auto router = Build(cfg, kTrad);
  EXPECT_EQ(Which(*router, Q([](Req& q) {
              q.host = "api.com";
              q.headers = {{"x", "1"}};
            })),
            "hosts_methods");
  EXPECT_EQ(Which(*router, Q([](Req& q) {
              q.host = "other.com";
              q.headers = {{"x", "1"}};
            })),
            "headers_paths");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "api.com"; })), "hosts_methods");
  EXPECT_EQ(Which(*router, Q([](Req& q) {
              q.host = "api.com";
              q.method = "POST";
            })),
            "hosts");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "other.com"; })), "paths");
}

TEST(RouterTraditionalOrder, PlainHostBeatsWildcardHost) {
  auto cfg = Cfg({R("wild", [](Route& r) { r.hosts = {"*.api.com"}; }),
                  R("plain", [](Route& r) { r.hosts = {"v1.api.com"}; })});
  auto router = Build(cfg, kTrad);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "v1.api.com"; })), "plain");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "v2.api.com"; })), "wild");
}

TEST(RouterTraditionalOrder, WildcardHostWithPortBeatsWildcardHost) {
  auto cfg = Cfg({R("wild", [](Route& r) { r.hosts = {"route.*"}; }),
                  R("wild80", [](Route& r) { r.hosts = {"route.*:80"}; })});
  auto router = Build(cfg, kTrad);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "route.org"; })), "wild80");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "route.org:80"; })), "wild80");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "route.org:81"; })), "wild");
}

TEST(RouterTraditionalOrder, RegexBeatsPrefix) {
  auto cfg = Cfg({R("prefix", [](Route& r) { r.paths = {"/api/users/long/prefix"}; }),
                  R("regex", [](Route& r) { r.paths = {"~/api/.*"}; })});
  auto router = Build(cfg, kTrad);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/api/users/long/prefix"; })), "regex");
}

TEST(RouterTraditionalOrder, MoreHeadersWins) {
  auto cfg = Cfg({R("one",
                    [](Route& r) {
                      r.headers = {HeaderMatch{"a", {"1"}}};
                    }),
                  R("two", [](Route& r) {
                    r.headers = {HeaderMatch{"a", {"1"}}, HeaderMatch{"b", {"2"}}};
                  })});
  auto router = Build(cfg, kTrad);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.headers = {{"a", "1"}, {"b", "2"}}; })), "two");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.headers = {{"a", "1"}}; })), "one");
}

TEST(RouterTraditionalOrder, RegexPriority) {
  auto cfg = Cfg({R("low", [](Route& r) { r.paths = {"~/a/.*"}; }),
                  R("high",
                    [](Route& r) {
                      r.paths = {"~/a/b"};
                      r.regex_priority = 5;
                    }),
                  R("prefix_rp", [](Route& r) {
                    r.paths = {"/a"};
                    r.regex_priority = 100;  // ignored: not a regex
                  })});
  auto router = Build(cfg, kTrad);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/a/b"; })), "high");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/a/c"; })), "low");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/a"; })), "prefix_rp");
}

TEST(RouterTraditionalOrder, LongestPrefixThenCreatedAtThenFileOrder) {
  auto cfg = Cfg({R("short", [](Route& r) { r.paths = {"/p"}; }),
                  R("long", [](Route& r) { r.paths = {"/p/long"}; }),
                  R("newer",
                    [](Route& r) {
                      r.paths = {"/same"};
                      r.created_at = 200;
                    }),
                  R("older",
                    [](Route& r) {
                      r.paths = {"/same"};
                      r.created_at = 100;
                    }),
                  R("first", [](Route& r) { r.paths = {"/tie"}; }),
                  R("second", [](Route& r) { r.paths = {"/tie"}; })});
  auto router = Build(cfg, kTrad);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/p/long/x"; })), "long");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/same"; })), "older");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/tie"; })), "first");
}

TEST(RouterTraditionalOrder, RouteSplitPerPath) {
  // Kong 2.8 ranks each path on its own: the long path of "multi" beats "mid", its short one
  // loses to it.
  auto cfg = Cfg({R("multi",
                    [](Route& r) {
                      r.paths = {"/x", "/a/b/c"};
                    }),
                  R("mid", [](Route& r) { r.paths = {"/a/b"}; })});
  auto router = Build(cfg, kTrad);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/a/b/c"; })), "multi");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/a/b/x"; })), "mid");
  Match m;
  ASSERT_TRUE(MatchReq(*router, Q([](Req& q) { q.path = "/x/y"; }), m));
  EXPECT_EQ(m.matched_path, "/x");
}

// ------------------------------------------------------------------------------------------
// Kong 3.x traditional_compatible priority (§2.4)

TEST(RouterCompatOrder, WildcardHostVsPrefixPathDiffersFromTraditional) {
  auto cfg = Cfg({R("wild_host", [](Route& r) { r.hosts = {"*.api.com"}; }),
                  R("path", [](Route& r) { r.paths = {"/v1"}; })});
  auto q = Q([](Req& q) {
    q.host = "x.api.com";
    q.path = "/v1/users";
  });
  EXPECT_EQ(Which(*Build(cfg, kTrad), q), "wild_host");
  EXPECT_EQ(Which(*Build(cfg, kCompat), q), "path");
}

TEST(RouterCompatOrder, PlainHostStillBeatsPrefixPath) {
  auto cfg = Cfg({R("path", [](Route& r) { r.paths = {"/v1/very/long/prefix"}; }),
                  R("plain_host", [](Route& r) { r.hosts = {"api.com"}; })});
  auto q = Q([](Req& q) {
    q.host = "api.com";
    q.path = "/v1/very/long/prefix";
  });
  EXPECT_EQ(Which(*Build(cfg, kCompat), q), "plain_host");
  EXPECT_EQ(Which(*Build(cfg, kTrad), q), "plain_host");
}

TEST(RouterCompatOrder, HeaderCountOutranksPathLength) {
  // compat: both weight 1; bits 52-59 (header count) beat the length bits of a long prefix.
  auto cfg = Cfg(
      {R("path", [](Route& r) { r.paths = {"/a/very/long/prefix"}; }), R("header", [](Route& r) {
         r.headers = {HeaderMatch{"x", {"1"}}};
       })});
  auto q = Q([](Req& q) {
    q.path = "/a/very/long/prefix";
    q.headers = {{"x", "1"}};
  });
  EXPECT_EQ(Which(*Build(cfg, kCompat), q), "header");
  EXPECT_EQ(Which(*Build(cfg, kTrad), q), "header");  // 2.8: headers bit 32 > paths bit 16
}

TEST(RouterCompatOrder, UuidTieBreakLargerFirstAndNoCreatedAt) {
  auto cfg = Cfg({R("a",
                    [](Route& r) {
                      r.id = "11111111-0000-0000-0000-000000000000";
                      r.paths = {"/same"};
                      r.created_at = 1;
                    }),
                  R("b", [](Route& r) {
                    r.id = "ffffffff-0000-0000-0000-000000000000";
                    r.paths = {"/same"};
                    r.created_at = 2;
                  })});
  EXPECT_EQ(Which(*Build(cfg, kCompat), Q([](Req& q) { q.path = "/same"; })), "b");
  EXPECT_EQ(Which(*Build(cfg, kTrad), Q([](Req& q) { q.path = "/same"; })), "a");
}

TEST(RouterCompatOrder, RegexPriorityAndRegexBit) {
  auto cfg = Cfg({R("prefix", [](Route& r) { r.paths = {"/a/b/c/d/e/f"}; }),
                  R("low", [](Route& r) { r.paths = {"~/a/.*"}; }), R("high", [](Route& r) {
                    r.paths = {"~/a/b"};
                    r.regex_priority = 3;
                  })});
  auto router = Build(cfg, kCompat);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/a/b/c/d/e/f"; })), "high");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/a/x"; })), "low");
}

TEST(RouterCompatOrder, SplitByPathLength) {
  // compat splits a route per prefix length: the long path ranks by its own length.
  auto cfg = Cfg({R("multi",
                    [](Route& r) {
                      r.paths = {"/x", "/a/b/c"};
                    }),
                  R("mid", [](Route& r) { r.paths = {"/a/b"}; })});
  auto router = Build(cfg, kCompat);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/a/b/c"; })), "multi");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/a/b/x"; })), "mid");
}

TEST(RouterCompat, PathHandlingV1TreatedAsV0) {
  auto cfg = Cfg({R("v1",
                    [](Route& r) {
                      r.paths = {"/route"};
                      r.path_handling = "v1";
                    })},
                 "/service");
  Match m;
  ASSERT_TRUE(MatchReq(*Build(cfg, kCompat), Q([](Req& q) { q.path = "/routereq"; }), m));
  EXPECT_EQ(m.upstream_path, "/service/req");
  ASSERT_TRUE(MatchReq(*Build(cfg, kTrad), Q([](Req& q) { q.path = "/routereq"; }), m));
  EXPECT_EQ(m.upstream_path, "/servicereq");
}

TEST_P(RouterBoth, MatchFieldsAndReuse) {
  auto cfg = Cfg({R("strip", [](Route& r) { r.paths = {"/hello"}; }), R("keep", [](Route& r) {
                    r.paths = {"/anything"};
                    r.strip_path = false;
                  })});
  auto router = Build(cfg, GetParam());
  Match m;
  ASSERT_TRUE(MatchReq(*router, Q([](Req& q) { q.path = "/h%65llo/anything/a/../b?x=1"; }), m));
  EXPECT_EQ(m.route->name, "strip");
  EXPECT_EQ(m.matched_path, "/hello");
  EXPECT_EQ(m.stripped_prefix, "/hello");
  EXPECT_EQ(m.upstream_path, "/anything/b");
  ASSERT_TRUE(MatchReq(*router, Q([](Req& q) { q.path = "/anything/./a/../wor%6cd/a/../b"; }), m));
  EXPECT_EQ(m.route->name, "keep");
  EXPECT_EQ(m.stripped_prefix, "");
  EXPECT_EQ(m.upstream_path, "/anything/world/b");
  ASSERT_TRUE(MatchReq(*router, Q([](Req& q) { q.path = "/anything/world/cat%20and%20dog"; }), m));
  EXPECT_EQ(m.upstream_path, "/anything/world/cat%20and%20dog");
  EXPECT_FALSE(MatchReq(*router, Q([](Req& q) { q.path = "/nothing"; }), m));
}

TEST_P(RouterBoth, DotSegmentsResolvedBeforeMatching) {
  auto cfg = Cfg({R("foobar", [](Route& r) { r.paths = {"/foo/bar"}; })});
  EXPECT_EQ(Which(*Build(cfg, GetParam()), Q([](Req& q) { q.path = "/foo/a/../bar"; })), "foobar");
}

TEST_P(RouterBoth, ManyRoutesIndexed) {
  std::vector<Route> routes;
  for (int i = 0; i < 2000; ++i) {
    routes.push_back(R("h" + std::to_string(i),
                       [&](Route& r) { r.hosts = {"host" + std::to_string(i) + ".com"}; }));
    routes.push_back(
        R("p" + std::to_string(i), [&](Route& r) { r.paths = {"/svc" + std::to_string(i)}; }));
    routes.push_back(R("w" + std::to_string(i),
                       [&](Route& r) { r.hosts = {"*.w" + std::to_string(i) + ".org"}; }));
  }
  const Config cfg = Cfg(routes);  // must outlive the router
  auto router = Build(cfg, GetParam());
  EXPECT_EQ(router->route_count(), 6000u);
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "host1234.com"; })), "h1234");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/svc1999/x"; })), "p1999");
  // "/svc12/..." also has "/svc1" as a prefix: longest wins
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/svc12/x"; })), "p12");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.host = "a.b.w77.org"; })), "w77");
  EXPECT_EQ(Which(*router, Q([](Req& q) { q.path = "/nope"; })), "<none>");
}

// ------------------------------------------------------------------------------------------
// Path handling (§2.5): Kong's full test table, both handling columns

struct PathRow {
  const char* service;
  const char* route;  // "" = host-only route
  const char* request;
  const char* keep_v0;
  const char* keep_v1;
  const char* strip_v0;
  const char* strip_v1;
};

const PathRow kPathTable[] = {
    {"/", "/", "/", "/", "/", "/", "/"},
    {"/", "/", "/route", "/route", "/route", "/route", "/route"},
    {"/", "/", "/route/", "/route/", "/route/", "/route/", "/route/"},
    {"/", "/", "/routereq", "/routereq", "/routereq", "/routereq", "/routereq"},
    {"/", "/", "/route/req", "/route/req", "/route/req", "/route/req", "/route/req"},
    {"/", "/route", "/route", "/route", "/route", "/", "/"},
    {"/", "/route", "/route/", "/route/", "/route/", "/", "/"},
    {"/", "/route", "/routereq", "/routereq", "/routereq", "/req", "/req"},
    {"/", "/route/", "/route/", "/route/", "/route/", "/", "/"},
    {"/", "/route/", "/route/req", "/route/req", "/route/req", "/req", "/req"},
    {"/srv", "/rou", "/roureq", "/srv/roureq", "/srvroureq", "/srv/req", "/srvreq"},
    {"/srv/", "/rou", "/rou", "/srv/rou", "/srv/rou", "/srv", "/srv/"},
    {"/service", "/", "/", "/service", "/service", "/service", "/service"},
    {"/service", "/", "/route", "/service/route", "/serviceroute", "/service/route",
     "/serviceroute"},
    {"/service", "/", "/route/", "/service/route/", "/serviceroute/", "/service/route/",
     "/serviceroute/"},
    {"/service", "/", "/routereq", "/service/routereq", "/serviceroutereq", "/service/routereq",
     "/serviceroutereq"},
    {"/service", "/", "/route/req", "/service/route/req", "/serviceroute/req", "/service/route/req",
     "/serviceroute/req"},
    {"/service", "/route", "/route", "/service/route", "/serviceroute", "/service", "/service"},
    {"/service", "/route", "/route/", "/service/route/", "/serviceroute/", "/service/",
     "/service/"},
    {"/service", "/route", "/routereq", "/service/routereq", "/serviceroutereq", "/service/req",
     "/servicereq"},
    {"/service", "/route/", "/route/", "/service/route/", "/serviceroute/", "/service/",
     "/service"},
    {"/service", "/route/", "/route/req", "/service/route/req", "/serviceroute/req", "/service/req",
     "/servicereq"},
    {"/service/", "/", "/", "/service/", "/service/", "/service/", "/service/"},
    {"/service/", "/", "/route", "/service/route", "/service/route", "/service/route",
     "/service/route"},
    {"/service/", "/", "/route/", "/service/route/", "/service/route/", "/service/route/",
     "/service/route/"},
    {"/service/", "/", "/routereq", "/service/routereq", "/service/routereq", "/service/routereq",
     "/service/routereq"},
    {"/service/", "/", "/route/req", "/service/route/req", "/service/route/req",
     "/service/route/req", "/service/route/req"},
    {"/service/", "/route", "/route", "/service/route", "/service/route", "/service", "/service/"},
    {"/service/", "/route", "/route/", "/service/route/", "/service/route/", "/service/",
     "/service/"},
    {"/service/", "/route", "/routereq", "/service/routereq", "/service/routereq", "/service/req",
     "/service/req"},
    {"/service/", "/route/", "/route/", "/service/route/", "/service/route/", "/service/",
     "/service/"},
    {"/service/", "/route/", "/route/req", "/service/route/req", "/service/route/req",
     "/service/req", "/service/req"},
    {"/", "", "/", "/", "/", "/", "/"},
    {"/", "", "/route", "/route", "/route", "/route", "/route"},
    {"/", "", "/route/", "/route/", "/route/", "/route/", "/route/"},
    {"/service", "", "/", "/service", "/service", "/service", "/service"},
    {"/service", "", "/route", "/service/route", "/serviceroute", "/service/route",
     "/serviceroute"},
    {"/service/", "", "/", "/service/", "/service/", "/service/", "/service/"},
    {"/service/", "", "/route", "/service/route", "/service/route", "/service/route",
     "/service/route"},
    {"/service/", "", "/route/", "/service/route/", "/service/route/", "/service/route/",
     "/service/route/"},
    {"/service", "", "/route/", "/service/route/", "/serviceroute/", "/service/route/",
     "/serviceroute/"},
    {"/service", "/route", "/route./req", "/service/route./req", "/serviceroute./req",
     "/service/req", "/servicereq"},
    {"/service", "/route", "/route%2E/req", "/service/route./req", "/serviceroute./req",
     "/service/req", "/servicereq"},
    {"/service", "/route", "/route%2e/req", "/service/route./req", "/serviceroute./req",
     "/service/req", "/servicereq"},
    {"/service/", "/route", "/route./req", "/service/route./req", "/service/route./req",
     "/service/req", "/service/req"},
    {"/service/", "/route", "/route%2E/req", "/service/route./req", "/service/route./req",
     "/service/req", "/service/req"},
    {"/service/", "/route", "/route%2e/req", "/service/route./req", "/service/route./req",
     "/service/req", "/service/req"},
    {"/service", "/route", "/route../req", "/service/route../req", "/serviceroute../req",
     "/service/req", "/servicereq"},
    {"/service", "/route", "/route%2E%2E/req", "/service/route../req", "/serviceroute../req",
     "/service/req", "/servicereq"},
    {"/service", "/route", "/route%2e%2E/req", "/service/route../req", "/serviceroute../req",
     "/service/req", "/servicereq"},
    {"/service/", "/route", "/route../req", "/service/route../req", "/service/route../req",
     "/service/req", "/service/req"},
    {"/service/", "/route", "/route%2E%2E/req", "/service/route../req", "/service/route../req",
     "/service/req", "/service/req"},
    {"/service/", "/route", "/route%2e%2E/req", "/service/route../req", "/service/route../req",
     "/service/req", "/service/req"},
};

TEST(PathHandling, KongTableThroughTheRouter) {
  for (const PathRow& row : kPathTable) {
    for (bool strip : {false, true}) {
      for (const char* handling : {"v0", "v1"}) {
        for (Flavor flavor : {kTrad, kCompat}) {
          auto cfg = Cfg({R("r",
                            [&](Route& r) {
                              if (*row.route) {
                                r.paths = {row.route};
                              } else {
                                r.hosts = {"example.com"};
                              }
                              r.strip_path = strip;
                              r.path_handling = handling;
                            })},
                         std::string(row.service));
          auto router = Build(cfg, flavor);
          Match m;
          ASSERT_TRUE(MatchReq(*router, Q([&](Req& q) { q.path = row.request; }), m))
              << row.request;
          // compat ignores v1 (always v0)
          bool v1 = std::string(handling) == "v1" && flavor == kTrad;
          const char* want =
              strip ? (v1 ? row.strip_v1 : row.strip_v0) : (v1 ? row.keep_v1 : row.keep_v0);
          EXPECT_EQ(m.upstream_path, want)
              << "service=" << row.service << " route=" << row.route << " request=" << row.request
              << " strip=" << strip << " handling=" << handling
              << " flavor=" << sb::router::flavor_name(flavor);
        }
      }
    }
  }
}

TEST(PathHandling, KongTableJoinDirectly) {
  for (const PathRow& row : kPathTable) {
    std::string req;
    ASSERT_TRUE(sb::router::normalize_path(row.request, req));
    for (bool strip : {false, true}) {
      std::string prefix = strip && *row.route ? row.route : "";
      EXPECT_EQ(sb::router::join_upstream_path(row.service, req, prefix, strip, "v0"),
                strip ? row.strip_v0 : row.keep_v0)
          << row.service << " " << row.route << " " << row.request;
      EXPECT_EQ(sb::router::join_upstream_path(row.service, req, prefix, strip, "v1"),
                strip ? row.strip_v1 : row.keep_v1)
          << row.service << " " << row.route << " " << row.request;
    }
  }
}

TEST(PathHandling, NoServicePathMeansSlash) {
  auto cfg = Cfg({R("r", [](Route& r) { r.paths = {"/a"}; })});  // Service::path unset
  Match m;
  ASSERT_TRUE(MatchReq(*Build(cfg, kTrad), Q([](Req& q) { q.path = "/a/b"; }), m));
  EXPECT_EQ(m.upstream_path, "/b");
}

TEST(PathHandling, RegexStripUsesMatchedText) {
  auto cfg = Cfg({R("r", [](Route& r) { r.paths = {"~/api/v\\d+"}; })}, "/up");
  for (Flavor f : {kTrad, kCompat}) {
    Match m;
    ASSERT_TRUE(MatchReq(*Build(cfg, f), Q([](Req& q) { q.path = "/api/v2/users"; }), m));
    EXPECT_EQ(m.stripped_prefix, "/api/v2");
    EXPECT_EQ(m.upstream_path, "/up/users");
    EXPECT_TRUE(m.captures.empty());
  }
}

// ------------------------------------------------------------------------------------------
// Normalization and escaping (§2.1, §2.5)

TEST(PathNormalize, Cases) {
  const std::pair<const char*, const char*> cases[] = {
      {"/", "/"},
      {"/a/b", "/a/b"},
      {"/a?x=1", "/a"},
      {"/a?x=/../..", "/a"},
      {"/h%65llo", "/hello"},
      {"/a%2fb", "/a%2Fb"},
      {"/a%2Fb", "/a%2Fb"},
      {"/a%3f%3A%40%25", "/a%3F%3A%40%25"},
      {"/%7e%41%2d", "/~A-"},
      {"/a/./b", "/a/b"},
      {"/a/../b", "/b"},
      {"/a/b/..", "/a/"},
      {"/a/b/.", "/a/b/"},
      {"/..", "/"},
      {"/../../a", "/a"},
      {"/a//b///c", "/a/b/c"},
      {"//a", "/a"},
      {"/a/%2e%2E/b", "/b"},
      {"/a/%2e/b", "/a/b"},
      {"/a/.b/..c/", "/a/.b/..c/"},
      {"/foo/a/../bar", "/foo/bar"},
      {"/anything/./a/../wor%6cd/a/../b", "/anything/world/b"},
      {"/cat%20dog", "/cat dog"},
      {"/Case/KEPT", "/Case/KEPT"},
  };
  for (const auto& [in, want] : cases) {
    std::string out = "garbage";
    ASSERT_TRUE(sb::router::normalize_path(in, out)) << in;
    EXPECT_EQ(out, want) << in;
  }
}

TEST(PathNormalize, RejectsBadInput) {
  std::string out;
  EXPECT_FALSE(sb::router::normalize_path("", out));
  EXPECT_FALSE(sb::router::normalize_path("a/b", out));
  EXPECT_FALSE(sb::router::normalize_path("?x", out));
  EXPECT_FALSE(sb::router::normalize_path("/a%zz", out));
  EXPECT_FALSE(sb::router::normalize_path("/a%2", out));
  EXPECT_FALSE(sb::router::normalize_path("/a%", out));
  EXPECT_TRUE(sb::router::normalize_path("/a%zz?%", out) == false);
  EXPECT_TRUE(sb::router::normalize_path("/ok?%zz", out));
  EXPECT_EQ(out, "/ok");
}

TEST(PathNormalize, NulAndHugeInputsDoNotCrash) {
  std::string with_nul("/a\0b/../c", 9);
  std::string out;
  ASSERT_TRUE(sb::router::normalize_path(with_nul, out));
  EXPECT_EQ(out, "/c");
  ASSERT_TRUE(sb::router::normalize_path(std::string_view("/a\0b/c", 6), out));
  EXPECT_EQ(out, std::string("/a\0b/c", 6));
  ASSERT_TRUE(sb::router::normalize_path("/x%00y", out));
  EXPECT_EQ(out, std::string("/x\0y", 4));
  EXPECT_EQ(sb::router::escape_upstream_path(out), "/x%00y");

  std::string huge = "/";
  for (int i = 0; i < 200000; ++i) huge += "a/../%2e%2e/";
  ASSERT_TRUE(sb::router::normalize_path(huge, out));
  EXPECT_EQ(out, "/");
  std::string deep(1 << 20, '/');
  ASSERT_TRUE(sb::router::normalize_path(deep, out));
  EXPECT_EQ(out, "/");

  auto cfg = Cfg({R("re", [](Route& r) { r.paths = {"~/(a+)+$"}; }), R("h", [](Route& r) {
                    r.headers = {HeaderMatch{"x", {"~*(b+)+c"}}};
                  })});
  for (Flavor f : {kTrad, kCompat}) {
    auto router = Build(cfg, f);
    // catastrophic backtracking is cut by the match limit: no match, no hang
    std::string evil = "/" + std::string(40, 'a') + "!";
    EXPECT_EQ(Which(*router, Q([&](Req& q) { q.path = evil; })), "<none>");
    EXPECT_EQ(Which(*router, Q([&](Req& q) {
                q.headers = {{"x", std::string(40, 'b')}};
              })),
              "<none>");
    Match m;
    Request r;
    r.method = "GET";
    r.host = std::string_view("a\0b:99999999999", 15);
    r.path = std::string_view("/\0", 2);
    r.scheme = "https";
    EXPECT_FALSE(router->match(r, m));
    r.path = "";
    EXPECT_FALSE(router->match(r, m));
  }
}

TEST(PathEscape, KongCharacterSet) {
  EXPECT_EQ(sb::router::escape_upstream_path("/azAZ09-._~!#$&'()*+,/:;=?@[]%"),
            "/azAZ09-._~!#$&'()*+,/:;=?@[]%");
  EXPECT_EQ(sb::router::escape_upstream_path("/a b\"<>\\^`{|}"),
            "/a%20b%22%3C%3E%5C%5E%60%7B%7C%7D");
  EXPECT_EQ(sb::router::escape_upstream_path("/\xc3\xa9\x7f"), "/%C3%A9%7F");
}

TEST(RouterFlavor, ParseAndName) {
  Flavor f = kCompat;
  EXPECT_TRUE(sb::router::parse_flavor("traditional", &f));
  EXPECT_EQ(f, kTrad);
  EXPECT_TRUE(sb::router::parse_flavor("traditional_compatible", &f));
  EXPECT_EQ(f, kCompat);
  EXPECT_FALSE(sb::router::parse_flavor("expressions", &f));
  EXPECT_EQ(sb::router::flavor_name(kTrad), "traditional");
}

}  // namespace
