// The schema engine (Kong's plugin-schema DSL): Value, the Lua-pattern matcher, schema parsing
// and validation, checked against Kong's behaviour and messages (kong/db/schema/init.lua).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <ctime>
#include <limits>
#include <string>
#include <vector>

#include "config/checks.h"
#include "config/lua_pattern.h"
#include "config/schema.h"
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

// --- helpers -----------------------------------------------------------------------------------

struct Checked {
  bool ok = false;
  Value value;
  std::vector<SchemaError> errors;

  // "field: message" lines, in order.
  std::string text() const {
    std::string out;
    for (const auto& e : errors) out += (e.field.empty() ? "" : e.field + ": ") + e.message + "\n";
    return out;
  }
  const SchemaError* find(const std::string& field) const {
    for (const auto& e : errors)
      if (e.field == field) return &e;
    return nullptr;
  }
  std::string json() const { return value.to_json(); }
};

Checked check(const RecordSchema& r, const std::string& yaml) {
  Checked c;
  YAML::Node node = yaml.empty() ? YAML::Node() : YAML::Load(yaml);
  c.ok = r.validate(node, &c.value, &c.errors);
  return c;
}

PluginSchema plugin(const std::string& json) {
  std::string error;
  auto p = parse_plugin_schema(json, &error);
  EXPECT_TRUE(p.has_value()) << error;
  return p ? *p : PluginSchema{};
}

// A plugin schema whose config record has `fields` (JSON array text) and, optionally,
// plugin-level entity checks.
PluginSchema config(const std::string& fields, const std::string& checks = "") {
  std::string json =
      fmt::format(R"({{"name":"t","fields":[{{"config":{{"type":"record","fields":{}}}}}]{}}})",
                  fields, checks.empty() ? "" : ",\"entity_checks\":" + checks);
  return plugin(json);
}

std::string plugin_error(const std::string& json) {
  std::string error;
  auto p = parse_plugin_schema(json, &error);
  EXPECT_FALSE(p.has_value()) << json;
  return error;
}

std::string config_error(const std::string& fields, const std::string& checks = "") {
  return plugin_error(
      fmt::format(R"({{"name":"t","fields":[{{"config":{{"type":"record","fields":{}}}}}]{}}})",
                  fields, checks.empty() ? "" : ",\"entity_checks\":" + checks));
}

// Validates `yaml` against a one-field config {"f": <def>} and returns the only error message
// ("" when valid).
std::string one(const std::string& def, const std::string& yaml) {
  auto p = config(fmt::format(R"([{{"f":{}}}])", def));
  if (!p.config) return "<schema did not parse>";
  auto c = check(*p.config, yaml);
  EXPECT_LE(c.errors.size(), 1u) << c.text();
  return c.errors.empty() ? "" : c.errors[0].message;
}

// --- field types -------------------------------------------------------------------------------

TEST(SchemaTypes, ScalarsResolveAsKongDecodesThem) {
  EXPECT_EQ(one(R"({"type":"integer"})", "{f: 5}"), "");
  EXPECT_EQ(one(R"({"type":"integer"})", "{f: 5.0}"), "");
  EXPECT_EQ(one(R"({"type":"integer"})", "{f: 1.5}"), "expected an integer");
  EXPECT_EQ(one(R"({"type":"integer"})", "{f: \"5\"}"), "expected an integer");
  EXPECT_EQ(one(R"({"type":"number"})", "{f: \"5\"}"), "expected a number");
  EXPECT_EQ(one(R"({"type":"number"})", "{f: 5}"), "");
  EXPECT_EQ(one(R"({"type":"number"})", "{f: .inf}"), "expected a number");
  EXPECT_EQ(one(R"({"type":"boolean"})", "{f: \"true\"}"), "expected a boolean");
  EXPECT_EQ(one(R"({"type":"boolean"})", "{f: false}"), "");
  EXPECT_EQ(one(R"({"type":"string"})", "{f: 5}"), "expected a string");
  EXPECT_EQ(one(R"({"type":"string"})", "{f: \"5\"}"), "");
  EXPECT_EQ(one(R"({"type":"string"})", "{f: [a]}"), "expected a string");
  EXPECT_EQ(one(R"({"type":"array","elements":{"type":"string"}})", "{f: a}"), "expected an array");
  EXPECT_EQ(one(R"({"type":"set","elements":{"type":"string"}})", "{f: {a: 1}}"), "expected a set");
  EXPECT_EQ(
      one(R"({"type":"map","keys":{"type":"string"},"values":{"type":"string"}})", "{f: [a]}"),
      "expected a map");
  EXPECT_EQ(one(R"({"type":"record","fields":[]})", "{f: 3}"), "expected a record");
}

TEST(SchemaTypes, NormalizedValuesKeepTheirTypes) {
  auto p = config(R"([{"i":{"type":"integer"}},{"n":{"type":"number"}},{"s":{"type":"string"}},
                      {"b":{"type":"boolean"}},{"j":{"type":"json"}}])");
  auto c = check(*p.config, "{i: 5.0, n: 2, s: x, b: true, j: {z: [1, \"2\", null]}}");
  ASSERT_TRUE(c.ok) << c.text();
  EXPECT_EQ(c.json(), R"({"i":5,"n":2,"s":"x","b":true,"j":{"z":[1,"2",null]}})");
  EXPECT_EQ(c.value.get("i")->kind, Value::Kind::integer);
  EXPECT_EQ(c.value.get("n")->kind, Value::Kind::number);
}

TEST(SchemaTypes, ArraysSetsAndMaps) {
  auto p = config(R"([{"a":{"type":"array","elements":{"type":"integer"}}},
                      {"s":{"type":"set","elements":{"type":"string"}}},
                      {"m":{"type":"map","keys":{"type":"string"},"values":{"type":"integer"}}}])");
  auto c = check(*p.config, "{a: [1, 1, 2], s: [x, y, x, \"y\"], m: {one: 1, two: 2}}");
  ASSERT_TRUE(c.ok) << c.text();
  EXPECT_EQ(c.json(), R"({"a":[1,1,2],"s":["x","y"],"m":{"one":1,"two":2}})");

  auto bad = check(*p.config, "{a: [1, x, 2.5, ~], s: [ok, 5], m: {one: x, 7: 1}}");
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.text(),
            "a[1]: expected an integer\n"
            "a[2]: expected an integer\n"
            "a[3]: required field missing\n"
            "s[1]: expected a string\n"
            "m.one: expected an integer\n"
            "m.7: expected a string\n");
}

TEST(SchemaTypes, SetDuplicatesAreDroppedBeforeLengthChecks) {
  EXPECT_EQ(one(R"({"type":"set","elements":{"type":"string"},"len_max":2})", "{f: [a, b, a, b]}"),
            "");
  EXPECT_EQ(
      one(R"({"type":"array","elements":{"type":"string"},"len_max":2})", "{f: [a, b, a, b]}"),
      "length must be at most 2");
  EXPECT_EQ(one(R"({"type":"set","elements":{"type":"number"},"len_eq":1})", "{f: [1, 1.0]}"), "");
}

