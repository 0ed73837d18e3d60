// The hello-cpp example plugin under the fake host (silverback/testing.hpp): the C++ layer's
// async path (timer + resume), exits, header_filter and log, linked in and as a built .so.
#include <gtest/gtest.h>
#include <silverback/testing.hpp>

#include <string>

extern "C" const sb_plugin_def* sb_plugin_entry_hello_cpp(const sb_host_info* host);

namespace {

using sb::testing::FakeRequest;
using sb::testing::Host;
using sb::testing::Json;

FakeRequest Get(sb::testing::Headers headers = {}) {
  FakeRequest r;
  r.method = "GET";
  r.path = "/hello";
  r.headers = std::move(headers);
  r.upstream.status = 200;
  r.upstream.headers = {{"Content-Type", "text/plain"}};
  r.upstream.body = "upstream says hi";
  return r;
}

TEST(SdkHelloCpp, DefDeclaresOnlyTheImplementedPhases) {
  const sb_plugin_def* def = sb_plugin_entry_hello_cpp(nullptr);
  ASSERT_NE(def, nullptr);
  EXPECT_STREQ(def->name, "hello-cpp");
  EXPECT_EQ(def->abi_major, 1u);
  EXPECT_EQ(def->min_host_minor, 0u);
  EXPECT_EQ(def->priority, 900);
  EXPECT_NE(def->hooks->on_access, nullptr);
  EXPECT_NE(def->hooks->on_header_filter, nullptr);
  EXPECT_NE(def->hooks->on_log, nullptr);
  EXPECT_EQ(def->hooks->on_rewrite, nullptr);
  EXPECT_EQ(def->hooks->on_body_filter, nullptr);
  EXPECT_EQ(def->hooks->on_init_worker, nullptr);
}

TEST(SdkHelloCpp, SchemaRejectsBadConfigs) {
  Host host;
  auto plugin = host.load(&sb_plugin_entry_hello_cpp);
  auto missing = plugin.compile_error("{}");
  ASSERT_TRUE(missing);
  EXPECT_EQ(*missing, "config.header: required field missing");
  auto range = plugin.compile_error(R"({"header": "x-key", "delay_ms": 20000})");
  ASSERT_TRUE(range);
  EXPECT_EQ(*range, "config.delay_ms: value should be between 0 and 10000");
  // compile() itself (sb::ConfigError) rejects what the schema lets through.
  auto empty = plugin.compile_error(R"({"header": ""})");
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, "config.header must not be empty");
  auto cfg = plugin.compile(R"({"header": "x-key"})");
  EXPECT_EQ(cfg.json()["response_header"].as_string(), "X-Hello");
  EXPECT_EQ(cfg.json()["delay_ms"].as_int(), 0);
}

TEST(SdkHelloCpp, MissingHeaderExits403AndHeaderFilterStillRuns) {
  Host host;
  auto plugin = host.load(&sb_plugin_entry_hello_cpp);
  auto cfg = plugin.compile(R"({"header": "x-key"})");
  auto req = host.request(Get(), {cfg});
  EXPECT_EQ(req.run(), SB_EXITED);
  EXPECT_FALSE(req.proxied());
  ASSERT_TRUE(req.exit());
  EXPECT_EQ(req.status(), 403);
  EXPECT_EQ(req.source(), "exit");
  EXPECT_EQ(Json::parse(req.body())["message"].as_string(), "missing header x-key");
  EXPECT_EQ(req.response_header("content-type"), "application/json; charset=utf-8");
  EXPECT_EQ(req.response_header("x-hello"), "world");
  EXPECT_TRUE(host.logged("served GET /hello -> 403"));
  EXPECT_TRUE(host.violations().empty());
}

TEST(SdkHelloCpp, PresentHeaderIsProxiedWithTheResponseHeader) {
  Host host;
  auto plugin = host.load(&sb_plugin_entry_hello_cpp);
  auto cfg = plugin.compile(R"({"header": "x-key", "response_value": "there"})");
  auto req = host.request(Get({{"X-Key", "k1"}}), {cfg});
  EXPECT_EQ(req.run(), SB_CONTINUE);
  EXPECT_TRUE(req.proxied());
  EXPECT_EQ(req.status(), 200);
  EXPECT_EQ(req.body(), "upstream says hi");
  EXPECT_EQ(req.response_header("x-hello"), "there");
  EXPECT_FALSE(req.upstream_header("x-hello-delayed"));
  EXPECT_EQ(req.trace(),
            (std::vector<std::string>{"hello-cpp:access->CONTINUE",
                                      "hello-cpp:header_filter->CONTINUE", "hello-cpp:log"}));
}

TEST(SdkHelloCpp, DelayParksTheRequestUntilTheTimerResumesIt) {
  Host host;
  auto plugin = host.load(&sb_plugin_entry_hello_cpp);
  auto cfg = plugin.compile(R"({"header": "x-key", "delay_ms": 50})");
  auto req = host.request(Get({{"x-key", "k1"}}), {cfg});
  EXPECT_EQ(req.access(), SB_PENDING);
  EXPECT_FALSE(req.proxied());
  EXPECT_EQ(host.pending_timers(), 1u);
  host.advance(49);
  EXPECT_TRUE(req.pending());
  host.advance(1);  // the timer fires, the callback sets a header and resumes
  EXPECT_FALSE(req.pending());
  EXPECT_TRUE(req.proxied());
  EXPECT_EQ(req.upstream_header("x-hello-delayed"), "k1");
  EXPECT_EQ(req.run(), SB_CONTINUE);
  EXPECT_TRUE(req.done());
  EXPECT_EQ(req.response_header("x-hello"), "world");
  EXPECT_EQ(host.pending_ops(), 0u);
  EXPECT_TRUE(host.violations().empty());
}

TEST(SdkHelloCpp, ClientGoneWhilePendingFreesTheCallbackWithANullCtx) {
  Host host;
  auto plugin = host.load(&sb_plugin_entry_hello_cpp);
  auto cfg = plugin.compile(R"({"header": "x-key", "delay_ms": 1000})");
  auto req = host.request(Get({{"x-key", "k1"}}), {cfg});
  EXPECT_EQ(req.run(), SB_PENDING);
  req.abort();
  EXPECT_TRUE(req.done());
  EXPECT_EQ(host.pending_ops(), 0u);
  EXPECT_FALSE(req.proxied());
  EXPECT_FALSE(req.upstream_header("x-hello-delayed"));
  EXPECT_TRUE(host.logged("served GET /hello -> 499"));
  EXPECT_TRUE(host.violations().empty());
}

TEST(SdkHelloCpp, BuiltSharedObjectLoadsAndAnswers) {
  Host host;
  auto plugin = host.load_library(SB_PLUGIN_DIR "/hello-cpp.so");
  EXPECT_EQ(plugin.name(), "hello-cpp");
  auto cfg = plugin.compile(R"({"header": "x-key"})");
  auto req = host.request(Get(), {cfg});
  EXPECT_EQ(req.run(), SB_EXITED);
  EXPECT_EQ(req.status(), 403);
}

}  // namespace
