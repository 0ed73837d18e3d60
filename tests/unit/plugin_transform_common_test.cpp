// The helpers shared by the transform plugins (plugins/transform-common) and request-transformer's
// template compiler: each case pins a behaviour of the Lua/nginx code they stand in for.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "json.h"
#include "json_edit.h"
#include "mime.h"
#include "multipart.h"
#include "scratch.h"
#include "template.h"
#include "text.h"
#include "url.h"

namespace {

using sbp::json::Document;
using sbp::json::Item;
using sbp::json::ObjectEditor;

std::string compact(std::string_view text) {
  Document d;
  EXPECT_TRUE(d.parse(text)) << text;
  std::string out;
  if (!d.empty()) sbp::json::write_compact(out, d, 0);
  return out;
}

TEST(TransformJson, ParsesAndWritesCompactKeepingTokens) {
  EXPECT_EQ(compact(R"( { "a" : [ 1 , 2.50 , -0e+3 ] , "b" : { } , "c" : "x\/y\u00e9" } )"),
            R"({"a":[1,2.50,-0e+3],"b":{},"c":"x\/y\u00e9"})");
  EXPECT_EQ(compact("[]"), "[]");
  EXPECT_EQ(compact("[[],[[]],{}]"), "[[],[[]],{}]");
  EXPECT_EQ(compact(R"({"a":{"b":{"c":[true,false,null]}},"d":1})"),
            R"({"a":{"b":{"c":[true,false,null]}},"d":1})");
  EXPECT_EQ(compact("\"only a string\""), "\"only a string\"");
  EXPECT_EQ(compact(" 12345678901234567890 "), "12345678901234567890");
}

TEST(TransformJson, RejectsWhatRfc8259Rejects) {
  Document d;
  for (std::string_view bad : {"",           "   ",        "malformed json body",
                               "{",          "{\"a\":1,}", "[1,]",
                               "{\"a\" 1}",  "{a:1}",      "01",
                               "1.",         ".5",         "-",
                               "1e",         "\"\\x\"",    "\"tab\there\"",
                               "[1] [2]",    "tru",        "nul",
                               "{\"a\":1}}", "\"\\u12g4\""}) {
    EXPECT_FALSE(d.parse(bad)) << bad;
    EXPECT_TRUE(d.empty());
  }
  std::string deep(1001, '[');
  deep.append(1001, ']');
  EXPECT_FALSE(d.parse(deep));  // lua-cjson's depth limit is 1000
  std::string ok(1000, '[');
  ok.append(1000, ']');
  EXPECT_TRUE(d.parse(ok));
}

TEST(TransformJson, CountsAndSiblings) {
  Document d;
  ASSERT_TRUE(d.parse(R"({"a":[1,[2,3],{"x":4}],"b":"s"})"));
  EXPECT_EQ(d.root().count, 2u);
  uint32_t a = 1;
  EXPECT_EQ(d[a].key, "a");
  EXPECT_EQ(d[a].count, 3u);
  uint32_t b = d[a].end;
  EXPECT_EQ(d[b].key, "b");
  EXPECT_EQ(d[b].text, "s");
  EXPECT_EQ(d[b].end, d.size());
}

TEST(TransformJson, WritesStringsAsLuaCjson) {
  std::string out;
  sbp::json::write_string(out, std::string("a\"b\\c/d\b\f\n\r\t\x01\x1f\x7f h\xc3\xa9", 19));
  EXPECT_EQ(out, R"("a\"b\\c\/d\b\f\n\r\t\u0001\u001f\u007f h)"
                 "\xc3\xa9\"");
}

TEST(TransformJson, Unescapes) {
  std::string out;
  sbp::json::unescape(out, R"(a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800x)");
  EXPECT_EQ(out, "a\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx");
}

TEST(TransformJson, NumbersAsLuaCjson) {
  auto num = [](double v) {
    std::string s;
    EXPECT_TRUE(sbp::json::write_number(s, v));
    return s;
  };
  EXPECT_EQ(num(-1), "-1");
  EXPECT_EQ(num(16), "16");
  EXPECT_EQ(num(0.1), "0.1");
  EXPECT_EQ(num(1e20), "1e+20");
  EXPECT_EQ(num(3.14159265358979), "3.1415926535898");
  EXPECT_EQ(num(12345678901234567890.0), "1.2345678901235e+19");
  std::string s;
  EXPECT_FALSE(sbp::json::write_number(s, HUGE_VAL));
  EXPECT_FALSE(sbp::json::write_number(s, std::nan("")));
}

class TransformObjectEditor : public ::testing::Test {
 protected:
  std::string run(std::string_view body, const std::function<void(ObjectEditor&)>& edit) {
    EXPECT_TRUE(doc.parse(body));
    pool.reset();
    ed.load(doc, pool);
    edit(ed);
    std::string out;
    ed.write(out);
    return out;
  }
  Document doc;
  ObjectEditor ed;
  sbp::StringPool pool;
};

TEST_F(TransformObjectEditor, RemoveRenameSetKeepOrderAndSourceText) {
  EXPECT_EQ(run(R"({"p1" : "v1", "p2" : 1.50, "p3": {"n": [1, 2]}})",
                [](ObjectEditor& e) {
                  e.remove("p1");
                  EXPECT_TRUE(e.rename("p2", "k2"));
                  EXPECT_FALSE(e.rename("absent", "x"));
                  e.set("p4", Item::string("a/b"));
                  e.set("p3", Item::raw("true"));
                }),
            R"({"k2":1.50,"p3":true,"p4":"a\/b"})");
}

TEST_F(TransformObjectEditor, RenameOntoAnExistingKeyReplacesIt) {
  EXPECT_EQ(run(R"({"a":1,"b":2,"c":3})", [](ObjectEditor& e) { e.rename("c", "a"); }),
            R"({"b":2,"a":3})");
}

TEST_F(TransformObjectEditor, DuplicateKeysLastWinsAsInALuaTable) {
  EXPECT_EQ(run(R"({"a":1,"b":2,"a":3})", [](ObjectEditor&) {}), R"({"a":1,"b":2,"a":3})")
      << "untouched duplicates are copied";
  EXPECT_EQ(run(R"({"a":1,"b":2,"a":3})", [](ObjectEditor& e) { e.append("a", Item::raw("4")); }),
            R"({"b":2,"a":[4]})");
  EXPECT_EQ(
      run(R"({"a":"x","b":2,"a":"y"})", [](ObjectEditor& e) { e.append("a", Item::string("z")); }),
      R"({"b":2,"a":["y","z"]})");
  EXPECT_EQ(run(R"({"a":1,"b":2,"a":3})", [](ObjectEditor& e) { e.remove("a"); }), R"({"b":2})");
  EXPECT_EQ(run(R"({"a":1,"b":2,"a":3,"c":0})", [](ObjectEditor& e) { e.rename("a", "c"); }),
            R"({"b":2,"c":3})");
  EXPECT_EQ(run(R"({"a":1,"a":false})", [](ObjectEditor& e) { EXPECT_FALSE(e.truthy("a")); }),
            R"({"a":1,"a":false})");
}

TEST_F(TransformObjectEditor, ManyKeysStayLinear) {
  std::string body = "{";
  for (int i = 0; i < 50000; ++i) body += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":1";
  body += "}";
  std::string out = run(body, [](ObjectEditor& e) {
    e.remove("k5");
    e.set("new", Item::raw("2"));
  });
  EXPECT_EQ(out.size(), body.size() - std::string(",\"k5\":1").size() + 8);
}

TEST_F(TransformObjectEditor, TruthinessIsLuas) {
  run(R"({"f":false,"n":null,"z":0,"e":""})", [](ObjectEditor& e) {
    EXPECT_FALSE(e.truthy("f"));
    EXPECT_TRUE(e.truthy("n"));  // cjson.null is a truthy userdata
    EXPECT_TRUE(e.truthy("z"));
    EXPECT_TRUE(e.truthy("e"));
    EXPECT_FALSE(e.truthy("absent"));
    EXPECT_TRUE(e.present("f"));
  });
}

TEST_F(TransformObjectEditor, AppendFollowsKongsAppendValue) {
  EXPECT_EQ(run(R"({"s":"v0","a":[1],"e":[],"o":{"k":1},"eo":{},"n":5,"b":true,"z":null})",
                [](ObjectEditor& e) {
                  e.append("s", Item::string("v1"));
                  e.append("s", Item::string("v2"));
                  e.append("a", Item::raw("2"));
                  e.append("e", Item::string("x"));
                  e.append("o", Item::string("x"));
                  e.append("o", Item::string("y"));
                  e.append("eo", Item::string("x"));
                  e.append("n", Item::string("x"));
                  e.append("b", Item::string("x"));
                  e.append("z", Item::string("x"));
                  e.append("new", Item::raw("-1"));
                }),
            R"({"s":["v0","v1","v2"],"a":[1,2],"e":["x"],"o":{"k":1,"1":"x","2":"y"},)"
            R"("eo":["x"],"n":["x"],"b":["x"],"z":["x"],"new":[-1]})");
}

TEST_F(TransformObjectEditor, EmptyStart) {
  ed.load_empty();
  ed.set("p1", Item::string("v1"));
  ed.append("p1", Item::string("v2"));
  std::string out;
  ed.write(out);
  EXPECT_EQ(out, R"({"p1":["v1","v2"]})");
}

TEST(TransformUrl, UnescapeAsNgxDecodeArgs) {
  std::string out;
  sbp::url::unescape(out, "a+b%20c%2Bd%zz%4");
  EXPECT_EQ(out, "a b c+d%zz%4");
}

TEST(TransformUrl, EscapeComponentAsNgxEscapeUri) {
  std::string out;
  sbp::url::escape_component(out, "AZaz09-._~ !*'()[]/?&=+:@$,;#%\xc3\xa9");
  EXPECT_EQ(out, "AZaz09-._~%20%21%2A%27%28%29%5B%5D%2F%3F%26%3D%2B%3A%40%24%2C%3B%23%25%C3%A9");
}

TEST(TransformUrl, EscapePathAsKongSetPath) {
  std::string out;
  sbp::url::escape_path(out, "/requests/t\xc3\xa9st a/%41/!$&'()*+,;=:@[]?#~");
  EXPECT_EQ(out, "/requests/t%C3%A9st%20a/%41/!$&'()*+,;=:@[]?#~");
  std::string twice;
  sbp::url::escape_path(twice, out);
  EXPECT_EQ(twice, out);  // idempotent
}

TEST(TransformUrl, ParseArgs) {
  std::vector<sbp::url::Arg> args;
  size_t n = sbp::url::parse_args("a=1&flag&&=skipped&b=&c=x%20y+z&a=2&k=v=w", args, 0);
  ASSERT_EQ(n, 6u);
  EXPECT_EQ(args[0].name, "a");
  EXPECT_EQ(args[0].value, "1");
  EXPECT_TRUE(args[1].flag);
  EXPECT_EQ(args[1].name, "flag");
  EXPECT_EQ(args[2].name, "b");
  EXPECT_FALSE(args[2].flag);
  EXPECT_EQ(args[2].value, "");
  EXPECT_EQ(args[3].value, "x y z");
  EXPECT_EQ(args[4].value, "2");
  EXPECT_EQ(args[5].name, "k");
  EXPECT_EQ(args[5].value, "v=w");
  EXPECT_EQ(sbp::url::parse_args("", args, 0), 0u);
}

TEST(TransformUrl, EncodeSortedAsKongSetQuery) {
  // kong.service.request.set_query's documented example.
  std::vector<sbp::url::Arg> args;
  size_t n = sbp::url::parse_args("foo=hello%20world&bar=baz&zzz&blo=&bar=bla&bar", args, 0);
  std::string out;
  sbp::url::encode_sorted(out, args, n);
  EXPECT_EQ(out, "bar=baz&bar=bla&bar&blo=&foo=hello%20world&zzz");
  // request-transformer spec: "template as querystring parameters on GET".
  n = sbp::url::parse_args("uri_param2[some_index][1]=bar&q1=20&uri_param1=foo", args, 0);
  out.clear();
  sbp::url::encode_sorted(out, args, n);
  EXPECT_EQ(out, "q1=20&uri_param1=foo&uri_param2%5Bsome_index%5D%5B1%5D=bar");
}

TEST(TransformUrl, EncodeInOrderGroupsNames) {
  std::vector<sbp::url::Arg> args;
  size_t n = sbp::url::parse_args("z=1&a=x+y&z=2&f", args, 0);
  std::string out;
  sbp::url::encode_in_order(out, args, n);
  EXPECT_EQ(out, "z=1&z=2&a=x%20y&f");
}

TEST(TransformMime, IsJsonAsKong) {
  // response-transformer spec: is_json_body().
  EXPECT_TRUE(sbp::mime::is_json("application/json"));
  EXPECT_TRUE(sbp::mime::is_json("application/json; charset=utf-8"));
  EXPECT_TRUE(sbp::mime::is_json("application/problem+json"));
  EXPECT_TRUE(sbp::mime::is_json("application/problem+json; charset=utf-8"));
  EXPECT_TRUE(sbp::mime::is_json("application/x-www-form-urlencoded, application/json"));
  EXPECT_FALSE(sbp::mime::is_json("application/x-www-form-urlencoded"));
  EXPECT_TRUE(sbp::mime::is_json("Application/JSON;charset=\"utf-8\""));
  EXPECT_FALSE(sbp::mime::is_json("application/json;"));  // not a media type for Kong
  EXPECT_FALSE(sbp::mime::is_json("text/json"));
  EXPECT_FALSE(sbp::mime::is_json("application/jsonx"));
  EXPECT_FALSE(sbp::mime::is_json(""));
}

TEST(TransformText, SplitEntryAsKongsPattern) {
  auto nv = sbp::split_entry("h2:value:2");
  ASSERT_TRUE(nv);
  EXPECT_EQ(nv->name, "h2");
  EXPECT_EQ(nv->value, "value:2");
  nv = sbp::split_entry("a::b");
  EXPECT_EQ(nv->value, "b");
  nv = sbp::split_entry("just_a_key");
  EXPECT_EQ(nv->name, "just_a_key");
  EXPECT_EQ(nv->value, "");
  EXPECT_FALSE(sbp::split_entry(":x"));
  EXPECT_FALSE(sbp::split_entry(""));
  EXPECT_TRUE(sbp::valid_header_name("X-Foo_bar9"));
  EXPECT_FALSE(sbp::valid_header_name("x-requ,est-id"));
  EXPECT_FALSE(sbp::valid_header_name(""));
}

TEST(TransformMultipart, ParseAndSerializeLikeLuaMultipart) {
  std::string body =
      "preamble\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"a\"\r\n"
      "\r\n"
      "1\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\n"
      "Content-Type: text/plain\r\n"
      "\r\n"
      "line1\r\nline2\r\n"
      "--XyZ--\r\n";
  auto b = sbp::multipart::boundary("multipart/form-data; boundary=XyZ");
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, "XyZ");
  sbp::multipart::Body mp;
  mp.parse(body, *b);
  ASSERT_EQ(mp.parts().size(), 2u);
  EXPECT_EQ(mp.parts()[0].name, "a");
  EXPECT_EQ(mp.parts()[0].value, "1");
  EXPECT_EQ(mp.parts()[1].name, "f");
  EXPECT_EQ(mp.parts()[1].value, "line1\r\nline2");
  std::string out;
  mp.serialize(out, *b);
  EXPECT_EQ(out, body.substr(10));  // the preamble is dropped, the rest is identical