TEST(SchemaTypes, RecordsNestAndReportDottedPaths) {
  auto p = config(R"([{"redis":{"type":"record","fields":[
                        {"host":{"type":"string"}},
                        {"port":{"type":"integer","default":6379,"between":[0,65535]}}]}}])");
  auto c = check(*p.config, "redis:\n  host: h\n  port: 70000\n");
  EXPECT_EQ(c.text(), "redis.port: value should be between 0 and 65535\n");
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].pos.line, 3);
  EXPECT_EQ(c.errors[0].pos.column, 9);
  auto d = check(*p.config, "");
  EXPECT_TRUE(d.ok) << d.text();
  EXPECT_EQ(d.json(), R"({"redis":{"host":null,"port":6379}})");
}

TEST(SchemaTypes, ForeignAcceptsNameIdAndIdRecord) {
  const char* def = R"({"type":"foreign","reference":"consumers"})";
  auto p = config(fmt::format(R"([{{"c":{}}}])", def));
  auto a = check(*p.config, "{c: alice}");
  EXPECT_TRUE(a.ok);
  EXPECT_EQ(a.json(), R"({"c":"alice"})");
  auto b = check(*p.config, "{c: {id: 0b1a6b3c-49d8-4b4b-9a49-8a0c3c2e2f10}}");
  EXPECT_TRUE(b.ok) << b.text();
  EXPECT_EQ(b.json(), R"({"c":"0b1a6b3c-49d8-4b4b-9a49-8a0c3c2e2f10"})");
  EXPECT_EQ(check(*p.config, "{c: {id: nope}}").text(), "c.id: expected a valid UUID\n");
  EXPECT_EQ(check(*p.config, "{c: {name: x}}").text(), "c.id: missing primary key\n");
  EXPECT_EQ(check(*p.config, "{c: 5}").text(), "c: expected a record\n");
}

TEST(SchemaTypes, JsonFieldsTakeAnythingButNotUnboundedDepth) {
  EXPECT_EQ(one(R"({"type":"json"})", "{f: [1, {a: b}]}"), "");
  std::string deep = "{f: " + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_EQ(one(R"({"type":"json"})", deep), "value nested too deeply (limit 64)");
}

// --- presence, defaults, auto ------------------------------------------------------------------

TEST(SchemaPresence, RequiredDefaultsAndNulls) {
  auto p = config(R"([{"r":{"type":"string","required":true}},
                      {"d":{"type":"string","default":"dflt"}},
                      {"o":{"type":"integer"}},
                      {"l":{"type":"array","elements":{"type":"string"},"default":["apikey"]}}])");
  auto c = check(*p.config, "{r: x}");
  ASSERT_TRUE(c.ok) << c.text();
  EXPECT_EQ(c.json(), R"({"r":"x","d":"dflt","o":null,"l":["apikey"]})");

  // Missing: reported at the record. Explicit null: stays null and fails `required`, at the null.
  auto m = check(*p.config, "{d: ~}\n");
  EXPECT_EQ(m.text(), "r: required field missing\n");
  EXPECT_EQ(m.errors[0].pos.line, 1);
  EXPECT_EQ(m.errors[0].pos.column, 1);
  EXPECT_TRUE(m.value.get("d")->is_null());

  auto n = check(*p.config, "o: 1\nr: ~\n");
  EXPECT_EQ(n.text(), "r: required field missing\n");
  EXPECT_EQ(n.errors[0].pos.line, 2);
  EXPECT_EQ(n.errors[0].pos.column, 4);
}

TEST(SchemaPresence, RecordsAreRequiredByDefaultInPluginsUnlessDeclaredOtherwise) {
  auto p = config(R"([{"a":{"type":"record","fields":[{"x":{"type":"integer","default":1}}]}},
                      {"b":{"type":"record","required":false,"fields":[{"y":{"type":"integer"}}]}}])");
  auto c = check(*p.config, "");
  EXPECT_TRUE(c.ok) << c.text();
  EXPECT_EQ(c.json(), R"({"a":{"x":1},"b":null})");
  EXPECT_EQ(check(*p.config, "{a: ~}").text(), "a: required field missing\n");
}

TEST(SchemaPresence, EqAndNeNullApplyToAbsentFields) {
  EXPECT_EQ(one(R"({"type":"string","ne":null})", "{}"), "value must not be null");
  EXPECT_EQ(one(R"({"type":"string","ne":null,"err":"give it"})", "{}"), "give it");
  EXPECT_EQ(one(R"({"type":"string","eq":"x"})", "{}"), "value must be x");
  EXPECT_EQ(one(R"({"type":"string","eq":null})", "{f: y}"), "value must be null");
  EXPECT_EQ(one(R"({"type":"string","eq":null})", "{}"), "");
}

TEST(SchemaPresence, AutoFieldsAreGenerated) {
  std::string error;
  auto es = parse_entity_schemas(
      R"json([{"name":"things","primary_key":["id"],"fields":[
          {"id":{"type":"string","uuid":true,"auto":true}},
          {"created_at":{"type":"integer","timestamp":true,"auto":true}},
          {"key":{"type":"string","auto":true,"unique":true}}]}])json",
      &error);
  ASSERT_TRUE(es) << error;
  auto before = std::time(nullptr);
  auto c = check(*(*es)[0].record, "{}");
  ASSERT_TRUE(c.ok) << c.text();
  EXPECT_TRUE(checks::is_uuid(c.value.get("id")->s));
  EXPECT_EQ(c.value.get("id")->s[14], '4');  // v4
  EXPECT_GE(c.value.get("created_at")->i, before);
  const std::string& key = c.value.get("key")->s;
  EXPECT_EQ(key.size(), 32u);
  EXPECT_EQ(key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
            std::string::npos);
  EXPECT_NE(check(*(*es)[0].record, "{}").value.get("key")->s, key);
  // Given values are kept; a given created_at of null is regenerated like Kong does.
  auto g = check(*(*es)[0].record,
                 "{key: mine, created_at: ~, id: 0b1a6b3c-49d8-4b4b-9a49-8a0c3c2e2f10}");
  ASSERT_TRUE(g.ok) << g.text();
  EXPECT_EQ(g.value.get("key")->s, "mine");
  EXPECT_GE(g.value.get("created_at")->i, before);
  EXPECT_EQ(g.value.get("id")->s, "0b1a6b3c-49d8-4b4b-9a49-8a0c3c2e2f10");
}

TEST(SchemaPresence, UnknownFieldsAreReportedAtTheirKeys) {
  auto p = config(R"([{"a":{"type":"string"}}])");
  auto c = check(*p.config, "a: x\ncolour: red\n");
  EXPECT_EQ(c.text(), "colour: unknown field\n");
  EXPECT_EQ(c.errors[0].pos.line, 2);
  EXPECT_EQ(c.errors[0].pos.column, 1);
  EXPECT_EQ(check(*p.config, "[1]").text(), "expected a record\n");
}

