// request-transformer on the SDK's fake host. The cases are Kong 3.9's
// spec/03-plugins/36-request-transformer/{01-schema,02-access,03-api}_spec.lua, same configs,
// inputs and expected outputs (Kong's mock upstream echoes what it got; here the fake host
// records the upstream request), plus Silverback's own limits (templates, errors).
#include <gtest/gtest.h>
#include <silverback/testing.hpp>

#include <string>

#include "request_transformer.h"

namespace {

using sb::testing::FakeRequest;
using sb::testing::Headers;
using RT = sbp::RequestTransformer;

constexpr sb_plugin_def kDef = sb::plugin_def<RT>(RT::kName, RT::kVersion, RT::kPriority,
                                                  sbp::kRequestTransformerSchema, nullptr);

// pre-function stand-in: kong.ctx.shared.my_version = "1.2.3" in access, before the transformer.
struct SetShared {
  struct Config {};
  static Config compile(const sb::Value&) { return {}; }
  static sb::Result access(sb::Ctx& ctx, const Config&) {
    ctx.ctx_shared().set("my_version", "1.2.3");
    return sb::Result::Continue;
  }
};
constexpr sb_plugin_def kSetSharedDef =
    sb::plugin_def<SetShared>("pre-function", "1.0.0", 1000000, R"~({"fields":[]})~", nullptr);

FakeRequest get(std::string path, std::string query = {}, Headers headers = {}) {
  FakeRequest r;
  r.path = std::move(path);
  r.query = std::move(query);
  r.headers = std::move(headers);
  return r;
}

FakeRequest post(std::string content_type, std::string body, std::string query = {},
                 Headers headers = {}) {
  FakeRequest r;
  r.method = "POST";
  r.path = "/request";
  r.query = std::move(query);
  r.headers = std::move(headers);
  if (!content_type.empty()) r.headers.emplace_back("Content-Type", content_type);
  r.body = std::move(body);
  return r;
}

constexpr const char* kForm = "application/x-www-form-urlencoded";
constexpr const char* kJson = "application/json";

// A multipart body as Kong's test client sends a Lua table (lua-multipart's tostring).
std::string multipart(std::initializer_list<std::pair<std::string, std::string>> fields,
                      const std::string& boundary = "XXX") {
  std::string out;
  for (const auto& [k, v] : fields) {
    out += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + k + "\"\r\n\r\n" + v +
           "\r\n";
  }
  if (!out.empty()) out += "--" + boundary + "--\r\n";
  return out;
}
constexpr const char* kMultipart = "multipart/form-data; boundary=XXX";

class RequestTransformer : public ::testing::Test {
 protected:
  // Runs the access phase with one transformer config; the request must go on upstream.
  sb::testing::Request run(std::string_view config, FakeRequest r) {
    sb::testing::Request req = host.request(std::move(r), {plugin.compile(config)});
    EXPECT_EQ(req.access(), SB_CONTINUE);
    return req;
  }
  std::vector<std::string> upstream_values(const sb::testing::Request& req, std::string_view name) {
    std::vector<std::string> out;
    for (const auto& [k, v] : req.upstream_headers()) {
      if (sb::iequals(k, name)) out.push_back(v);
    }
    return out;
  }
  std::string header_name(const sb::testing::Request& req, std::string_view name) {
    for (const auto& [k, v] : req.upstream_headers()) {
      if (sb::iequals(k, name)) return k;
    }
    return "";
  }

  sb::testing::Host host;
  sb::testing::Plugin plugin = host.load(kDef);
};

// ---- Schema (01-schema_spec.lua, 03-api_spec.lua)
// ------------------------------------------------

TEST_F(RequestTransformer, SchemaHttpMethod) {
  EXPECT_EQ(plugin.compile_error(R"~({"http_method":"GET"})~"), std::nullopt);
  auto err = plugin.compile_error(R"~({"http_method":"HELLO!"})~");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("config.http_method: invalid value: HELLO!"), std::string::npos) << *err;
}

TEST_F(RequestTransformer, SchemaTemplatesAndValues) {
  EXPECT_EQ(plugin.compile_error(
                R"~({"add":{"querystring":["uri_param1:$(uri_captures.user1)",
                                          "uri_param2:$(uri_captures.user2)"]
}
})~"),
            std::nullopt);
  EXPECT_EQ(plugin.compile_error(
                R"~({"add":{"querystring":["uri_param1:$(uri_captures.user1)","uri_param2:value"]
  }
  })~"),
            std::nullopt);
  auto err = plugin.compile_error(R"~({"add":{"querystring":["uri_param2:"]}})~");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("config.add.querystring[0]: key 'uri_param2' has no value"),
            std::string::npos)
      << *err;
  err = plugin.compile_error(R"~({"add":{"querystring":["uri_param2:$(uri_captures user2)"]
  }
  })~");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("value '$(uri_captures user2)' is not in supported format"),
            std::string::npos)
      << *err;
  // Kong compiles these and fails the request (500) when rendering; Silverback refuses them.
  for (const char* cfg : {
           R"~({"replace":{"uri":"/requests/user2/$(10 * uri_captures.user1)"}
  })~",
           R"~({"add":{"querystring":["q1:$(ERROR())"]
  }
  })~",
           R"~({"add":{"headers":["X-Write-Attempt:$(shared.written = true)"]
  }
  })~",
           R"~({"add":{"headers":["x-added:$(type(query_params.user))"]
  }
  })~"}) {
    err = plugin.compile_error(cfg);
    ASSERT_TRUE(err) << cfg;
    EXPECT_NE(err->find("Silverback does not run Lua"), std::string::npos) << *err;
  }
}

