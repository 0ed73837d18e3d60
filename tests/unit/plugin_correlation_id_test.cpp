// correlation-id (plugins/correlation-id) on the fake host (Kong 3.9's handler.lua and spec
// 11-correlation-id), and the three auth-side bundled plugins chained by priority.
#include <gtest/gtest.h>
#include <silverback/testing.hpp>

#include <set>
#include <string>

#include "correlation_id.h"
#include "key_auth.h"
#include "rate_limiting.h"

namespace {

using sb::testing::FakeRequest;
using sbp::correlation_id::CorrelationId;
using sbp::correlation_id::Generator;

constexpr sb_plugin_def kCorrelationId = sb::plugin_def<CorrelationId>(
    "correlation-id", sbp::correlation_id::kVersion, sbp::correlation_id::kPriority,
    sbp::correlation_id::kConfigSchema);
constexpr sb_plugin_def kKeyAuth = sb::plugin_def<sbp::key_auth::KeyAuth>(
    "key-auth", sbp::key_auth::kVersion, sbp::key_auth::kPriority, sbp::key_auth::kConfigSchema,
    sbp::key_auth::kEntitiesSchema);
constexpr sb_plugin_def kRateLimiting = sb::plugin_def<sbp::rate_limiting::RateLimiting>(
    "rate-limiting", sbp::rate_limiting::kVersion, sbp::rate_limiting::kPriority,
    sbp::rate_limiting::kConfigSchema);

// A plugin that answers 418 in access before everything else (as request-termination would if
// it ran first): correlation-id's access never runs.
struct Teapot {
  struct Config {};
  static Config compile(const sb::Value&) { return {}; }
  static sb::Result access(sb::Ctx& ctx, const Config&) {
    return ctx.response().error(418, "I'm a teapot");
  }
};
constexpr const char kTeapotSchema[] =
    R"({"name": "teapot", "fields": [{"config": {"type": "record", "fields": []}}]})";
constexpr sb_plugin_def kTeapot = sb::plugin_def<Teapot>("teapot", "1.0.0", 200000, kTeapotSchema);

// A lower-case random (version 4, RFC 4122 variant) UUID.
bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return s[14] == '4' && std::string_view("89ab").find(s[19]) != std::string_view::npos;
}
// "<uuid>#<counter>" split into its parts; false if it is not that.
bool split_counter(const std::string& s, std::string* uuid, std::string* counter) {
  size_t hash = s.find('#');
  if (hash == std::string::npos || !is_uuid(std::string_view(s).substr(0, hash))) return false;
  *uuid = s.substr(0, hash);
  *counter = s.substr(hash + 1);
  return !counter->empty() && counter->find_first_not_of("0123456789") == std::string::npos;
}

const CorrelationId::Config& compiled(const sb::testing::Config& c) {
  return static_cast<const sb::detail::ConfigBox<CorrelationId>*>(c.raw())->config;
}

class CorrelationIdPlugin : public ::testing::Test {
 protected:
  void SetUp() override { plugin_ = host_.load(kCorrelationId); }

  // Runs a whole request; returns it (the upstream header and the response are inspectable).
  sb::testing::Request run(std::string_view conf, FakeRequest r = {}) {
    auto req = host_.request(std::move(r), {plugin_.compile(conf)});
    req.run();
    return req;
  }
  std::string upstream_id(std::string_view conf, FakeRequest r = {},
                          std::string_view name = "Kong-Request-ID") {
    auto req = run(conf, std::move(r));
    EXPECT_TRUE(req.proxied());
    return req.upstream_header(name).value_or("<none>");
  }

  sb::testing::Host host_;
  sb::testing::Plugin plugin_;
};