TEST(SchemaPresence, FieldSchemaValidatesOnItsOwn) {
  auto p = plugin(R"({"name":"t","fields":[
      {"protocols":{"type":"set","required":true,"default":["grpc","grpcs","http","https"],
                    "elements":{"type":"string","one_of":["grpc","grpcs","http","https"]}}},
      {"config":{"type":"record","fields":[]}}]})");
  ASSERT_TRUE(p.protocols);
  Value out;
  std::vector<SchemaError> errors;
  EXPECT_TRUE(p.protocols->validate(YAML::Node(YAML::NodeType::Undefined), &out, &errors));
  EXPECT_EQ(out.to_json(), R"(["grpc","grpcs","http","https"])");
  EXPECT_FALSE(p.protocols->validate(YAML::Load("[http, tcp]"), &out, &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].field, "[1]");
  EXPECT_EQ(errors[0].message, "expected one of: grpc, grpcs, http, https");
}

// --- validators --------------------------------------------------------------------------------

TEST(SchemaValidators, EachWithKongsMessage) {
  EXPECT_EQ(one(R"({"type":"string","eq":"a"})", "{f: b}"), "value must be a");
  EXPECT_EQ(one(R"({"type":"boolean","eq":true})", "{f: false}"), "value must be true");
  EXPECT_EQ(one(R"({"type":"string","ne":"a"})", "{f: a}"), "value must not be a");
  EXPECT_EQ(one(R"({"type":"string","not_one_of":["a","b"]})", "{f: b}"),
            "must not be one of: a, b");
  EXPECT_EQ(one(R"({"type":"string","one_of":["local","redis"]})", "{f: x}"),
            "expected one of: local, redis");
  EXPECT_EQ(one(R"({"type":"integer","one_of":[1,2]})", "{f: 2}"), "");
  EXPECT_EQ(one(R"({"type":"number","gt":0})", "{f: 0}"), "value must be greater than 0");
  EXPECT_EQ(one(R"({"type":"number","gt":0.5})", "{f: 0.75}"), "");
  EXPECT_EQ(one(R"({"type":"integer","timestamp":true})", "{f: 0}"), "expected a valid timestamp");
  EXPECT_EQ(one(R"({"type":"string","uuid":true})", "{f: abc}"), "expected a valid UUID");
  EXPECT_EQ(one(R"({"type":"string","uuid":true})", "{f: 0B1A6B3C-49D8-4B4B-9A49-8A0C3C2E2F10}"),
            "");
  EXPECT_EQ(one(R"({"type":"string","is_regex":true})", "{f: \"(a\"}"), "not a valid regex: (a");
  EXPECT_EQ(one(R"({"type":"string","is_regex":true})", "{f: \"^/(?<x>\\\\d+)$\"}"), "");
  EXPECT_EQ(one(R"({"type":"integer","between":[0,65535]})", "{f: -1}"),
            "value should be between 0 and 65535");
  EXPECT_EQ(one(R"({"type":"string","len_eq":2})", "{f: abc}"), "length must be 2");
  EXPECT_EQ(one(R"({"type":"string","len_min":3})", "{f: ab}"), "length must be at least 3");
  EXPECT_EQ(one(R"({"type":"string","len_max":2})", "{f: abc}"), "length must be at most 2");
  EXPECT_EQ(one(R"({"type":"map","keys":{"type":"string"},"values":{"type":"string"},"len_max":1})",
                "{f: {a: b, c: d}}"),
            "length must be at most 1");
  EXPECT_EQ(one(R"({"type":"string","starts_with":"/"})", "{f: x}"), "should start with: /");
  EXPECT_EQ(one(R"({"type":"string","not_match":"^%d"})", "{f: 1a}"), "invalid value: 1a");
  EXPECT_EQ(
      one(R"({"type":"string","match_none":[{"pattern":"//","err":"must not have empty segments"}]})",
          "{f: /a//b}"),
      "must not have empty segments");
  EXPECT_EQ(one(R"({"type":"string","match":"^%u+$"})", "{f: get}"), "invalid value: get");
  EXPECT_EQ(one(R"({"type":"string","match_all":[{"pattern":"a"},{"pattern":"b","err":"no b"}]})",
                "{f: a}"),
            "no b");
  EXPECT_EQ(one(R"({"type":"string","match_all":[{"pattern":"a"}]})", "{f: x}"),
            "invalid value: x");
  EXPECT_EQ(
      one(R"({"type":"string","match_any":{"patterns":["^a","^b"],"err":"a or b"}})", "{f: c}"),
      "a or b");
  EXPECT_EQ(one(R"({"type":"string","match_any":{"patterns":["^a","^b"]}})", "{f: bc}"), "");
  EXPECT_EQ(one(R"({"type":"array","elements":{"type":"string"},"contains":"x"})", "{f: [a]}"),
            "expected to contain: x");
  EXPECT_EQ(one(R"({"type":"set","elements":{"type":"string"},
                    "mutually_exclusive_subsets":[["a","b"],["c"]]})",
                "{f: [c, a]}"),
            "these sets are mutually exclusive: ('c'), ('a', 'b')");
  EXPECT_EQ(one(R"({"type":"set","elements":{"type":"string"},
                    "mutually_exclusive_subsets":[["a","b"],["c"]]})",
                "{f: [a, b, d]}"),
            "");
}

TEST(SchemaValidators, StringsAreNonEmptyUnlessLenMinSaysOtherwise) {
  EXPECT_EQ(one(R"({"type":"string"})", "{f: \"\"}"), "length must be at least 1");
  EXPECT_EQ(one(R"({"type":"string","len_min":0})", "{f: \"\"}"), "");
}

TEST(SchemaValidators, AppliedInKongsOrderFirstFailureWinsErrOverrides) {
  // one_of runs before len_max; eq before everything.
  EXPECT_EQ(one(R"({"type":"string","one_of":["ab"],"len_max":1})", "{f: xyz}"),
            "expected one of: ab");
  EXPECT_EQ(one(R"({"type":"string","eq":"q","one_of":["ab"]})", "{f: xyz}"), "value must be q");
  EXPECT_EQ(one(R"({"type":"string","starts_with":"/","match":"^/x"})", "{f: y}"),
            "should start with: /");
  EXPECT_EQ(one(R"({"type":"string","len_max":1,"err":"custom"})", "{f: xyz}"), "custom");
  // `err` does not replace type errors.
  EXPECT_EQ(one(R"({"type":"string","len_max":1,"err":"custom"})", "{f: 5}"), "expected a string");
}

TEST(SchemaValidators, ReferenceableStringsSkipValidatorsForVaultReferences) {
  EXPECT_EQ(
      one(R"({"type":"string","referenceable":true,"len_max":3})", "{f: \"{vault://env/x}\"}"), "");
  EXPECT_EQ(one(R"({"type":"string","len_max":3})", "{f: \"{vault://env/x}\"}"),
            "length must be at most 3");
}

TEST(SchemaValidators, ElementErrorsSkipArrayValidators) {
  auto p =
      config(R"([{"f":{"type":"array","len_min":5,"elements":{"type":"string","one_of":["a"]}}}])");
  EXPECT_EQ(check(*p.config, "{f: [a, b]}").text(), "f[1]: expected one of: a\n");
  EXPECT_EQ(check(*p.config, "{f: [a, a]}").text(), "f: length must be at least 5\n");
}

// --- entity checks -----------------------------------------------------------------------------

