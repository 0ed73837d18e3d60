// response-transformer on the SDK's fake host. The cases are Kong 3.9's
// spec/03-plugins/15-response-transformer/{01-header_transformer,02-body_transformer,03-api,
// 04-filter,05-big_response_body}_spec.lua with the same configs and inputs; the expected JSON
// is written out byte for byte (Silverback keeps key order; Kong's is lua-cjson's hash order).
#include <gtest/gtest.h>
#include <silverback/testing.hpp>

#include <string>

#include "response_transformer.h"

namespace {

using sb::testing::FakeRequest;
using sb::testing::Headers;
using RST = sbp::ResponseTransformer;

constexpr sb_plugin_def kDef = sb::plugin_def<RST>(RST::kName, RST::kVersion, RST::kPriority,
                                                   sbp::kResponseTransformerSchema, nullptr);

constexpr const char* kJson = "application/json";

class ResponseTransformer : public ::testing::Test {
 protected:
  // Proxies a request whose upstream answers with `headers` and `body`, through one config.
  sb::testing::Request run(std::string_view config, Headers headers, std::string body = {}) {
    FakeRequest r;
    r.upstream.headers = std::move(headers);
    r.upstream.body = std::move(body);
    sb::testing::Request req = host.request(std::move(r), {plugin.compile(config)});
    EXPECT_EQ(req.run(), SB_CONTINUE);
    return req;
  }
  // The body a JSON response ends up with.
  std::string body_of(std::string_view config, std::string body) {
    return run(config, {{"Content-Type", kJson}}, std::move(body)).body();
  }
  static std::vector<std::string> values(const sb::testing::Request& req, std::string_view n) {
    return req.response_header_values(n);
  }

  sb::testing::Host host;
  sb::testing::Plugin plugin = host.load(kDef);
};

using V = std::vector<std::string>;

// ---- Schema (03-api_spec.lua)
// ---------------------------------------------------------------------

TEST_F(ResponseTransformer, SchemaErrors) {
  auto err = plugin.compile_error(R"({"rename":{"headers":["x-no-colon"]}})");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("config.rename.headers[0]: invalid value: x-no-colon"), std::string::npos)
      << *err;
  err = plugin.compile_error(R"({"rename":{"headers":["x-requ,est-id:x-custom-request-id"]}})");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("'x-requ,est-id' is not a valid header"), std::string::npos) << *err;
  for (const char* section : {"add", "replace", "append"}) {
    err = plugin.compile_error(std::string("{\"") + section + "\":{\"headers\":[\"just_a_key\"]}}");
    ASSERT_TRUE(err) << section;
    EXPECT_NE(err->find("invalid value: just_a_key"), std::string::npos) << *err;
  }
  err = plugin.compile_error(R"({"add":{"json":["a:1"],"json_types":["float"]}})");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("config.add.json_types[1]: expected one of: "), std::string::npos) << *err;
  EXPECT_NE(err->find("boolean"), std::string::npos) << *err;
  EXPECT_EQ(plugin.compile_error(R"({"remove":{"headers":["just_a_key"],"json":["k"]}})"),
            std::nullopt);
}

TEST_F(ResponseTransformer, LoadsAsABuiltLibrary) {
  sb::testing::Host h2;
  sb::testing::Plugin p = h2.load_library(std::string(SB_PLUGIN_DIR) + "/response-transformer.so");
  EXPECT_EQ(p.name(), "response-transformer");
  EXPECT_EQ(p.def().priority, 800);
  EXPECT_TRUE(p.hooks().on_header_filter);
  EXPECT_TRUE(p.hooks().on_body_filter);
  EXPECT_FALSE(p.hooks().on_access);
}

// ---- Headers (01-header_transformer_spec.lua)
// ------------------------------------------------------

TEST_F(ResponseTransformer, RemovesHeaders) {
  auto req = run(R"({"remove":{"headers":["h1","h2","h3"]},"add":{"json":["p1:v1"]}})",
                 {{"h1", "value1"}, {"h2", "value2a"}, {"h2", "value2b"}});
  EXPECT_FALSE(req.response_header("h1"));
  EXPECT_FALSE(req.response_header("h2"));
}

