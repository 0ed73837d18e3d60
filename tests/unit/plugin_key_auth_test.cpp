// key-auth (plugins/key-auth): where keys are found in queries and bodies, and how
// hide_credentials rewrites them (Kong 3.9's handler.lua and its spec 09-key-auth/02-access).
#include <gtest/gtest.h>
#include <silverback/testing.hpp>

#include <string>

#include "key_auth.h"
#include "sources.h"

namespace {

using sbp::key_auth::body_kind;
using sbp::key_auth::BodyKind;
using sbp::key_auth::form_is_flag;
using sbp::key_auth::form_lookup;
using sbp::key_auth::form_remove;
using sbp::key_auth::Found;
using sbp::key_auth::json_lookup;
using sbp::key_auth::json_remove;
using sbp::key_auth::Lookup;
using sbp::key_auth::multipart_boundary;
using sbp::key_auth::multipart_lookup;
using sbp::key_auth::multipart_remove;
using sbp::key_auth::percent_decode;
using sbp::key_auth::query_remove_whatwg;

TEST(KeyAuthSources, PercentDecode) {
  std::string out;
  percent_decode("a%20b+c%2Bd%zz%4", true, &out);
  EXPECT_EQ(out, "a b c+d%zz%4");
  percent_decode("a+b", false, &out);
  EXPECT_EQ(out, "a+b");
}

TEST(KeyAuthSources, FormLookup) {
  std::string s;
  Lookup l = form_lookup("a=1&apikey=kong&b=2", "apikey", &s);
  EXPECT_EQ(l.found, Found::kString);
  EXPECT_EQ(l.value, "kong");
  // Encoded names and values are decoded ('+' is a space).
  l = form_lookup("api%6B%65%79=k%20o+ng", "apikey", &s);
  EXPECT_EQ(l.found, Found::kString);
  EXPECT_EQ(l.value, "k o ng");
  // "apikey=kong&apikey=kong": a Lua table -> Duplicate API key found.
  EXPECT_EQ(form_lookup("apikey=kong&apikey=kong", "apikey", &s).found, Found::kMulti);
  // apikey[] and apikey[1] are other names.
  EXPECT_EQ(form_lookup("apikey[]=kong&apikey[]=kong", "apikey", &s).found, Found::kAbsent);
  EXPECT_EQ(form_lookup("apikey[1]=kong", "apikey", &s).found, Found::kAbsent);
  // A flag is Lua `true` (not a key), "apikey=" is "".
  EXPECT_EQ(form_lookup("apikey", "apikey", &s).found, Found::kOther);
  l = form_lookup("apikey=", "apikey", &s);
  EXPECT_EQ(l.found, Found::kString);
  EXPECT_EQ(l.value, "");
  EXPECT_TRUE(form_is_flag("x=1&apikey", "apikey"));
  EXPECT_FALSE(form_is_flag("x=1&apikey=", "apikey"));
  EXPECT_EQ(form_lookup("", "apikey", &s).found, Found::kAbsent);
  EXPECT_EQ(form_lookup("&&apikey=x&&", "apikey", &s).value, "x");
  // nginx reads at most 100 arguments.
  std::string many;
  for (int i = 0; i < 100; ++i) {
    many += 'a';
    many += std::to_string(i);
    many += "=1&";
  }
  EXPECT_EQ(form_lookup(many + "apikey=x", "apikey", &s).found, Found::kAbsent);
}

TEST(KeyAuthSources, FormRemoveKeepsOthers) {
  std::string out;
  EXPECT_TRUE(form_remove("c=1&apikey=kong&b=%20&apikey=x&a", "apikey", &out));
  EXPECT_EQ(out, "c=1&b=%20&a");
  EXPECT_FALSE(form_remove("c=1", "apikey", &out));
}

TEST(KeyAuthSources, QueryRemoveIsWhatwgSerialized) {
  std::string out;
  // Kong's spec: order kept, the key gone, other arguments decoded and re-encoded.
  query_remove_whatwg("c=value1&b=value2&apikey=kong&a=value3", "apikey", &out);
  EXPECT_EQ(out, "c=value1&b=value2&a=value3");
  query_remove_whatwg("c=valu%651&b=value2&api%6B%65%79=kong&a=valu%653", "apikey", &out);
  EXPECT_EQ(out, "c=value1&b=value2&a=value3");
  query_remove_whatwg("flag&x=a%20b&y=%2F~!", "apikey", &out);
  EXPECT_EQ(out, "flag=&x=a+b&y=%2F%7E%21");
  query_remove_whatwg("apikey=1", "apikey", &out);
  EXPECT_EQ(out, "");
}

TEST(KeyAuthSources, JsonLookup) {
  std::string s;
  Lookup l = json_lookup(R"({"a": 1, "apikey": "k\u00e9y\n"})", "apikey", &s);
  EXPECT_EQ(l.found, Found::kString);
  EXPECT_EQ(l.value, "k\xC3\xA9y\n");
  // cjson: the last duplicate member wins.
  EXPECT_EQ(json_lookup(R"({"apikey":"a","apikey":"b"})", "apikey", &s).value, "b");
  EXPECT_EQ(json_lookup(R"({"apikey":["kong","kong"]})", "apikey", &s).found, Found::kMulti);
  EXPECT_EQ(json_lookup(R"({"apikey":{"a":1}})", "apikey", &s).found, Found::kMulti);
  EXPECT_EQ(json_lookup(R"({"apikey":12})", "apikey", &s).found, Found::kOther);
  EXPECT_EQ(json_lookup(R"({"apikey":null})", "apikey", &s).found, Found::kOther);
  EXPECT_EQ(json_lookup(R"({"apikey":true})", "apikey", &s).found, Found::kOther);
  EXPECT_EQ(json_lookup(R"({"apikey":false})", "apikey", &s).found, Found::kFalse);
  EXPECT_EQ(json_lookup(R"({"other":"x"})", "apikey", &s).found, Found::kAbsent);
  // Not an object, or not valid JSON anywhere: Kong's get_body fails, nothing is found.
  EXPECT_EQ(json_lookup(R"(["apikey"])", "apikey", &s).found, Found::kAbsent);
  EXPECT_EQ(json_lookup(R"({"apikey":"kong",})", "apikey", &s).found, Found::kAbsent);
  EXPECT_EQ(json_lookup(R"({"apikey":"kong"} x)", "apikey", &s).found, Found::kAbsent);
  EXPECT_EQ(json_lookup(R"({"apikey":"kong","n":01})", "apikey", &s).found, Found::kAbsent);
  EXPECT_EQ(json_lookup("", "apikey", &s).found, Found::kAbsent);
  // Escaped member names are compared decoded.
  EXPECT_EQ(json_lookup(R"({"api\u006bey":"x"})", "apikey", &s).value, "x");
  std::string deep(2000, '[');
  EXPECT_EQ(json_lookup("{\"a\":" + deep + "}", "apikey", &s).found, Found::kAbsent);
}

TEST(KeyAuthSources, JsonRemove) {
  std::string out;
  EXPECT_TRUE(
      json_remove(R"( {"apikey": "kong", "foo": "bar", "n": [1, {"apikey":1}]} )", "apikey", &out));
  EXPECT_EQ(out, R"( {"foo": "bar","n": [1, {"apikey":1}]} )");
  EXPECT_TRUE(json_remove(R"({"apikey":"a"})", "apikey", &out));
  EXPECT_EQ(out, "{}");
  EXPECT_FALSE(json_remove(R"({"foo":"bar"})", "apikey", &out));
  EXPECT_FALSE(json_remove(R"({"apikey":"a",)", "apikey", &out));
}

TEST(KeyAuthSources, Multipart) {
  std::string ct = "multipart/form-data; boundary=\"XyZ\"";
  EXPECT_EQ(multipart_boundary(ct), "XyZ");
  EXPECT_EQ(multipart_boundary("multipart/form-data;boundary=abc; charset=x"), "abc");
  std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"foo\"\r\n\r\nbar\r\n"
      "--XyZ\r\ncontent-disposition: form-data; name=\"apikey\"\r\nX-Other: 1\r\n\r\nkong\r\n"
      "--XyZ--\r\n";
  std::string s;
  Lookup l = multipart_lookup(body, "XyZ", "apikey", &s);
  EXPECT_EQ(l.found, Found::kString);
  EXPECT_EQ(l.value, "kong");
  EXPECT_EQ(multipart_lookup(body, "XyZ", "nope", &s).found, Found::kAbsent);
  std::string out;
  EXPECT_TRUE(multipart_remove(body, "XyZ", "apikey", &out));
  EXPECT_EQ(out, "--XyZ\r\nContent-Disposition: form-data; name=\"foo\"\r\n\r\nbar\r\n--XyZ--\r\n");
  EXPECT_EQ(multipart_lookup(out, "XyZ", "foo", &s).value, "bar");
  std::string twice =
      "--b\r\nContent-Disposition: form-data; name=apikey\r\n\r\n1\r\n"
      "--b\r\nContent-Disposition: form-data; name=apikey\r\n\r\n2\r\n--b--";
  EXPECT_EQ(multipart_lookup(twice, "b", "apikey", &s).found, Found::kMulti);
  EXPECT_EQ(multipart_lookup("garbage", "b", "apikey", &s).found, Found::kAbsent);
}

TEST(KeyAuthSources, BodyKindFromContentType) {
  EXPECT_EQ(body_kind("application/x-www-form-urlencoded"), BodyKind::kForm);
  EXPECT_EQ(body_kind("Application/JSON; charset=utf-8"), BodyKind::kJson);
  EXPECT_EQ(body_kind("application/jsonx"), BodyKind::kJson);  // Kong's prefix match
  EXPECT_EQ(body_kind("multipart/form-data; boundary=x"), BodyKind::kMultipart);
  EXPECT_EQ(body_kind("text/plain"), BodyKind::kNone);
  EXPECT_EQ(body_kind(""), BodyKind::kNone);
}

TEST(KeyAuthSources, HeaderNamesAndUuids) {
  EXPECT_FALSE(sbp::key_auth::header_name_error("api_key-2"));
  EXPECT_EQ(*sbp::key_auth::header_name_error("a b"),
            "bad header name 'a b', allowed characters are A-Z, a-z, 0-9, '_', and '-'");
  EXPECT_EQ(*sbp::key_auth::header_name_error(""), "no header name provided");
  EXPECT_TRUE(sbp::key_auth::is_uuid("0AE2BA52-1c43-4b6e-9d64-000000000000"));
  EXPECT_FALSE(sbp::key_auth::is_uuid("no-body"));
  EXPECT_FALSE(sbp::key_auth::is_uuid("0ae2ba52x1c43-4b6e-9d64-000000000000"));
}

// ---- the plugin on the fake host -------------------------------------------------------------

using sb::testing::FakeRequest;
using sb::testing::Headers;
using sbp::key_auth::KeyAuth;

constexpr sb_plugin_def kKeyAuth =
    sb::plugin_def<KeyAuth>("key-auth", sbp::key_auth::kVersion, sbp::key_auth::kPriority,
                            sbp::key_auth::kConfigSchema, sbp::key_auth::kEntitiesSchema);

// Another auth plugin running before key-auth (e.g. jwt, 1450): authenticates whatever its
// config says.
struct OtherAuth {
  struct Config {
    std::string consumer, credential;
  };
  static Config compile(const sb::Value& v) {
    return {v["consumer"].string(), v["credential"].string()};
  }
  static sb::Result access(sb::Ctx& ctx, const Config& c) {
    sb::Status ok = ctx.client().authenticate(
        c.consumer, c.credential.empty() ? "" : "keyauth_credentials", c.credential);
    return ok ? sb::Result::Continue : sb::Result::Error;
  }
};
constexpr const char kOtherAuthSchema[] = R"({"name": "other-auth", "fields": [{"config":
  {"type": "record", "fields": [{"consumer": {"type": "string", "default": ""}},
                                {"credential": {"type": "string", "default": ""}}]}}]})";