TEST_F(RequestTransformer, SchemaColonsAndHeaderNames) {
  EXPECT_EQ(plugin.compile_error(
                R"~({"remove":{"headers":["just_a_key"],"body":["just_a_key"],
                              "querystring":["just_a_key"]}})~"),
            std::nullopt);
  for (const char* section : {"add", "replace", "append"}) {
    auto err =
        plugin.compile_error(std::string("{\"") + section + R"~(":{"headers":["just_a_key"]}})~");
    ASSERT_TRUE(err) << section;
    EXPECT_NE(
        err->find(std::string("config.") + section + ".headers[0]: invalid value: just_a_key"),
        std::string::npos)
        << *err;
  }
  auto err =
      plugin.compile_error(R"~({"rename":{"headers":["x-requ,est-id:x-custom-request-id"]}})~");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("'x-requ,est-id' is not a valid header"), std::string::npos) << *err;
  err = plugin.compile_error(R"~({"rename":{"headers":["x-a:x b"]}})~");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("'x b' is not a valid header"), std::string::npos) << *err;
  err = plugin.compile_error(R"~({"remove":{"headers":["bad header"]}})~");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("'bad header' is not a valid header"), std::string::npos) << *err;
}

TEST_F(RequestTransformer, ReadsTheBodyOnlyWhenNeeded) {
  EXPECT_EQ(plugin.compile(R"~({"add":{"headers":["h1:v1"],"querystring":["q:1"]}})~").flags(), 0u);
  EXPECT_EQ(plugin.compile(R"~({"http_method":"POST"})~").flags(), 0u);
  EXPECT_EQ(plugin.compile(R"~({"http_method":"GET"})~").flags(), SB_CFG_READS_REQUEST_BODY);
  EXPECT_EQ(plugin.compile(R"~({"http_method":"HEAD"})~").flags(), SB_CFG_READS_REQUEST_BODY);
  EXPECT_EQ(plugin.compile(R"~({"remove":{"body":["p"]}})~").flags(), SB_CFG_READS_REQUEST_BODY);
  EXPECT_EQ(plugin.compile(R"~({"append":{"body":["p:1"]}})~").flags(), SB_CFG_READS_REQUEST_BODY);
}

TEST_F(RequestTransformer, LoadsAsABuiltLibrary) {
  sb::testing::Host h2;
  sb::testing::Plugin p = h2.load_library(std::string(SB_PLUGIN_DIR) + "/request-transformer.so");
  EXPECT_EQ(p.name(), "request-transformer");
  EXPECT_EQ(p.def().priority, 801);
  EXPECT_FALSE(p.hooks().on_header_filter);
  EXPECT_TRUE(p.hooks().on_access);
}

TEST(RequestTransformerLimits, ABodyTheHostCannotHandOverIsLeftAlone) {
  sb::testing::HostOptions opt;
  opt.body_limit = 16;
  sb::testing::Host host(opt);
  sb::testing::Plugin plugin = host.load(kDef);
  FakeRequest r = post(kJson, R"~({"a":"more than sixteen bytes"})~");
  sb::testing::Request req = host.request(r, {plugin.compile(R"~({"add":{"body":["p1:v1"]}})~")});
  EXPECT_EQ(req.access(), SB_CONTINUE);
  EXPECT_EQ(req.upstream_body(), R"~({"a":"more than sixteen bytes"})~");
  EXPECT_TRUE(host.logged("cannot read the request body"));
}

// ---- http method
// ----------------------------------------------------------------------------------

TEST_F(RequestTransformer, ChangesMethodFromGetToPost) {
  auto req = run(R"~({"http_method":"POST"})~", get("/request", "hello=world&name=marco"));
  EXPECT_EQ(req.upstream_method(), "POST");
  EXPECT_EQ(req.upstream_query(), "hello=world&name=marco");
}

TEST_F(RequestTransformer, ChangesMethodFromPostToGetMovingTheFormIntoTheQuery) {
  auto req = run(R"~({"http_method":"GET"})~", post(kForm, "name=marco", "hello=world"));
  EXPECT_EQ(req.upstream_method(), "GET");
  EXPECT_EQ(req.upstream_query(), "hello=world&name=marco");
}