  mp.set_simple("a", "2");  // replaces in place
  mp.set_simple("n", "v");  // appends
  mp.remove("f");
  out.clear();
  mp.serialize(out, *b);
  EXPECT_EQ(out,
            "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n2\r\n"
            "--XyZ\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\nv\r\n--XyZ--\r\n");
  mp.remove("a");
  mp.remove("n");
  out.clear();
  mp.serialize(out, *b);
  EXPECT_EQ(out, "");
}

TEST(TransformMultipart, Boundaries) {
  EXPECT_EQ(*sbp::multipart::boundary("multipart/form-data; boundary=\"q b\""), "\"q")
      << "%S+ stops at the space and a lone quote stays";
  EXPECT_EQ(*sbp::multipart::boundary("multipart/form-data;boundary=\"qb\""), "qb");
  EXPECT_EQ(*sbp::multipart::boundary("multipart/form-data; boundary=abc;charset=x"),
            "abc;charset=x");
  EXPECT_FALSE(sbp::multipart::boundary("multipart/form-data"));
}

TEST(TransformMultipart, DuplicateNamesFollowLuaMultipartsIndex) {
  std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n"
      "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n2\r\n--b--\r\n";
  sbp::multipart::Body mp;
  mp.parse(body, "b");
  ASSERT_NE(mp.get("x"), nullptr);
  EXPECT_EQ(mp.get("x")->value, "2");
  mp.remove("x");
  EXPECT_EQ(mp.get("x"), nullptr);  // the earlier "x" is still there but unindexed
  ASSERT_EQ(mp.parts().size(), 1u);
  EXPECT_EQ(mp.parts()[0].value, "1");
}