TEST_F(ResponseTransformer, ContentLengthGoesOnlyWhenTheJsonBodyIsTransformed) {
  const char* cfg = R"({"remove":{"headers":["h1"]},"add":{"json":["p1:v1"]}})";
  auto req = run(cfg, {{"Content-Length", "2"}, {"Content-Type", kJson}}, "{}");
  EXPECT_FALSE(req.response_header("content-length"));
  EXPECT_EQ(req.body(), R"({"p1":"v1"})");
  req = run(cfg, {{"Content-Length", "3"}, {"Content-Type", "application/json; charset=utf-8"}},
            "{ }");
  EXPECT_FALSE(req.response_header("content-length"));
  EXPECT_EQ(req.body(), R"({"p1":"v1"})");
  req = run(cfg,
            {{"Content-Length", "5"},
             {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}},
            "a=b&c");
  EXPECT_EQ(req.response_header("content-length"), "5");
  EXPECT_EQ(req.body(), "a=b&c");
  req = run(R"({"remove":{"headers":["h1","h2"]}})",
            {{"Content-Length", "2"}, {"Content-Type", kJson}}, "{}");
  EXPECT_EQ(req.response_header("content-length"), "2") << "no json transform configured";
}

TEST_F(ResponseTransformer, RenamesHeaders) {
  const char* cfg = R"({"rename":{"headers":["h1:h2","h3:h4"]}})";
  auto req = run(cfg, {{"h1", "v1"}, {"h3", "v3"}});
  EXPECT_EQ(values(req, "h2"), V{"v1"});
  EXPECT_EQ(values(req, "h4"), V{"v3"});
  EXPECT_FALSE(req.response_header("h1"));
  EXPECT_FALSE(req.response_header("h3"));
  req = run(cfg, {{"h1", ""}});
  EXPECT_EQ(values(req, "h2"), V{""});
  EXPECT_FALSE(req.response_header("h1"));
  req = run(cfg, {});
  EXPECT_FALSE(req.response_header("h2"));
  req = run(cfg, {{"h1", "v1"}, {"h1", "v2"}});
  EXPECT_EQ(values(req, "h2"), (V{"v1", "v2"}));
  EXPECT_FALSE(req.response_header("h1"));
}

TEST_F(ResponseTransformer, ReplacesOnlyExistingHeaders) {
  const char* cfg = R"({"replace":{"headers":["h1:v1","h2:value:2"]},"add":{"json":["p1:v1"]}})";
  auto req = run(cfg, {{"h1", "value1"}, {"h2", "value2a"}, {"h2", "value2b"}});
  EXPECT_EQ(values(req, "h1"), V{"v1"});
  EXPECT_EQ(values(req, "h2"), V{"value:2"});
  req = run(cfg, {{"h2", "value2a"}, {"h2", "value2b"}});
  EXPECT_FALSE(req.response_header("h1"));
  EXPECT_EQ(values(req, "h2"), V{"value:2"});
}

TEST_F(ResponseTransformer, AddsOnlyMissingHeaders) {
  const char* cfg = R"({"add":{"json":["p1:v1"],"headers":["h2:v2"]}})";
  auto req = run(cfg, {{"h1", "v1"}});
  EXPECT_EQ(values(req, "h1"), V{"v1"});
  EXPECT_EQ(values(req, "h2"), V{"v2"});
  req = run(cfg, {{"h1", "v1"}, {"h2", "v3"}});
  EXPECT_EQ(values(req, "h2"), V{"v3"});
}

TEST_F(ResponseTransformer, AppendsHeaders) {
  const char* cfg = R"({"append":{"headers":["h1:v2"]},"add":{"json":["p1:v1"]}})";
  EXPECT_EQ(values(run(cfg, {}), "h1"), V{"v2"});
  EXPECT_EQ(values(run(cfg, {{"h1", "v1"}}), "h1"), (V{"v1", "v2"}));
}

TEST_F(ResponseTransformer, AllHeaderOperationsTogether) {
  auto req = run(R"({"remove":{"headers":["h1:v1"]},"replace":{"headers":["h2:v3"]},
                     "add":{"json":["p1:v1"],"headers":["h3:v3"]},"append":{"headers":["h3:v4"]}})",
                 {{"h1", "v1"}, {"h2", "v2"}});
  EXPECT_FALSE(req.response_header("h1"));
  EXPECT_EQ(values(req, "h2"), V{"v3"});
  EXPECT_EQ(values(req, "h3"), (V{"v3", "v4"}));
}