TEST_F(RequestTransformer, ChangesMethodAndAddsJsonBody) {
  auto req = run(R"~({"http_method":"POST","add":{"headers":["Content-Type:application/json"],
                                                 "body":["body:somecontent"]}})~",
                 get("/request"));
  EXPECT_EQ(req.upstream_method(), "POST");
  EXPECT_EQ(req.upstream_header("content-type"), "application/json");
  EXPECT_EQ(req.upstream_body(), R"~({"body":"somecontent"})~");
}

// ---- remove
// ---------------------------------------------------------------------------------------

constexpr const char* kRoute4 =
    R"~({"remove":{"headers":["x-to-remove"],"querystring":["q1"],"body":["toremoveform"]}})~";

TEST_F(RequestTransformer, RemovesHeader) {
  auto req =
      run(kRoute4, get("/request", "", {{"x-to-remove", "true"}, {"x-another-header", "true"}}));
  EXPECT_FALSE(req.upstream_header("x-to-remove"));
  EXPECT_EQ(req.upstream_header("x-another-header"), "true");
}

TEST_F(RequestTransformer, RemovesFormParameter) {
  auto req = run(kRoute4, post(kForm, "toremoveform=yes&nottoremove=yes"));
  EXPECT_EQ(req.upstream_body(), "nottoremove=yes");
}

TEST_F(RequestTransformer, RemovesJsonParameter) {
  auto req = run(kRoute4, post(kJson, R"~({"toremoveform":"yes","nottoremove":"yes"})~"));
  EXPECT_EQ(req.upstream_body(), R"~({"nottoremove":"yes"})~");
}

TEST_F(RequestTransformer, LeavesMalformedJsonAlone) {
  auto req = run(kRoute4, post(kJson, "malformed json body"));
  EXPECT_EQ(req.upstream_body(), "malformed json body");
}

TEST_F(RequestTransformer, EmptyJsonObjectStaysAnObject) {
  auto req = run(kRoute4, post(kJson, "{}"));
  EXPECT_EQ(req.upstream_body(), "{}");
}

TEST_F(RequestTransformer, EmptyBodyWithoutContentTypeIsUntouched) {
  auto req = run(kRoute4, post("", ""));
  EXPECT_EQ(req.upstream_body(), "");
}

TEST_F(RequestTransformer, RemovesMultipartParameter) {
  auto req =
      run(kRoute4, post(kMultipart, multipart({{"toremoveform", "yes"}, {"nottoremove", "yes"}})));
  EXPECT_EQ(req.upstream_body(), multipart({{"nottoremove", "yes"}}));
}

TEST_F(RequestTransformer, RemovesQueryArgument) {
  auto req = run(kRoute4, get("/request", "q1=v1&q2=v2"));
  EXPECT_EQ(req.upstream_query(), "q2=v2");
}

TEST_F(RequestTransformer, RemovePreservesEmptyJsonArray) {
  auto req = run(kRoute4, post(kJson, R"~({"emptyarray":[]})~"));
  EXPECT_EQ(req.upstream_body(), R"~({"emptyarray":[]})~");
}

// ---- rename
// ---------------------------------------------------------------------------------------

constexpr const char* kRoute9 =
    R"~({"rename":{"headers":["x-to-rename:x-is-renamed"],
                  "querystring":["originalparam:renamedparam"],
                  "body":["originalparam:renamedparam"]}})~";

TEST_F(RequestTransformer, RenamesHeader) {
  auto req =
      run(kRoute9, get("/request", "", {{"x-to-rename", "true"}, {"x-another-header", "true"}}));
  EXPECT_FALSE(req.upstream_header("x-to-rename"));
  EXPECT_EQ(req.upstream_header("x-is-renamed"), "true");
  EXPECT_EQ(req.upstream_header("x-another-header"), "true");
}

TEST_F(RequestTransformer, RenameDoesNotAddAMissingHeader) {
  auto req = run(kRoute9, get("/request", "", {{"x-a-header", "true"}}));
  EXPECT_FALSE(req.upstream_header("x-is-renamed"));
  EXPECT_EQ(req.upstream_header("x-a-header"), "true");
}

TEST_F(RequestTransformer, RenameOverridesAnExistingTarget) {
  for (const char* target : {"x-is-renamed", "X-Is-Renamed"}) {
    auto req =
        run(kRoute9, get("/request", "", {{"x-to-rename", "new-result"}, {target, "old-result"}}));
    EXPECT_FALSE(req.upstream_header("x-to-rename"));
    EXPECT_EQ(upstream_values(req, "x-is-renamed"), std::vector<std::string>{"new-result"});
  }
}