constexpr sb_plugin_def kOtherAuth =
    sb::plugin_def<OtherAuth>("other-auth", "1.0.0", 1450, kOtherAuthSchema);

constexpr const char* kBob = "5a2e2b4c-0b47-4ac4-9a53-5d06f2a7e111";
constexpr const char* kBobCred = "b0b0b0b0-1111-4222-8333-444455556666";
constexpr const char* kNobody = "c0ffee00-0000-4000-8000-000000000001";
constexpr const char* kAlice = "a11ce000-0000-4000-8000-000000000002";
constexpr const char* kAliceCred = "a11ce000-cccc-4000-8000-000000000003";

const KeyAuth::Config& compiled(const sb::testing::Config& c) {
  return static_cast<const sb::detail::ConfigBox<KeyAuth>*>(c.raw())->config;
}

class KeyAuthPlugin : public ::testing::Test {
 protected:
  void SetUp() override {
    plugin_ = host_.load(kKeyAuth);
    host_.add_entities(std::string(R"({
      "consumers": [
        {"id": ")") + kBob +
                       R"(", "username": "bob", "custom_id": "bob-custom"},
        {"id": ")" + kNobody +
                       R"(", "username": "no-body"},
        {"id": ")" + kAlice +
                       R"(", "username": "alice"}],
      "keyauth_credentials": [
        {"id": ")" + kBobCred +
                       R"(", "key": "kong", "consumer": {"id": ")" + kBob + R"("}},
        {"id": ")" + kAliceCred +
                       R"(", "key": "alice-key", "consumer": {"id": ")" + kAlice +
                       R"("}, "ttl": null},
        {"id": "cred-expired", "key": "expired", "ttl": 1699999999, "consumer": {"id": ")" +
                       kAlice + R"("}},
        {"id": "cred-soon", "key": "soon", "ttl": 1700000005, "consumer": {"id": ")" +
                       kAlice +
                       R"("}},
        {"id": "cred-orphan", "key": "orphan", "consumer": {"id": "gone"}}]
    })");
  }

  // Runs access with key-auth configured by `conf` (plus `before`, higher-priority plugins).
  sb::testing::Request access(FakeRequest r, std::string_view conf = "{}",
                              std::vector<sb::testing::Config> before = {}) {
    auto req = host_.request(std::move(r));
    for (auto& c : before) req.add(c);
    req.add(plugin_.compile(conf));
    last_result_ = req.access();
    return req;
  }

  static FakeRequest get(Headers headers = {}, std::string query = "") {
    FakeRequest r;
    r.path = "/request";
    r.headers = std::move(headers);
    r.query = std::move(query);
    return r;
  }
  static FakeRequest post(std::string content_type, std::string body, std::string query = "") {
    FakeRequest r;
    r.method = "POST";
    r.path = "/request";
    r.headers = {{"Content-Type", std::move(content_type)}};
    r.body = std::move(body);
    r.query = std::move(query);
    return r;
  }

  // A 401 (or other) answer from key-auth, checked as Kong's template + WWW-Authenticate.
  void expect_rejected(const sb::testing::Request& req, const std::string& message,
                       const std::string& www = "Key", int status = 401) {
    EXPECT_EQ(last_result_, SB_EXITED);
    ASSERT_TRUE(req.exit().has_value());
    EXPECT_EQ(req.exit()->status, status);
    EXPECT_EQ(req.exit()->body,
              "{\n  \"message\":\"" + message +
                  "\",\n  \"request_id\":\"00000000000000000000000000000001\"\n}");
    EXPECT_EQ(req.response_header("Content-Type"), "application/json; charset=utf-8");
    if (www.empty()) {
      EXPECT_FALSE(req.response_header("WWW-Authenticate"));
    } else {
      EXPECT_EQ(req.response_header_values("WWW-Authenticate"), std::vector<std::string>{www});
    }
    EXPECT_FALSE(req.proxied());
  }

  void expect_bob(const sb::testing::Request& req) {
    EXPECT_EQ(last_result_, SB_CONTINUE);
    EXPECT_EQ(req.consumer_id(), kBob);
    EXPECT_EQ(req.credential_id(), kBobCred);
    EXPECT_EQ(req.upstream_header("X-Consumer-ID"), kBob);
    EXPECT_EQ(req.upstream_header("X-Consumer-Custom-ID"), "bob-custom");
    EXPECT_EQ(req.upstream_header("X-Consumer-Username"), "bob");
    EXPECT_EQ(req.upstream_header("X-Credential-Identifier"), kBobCred);
    EXPECT_FALSE(req.upstream_header("X-Anonymous-Consumer"));
  }

  sb::testing::Host host_;
  sb::testing::Plugin plugin_;
  sb_result last_result_ = SB_CONTINUE;
};

