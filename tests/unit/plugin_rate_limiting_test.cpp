// rate-limiting (plugins/rate-limiting): UTC calendar windows and the shared counter store
// (Kong 3.9's handler.lua, policies/init.lua `local`, spec 23-rate-limiting).
#include <gtest/gtest.h>
#include <silverback/testing.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "counters.h"
#include "rate_limiting.h"

namespace {

using sbp::rate_limiting::CounterStore;
using sbp::rate_limiting::kDay;
using sbp::rate_limiting::kHour;
using sbp::rate_limiting::kMinute;
using sbp::rate_limiting::kMonth;
using sbp::rate_limiting::kSecond;
using sbp::rate_limiting::kYear;
using sbp::rate_limiting::Period;
using sbp::rate_limiting::window_end;
using sbp::rate_limiting::window_start;

constexpr int64_t kLeapDay = 1709210096;  // 2024-02-29T12:34:56Z

// prefix + n, built by appending (GCC 12 warns falsely about operator+ on strings at -O3).
std::string key(std::string_view prefix, int n, std::string_view middle = {}, int m = -1) {
  std::string k(prefix);
  k += std::to_string(n);
  k += middle;
  if (m >= 0) k += std::to_string(m);
  return k;
}

TEST(RateLimitingWindows, CalendarAligned) {
  EXPECT_EQ(window_start(kSecond, kLeapDay), kLeapDay);
  EXPECT_EQ(window_start(kMinute, kLeapDay), kLeapDay - 56);
  EXPECT_EQ(window_start(kHour, kLeapDay), kLeapDay - 34 * 60 - 56);
  EXPECT_EQ(window_start(kDay, kLeapDay), 1709164800);
  EXPECT_EQ(window_start(kMonth, kLeapDay), 1706745600);                        // 2024-02-01
  EXPECT_EQ(window_start(kYear, kLeapDay), 1704067200);                         // 2024-01-01
  EXPECT_EQ(window_end(kMonth, 1706745600), 1709251200);                        // 2024-03-01
  EXPECT_EQ(window_end(kYear, 1704067200), 1735689600);                         // 2025-01-01
  EXPECT_EQ(window_end(kMonth, window_start(kMonth, 1704067199)), 1704067200);  // Dec -> Jan
  EXPECT_EQ(window_end(kDay, 1709164800), 1709251200);
  EXPECT_EQ(window_start(kMinute, -1), -60);
}

CounterStore::Check check(int64_t now, std::initializer_list<std::pair<Period, double>> limits) {
  CounterStore::Check c;
  for (auto [p, limit] : limits) {
    c.mask |= static_cast<uint8_t>(1u << p);
    c.limit[p] = limit;
    c.start[p] = window_start(p, now);
    c.end[p] = window_end(p, c.start[p]);
  }
  return c;
}

TEST(RateLimitingCounters, CheckBeforeIncrement) {
  CounterStore store;
  int64_t t = kLeapDay;
  for (int i = 0; i < 3; ++i) {
    auto u = store.hit("k", check(t, {{kMinute, 3}}), t);
    EXPECT_FALSE(u.blocked);
    EXPECT_EQ(u.count[kMinute], i);
  }
  for (int i = 0; i < 2; ++i) {  // blocked requests are not counted
    auto u = store.hit("k", check(t, {{kMinute, 3}}), t);
    EXPECT_TRUE(u.blocked);
    EXPECT_EQ(u.count[kMinute], 3);
  }
  // Another key is independent; the next minute starts over.
  EXPECT_EQ(store.hit("other", check(t, {{kMinute, 3}}), t).count[kMinute], 0);
  int64_t next = window_end(kMinute, window_start(kMinute, t));
  auto u = store.hit("k", check(next, {{kMinute, 3}}), next);
  EXPECT_FALSE(u.blocked);
  EXPECT_EQ(u.count[kMinute], 0);
}

TEST(RateLimitingCounters, SeveralWindows) {
  CounterStore store;
  int64_t t = kLeapDay;
  // second=1, hour=3: the second window blocks within a second, the hour one after 3 seconds.
  EXPECT_FALSE(store.hit("k", check(t, {{kSecond, 1}, {kHour, 3}}), t).blocked);
  auto u = store.hit("k", check(t, {{kSecond, 1}, {kHour, 3}}), t);
  EXPECT_TRUE(u.blocked);
  EXPECT_EQ(u.count[kSecond], 1);
  EXPECT_EQ(u.count[kHour], 1);  // not counted while blocked
  EXPECT_FALSE(store.hit("k", check(t + 1, {{kSecond, 1}, {kHour, 3}}), t + 1).blocked);
  EXPECT_FALSE(store.hit("k", check(t + 2, {{kSecond, 1}, {kHour, 3}}), t + 2).blocked);
  u = store.hit("k", check(t + 3, {{kSecond, 1}, {kHour, 3}}), t + 3);
  EXPECT_TRUE(u.blocked);
  EXPECT_EQ(u.count[kSecond], 0);
  EXPECT_EQ(u.count[kHour], 3);
  // A config with only `minute` on the same key shares nothing it did not count.
  EXPECT_EQ(store.hit("k", check(t + 3, {{kMinute, 10}}), t + 3).count[kMinute], 0);
  // Fractional limits: remaining = limit - usage must stay > 0.
  EXPECT_FALSE(store.hit("f", check(t, {{kDay, 1.5}}), t).blocked);
  EXPECT_FALSE(store.hit("f", check(t, {{kDay, 1.5}}), t).blocked);
  EXPECT_TRUE(store.hit("f", check(t, {{kDay, 1.5}}), t).blocked);
}

TEST(RateLimitingCounters, MonthAndYearWindows) {
  CounterStore store;
  int64_t end_of_jan = 1706745599;  // 2024-01-31T23:59:59Z
  EXPECT_FALSE(store.hit("k", check(end_of_jan, {{kMonth, 1}, {kYear, 5}}), end_of_jan).blocked);
  EXPECT_TRUE(store.hit("k", check(end_of_jan, {{kMonth, 1}, {kYear, 5}}), end_of_jan).blocked);
  auto u = store.hit("k", check(end_of_jan + 1, {{kMonth, 1}, {kYear, 5}}), end_of_jan + 1);
  EXPECT_FALSE(u.blocked);
  EXPECT_EQ(u.count[kMonth], 0);
  EXPECT_EQ(u.count[kYear], 1);
}

TEST(RateLimitingCounters, ExpiredEntriesAreSwept) {
  CounterStore store(4, 1 << 20);
  int64_t t = kLeapDay;
  for (int i = 0; i < 1000; ++i) store.hit(key("ip", i), check(t, {{kSecond, 5}}), t);
  EXPECT_EQ(store.size(), 1000u);
  // Inserting later sweeps the shard it lands in once it grew past its threshold...
  for (int i = 0; i < 3000; ++i) store.hit(key("late", i), check(t + 2, {{kSecond, 5}}), t + 2);
  EXPECT_LT(store.size(), 4000u);
  // ... and an explicit sweep drops everything that ended.
  store.sweep(t + 3);
  EXPECT_EQ(store.size(), 0u);
}

TEST(RateLimitingCounters, BoundedByEvictingLeastRecentlyUsed) {
  CounterStore store(1, 100);
  int64_t t = kLeapDay;
  for (int i = 0; i < 1000; ++i) store.hit(key("ip", i), check(t, {{kYear, 5}}), t + i);
  EXPECT_LE(store.size(), 100u);
  // The most recent keys survived.
  EXPECT_EQ(store.hit("ip999", check(t, {{kYear, 5}}), t + 1000).count[kYear], 1);
}

TEST(RateLimitingCounters, SharedAcrossThreads) {
  CounterStore store;
  int64_t t = kLeapDay;
  constexpr int kThreads = 8;
  constexpr int kHits = 2000;
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < kHits; ++j) {
        // One hot key with an exact limit, and per-thread keys that never block.
        if (!store.hit("hot", check(t, {{kHour, 5000}}), t).blocked) ++passed;
        store.hit(key("t", i, "-", j % 50), check(t, {{kHour, 1e9}}), t);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(passed.load(), 5000);
  EXPECT_EQ(store.hit("hot", check(t, {{kHour, 1e9}}), t).count[kHour], 5000);
  EXPECT_EQ(store.hit("t3-7", check(t, {{kHour, 1e9}}), t).count[kHour], kHits / 50);
}

TEST(RateLimitingFormat, LuaNumbers) {
  char buf[32];
  auto f = [&](double v) {
    return std::string(buf, sbp::rate_limiting::format_number(v, buf, sizeof buf));
  };
  EXPECT_EQ(f(10), "10");
  EXPECT_EQ(f(2.5), "2.5");
  EXPECT_EQ(f(0), "0");
  EXPECT_EQ(f(1e15), "1e+15");
  EXPECT_EQ(f(123456789), "123456789");
}

// ---- the plugin on the fake host -------------------------------------------------------------
// The fake clock starts at 1700000000 s (2023-11-14T22:13:20Z): 20 s into its minute, 800 s into
// its hour, 80000 s into its day, 1203200 s into its month, 27468800 s into its year.

using sb::testing::FakeRequest;
using sb::testing::Headers;
using sb::testing::Scope;
using sbp::rate_limiting::LimitBy;
using sbp::rate_limiting::RateLimiting;

constexpr sb_plugin_def kRateLimiting =
    sb::plugin_def<RateLimiting>("rate-limiting", sbp::rate_limiting::kVersion,
                                 sbp::rate_limiting::kPriority, sbp::rate_limiting::kConfigSchema);

// An auth plugin ahead of rate-limiting: authenticates the consumer/credential it is given.
struct Authenticator {
  struct Config {
    std::string consumer, credential;
  };
  static Config compile(const sb::Value& v) {
    return {v["consumer"].string(), v["credential"].string()};
  }
  static sb::Result access(sb::Ctx& ctx, const Config& c) {
    sb::Status st = ctx.client().authenticate(
        c.consumer, c.credential.empty() ? "" : "test_credentials", c.credential);
    return st ? sb::Result::Continue : sb::Result::Error;
  }
};
constexpr const char kAuthenticatorSchema[] = R"({"name": "authenticator", "fields": [{"config":
  {"type": "record", "fields": [{"consumer": {"type": "string", "default": ""}},
                                {"credential": {"type": "string", "default": ""}}]}}]})";