TEST_F(RequestTransformer, RenamesFormJsonMultipartAndQuery) {
  auto req = run(kRoute9, post(kForm, "originalparam=yes"));
  EXPECT_EQ(req.upstream_body(), "renamedparam=yes");
  req = run(kRoute9, post(kForm, "x-a-header=true"));
  EXPECT_EQ(req.upstream_body(), "x-a-header=true");
  req = run(kRoute9, post(kJson, R"~({"originalparam":"yes","nottorename":"yes"})~"));
  EXPECT_EQ(req.upstream_body(), R"~({"renamedparam":"yes","nottorename":"yes"})~");
  req = run(kRoute9, post(kJson, "malformed json body"));
  EXPECT_EQ(req.upstream_body(), "malformed json body");
  req =
      run(kRoute9, post(kMultipart, multipart({{"originalparam", "yes"}, {"nottorename", "yes"}})));
  EXPECT_EQ(req.upstream_body(), multipart({{"nottorename", "yes"}, {"renamedparam", "yes"}}));
  req = run(kRoute9, get("/request", "originalparam=true&nottorename=true"));
  EXPECT_EQ(req.upstream_query(), "nottorename=true&renamedparam=true");
  req = run(kRoute9, post(kJson, R"~({"emptyarray":[]})~"));
  EXPECT_EQ(req.upstream_body(), R"~({"emptyarray":[]})~");
}

constexpr const char* kRenameMock =
    R"~({"rename":{"headers":["rename:Rename","identical:identical"],
                  "querystring":["inexist:exist"]}})~";

TEST_F(RequestTransformer, RenameOnlyChangingCapitalization) {
  auto req = run(kRenameMock, get("/request", "", {{"rename", "true"}}));
  EXPECT_EQ(header_name(req, "rename"), "Rename");
  EXPECT_EQ(req.upstream_header("Rename"), "true");
}

TEST_F(RequestTransformer, RenameDoesNotOverrideWithNil) {
  auto req = run(kRenameMock, get("/request", "exist=true"));
  EXPECT_EQ(req.upstream_query(), "exist=true");
}

TEST_F(RequestTransformer, RenameToTheIdenticalNameKeepsTheHeader) {
  auto req = run(kRenameMock, get("/request", "", {{"identical", "true"}}));
  EXPECT_EQ(req.upstream_header("identical"), "true");
}

// ---- replace
// --------------------------------------------------------------------------------------

constexpr const char* kRoute5 =
    R"~({"replace":{"headers":["h1:v1"],"querystring":["q1:v1"],"body":["p1:v1"]}})~";

TEST_F(RequestTransformer, ReplacesExistingHeaderOnly) {
  auto req = run(kRoute5, get("/request", "", {{"h1", "V"}, {"h2", "v2"}}));
  EXPECT_EQ(req.upstream_header("h1"), "v1");
  EXPECT_EQ(req.upstream_header("h2"), "v2");
  req = run(kRoute5, get("/request", "", {{"h2", "v2"}}));
  EXPECT_FALSE(req.upstream_header("h1"));
}

TEST_F(RequestTransformer, ReplacesFormJsonMultipartAndQuery) {
  auto req = run(kRoute5, post(kForm, "p1=v&p2=v1"));
  EXPECT_EQ(req.upstream_body(), "p1=v1&p2=v1");
  req = run(kRoute5, post(kForm, "p2=v1"));
  EXPECT_EQ(req.upstream_body(), "p2=v1");
  req = run(kRoute5, post(kJson, R"~({"p1":"v","p2":"v1"})~"));
  EXPECT_EQ(req.upstream_body(), R"~({"p1":"v1","p2":"v1"})~");
  req = run(kRoute5, post(kJson, "malformed json body"));
  EXPECT_EQ(req.upstream_body(), "malformed json body");
  req = run(kRoute5, post(kJson, R"~({"p2":"v1"})~"));
  EXPECT_EQ(req.upstream_body(), R"~({"p2":"v1"})~");
  req = run(kRoute5, post(kMultipart, multipart({{"p1", "v"}, {"p2", "v1"}})));
  EXPECT_EQ(req.upstream_body(), multipart({{"p2", "v1"}, {"p1", "v1"}}));
  req = run(kRoute5, post(kMultipart, multipart({{"p2", "v1"}})));
  EXPECT_EQ(req.upstream_body(), multipart({{"p2", "v1"}}));
  req = run(kRoute5, post(kForm, "hello=world", "q1=v&q2=v2"));
  EXPECT_EQ(req.upstream_query(), "q1=v1&q2=v2");
  req = run(kRoute5, post(kForm, "hello=world", "q2=v2"));
  EXPECT_EQ(req.upstream_query(), "q2=v2");
  req = run(kRoute5, post(kJson, R"~({"emptyarray":[], "p1":"v"})~"));
  EXPECT_EQ(req.upstream_body(), R"~({"emptyarray":[],"p1":"v1"})~");
}

