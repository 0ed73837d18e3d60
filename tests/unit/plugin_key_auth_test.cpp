// key-auth (plugins/key-auth): where keys are found in queries and bodies, and how
// hide_credentials rewrites them (Kong 3.9's handler.lua and its spec 09-key-auth/02-access).
#include <gtest/gtest.h>

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
  for (int i = 0; i < 100; ++i) many += "a" + std::to_string(i) + "=1&";
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

}  // namespace