constexpr const char kTestCredentials[] = R"([{"name": "test_credentials", "primary_key": ["id"],
  "fields": [{"id": {"type": "string"}}, {"consumer": {"type": "foreign", "reference": "consumers"}}]}])";
constexpr sb_plugin_def kAuthenticator = sb::plugin_def<Authenticator>(
    "authenticator", "1.0.0", 1250, kAuthenticatorSchema, kTestCredentials);

const RateLimiting::Config& compiled(const sb::testing::Config& c) {
  return static_cast<const sb::detail::ConfigBox<RateLimiting>*>(c.raw())->config;
}

class RateLimitingPlugin : public ::testing::Test {
 protected:
  void SetUp() override {
    plugin_ = host_.load(kRateLimiting);
    auth_ = host_.load(kAuthenticator);
    host_.add_entities(R"({"consumers": [{"id": "c-bob", "username": "bob"},
                                         {"id": "c-eve", "username": "eve"}],
                           "test_credentials": [{"id": "cred-1", "consumer": {"id": "c-bob"}},
                                                {"id": "cred-2"}]})");
  }

  sb::testing::Request hit(const sb::testing::Config& cfg, FakeRequest r = {}, Scope scope = {},
                           std::vector<sb::testing::Config> before = {}) {
    auto req = host_.request(std::move(r));
    for (auto& c : before) req.add(c);
    req.add(cfg, scope);
    last_ = req.access();
    return req;
  }
  sb::testing::Config as(const std::string& consumer, const std::string& credential = "") {
    return auth_.compile(R"({"consumer": ")" + consumer + R"(", "credential": ")" + credential +
                         "\"}");
  }
  std::string header(const sb::testing::Request& r, std::string_view name) {
    return r.response_header(name).value_or("<none>");
  }
  void expect_blocked(const sb::testing::Request& r, const std::string& message, int status = 429) {
    EXPECT_EQ(last_, SB_EXITED);
    ASSERT_TRUE(r.exit());
    EXPECT_EQ(r.exit()->status, status);
    EXPECT_EQ(r.exit()->body, "{\n  \"message\":\"" + message +
                                  "\",\n  \"request_id\":\"00000000000000000000000000000001\"\n}");
    EXPECT_FALSE(r.proxied());
  }

  sb::testing::Host host_;
  sb::testing::Plugin plugin_, auth_;
  sb_result last_ = SB_CONTINUE;
};

