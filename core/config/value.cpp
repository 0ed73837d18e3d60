#include "config/value.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "config/yaml_tree.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "common/json.h"

namespace sb::config {

Value Value::of_bool(bool v) {
  Value out;
  out.kind = Kind::boolean;
  out.b = v;
  return out;
}

Value Value::of_int(int64_t v) {
  Value out;
  out.kind = Kind::integer;
  out.i = v;
  return out;
}

Value Value::of_number(double v) {
  Value out;
  out.kind = Kind::number;
  out.d = v;
  return out;
}

Value Value::of_string(std::string v) {
  Value out;
  out.kind = Kind::string;
  out.s = std::move(v);
  return out;
}

Value Value::array(std::vector<Value> items) {
  Value out;
  out.kind = Kind::array;
  out.items = std::move(items);
  return out;
}

Value Value::object() {
  Value out;
  out.kind = Kind::object;
  return out;
}

double Value::as_double() const {
  if (kind == Kind::integer) return static_cast<double>(i);
  if (kind == Kind::number) return d;
  return 0;
}

const Value* Value::get(std::string_view key) const {
  if (kind != Kind::object) return nullptr;
  for (auto it = members.rbegin(); it != members.rend(); ++it)
    if (it->first == key) return &it->second;
  return nullptr;
}

Value* Value::get(std::string_view key) {
  return const_cast<Value*>(static_cast<const Value*>(this)->get(key));
}

void Value::set(std::string key, Value v) {
  if (kind != Kind::object) {
    *this = object();
  }
  if (Value* existing = get(key)) {
    *existing = std::move(v);
    return;
  }
  members.emplace_back(std::move(key), std::move(v));
}

namespace {

void append_json(const Value& v, std::string& out) {
  switch (v.kind) {
    case Value::Kind::null:
      out += "null";
      return;
    case Value::Kind::boolean:
      out += v.b ? "true" : "false";
      return;
    case Value::Kind::integer:
      out += std::to_string(v.i);
      return;
    case Value::Kind::number:
      out += std::isfinite(v.d) ? fmt::format("{}", v.d) : "null";
      return;
    case Value::Kind::string:
      out += '"';
      out += sb::json_escape(v.s);
      out += '"';
      return;
    case Value::Kind::array:
      out += '[';
      for (size_t k = 0; k < v.items.size(); ++k) {
        if (k) out += ',';
        append_json(v.items[k], out);
      }
      out += ']';
      return;
    case Value::Kind::object:
      out += '{';
      for (size_t k = 0; k < v.members.size(); ++k) {
        if (k) out += ',';
        out += '"';
        out += sb::json_escape(v.members[k].first);
        out += "\":";
        append_json(v.members[k].second, out);
      }
      out += '}';
      return;
  }
}

}  // namespace

std::string Value::to_json() const {
  std::string out;
  append_json(*this, out);
  return out;
}

bool Value::operator==(const Value& o) const {
  if (is_number() && o.is_number()) {
    if (kind == Kind::integer && o.kind == Kind::integer) return i == o.i;
    return as_double() == o.as_double();
  }
  if (kind != o.kind) return false;
  switch (kind) {
    case Kind::null:
      return true;
    case Kind::boolean:
      return b == o.b;
    case Kind::string:
      return s == o.s;
    case Kind::array:
      return items == o.items;
    case Kind::object:
      return members == o.members;
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------

namespace yaml_scalar {
namespace {

template <class N>
bool plain(const N& n) {
  return n.Tag() == "?" || n.Tag().empty();
}

bool is_null_text(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

int bool_text(const std::string& s) {  // 1 true, 0 false, -1 neither
  if (s == "true" || s == "True" || s == "TRUE") return 1;
  if (s == "false" || s == "False" || s == "FALSE") return 0;
  return -1;
}

// YAML integer syntax as the loader accepts it: [+-]digits, 0x hex, 0o octal. *overflow is set
// when the magnitude does not fit int64 (the value is then `approx`).
bool parse_int(const std::string& s, int64_t* out, bool* overflow, double* approx) {
  std::string_view v = s;
  bool neg = false;
  if (!v.empty() && (v[0] == '+' || v[0] == '-')) {
    neg = v[0] == '-';
    v.remove_prefix(1);
  }
  if (v.empty()) return false;
  int base = 10;
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'o')) {
    base = v[1] == 'x' ? 16 : 8;
    v.remove_prefix(2);
  }
  for (char c : v) {
    bool ok = base == 16 ? std::isxdigit(static_cast<unsigned char>(c)) != 0
                         : (c >= '0' && c < static_cast<char>('0' + std::min(base, 10)));
    if (!ok) return false;
  }
  uint64_t value = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), value, base);
  uint64_t limit = neg ? uint64_t(INT64_MAX) + 1 : uint64_t(INT64_MAX);
  if (r.ec == std::errc::result_out_of_range || value > limit) {
    *overflow = true;
    double mag = 0;
    for (char c : v) {
      int digit = std::isdigit(static_cast<unsigned char>(c))
                      ? c - '0'
                      : std::tolower(static_cast<unsigned char>(c)) - 'a' + 10;
      mag = mag * base + digit;
    }
    *approx = neg ? -mag : mag;
    return true;
  }
  *overflow = false;
  *out = neg ? static_cast<int64_t>(0 - value) : static_cast<int64_t>(value);
  return true;
}

bool parse_float(const std::string& s, double* out) {
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (s.empty() || s.find_first_not_of("0123456789+-.eE") != std::string::npos) return false;
  if (s.find_first_of("0123456789") == std::string::npos) return false;
  const char* b = s.data();
  if (*b == '+') ++b;
  auto r = std::from_chars(b, s.data() + s.size(), *out);
  if (r.ptr != s.data() + s.size()) return false;
  if (r.ec == std::errc::result_out_of_range) *out = std::numeric_limits<double>::infinity();
  return true;
}

// The same for YAML::Node and tree::Node.
template <class N>
Value::Kind kind_of_t(const N& n) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence:
      return Value::Kind::array;
    case YAML::NodeType::Map:
      return Value::Kind::object;
    case YAML::NodeType::Scalar:
      break;
    default:
      return Value::Kind::null;
  }
  if (!plain(n)) return Value::Kind::string;
  const std::string& s = n.Scalar();
  if (is_null_text(s)) return Value::Kind::null;
  if (bool_text(s) >= 0) return Value::Kind::boolean;
  int64_t i = 0;
  bool overflow = false;
  double approx = 0;
  if (parse_int(s, &i, &overflow, &approx))
    return overflow ? Value::Kind::number : Value::Kind::integer;
  double d = 0;
  if (parse_float(s, &d)) return Value::Kind::number;
  return Value::Kind::string;
}