TEST_F(KeyAuthPlugin, SchemaDefaults) {
  auto cfg = plugin_.compile("{}");
  const KeyAuth::Config& c = compiled(cfg);
  EXPECT_EQ(c.key_names, std::vector<std::string>{"apikey"});
  EXPECT_FALSE(c.hide_credentials);
  EXPECT_FALSE(c.anonymous);
  EXPECT_TRUE(c.key_in_header);
  EXPECT_TRUE(c.key_in_query);
  EXPECT_FALSE(c.key_in_body);
  EXPECT_TRUE(c.run_on_preflight);
  EXPECT_FALSE(c.realm);
  EXPECT_EQ(c.www_authenticate, "Key");
  EXPECT_EQ(KeyAuth::flags(c), 0u);
  auto body = plugin_.compile(R"({"key_in_body": true, "realm": "r"})");
  EXPECT_EQ(KeyAuth::flags(compiled(body)), static_cast<uint32_t>(SB_CFG_READS_REQUEST_BODY));
  EXPECT_EQ(compiled(body).www_authenticate, "Key realm=\"r\"");
}

TEST_F(KeyAuthPlugin, SchemaErrors) {
  EXPECT_EQ(plugin_.compile_error(R"({"key_names": ["ok", "bad name"]})"),
            "config.key_names.2: bad header name 'bad name', allowed characters are A-Z, a-z, "
            "0-9, '_', and '-'");
  EXPECT_EQ(plugin_.compile_error(R"({"anonymous": ""})"),
            "config.anonymous: length must be at least 1");
  EXPECT_TRUE(plugin_.compile_error(R"({"key_names": "apikey"})"));
  EXPECT_TRUE(plugin_.compile_error(R"({"hide_credentials": "yes"})"));
}