TEST_F(RequestTransformer, ReplacesUriWithCaptures) {
  FakeRequest r = get("/api/htest");
  r.captures = {{"0", "/api/htest"}, {"subpath", "htest"}};
  auto req = run(R"~({"replace":{"uri":"/api/v2/$(uri_captures[\"subpath\"])"
  }
  })~",
                 r);
  EXPECT_EQ(req.upstream_path(), "/api/v2/htest");
}

TEST_F(RequestTransformer, EscapesUtf8InTheUpstreamPath) {
  auto req = run(R"~({"replace":{"uri":"/requests/t\u00e9st"}})~", get("/requests/wrong_path"));
  EXPECT_EQ(req.upstream_path(), "/requests/t%C3%A9st");
}

TEST_F(RequestTransformer, UriNotStartingWithSlashFailsTheRequest) {
  FakeRequest r = get("/x");
  r.captures = {{"p", "relative"}};
  sb::testing::Request req =
      host.request(r, {plugin.compile(R"~({"replace":{"uri":"$(uri_captures.p)"}
  })~")});
  EXPECT_EQ(req.access(), SB_ERROR);
  EXPECT_TRUE(host.logged("path must start with /"));
}

// ---- add
// ------------------------------------------------------------------------------------------

constexpr const char* kRoute1 =
    R"~({"add":{"headers":["h1:v1","h2:value:2"],"querystring":["q1:v1"],"body":["p1:v1"]}})~";

TEST_F(RequestTransformer, AddsHeadersWithColonsInValues) {
  auto req = run(kRoute1, get("/request"));
  EXPECT_EQ(req.upstream_header("h1"), "v1");
  EXPECT_EQ(req.upstream_header("h2"), "value:2");
  req = run(kRoute1, get("/request", "", {{"h1", "v3"}}));
  EXPECT_EQ(upstream_values(req, "h1"), std::vector<std::string>{"v3"});
}

TEST_F(RequestTransformer, AddsFormJsonMultipartAndQuery) {
  auto req = run(kRoute1, post(kForm, "hello=world"));
  EXPECT_EQ(req.upstream_body(), "hello=world&p1=v1");
  req = run(kRoute1, post(kForm, "p1=should%20not%20change&hello=world"));
  EXPECT_EQ(req.upstream_body(), "p1=should%20not%20change&hello=world");
  req = run(kRoute1, post(kJson, R"~({"hello":"world"})~"));
  EXPECT_EQ(req.upstream_body(), R"~({"hello":"world","p1":"v1"})~");
  req = run(kRoute1, post(kJson, R"~({"p1":"this should not change","hello":"world"})~"));
  EXPECT_EQ(req.upstream_body(), R"~({"p1":"this should not change","hello":"world"})~");
  req = run(kRoute1, post(kJson, "malformed json body"));
  EXPECT_EQ(req.upstream_body(), "malformed json body");
  req = run(kRoute1, post(kMultipart, ""));
  EXPECT_EQ(req.upstream_body(), multipart({{"p1", "v1"}}));
  req = run(kRoute1,
            post(kMultipart, multipart({{"p1", "this should not change"}, {"hello", "world"}})));
  EXPECT_EQ(req.upstream_body(), multipart({{"p1", "this should not change"}, {"hello", "world"}}));
  req = run(kRoute1, get("/request", "q2=v2"));
  EXPECT_EQ(req.upstream_query(), "q1=v1&q2=v2");
  req = run(kRoute1, get("/request", "q1=v2"));
  EXPECT_EQ(req.upstream_query(), "q1=v2");
  req = run(kRoute1, post(kJson, R"~({"emptyarray":[]})~"));
  EXPECT_EQ(req.upstream_body(), R"~({"emptyarray":[],"p1":"v1"})~");
}

TEST_F(RequestTransformer, MultipartWithoutBoundaryGetsOneAnnounced) {
  auto req = run(kRoute1, post("multipart/form-data", ""));
  std::string ct = req.upstream_header("content-type").value_or("");
  ASSERT_EQ(ct.rfind("multipart/form-data; boundary=silverback-", 0), 0u) << ct;
  std::string b = ct.substr(ct.find('=') + 1);
  EXPECT_EQ(req.upstream_body(), multipart({{"p1", "v1"}}, b));
}

TEST_F(RequestTransformer, AddNeverChangesHost) {
  FakeRequest r = get("/get");
  r.host = "test2.test";
  auto req = run(R"~({"add":{"headers":["host:mark"]}})~", r);
  EXPECT_EQ(req.upstream_header("host"), "test2.test");
}

TEST_F(RequestTransformer, ReplaceChangesHost) {
  auto req = run(R"~({"replace":{"headers":["Host:upstream.test"]}})~", get("/get"));
  EXPECT_EQ(upstream_values(req, "host"), std::vector<std::string>{"upstream.test"});
}

// ---- append
// ---------------------------------------------------------------------------------------

constexpr const char* kRoute6 =
    R"~({"append":{"headers":["h1:v1","h1:v2","h2:v1"],"querystring":["q1:v1","q1:v2","q2:v1"],
                  "body":["p1:v1","p1:v2","p2:value:1"]}})~";

