// A validated configuration value: what the schema engine (schema.h) produces and plugins read.
//
// JSON-shaped: null, boolean, integer, number, string, array, object. Objects keep their members
// in schema order (records) or input order (maps), so to_json() is stable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/source_pos.h"

namespace YAML {
class Node;
}
namespace sb::config::tree {
class Node;
}

namespace sb::config {

class Value {
 public:
  enum class Kind : uint8_t { null, boolean, integer, number, string, array, object };

  Kind kind = Kind::null;
  bool b = false;
  int64_t i = 0;
  double d = 0;
  std::string s;
  std::vector<Value> items;                            // array / set
  std::vector<std::pair<std::string, Value>> members;  // object (record or map)

  // Factories.
  static Value null_value() { return Value{}; }
  static Value of_bool(bool v);
  static Value of_int(int64_t v);
  static Value of_number(double v);
  static Value of_string(std::string v);
  static Value array(std::vector<Value> items = {});
  static Value object();

  bool is_null() const { return kind == Kind::null; }
  bool is_number() const { return kind == Kind::integer || kind == Kind::number; }
  // Integer or number as a double (0 for anything else).
  double as_double() const;

  // Object member or nullptr (the last one when a key repeats).
  const Value* get(std::string_view key) const;
  Value* get(std::string_view key);
  // Sets an object member, replacing an existing one in place or appending.
  void set(std::string key, Value v);

  // Compact JSON; integers print as integers, numbers in shortest round-trip form (non-finite
  // numbers print as null), object members in stored order.
  std::string to_json() const;

  // Deep equality with Lua semantics for numbers (1 == 1.0).
  bool operator==(const Value& o) const;
  bool operator!=(const Value& o) const { return !(*this == o); }

  // Untyped conversion of a YAML node, resolving scalars the way the config loader does (Kong's
  // YAML/JSON decoding: quoted "5" is a string, plain 5 an integer). Nesting deeper than
  // kMaxDepth is cut off (null) and reported through `error` when given.
  static Value from_yaml(const YAML::Node& n);
  static Value from_yaml(const YAML::Node& n, std::string* error);
  static Value from_yaml(const tree::Node& n);
  static Value from_yaml(const tree::Node& n, std::string* error);

  static constexpr int kMaxDepth = 64;
};

// Scalar resolution shared by Value::from_yaml and the schema engine.
namespace yaml_scalar {
// How `n` resolves: null (also undefined), boolean, integer, number, string, array or object.
Value::Kind kind_of(const YAML::Node& n);
Value::Kind kind_of(const tree::Node& n);
// A scalar node as a Value (integers out of int64 range become numbers); non-scalars: null.
Value to_value(const YAML::Node& n);
Value to_value(const tree::Node& n);
// 1-based position of `n` ({0, 0} when unknown).
SourcePos pos_of(const YAML::Node& n);
SourcePos pos_of(const tree::Node& n);
}  // namespace yaml_scalar

}  // namespace sb::config
