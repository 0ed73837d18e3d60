// request-termination on the SDK's fake host. The cases are Kong 3.9's
// spec/03-plugins/14-request-termination/{01-schema,02-access}_spec.lua (same configs, requests
// and expected statuses/bodies), plus the exact bytes Silverback sends.
#include <gtest/gtest.h>
#include <unistd.h>
#include <silverback/testing.hpp>

#include <string>

#include "request_termination.h"

namespace {

using sb::testing::FakeRequest;
using sb::testing::Json;
using RTM = sbp::RequestTermination;

constexpr sb_plugin_def kDef = sb::plugin_def<RTM>(RTM::kName, RTM::kVersion, RTM::kPriority,
                                                   sbp::kRequestTerminationSchema, nullptr);

constexpr const char* kJsonType = "application/json; charset=utf-8";

class RequestTermination : public ::testing::Test {
 protected:
  sb::testing::Request terminate(std::string_view config, FakeRequest r = status_request()) {
    sb::testing::Request req = host.request(std::move(r), {plugin.compile(config)});
    EXPECT_EQ(req.run(), SB_EXITED);
    EXPECT_FALSE(req.proxied());
    return req;
  }
  static FakeRequest status_request() {
    FakeRequest r;
    r.path = "/status/200";
    return r;
  }
  std::optional<std::string> error(std::string_view config) { return plugin.compile_error(config); }