TEST(SchemaEntityChecks, PluginLevelAtLeastOneOfNamesFieldsAsWritten) {
  auto p = config(R"([{"second":{"type":"number","gt":0}},{"minute":{"type":"number","gt":0}}])",
                  R"([{"at_least_one_of":["config.second","config.minute"]}])");
  auto c = check(*p.config, "{}");
  EXPECT_EQ(c.text(),
            "at least one of these fields must be non-empty: 'config.second', 'config.minute'\n");
  EXPECT_TRUE(check(*p.config, "{minute: 5}").ok);
  // Field errors do not stop this check (run_with_invalid_fields).
  EXPECT_EQ(check(*p.config, "{second: x}").text(),
            "second: expected a number\n"
            "at least one of these fields must be non-empty: 'config.second', 'config.minute'\n");
}

TEST(SchemaEntityChecks, RecordLevelChecksUseRecordRelativeNames) {
  auto p = config(R"([{"a":{"type":"string"}},{"b":{"type":"string"}},{"c":{"type":"string"}},
                      {"n":{"type":"record","fields":[{"x":{"type":"string"}},{"y":{"type":"string"}}],
                            "entity_checks":[{"only_one_of":["x","y"]}]}}])");
  auto c = check(*p.config, "{n: {x: 1a, y: 2b}}");
  EXPECT_EQ(c.text(), "n: exactly one of these fields must be non-empty: 'x', 'y'\n");
  EXPECT_TRUE(check(*p.config, "{n: {x: 1a}}").ok);
  EXPECT_EQ(check(*p.config, "{n: {}}").text(),
            "n: exactly one of these fields must be non-empty: 'x', 'y'\n");
}

TEST(SchemaEntityChecks, ListChecks) {
  const char* fields =
      R"([{"a":{"type":"string"}},{"b":{"type":"string"}},{"c":{"type":"string"}}])";
  auto distinct = config(fields, R"([{"distinct":["config.a","config.b"]}])");
  EXPECT_EQ(check(*distinct.config, "{a: x, b: x}").text(),
            "values of these fields must be distinct: 'config.a', 'config.b'\n");
  EXPECT_TRUE(check(*distinct.config, "{a: x, b: y}").ok);
  EXPECT_TRUE(check(*distinct.config, "{}").ok);

  auto req = config(fields, R"([{"mutually_required":["config.a","config.b"]}])");
  EXPECT_EQ(check(*req.config, "{a: x}").text(),
            "all or none of these fields must be set: 'config.a', 'config.b'\n");
  EXPECT_TRUE(check(*req.config, "{}").ok);
  EXPECT_TRUE(check(*req.config, "{a: x, b: y}").ok);

  auto excl = config(fields, R"([{"mutually_exclusive":["config.a","config.b","config.c"]}])");
  EXPECT_EQ(check(*excl.config, "{a: x, c: y}").text(),
            "only one or none of these fields must be set: 'config.a', 'config.b', 'config.c'\n");
  EXPECT_TRUE(check(*excl.config, "{b: x}").ok);

  auto sets = config(
      fields,
      R"([{"mutually_exclusive_sets":{"set1":["config.a"],"set2":["config.b","config.c"]}}])");
  EXPECT_EQ(check(*sets.config, "{a: x, c: y}").text(),
            "these sets are mutually exclusive: ('config.a'), ('config.c')\n");
  EXPECT_TRUE(check(*sets.config, "{b: x, c: y}").ok);
}

TEST(SchemaEntityChecks, OnlyOneOfNeedsItsFieldsPresent) {
  // A required field left absent is nil to the check: "field required for entity check".
  auto p = config(R"([{"a":{"type":"string","required":true}},{"b":{"type":"string"}}])",
                  R"([{"only_one_of":["config.a","config.b"]}])");
  auto c = check(*p.config, "{b: x}");
  EXPECT_EQ(c.text(), "a: field required for entity check\n");
}

TEST(SchemaEntityChecks, InvalidFieldsSuppressChecksThatDoNotRunWithThem) {
  auto p = config(R"([{"a":{"type":"string"}},{"b":{"type":"string"}},
                      {"n":{"type":"record","fields":[{"x":{"type":"integer"}},{"y":{"type":"integer"}}],
                            "entity_checks":[{"mutually_required":["x","y"]}]}}])");
  EXPECT_EQ(check(*p.config, "{n: {x: a}}").text(), "n.x: expected an integer\n");
  EXPECT_EQ(check(*p.config, "{n: {x: 1}}").text(),
            "n: all or none of these fields must be set: 'x', 'y'\n");
}

TEST(SchemaEntityChecks, ConditionalRequiredAndThenMatch) {
  auto p = config(
      R"([{"policy":{"type":"string","default":"local","one_of":["local","redis"]}},
          {"redis":{"type":"record","fields":[{"host":{"type":"string"}},
                                              {"port":{"type":"integer","default":6379}}]}},
          {"flag":{"type":"boolean","default":false}}])",
      R"json([{"conditional":{"if_field":"config.policy","if_match":{"eq":"redis"},
                              "then_field":"config.redis.host","then_match":{"required":true}}},
              {"conditional":{"if_field":"config.policy","if_match":{"eq":"redis"},
                              "then_field":"config.flag","then_match":{"eq":true},
                              "then_err":"redis needs the flag (given %s)"}}])json");
  auto c = check(*p.config, "policy: redis\nflag: true\n");
  EXPECT_EQ(c.text(),
            "redis.host: required field missing\n"
            "failed conditional validation given value of field 'config.policy'\n");
  EXPECT_TRUE(check(*p.config, "{policy: redis, flag: true, redis: {host: h}}").ok);
  EXPECT_TRUE(check(*p.config, "{}").ok);
  auto f = check(*p.config, "policy: redis\nredis: {host: h}\nflag: false\n");
  EXPECT_EQ(f.text(),
            "flag: value must be true\n"
            "redis needs the flag (given config.policy)\n");
  ASSERT_NE(f.find("flag"), nullptr);
  EXPECT_EQ(f.find("flag")->pos.line, 3);
}

TEST(SchemaEntityChecks, ConditionalMatchInheritsTheFieldDefinition) {
  // then_match {eq: 3} is laid over the field's own definition (Kong's __index), so its one_of
  // still applies; if_match {match} applies to the string field it names.
  auto p = config(R"([{"mode":{"type":"string"}},
                      {"size":{"type":"integer","one_of":[1,2,3]}}])",
                  R"([{"conditional":{"if_field":"config.mode","if_match":{"match":"^big"},
                                      "then_field":"config.size","then_match":{"eq":3}}}])");
  EXPECT_EQ(check(*p.config, "{mode: bigger, size: 2}").text(),
            "size: value must be 3\n"
            "failed conditional validation given value of field 'config.mode'\n");
  EXPECT_TRUE(check(*p.config, "{mode: small, size: 2}").ok);
  EXPECT_TRUE(check(*p.config, "{mode: big, size: 3}").ok);
}

