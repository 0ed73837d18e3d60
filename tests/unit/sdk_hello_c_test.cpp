// The hello-c example plugin (plain C99) under the fake host, linked in and as a built .so.
#include <gtest/gtest.h>
#include <silverback/testing.hpp>

extern "C" const sb_plugin_def* sb_plugin_entry_hello_c(const sb_host_info* host);

namespace {

using sb::testing::FakeRequest;
using sb::testing::Host;

TEST(SdkHelloC, DefAndHooks) {
  const sb_plugin_def* def = sb_plugin_entry_hello_c(nullptr);
  ASSERT_NE(def, nullptr);
  EXPECT_STREQ(def->name, "hello-c");
  EXPECT_EQ(def->struct_size, sizeof(sb_plugin_def));
  EXPECT_EQ(def->priority, 800);
  EXPECT_NE(def->hooks->on_access, nullptr);
  EXPECT_NE(def->hooks->on_header_filter, nullptr);
  EXPECT_EQ(def->hooks->on_log, nullptr);
  sb_host_info major2{sizeof(sb_host_info), 2, 0, 0, "x", nullptr};
  EXPECT_EQ(sb_plugin_entry_hello_c(&major2), nullptr);
}

TEST(SdkHelloC, SchemaRequiresANonEmptyHeader) {
  Host host;
  auto plugin = host.load(&sb_plugin_entry_hello_c);
  EXPECT_EQ(plugin.compile_error("{}"), "config.header: required field missing");
  EXPECT_EQ(plugin.compile_error(R"({"header": ""})"), "config.header: length must be at least 1");
  EXPECT_EQ(plugin.compile_error(R"({"header": "x", "colour": "red"})"),
            "config.colour: unknown field");
  EXPECT_EQ(plugin.compile_error(R"({"header": 7})"), "config.header: expected a string");
  // Past the schema, the plugin's own check (the message it writes into sb_errbuf).
  EXPECT_EQ(plugin.compile_error(R"({"header": "a\"b"})"), "config.header is not a header name");
}

TEST(SdkHelloC, MissingHeaderIs403) {
  Host host;
  auto plugin = host.load(&sb_plugin_entry_hello_c);
  auto cfg = plugin.compile(R"({"header": "x-api-key"})");
  FakeRequest in;
  in.upstream.body = "ok";
  auto req = host.request(in, {cfg});
  EXPECT_EQ(req.run(), SB_EXITED);
  EXPECT_EQ(req.status(), 403);
  EXPECT_EQ(req.body(), R"({"message":"missing header x-api-key"})");
  EXPECT_EQ(req.response_header("Content-Type"), "application/json; charset=utf-8");
  EXPECT_EQ(req.response_header("X-Hello-C"), "hello");  // header_filter runs on exits too
  EXPECT_FALSE(req.proxied());
}

TEST(SdkHelloC, HeaderPresentAddsTheResponseHeader) {
  Host host;
  auto plugin = host.load(&sb_plugin_entry_hello_c);
  auto cfg = plugin.compile(
      R"({"header": "x-api-key", "response_header": "X-Greeting", "response_value": "hi"})");
  FakeRequest in;
  in.headers = {{"X_API_KEY", "secret"}};  // '_' matches '-', case-insensitive
  in.upstream.headers = {{"X-Greeting", "from upstream"}};
  in.upstream.body = "body";
  auto req = host.request(in, {cfg});
  EXPECT_EQ(req.run(), SB_CONTINUE);
  EXPECT_TRUE(req.proxied());
  EXPECT_EQ(req.response_header_values("x-greeting"), std::vector<std::string>{"hi"});
  EXPECT_EQ(req.body(), "body");
  EXPECT_TRUE(host.violations().empty());
}

TEST(SdkHelloC, BuiltSharedObjectExportsTheEntry) {
  Host host;
  auto plugin = host.load_library(SB_PLUGIN_DIR "/hello-c.so");
  EXPECT_EQ(plugin.name(), "hello-c");
  EXPECT_EQ(plugin.def().min_host_minor, 0u);
  auto cfg = plugin.compile(R"({"header": "x-api-key"})");
  FakeRequest in;
  in.headers = {{"x-api-key", "1"}};
  auto req = host.request(in, {cfg});
  EXPECT_EQ(req.run(), SB_CONTINUE);
  EXPECT_EQ(req.response_header("x-hello-c"), "hello");
}

}  // namespace