  sb::testing::Host host;
  sb::testing::Plugin plugin = host.load(kDef);
};

// ---- Schema (01-schema_spec.lua)
// ------------------------------------------------------------------

TEST_F(RequestTermination, SchemaAcceptsValidConfigs) {
  EXPECT_EQ(error(R"({"status_code":404})"), std::nullopt);
  EXPECT_EQ(error(R"({"message":"Not found"})"), std::nullopt);
  EXPECT_EQ(error(R"({"content_type":"text/html","body":"<body><h1>Not found</h1>"})"),
            std::nullopt);
  EXPECT_EQ(error(R"({"body":"<body><h1>Not found</h1>"})"), std::nullopt);
  EXPECT_EQ(error(R"({"echo":true,"trigger":"header_name"})"), std::nullopt);
}

TEST_F(RequestTermination, SchemaErrors) {
  auto expect = [&](const char* cfg, const char* msg) {
    auto err = error(cfg);
    ASSERT_TRUE(err) << cfg;
    EXPECT_NE(err->find(msg), std::string::npos) << cfg << " -> " << *err;
  };
  expect(R"({"status_code":"abcd"})", "expected an integer");
  expect(R"({"status_code":99})", "value should be between 100 and 599");
  expect(R"({"status_code":600})", "value should be between 100 and 599");
  expect(R"({"message":"error","body":"test"})",
         "message cannot be used with content_type or body");
  expect(R"({"message":"error","content_type":"text/html","body":"test"})",
         "message cannot be used with content_type or body");
  expect(R"({"message":"error","content_type":"text/html"})",
         "message cannot be used with content_type or body");
  expect(R"({"content_type":"text/html"})", "content_type requires a body");
  expect(R"({"echo":true,"content_type":"text/html","body":"<body><h1>Not found</h1>"})",
         "echo cannot be used with content_type and body");
  expect(R"({"trigger":"bad header"})",
         "bad header name 'bad header', allowed characters are A-Z, a-z, 0-9, '_', and '-'");
}

TEST_F(RequestTermination, ReadsTheBodyOnlyToEcho) {
  EXPECT_EQ(plugin.compile("{}").flags(), 0u);
  EXPECT_EQ(plugin.compile(R"({"echo":true})").flags(), SB_CFG_READS_REQUEST_BODY);
}

TEST_F(RequestTermination, LoadsAsABuiltLibrary) {
  sb::testing::Host h2;
  sb::testing::Plugin p = h2.load_library(std::string(SB_PLUGIN_DIR) + "/request-termination.so");
  EXPECT_EQ(p.name(), "request-termination");
  EXPECT_EQ(p.def().priority, 2);
  EXPECT_TRUE(p.hooks().on_access);
}

// ---- Status code and message (02-access_spec.lua)
// -------------------------------------------------

TEST_F(RequestTermination, DefaultStatusAndMessage) {
  auto req = terminate("{}");
  EXPECT_EQ(req.status(), 503);
  EXPECT_EQ(req.body(), R"({"message":"Service unavailable"})");
  EXPECT_EQ(req.response_header("content-type"), kJsonType);
  EXPECT_EQ(req.source(), "exit");
}

TEST_F(RequestTermination, DefaultStatusWithAServicelessRoute) {
  FakeRequest r = status_request();
  r.service_id.clear();
  r.service_name.clear();
  auto req = terminate("{}", r);
  EXPECT_EQ(req.body(), R"({"message":"Service unavailable"})");
}

TEST_F(RequestTermination, StatusWithDefaultMessage) {
  auto req = terminate(R"({"status_code":404})");
  EXPECT_EQ(req.status(), 404);
  EXPECT_EQ(req.body(), R"({"message":"Not found"})");
}

TEST_F(RequestTermination, KongsDefaultMessageTable) {
  const std::pair<int, const char*> table[] = {
      {401, R"({"message":"Unauthorized"})"},
      {404, R"({"message":"Not found"})"},
      {405, R"({"message":"Method not allowed"})"},
      {500, R"({"message":"An unexpected error occurred"})"},
      {502, R"({"message":"Bad Gateway"})"},
      {503, R"({"message":"Service unavailable"})"},
      {400, ""},
      {418, ""},
      {200, ""}};
  for (const auto& [status, body] : table) {
    auto req = terminate(R"({"status_code":)" + std::to_string(status) + "}");
    EXPECT_EQ(req.status(), status);
    EXPECT_EQ(req.body(), body) << status;
    EXPECT_EQ(req.response_header("content-type").has_value(), *body != '\0') << status;
  }
}

TEST_F(RequestTermination, StatusWithCustomMessage) {
  auto req = terminate(R"({"status_code":406,"message":"Invalid"})");
  EXPECT_EQ(req.status(), 406);
  EXPECT_EQ(req.body(), R"({"message":"Invalid"})");
  req = terminate(R"({"status_code":403,"message":"a/b \"q\" \u00e9"})");
  EXPECT_EQ(req.body(), "{\"message\":\"a\\/b \\\"q\\\" \xc3\xa9\"}") << "lua-cjson escaping";
}

TEST_F(RequestTermination, NoContentWithoutBody) {
  auto req = terminate(R"({"status_code":204})");
  EXPECT_EQ(req.status(), 204);
  EXPECT_EQ(req.body(), "");
  EXPECT_FALSE(req.response_header("content-type"));
}

// ---- Status code and body
// -------------------------------------------------------------------------

TEST_F(RequestTermination, DefaultStatusAndBody) {
  auto req =
      terminate(R"({"body":"<html><body><h1>Service is down for maintenance</h1></body></html>"})");
  EXPECT_EQ(req.status(), 503);
  EXPECT_EQ(req.body(), "<html><body><h1>Service is down for maintenance</h1></body></html>");
  EXPECT_FALSE(req.response_header("content-type")) << "Kong sets none for a string body";
}

TEST_F(RequestTermination, StatusBodyAndContentType) {
  auto req = terminate(
      R"({"status_code":451,"content_type":"text/html",
          "body":"<html><body><h1>Service is down due to content infringement</h1></body></html>"})");
  EXPECT_EQ(req.status(), 451);
  EXPECT_EQ(req.body(),
            "<html><body><h1>Service is down due to content infringement</h1></body></html>");
  EXPECT_EQ(req.response_header("content-type"), "text/html");
}