TEST_F(KeyAuthPlugin, NoKey) {
  expect_rejected(access(get()), "No API key found in request");
  expect_rejected(access(get({{"apikey", ""}})), "No API key found in request");
  expect_rejected(access(get({}, "apikey")), "No API key found in request");
  expect_rejected(access(get({}, "apikey=")), "No API key found in request");
  expect_rejected(access(get()), "No API key found in request");
  expect_rejected(access(get(), R"({"realm": "test-realm"})"), "No API key found in request",
                  "Key realm=\"test-realm\"");
}

TEST_F(KeyAuthPlugin, ErrorBodyFollowsAccept) {
  auto req = access(get({{"Accept", "text/plain"}}));
  ASSERT_TRUE(req.exit());
  EXPECT_EQ(req.exit()->body,
            "No API key found in request\nrequest_id: "
            "00000000000000000000000000000001\n");
  EXPECT_EQ(req.response_header("Content-Type"), "text/plain; charset=utf-8");
}

TEST_F(KeyAuthPlugin, InvalidAndDuplicateKeys) {
  expect_rejected(access(get({{"apikey", "123"}})), "Unauthorized");
  expect_rejected(access(get({}, "apikey=123")), "Unauthorized");
  expect_rejected(access(get({}, "apikey=123"), R"({"realm": "x"})"), "Unauthorized",
                  "Key realm=\"x\"");
  expect_rejected(access(get({}, "apikey=kong&apikey=kong")), "Duplicate API key found");
  expect_rejected(access(get({{"apikey", "kong"}, {"apikey", "kong"}})), "Duplicate API key found");
  // A duplicate under the first name stops the search even if a later name has a key.
  expect_rejected(
      access(get({{"a", "x"}, {"a", "y"}, {"b", "kong"}}), R"({"key_names": ["a", "b"]})"),
      "Duplicate API key found");
}