TEST_F(RateLimitingPlugin, SchemaDefaults) {
  auto cfg = plugin_.compile(R"({"minute": 5})");
  const RateLimiting::Config& c = compiled(cfg);
  EXPECT_EQ(c.mask, 1u << kMinute);
  EXPECT_EQ(c.limit[kMinute], 5);
  EXPECT_EQ(c.limit_text[kMinute], "5");
  EXPECT_EQ(c.limit_by, LimitBy::kConsumer);
  EXPECT_EQ(c.policy, sbp::rate_limiting::Policy::kLocal);
  EXPECT_TRUE(c.fault_tolerant);
  EXPECT_FALSE(c.hide_client_headers);
  EXPECT_EQ(c.error_code, 429);
  EXPECT_EQ(c.error_message, "API rate limit exceeded");
  EXPECT_EQ(c.sync_rate, -1);
  EXPECT_NE(c.counters, nullptr);
}

TEST_F(RateLimitingPlugin, SchemaErrors) {
  EXPECT_EQ(plugin_.compile_error("{}"),
            "at least one of these fields must be non-empty: 'config.second', 'config.minute', "
            "'config.hour', 'config.day', 'config.month', 'config.year'");
  EXPECT_EQ(plugin_.compile_error(R"({"second": 20, "hour": 10})"),
            "The limit for hour(10.0) cannot be lower than the limit for second(20.0)");
  EXPECT_EQ(plugin_.compile_error(
                R"({"second": 10, "minute": 20, "hour": 30, "day": 40, "month": 60, "year": 50})"),
            "The limit for year(50.0) cannot be lower than the limit for month(60.0)");
  EXPECT_FALSE(plugin_.compile_error(
      R"({"second": 10, "minute": 20, "hour": 30, "day": 40, "month": 50, "year": 60})"));
  EXPECT_EQ(plugin_.compile_error(R"({"second": 10, "limit_by": "header"})"),
            "config.header_name: required field missing");
  EXPECT_EQ(plugin_.compile_error(R"({"second": 10, "limit_by": "path"})"),
            "config.path: required field missing");
  EXPECT_FALSE(plugin_.compile_error(R"({"second": 10, "limit_by": "path", "path": "/request"})"));
  EXPECT_EQ(
      plugin_.compile_error(R"({"second": 10, "limit_by": "header", "header_name": "X App"})"),
      "config.header_name: bad header name 'X App', allowed characters are A-Z, a-z, 0-9, "
      "'_', and '-'");
  EXPECT_EQ(plugin_.compile_error(R"({"second": 10, "path": "/a//b"})"),
            "config.path: must not have empty segments");
  // DB-less: `cluster` is not an option; redis is accepted by the schema but not implemented.
  EXPECT_TRUE(plugin_.compile_error(R"({"second": 10, "policy": "cluster"})"));
  EXPECT_EQ(plugin_.compile_error(R"({"second": 10, "policy": "redis"})"),
            "config.redis.host: required field missing");
  EXPECT_EQ(
      plugin_.compile_error(R"({"second": 10, "policy": "redis", "redis": {"host": "localhost"}})"),
      "config.policy: redis policy not supported yet (use policy: local, counted per node)");
  EXPECT_EQ(plugin_.compile_error(R"({"second": 10, "sync_rate": 1})"),
            "sync_rate can only be used with the redis policy");
  EXPECT_TRUE(plugin_.compile_error(R"({"second": 0})"));
  EXPECT_TRUE(plugin_.compile_error(R"({"second": 10, "limit_by": "route"})"));
}

TEST_F(RateLimitingPlugin, HeadersAndLimit) {
  auto cfg = plugin_.compile(R"({"minute": 3})");
  for (int remaining : {2, 1, 0}) {
    auto r = hit(cfg);
    EXPECT_EQ(last_, SB_CONTINUE);
    EXPECT_EQ(header(r, "X-RateLimit-Limit-Minute"), "3");
    EXPECT_EQ(header(r, "X-RateLimit-Remaining-Minute"), std::to_string(remaining));
    EXPECT_EQ(header(r, "RateLimit-Limit"), "3");
    EXPECT_EQ(header(r, "RateLimit-Remaining"), std::to_string(remaining));
    EXPECT_EQ(header(r, "RateLimit-Reset"), "40");
    EXPECT_FALSE(r.response_header("Retry-After"));
    EXPECT_FALSE(r.response_header("X-RateLimit-Limit-Hour"));
  }
  for (int i = 0; i < 2; ++i) {  // blocked requests are not counted
    auto r = hit(cfg);
    expect_blocked(r, "API rate limit exceeded");
    EXPECT_EQ(header(r, "X-RateLimit-Remaining-Minute"), "0");
    EXPECT_EQ(header(r, "RateLimit-Remaining"), "0");
    EXPECT_EQ(header(r, "Retry-After"), "40");
    EXPECT_EQ(header(r, "RateLimit-Reset"), "40");
  }
  host_.advance(39000);  // 59 s into the minute
  EXPECT_EQ(header(hit(cfg), "Retry-After"), "1");
  host_.advance(1000);  // the next minute
  auto r = hit(cfg);
  EXPECT_EQ(last_, SB_CONTINUE);
  EXPECT_EQ(header(r, "X-RateLimit-Remaining-Minute"), "2");
  EXPECT_EQ(header(r, "RateLimit-Reset"), "60");
}

TEST_F(RateLimitingPlugin, MostConstrainingWindow) {
  auto cfg = plugin_.compile(R"({"second": 3, "minute": 3, "hour": 100, "month": 1000})");
  auto r = hit(cfg);
  EXPECT_EQ(header(r, "X-RateLimit-Remaining-Second"), "2");
  EXPECT_EQ(header(r, "X-RateLimit-Remaining-Minute"), "2");
  EXPECT_EQ(header(r, "X-RateLimit-Remaining-Hour"), "99");
  EXPECT_EQ(header(r, "X-RateLimit-Limit-Month"), "1000");
  EXPECT_EQ(header(r, "X-RateLimit-Remaining-Month"), "999");
  // second and minute tie at 2: the minute (longer) is reported.
  EXPECT_EQ(header(r, "RateLimit-Limit"), "3");
  EXPECT_EQ(header(r, "RateLimit-Remaining"), "2");
  EXPECT_EQ(header(r, "RateLimit-Reset"), "40");
  host_.advance(1000);  // a new second: the minute is now the lowest
  r = hit(cfg);
  EXPECT_EQ(header(r, "X-RateLimit-Remaining-Second"), "2");
  EXPECT_EQ(header(r, "X-RateLimit-Remaining-Minute"), "1");
  EXPECT_EQ(header(r, "RateLimit-Remaining"), "1");
  EXPECT_EQ(header(r, "RateLimit-Reset"), "39");
  hit(cfg);
  // Blocked by the minute: exhausted windows show 0, the others are not decremented.
  r = hit(cfg);
  expect_blocked(r, "API rate limit exceeded");
  EXPECT_EQ(header(r, "X-RateLimit-Remaining-Minute"), "0");
  EXPECT_EQ(header(r, "X-RateLimit-Remaining-Second"), "1");
  EXPECT_EQ(header(r, "X-RateLimit-Remaining-Hour"), "97");
  EXPECT_EQ(header(r, "RateLimit-Limit"), "3");
  EXPECT_EQ(header(r, "Retry-After"), "39");
}

TEST_F(RateLimitingPlugin, TiesGoToTheLongerWindow) {
  auto cfg = plugin_.compile(R"({"minute": 2, "hour": 2, "day": 2})");
  auto r = hit(cfg);
  EXPECT_EQ(header(r, "RateLimit-Remaining"), "1");
  EXPECT_EQ(header(r, "RateLimit-Reset"), "6400");  // the day's
  hit(cfg);
  r = hit(cfg);
  expect_blocked(r, "API rate limit exceeded");
  EXPECT_EQ(header(r, "Retry-After"), "6400");
}

TEST_F(RateLimitingPlugin, MonthAndYearResetUseKongsLengths) {
  auto r = hit(plugin_.compile(R"({"month": 10})"));
  EXPECT_EQ(header(r, "RateLimit-Reset"), "1388800");  // 30 days - elapsed
  r = hit(plugin_.compile(R"({"year": 10})"));
  EXPECT_EQ(header(r, "RateLimit-Reset"), "4067200");  // 365 days - elapsed
}

TEST_F(RateLimitingPlugin, HideClientHeaders) {
  auto cfg = plugin_.compile(R"({"hour": 1, "hide_client_headers": true})");
  auto r = hit(cfg);
  EXPECT_EQ(last_, SB_CONTINUE);
  r = hit(cfg);
  expect_blocked(r, "API rate limit exceeded");
  for (const char* name :
       {"X-RateLimit-Limit-Hour", "X-RateLimit-Remaining-Hour", "RateLimit-Limit",
        "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"})
    EXPECT_FALSE(r.response_header(name)) << name;
}

TEST_F(RateLimitingPlugin, CustomError) {
  auto cfg = plugin_.compile(R"({"hour": 1, "error_code": 503, "error_message": "slow down"})");
  hit(cfg);
  expect_blocked(hit(cfg), "slow down", 503);
}

TEST_F(RateLimitingPlugin, FractionalLimits) {
  auto cfg = plugin_.compile(R"({"hour": 2.5})");
  auto r = hit(cfg);
  EXPECT_EQ(header(r, "X-RateLimit-Limit-Hour"), "2.5");
  EXPECT_EQ(header(r, "X-RateLimit-Remaining-Hour"), "1.5");
  EXPECT_EQ(header(hit(cfg), "X-RateLimit-Remaining-Hour"), "0.5");
  r = hit(cfg);
  EXPECT_EQ(last_, SB_CONTINUE);
  EXPECT_EQ(header(r, "X-RateLimit-Remaining-Hour"), "0");
  expect_blocked(hit(cfg), "API rate limit exceeded");
}

TEST_F(RateLimitingPlugin, LimitByConsumerCredentialIp) {
  auto cfg = plugin_.compile(R"({"hour": 1})");  // limit_by consumer
  hit(cfg, {}, {}, {as("c-bob", "cred-1")});
  EXPECT_EQ(last_, SB_CONTINUE);
  hit(cfg, {}, {}, {as("c-bob", "cred-1")});
  EXPECT_EQ(last_, SB_EXITED);
  hit(cfg, {}, {}, {as("c-eve")});
  EXPECT_EQ(last_, SB_CONTINUE);
  hit(cfg, {}, {}, {as("", "cred-2")});  // no consumer: the credential
  EXPECT_EQ(last_, SB_CONTINUE);
  hit(cfg, {}, {}, {as("", "cred-2")});
  EXPECT_EQ(last_, SB_EXITED);
  FakeRequest other_ip;
  other_ip.forwarded_ip = "10.0.0.9";
  hit(cfg, other_ip);  // nobody authenticated: the forwarded IP
  EXPECT_EQ(last_, SB_CONTINUE);
  hit(cfg, other_ip);
  EXPECT_EQ(last_, SB_EXITED);

  auto by_cred = plugin_.compile(R"({"hour": 1, "limit_by": "credential"})");
  hit(by_cred, {}, {}, {as("c-bob", "cred-1")});
  EXPECT_EQ(last_, SB_CONTINUE);
  hit(by_cred, {}, {}, {as("c-bob")});  // bob without credential: the IP
  EXPECT_EQ(last_, SB_CONTINUE);
  hit(by_cred, {}, {}, {as("c-bob", "cred-1")});
  EXPECT_EQ(last_, SB_EXITED);

  auto by_ip = plugin_.compile(R"({"hour": 1, "limit_by": "ip"})");
  FakeRequest ip;
  ip.forwarded_ip = "10.0.0.7";
  hit(by_ip, ip, {}, {as("c-bob")});
  EXPECT_EQ(last_, SB_CONTINUE);
  hit(by_ip, ip, {}, {as("c-eve")});
  EXPECT_EQ(last_, SB_EXITED);
}

TEST_F(RateLimitingPlugin, LimitByServiceHeaderPath) {
  auto by_service = plugin_.compile(R"({"hour": 1, "limit_by": "service"})");
  FakeRequest s1, s2;
  s1.forwarded_ip = "1.1.1.1";
  s2.service_id = "service-2";
  hit(by_service, s1);
  EXPECT_EQ(last_, SB_CONTINUE);
  hit(by_service);  // same service, another IP
  EXPECT_EQ(last_, SB_EXITED);
  hit(by_service, s2);
  EXPECT_EQ(last_, SB_CONTINUE);

  auto by_header =
      plugin_.compile(R"({"hour": 1, "limit_by": "header", "header_name": "X-Tenant"})");
  FakeRequest a, b, empty, none;
  a.headers = {{"x-tenant", "a"}};
  b.headers = {{"X-Tenant", "b"}};
  empty.headers = {{"X-Tenant", ""}};
  none.forwarded_ip = "2.2.2.2";
  hit(by_header, a);
  EXPECT_EQ(last_, SB_CONTINUE);
  hit(by_header, a);
  EXPECT_EQ(last_, SB_EXITED);
  hit(by_header, b);
  EXPECT_EQ(last_, SB_CONTINUE);
  hit(by_header, empty);  // "" is an identifier too (Lua's "" is truthy)
  EXPECT_EQ(last_, SB_CONTINUE);
  empty.forwarded_ip = "3.3.3.3";
  hit(by_header, empty);
  EXPECT_EQ(last_, SB_EXITED);
  hit(by_header, none);
  EXPECT_EQ(last_, SB_CONTINUE);

  auto by_path = plugin_.compile(R"({"hour": 1, "limit_by": "path", "path": "/counted"})");
  FakeRequest counted, other, other2;
  counted.path = "/counted";
  counted.forwarded_ip = "4.4.4.4";
  other.path = "/other";
  other2.path = "/other2";
  hit(by_path, counted);
  EXPECT_EQ(last_, SB_CONTINUE);
  counted.forwarded_ip = "5.5.5.5";
  hit(by_path, counted);
  EXPECT_EQ(last_, SB_EXITED);
  hit(by_path, other);  // not the path: the IP
  EXPECT_EQ(last_, SB_CONTINUE);
  hit(by_path, other2);
  EXPECT_EQ(last_, SB_EXITED);
}

TEST_F(RateLimitingPlugin, CountersKeyedByThePluginsScope) {
  auto cfg = plugin_.compile(R"({"hour": 1, "limit_by": "ip"})");
  Scope route_a{false, "route-a", "", ""}, route_b{false, "route-b", "", ""};
  Scope service{false, "", "service-1", ""}, global{};
  hit(cfg, {}, route_a);
  EXPECT_EQ(last_, SB_CONTINUE);
  hit(cfg, {}, route_a);
  EXPECT_EQ(last_, SB_EXITED);
  hit(cfg, {}, route_b);
  EXPECT_EQ(last_, SB_CONTINUE);
  hit(cfg, {}, service);
  EXPECT_EQ(last_, SB_CONTINUE);
  hit(cfg, {}, global);
  EXPECT_EQ(last_, SB_CONTINUE);
  // A consumer-scoped config has no route/service: it shares the global key space (Kong).
  hit(plugin_.compile(R"({"hour": 1, "limit_by": "ip"})"), {}, Scope{false, "", "", "c-bob"});
  EXPECT_EQ(last_, SB_EXITED);
}

TEST_F(RateLimitingPlugin, CountersSurviveRecompiles) {
  auto first = plugin_.compile(R"({"minute": 2})");
  hit(first);
  hit(first);
  // A reload compiles a new config; the plugin state (and its counters) stays.
  auto second = plugin_.compile(R"({"minute": 2})");
  auto r = hit(second);
  expect_blocked(r, "API rate limit exceeded");
  auto wider = plugin_.compile(R"({"minute": 3})");
  r = hit(wider);
  EXPECT_EQ(last_, SB_CONTINUE);
  EXPECT_EQ(header(r, "X-RateLimit-Remaining-Minute"), "0");
}

TEST_F(RateLimitingPlugin, BlockedRequestStillRunsResponsePhases) {
  auto cfg = plugin_.compile(R"({"second": 1})");
  auto ok = host_.request(FakeRequest{}, {cfg});
  EXPECT_EQ(ok.run(), SB_CONTINUE);
  EXPECT_EQ(ok.status(), 200);
  EXPECT_EQ(ok.response_header("X-RateLimit-Remaining-Second"), "0");  // kept on the response
  auto blocked = host_.request(FakeRequest{}, {cfg});
  EXPECT_EQ(blocked.run(), SB_EXITED);
  EXPECT_EQ(blocked.status(), 429);
  EXPECT_EQ(blocked.response_header("Retry-After"), "1");
  EXPECT_TRUE(host_.violations().empty());
}

TEST_F(RateLimitingPlugin, WorkerZeroSweepsOnATimer) {
  auto& counters =
      static_cast<sb::detail::PluginState<RateLimiting>*>(plugin_.state())->user->counters;
  auto cfg = plugin_.compile(R"({"second": 5, "limit_by": "ip"})");
  for (int i = 0; i < 10; ++i) {
    FakeRequest r;
    r.forwarded_ip = key("10.1.0.", i);
    hit(cfg, r);
  }
  EXPECT_EQ(counters.size(), 10u);
  ASSERT_EQ(plugin_.init_worker(), SB_OK);
  EXPECT_EQ(host_.pending_timers(), 1u);
  host_.advance(sbp::rate_limiting::kSweepIntervalMs);
  EXPECT_EQ(counters.size(), 0u);         // those windows ended long ago by the wall clock
  EXPECT_EQ(host_.pending_timers(), 1u);  // re-armed
}

}  // namespace