TEST_F(RequestTransformer, AppendsHeaders) {
  auto req = run(kRoute6, get("/request"));
  EXPECT_EQ(upstream_values(req, "h2"), std::vector<std::string>{"v1"});
  EXPECT_EQ(upstream_values(req, "h1"), (std::vector<std::string>{"v1", "v2"}));
  req = run(R"~({"append":{"headers":["h1:v1","h1:v2","h1:#value_with_hash","h2:v1"]}})~",
            get("/request"));
  EXPECT_EQ(upstream_values(req, "h1"), (std::vector<std::string>{"v1", "v2", "#value_with_hash"}));
}

TEST_F(RequestTransformer, AppendsQueryAndForm) {
  auto req = run(kRoute6, post(kForm, "hello=world"));
  EXPECT_EQ(req.upstream_query(), "q1=v1&q1=v2&q2=v1");
  EXPECT_EQ(req.upstream_body(), "hello=world&p1=v1&p1=v2&p2=value%3A1");
  req = run(kRoute6, post(kForm, "p1=v0"));
  EXPECT_EQ(req.upstream_body(), "p1=v0&p1=v1&p1=v2&p2=value%3A1");
  req = run(kRoute6, post(kForm, ""));
  EXPECT_EQ(req.upstream_body(), "p1=v1&p1=v2&p2=value%3A1");
}

TEST_F(RequestTransformer, AppendsJsonButNotMultipart) {
  auto req = run(kRoute6, post(kJson, R"~({"p1":"v0","emptyarray":[]})~"));
  EXPECT_EQ(req.upstream_body(), R"~({"p1":["v0","v1","v2"],"emptyarray":[],"p2":["value:1"]})~");
  req = run(kRoute6, post(kJson, "malformed json body"));
  EXPECT_EQ(req.upstream_body(), "malformed json body");
  std::string body = multipart({{"p1", "This should not change"}});
  req = run(kRoute6, post(kMultipart, body));
  EXPECT_EQ(req.upstream_body(), body);
}

// ---- remove, replace, add and append together
// -----------------------------------------------------

constexpr const char* kRoute3 = R"~({
  "add":{"headers":["x-added:a1","x-added2:b1","x-added3:c2"],
         "querystring":["query-added:newvalue","p1:anything:1"],"body":["newformparam:newvalue"]},
  "remove":{"headers":["x-to-remove"],"querystring":["toremovequery"]},
  "append":{"headers":["x-added:a2","x-added:a3"],"querystring":["p1:a2","p2:b1"]},
  "replace":{"headers":["x-to-replace:false"],"querystring":["toreplacequery:no"]}})~";

TEST_F(RequestTransformer, AllOperationsOnHeaders) {
  auto req = run(
      kRoute3,
      get("/request", "", {{"x-to-remove", "true"}, {"x-to-replace", "true"}, {"x-added3", "c1"}}));
  EXPECT_FALSE(req.upstream_header("x-to-remove"));
  EXPECT_EQ(req.upstream_header("x-to-replace"), "false");
  EXPECT_EQ(req.upstream_header("x-added2"), "b1");
  EXPECT_EQ(req.upstream_header("x-added3"), "c1");
  EXPECT_EQ(upstream_values(req, "x-added"), (std::vector<std::string>{"a1", "a2", "a3"}));
  req = run(kRoute3, get("/request"));
  EXPECT_FALSE(req.upstream_header("x-to-replace"));
}

TEST_F(RequestTransformer, AllOperationsOnTheQuery) {
  auto req = run(kRoute3, post(kForm, "hello=world"));
  EXPECT_EQ(req.upstream_query(), "p1=anything%3A1&p1=a2&p2=b1&query-added=newvalue");
  EXPECT_EQ(req.upstream_body(), "hello=world&newformparam=newvalue");
  req = run(kRoute3, get("/request", "toremovequery=yes&nottoremove=yes&toreplacequery=yes"));
  EXPECT_EQ(req.upstream_query(),
            "nottoremove=yes&p1=anything%3A1&p1=a2&p2=b1&query-added=newvalue&toreplacequery=no");
  req = run(kRoute3, get("/request", "query-added=oldvalue&q1=20"));
  EXPECT_EQ(req.upstream_query(), "p1=anything%3A1&p1=a2&p2=b1&q1=20&query-added=oldvalue");
}

constexpr const char* kRoute26 = R"~({
  "add":{"headers":["X-aDDed:a1","x-aDDed2:b1","x-Added3:c2"]},
  "remove":{"headers":["X-To-Remove"]},
  "append":{"headers":["X-aDDed:a2","X-aDDed:a3"]},
  "replace":{"headers":["x-to-Replace:false"]}})~";