TEST_F(KeyAuthPlugin, ValidKeyInHeaderOrQuery) {
  auto req = access(get({{"apikey", "kong"},
                         {"X-Consumer-ID", "forged"},
                         {"X-Consumer-Username", "forged"},
                         {"X-Credential-Identifier", "forged"},
                         {"X-Anonymous-Consumer", "true"}}));
  expect_bob(req);
  EXPECT_EQ(req.upstream_header("apikey"), "kong");  // not hidden by default
  expect_bob(access(get({}, "c=1&apikey=kong")));
  // Header first, then query, per key name; then the next key name.
  expect_bob(access(get({{"apikey", "kong"}}, "apikey=nope")));
  expect_bob(access(get({}, "first&second=kong"), R"({"key_names": ["first", "second"]})"));
  expect_rejected(access(get({{"apikey", "kong"}}), R"({"key_in_header": false})"),
                  "No API key found in request");
  expect_rejected(access(get({}, "apikey=kong"), R"({"key_in_query": false})"),
                  "No API key found in request");
}

TEST_F(KeyAuthPlugin, UnderscoreNameMatchesHyphenHeader) {
  expect_bob(access(get({{"api-key", "kong"}}), R"({"key_names": ["api_key"]})"));
  expect_bob(access(get({{"api_key", "kong"}}), R"({"key_names": ["api_key"]})"));
  expect_bob(access(get({}, "api_key=kong"), R"({"key_names": ["api_key"]})"));
}