TEST_F(RequestTermination, JsonBodyIsSentAsIs) {
  auto req = terminate(
      R"({"status_code":503,"body":"{\"code\": 1, \"message\": \"Service unavailable\"}"})");
  EXPECT_EQ(req.body(), R"({"code": 1, "message": "Service unavailable"})");
}

// ---- Echo and trigger
// -----------------------------------------------------------------------------

FakeRequest echo_request() {
  FakeRequest r;
  r.host = "api9.request-termination.test";
  r.path = "/status/200";
  r.query = "hello=there";
  r.headers = {{"Host", "api9.request-termination.test"}, {"Content-Length", "9"}};
  r.body = "cool body";
  r.captures = {{"0", "/status/200"}, {"1", "status"}, {"parameter", "status"}};
  return r;
}

TEST_F(RequestTermination, EchoesTheRequest) {
  auto req = terminate(R"({"echo":true,"status_code":404})", echo_request());
  EXPECT_EQ(req.status(), 404);
  EXPECT_EQ(req.response_header("content-type"), kJsonType);
  Json j = Json::parse(req.body());
  EXPECT_EQ(j["message"].as_string(), "Not found");
  EXPECT_EQ(j["kong"]["node_id"].as_string(), "11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(j["kong"]["hostname"].as_string(), "fake-node");
  EXPECT_EQ(j["kong"]["worker_pid"].as_int(), static_cast<int64_t>(getpid()));
  const Json& rq = j["request"];
  EXPECT_EQ(rq["headers"]["content-length"].as_string(), "9");
  EXPECT_EQ(rq["headers"]["host"].as_string(), "api9.request-termination.test");
  EXPECT_EQ(rq["host"].as_string(), "api9.request-termination.test");
  EXPECT_EQ(rq["method"].as_string(), "GET");
  EXPECT_EQ(rq["path"].as_string(), "/status/200");
  EXPECT_EQ(rq["port"].as_int(), 8000);
  EXPECT_EQ(rq["query"]["hello"].as_string(), "there");
  EXPECT_EQ(rq["raw_body"].as_string(), "cool body");
  EXPECT_FALSE(rq.contains("body")) << "no Content-Type: kong.request.get_body() is nil";
  EXPECT_EQ(rq["scheme"].as_string(), "http");
  EXPECT_EQ(rq["uri_captures"]["unnamed"].dump(), R"(["status"])");
  EXPECT_EQ(j["matched_route"]["id"].as_string(), "route-1");
  EXPECT_EQ(j["matched_service"]["name"].as_string(), "service");
}

TEST_F(RequestTermination, EchoBytes) {
  auto req = terminate(R"({"echo":true,"status_code":404})", echo_request());
  EXPECT_EQ(req.body(),
            R"({"message":"Not found","kong":{"node_id":"11111111-2222-3333-4444-555555555555",)"
            R"("worker_pid":)" +
                std::to_string(getpid()) +
                R"(,"hostname":"fake-node"},"request":{"scheme":"http",)"
                R"("host":"api9.request-termination.test","port":8000,)"
                R"("headers":{"host":"api9.request-termination.test","content-length":"9"},)"
                R"("query":{"hello":"there"},"raw_body":"cool body","method":"GET",)"
                R"("path":"\/status\/200","uri_captures":{"unnamed":["status"],"named":{}}},)"
                R"("matched_route":{"id":"route-1","name":"route"},)"
                R"("matched_service":{"id":"service-1","name":"service"}})");
}

TEST_F(RequestTermination, EchoParsesTheBodyByContentType) {
  FakeRequest r = echo_request();
  r.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
  r.body = R"({"a": [1, {"b": null}], "c": "d\/e"})";
  Json j = Json::parse(terminate(R"({"echo":true})", r).body());
  EXPECT_EQ(j["request"]["body"].dump(), R"({"a":[1,{"b":null}],"c":"d/e"})");
  EXPECT_EQ(j["request"]["raw_body"].as_string(), r.body);

  r.headers.back().second = "application/x-www-form-urlencoded";
  r.body = "a=1&a=2&flag&b=x+y";
  j = Json::parse(terminate(R"({"echo":true})", r).body());
  EXPECT_EQ(j["request"]["body"].dump(), R"({"a":["1","2"],"flag":true,"b":"x y"})");

  r.headers.back().second = "multipart/form-data; boundary=XX";
  r.body =
      "--XX\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv1\r\n"
      "--XX\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv2\r\n"
      "--XX\r\nContent-Disposition: form-data; name=\"g\"\r\n\r\nw\r\n--XX--\r\n";
  j = Json::parse(terminate(R"({"echo":true})", r).body());
  EXPECT_EQ(j["request"]["body"].dump(), R"({"f":["v1","v2"],"g":"w"})");

  r.headers.back().second = "application/json";
  r.body = "\"a string\"";
  j = Json::parse(terminate(R"({"echo":true})", r).body());
  EXPECT_FALSE(j["request"].contains("body")) << "Kong: invalid json body";
}

TEST_F(RequestTermination, EchoRepeatedHeadersAndQueryFlags) {
  FakeRequest r = echo_request();
  r.headers.emplace_back("X-Multi", "1");
  r.headers.emplace_back("x-multi", "2");
  r.query = "f&q=1&q=2";
  Json j = Json::parse(terminate(R"({"echo":true,"message":"m"})", r).body());
  EXPECT_EQ(j["message"].as_string(), "m");
  EXPECT_EQ(j["request"]["headers"]["x-multi"].dump(), R"(["1","2"])");
  EXPECT_EQ(j["request"]["query"].dump(), R"({"f":true,"q":["1","2"]})");
}

TEST_F(RequestTermination, TriggerNotPresentLetsTheRequestThrough) {
  FakeRequest r = status_request();
  r.upstream.body = "from upstream";
  sb::testing::Request req = host.request(
      r, {plugin.compile(R"({"echo":true,"trigger":"gimme-an-echo","status_code":404})")});
  EXPECT_EQ(req.run(), SB_CONTINUE);
  EXPECT_TRUE(req.proxied());
  EXPECT_EQ(req.status(), 200);
  EXPECT_EQ(req.body(), "from upstream");
}

TEST_F(RequestTermination, TriggerAsHeader) {
  FakeRequest r = echo_request();
  r.host = "api10.request-termination.test";
  r.headers.emplace_back("Gimme-An-Echo", "anything will do");
  r.captures.clear();
  auto req = terminate(R"({"echo":true,"trigger":"gimme-an-echo","status_code":404})", r);
  EXPECT_EQ(req.status(), 404);
  Json j = Json::parse(req.body());
  EXPECT_EQ(j["request"]["headers"]["gimme-an-echo"].as_string(), "anything will do");
  EXPECT_EQ(j["request"]["uri_captures"].dump(), R"({"unnamed":[],"named":{}})");
}

TEST_F(RequestTermination, TriggerAsQueryArgument) {
  FakeRequest r = echo_request();
  r.query = "hello=there&gimme-an-echo=anything%20will%20do";
  auto req = terminate(R"({"echo":true,"trigger":"gimme-an-echo","status_code":404})", r);
  Json j = Json::parse(req.body());
  EXPECT_EQ(j["request"]["query"].dump(),
            R"({"hello":"there","gimme-an-echo":"anything will do"})");
}

TEST_F(RequestTermination, TriggerWithoutEcho) {
  FakeRequest r = status_request();
  r.query = "maintenance";
  auto req = terminate(R"({"trigger":"maintenance"})", r);
  EXPECT_EQ(req.body(), R"({"message":"Service unavailable"})");
  r.query = "other";
  sb::testing::Request through = host.request(r, {plugin.compile(R"({"trigger":"maintenance"})")});
  EXPECT_EQ(through.run(), SB_CONTINUE);
}

}  // namespace