TEST_F(ResponseTransformer, ExistenceIsCheckedBeforeAnyChangeAsInKong) {
  // Kong tests replace/add against kong.response.get_headers() taken at the start.
  auto req = run(R"({"remove":{"headers":["h1"]},"replace":{"headers":["h1:back"]},
                     "rename":{"headers":["h2:h3"]},"add":{"headers":["h3:added"]}})",
                 {{"h1", "v1"}, {"h2", "v2"}});
  EXPECT_EQ(values(req, "h1"), V{"back"});
  EXPECT_EQ(values(req, "h3"), V{"added"}) << "h3 did not exist before: add overwrites";
}

// ---- JSON body (02-body_transformer_spec.lua)
// ------------------------------------------------------

constexpr const char* kAdd = R"~({"add":{
  "json":["p1:v1","p3:value:3","p4:\"v1\"","p5:-1","p6:false","p7:true"],
  "json_types":["string","string","string","number","boolean","boolean"]}})~";

TEST_F(ResponseTransformer, AddsJsonWithTypes) {
  EXPECT_EQ(body_of(kAdd, R"({"p2":"v1"})"),
            R"({"p2":"v1","p1":"v1","p3":"value:3","p4":"\"v1\"","p5":-1,"p6":false,"p7":true})");
  EXPECT_EQ(body_of(kAdd, R"({"p2":-1})"),
            R"({"p2":-1,"p1":"v1","p3":"value:3","p4":"\"v1\"","p5":-1,"p6":false,"p7":true})");
  EXPECT_EQ(body_of(kAdd, R"({"p2":false})"),
            R"({"p2":false,"p1":"v1","p3":"value:3","p4":"\"v1\"","p5":-1,"p6":false,)"
            R"("p7":true})");
  EXPECT_EQ(body_of(kAdd, R"({"p2":"v1", "a":[]})"),
            R"({"p2":"v1","a":[],"p1":"v1","p3":"value:3","p4":"\"v1\"","p5":-1,"p6":false,)"
            R"("p7":true})");
}

constexpr const char* kAppend = R"~({"append":{
  "json":["p1:v1","p3:\"v1\"","p4:-1","p5:false","p6:true"],
  "json_types":["string","string","number","boolean","boolean"]}})~";

TEST_F(ResponseTransformer, AppendsJson) {
  EXPECT_EQ(body_of(kAppend, R"({"p2":"v1"})"),
            R"({"p2":"v1","p1":["v1"],"p3":["\"v1\""],"p4":[-1],"p5":[false],"p6":[true]})");
  EXPECT_EQ(body_of(kAppend, R"({"p1":"v2"})"),
            R"({"p1":["v2","v1"],"p3":["\"v1\""],"p4":[-1],"p5":[false],"p6":[true]})");
  EXPECT_EQ(body_of(kAppend, R"({"p3":"v2"})"),
            R"({"p3":["v2","\"v1\""],"p1":["v1"],"p4":[-1],"p5":[false],"p6":[true]})");
  EXPECT_EQ(body_of(kAppend, R"({"p4":"v2"})"),
            R"({"p4":["v2",-1],"p1":["v1"],"p3":["\"v1\""],"p5":[false],"p6":[true]})");
  EXPECT_EQ(body_of(kAppend, R"({"p5":"v5", "p6":"v6"})"),
            R"({"p5":["v5",false],"p6":["v6",true],"p1":["v1"],"p3":["\"v1\""],"p4":[-1]})");
  EXPECT_EQ(body_of(kAppend, R"({"p2":"v1", "a":[]})"),
            R"({"p2":"v1","a":[],"p1":["v1"],"p3":["\"v1\""],"p4":[-1],"p5":[false],)"
            R"("p6":[true]})");
}

TEST_F(ResponseTransformer, RemovesJson) {
  const char* cfg = R"({"remove":{"json":["p1","p2"]}})";
  EXPECT_EQ(body_of(cfg, R"({"p1" : "v1", "p2" : "v1"})"), "{}");
  EXPECT_EQ(body_of(cfg, R"({"p1" : "v1", "p2" : "v1", "a": []})"), R"({"a":[]})");
}