TEST(SchemaEntityChecks, ConditionalAtLeastOneOfWithElse) {
  auto p = config(R"([{"kind":{"type":"string"}},{"a":{"type":"string"}},{"b":{"type":"string"}}])",
                  R"([{"conditional_at_least_one_of":{
                        "if_field":"config.kind","if_match":{"one_of":["x"]},
                        "then_at_least_one_of":["config.a"],
                        "else_match":{"one_of":["y"]},
                        "else_then_at_least_one_of":["config.b"],
                        "else_then_err":"kind y needs %s"}}])");
  EXPECT_EQ(check(*p.config, "{kind: x}").text(),
            "at least one of these fields must be non-empty: 'config.a'\n");
  EXPECT_TRUE(check(*p.config, "{kind: x, a: q}").ok);
  EXPECT_EQ(check(*p.config, "{kind: y}").text(), "kind y needs 'config.b'\n");
  EXPECT_TRUE(check(*p.config, "{kind: z}").ok);
  // Kong quirk kept: a null if_field passes if_match (validate_field accepts null), so the
  // "then" branch applies.
  EXPECT_EQ(check(*p.config, "{}").text(),
            "at least one of these fields must be non-empty: 'config.a'\n");
}

// --- shorthand fields --------------------------------------------------------------------------

const char* kRedisFields = R"([
  {"policy":{"type":"string","default":"local","len_min":0,"one_of":["local","redis"]}},
  {"redis":{"type":"record","fields":[
     {"host":{"type":"string"}},
     {"port":{"type":"integer","default":6379,"between":[0,65535]}}]}}])";

TEST(SchemaShorthands, DeprecatedShorthandMapsToItsReplacement) {
  auto p = plugin(fmt::format(R"json({{"name":"t","fields":[{{"config":{{"type":"record",
      "fields":{},
      "shorthand_fields":[
        {{"redis_host":{{"type":"string","deprecation":{{"message":"use config.redis.host",
           "removal_in_version":"4.0","replaced_with":[{{"path":["redis","host"]}}]}}}}}},
        {{"redis_port":{{"type":"integer","deprecation":{{"message":"use config.redis.port",
           "removal_in_version":"4.0","replaced_with":[{{"path":["redis","port"]}}]}}}}}}]}}}}]}})json",
                              kRedisFields));
  ASSERT_TRUE(p.config);
  auto c = check(*p.config, "{redis_host: h1, redis_port: 7000}");
  ASSERT_TRUE(c.ok) << c.text();
  EXPECT_EQ(c.json(), R"({"policy":"local","redis":{"host":"h1","port":7000}})");
  // The real field wins when both are set and agree; a mismatch is an error.
  EXPECT_TRUE(check(*p.config, "{redis_host: h1, redis: {host: h1}}").ok);
  EXPECT_EQ(check(*p.config, "{redis_host: h1, redis: {host: h2}}").text(),
            "redis_host: both deprecated and new field are used but their values mismatch: "
            "redis_host = h1 vs redis.host = h2\n");
  // The shorthand's own type is checked, and the target's validators still apply.
  EXPECT_EQ(check(*p.config, "{redis_port: x}").text(), "redis_port: expected an integer\n");
  auto range = check(*p.config, "redis_port: 70000\n");
  EXPECT_EQ(range.text(), "redis.port: value should be between 0 and 65535\n");
  EXPECT_EQ(range.errors[0].pos.line, 1);
  EXPECT_EQ(range.errors[0].pos.column, 13);
}

TEST(SchemaShorthands, TranslateBackwardsWithoutDeprecationOverrides) {
  auto p = plugin(R"json({"name":"t","fields":[{"config":{"type":"record",
      "fields":[{"a":{"type":"record","fields":[{"b":{"type":"string"}}]}}],
      "shorthand_fields":[{"old_b":{"type":"string","translate_backwards":["a","b"]}}]}}]})json");
  ASSERT_TRUE(p.config);
  auto c = check(*p.config, "{old_b: new, a: {b: old}}");
  ASSERT_TRUE(c.ok) << c.text();
  EXPECT_EQ(c.json(), R"({"a":{"b":"new"}})");
}

// --- errors, limits --------------------------------------------------------------------------

TEST(SchemaErrors, AllErrorsWithPathsAndPositions) {
  auto p = config(R"([{"key_names":{"type":"array","required":true,"default":["apikey"],
                        "elements":{"type":"string","match":"^[%w%-_]+$"}}},
                      {"hide":{"type":"boolean"}},
                      {"n":{"type":"record","fields":[{"port":{"type":"integer"}}]}}])");
  auto c =
      check(*p.config,
            "key_names:\n  - ok\n  - fine\n  - \"bad name\"\nhide: 1\nn:\n  port: x\nzzz: 1\n");
  EXPECT_FALSE(c.ok);
  ASSERT_EQ(c.errors.size(), 4u) << c.text();
  const SchemaError* kn = c.find("key_names[2]");
  ASSERT_NE(kn, nullptr) << c.text();
  EXPECT_EQ(kn->message, "invalid value: bad name");
  EXPECT_EQ(kn->pos.line, 4);
  EXPECT_EQ(kn->pos.column, 5);
  ASSERT_NE(c.find("hide"), nullptr);
  EXPECT_EQ(c.find("hide")->message, "expected a boolean");
  ASSERT_NE(c.find("n.port"), nullptr);
  EXPECT_EQ(c.find("n.port")->pos.line, 7);
  ASSERT_NE(c.find("zzz"), nullptr);
  EXPECT_EQ(c.find("zzz")->message, "unknown field");
}

TEST(SchemaErrors, HugeInputsStayFastAndErrorsAreCapped) {
  auto p = config(R"([{"l":{"type":"array","elements":{"type":"string","match":"^%a+$"}}}])");
  std::string yaml = "l: [";
  for (int k = 0; k < 50000; ++k) yaml += k ? ", 1" : "1";
  yaml += "]";
  auto start = std::chrono::steady_clock::now();
  auto c = check(*p.config, yaml);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.errors.size(), 1001u);
  EXPECT_EQ(c.errors.back().message, "too many errors (stopped after 1000)");
}

TEST(SchemaErrors, ManyPatternMatchesDoNotExhaustTheBudget) {
  auto p = config(R"([{"l":{"type":"array","elements":{"type":"string","match":"^[^:]+:.*$"}}}])");
  std::string yaml = "l: [";
  for (int k = 0; k < 20000; ++k)
    yaml += fmt::format("{}\"x-header-{}:value-{}\"", k ? ", " : "", k, k);
  yaml += "]";
  auto c = check(*p.config, yaml);
  EXPECT_TRUE(c.ok) << c.text().substr(0, 200);
  EXPECT_EQ(c.value.get("l")->items.size(), 20000u);
}

TEST(SchemaErrors, PathologicalPatternFailsValidationInsteadOfHanging) {
  auto p = config(R"([{"f":{"type":"string","match":"^a*a*a*a*a*a*b"}}])");
  auto c = check(*p.config, "f: " + std::string(3000, 'a'));
  EXPECT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].message.substr(0, 16), "invalid value: a");
}

TEST(SchemaErrors, DeepInputIsCutOff) {
  auto p = config(R"([{"j":{"type":"json"}},{"a":{"type":"array","elements":{"type":"json"}}}])");
  // yaml-cpp itself refuses about 500 levels; 300 is well past our limit of 64.
  std::string deep = std::string(300, '[') + std::string(300, ']');
  YAML::Node node = YAML::Load("{j: " + deep + ", a: [1, " + deep + "]}");
  Value out;
  std::vector<SchemaError> errors;
  EXPECT_FALSE(p.config->validate(node, &out, &errors));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].field, "j");
  EXPECT_EQ(errors[0].message, "value nested too deeply (limit 64)");
  EXPECT_EQ(errors[1].field, "a[1]");
}

