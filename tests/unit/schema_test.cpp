// Value (and, as they land, the Lua-pattern matcher and the schema engine), checked against
// Kong's behaviour and messages.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <limits>
#include <string>
#include <vector>

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

}  // namespace
}  // namespace sb::config
