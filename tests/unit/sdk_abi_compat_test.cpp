// abi-compat-1-0.so (compiled against the frozen 1.0 header) in the fake host built from the
// current header: the scenarios sdk/abi/README.md promises the host's integration tests.
#include <gtest/gtest.h>
#include <silverback/testing.hpp>

#include <string>

namespace {

using sb::testing::FakeRequest;
using sb::testing::Host;

constexpr const char* kCompat = SB_PLUGIN_DIR "/abi-compat-1-0.so";

TEST(SdkAbiCompat, LoadsAndProxies) {
  Host host;
  auto plugin = host.load_library(kCompat);
  EXPECT_EQ(plugin.def().abi_minor, 0u);
  EXPECT_TRUE(host.logged("abi-compat-1-0: host ABI 1.0"));
  EXPECT_EQ(plugin.init_worker(), SB_OK);
  EXPECT_TRUE(host.logged("abi-compat-1-0: init_worker 0"));
  auto cfg = plugin.compile("{}");
  plugin.configure({cfg});
  EXPECT_TRUE(host.logged("abi-compat-1-0: configure 1"));
  FakeRequest in;
  in.method = "PUT";
  in.query = "q=a%20b";
  auto req = host.request(in, {cfg});
  EXPECT_EQ(req.run(), SB_CONTINUE);
  EXPECT_EQ(req.upstream_header("x-compat-plugin"), "abi-compat-1-0");
  EXPECT_EQ(req.upstream_header("x-compat-host-minor"), "0");
  EXPECT_EQ(req.upstream_header("x-compat-method"), "PUT");
  EXPECT_EQ(req.upstream_header("x-compat-q"), "a b");
  EXPECT_EQ(req.upstream_header("x-compat-shared"), "rewrite");
  EXPECT_EQ(req.response_header("x-compat-phases"), "rw,acc,hf");
  EXPECT_EQ(req.response_header("x-compat-source"), "service");
  EXPECT_TRUE(host.logged("abi-compat-1-0 log: status=200 serialized="));
  EXPECT_EQ(plugin.compile_error(R"({"mode": "nope"})"),
            "config.mode: expected one of: 'continue', 'exit', 'respond_error', 'error', "
            "'pending', 'pending_exit', 'body', 'read_body'");
}

TEST(SdkAbiCompat, ExitsAndErrors) {
  Host host;
  auto plugin = host.load_library(kCompat);
  auto exit = host.request({}, {plugin.compile(R"({"mode": "exit"})")});
  EXPECT_EQ(exit.run(), SB_EXITED);
  EXPECT_EQ(exit.status(), 418);
  EXPECT_EQ(exit.body(), "short-circuit by abi-compat-1-0");
  EXPECT_EQ(exit.response_header("x-compat-exit"), "1");
  EXPECT_EQ(exit.response_header("x-compat-source"), "exit");
  auto denied = host.request({}, {plugin.compile(R"({"mode": "respond_error"})")});
  EXPECT_EQ(denied.run(), SB_EXITED);
  EXPECT_EQ(denied.status(), 403);
  EXPECT_NE(denied.body().find("compat denied"), std::string::npos);
  auto error = host.request({}, {plugin.compile(R"({"mode": "error"})")});
  EXPECT_EQ(error.run(), SB_ERROR);
  EXPECT_EQ(error.status(), 500);
  EXPECT_EQ(error.response_header("x-compat-source"), "error");
}

TEST(SdkAbiCompat, PendingResumesAndClientAbortFrees) {
  Host host;
  auto plugin = host.load_library(kCompat);
  auto cfg = plugin.compile(R"({"mode": "pending", "delay_ms": 25})");
  auto req = host.request({}, {cfg});
  EXPECT_EQ(req.run(), SB_PENDING);
  host.advance(25);
  EXPECT_EQ(req.run(), SB_CONTINUE);
  EXPECT_EQ(req.upstream_header("x-compat-resumed"), "1");
  auto gone = host.request({}, {cfg});
  EXPECT_EQ(gone.run(), SB_PENDING);
  gone.abort();
  EXPECT_EQ(host.pending_ops(), 0u);
  auto to_exit = host.request({}, {plugin.compile(R"({"mode": "pending_exit"})")});
  EXPECT_EQ(to_exit.run(), SB_PENDING);
  host.run_timers();
  EXPECT_EQ(to_exit.run(), SB_EXITED);
  EXPECT_EQ(to_exit.status(), 202);
  EXPECT_EQ(to_exit.body(), "resumed into an exit");
}

TEST(SdkAbiCompat, BodiesBothWays) {
  Host host;
  auto plugin = host.load_library(kCompat);
  FakeRequest in;
  in.body = "hello";
  in.upstream.headers = {{"Content-Length", "6"}};
  in.upstream.chunks = {"abc", "def"};
  auto body = host.request(in, {plugin.compile(R"({"mode": "body"})")});
  body.run();
  EXPECT_EQ(body.body(), "ABCDEF|compat");
  EXPECT_FALSE(body.response_header("content-length"));
  auto read = host.request(in, {plugin.compile(R"({"mode": "read_body"})")});
  read.run();
  EXPECT_EQ(read.upstream_body(), "compat:hello");
  EXPECT_EQ(read.upstream_header("x-compat-body-length"), "5");
}

}  // namespace
