#include <gtest/gtest.h>
#include <silverback/testing.hpp>

extern "C" const sb_plugin_def* stamp_entry(const sb_host_info* host);

TEST(Stamp, AddsTheHeader) {
  sb::testing::Host host;
  auto plugin = host.load(&stamp_entry);
  EXPECT_EQ(plugin.compile_error("{}"), "config.value: required field missing");
  auto cfg = plugin.compile(R"({"value": "v1", "with_hostname": true})");
  auto req = host.request({}, {cfg});
  EXPECT_EQ(req.run(), SB_CONTINUE);
  EXPECT_EQ(req.response_header("x-stamp"), "v1@fake-node");
}