TEST_F(CorrelationIdPlugin, SchemaDefaults) {
  auto cfg = plugin_.compile("{}");
  const CorrelationId::Config& c = compiled(cfg);
  EXPECT_EQ(c.header_name, "Kong-Request-ID");
  EXPECT_EQ(c.generator, Generator::kUuidCounter);
  EXPECT_FALSE(c.echo_downstream);
  EXPECT_TRUE(plugin_.compile_error(R"({"generator": "random"})"));
  EXPECT_TRUE(plugin_.compile_error(R"({"echo_downstream": "yes"})"));
}

TEST_F(CorrelationIdPlugin, UuidCounterPerWorker) {
  ASSERT_EQ(plugin_.init_worker(), SB_OK);
  std::string u1, n1, u2, n2, u3, n3;
  std::string first = upstream_id("{}"), second = upstream_id("{}");
  ASSERT_TRUE(split_counter(first, &u1, &n1)) << first;
  ASSERT_TRUE(split_counter(second, &u2, &n2)) << second;
  EXPECT_EQ(u1, u2);   // one worker uuid
  EXPECT_EQ(n1, "1");  // counting from 1 after init_worker
  EXPECT_EQ(n2, "2");
  // A worker that (re)starts gets a fresh uuid and counter.
  ASSERT_EQ(plugin_.init_worker(), SB_OK);
  std::string third = upstream_id("{}");
  ASSERT_TRUE(split_counter(third, &u3, &n3)) << third;
  EXPECT_NE(u3, u1);
  EXPECT_EQ(n3, "1");
}

TEST_F(CorrelationIdPlugin, UuidGenerator) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    std::string id = upstream_id(R"({"generator": "uuid"})");
    EXPECT_TRUE(is_uuid(id)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 50u);
}

TEST_F(CorrelationIdPlugin, TrackerGenerator) {
  std::string id = upstream_id(R"({"generator": "tracker"})");
  // <server_addr>-<server_port>-<worker>-<connection>-<connection_requests>-<now s.ms>
  EXPECT_TRUE(id.starts_with("0.0.0.0-8000-")) << id;
  EXPECT_TRUE(id.ends_with("-1-1-1700000000.000")) << id;
  std::string worker = id.substr(13, id.size() - 13 - 19);
  EXPECT_FALSE(worker.empty());
  EXPECT_EQ(worker.find_first_not_of("0123456789"), std::string::npos) << id;
  host_.advance(1234);
  id = upstream_id(R"({"generator": "tracker"})");
  EXPECT_TRUE(id.ends_with("-1700000001.234")) << id;
}

TEST_F(CorrelationIdPlugin, IncomingHeader) {
  FakeRequest given;
  given.headers = {{"kong-request-id", "foobar"}};
  EXPECT_EQ(upstream_id("{}", given), "foobar");
  FakeRequest empty;
  empty.headers = {{"Kong-Request-ID", ""}};
  EXPECT_TRUE(is_uuid(upstream_id(R"({"generator": "uuid"})", empty)));
  FakeRequest custom;
  custom.headers = {{"Foo-Bar-Id", "abc"}};
  EXPECT_EQ(upstream_id(R"({"header_name": "Foo-Bar-Id"})", custom, "Foo-Bar-Id"), "abc");
  std::string generated = upstream_id(R"({"header_name": "Foo-Bar-Id"})", {}, "Foo-Bar-Id");
  std::string u, n;
  EXPECT_TRUE(split_counter(generated, &u, &n)) << generated;
}

TEST_F(CorrelationIdPlugin, EchoDownstream) {
  auto req = run(R"({"generator": "uuid", "echo_downstream": true})");
  ASSERT_TRUE(req.upstream_header("Kong-Request-ID"));
  EXPECT_EQ(req.response_header_values("Kong-Request-ID"),
            std::vector<std::string>{*req.upstream_header("Kong-Request-ID")});
  req = run(R"({"generator": "uuid"})");
  EXPECT_FALSE(req.response_header("Kong-Request-ID"));  // not asked to echo
  FakeRequest given;
  given.headers = {{"Kong-Request-ID", "mine"}};
  EXPECT_EQ(run(R"({"echo_downstream": true})", given).response_header("Kong-Request-ID"), "mine");
  EXPECT_TRUE(host_.violations().empty());
}