TEST_F(KeyAuthPlugin, ConsumerHeadersCleared) {
  auto req = access(get({{"apikey", "alice-key"}, {"X-Consumer-Custom-ID", "forged"}}));
  EXPECT_EQ(last_result_, SB_CONTINUE);
  EXPECT_EQ(req.upstream_header("X-Consumer-ID"), kAlice);
  EXPECT_EQ(req.upstream_header("X-Consumer-Username"), "alice");
  EXPECT_FALSE(req.upstream_header("X-Consumer-Custom-ID"));
  EXPECT_EQ(req.upstream_header("X-Credential-Identifier"), kAliceCred);
  // A credential whose consumer is gone: authenticated by credential only.
  req = access(get({{"apikey", "orphan"}, {"X-Consumer-ID", "forged"}}));
  EXPECT_EQ(last_result_, SB_CONTINUE);
  EXPECT_EQ(req.credential_id(), "cred-orphan");
  EXPECT_EQ(req.consumer_id(), "");
  EXPECT_FALSE(req.upstream_header("X-Consumer-ID"));
  EXPECT_FALSE(req.upstream_header("X-Consumer-Username"));
  EXPECT_EQ(req.upstream_header("X-Credential-Identifier"), "cred-orphan");
}

TEST_F(KeyAuthPlugin, TtlIsAnExpiryTime) {
  // The fake clock starts at 1700000000 s: ttl 1699999999 has passed, 1700000005 not yet.
  expect_rejected(access(get({{"apikey", "expired"}})), "Unauthorized");
  access(get({{"apikey", "soon"}}));
  EXPECT_EQ(last_result_, SB_CONTINUE);
  host_.advance(5000);
  expect_rejected(access(get({{"apikey", "soon"}})), "Unauthorized");
}