// --- schema parsing ----------------------------------------------------------------------------

TEST(SchemaParse, RejectsWhatJsonCannotExpress) {
  EXPECT_NE(
      config_error(R"([{"f":{"type":"function"}}])").find("type 'function' is a Lua function"),
      std::string::npos);
  EXPECT_NE(config_error(R"([{"f":{"type":"string","custom_validator":"x"}}])")
                .find("'custom_validator' is a Lua function"),
            std::string::npos);
  EXPECT_NE(config_error(R"([{"f":{"type":"string"}}])",
                         R"([{"custom_entity_check":{"field_sources":["config.f"]}}])")
                .find("custom_entity_check is a Lua function"),
            std::string::npos);
  EXPECT_NE(plugin_error(R"({"name":"t","fields":[{"config":{"type":"record","fields":[
               {"a":{"type":"string"}}],"shorthand_fields":[{"s":{"type":"string"}}]}}]})")
                .find("needs 'deprecation.replaced_with' or 'translate_backwards'"),
            std::string::npos);
}

TEST(SchemaParse, MetaschemaRules) {
  EXPECT_EQ(config_error(R"([{"f":{"type":"array"}}])"),
            "schema of plugin 't' is invalid: config.f: field of type 'array' must declare "
            "'elements'");
  EXPECT_EQ(config_error(R"([{"f":{"type":"string","between":[1,2]}}])"),
            "schema of plugin 't' is invalid: config.f: field of type 'string' cannot have "
            "attribute 'between'");
  EXPECT_EQ(config_error(R"([{"f":{"required":true}}])"),
            "schema of plugin 't' is invalid: config.f: missing type declaration");
  EXPECT_EQ(config_error(R"([{"f":{"type":"strin"}}])"),
            "schema of plugin 't' is invalid: config.f: type: expected one of: array, boolean, "
            "foreign, integer, json, map, number, record, set, string");
  EXPECT_EQ(config_error(R"([{"f":{"type":"string","colour":1}}])"),
            "schema of plugin 't' is invalid: config.f: colour: unknown field");
  EXPECT_EQ(config_error(R"([{"f":{"type":"string","match":"[a"}}])"),
            "schema of plugin 't' is invalid: config.f: match: invalid Lua pattern '[a': "
            "malformed pattern (missing ']')");
  EXPECT_EQ(config_error(R"([{"f":{"type":"integer","default":"x"}}])"),
            "schema of plugin 't' is invalid: config.f: default: expected an integer");
  EXPECT_EQ(config_error(R"([{"f":{"type":"string"}},{"f":{"type":"string"}}])"),
            "schema of plugin 't' is invalid: config.f: duplicate field name");
  EXPECT_EQ(config_error(R"([{"f":{"type":"string"}}])", R"([{"at_least_one_of":["config.g"]}])"),
            "schema of plugin 't' is invalid: entity_checks[0]: entity check refers to an unknown "
            "field: 'config.g'");
  EXPECT_EQ(config_error(R"([{"f":{"type":"string"}}])", R"([{"at_least_one_of":["protocols"]}])"),
            "schema of plugin 't' is invalid: entity_checks[0]: entity check field 'protocols': "
            "only fields under 'config.' are supported");
  EXPECT_EQ(plugin_error("{not json").substr(0, 13), "invalid JSON:");
  EXPECT_EQ(plugin_error(R"({"name":"t","fields":[{"config":{"type":"record","fields":[]}},
                                                  {"colour":{"type":"string"}}]})"),
            "schema of plugin 't' is invalid: error in definition of 't': colour: cannot create a "
            "new field");
}

TEST(SchemaParse, SchemaDepthIsCapped) {
  std::string def = R"({"type":"string"})";
  for (int k = 0; k < 80; ++k) def = R"({"type":"array","elements":)" + def + "}";
  EXPECT_NE(config_error("[{\"f\":" + def + "}]").find("schema nested too deeply (limit 64)"),
            std::string::npos);
}

TEST(SchemaParse, NoConsumerRouteServiceFlags) {
  auto p = plugin(R"({"name":"t","fields":[
      {"consumer":{"type":"foreign","reference":"consumers","eq":null}},
      {"route":{"type":"foreign","reference":"routes"}},
      {"config":{"type":"record","fields":[]}}]})");
  EXPECT_TRUE(p.no_consumer);
  EXPECT_FALSE(p.no_route);
  EXPECT_FALSE(p.no_service);
  EXPECT_EQ(p.name, "t");
  EXPECT_EQ(p.protocols, nullptr);
  EXPECT_NE(p.json.find("\"consumers\""), std::string::npos);
}

// --- real Kong schemas, written as JSON --------------------------------------------------------

// kong/plugins/key-auth/schema.lua (typedefs expanded; header_name's custom validator as a
// pattern).
const char* kKeyAuth = R"json({
  "name": "key-auth",
  "fields": [
    {"consumer": {"type": "foreign", "reference": "consumers", "eq": null}},
    {"protocols": {"type": "set", "required": true, "default": ["grpc", "grpcs", "http", "https"],
                   "elements": {"type": "string", "one_of": ["grpc", "grpcs", "http", "https"]}}},
    {"config": {"type": "record", "fields": [
      {"key_names": {"type": "array", "required": true, "default": ["apikey"],
                     "elements": {"type": "string", "match": "^[%w%-_]+$",
                                  "err": "bad header name, allowed characters are A-Z, a-z, 0-9, '_', and '-'"},
                     "description": "Describes an array of parameter names where the plugin will look for a key."}},
      {"hide_credentials": {"type": "boolean", "required": true, "default": false}},
      {"anonymous": {"type": "string"}},
      {"key_in_header": {"type": "boolean", "required": true, "default": true}},
      {"key_in_query": {"type": "boolean", "required": true, "default": true}},
      {"key_in_body": {"type": "boolean", "required": true, "default": false}},
      {"run_on_preflight": {"type": "boolean", "required": true, "default": true}},
      {"realm": {"type": "string", "required": false}}
    ]}}
  ]
})json";

// kong/plugins/key-auth/daos.lua
const char* kKeyAuthDaos = R"json([{
  "ttl": true,
  "primary_key": ["id"],
  "name": "keyauth_credentials",
  "endpoint_key": "key",
  "cache_key": ["key"],
  "workspaceable": true,
  "admin_api_name": "key-auths",
  "admin_api_nested_name": "key-auth",
  "fields": [
    {"id": {"type": "string", "uuid": true, "auto": true}},
    {"created_at": {"type": "integer", "timestamp": true, "auto": true}},
    {"consumer": {"type": "foreign", "reference": "consumers", "required": true, "on_delete": "cascade"}},
    {"key": {"type": "string", "required": false, "unique": true, "auto": true}},
    {"tags": {"type": "set", "elements": {"type": "string", "required": true}}}
  ]
}])json";