TEST_F(CorrelationIdPlugin, EchoWhenAccessDidNotRun) {
  auto teapot = host_.load(kTeapot);
  auto conf = plugin_.compile(R"({"generator": "uuid", "echo_downstream": true})");
  auto req = host_.request(FakeRequest{}, {teapot.compile("{}"), conf});
  EXPECT_EQ(req.run(), SB_EXITED);
  EXPECT_EQ(req.status(), 418);
  std::string id = req.response_header("Kong-Request-ID").value_or("");
  EXPECT_TRUE(is_uuid(id)) << id;
  FakeRequest given;
  given.headers = {{"kong-request-id", "my very personal id"}};
  req = host_.request(given, {teapot.compile("{}"), conf});
  req.run();
  EXPECT_EQ(req.response_header("Kong-Request-ID"), "my very personal id");
}

// ---- the three together: correlation-id (100001) -> key-auth (1250) -> rate-limiting (910) ----

class AuthChain : public ::testing::Test {
 protected:
  void SetUp() override {
    cid_ = host_.load(kCorrelationId);
    key_auth_ = host_.load(kKeyAuth);
    rl_ = host_.load(kRateLimiting);
    host_.add_entities(R"({"consumers": [{"id": "c-bob", "username": "bob"}],
      "keyauth_credentials": [{"id": "k-bob", "key": "kong", "consumer": {"id": "c-bob"}}]})");
  }
  sb::testing::Request run(FakeRequest r) {
    auto req = host_.request(std::move(r));
    // Added in the "wrong" order on purpose: the chain runs by priority.
    req.add(rl_.compile(R"({"minute": 1})"));
    req.add(key_auth_.compile("{}"));
    req.add(cid_.compile(R"({"generator": "uuid", "echo_downstream": true})"));
    req.run();
    return req;
  }
  sb::testing::Host host_;
  sb::testing::Plugin cid_, key_auth_, rl_;
};

TEST_F(AuthChain, PriorityOrder) {
  auto denied = run(FakeRequest{});
  EXPECT_EQ(denied.status(), 401);
  ASSERT_GE(denied.trace().size(), 2u);
  EXPECT_EQ(denied.trace()[0], "correlation-id:access->CONTINUE");
  EXPECT_EQ(denied.trace()[1], "key-auth:access->EXITED");
  // rate-limiting never ran its access: no headers, nothing counted.
  EXPECT_FALSE(denied.response_header("X-RateLimit-Limit-Minute"));
  EXPECT_TRUE(is_uuid(denied.response_header("Kong-Request-ID").value_or("")));

  FakeRequest with_key;
  with_key.headers = {{"apikey", "kong"}};
  auto ok = run(with_key);
  EXPECT_EQ(ok.status(), 200);
  EXPECT_EQ(ok.trace()[0], "correlation-id:access->CONTINUE");
  EXPECT_EQ(ok.trace()[1], "key-auth:access->CONTINUE");
  EXPECT_EQ(ok.trace()[2], "rate-limiting:access->CONTINUE");
  EXPECT_EQ(ok.upstream_header("X-Consumer-Username"), "bob");
  EXPECT_EQ(ok.response_header("X-RateLimit-Remaining-Minute"), "0");
  EXPECT_EQ(ok.response_header("Kong-Request-ID"), ok.upstream_header("Kong-Request-ID"));

  auto limited = run(with_key);
  EXPECT_EQ(limited.status(), 429);
  EXPECT_EQ(limited.response_header("Retry-After"), "40");
  EXPECT_TRUE(limited.response_header("Kong-Request-ID"));
  EXPECT_TRUE(host_.violations().empty());
}

}  // namespace