TEST_F(KeyAuthPlugin, HideCredentials) {
  constexpr const char* kHide = R"({"hide_credentials": true})";
  auto req = access(get({{"apikey", "kong"}, {"X-Other", "1"}}), kHide);
  expect_bob(req);
  EXPECT_FALSE(req.upstream_header("apikey"));
  EXPECT_EQ(req.upstream_header("X-Other"), "1");
  req = access(get({}, "c=value1&b=value2&apikey=kong&a=value3"), kHide);
  expect_bob(req);
  EXPECT_EQ(req.upstream_query(), "c=value1&b=value2&a=value3");
  req = access(get({}, "c=valu%651&b=value2&api%6B%65%79=kong&a=valu%653"), kHide);
  EXPECT_EQ(req.upstream_query(), "c=value1&b=value2&a=value3");
  req = access(get({}, "apikey=kong"), kHide);
  EXPECT_EQ(req.upstream_query(), "");
  // The query is re-serialized even when the key came from a header (3.x's clear_query_arg).
  req = access(get({{"apikey", "kong"}}, "x=a%20b&apikey=other"), kHide);
  EXPECT_EQ(req.upstream_query(), "x=a+b");
  // Without hide_credentials nothing changes.
  req = access(get({}, "c=valu%651&apikey=kong"));
  EXPECT_EQ(req.upstream_query(), "c=valu%651&apikey=kong");
}

TEST_F(KeyAuthPlugin, KeyInBody) {
  constexpr const char* kBody = R"({"key_in_body": true})";
  expect_bob(access(post("application/x-www-form-urlencoded", "apikey=kong"), kBody));
  expect_bob(access(post("application/json; charset=utf-8", R"({"apikey":"kong"})"), kBody));
  expect_bob(access(post("multipart/form-data; boundary=b",
                         "--b\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nkong\r\n"
                         "--b--\r\n"),
                    kBody));
  expect_rejected(access(post("application/x-www-form-urlencoded", "apikey=123"), kBody),
                  "Unauthorized");
  expect_rejected(access(post("application/json", R"({"apikey":["kong","kong"]})"), kBody),
                  "Duplicate API key found");
  expect_rejected(
      access(post("application/x-www-form-urlencoded", "apikey=kong&apikey=kong"), kBody),
      "Duplicate API key found");
  expect_rejected(access(post("application/x-www-form-urlencoded", "apikey[]=kong"), kBody),
                  "No API key found in request");
  expect_rejected(access(post("text/plain", "apikey=kong"), kBody), "No API key found in request");
  expect_rejected(access(post("application/json", R"({"apikey":12})"), kBody),
                  "No API key found in request");
  // Query before body; without key_in_body the body is never read.
  expect_bob(
      access(post("application/x-www-form-urlencoded", "apikey=nope", "apikey=kong"), kBody));
  expect_rejected(access(post("application/x-www-form-urlencoded", "apikey=kong")),
                  "No API key found in request");
}

TEST_F(KeyAuthPlugin, KeyInBodyHidden) {
  constexpr const char* kConf = R"({"key_in_body": true, "hide_credentials": true})";
  auto req = access(post("application/x-www-form-urlencoded", "foo=bar&apikey=kong&z=%20"), kConf);
  expect_bob(req);
  EXPECT_EQ(req.upstream_body(), "foo=bar&z=%20");
  req = access(post("application/json", R"({"apikey": "kong", "foo": "bar"})"), kConf);
  expect_bob(req);
  EXPECT_EQ(req.upstream_body(), R"({"foo": "bar"})");
  req = access(post("multipart/form-data; boundary=b",
                    "--b\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nkong\r\n"
                    "--b\r\nContent-Disposition: form-data; name=\"foo\"\r\n\r\nbar\r\n--b--\r\n"),
               kConf);
  expect_bob(req);
  EXPECT_EQ(req.upstream_body(),
            "--b\r\nContent-Disposition: form-data; name=\"foo\"\r\n\r\nbar\r\n--b--\r\n");
  // A key from a header also hides the body field (the body's own "x" is never looked at).
  req = access(
      [] {
        FakeRequest r = post("application/json", R"({"apikey": "x", "foo": 1})");
        r.headers.emplace_back("apikey", "kong");
        return r;
      }(),
      kConf);
  expect_bob(req);
  EXPECT_FALSE(req.upstream_header("apikey"));
  EXPECT_EQ(req.upstream_body(), R"({"foo": 1})");
}