using sbp::rt::Root;
using sbp::rt::Template;

std::string render(const Template& t) {
  std::string out;
  t.render(out,
           [](Root root, std::string_view key, bool numeric) -> std::optional<std::string_view> {
             if (root == Root::kUriCaptures && numeric && key == "0") return "/whole";
             if (root == Root::kUriCaptures && key == "user1") return "foo";
             if (root == Root::kHeaders && key == "x-remove-header") return "its a test";
             if (root == Root::kHeaders && key == "host") return "test15.test";
             if (root == Root::kQueryParams && key == "q1") return "20";
             if (root == Root::kShared && key == "my_version") return "1.2.3";
             if (root == Root::kHeaders && key == "empty") return "";
             return std::nullopt;
           });
  return out;
}

Template compile_ok(std::string_view src) {
  std::string err;
  auto t = Template::compile(src, &err);
  EXPECT_TRUE(t) << src << ": " << err;
  return t ? *t : *Template::compile("", &err);
}

TEST(TransformTemplate, PlainLookupsFromKongsSpec) {
  EXPECT_EQ(render(compile_ok("$(uri_captures.user1)")), "foo");
  EXPECT_EQ(render(compile_ok("/requests$(uri_captures[0])")), "/requests/whole");
  EXPECT_EQ(render(compile_ok("$(headers['x-remove-header'])")), "its a test");
  EXPECT_EQ(render(compile_ok("$(headers[\"x-remove-header\"])")), "its a test");
  EXPECT_EQ(render(compile_ok("$(headers.host)")), "test15.test");
  EXPECT_EQ(render(compile_ok("$(query_params.q1)")), "20");
  EXPECT_EQ(render(compile_ok("$(shared.my_version)")), "1.2.3");
  EXPECT_EQ(render(compile_ok("$(uri_captures.user2 or 'default2')")), "default2");
  EXPECT_EQ(render(compile_ok("$(uri_captures.user1 or 'default1')")), "foo");
  EXPECT_EQ(render(compile_ok("$( headers.nope or shared.nope or \"d\\\"q\" )")), "d\"q");
  EXPECT_EQ(render(compile_ok("$(headers.empty or 'x')")), "") << "'' is truthy in Lua";
  EXPECT_EQ(render(compile_ok("$(headers.nope)")), "");
  EXPECT_EQ(render(compile_ok("$('$(uri_captures.user1)')")), "$(uri_captures.user1)");
  EXPECT_EQ(render(compile_ok("a $(uri_captures.user1) b $(query_params.q1)")), "a foo b 20");
  EXPECT_EQ(render(compile_ok("$(headers[1])")), "") << "number keys only exist in captures";
}