// kong/plugins/rate-limiting/schema.lua (DB-less policy list; redis record from
// kong/tools/redis/schema.lua; the periods-order custom_validator is omitted).
const char* kRateLimiting = R"json({
  "name": "rate-limiting",
  "fields": [
    {"protocols": {"type": "set", "required": true, "default": ["grpc", "grpcs", "http", "https"],
                   "elements": {"type": "string", "one_of": ["grpc", "grpcs", "http", "https"]}}},
    {"config": {"type": "record",
      "fields": [
        {"second": {"type": "number", "gt": 0}},
        {"minute": {"type": "number", "gt": 0}},
        {"hour": {"type": "number", "gt": 0}},
        {"day": {"type": "number", "gt": 0}},
        {"month": {"type": "number", "gt": 0}},
        {"year": {"type": "number", "gt": 0}},
        {"limit_by": {"type": "string", "default": "consumer",
                      "one_of": ["consumer", "credential", "ip", "service", "header", "path"]}},
        {"header_name": {"type": "string", "match": "^[%w%-_]+$"}},
        {"path": {"type": "string", "starts_with": "/",
                  "match_none": [{"pattern": "//", "err": "must not have empty segments"}]}},
        {"policy": {"type": "string", "default": "local", "len_min": 0, "one_of": ["local", "redis"]}},
        {"fault_tolerant": {"type": "boolean", "required": true, "default": true}},
        {"redis": {"type": "record", "description": "Redis configuration", "fields": [
          {"host": {"type": "string"}},
          {"port": {"type": "integer", "between": [0, 65535], "default": 6379}},
          {"timeout": {"type": "integer", "between": [0, 2147483646], "default": 2000}},
          {"username": {"type": "string", "referenceable": true}},
          {"password": {"type": "string", "encrypted": true, "referenceable": true, "len_min": 0}},
          {"database": {"type": "integer", "default": 0}},
          {"ssl": {"type": "boolean", "required": false, "default": false}},
          {"ssl_verify": {"type": "boolean", "required": false, "default": false}},
          {"server_name": {"type": "string", "required": false}}
        ]}},
        {"hide_client_headers": {"type": "boolean", "required": true, "default": false}},
        {"error_code": {"type": "number", "default": 429, "gt": 0}},
        {"error_message": {"type": "string", "default": "API rate limit exceeded"}},
        {"sync_rate": {"type": "number", "required": true, "default": -1}}
      ],
      "shorthand_fields": [
        {"redis_host": {"type": "string", "deprecation": {
          "replaced_with": [{"path": ["redis", "host"]}],
          "message": "rate-limiting: config.redis_host is deprecated, please use config.redis.host instead",
          "removal_in_version": "4.0"}}},
        {"redis_port": {"type": "integer", "deprecation": {
          "replaced_with": [{"path": ["redis", "port"]}],
          "message": "rate-limiting: config.redis_port is deprecated, please use config.redis.port instead",
          "removal_in_version": "4.0"}}},
        {"redis_timeout": {"type": "integer", "deprecation": {
          "replaced_with": [{"path": ["redis", "timeout"]}],
          "message": "rate-limiting: config.redis_timeout is deprecated, please use config.redis.timeout instead",
          "removal_in_version": "4.0"}}}
      ]}}
  ],
  "entity_checks": [
    {"at_least_one_of": ["config.second", "config.minute", "config.hour", "config.day", "config.month", "config.year"]},
    {"conditional": {"if_field": "config.policy", "if_match": {"eq": "redis"},
                     "then_field": "config.redis.host", "then_match": {"required": true}}},
    {"conditional": {"if_field": "config.policy", "if_match": {"eq": "redis"},
                     "then_field": "config.redis.port", "then_match": {"required": true}}},
    {"conditional": {"if_field": "config.policy", "if_match": {"eq": "redis"},
                     "then_field": "config.redis.timeout", "then_match": {"required": true}}},
    {"conditional": {"if_field": "config.limit_by", "if_match": {"eq": "header"},
                     "then_field": "config.header_name", "then_match": {"required": true}}},
    {"conditional": {"if_field": "config.limit_by", "if_match": {"eq": "path"},
                     "then_field": "config.path", "then_match": {"required": true}}}
  ]
})json";

// kong/plugins/request-transformer/schema.lua (custom validators of header names/values omitted;
// the colon patterns kept).
const char* kRequestTransformer = R"json({
  "name": "request-transformer",
  "fields": [
    {"protocols": {"type": "set", "required": true,
                   "default": ["grpc", "grpcs", "http", "https"],
                   "elements": {"type": "string", "one_of": ["grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp", "ws", "wss"]}}},
    {"config": {"type": "record", "fields": [
      {"http_method": {"type": "string", "match": "^%u+$"}},
      {"remove": {"type": "record", "fields": [
        {"body": {"type": "array", "default": [], "required": true, "elements": {"type": "string"}}},
        {"headers": {"type": "array", "default": [], "required": true, "elements": {"type": "string"}}},
        {"querystring": {"type": "array", "default": [], "required": true, "elements": {"type": "string"}}}]}},
      {"rename": {"type": "record", "fields": [
        {"body": {"type": "array", "default": [], "required": true, "elements": {"type": "string"}}},
        {"headers": {"type": "array", "default": [], "required": true, "elements": {"type": "string", "match": "^[^:]+:.*$"}}},
        {"querystring": {"type": "array", "default": [], "required": true, "elements": {"type": "string"}}}]}},
      {"replace": {"type": "record", "fields": [
        {"body": {"type": "array", "default": [], "required": true, "elements": {"type": "string"}}},
        {"headers": {"type": "array", "default": [], "required": true, "elements": {"type": "string", "match": "^[^:]+:.*$"}}},
        {"querystring": {"type": "array", "default": [], "required": true, "elements": {"type": "string"}}},
        {"uri": {"type": "string"}}]}},
      {"add": {"type": "record", "fields": [
        {"body": {"type": "array", "default": [], "required": true, "elements": {"type": "string"}}},
        {"headers": {"type": "array", "default": [], "required": true, "elements": {"type": "string", "match": "^[^:]+:.*$"}}},
        {"querystring": {"type": "array", "default": [], "required": true, "elements": {"type": "string"}}}]}},
      {"append": {"type": "record", "fields": [
        {"body": {"type": "array", "default": [], "required": true, "elements": {"type": "string"}}},
        {"headers": {"type": "array", "default": [], "required": true, "elements": {"type": "string", "match": "^[^:]+:.*$"}}},
        {"querystring": {"type": "array", "default": [], "required": true, "elements": {"type": "string"}}}]}}
    ]}}
  ]
})json";

TEST(SchemaKong, KeyAuthDefaultsAsKongStoresThem) {
  auto p = plugin(kKeyAuth);
  EXPECT_EQ(p.name, "key-auth");
  EXPECT_TRUE(p.no_consumer);
  ASSERT_TRUE(p.config);
  auto c = check(*p.config, "");
  ASSERT_TRUE(c.ok) << c.text();
  EXPECT_EQ(c.json(), R"({"key_names":["apikey"],"hide_credentials":false,"anonymous":null,)"
                      R"("key_in_header":true,"key_in_query":true,"key_in_body":false,)"
                      R"("run_on_preflight":true,"realm":null})");
  auto bad = check(*p.config, "key_names: [apikey, \"x y\"]\nhide_credentials: yes\n");
  EXPECT_EQ(bad.text(),
            "key_names[1]: bad header name, allowed characters are A-Z, a-z, 0-9, '_', and '-'\n"
            "hide_credentials: expected a boolean\n");
  EXPECT_EQ(check(*p.config, "key_names: []").text(), "");  // Kong accepts an empty list
}