TEST_F(ResponseTransformer, RenamesJson) {
  const char* cfg = R"({"rename":{"json":["p1:k1","p2:k2","p3:k3","p4:k4","p5:k5"]}})";
  EXPECT_EQ(body_of(cfg, R"({"p1" : "v1", "p2" : "v2"})"), R"({"k1":"v1","k2":"v2"})");
  EXPECT_EQ(body_of(cfg, R"({"p1" : "v1", "p2" : "v2", "p3": []})"),
            R"({"k1":"v1","k2":"v2","k3":[]})");
  EXPECT_EQ(body_of(cfg, R"({"p3" : -1})"), R"({"k3":-1})");
  EXPECT_EQ(body_of(cfg, R"({"p4" : false, "p5" : true})"), R"({"k4":false,"k5":true})");
}

TEST_F(ResponseTransformer, ReplacesJson) {
  const char* cfg = R"~({"replace":{"json":["p1:v2","p2:\"v2\"","p3:-1","p4:false","p5:true"],
                                    "json_types":["string","string","number","boolean",
                                                  "boolean"]}})~";
  EXPECT_EQ(body_of(cfg, R"({"p1" : "v1", "p2" : "v1"})"), R"({"p1":"v2","p2":"\"v2\""})");
  EXPECT_EQ(body_of(cfg, R"({"p1" : "v1"})"), R"({"p1":"v2"})");
  EXPECT_EQ(body_of(cfg, R"({"p2" : "v1"})"), R"({"p2":"\"v2\""})");
  EXPECT_EQ(body_of(cfg, R"({"p1" : "v1", "p2" : "v1", "a": []})"),
            R"({"p1":"v2","p2":"\"v2\"","a":[]})");
  EXPECT_EQ(body_of(cfg, R"({"p3" : "v1"})"), R"({"p3":-1})");
  EXPECT_EQ(body_of(cfg, R"({"p4" : "v4", "p5" : "v5"})"), R"({"p4":false,"p5":true})");
}

TEST_F(ResponseTransformer, AllJsonOperationsTogether) {
  const char* cfg = R"({"remove":{"json":["p1"]},"rename":{"json":["p4:p2"]},
                        "replace":{"json":["p2:v2"]},"add":{"json":["p3:v1"]},
                        "append":{"json":["p3:v2"]}})";
  EXPECT_EQ(body_of(cfg, R"({"p1" : "v1", "p4" : "v1"})"), R"({"p2":"v2","p3":["v1","v2"]})");
  EXPECT_EQ(body_of(cfg, R"({"p1" : "v1", "p4" : "v1", "a" : []})"),
            R"({"p2":"v2","a":[],"p3":["v1","v2"]})");
}

TEST_F(ResponseTransformer, LeavesTheBodyAloneWithoutJsonTransforms) {
  std::string body = "\n\n    {\n      \"id\": 1,\n      \"name\": \"Some One\"\n    }\n\n  ";
  auto req = run(R"({"remove":{"headers":["h1","h2","h3"]}})", {{"Content-Type", kJson}}, body);
  EXPECT_EQ(req.body(), body);
}

TEST_F(ResponseTransformer, LeavesAnUnparseableBodyAlone) {
  auto req = run(R"({"remove":{"json":["foo"]}})", {{"Content-Type", kJson}}, "not a json value");
  EXPECT_EQ(req.body(), "not a json value");
  EXPECT_TRUE(host.logged("body transform failed"));
}

TEST_F(ResponseTransformer, OnlyJsonContentTypesAreBuffered) {
  std::string body = R"({"url":"x"})";
  auto req = run(R"({"remove":{"json":["url"]}})", {{"Content-Type", "text/plain"}}, body);
  EXPECT_EQ(req.body(), body);
  req = run(R"({"remove":{"json":["url"]}})", {}, body);
  EXPECT_EQ(req.body(), body);
  req = run(R"({"remove":{"json":["url"]}})", {{"Content-Type", "application/problem+json"}}, body);
  EXPECT_EQ(req.body(), "{}");
}

