// Value and the Lua-pattern matcher (and, as it lands, the schema engine), checked against
// Kong's behaviour and messages.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <limits>
#include <string>
#include <vector>

#include "config/lua_pattern.h"
#include "config/value.h"

namespace sb::config {
namespace {

// --- Value -------------------------------------------------------------------------------------

TEST(ValueTest, ToJsonKeepsIntegersAndOrderAndEscapes) {
  Value v = Value::object();
  v.set("z", Value::of_int(5));
  v.set("a", Value::of_number(5.0));
  v.set("f", Value::of_number(1.5));
  v.set("s", Value::of_string("a\"b\\c\n\x01"));
  v.set("n", Value{});
  v.set("l", Value::array({Value::of_bool(true), Value::of_bool(false)}));
  v.set("big", Value::of_int(INT64_MIN));
  v.set("inf", Value::of_number(std::numeric_limits<double>::infinity()));
  EXPECT_EQ(v.to_json(), R"({"z":5,"a":5,"f":1.5,"s":"a\"b\\c\n\u0001","n":null,"l":[true,false],)"
                         R"("big":-9223372036854775808,"inf":null})");
  v.set("z", Value::of_string("replaced"));  // in place
  EXPECT_EQ(v.members[0].first, "z");
  EXPECT_EQ(v.get("z")->s, "replaced");
  EXPECT_EQ(v.get("missing"), nullptr);
}

TEST(ValueTest, FromYamlResolvesScalarsLikeTheLoader) {
  Value v = Value::from_yaml(YAML::Load(
      "{q: \"5\", i: 5, h: 0x1f, f: 1.5, b: true, B: True, s: yes, n: ~, e: , t: !!str 7, "
      "big: 99999999999999999999, neg: -3}"));
  ASSERT_EQ(v.kind, Value::Kind::object);
  EXPECT_EQ(v.get("q")->kind, Value::Kind::string);
  EXPECT_EQ(v.get("i")->kind, Value::Kind::integer);
  EXPECT_EQ(v.get("i")->i, 5);
  EXPECT_EQ(v.get("h")->i, 31);
  EXPECT_EQ(v.get("f")->kind, Value::Kind::number);
  EXPECT_EQ(v.get("b")->kind, Value::Kind::boolean);
  EXPECT_TRUE(v.get("B")->b);
  EXPECT_EQ(v.get("s")->kind, Value::Kind::string);  // YAML 1.1 "yes" is a string here
  EXPECT_TRUE(v.get("n")->is_null());
  EXPECT_TRUE(v.get("e")->is_null());
  EXPECT_EQ(v.get("t")->kind, Value::Kind::string);
  EXPECT_EQ(v.get("big")->kind, Value::Kind::number);  // beyond int64: not saturated
  EXPECT_DOUBLE_EQ(v.get("big")->d, 1e20);
  EXPECT_EQ(v.get("neg")->i, -3);
  EXPECT_EQ(v.to_json().substr(0, 14), R"({"q":"5","i":5)");
}

TEST(ValueTest, FromYamlRepeatedKeysAndDepthLimit) {
  Value v = Value::from_yaml(YAML::Load("{a: 1, b: 2, a: 3}"));
  ASSERT_EQ(v.members.size(), 2u);
  EXPECT_EQ(v.members[0].first, "a");
  EXPECT_EQ(v.members[0].second.i, 3);

  std::string deep(200, '[');
  deep += std::string(200, ']');
  std::string error;
  Value d = Value::from_yaml(YAML::Load(deep), &error);
  EXPECT_EQ(error, "value nested too deeply (limit 64)");
  EXPECT_EQ(d.kind, Value::Kind::array);
}

TEST(ValueTest, EqualityFollowsLua) {
  EXPECT_EQ(Value::of_int(1), Value::of_number(1.0));
  EXPECT_NE(Value::of_int(1), Value::of_string("1"));
  EXPECT_NE(Value::of_bool(false), Value{});
  EXPECT_EQ(Value::array({Value::of_int(1)}), Value::array({Value::of_number(1)}));
  EXPECT_DOUBLE_EQ(Value::of_int(7).as_double(), 7.0);
}

// --- Lua patterns ------------------------------------------------------------------------------

bool lm(std::string_view s, std::string_view p) {
  EXPECT_EQ(lua_pattern_error(p), "") << p;
  LuaMatch m = lua_pattern_match(s, p);
  EXPECT_NE(m, LuaMatch::kError) << s << " / " << p;
  return m == LuaMatch::kMatch;
}

TEST(SchemaLuaPattern, ClassesAndComplements) {
  EXPECT_TRUE(lm("GET", "^%u+$"));
  EXPECT_FALSE(lm("Get", "^%u+$"));
  EXPECT_TRUE(lm("abc", "^%l+$"));
  EXPECT_TRUE(lm("a1_", "^%w%d_$"));
  EXPECT_TRUE(lm("dead", "^%x+$"));
  EXPECT_FALSE(lm("beef!", "^%x+$"));
  EXPECT_TRUE(lm(" \t", "^%s+$"));
  EXPECT_TRUE(lm("!?", "^%p%p$"));
  EXPECT_TRUE(lm("\x01", "^%c$"));
  EXPECT_TRUE(lm("abc", "^%A*abc$"));
  EXPECT_FALSE(lm("a1", "^%D+$"));
  EXPECT_TRUE(lm(std::string_view("a\0b", 3), "a%zb"));
  EXPECT_TRUE(lm("a.b", "^a%.b$"));
  EXPECT_FALSE(lm("axb", "^a%.b$"));
  EXPECT_TRUE(lm("axb", "^a.b$"));
  EXPECT_TRUE(lm("g", "^%g$"));  // an unknown class letter is the letter itself (Lua 5.1)
}

TEST(SchemaLuaPattern, SetsRangesAndNegation) {
  EXPECT_TRUE(lm("key:value", "^[^:]+:.*$"));
  EXPECT_FALSE(lm(":value", "^[^:]+:.*$"));
  EXPECT_TRUE(lm("b", "^[a-c]$"));
  EXPECT_FALSE(lm("d", "^[a-c]$"));
  EXPECT_TRUE(lm("]", "^[]]$"));  // first character of a set is literal
  EXPECT_TRUE(lm("-", "^[a-]$"));
  EXPECT_TRUE(lm("5", "^[%d]$"));
  EXPECT_TRUE(lm("x", "^[^%d]$"));
  EXPECT_TRUE(lm("_-", "^[%w%-_]+$"));
  EXPECT_FALSE(lm("a b", "^[%w%-_]+$"));
}

TEST(SchemaLuaPattern, QuantifiersAndAnchors) {
  EXPECT_TRUE(lm("", "^a*$"));
  EXPECT_FALSE(lm("", "^a+$"));
  EXPECT_TRUE(lm("color", "^colou?r$"));
  EXPECT_TRUE(lm("<a><b>", "^<.->"));
  EXPECT_TRUE(lm("aaab", "^a-b$"));
  EXPECT_TRUE(lm("xx//yy", "//"));  // unanchored search
  EXPECT_FALSE(lm("/a/b", "//"));
  EXPECT_TRUE(lm("a$b", "a$b"));  // `$` not at the end is literal
  EXPECT_TRUE(lm("x^", "x^"));    // `^` not at the start is literal
  EXPECT_FALSE(lm("ab", "^b"));
  EXPECT_TRUE(lm("ab", "b$"));
  EXPECT_FALSE(lm("ba", "b$"));
}

TEST(SchemaLuaPattern, CapturesBalanceAndFrontier) {
  EXPECT_TRUE(lm("abab", "^(ab)%1$"));
  EXPECT_FALSE(lm("abac", "^(ab)%1$"));
  EXPECT_TRUE(lm("x", "()x"));
  EXPECT_TRUE(lm("f(a(b)c)", "^f%b()$"));
  EXPECT_FALSE(lm("f(a(b c", "^f%b()$"));
  EXPECT_TRUE(lm("THE (quick) fox", "%f[%a]%a+"));
  EXPECT_TRUE(lm("hello world", "%f[%w]world"));
  EXPECT_FALSE(lm("helloworld", "%f[%w]world"));
}

TEST(SchemaLuaPattern, MalformedPatternsAreReported) {
  EXPECT_EQ(lua_pattern_error("abc%"), "malformed pattern (ends with '%')");
  EXPECT_EQ(lua_pattern_error("[abc"), "malformed pattern (missing ']')");
  EXPECT_EQ(lua_pattern_error("[]"), "malformed pattern (missing ']')");
  EXPECT_EQ(lua_pattern_error("(ab"), "unfinished capture");
  EXPECT_EQ(lua_pattern_error("ab)"), "invalid pattern capture");
  EXPECT_EQ(lua_pattern_error("(a)%2"), "invalid capture index");
  EXPECT_EQ(lua_pattern_error("(a%1)"), "invalid capture index");
  EXPECT_EQ(lua_pattern_error("%b("), "missing arguments to '%b'");
  EXPECT_EQ(lua_pattern_error("%fa"), "missing '[' after '%f' in pattern");
  EXPECT_EQ(lua_pattern_error(std::string(2000, 'a')), "pattern too long (limit 1024 bytes)");
  EXPECT_EQ(lua_pattern_match("abc", "[abc"), LuaMatch::kError);
}

TEST(SchemaLuaPattern, PathologicalBacktrackingIsBounded) {
  std::string s(5000, 'a');
  auto start = std::chrono::steady_clock::now();
  size_t used = 0;
  LuaMatch m = lua_pattern_match(s, "a*a*a*a*a*a*b", 1'000'000, &used);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(m, LuaMatch::kError);
  EXPECT_EQ(used, 1'000'000u);
  EXPECT_LT(took, std::chrono::seconds(2));
  EXPECT_EQ(lua_pattern_match("abc", "^abc$", 1'000'000, &used), LuaMatch::kMatch);
  EXPECT_LT(used, 20u);
}

}  // namespace
}  // namespace sb::config