TEST(SchemaKong, KeyAuthCredentialsEntity) {
  std::string error;
  auto es = parse_entity_schemas(kKeyAuthDaos, &error);
  ASSERT_TRUE(es) << error;
  ASSERT_EQ(es->size(), 1u);
  const EntitySchema& e = (*es)[0];
  EXPECT_EQ(e.name, "keyauth_credentials");
  EXPECT_EQ(e.primary_key, std::vector<std::string>{"id"});
  EXPECT_EQ(e.cache_key, std::vector<std::string>{"key"});
  EXPECT_EQ(e.endpoint_key, "key");
  EXPECT_EQ(e.unique_fields, std::vector<std::string>{"key"});
  ASSERT_EQ(e.foreign.size(), 1u);
  EXPECT_EQ(e.foreign[0], (std::pair<std::string, std::string>{"consumer", "consumers"}));
  EXPECT_EQ(e.record->foreign_fields(), std::vector<std::string>{"consumer"});
  EXPECT_TRUE(e.ttl);
  EXPECT_EQ(e.json.rfind(R"({"ttl":true,"primary_key":["id"],)", 0), 0u);

  auto c = check(*e.record, "{consumer: alice, key: secret, ttl: 30, tags: [a, a, b]}");
  ASSERT_TRUE(c.ok) << c.text();
  EXPECT_EQ(c.value.get("consumer")->s, "alice");
  EXPECT_EQ(c.value.get("key")->s, "secret");
  EXPECT_EQ(c.value.get("ttl")->i, 30);
  EXPECT_EQ(c.value.get("tags")->to_json(), R"(["a","b"])");
  EXPECT_EQ(check(*e.record, "{key: k}").text(), "consumer: required field missing\n");
  auto generated = check(*e.record, "{consumer: {id: 0b1a6b3c-49d8-4b4b-9a49-8a0c3c2e2f10}}");
  ASSERT_TRUE(generated.ok) << generated.text();
  EXPECT_EQ(generated.value.get("key")->s.size(), 32u);
}

TEST(SchemaKong, EntityMetaschemaRules) {
  std::string error;
  EXPECT_FALSE(parse_entity_schemas(R"json([{"name":"x","primary_key":["id"],"cache_key":["k"],
      "fields":[{"id":{"type":"string"}},{"k":{"type":"string"}}]}])json",
                                    &error));
  EXPECT_EQ(error,
            "schema of custom entity 'x' is invalid: cache_key: a field used as a single cache key "
            "must be unique");
  EXPECT_FALSE(parse_entity_schemas(R"json([{"name":"x","primary_key":["id"],
      "fields":[{"id":{"type":"string"}},{"o":{"type":"foreign","reference":"owners"}}]}])json",
                                    &error));
  EXPECT_EQ(error,
            "schema of custom entity 'x' is invalid: o: schema refers to an invalid foreign "
            "entity: owners");
  EXPECT_FALSE(parse_entity_schemas(R"json([{"name":"x","primary_key":["id"],"ttl":true,
      "fields":[{"id":{"type":"string"}},{"ttl":{"type":"integer"}}]}])json",
                                    &error));
  EXPECT_EQ(error,
            "schema of custom entity 'x' is invalid: ttl: ttl is a reserved field name when ttl is "
            "enabled");
  // Entities in the same declaration may reference each other.
  EXPECT_TRUE(parse_entity_schemas(R"json([{"name":"owners","primary_key":["id"],
      "fields":[{"id":{"type":"string"}}]},
      {"name":"pets","primary_key":["id"],
      "fields":[{"id":{"type":"string"}},{"o":{"type":"foreign","reference":"owners"}}]}])json",
                                   &error))
      << error;
}

TEST(SchemaKong, RateLimiting) {
  auto p = plugin(kRateLimiting);
  ASSERT_TRUE(p.config);
  auto none = check(*p.config, "{}");
  EXPECT_EQ(none.text(),
            "at least one of these fields must be non-empty: 'config.second', 'config.minute', "
            "'config.hour', 'config.day', 'config.month', 'config.year'\n");

  auto ok = check(*p.config, "{minute: 5}");
  ASSERT_TRUE(ok.ok) << ok.text();
  EXPECT_EQ(ok.json(),
            R"({"second":null,"minute":5,"hour":null,"day":null,"month":null,"year":null,)"
            R"("limit_by":"consumer","header_name":null,"path":null,"policy":"local",)"
            R"("fault_tolerant":true,"redis":{"host":null,"port":6379,"timeout":2000,)"
            R"("username":null,"password":null,"database":0,"ssl":false,"ssl_verify":false,)"
            R"("server_name":null},"hide_client_headers":false,"error_code":429,)"
            R"("error_message":"API rate limit exceeded","sync_rate":-1})");

  auto redis = check(*p.config, "minute: 5\npolicy: redis\n");
  EXPECT_EQ(redis.text(),
            "redis.host: required field missing\n"
            "failed conditional validation given value of field 'config.policy'\n");
  EXPECT_TRUE(check(*p.config, "{minute: 5, policy: redis, redis_host: localhost}").ok);
  EXPECT_EQ(check(*p.config, "{minute: 5, policy: cluster}").text(),
            "policy: expected one of: local, redis\n");
  EXPECT_EQ(check(*p.config, "{minute: 0, limit_by: header}").text(),
            "minute: value must be greater than 0\n"
            "header_name: required field missing\n"
            "failed conditional validation given value of field 'config.limit_by'\n");
  // then_match inherits the field's validators (Kong's __index), so a bad path also fails the
  // conditional.
  EXPECT_EQ(check(*p.config, "{hour: 1, limit_by: path, path: \"/a//b\"}").text(),
            "path: must not have empty segments\n"
            "failed conditional validation given value of field 'config.limit_by'\n");
  EXPECT_EQ(check(*p.config, "{hour: 1, path: \"/a//b\"}").text(),
            "path: must not have empty segments\n");
}

TEST(SchemaKong, RequestTransformer) {
  auto p = plugin(kRequestTransformer);
  ASSERT_TRUE(p.config);
  auto c = check(*p.config, "{add: {headers: [\"x-a:1\"]}, http_method: POST}");
  ASSERT_TRUE(c.ok) << c.text();
  EXPECT_EQ(c.value.get("add")->to_json(), R"({"body":[],"headers":["x-a:1"],"querystring":[]})");
  EXPECT_EQ(c.value.get("replace")->to_json(),
            R"({"body":[],"headers":[],"querystring":[],"uri":null})");
  auto bad = check(*p.config, "{http_method: get, append: {headers: [novalue]}}");
  EXPECT_EQ(bad.text(),
            "http_method: invalid value: get\n"
            "append.headers[0]: invalid value: novalue\n");
  ASSERT_TRUE(p.protocols);
  Value out;
  std::vector<SchemaError> errors;
  EXPECT_TRUE(p.protocols->validate(YAML::Load("[tcp]"), &out, &errors));
}

}  // namespace
}  // namespace sb::config