TEST_F(RequestTransformer, HeaderCaseHandling) {
  auto req = run(
      kRoute26,
      get("/request", "", {{"x-to-remove", "true"}, {"x-to-replace", "true"}, {"x-added3", "c1"}}));
  EXPECT_FALSE(req.upstream_header("X-To-Remove"));
  EXPECT_EQ(req.upstream_header("x-to-Replace"), "false");
  EXPECT_EQ(header_name(req, "x-to-replace"), "x-to-replace") << "the request's case is kept";
  EXPECT_EQ(header_name(req, "x-added2"), "x-aDDed2") << "added headers keep the config's case";
  EXPECT_EQ(req.upstream_header("x-added3"), "c1");
  EXPECT_EQ(header_name(req, "x-added3"), "x-added3");
  EXPECT_EQ(upstream_values(req, "x-added"), (std::vector<std::string>{"a1", "a2", "a3"}));
  EXPECT_EQ(header_name(req, "x-added"), "X-aDDed");

  req = run(kRoute26, get("/request", "", {{"X-addeD", "a0"}}));
  EXPECT_EQ(upstream_values(req, "x-added"), (std::vector<std::string>{"a0", "a2", "a3"}));
  EXPECT_EQ(header_name(req, "x-added"), "X-aDDed") << "append uses the configured case";
}

TEST_F(RequestTransformer, RemoveThenAddHeader) {
  const char* cfg = R"~({"http_method":"POST","remove":{"headers":["Authorization"]},
                        "add":{"headers":["Authorization:Basic test"]}})~";
  auto req = run(
      cfg, get("/", "",
               {{"Authorization", "Basic dGVzdDp0ZXN0"}, {"Content-Type", "application/json"}}));
  EXPECT_EQ(upstream_values(req, "authorization"), std::vector<std::string>{"Basic test"});
  req = run(cfg, get("/", "", {{"Content-Type", "application/json"}}));
  EXPECT_EQ(upstream_values(req, "authorization"), std::vector<std::string>{"Basic test"});
}

// ---- templates
// ------------------------------------------------------------------------------------

FakeRequest user_request(std::string path = "/requests/user1/foo/user2/bar", std::string query = {},
                         Headers headers = {}) {
  FakeRequest r = get(std::move(path), std::move(query), std::move(headers));
  r.captures = {{"0", "/requests/user1/foo/user2/bar"},
                {"1", "foo"},
                {"2", "bar"},
                {"user1", "foo"},
                {"user2", "bar"}};
  return r;
}

TEST_F(RequestTransformer, TemplateAsQueryArguments) {
  auto req = run(R"~({"add":{"querystring":["uri_param1:$(uri_captures.user1)",
                                           "uri_param2[some_index][1]:$(uri_captures.user2)"]
  }
  })~",
                 user_request("/requests/user1/foo/user2/bar", "q1=20"));
  EXPECT_EQ(req.upstream_query(), "q1=20&uri_param1=foo&uri_param2%5Bsome_index%5D%5B1%5D=bar");
}

TEST_F(RequestTransformer, TemplateInUri) {
  auto req = run(
      R"~({"replace":{"uri":"/requests/user2/$(uri_captures.user2)/user1/$(uri_captures.user1)"
  }
  })~",
      user_request());
  EXPECT_EQ(req.upstream_path(), "/requests/user2/bar/user1/foo");
  FakeRequest r = get("/user1/foo/user2/bar");
  r.captures = {{"0", "/user1/foo/user2/bar"}};
  req = run(R"~({"replace":{"uri":"/requests$(uri_captures[0])"
  }
  })~",
            r);
  EXPECT_EQ(req.upstream_path(), "/requests/user1/foo/user2/bar");
}

TEST_F(RequestTransformer, TemplateDefaultsWithOr) {
  auto req = run(R"~({"add":{"querystring":["uri_param1:$(uri_captures.user1 or 'default1')",
                                           "uri_param2:$(uri_captures.user2 or 'default2')"]
  }
  })~",
                 get("/requests/", "q1=20"));
  EXPECT_EQ(req.upstream_query(), "q1=20&uri_param1=default1&uri_param2=default2");
}

TEST_F(RequestTransformer, TemplateReadsHeadersAndQuery) {
  FakeRequest r = user_request("/requests/user1/foo/user2/bar", "q1=20",
                               {{"Content-Type", "application/x-www-form-urlencoded"}});
  r.host = "test15.test";
  auto req = run(R"~({"add":{"querystring":["uri_param1:$(uri_captures.user1)",
                                           "uri_param2:$(headers.host)"],
                            "headers":["x-test-header:$(query_params.q1)"]
  }
  , "remove" : { "querystring" : ["q1"] }
  })~",
                 r);
  EXPECT_EQ(req.upstream_query(), "uri_param1=foo&uri_param2=test15.test");
  EXPECT_EQ(req.upstream_header("x-test-header"), "20");
}