TEST(TransformTemplate, LiteralsAndUnbalanced) {
  Template t = compile_ok("value:2 #hash $ and $(unbalanced");
  EXPECT_TRUE(t.literal());
  EXPECT_EQ(render(t), "value:2 #hash $ and $(unbalanced");
  EXPECT_EQ(render(compile_ok("$(x $(uri_captures.user1)")), "$(x foo");
  EXPECT_FALSE(compile_ok("$(headers.a)").literal());
  EXPECT_TRUE(compile_ok("$(headers.a)").uses(Root::kHeaders));
  EXPECT_FALSE(compile_ok("$(headers.a)").uses(Root::kShared));
}

TEST(TransformTemplate, EverythingElseIsRejected) {
  for (std::string_view src :
       {"$(uri_captures user2)", "$(10 * uri_captures.user1)", "$(ERROR())",
        "$(foo(headers[\"User-Agent\"]))", "$(type(headers[\"X-Foo\"]) == \"table\")",
        "$(shared.written = true)", "$(string.sub(query_params.user, 1, 3))", "$(headers)",
        "$(headers.a.b)", "$(foo)", "$(headers.end)", "$(require('inspect')('x'))", "$()",
        "$(headers['x'] or)", "$(query_params[1)"}) {
    std::string err;
    EXPECT_FALSE(Template::compile(src, &err)) << src;
    EXPECT_NE(err.find("Silverback does not run Lua"), std::string::npos) << err;
  }
}

}  // namespace