TEST_F(KeyAuthPlugin, Anonymous) {
  std::string by_id = std::string(R"({"anonymous": ")") + kNobody + "\"}";
  for (const std::string& conf : {by_id, std::string(R"({"anonymous": "no-body"})")}) {
    auto req =
        access(get({{"X-Credential-Identifier", "forged"}, {"X-Consumer-Custom-ID", "x"}}), conf);
    EXPECT_EQ(last_result_, SB_CONTINUE);
    EXPECT_EQ(req.consumer_id(), kNobody);
    EXPECT_EQ(req.credential_id(), "");
    EXPECT_EQ(req.upstream_header("X-Consumer-ID"), kNobody);
    EXPECT_EQ(req.upstream_header("X-Consumer-Username"), "no-body");
    EXPECT_EQ(req.upstream_header("X-Anonymous-Consumer"), "true");
    EXPECT_FALSE(req.upstream_header("X-Credential-Identifier"));
    EXPECT_FALSE(req.upstream_header("X-Consumer-Custom-ID"));
  }
  // Bad or duplicate keys also fall back to anonymous; a good key still wins.
  EXPECT_EQ(access(get({{"apikey", "nope"}}), by_id).consumer_id(), kNobody);
  EXPECT_EQ(access(get({}, "apikey=a&apikey=b"), by_id).consumer_id(), kNobody);
  expect_bob(access(get({{"apikey", "kong"}}), by_id));
}

TEST_F(KeyAuthPlugin, UnknownAnonymousIsAServerError) {
  auto req = access(get(), R"({"anonymous": "00000000-dead-4bee-8000-000000000000"})");
  EXPECT_EQ(last_result_, SB_ERROR);
  EXPECT_EQ(req.status(), 500);
  EXPECT_FALSE(req.proxied());
  EXPECT_TRUE(
      host_.logged("anonymous consumer 00000000-dead-4bee-8000-000000000000 is "
                   "configured but doesn't exist"));
}

TEST_F(KeyAuthPlugin, LogicalOrAndAnd) {
  auto other = host_.load(kOtherAuth);
  std::string conf = std::string(R"({"anonymous": ")") + kNobody + "\"}";
  // Another plugin authenticated a credential: with `anonymous` key-auth does nothing.
  auto cred = other.compile(std::string(R"({"consumer": ")") + kAlice + R"(", "credential": ")" +
                            kAliceCred + "\"}");
  auto req = access(get({{"X-Consumer-ID", "client"}}), conf, {cred});
  EXPECT_EQ(last_result_, SB_CONTINUE);
  EXPECT_EQ(req.consumer_id(), kAlice);
  EXPECT_EQ(req.upstream_header("X-Consumer-ID"), "client");  // untouched
  // Without `anonymous` every auth plugin must pass (logical AND).
  expect_rejected(access(get(), "{}", {cred}), "No API key found in request");
  // Only an (anonymous) consumer, no credential: key-auth still authenticates.
  auto anon = other.compile(std::string(R"({"consumer": ")") + kNobody + "\"}");
  expect_bob(access(get({{"apikey", "kong"}}), conf, {anon}));
}

TEST_F(KeyAuthPlugin, Preflight) {
  FakeRequest options = get();
  options.method = "OPTIONS";
  auto req = access(options, R"({"run_on_preflight": false})");
  EXPECT_EQ(last_result_, SB_CONTINUE);
  EXPECT_EQ(req.consumer_id(), "");
  EXPECT_FALSE(req.upstream_header("X-Anonymous-Consumer"));
  expect_rejected(access(options), "No API key found in request");
  expect_rejected(access(get(), R"({"run_on_preflight": false})"), "No API key found in request");
}

TEST_F(KeyAuthPlugin, RunsFullRequest) {
  auto req = host_.request(get({{"apikey", "kong"}}), {plugin_.compile("{}")});
  EXPECT_EQ(req.run(), SB_CONTINUE);
  EXPECT_TRUE(req.proxied());
  EXPECT_EQ(req.status(), 200);
  EXPECT_TRUE(host_.violations().empty());
}

}  // namespace