TEST_F(RequestTransformer, TemplateSeesARemovedHeader) {
  auto req = run(
      R"~({"replace":{"querystring":["q2:$(headers['x-remove-header'])"]},
                     "add":{"querystring":["q1:$(uri_captures.user1)"],
                            "headers":["x-test-header:$(headers['x-remove-header'])"]},
                     "remove":{
  "headers" : ["x-remove-header"]
}
})~",
      user_request("/requests/user1/foo/user2/bar", "q2=20", {{"x-remove-header", "its a test"}}));
  EXPECT_FALSE(req.upstream_header("x-remove-header"));
  EXPECT_EQ(req.upstream_query(), "q1=foo&q2=its%20a%20test");
  EXPECT_EQ(req.upstream_header("x-test-header"), "its a test");
}

TEST_F(RequestTransformer, TemplateRendersTheOldValueOfAReplacedHeader) {
  auto req = run(R"~({"replace":{"querystring":["q2:$(headers['x-replace-header'])"],
                                "headers":["x-replace-header:the new value"]},
                     "add":{
  "querystring" : ["q1:$(uri_captures.user1)"],
                  "headers" : ["x-test-header:$(headers['x-replace-header'])"]
}
})~",
                 user_request("/requests/user1/foo/user2/bar", "q2=20",
                              {{"x-replace-header", "the old value"}}));
  EXPECT_EQ(req.upstream_query(), "q1=foo&q2=the%20old%20value");
  EXPECT_EQ(req.upstream_header("x-test-header"), "the old value");
  EXPECT_EQ(req.upstream_header("x-replace-header"), "the new value");
}

TEST_F(RequestTransformer, TemplateHeadersLoadLazilyAsInKong) {
  // No header template ran before the header changes: the query template sees them applied.
  auto req = run(R"~({"remove":{"headers":["x-h"]},"add":{"querystring":["q:$(headers['x-h'])"],
                                                        "headers":["x-new:1"]
}
})~",
                 get("/", "", {{"x-h", "old"}}));
  EXPECT_EQ(req.upstream_query(), "q=");
}

TEST_F(RequestTransformer, TemplateCanBeEscaped) {
  auto req = run(R"~({"add":{"querystring":["q1:$('$(uri_captures.user1)')"]
}
})~",
                 user_request("/requests/user1/foo/user2/bar", "q2=20"));
  EXPECT_EQ(req.upstream_query(), "q1=%24%28uri_captures.user1%29&q2=20");
}

TEST_F(RequestTransformer, TemplateReadsKongCtxShared) {
  sb::testing::Plugin pre = host.load(kSetSharedDef);
  sb::testing::Request req = host.request(
      get("/"), {pre.compile("{}"),
                 plugin.compile(R"~({"add":{"querystring":["shared_param1:$(shared.my_version)"]}
})~")});
  EXPECT_EQ(req.access(), SB_CONTINUE);
  EXPECT_EQ(req.upstream_query(), "shared_param1=1.2.3");
}

TEST_F(RequestTransformer, QueryParamsTemplateSeesTheQueryBeforeTheMethodMerge) {
  // $(query_params...) in replace.uri loads Kong's query table before http_method merges the
  // form into the query; the querystring changes start from that table, so the merge is lost.
  auto req = run(R"~({"http_method":"GET","replace":{"uri":"/$(query_params.a)"},
                     "add":{
  "querystring" : ["b:$(query_params.f)"]
}
})~",
                 post(kForm, "f=1", "a=x"));
  EXPECT_EQ(req.upstream_path(), "/x");
  EXPECT_EQ(req.upstream_query(), "a=x&b=");
  // Without the early load, the query templates see the merged form.
  req = run(R"~({"http_method":"GET","add":{"querystring":["b:$(query_params.f)"]
  }
  })~",
            post(kForm, "f=1", "a=x"));
  EXPECT_EQ(req.upstream_query(), "a=x&b=1&f=1");
}

TEST_F(RequestTransformer, QueryFlagsAsKong) {
  auto req = run(R"~({"add":{"headers":["x-flag:$(query_params.flag)"]},
                     "append":{
  "querystring" : [ "flag:v", "other:w" ]
}
})~",
                 get("/", "flag&other&e="));
  EXPECT_EQ(req.upstream_header("x-flag"), "true");
  EXPECT_EQ(req.upstream_query(), "e=&flag=v&other=w") << "append replaces a lone flag";
}

TEST_F(RequestTransformer, NoTransformLeavesTheRequestAlone) {
  auto req = run("{}", get("/request", "expected=$&+,/:;?@"));
  EXPECT_EQ(req.upstream_query(), "expected=$&+,/:;?@");
  EXPECT_EQ(req.upstream_path(), "/request");
}

}  // namespace