template <class N>
Value to_value_t(const N& n) {
  if (n.Type() != YAML::NodeType::Scalar) return Value{};
  const std::string& s = n.Scalar();
  if (!plain(n)) return Value::of_string(s);
  if (is_null_text(s)) return Value{};
  if (int bt = bool_text(s); bt >= 0) return Value::of_bool(bt == 1);
  int64_t i = 0;
  bool overflow = false;
  double approx = 0;
  if (parse_int(s, &i, &overflow, &approx))
    return overflow ? Value::of_number(approx) : Value::of_int(i);
  double d = 0;
  if (parse_float(s, &d)) return Value::of_number(d);
  return Value::of_string(s);
}

template <class N>
SourcePos pos_of_t(const N& n) {
  try {
    if (!n.IsDefined()) return {};
    auto m = n.Mark();
    if (m.is_null()) return {};
    return {m.line + 1, m.column + 1};
  } catch (...) {
    return {};
  }
}

}  // namespace

Value::Kind kind_of(const YAML::Node& n) { return kind_of_t(n); }
Value::Kind kind_of(const tree::Node& n) { return kind_of_t(n); }
Value to_value(const YAML::Node& n) { return to_value_t(n); }
Value to_value(const tree::Node& n) { return to_value_t(n); }
SourcePos pos_of(const YAML::Node& n) { return pos_of_t(n); }
SourcePos pos_of(const tree::Node& n) { return pos_of_t(n); }

}  // namespace yaml_scalar

namespace {

template <class N>
Value convert(const N& n, int depth, std::string* error) {
  if (depth > Value::kMaxDepth) {
    if (error && error->empty())
      *error = fmt::format("value nested too deeply (limit {})", Value::kMaxDepth);
    return Value{};
  }
  switch (yaml_scalar::kind_of(n)) {
    case Value::Kind::array: {
      Value out = Value::array();
      out.items.reserve(n.size());
      for (const auto& el : n) out.items.push_back(convert(el, depth + 1, error));
      return out;
    }
    case Value::Kind::object: {
      Value out = Value::object();
      out.members.reserve(n.size());
      std::unordered_map<std::string, size_t> index;  // linear even for huge maps
      for (auto it = n.begin(); it != n.end(); ++it) {
        std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
        Value v = convert(it->second, depth + 1, error);
        // A repeated key keeps its first slot and takes the last value.
        auto [slot, fresh] = index.emplace(key, out.members.size());
        if (fresh) {
          out.members.emplace_back(std::move(key), std::move(v));
        } else {
          out.members[slot->second].second = std::move(v);
        }
      }
      return out;
    }
    default:
      return yaml_scalar::to_value(n);
  }
}

}  // namespace

Value Value::from_yaml(const YAML::Node& n) { return convert(n, 0, nullptr); }

Value Value::from_yaml(const YAML::Node& n, std::string* error) { return convert(n, 0, error); }

Value Value::from_yaml(const tree::Node& n) { return convert(n, 0, nullptr); }

Value Value::from_yaml(const tree::Node& n, std::string* error) { return convert(n, 0, error); }

}  // namespace sb::config