TEST_F(ResponseTransformer, KongsValueQuirks) {
  // json_value() re-escapes the configured string through lua-cjson (backslashes double) and
  // an empty value is the string "null"; a number that is not one is skipped; inf cannot be
  // encoded, so the body stays as it is.
  EXPECT_EQ(body_of(R"({"add":{"json":["a:x\\y","b:"]}})", "{}"), R"({"a":"x\\\\y","b":"null"})");
  EXPECT_EQ(
      body_of(R"({"add":{"json":["a:abc","b: 0x10 "],"json_types":["number","number"]}})", "{}"),
      R"({"b":16})");
  EXPECT_EQ(body_of(R"({"add":{"json":["a:1.50","b:1e3","c:yes"],
                               "json_types":["number","number","boolean"]}})",
                    "{}"),
            R"({"a":1.5,"b":1000,"c":false})");
  EXPECT_EQ(body_of(R"({"add":{"json":["a:inf"],"json_types":["number"]}})", R"({"x": 1})"),
            R"({"x": 1})");
  // rename to the same name deletes the key (json_body[new] = v; json_body[old] = nil).
  EXPECT_EQ(body_of(R"({"rename":{"json":["a:a"]}})", R"({"a":1,"b":2})"), R"({"b":2})");
  // replace/add test Lua truthiness: false counts as absent, null as present.
  EXPECT_EQ(body_of(R"({"replace":{"json":["f:r","n:r"]},"add":{"json":["f:a","n:a"]}})",
                    R"({"f":false,"n":null})"),
            R"({"f":"a","n":"r"})");
}

TEST_F(ResponseTransformer, NonObjectBodies) {
  EXPECT_EQ(body_of(R"({"add":{"json":["p1:v1"]}})", "[1, 2 ,3]"), "[1,2,3]");
  EXPECT_EQ(body_of(R"({"add":{"json":["p1:v1"]}})", "\"str\""), "\"str\"");
}

// ---- Through the proxy (04-filter_spec.lua, 05-big_response_body_spec.lua)
// -----------------------

TEST_F(ResponseTransformer, RemovesAParameterAndAHeader) {
  auto req = run(R"({"remove":{"headers":["Access-Control-Allow-Origin"],"json":["url"]}})",
                 {{"Content-Type", kJson}, {"Access-Control-Allow-Origin", "*"}},
                 R"({"url":"http://mockbin.test/get","args":{}})");
  EXPECT_EQ(req.body(), R"({"args":{}})");
  EXPECT_FALSE(req.response_header("access-control-allow-origin"));
}

TEST_F(ResponseTransformer, ReplacesABodyParameter) {
  auto req = run(
      R"~({"replace":{"json":["headers:/hello/world","uri_args:this is a / test","url:\"wot\""]}})~",
      {{"Content-Type", kJson}}, R"({"headers":{"a":"b"},"url":"http://x/get","uri_args":{}})");
  EXPECT_EQ(req.body(),
            R"({"headers":"\/hello\/world","url":"\"wot\"","uri_args":"this is a \/ test"})");
}

TEST(ResponseTransformerBig, LargeBodies) {
  sb::testing::HostOptions opt;
  opt.body_limit = 4 << 20;  // the 1 MiB field does not fit the default buffer
  sb::testing::Host host(opt);
  sb::testing::Plugin plugin = host.load(kDef);
  std::string big(1024 * 1024, '*');
  std::string body = R"({"params":{"mock_json":{"big_field":")" + big + R"("}},"x":1})";
  auto run = [&](const char* cfg) {
    FakeRequest r;
    r.upstream.headers = {{"Content-Type", kJson}};
    r.upstream.body = body;
    sb::testing::Request req = host.request(std::move(r), {plugin.compile(cfg)});
    EXPECT_EQ(req.run(), SB_CONTINUE);
    return req.body();
  };
  EXPECT_EQ(run(R"({"add":{"json":["p1:v1"]},"remove":{"json":["params"]}})"),
            R"({"x":1,"p1":"v1"})");
  std::string added = run(R"({"add":{"json":["p1:v1"]}})");
  EXPECT_EQ(added.size(), body.size() + std::string(R"(,"p1":"v1")").size());
  EXPECT_EQ(added.substr(added.size() - 16), R"("x":1,"p1":"v1"})");
}

TEST_F(ResponseTransformer, ChunkedUpstreamBodyIsTransformedWhole) {
  FakeRequest r;
  r.upstream.headers = {{"Content-Type", kJson}};
  r.upstream.chunks = {R"({"a")", R"(:1,"b")", R"(:2})"};
  sb::testing::Request req =
      host.request(std::move(r), {plugin.compile(R"({"remove":{"json":["a"]}})")});
  EXPECT_EQ(req.run(), SB_CONTINUE);
  EXPECT_EQ(req.body(), R"({"b":2})");
}

}  // namespace
