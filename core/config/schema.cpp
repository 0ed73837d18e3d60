// The schema engine. Behaviour follows Kong's kong/db/schema/init.lua (validation, defaults,
// entity checks, messages), kong/db/schema/metaschema.lua (what a schema may declare),
// kong/db/schema/entity.lua (records required by default in entities) and
// kong/db/schema/plugin_loader.lua (plugin subschemas).
//
// What JSON cannot express, and how it is handled:
//  - `type: "function"`, `custom_validator`, `custom_entity_check`, a schema-level `check`,
//    `transformations` and a shorthand's `func` are Lua functions: rejected at parse time with an
//    error naming them (a native plugin validates such rules in its own code).
//  - A shorthand field's `func` is replaced by its declared target: `deprecation.replaced_with`
//    paths (Kong >= 3.8) or `translate_backwards` (3.6/3.7): the shorthand's value is copied to
//    each path; with `deprecation` the real field wins when both are set (Kong's
//    null_aware_table_merge), otherwise the shorthand wins.
//  - `json` fields accept any value; their `json_schema` is accepted and not evaluated.
//  - `abstract`, `subschema_key` (entity subschemas) are not supported and rejected.
//
// Deliberate differences from Kong, all in the direction of more information:
//  - every error is reported (a map reports each bad key/value as "field.key", not only the first
//    one Kong's pairs() loop finds); array indexes are 0-based like the loader's;
//  - a shorthand targeting a path 3+ levels deep merges recursively (Kong's merge is one level);
//  - non-finite numbers (.inf, .nan) are rejected as "expected a number";
//  - entity checks naming an undeclared field are schema errors.
#include "config/schema.h"

#include <fmt/format.h>
#include <openssl/rand.h>
#include <yaml-cpp/yaml.h>

#include "config/yaml_tree.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <unordered_map>
#include <unordered_set>

#include "config/checks.h"
#include "config/lua_pattern.h"

namespace sb::config {

namespace {

using Kind = Value::Kind;

constexpr int kMaxDepth = Value::kMaxDepth;
constexpr size_t kMaxErrors = 1000;
// Lua pattern steps for one whole validation (about a second of work): bounds what a hostile
// input can cost with a pathological pattern. Ordinary matches take a few steps per byte.
constexpr size_t kPatternBudget = 200'000'000;
constexpr size_t kPatternStepsPerMatch = 1'000'000;

std::string join(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return std::string(name);
  return fmt::format("{}.{}", prefix, name);
}

// Lua's tostring() for the values that appear in messages.
std::string lua_tostring(const Value& v) {
  switch (v.kind) {
    case Kind::null:
      return "null";
    case Kind::boolean:
      return v.b ? "true" : "false";
    case Kind::integer:
      return std::to_string(v.i);
    case Kind::number:
      if (std::isnan(v.d)) return "nan";
      if (std::isinf(v.d)) return v.d > 0 ? "inf" : "-inf";
      return fmt::format("{:.14g}", v.d);
    case Kind::string:
      return v.s;
    default:
      return v.to_json();
  }
}

// Lua equality: tables are only equal to themselves, so two distinct values never are.
bool lua_equal(const Value& a, const Value& b) {
  if (a.kind == Kind::array || a.kind == Kind::object) return false;
  return a == b;
}

std::string quoted_list(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ", ";
    out += fmt::format("'{}'", w);
  }
  return out;
}

// string.format(fmt, arg) for the one-%s messages schemas declare (then_err etc.).
std::string lua_format1(const std::string& format, const std::string& arg) {
  std::string out;
  bool used = false;
  for (size_t k = 0; k < format.size(); ++k) {
    if (format[k] == '%' && k + 1 < format.size()) {
      if (format[k + 1] == '%') {
        out += '%';
        ++k;
        continue;
      }
      if (format[k + 1] == 's' && !used) {
        out += arg;
        used = true;
        ++k;
        continue;
      }
    }
    out += format[k];
  }
  return out;
}

// Kong's kong.tools.rand.random_string(): 32 random alphanumerics.
std::string random_key() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  while (out.size() < 32) {
    unsigned char buf[64];
    if (RAND_bytes(buf, sizeof buf) != 1) {
      // Not reachable with a working OpenSSL; a uuid's hex digits are still random.
      std::string u = checks::random_uuid();
      u.erase(std::remove(u.begin(), u.end(), '-'), u.end());
      return u;
    }
    for (unsigned char c : buf) {
      if (c >= 248) continue;  // 248 = 4 * 62: keeps the choice uniform
      out += kAlphabet[c % 62];
      if (out.size() == 32) break;
    }
  }
  return out;
}

bool pcre2_compiles(const std::string& re) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* compiled =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.data()), re.size(), 0, &code, &offset, nullptr);
  if (compiled == nullptr) return false;
  pcre2_code_free(compiled);
  return true;
}

// Kong's core entities: all have a UUID `id` primary key.
constexpr const char* kCoreEntities[] = {
    "services", "routes",          "consumers", "plugins", "upstreams", "targets",   "certificates",
    "snis",     "ca_certificates", "vaults",    "keys",    "key_sets",  "workspaces"};

bool is_core_entity(std::string_view name) {
  for (const char* e : kCoreEntities)
    if (name == e) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Input: the value under validation, resolved from YAML once (kinds as Kong's decoders see them),
// with positions. Defaults and re-validated values are converted from Value.

struct Member;

struct Input {
  Kind kind = Kind::null;
  bool too_deep = false;  // cut off at kMaxDepth
  Value scalar;           // null / boolean / integer / number / string
  std::vector<Input> items;
  std::vector<Member> members;
  SourcePos pos;
};

struct Member {
  std::string name;  // the key's text ("" for a non-scalar key)
  bool scalar_key = true;
  Input key;
  Input value;
};

template <class N>
Input from_yaml(const N& n, int depth) {
  Input in;
  in.pos = yaml_scalar::pos_of(n);
  if (depth > kMaxDepth) {
    in.too_deep = true;
    return in;
  }
  in.kind = yaml_scalar::kind_of(n);
  switch (in.kind) {
    case Kind::array:
      in.items.reserve(n.size());
      for (const auto& el : n) in.items.push_back(from_yaml(el, depth + 1));
      break;
    case Kind::object:
      in.members.reserve(n.size());
      for (auto it = n.begin(); it != n.end(); ++it) {
        Member m;
        m.scalar_key = it->first.IsScalar();
        m.name = m.scalar_key ? it->first.Scalar() : std::string();
        m.key = from_yaml(it->first, depth + 1);
        m.value = from_yaml(it->second, depth + 1);
        in.members.push_back(std::move(m));
      }
      break;
    default:
      in.scalar = yaml_scalar::to_value(n);
      break;
  }
  return in;
}

Input from_value(const Value& v, SourcePos pos) {
  Input in;
  in.pos = pos;
  in.kind = v.kind;
  switch (v.kind) {
    case Kind::array:
      in.items.reserve(v.items.size());
      for (const auto& el : v.items) in.items.push_back(from_value(el, pos));
      break;
    case Kind::object:
      in.members.reserve(v.members.size());
      for (const auto& [k, mv] : v.members) {
        Member m;
        m.name = k;
        m.key = from_value(Value::of_string(k), pos);
        m.value = from_value(mv, pos);
        in.members.push_back(std::move(m));
      }
      break;
    default:
      in.scalar = v;
      break;
  }
  return in;
}

Input string_input(std::string s, SourcePos pos) {
  Input in;
  in.kind = Kind::string;
  in.scalar = Value::of_string(std::move(s));
  in.pos = pos;
  return in;
}

// Untyped (json fields, ttl, updated_at).
Value to_value(const Input& in) {
  switch (in.kind) {
    case Kind::array: {
      Value out = Value::array();
      for (const auto& el : in.items) out.items.push_back(to_value(el));
      return out;
    }
    case Kind::object: {
      Value out = Value::object();
      std::unordered_map<std::string_view, size_t> slot;
      for (const auto& m : in.members) {
        auto [it, fresh] = slot.emplace(m.name, out.members.size());
        if (fresh) {
          out.members.emplace_back(m.name, to_value(m.value));
        } else {
          out.members[it->second].second = to_value(m.value);
        }
      }
      return out;
    }
    default:
      return in.scalar;
  }
}

bool contains_too_deep(const Input& in) {
  if (in.too_deep) return true;
  for (const auto& el : in.items)
    if (contains_too_deep(el)) return true;
  for (const auto& m : in.members)
    if (contains_too_deep(m.key) || contains_too_deep(m.value)) return true;
  return false;
}

// The last member named `name` (Kong keeps the last of repeated keys).
const Member* find_member(const Input& in, std::string_view name) {
  for (auto it = in.members.rbegin(); it != in.members.rend(); ++it)
    if (it->scalar_key && it->name == name) return &*it;
  return nullptr;
}
Member* find_member(Input& in, std::string_view name) {
  return const_cast<Member*>(find_member(static_cast<const Input&>(in), name));
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    out.emplace_back(path.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

// The input node at a dotted path below `in`, or nullptr.
const Input* input_at(const Input& in, std::string_view path) {
  const Input* cur = &in;
  for (const auto& seg : split_path(path)) {
    if (cur->kind != Kind::object) return nullptr;
    const Member* m = find_member(*cur, seg);
    if (m == nullptr) return nullptr;
    cur = &m->value;
  }
  return cur;
}

// The field definition at a dotted path through nested records (nullptr when there is none, e.g.
// below a foreign key).
const FieldSchema* resolve_field(const RecordSchema& r, std::string_view rel) {
  const RecordSchema* rec = &r;
  const FieldSchema* f = nullptr;
  for (const auto& seg : split_path(rel)) {
    if (rec == nullptr) return nullptr;
    f = rec->field(seg);
    if (f == nullptr) return nullptr;
    rec = f->type == FieldSchema::Type::record ? f->record.get() : nullptr;
  }
  return f;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

struct RecordSchema::EntityCheck {
  enum class Kind {
    at_least_one_of,
    conditional_at_least_one_of,
    only_one_of,
    distinct,
    conditional,
    mutually_required,
    mutually_exclusive,
    mutually_exclusive_sets,
  };
  struct Ref {
    std::string written;  // as declared, for messages ("config.second")
    std::string rel;      // relative to the record ("second")
  };
  Kind kind = Kind::at_least_one_of;
  std::vector<Ref> fields;  // list checks; set1 of mutually_exclusive_sets
  std::vector<Ref> set2;
  Ref if_field, then_field;
  // if_match / then_match / else_match laid over the field's own definition (Kong's __index).
  std::shared_ptr<const FieldSchema> if_match, then_match, else_match;
  bool then_required = false;  // then_match declares required: true
  std::vector<Ref> then_list, else_list;
  std::optional<std::string> then_err, else_then_err;
  // Declared at plugin level on "config.*" names: Kong's errors[name] lookup never matches those,
  // so field errors do not suppress the check.
  bool outer = false;

  bool run_with_missing() const {
    return kind == Kind::at_least_one_of || kind == Kind::conditional_at_least_one_of ||
           kind == Kind::mutually_required || kind == Kind::mutually_exclusive ||
           kind == Kind::mutually_exclusive_sets;
  }
  bool run_with_invalid() const {
    return kind == Kind::at_least_one_of || kind == Kind::conditional_at_least_one_of ||
           kind == Kind::only_one_of || kind == Kind::distinct || kind == Kind::conditional;
  }
};

struct RecordSchema::Shorthand {
  std::string name;
  std::shared_ptr<const FieldSchema> schema;
  std::vector<std::vector<std::string>> targets;  // where the value goes
  bool deprecated = false;                        // real fields win; mismatches are errors
};

const char* FieldSchema::type_name(Type t) {
  switch (t) {
    case Type::string:
      return "string";
    case Type::number:
      return "number";
    case Type::integer:
      return "integer";
    case Type::boolean:
      return "boolean";
    case Type::array:
      return "array";
    case Type::set:
      return "set";
    case Type::map:
      return "map";
    case Type::record:
      return "record";
    case Type::foreign:
      return "foreign";
    case Type::json:
      return "json";
  }
  return "?";
}

const FieldSchema* RecordSchema::field(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : fields_[it->second].schema.get();
}

std::vector<std::string> RecordSchema::foreign_fields() const {
  std::vector<std::string> out;
  for (const auto& f : fields_)
    if (f.schema->type == FieldSchema::Type::foreign) out.push_back(f.name);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Validation

namespace detail {

class Validator {
 public:
  explicit Validator(std::vector<SchemaError>* errors) : errors_(errors), base_(errors->size()) {}

  size_t count() const { return count_; }

  Value field(const FieldSchema& f, const Input& in, const std::string& path, int depth,
              bool element);
  Value record(const RecordSchema& r, const Input& in, const std::string& path, int depth);
  // A field absent from its record (or a FieldSchema::validate of an undefined node).
  Value absent(const FieldSchema& f, std::string_view name, const std::string& path,
               SourcePos record_pos, int depth);

 private:
  using Check = RecordSchema::EntityCheck;

  void error(const std::string& path, std::string message, SourcePos pos) {
    ++count_;
    size_t recorded = errors_->size() - base_;
    if (recorded < kMaxErrors) {
      note(path, errors_->size());
      errors_->push_back({path, std::move(message), pos});
    } else if (recorded == kMaxErrors) {
      errors_->push_back({"", fmt::format("too many errors (stopped after {})", kMaxErrors), {}});
    }
  }
  // Kong's set_field(errors, name, msg): replaces an earlier message for the same field.
  void set_error(const std::string& path, std::string message, SourcePos pos) {
    if (auto it = by_path_.find(path); it != by_path_.end()) {
      (*errors_)[it->second].message = std::move(message);
      (*errors_)[it->second].pos = pos;
      ++count_;
      return;
    }
    error(path, std::move(message), pos);
  }
  // Kong's errors[name] test: an error on the field or anywhere below it.
  bool has_error_under(const std::string& path) const { return under_.count(path) > 0; }
  void note(const std::string& path, size_t index) {
    by_path_.emplace(path, index);
    for (size_t k = 0; k < path.size(); ++k)
      if (path[k] == '.' || path[k] == '[') under_.insert(path.substr(0, k));
    under_.insert(path);
  }

  // Validates into a scratch list (conditional matches, shorthand values).
  std::vector<SchemaError> trial(const FieldSchema& f, const Input& in, const std::string& path,
                                 int depth) {
    std::vector<SchemaError> scratch;
    Validator sub(&scratch);
    sub.pattern_budget_ = pattern_budget_;
    sub.field(f, in, path, depth, false);
    pattern_budget_ = sub.pattern_budget_;
    if (sub.count_ > 0 && scratch.empty()) scratch.push_back({path, "invalid value", in.pos});
    return scratch;
  }

  std::string validators(const FieldSchema& f, const Value& v);
  LuaMatch lua_match(const std::string& s, const std::string& pattern) {
    size_t steps = std::min(pattern_budget_, kPatternStepsPerMatch);
    if (steps == 0) return LuaMatch::kError;
    size_t used = 0;
    LuaMatch m = lua_pattern_match(s, pattern, steps, &used);
    pattern_budget_ -= std::min(used, pattern_budget_);
    return m;
  }

  Value sequence(const FieldSchema& f, const Input& in, const std::string& path, int depth,
                 bool* ok);
  Value map(const FieldSchema& f, const Input& in, const std::string& path, int depth, bool* ok);
  Value foreign(const FieldSchema& f, const Input& in, const std::string& path);
  Input apply_shorthands(const RecordSchema& r, const Input& in, const std::string& path,
                         int depth);
  void inject(Input& obj, const std::vector<std::string>& target, size_t at, const Input& value,
              bool weak);
  void entity_checks(const RecordSchema& r, const Value& rec, const Input& in,
                     const std::string& path, int depth);
  void run_check(const RecordSchema& r, const Check& c, const Value& rec, const Input& in,
                 const std::string& path, int depth);

  struct Lookup {
    const Value* value = nullptr;  // nullptr = nil (absent)
  };
  Lookup lookup(const Value& rec, const std::string& path, const std::string& rel) const;
  SourcePos pos_at(const Input& in, const std::string& rel) const {
    const Input* n = input_at(in, rel);
    return n != nullptr && n->pos.line > 0 ? n->pos : in.pos;
  }
  bool matches(const std::shared_ptr<const FieldSchema>& m, const Lookup& v,
               const std::string& path, int depth) {
    if (v.value == nullptr) return false;  // Lua: nil fails the type check
    return trial(*m, from_value(*v.value, {}), path, depth).empty();
  }

  std::vector<SchemaError>* errors_;
  size_t base_;
  size_t count_ = 0;
  size_t pattern_budget_ = kPatternBudget;
  // Full paths of required fields left absent (Lua nil, as opposed to null).
  std::unordered_set<std::string> absent_;
  // Recorded errors by path, and every path with an error at or below it (for entity checks).
  std::unordered_map<std::string, size_t> by_path_;
  std::unordered_set<std::string> under_;
};

namespace {

bool is_nonempty(const Value* v) {
  if (v == nullptr) return false;
  switch (v->kind) {
    case Kind::null:
      return false;
    case Kind::string:
      return !v->s.empty();
    case Kind::array:
      return !v->items.empty();
    case Kind::object:
      return !v->members.empty();
    default:
      return true;
  }
}

}  // namespace

std::string Validator::validators(const FieldSchema& f, const Value& v) {
  if (f.eq && !lua_equal(v, *f.eq)) return "value must be " + lua_tostring(*f.eq);
  if (f.ne && lua_equal(v, *f.ne)) return "value must not be " + lua_tostring(v);
  auto list = [](const std::vector<Value>& options) {
    std::string out;
    for (const auto& o : options) out += (out.empty() ? "" : ", ") + lua_tostring(o);
    return out;
  };
  if (f.not_one_of) {
    for (const auto& o : *f.not_one_of)
      if (lua_equal(v, o)) return "must not be one of: " + list(*f.not_one_of);
  }
  if (f.one_of) {
    bool found = false;
    for (const auto& o : *f.one_of) found = found || lua_equal(v, o);
    if (!found) return "expected one of: " + list(*f.one_of);
  }
  if (f.gt && v.is_number() && !(v.as_double() > f.gt->as_double()))
    return "value must be greater than " + lua_tostring(*f.gt);
  if (f.timestamp && v.is_number() && !(v.as_double() > 0)) return "expected a valid timestamp";
  if (f.uuid && v.kind == Kind::string && !(v.s.size() == 36 && checks::is_uuid(v.s)))
    return "expected a valid UUID";
  if (f.is_regex && v.kind == Kind::string && !pcre2_compiles(v.s))
    return "not a valid regex: " + v.s;
  if (f.between && v.is_number()) {
    double x = v.as_double();
    if (x < f.between->first.as_double() || x > f.between->second.as_double())
      return fmt::format("value should be between {} and {}",
                         static_cast<int64_t>(f.between->first.as_double()),
                         static_cast<int64_t>(f.between->second.as_double()));
  }
  bool sized = v.kind == Kind::string || v.kind == Kind::array || v.kind == Kind::object;
  if (sized) {
    int64_t len = static_cast<int64_t>(v.kind == Kind::string  ? v.s.size()
                                       : v.kind == Kind::array ? v.items.size()
                                                               : v.members.size());
    // Kong: strings are non-empty unless the schema says otherwise.
    std::optional<int64_t> len_min = f.len_min;
    if (!len_min && f.type == FieldSchema::Type::string) len_min = 1;
    if (f.len_eq && len != *f.len_eq) return fmt::format("length must be {}", *f.len_eq);
    if (len_min && len < *len_min) return fmt::format("length must be at least {}", *len_min);
    if (f.len_max && len > *f.len_max) return fmt::format("length must be at most {}", *f.len_max);
  }
  if (v.kind == Kind::string) {
    const std::string& s = v.s;
    std::string invalid = "invalid value: " + s;
    if (f.starts_with && s.compare(0, f.starts_with->size(), *f.starts_with) != 0)
      return "should start with: " + *f.starts_with;
    if (f.not_match && lua_match(s, *f.not_match) != LuaMatch::kNoMatch) return invalid;
    if (f.match_none) {
      for (const auto& pe : *f.match_none)
        if (lua_match(s, pe.pattern) != LuaMatch::kNoMatch) return pe.err.value_or(invalid);
    }
    if (f.match && lua_match(s, *f.match) != LuaMatch::kMatch) return invalid;
    if (f.match_all) {
      for (const auto& pe : *f.match_all)
        if (lua_match(s, pe.pattern) != LuaMatch::kMatch) return pe.err.value_or(invalid);
    }
    if (f.match_any) {
      bool any = false;
      for (const auto& p : f.match_any->patterns) {
        if (lua_match(s, p) == LuaMatch::kMatch) {
          any = true;
          break;
        }
      }
      if (!any) return f.match_any->err.value_or(invalid);
    }
  }
  if (v.kind == Kind::array) {
    if (f.contains) {
      bool found = false;
      for (const auto& el : v.items) found = found || lua_equal(el, *f.contains);
      if (!found) return "expected to contain: " + lua_tostring(*f.contains);
    }
    if (f.mutually_exclusive_subsets) {
      const auto& subsets = *f.mutually_exclusive_subsets;
      std::vector<size_t> member_of;  // subset indexes, in order of first appearance
      for (const auto& el : v.items) {
        if (el.kind != Kind::string) continue;
        for (size_t k = 0; k < subsets.size(); ++k) {
          // An element listed in several subsets belongs to the last one (Kong's union table).
          bool last = false;
          for (size_t j = subsets.size(); j-- > 0;) {
            if (std::find(subsets[j].begin(), subsets[j].end(), el.s) != subsets[j].end()) {
              last = j == k;
              break;
            }
          }
          if (last && std::find(member_of.begin(), member_of.end(), k) == member_of.end())
            member_of.push_back(k);
        }
      }
      if (member_of.size() > 1) {
        std::string msg;
        for (size_t k : member_of)
          msg += fmt::format("{}({})", msg.empty() ? "" : ", ", quoted_list(subsets[k]));
        return "these sets are mutually exclusive: " + msg;
      }
    }
  }
  return {};
}

Value Validator::field(const FieldSchema& f, const Input& in, const std::string& path, int depth,
                       bool element) {
  if (in.too_deep || depth > kMaxDepth) {
    error(path, fmt::format("value nested too deeply (limit {})", kMaxDepth), in.pos);
    return Value{};
  }
  if (in.kind == Kind::null) {
    if (f.ne && f.ne->is_null()) {
      error(path, f.err.value_or("value must not be null"), in.pos);
    } else if (f.eq && !f.eq->is_null()) {
      error(path, "value must be " + lua_tostring(*f.eq), in.pos);
    } else if (f.required || element) {
      error(path, "required field missing", in.pos);
    }
    return Value{};
  }
  if (f.eq && f.eq->is_null()) {
    error(path, f.err.value_or("value must be null"), in.pos);
    return Value{};
  }
  using T = FieldSchema::Type;
  bool incomplete = ((f.type == T::array || f.type == T::set) && !f.elements) ||
                    (f.type == T::map && (!f.keys || !f.values)) ||
                    (f.type == T::record && !f.record);
  if (incomplete) return to_value(in);  // a hand-built FieldSchema without its nested parts
  Value v;
  bool ok = true;
  switch (f.type) {
    case T::array:
    case T::set:
      v = sequence(f, in, path, depth, &ok);
      if (!ok) return v;
      break;
    case T::map:
      v = map(f, in, path, depth, &ok);
      if (!ok) return v;
      break;
    case T::record:
      if (in.kind != Kind::object) {
        error(path, "expected a record", in.pos);
        return Value{};
      } else {
        size_t before = count_;
        v = record(*f.record, in, path, depth + 1);
        if (count_ != before) return v;
      }
      break;
    case T::foreign:
      return foreign(f, in, path);
    case T::integer:
      if (in.kind == Kind::integer) {
        v = in.scalar;
      } else if (in.kind == Kind::number && std::isfinite(in.scalar.d) &&
                 in.scalar.d == std::floor(in.scalar.d) && std::fabs(in.scalar.d) < 9.2e18) {
        v = Value::of_int(static_cast<int64_t>(in.scalar.d));
      } else {
        error(path, "expected an integer", in.pos);
        return Value{};
      }
      break;
    case T::number:
      if (in.kind == Kind::integer) {
        v = Value::of_number(static_cast<double>(in.scalar.i));
      } else if (in.kind == Kind::number && std::isfinite(in.scalar.d)) {
        v = in.scalar;
      } else {
        error(path, "expected a number", in.pos);
        return Value{};
      }
      break;
    case T::boolean:
      if (in.kind != Kind::boolean) {
        error(path, "expected a boolean", in.pos);
        return Value{};
      }
      v = in.scalar;
      break;
    case T::string:
      if (in.kind != Kind::string) {
        error(path, "expected a string", in.pos);
        return Value{};
      }
      v = in.scalar;
      if (f.referenceable && checks::is_vault_reference(v.s)) return v;
      break;
    case T::json:
      if (contains_too_deep(in)) {
        error(path, fmt::format("value nested too deeply (limit {})", kMaxDepth), in.pos);
        return Value{};
      }
      return to_value(in);
  }
  if (std::string msg = validators(f, v); !msg.empty()) error(path, f.err.value_or(msg), in.pos);
  return v;
}

Value Validator::sequence(const FieldSchema& f, const Input& in, const std::string& path, int depth,
                          bool* ok) {
  bool set = f.type == FieldSchema::Type::set;
  if (in.kind != Kind::array) {
    error(path, set ? "expected a set" : "expected an array", in.pos);
    *ok = false;
    return Value{};
  }
  Value out = Value::array();
  out.items.reserve(in.items.size());
  std::unordered_set<std::string> seen;  // sets drop duplicates first (Kong's make_set)
  size_t before = count_;
  for (size_t k = 0; k < in.items.size(); ++k) {
    const Input& el = in.items[k];
    if (set && !el.too_deep && el.kind != Kind::array && el.kind != Kind::object) {
      std::string key;
      if (el.kind == Kind::string) {
        key = "s" + el.scalar.s;
      } else if (el.kind == Kind::integer || el.kind == Kind::number) {
        key = fmt::format("n{}", el.scalar.as_double());  // 1 and 1.0 are the same Lua value
      } else {
        key = el.kind == Kind::boolean ? (el.scalar.b ? "t" : "f") : "0";
      }
      if (!seen.insert(std::move(key)).second) continue;
    }
    out.items.push_back(field(*f.elements, el, fmt::format("{}[{}]", path, k), depth + 1, true));
  }
  *ok = count_ == before;
  return out;
}

Value Validator::map(const FieldSchema& f, const Input& in, const std::string& path, int depth,
                     bool* ok) {
  if (in.kind != Kind::object) {
    error(path, "expected a map", in.pos);
    *ok = false;
    return Value{};
  }
  Value out = Value::object();
  out.members.reserve(in.members.size());
  std::unordered_map<std::string_view, size_t> slot;
  size_t before = count_;
  for (const auto& m : in.members) {
    std::string p = join(path, m.name);
    field(*f.keys, m.key, p, depth + 1, true);
    Value v = field(*f.values, m.value, p, depth + 1, true);
    auto [it, fresh] = slot.emplace(m.name, out.members.size());
    if (fresh) {
      out.members.emplace_back(m.name, std::move(v));
    } else {
      out.members[it->second].second = std::move(v);
    }
  }
  *ok = count_ == before;
  return out;
}

// A foreign key: the kong.yaml forms "name-or-id" and {id: ...}; stored as the string.
Value Validator::foreign(const FieldSchema& f, const Input& in, const std::string& path) {
  if (in.kind == Kind::string) return in.scalar;
  if (in.kind != Kind::object) {
    error(path, "expected a record", in.pos);
    return Value{};
  }
  std::string id_path = join(path, "id");
  const Member* id = find_member(in, "id");
  if (id == nullptr) {
    error(id_path, "missing primary key", in.pos);
    return Value{};
  }
  if (id->value.kind == Kind::null) {
    error(id_path, "required field missing", id->value.pos);
    return Value{};
  }
  if (id->value.kind != Kind::string) {
    error(id_path, "expected a string", id->value.pos);
    return Value{};
  }
  const std::string& s = id->value.scalar.s;
  if (is_core_entity(f.reference) && !(s.size() == 36 && checks::is_uuid(s))) {
    error(id_path, "expected a valid UUID", id->value.pos);
    return Value{};
  }
  return id->value.scalar;
}

Value Validator::absent(const FieldSchema& f, std::string_view name, const std::string& path,
                        SourcePos record_pos, int depth) {
  using T = FieldSchema::Type;
  if (f.auto_fill) {
    if (f.uuid)
      return field(f, string_input(checks::random_uuid(), record_pos), path, depth, false);
    if (f.type == T::string)
      return field(f, string_input(random_key(), record_pos), path, depth, false);
    if (name == "created_at" || name == "updated_at") {
      if (f.type == T::integer) return Value::of_int(static_cast<int64_t>(std::time(nullptr)));
      if (f.type == T::number) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
        return Value::of_number(static_cast<double>(ms) / 1000.0);
      }
    }
  }
  if (f.default_value)
    return field(f, from_value(*f.default_value, record_pos), path, depth, false);
  if (!f.required) return field(f, Input{.pos = record_pos}, path, depth, false);
  if (f.type == T::record) {
    Input empty;
    empty.kind = Kind::object;
    empty.pos = record_pos;
    return field(f, empty, path, depth, false);
  }
  error(path, "required field missing", record_pos);
  absent_.insert(path);
  return Value{};
}

Value Validator::record(const RecordSchema& r, const Input& in_given, const std::string& path,
                        int depth) {
  Input with_shorthands;
  const Input* in = &in_given;
  if (!r.shorthands_.empty()) {
    with_shorthands = apply_shorthands(r, in_given, path, depth);
    in = &with_shorthands;
  }
  // Unknown keys, in input order; the last of repeated keys counts.
  std::unordered_map<std::string_view, const Member*> given;
  for (const auto& m : in->members) {
    if (m.scalar_key) given[m.name] = &m;
    if (m.scalar_key && r.field(m.name) != nullptr) continue;
    if (m.scalar_key && r.ttl_ && m.name == "ttl") continue;
    error(join(path, m.name), "unknown field", m.key.pos);
  }
  auto lookup_given = [&](std::string_view name) -> const Member* {
    auto it = given.find(name);
    return it == given.end() ? nullptr : it->second;
  };
  Value out = Value::object();
  out.members.reserve(r.fields_.size() + 1);
  for (const auto& fd : r.fields_) {
    const FieldSchema& f = *fd.schema;
    std::string p = join(path, fd.name);
    const Member* m = lookup_given(fd.name);
    Value v;
    if (fd.name == "updated_at" && f.auto_fill) {
      v = absent(f, fd.name, p, in->pos, depth);  // Kong always refreshes it, unvalidated
    } else if (fd.name == "updated_at") {
      v = m != nullptr ? to_value(m->value) : Value{};  // Kong never validates updated_at
    } else if (m == nullptr) {
      v = absent(f, fd.name, p, in->pos, depth);
    } else if (f.auto_fill && fd.name == "created_at" && m->value.kind == Kind::null) {
      v = absent(f, fd.name, p, in->pos, depth);
    } else {
      v = field(f, m->value, p, depth, false);
    }
    out.members.emplace_back(fd.name, std::move(v));
  }
  if (r.ttl_) {
    if (const Member* m = lookup_given("ttl")) out.members.emplace_back("ttl", to_value(m->value));
  }
  entity_checks(r, out, *in, path, depth);
  return out;
}

Input Validator::apply_shorthands(const RecordSchema& r, const Input& in_given,
                                  const std::string& path, int depth) {
  Input in = in_given;
  if (in.kind != Kind::object) {  // null: {} (Kong expands a missing required record)
    in.kind = Kind::object;
    in.scalar = Value{};
  }
  for (const auto& sh : r.shorthands_) {
    const Member* found = find_member(in, sh->name);
    if (found == nullptr) continue;
    Input value = found->value;
    in.members.erase(std::remove_if(in.members.begin(), in.members.end(),
                                    [&](const Member& m) { return m.name == sh->name; }),
                     in.members.end());
    if (value.kind == Kind::null) continue;  // nothing to translate
    std::string p = join(path, sh->name);
    auto errs = trial(*sh->schema, value, p, depth);
    if (!errs.empty()) {
      for (auto& e : errs) error(e.field, std::move(e.message), e.pos);
      continue;
    }
    bool conflict = false;
    if (sh->deprecated) {
      Value given = to_value(value);
      for (const auto& target : sh->targets) {
        std::string dotted;
        for (const auto& seg : target) dotted = join(dotted, seg);
        const Input* existing = input_at(in, dotted);
        if (existing == nullptr || existing->kind == Kind::null) continue;
        Value current = to_value(*existing);
        if (current != given) {
          error(p,
                fmt::format("both deprecated and new field are used but their values mismatch: "
                            "{} = {} vs {} = {}",
                            sh->name, lua_tostring(given), dotted, lua_tostring(current)),
                value.pos);
          conflict = true;
        }
      }
    }
    if (conflict) continue;
    for (const auto& target : sh->targets) inject(in, target, 0, value, sh->deprecated);
  }
  return in;
}

void Validator::inject(Input& obj, const std::vector<std::string>& target, size_t at,
                       const Input& value, bool weak) {
  Member* m = find_member(obj, target[at]);
  if (m == nullptr) {
    Member fresh;
    fresh.name = target[at];
    fresh.key = string_input(target[at], value.pos);
    fresh.value.pos = value.pos;
    obj.members.push_back(std::move(fresh));
    m = &obj.members.back();
  }
  if (at + 1 == target.size()) {
    if (!weak || m->value.kind == Kind::null) m->value = value;
    return;
  }
  if (m->value.kind != Kind::object) {
    SourcePos pos = m->value.pos;
    m->value = Input{};
    m->value.kind = Kind::object;
    m->value.pos = pos;
  }
  inject(m->value, target, at + 1, value, weak);
}

Validator::Lookup Validator::lookup(const Value& rec, const std::string& path,
                                    const std::string& rel) const {
  if (absent_.count(join(path, rel))) return {};
  const Value* cur = &rec;
  auto segs = split_path(rel);
  for (size_t k = 0; k < segs.size(); ++k) {
    if (cur->kind == Kind::object) {
      cur = cur->get(segs[k]);
      if (cur == nullptr) return {};
    } else if (cur->kind == Kind::string && k + 1 == segs.size() && segs[k] == "id") {
      return {cur};  // a foreign key is stored as its id
    } else {
      return {};
    }
  }
  return {cur};
}

void Validator::entity_checks(const RecordSchema& r, const Value& rec, const Input& in,
                              const std::string& path, int depth) {
  for (const auto& c : r.checks_) run_check(r, *c, rec, in, path, depth);
}

void Validator::run_check(const RecordSchema& r, const Check& c, const Value& rec, const Input& in,
                          const std::string& path, int depth) {
  using K = Check::Kind;
  // The fields the check reads, and which of them must be present (Kong's field_sources and
  // required_fields; conditional_at_least_one_of and mutually_exclusive_sets require none).
  std::vector<const Check::Ref*> refs;
  std::vector<bool> required;
  auto add = [&](const std::vector<Check::Ref>& list, bool req) {
    for (const auto& ref : list) {
      refs.push_back(&ref);
      required.push_back(req);
    }
  };
  switch (c.kind) {
    case K::conditional:
      refs = {&c.if_field, &c.then_field};
      required = {true, false};
      break;
    case K::conditional_at_least_one_of:
      refs.push_back(&c.if_field);
      required.push_back(false);
      add(c.then_list, false);
      add(c.else_list, false);
      break;
    case K::mutually_exclusive_sets:
      add(c.fields, false);
      add(c.set2, false);
      break;
    default:
      add(c.fields, true);
      break;
  }
  std::vector<const Check::Ref*> missing;
  bool all_nil = true, all_ok = true;
  for (size_t k = 0; k < refs.size(); ++k) {
    const Check::Ref& ref = *refs[k];
    Lookup v = lookup(rec, path, ref.rel);
    if (v.value == nullptr) {
      if (!c.run_with_missing() && required[k]) missing.push_back(&ref);
    } else {
      all_nil = false;
      // Kong skips a check over a vault reference held by a referenceable field.
      const FieldSchema* fs = resolve_field(r, ref.rel);
      if (fs != nullptr && fs->type == FieldSchema::Type::string && fs->referenceable &&
          v.value->kind == Kind::string && checks::is_vault_reference(v.value->s))
        return;
    }
    if (!c.outer && ref.rel.find('.') == std::string::npos && has_error_under(join(path, ref.rel)))
      all_ok = false;
  }
  if (!all_ok && !c.run_with_invalid()) return;
  if (all_nil && !c.run_with_missing()) return;
  if (!missing.empty()) {
    for (const auto* ref : missing)
      set_error(join(path, ref->rel), "field required for entity check", in.pos);
    return;
  }
  auto get = [&](const Check::Ref& ref) { return lookup(rec, path, ref.rel).value; };
  auto names = [](const std::vector<Check::Ref>& list) {
    std::vector<std::string> out;
    for (const auto& ref : list) out.push_back(ref.written);
    return out;
  };
  auto any_nonempty = [&](const std::vector<Check::Ref>& list) {
    for (const auto& ref : list)
      if (is_nonempty(get(ref))) return true;
    return false;
  };
  auto entity_error = [&](std::string msg) { error(path, std::move(msg), in.pos); };
  switch (c.kind) {
    case K::at_least_one_of:
      if (!any_nonempty(c.fields))
        entity_error("at least one of these fields must be non-empty: " +
                     quoted_list(names(c.fields)));
      return;
    case K::only_one_of: {
      size_t n = 0;
      for (const auto& ref : c.fields) n += is_nonempty(get(ref)) ? 1 : 0;
      if (n != 1)
        entity_error("exactly one of these fields must be non-empty: " +
                     quoted_list(names(c.fields)));
      return;
    }
    case K::distinct: {
      std::vector<const Value*> seen;
      for (const auto& ref : c.fields) {
        const Value* v = get(ref);
        if (!is_nonempty(v)) continue;
        for (const Value* s : seen) {
          if (lua_equal(*s, *v)) {
            entity_error("values of these fields must be distinct: " +
                         quoted_list(names(c.fields)));
            return;
          }
        }
        seen.push_back(v);
      }
      return;
    }
    case K::mutually_required:
    case K::mutually_exclusive: {
      size_t n = 0;
      for (const auto& ref : c.fields) n += is_nonempty(get(ref)) ? 1 : 0;
      if (c.kind == K::mutually_required && n != 0 && n != c.fields.size())
        entity_error("all or none of these fields must be set: " + quoted_list(names(c.fields)));
      if (c.kind == K::mutually_exclusive && n > 1)
        entity_error("only one or none of these fields must be set: " +
                     quoted_list(names(c.fields)));
      return;
    }
    case K::mutually_exclusive_sets: {
      std::vector<std::string> set1, set2;
      for (const auto& ref : c.fields)
        if (is_nonempty(get(ref))) set1.push_back(ref.written);
      for (const auto& ref : c.set2)
        if (is_nonempty(get(ref))) set2.push_back(ref.written);
      if (!set1.empty() && !set2.empty())
        entity_error(fmt::format("these sets are mutually exclusive: ({}), ({})", quoted_list(set1),
                                 quoted_list(set2)));
      return;
    }
    case K::conditional: {
      Lookup if_value{get(c.if_field)};
      if (!matches(c.if_match, if_value, join(path, c.if_field.rel), depth)) return;
      std::string then_path = join(path, c.then_field.rel);
      SourcePos then_pos = pos_at(in, c.then_field.rel);
      const Value* then_value = get(c.then_field);
      Value null_value;
      if (then_value == nullptr) then_value = &null_value;
      std::string conditional_msg = fmt::format(
          "failed conditional validation given value of field '{}'", c.if_field.written);
      if (c.then_required && then_value->is_null()) {
        set_error(then_path, "required field missing", then_pos);
        entity_error(conditional_msg);
        return;
      }
      auto errs = trial(*c.then_match, from_value(*then_value, then_pos), then_path, depth);
      if (errs.empty()) return;
      for (auto& e : errs) set_error(e.field, std::move(e.message), e.pos);
      entity_error(c.then_err ? lua_format1(*c.then_err, c.if_field.written) : conditional_msg);
      return;
    }
    case K::conditional_at_least_one_of: {
      Lookup if_value{get(c.if_field)};
      if (if_value.value == nullptr) return;
      std::string if_path = join(path, c.if_field.rel);
      const std::vector<Check::Ref>* list = &c.then_list;
      const std::optional<std::string>* custom = &c.then_err;
      if (!matches(c.if_match, if_value, if_path, depth)) {
        if (!c.else_match || !matches(c.else_match, if_value, if_path, depth)) return;
        list = &c.else_list;
        custom = &c.else_then_err;
      }
      if (any_nonempty(*list)) return;
      std::string quoted = quoted_list(names(*list));
      entity_error(*custom ? lua_format1(**custom, quoted)
                           : "at least one of these fields must be non-empty: " + quoted);
      return;
    }
  }
}

}  // namespace detail

namespace {

template <class N>
bool validate_record(const RecordSchema& r, const N& node, Value* out,
                     std::vector<SchemaError>* errors) {
  detail::Validator v(errors);
  Input in = from_yaml(node, 0);
  if (in.kind == Kind::null && !in.too_deep) {
    in.kind = Kind::object;  // null / absent = {}
  }
  if (in.too_deep || in.kind != Kind::object) {
    errors->push_back({"", "expected a record", in.pos});
    *out = Value{};
    return false;
  }
  *out = v.record(r, in, "", 0);
  return v.count() == 0;
}

template <class N>
bool validate_field(const FieldSchema& f, const N& node, Value* out,
                    std::vector<SchemaError>* errors) {
  detail::Validator v(errors);
  if (!node.IsDefined()) {
    *out = v.absent(f, "", "", {}, 0);
  } else {
    *out = v.field(f, from_yaml(node, 0), "", 0, false);
  }
  return v.count() == 0;
}

}  // namespace

bool RecordSchema::validate(const YAML::Node& node, Value* out,
                            std::vector<SchemaError>* errors) const {
  return validate_record(*this, node, out, errors);
}
bool RecordSchema::validate(const tree::Node& node, Value* out,
                            std::vector<SchemaError>* errors) const {
  return validate_record(*this, node, out, errors);
}
bool FieldSchema::validate(const YAML::Node& node, Value* out,
                           std::vector<SchemaError>* errors) const {
  return validate_field(*this, node, out, errors);
}
bool FieldSchema::validate(const tree::Node& node, Value* out,
                           std::vector<SchemaError>* errors) const {
  return validate_field(*this, node, out, errors);
}

// ---------------------------------------------------------------------------------------------
// Parsing (Kong's metaschema rules, as far as they apply to JSON declarations)

namespace {

using T = FieldSchema::Type;

constexpr uint16_t bit(T t) { return static_cast<uint16_t>(1u << static_cast<unsigned>(t)); }
constexpr uint16_t kAll = 0xffff;
constexpr uint16_t kNumeric = bit(T::number) | bit(T::integer);
constexpr uint16_t kSized = bit(T::array) | bit(T::set) | bit(T::string) | bit(T::map);
constexpr uint16_t kSequence = bit(T::array) | bit(T::set);

struct AttrRule {
  const char* name;
  uint16_t types;
  bool overlay;  // allowed in if_match / then_match / else_match (Kong's conditional_validators)
};

// Every attribute a JSON field definition may carry, with the types it applies to (metaschema's
// attribute_types, extended to validators that only make sense for one type).
constexpr AttrRule kAttrs[] = {
    {"type", kAll, false},
    {"required", kAll, true},
    {"reference", bit(T::foreign), false},
    {"description", kAll, false},
    {"examples", kAll, false},
    {"auto", kAll, false},
    {"unique", bit(T::string) | kNumeric | bit(T::foreign), false},
    {"unique_across_ws", bit(T::string) | kNumeric | bit(T::foreign), false},
    {"on_delete", bit(T::foreign), false},
    {"default", kAll, false},
    {"generate_admin_api", kAll, false},
    {"immutable", kAll, false},
    {"err", kAll, false},
    {"encrypted", kAll, false},
    {"referenceable", kAll, false},
    {"json_schema", bit(T::json), false},
    {"transient", kAll, false},
    {"deprecation", kAll, false},
    {"elements", kSequence, true},
    {"keys", bit(T::map), true},
    {"values", bit(T::map), true},
    {"fields", bit(T::record), false},
    {"entity_checks", bit(T::record), false},
    {"shorthand_fields", bit(T::record), false},
    {"between", kNumeric, true},
    {"eq", kAll, true},
    {"ne", kAll, true},
    {"gt", kNumeric, true},
    {"len_eq", kSized, true},
    {"len_min", kSized, true},
    {"len_max", kSized, true},
    {"match", bit(T::string), true},
    {"not_match", bit(T::string), true},
    {"match_all", bit(T::string), true},
    {"match_none", bit(T::string), true},
    {"match_any", bit(T::string), true},
    {"starts_with", bit(T::string), true},
    {"one_of", bit(T::string) | kNumeric, true},
    {"not_one_of", bit(T::string) | kNumeric, true},
    {"contains", kSequence, true},
    {"is_regex", bit(T::string), true},
    {"timestamp", kNumeric, true},
    {"uuid", bit(T::string), true},
    {"mutually_exclusive_subsets", kSequence, true},
};

const AttrRule* attr_rule(std::string_view name) {
  for (const auto& a : kAttrs)
    if (name == a.name) return &a;
  return nullptr;
}

// Lua functions have no JSON form.
const char* function_only(std::string_view name) {
  if (name == "custom_validator")
    return "'custom_validator' is a Lua function and cannot be expressed in JSON";
  if (name == "func")
    return "'func' is a Lua function and cannot be expressed in JSON; declare the target with "
           "'deprecation.replaced_with' or 'translate_backwards'";
  if (name == "abstract") return "abstract fields are not supported";
  if (name == "nilable") return "entities cannot have nilable types";
  return nullptr;
}

std::optional<T> type_from_name(std::string_view s) {
  for (T t : {T::string, T::number, T::integer, T::boolean, T::array, T::set, T::map, T::record,
              T::foreign, T::json})
    if (s == FieldSchema::type_name(t)) return t;
  return std::nullopt;
}

constexpr const char* kTypeList =
    "array, boolean, foreign, integer, json, map, number, record, set, string";

Kind kind(const YAML::Node& n) { return yaml_scalar::kind_of(n); }

YAML::Node load_json(std::string_view text, std::string* error) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    *error = fmt::format("invalid JSON: {}", e.what());
    return YAML::Node(YAML::NodeType::Undefined);
  }
}

std::string joined(const std::vector<std::string>& errors) {
  std::string out;
  for (const auto& e : errors) out += (out.empty() ? "" : "; ") + e;
  return out;
}

}  // namespace

namespace detail {

class SchemaParser {
 public:
  std::vector<std::string> errors;

  void fail(const std::string& path, std::string_view msg) {
    errors.push_back(path.empty() ? std::string(msg) : fmt::format("{}: {}", path, msg));
  }

  std::shared_ptr<FieldSchema> field(const YAML::Node& def, const std::string& path, int depth,
                                     bool records_required, bool shorthand = false,
                                     std::vector<std::vector<std::string>>* targets = nullptr,
                                     bool* deprecated = nullptr);
  void fields(const YAML::Node& list, RecordSchema& into, const std::string& path, int depth,
              bool records_required);
  void entity_checks(const YAML::Node& list, RecordSchema& into, const std::string& path,
                     std::string_view prefix, bool outer);
  void shorthands(const YAML::Node& list, RecordSchema& into, const std::string& path, int depth);
  static void set_ttl(RecordSchema& r, bool ttl) { r.ttl_ = ttl; }

 private:
  using Check = RecordSchema::EntityCheck;

  std::optional<bool> boolean(const YAML::Node& v, const std::string& path, std::string_view key) {
    if (kind(v) != Kind::boolean) {
      fail(path, fmt::format("{}: expected a boolean", key));
      return std::nullopt;
    }
    return yaml_scalar::to_value(v).b;
  }
  std::optional<std::string> string(const YAML::Node& v, const std::string& path,
                                    std::string_view key) {
    if (kind(v) != Kind::string) {
      fail(path, fmt::format("{}: expected a string", key));
      return std::nullopt;
    }
    return v.Scalar();
  }
  std::optional<int64_t> integer(const YAML::Node& v, const std::string& path,
                                 std::string_view key) {
    if (kind(v) != Kind::integer) {
      fail(path, fmt::format("{}: expected an integer", key));
      return std::nullopt;
    }
    return yaml_scalar::to_value(v).i;
  }
  std::optional<Value> number(const YAML::Node& v, const std::string& path, std::string_view key) {
    Value x = yaml_scalar::to_value(v);
    if (!x.is_number() || !std::isfinite(x.as_double())) {
      fail(path, fmt::format("{}: expected a number", key));
      return std::nullopt;
    }
    return x;
  }
  std::optional<std::vector<std::string>> strings(const YAML::Node& v, const std::string& path,
                                                  std::string_view key) {
    if (kind(v) != Kind::array) {
      fail(path, fmt::format("{}: expected an array of strings", key));
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (const auto& el : v) {
      if (kind(el) != Kind::string) {
        fail(path, fmt::format("{}: expected an array of strings", key));
        return std::nullopt;
      }
      out.push_back(el.Scalar());
    }
    return out;
  }
  std::optional<std::string> pattern(const YAML::Node& v, const std::string& path,
                                     std::string_view key) {
    auto p = string(v, path, key);
    if (!p) return std::nullopt;
    if (auto e = lua_pattern_error(*p); !e.empty()) {
      fail(path, fmt::format("{}: invalid Lua pattern '{}': {}", key, *p, e));
      return std::nullopt;
    }
    return p;
  }
  std::optional<Value> any(const YAML::Node& v, const std::string& path, std::string_view key) {
    std::string err;
    Value out = Value::from_yaml(v, &err);
    if (!err.empty()) {
      fail(path, fmt::format("{}: {}", key, err));
      return std::nullopt;
    }
    return out;
  }
  std::optional<std::vector<FieldSchema::PatternErr>> pattern_list(const YAML::Node& v,
                                                                   const std::string& path,
                                                                   std::string_view key);

  // Parses one attribute into `f`. `overlay`: only Kong's conditional_validators are allowed.
  void attribute(FieldSchema& f, std::string_view key, const YAML::Node& v, const std::string& path,
                 int depth, bool overlay);
  std::shared_ptr<FieldSchema> overlay(const YAML::Node& def, const FieldSchema& base,
                                       const std::string& path, int depth);
  bool resolve_ref(const RecordSchema& r, const std::string& written, std::string_view prefix,
                   const std::string& path, Check::Ref* out);
  bool ref_list(const YAML::Node& v, const RecordSchema& r, std::string_view prefix,
                const std::string& path, std::string_view key, std::vector<Check::Ref>* out);
  void check_default(const FieldSchema& f, const std::string& path);
};

std::optional<std::vector<FieldSchema::PatternErr>> SchemaParser::pattern_list(
    const YAML::Node& v, const std::string& path, std::string_view key) {
  if (kind(v) != Kind::array) {
    fail(path, fmt::format("{}: expected an array", key));
    return std::nullopt;
  }
  std::vector<FieldSchema::PatternErr> out;
  for (const auto& el : v) {
    if (kind(el) != Kind::object) {
      fail(path, fmt::format("{}: expected an array of {{pattern, err}} records", key));
      return std::nullopt;
    }
    FieldSchema::PatternErr pe;
    bool has_pattern = false;
    for (auto it = el.begin(); it != el.end(); ++it) {
      std::string k = it->first.Scalar();
      if (k == "pattern") {
        auto p = pattern(it->second, path, fmt::format("{}.pattern", key));
        if (!p) return std::nullopt;
        pe.pattern = *p;
        has_pattern = true;
      } else if (k == "err") {
        auto e = string(it->second, path, fmt::format("{}.err", key));
        if (!e) return std::nullopt;
        pe.err = *e;
      } else {
        fail(path, fmt::format("{}.{}: unknown field", key, k));
        return std::nullopt;
      }
    }
    if (!has_pattern) {
      fail(path, fmt::format("{}.pattern: required field missing", key));
      return std::nullopt;
    }
    out.push_back(std::move(pe));
  }
  return out;
}

void SchemaParser::attribute(FieldSchema& f, std::string_view key, const YAML::Node& v,
                             const std::string& path, int depth, bool overlay) {
  if (const char* why = function_only(key)) {
    fail(path, why);
    return;
  }
  const AttrRule* rule = attr_rule(key);
  if (rule == nullptr || (overlay && !rule->overlay)) {
    fail(path, fmt::format("{}: unknown field", key));
    return;
  }
  if (!(rule->types & bit(f.type))) {
    fail(path, fmt::format("field of type '{}' cannot have attribute '{}'",
                           FieldSchema::type_name(f.type), key));
    return;
  }
  if (key == "type" || key == "fields" || key == "entity_checks" || key == "shorthand_fields" ||
      key == "default") {
    return;  // handled by the caller
  }
  if (key == "required") {
    if (auto b = boolean(v, path, key)) f.required = *b;
  } else if (key == "auto") {
    if (auto b = boolean(v, path, key)) f.auto_fill = *b;
  } else if (key == "unique") {
    if (auto b = boolean(v, path, key)) f.unique = *b;
  } else if (key == "referenceable") {
    if (auto b = boolean(v, path, key)) f.referenceable = *b;
  } else if (key == "unique_across_ws" || key == "generate_admin_api" || key == "immutable" ||
             key == "encrypted" || key == "transient") {
    boolean(v, path, key);  // accepted, no effect in DB-less mode
  } else if (key == "description") {
    string(v, path, key);
  } else if (key == "examples") {
    if (kind(v) != Kind::array) fail(path, fmt::format("{}: expected an array", key));
  } else if (key == "json_schema") {
    if (kind(v) != Kind::object) fail(path, fmt::format("{}: expected a record", key));
  } else if (key == "reference") {
    if (auto s = string(v, path, key)) f.reference = *s;
  } else if (key == "on_delete") {
    if (auto s = string(v, path, key); s && *s != "restrict" && *s != "cascade" && *s != "null")
      fail(path, "on_delete: expected one of: restrict, cascade, null");
  } else if (key == "err") {
    if (auto s = string(v, path, key)) f.err = *s;
  } else if (key == "deprecation") {
    if (kind(v) != Kind::object) {
      fail(path, "deprecation: expected a record");
      return;
    }
    bool message = false, removal = false;
    for (auto it = v.begin(); it != v.end(); ++it) {
      std::string k = it->first.Scalar();
      if (k == "message") {
        message = string(it->second, path, "deprecation.message").has_value();
      } else if (k == "removal_in_version") {
        removal = string(it->second, path, "deprecation.removal_in_version").has_value();
      } else if (k == "old_default") {
        any(it->second, path, "deprecation.old_default");
      } else if (k == "replaced_with") {
        bool ok = kind(it->second) == Kind::array;
        const YAML::Node list = it->second;  // not a reference: `it->` yields a temporary
        for (const auto& el : list) {
          ok = ok && kind(el) == Kind::object;
          if (!ok) break;
          for (auto e = el.begin(); e != el.end(); ++e) {
            std::string ek = e->first.Scalar();
            if (ek == "reverse_mapping_function") {
              fail(path,
                   "deprecation.replaced_with.reverse_mapping_function is a Lua function "
                   "and cannot be expressed in JSON");
            } else if (ek == "path") {
              auto segs = strings(e->second, path, "deprecation.replaced_with.path");
              if (segs && segs->empty())
                fail(path, "deprecation.replaced_with.path: length must be at least 1");
            } else {
              fail(path, fmt::format("deprecation.replaced_with.{}: unknown field", ek));
            }
          }
          if (!el["path"]) fail(path, "deprecation.replaced_with.path: required field missing");
        }
        if (!ok) fail(path, "deprecation.replaced_with: expected an array of records");
      } else {
        fail(path, fmt::format("deprecation.{}: unknown field", k));
      }
    }
    if (!message) fail(path, "deprecation.message: required field missing");
    if (!removal) fail(path, "deprecation.removal_in_version: required field missing");
  } else if (key == "elements" || key == "keys" || key == "values") {
    auto sub = field(v, fmt::format("{}.{}", path, key), depth + 1, false);
    if (!sub) return;
    if (key == "elements") f.elements = sub;
    if (key == "keys") f.keys = sub;
    if (key == "values") f.values = sub;
  } else if (key == "between") {
    if (kind(v) != Kind::array || v.size() != 2) {
      fail(path, "between: expected an array of two numbers");
      return;
    }
    auto lo = number(v[0], path, "between");
    auto hi = number(v[1], path, "between");
    if (lo && hi) f.between = std::make_pair(*lo, *hi);
  } else if (key == "eq" || key == "ne" || key == "contains") {
    auto x = any(v, path, key);
    if (!x) return;
    if (key == "eq") f.eq = *x;
    if (key == "ne") f.ne = *x;
    if (key == "contains") f.contains = *x;
  } else if (key == "gt") {
    if (auto x = number(v, path, key)) f.gt = *x;
  } else if (key == "len_eq" || key == "len_min" || key == "len_max") {
    auto n = integer(v, path, key);
    if (!n) return;
    if (key == "len_eq") f.len_eq = *n;
    if (key == "len_min") f.len_min = *n;
    if (key == "len_max") f.len_max = *n;
  } else if (key == "match" || key == "not_match") {
    auto p = pattern(v, path, key);
    if (!p) return;
    (key == "match" ? f.match : f.not_match) = *p;
  } else if (key == "starts_with") {
    if (auto s = string(v, path, key)) f.starts_with = *s;
  } else if (key == "match_all" || key == "match_none") {
    auto list = pattern_list(v, path, key);
    if (!list) return;
    (key == "match_all" ? f.match_all : f.match_none) = std::move(*list);
  } else if (key == "match_any") {
    if (kind(v) != Kind::object) {
      fail(path, "match_any: expected a record");
      return;
    }
    FieldSchema::MatchAny ma;
    bool has_patterns = false;
    for (auto it = v.begin(); it != v.end(); ++it) {
      std::string k = it->first.Scalar();
      if (k == "patterns") {
        if (kind(it->second) != Kind::array) {
          fail(path, "match_any.patterns: expected an array");
          return;
        }
        const YAML::Node list = it->second;  // not a reference: `it->` yields a temporary
        for (const auto& p : list) {
          auto pat = pattern(p, path, "match_any.patterns");
          if (!pat) return;
          ma.patterns.push_back(*pat);
        }
        has_patterns = true;
      } else if (k == "err") {
        if (auto e = string(it->second, path, "match_any.err")) ma.err = *e;
      } else {
        fail(path, fmt::format("match_any.{}: unknown field", k));
        return;
      }
    }
    if (!has_patterns) {
      fail(path, "match_any.patterns: required field missing");
      return;
    }
    f.match_any = std::move(ma);
  } else if (key == "one_of" || key == "not_one_of") {
    if (kind(v) != Kind::array) {
      fail(path, fmt::format("{}: expected an array", key));
      return;
    }
    std::vector<Value> options;
    for (const auto& el : v) {
      Kind k = kind(el);
      if (k == Kind::array || k == Kind::object) {
        fail(path, fmt::format("{}: expected an array of scalars", key));
        return;
      }
      options.push_back(yaml_scalar::to_value(el));
    }
    (key == "one_of" ? f.one_of : f.not_one_of) = std::move(options);
  } else if (key == "is_regex" || key == "timestamp" || key == "uuid") {
    auto b = boolean(v, path, key);
    if (!b) return;
    if (key == "is_regex") f.is_regex = *b;
    if (key == "timestamp") f.timestamp = *b;
    if (key == "uuid") f.uuid = *b;
  } else if (key == "mutually_exclusive_subsets") {
    bool ok = kind(v) == Kind::array;
    std::vector<std::vector<std::string>> subsets;
    if (ok) {
      for (const auto& el : v) {
        auto list = strings(el, path, key);
        if (!list) return;
        subsets.push_back(std::move(*list));
      }
    }
    if (!ok) {
      fail(path, fmt::format("{}: expected an array of arrays of strings", key));
      return;
    }
    f.mutually_exclusive_subsets = std::move(subsets);
  }
}

std::shared_ptr<FieldSchema> SchemaParser::field(const YAML::Node& def, const std::string& path,
                                                 int depth, bool records_required, bool shorthand,
                                                 std::vector<std::vector<std::string>>* targets,
                                                 bool* deprecated) {
  if (depth > kMaxDepth) {
    fail(path, fmt::format("schema nested too deeply (limit {})", kMaxDepth));
    return nullptr;
  }
  if (kind(def) != Kind::object) {
    fail(path, "expected a field definition (a record)");
    return nullptr;
  }
  auto f = std::make_shared<FieldSchema>();
  const YAML::Node type = def["type"];
  if (!type) {
    fail(path, "missing type declaration");
    return nullptr;
  }
  if (kind(type) != Kind::string) {
    fail(path, "type: expected a string");
    return nullptr;
  }
  if (type.Scalar() == "function") {
    fail(path, "type 'function' is a Lua function and cannot be expressed in JSON");
    return nullptr;
  }
  auto t = type_from_name(type.Scalar());
  if (!t) {
    fail(path, fmt::format("type: expected one of: {}", kTypeList));
    return nullptr;
  }
  if (shorthand && (*t == T::record || *t == T::foreign)) {
    fail(path, "type: shorthand fields cannot be of type record or foreign");
    return nullptr;
  }
  f->type = *t;
  size_t errors_before = errors.size();
  // Default-constructed YAML nodes count as defined (null): start from undefined ones.
  YAML::Node fields_node(YAML::NodeType::Undefined), checks_node(YAML::NodeType::Undefined),
      shorthands_node(YAML::NodeType::Undefined), default_node(YAML::NodeType::Undefined);
  bool required_given = false;
  for (auto it = def.begin(); it != def.end(); ++it) {
    if (kind(it->first) != Kind::string) {
      fail(path, "attribute names must be strings");
      continue;
    }
    std::string key = it->first.Scalar();
    if (shorthand && key == "translate_backwards") {
      auto segs = strings(it->second, path, key);
      if (segs && !segs->empty() && targets && targets->empty()) targets->push_back(*segs);
      continue;
    }
    if (key == "fields") fields_node = it->second;
    if (key == "entity_checks") checks_node = it->second;
    if (key == "shorthand_fields") shorthands_node = it->second;
    if (key == "default") default_node = it->second;
    if (key == "required") required_given = true;
    const YAML::Node value = it->second;
    if (shorthand && key == "deprecation" && kind(value) == Kind::object) {
      if (deprecated) *deprecated = true;
      // replaced_with paths take precedence over translate_backwards (Kong >= 3.8).
      if (const YAML::Node rw = value["replaced_with"]; rw && kind(rw) == Kind::array) {
        std::vector<std::vector<std::string>> paths;
        for (const auto& el : rw) {
          if (kind(el) != Kind::object || !el["path"] || kind(el["path"]) != Kind::array) continue;
          std::vector<std::string> segs;
          for (const auto& seg : el["path"])
            if (kind(seg) == Kind::string) segs.push_back(seg.Scalar());
          if (!segs.empty()) paths.push_back(std::move(segs));
        }
        if (!paths.empty() && targets) *targets = std::move(paths);
      }
    }
    attribute(*f, key, it->second, path, depth, false);
  }
  // Kong's entity.lua make_records_required: records in entities are required unless declared
  // otherwise, so their defaults are always expanded.
  if (f->type == T::record && records_required && !required_given) f->required = true;

  auto need = [&](bool present, const char* attr) {
    if (!present)
      fail(path, fmt::format("field of type '{}' must declare '{}'",
                             FieldSchema::type_name(f->type), attr));
  };
  switch (f->type) {
    case T::array:
    case T::set:
      need(def["elements"].IsDefined(), "elements");
      break;
    case T::map:
      need(def["keys"].IsDefined(), "keys");
      need(def["values"].IsDefined(), "values");
      break;
    case T::record:
      need(fields_node.IsDefined(), "fields");
      break;
    case T::foreign:
      need(def["reference"].IsDefined(), "reference");
      break;
    default:
      break;
  }
  if (def["unique_across_ws"] && kind(def["unique_across_ws"]) == Kind::boolean &&
      yaml_scalar::to_value(def["unique_across_ws"]).b && !f->unique)
    fail(path, "failed conditional validation given value of field 'unique_across_ws'");

  if (f->type == T::record && fields_node.IsDefined()) {
    auto rec = std::make_shared<RecordSchema>();
    fields(fields_node, *rec, path, depth + 1, records_required);
    if (checks_node.IsDefined() && kind(checks_node) != Kind::null)
      entity_checks(checks_node, *rec, path, "", false);
    if (shorthands_node.IsDefined() && kind(shorthands_node) != Kind::null)
      shorthands(shorthands_node, *rec, path, depth + 1);
    f->record = std::move(rec);
  }
  if (errors.size() != errors_before) return nullptr;
  if (default_node.IsDefined()) {
    if (auto d = any(default_node, path, "default")) {
      f->default_value = std::move(*d);
      check_default(*f, path);
    }
  }
  if (errors.size() != errors_before) return nullptr;
  return f;
}

// Kong's metaschema validates `default` against the field itself.
void SchemaParser::check_default(const FieldSchema& f, const std::string& path) {
  if (f.default_value->is_null()) return;  // "default": null is Kong's way to say "unset"
  std::vector<SchemaError> errs;
  Validator v(&errs);
  v.field(f, from_value(*f.default_value, {}), "", 0, false);
  for (const auto& e : errs)
    fail(path, fmt::format("default{}{}: {}", e.field.empty() ? "" : ".", e.field, e.message));
}

void SchemaParser::fields(const YAML::Node& list, RecordSchema& into, const std::string& path,
                          int depth, bool records_required) {
  if (kind(list) != Kind::array) {
    fail(path, "fields: expected an array");
    return;
  }
  for (const auto& item : list) {
    if (kind(item) != Kind::object || item.size() != 1) {
      fail(path, "each entry in fields must be a sub-table with exactly one field");
      continue;
    }
    auto it = item.begin();
    if (kind(it->first) != Kind::string) {
      fail(path, "each key in fields must be a string");
      continue;
    }
    std::string name = it->first.Scalar();
    std::string p = join(path, name);
    if (into.field(name) != nullptr) {
      fail(p, "duplicate field name");
      continue;
    }
    if (into.ttl_ && name == "ttl") {
      fail(p, "ttl is a reserved field name when ttl is enabled");
      continue;
    }
    if (auto f = field(it->second, p, depth, records_required)) {
      into.index_.emplace(name, into.fields_.size());
      into.fields_.push_back({name, f});
    }
  }
}

bool SchemaParser::resolve_ref(const RecordSchema& r, const std::string& written,
                               std::string_view prefix, const std::string& path, Check::Ref* out) {
  out->written = written;
  std::string_view rel = written;
  if (!prefix.empty()) {
    if (rel.substr(0, prefix.size()) != prefix || rel.size() == prefix.size()) {
      fail(path, fmt::format("entity check field '{}': only fields under '{}' are supported",
                             written, prefix));
      return false;
    }
    rel.remove_prefix(prefix.size());
  }
  out->rel = std::string(rel);
  const RecordSchema* rec = &r;
  auto segs = split_path(rel);
  for (size_t k = 0; k < segs.size(); ++k) {
    const FieldSchema* f = rec->field(segs[k]);
    if (f == nullptr) {
      fail(path, fmt::format("entity check refers to an unknown field: '{}'", written));
      return false;
    }
    if (k + 1 == segs.size()) return true;
    if (f->type == T::foreign) return true;  // like Kong's metaschema, trust paths below a key
    if (f->type != T::record) {
      fail(path, fmt::format("entity check field '{}': '{}' is not a record", written, segs[k]));
      return false;
    }
    rec = f->record.get();
  }
  return true;
}

bool SchemaParser::ref_list(const YAML::Node& v, const RecordSchema& r, std::string_view prefix,
                            const std::string& path, std::string_view key,
                            std::vector<Check::Ref>* out) {
  auto names = strings(v, path, key);
  if (!names) return false;
  if (names->empty()) {
    fail(path, fmt::format("{}: length must be at least 1", key));
    return false;
  }
  for (const auto& n : *names) {
    Check::Ref ref;
    if (!resolve_ref(r, n, prefix, path, &ref)) return false;
    out->push_back(std::move(ref));
  }
  return true;
}

std::shared_ptr<FieldSchema> SchemaParser::overlay(const YAML::Node& def, const FieldSchema& base,
                                                   const std::string& path, int depth) {
  if (kind(def) != Kind::object) {
    fail(path, "expected a record");
    return nullptr;
  }
  auto f = std::make_shared<FieldSchema>(base);
  size_t before = errors.size();
  for (auto it = def.begin(); it != def.end(); ++it)
    attribute(*f, it->first.Scalar(), it->second, path, depth, true);
  if (errors.size() != before) return nullptr;
  return f;
}

void SchemaParser::entity_checks(const YAML::Node& list, RecordSchema& into,
                                 const std::string& path, std::string_view prefix, bool outer) {
  if (kind(list) != Kind::array) {
    fail(path, "entity_checks: expected an array");
    return;
  }
  size_t index = 0;
  for (const auto& item : list) {
    std::string p = fmt::format("{}entity_checks[{}]", path.empty() ? "" : path + ".", index++);
    if (kind(item) != Kind::object || item.size() != 1) {
      fail(p, "each entity check must be a record with exactly one check");
      continue;
    }
    auto it = item.begin();
    std::string name = it->first.Scalar();
    const YAML::Node arg = it->second;
    if (kind(arg) == Kind::null) continue;  // Kong skips a null argument
    auto c = std::make_shared<Check>();
    c->outer = outer;
    using K = Check::Kind;
    bool ok = true;
    if (name == "at_least_one_of" || name == "only_one_of" || name == "distinct" ||
        name == "mutually_required" || name == "mutually_exclusive") {
      c->kind = name == "at_least_one_of"     ? K::at_least_one_of
                : name == "only_one_of"       ? K::only_one_of
                : name == "distinct"          ? K::distinct
                : name == "mutually_required" ? K::mutually_required
                                              : K::mutually_exclusive;
      ok = ref_list(arg, into, prefix, p, name, &c->fields);
    } else if (name == "mutually_exclusive_sets") {
      c->kind = K::mutually_exclusive_sets;
      if (kind(arg) != Kind::object || !arg["set1"] || !arg["set2"] || arg.size() != 2) {
        fail(p, "mutually_exclusive_sets: expected a record with 'set1' and 'set2'");
        continue;
      }
      ok = ref_list(arg["set1"], into, prefix, p, "set1", &c->fields) &&
           ref_list(arg["set2"], into, prefix, p, "set2", &c->set2);
    } else if (name == "conditional" || name == "conditional_at_least_one_of") {
      bool cond = name == "conditional";
      c->kind = cond ? K::conditional : K::conditional_at_least_one_of;
      if (kind(arg) != Kind::object) {
        fail(p, fmt::format("{}: expected a record", name));
        continue;
      }
      YAML::Node if_match(YAML::NodeType::Undefined), then_match(YAML::NodeType::Undefined),
          else_match(YAML::NodeType::Undefined);
      bool has_if = false, has_then = false, has_then_list = false, has_else_list = false;
      for (auto a = arg.begin(); a != arg.end() && ok; ++a) {
        std::string k = a->first.Scalar();
        const YAML::Node v = a->second;
        if (k == "if_field") {
          auto s = string(v, p, k);
          ok = s && resolve_ref(into, *s, prefix, p, &c->if_field);
          has_if = true;
        } else if (k == "if_match") {
          if_match = v;
        } else if (cond && k == "then_field") {
          auto s = string(v, p, k);
          ok = s && resolve_ref(into, *s, prefix, p, &c->then_field);
          has_then = true;
        } else if (cond && k == "then_match") {
          then_match = v;
        } else if (!cond && k == "then_at_least_one_of") {
          ok = ref_list(v, into, prefix, p, k, &c->then_list);
          has_then_list = true;
        } else if (!cond && k == "else_match") {
          else_match = v;
        } else if (!cond && k == "else_then_at_least_one_of") {
          ok = ref_list(v, into, prefix, p, k, &c->else_list);
          has_else_list = true;
        } else if (k == "then_err") {
          auto s = string(v, p, k);
          ok = s.has_value();
          if (s) c->then_err = *s;
        } else if (!cond && k == "else_then_err") {
          auto s = string(v, p, k);
          ok = s.has_value();
          if (s) c->else_then_err = *s;
        } else {
          fail(p, fmt::format("{}.{}: unknown field", name, k));
          ok = false;
        }
      }
      if (!ok) continue;
      auto require = [&](bool present, const char* what) {
        if (!present) fail(p, fmt::format("{}.{}: required field missing", name, what));
        return present;
      };
      if (!require(has_if, "if_field") || !require(if_match.IsDefined(), "if_match")) continue;
      if (cond &&
          (!require(has_then, "then_field") || !require(then_match.IsDefined(), "then_match")))
        continue;
      if (!cond && !require(has_then_list, "then_at_least_one_of")) continue;
      if (!cond && else_match.IsDefined() != has_else_list) {
        fail(p,
             "conditional_at_least_one_of: else_match and else_then_at_least_one_of go "
             "together");
        continue;
      }
      const FieldSchema* if_def = resolve_field(into, c->if_field.rel);
      if (if_def == nullptr) {
        fail(p, fmt::format("{}: if_field must name a declared field", name));
        continue;
      }
      c->if_match = overlay(if_match, *if_def, p + ".if_match", 0);
      if (!c->if_match) continue;
      if (else_match.IsDefined()) {
        c->else_match = overlay(else_match, *if_def, p + ".else_match", 0);
        if (!c->else_match) continue;
      }
      if (cond) {
        const FieldSchema* then_def = resolve_field(into, c->then_field.rel);
        if (then_def == nullptr) {
          fail(p, "conditional: then_field must name a declared field");
          continue;
        }
        c->then_match = overlay(then_match, *then_def, p + ".then_match", 0);
        if (!c->then_match) continue;
        const YAML::Node req = static_cast<const YAML::Node&>(then_match)["required"];
        c->then_required = req && kind(req) == Kind::boolean && yaml_scalar::to_value(req).b;
      }
    } else if (name == "custom_entity_check") {
      fail(p, "custom_entity_check is a Lua function and cannot be expressed in JSON");
      continue;
    } else {
      fail(p, fmt::format("unknown entity check '{}'", name));
      continue;
    }
    if (ok) into.checks_.push_back(std::move(c));
  }
}

void SchemaParser::shorthands(const YAML::Node& list, RecordSchema& into, const std::string& path,
                              int depth) {
  if (kind(list) != Kind::array) {
    fail(path, "shorthand_fields: expected an array");
    return;
  }
  for (const auto& item : list) {
    if (kind(item) != Kind::object || item.size() != 1) {
      fail(path, "each entry in shorthand_fields must be a sub-table with exactly one field");
      continue;
    }
    auto it = item.begin();
    std::string name = it->first.Scalar();
    std::string p = join(path, name);
    auto sh = std::make_shared<RecordSchema::Shorthand>();
    sh->name = name;
    auto f = field(it->second, p, depth, false, true, &sh->targets, &sh->deprecated);
    if (!f) continue;
    sh->schema = f;
    if (sh->targets.empty()) {
      fail(p,
           "a shorthand field needs 'deprecation.replaced_with' or 'translate_backwards' to "
           "name its target (its Lua 'func' cannot be expressed in JSON)");
      continue;
    }
    if (into.field(name) != nullptr) {
      fail(p, "a shorthand field cannot share its name with a field");
      continue;
    }
    bool ok = true;
    for (const auto& target : sh->targets) {
      const RecordSchema* rec = &into;
      for (size_t k = 0; k < target.size() && ok; ++k) {
        const FieldSchema* tf = rec->field(target[k]);
        if (tf == nullptr || (k + 1 < target.size() && tf->type != T::record)) {
          std::string dotted;
          for (const auto& seg : target) dotted = join(dotted, seg);
          fail(p, fmt::format("shorthand target '{}' is not a field of this record", dotted));
          ok = false;
        } else if (k + 1 < target.size()) {
          rec = tf->record.get();
        }
      }
    }
    if (ok) into.shorthands_.push_back(std::move(sh));
  }
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------

namespace {

// The fields of Kong's `plugins` entity a plugin schema could specialize but we do not let it.
constexpr const char* kPluginEntityFields[] = {
    "id", "name", "instance_name", "created_at", "updated_at", "enabled", "tags"};

}  // namespace

std::optional<PluginSchema> parse_plugin_schema(std::string_view json, std::string* error) {
  std::string load_error;
  const YAML::Node root = load_json(json, &load_error);
  if (!load_error.empty()) {
    *error = load_error;
    return std::nullopt;
  }
  detail::SchemaParser parser;
  PluginSchema out;
  out.json = std::string(json);
  if (kind(root) != Kind::object) {
    *error = "plugin schema: expected a record";
    return std::nullopt;
  }
  YAML::Node fields_node(YAML::NodeType::Undefined), checks_node(YAML::NodeType::Undefined);
  for (auto it = root.begin(); it != root.end(); ++it) {
    std::string key = it->first.Scalar();
    if (key == "name") {
      if (kind(it->second) == Kind::string && !it->second.Scalar().empty()) {
        out.name = it->second.Scalar();
      } else {
        parser.fail("name", "expected a non-empty string");
      }
    } else if (key == "fields") {
      fields_node = it->second;
    } else if (key == "entity_checks") {
      checks_node = it->second;
    } else if (key == "check" || key == "transformations") {
      parser.fail(key, "is a Lua function and cannot be expressed in JSON");
    } else if (key == "shorthand_fields") {
      parser.fail(key,
                  "plugin-level shorthand fields are not supported; declare them in the "
                  "config record");
    } else {
      parser.fail(key, "unknown field");
    }
  }
  if (out.name.empty() && !root["name"]) parser.fail("name", "required field missing");
  std::shared_ptr<RecordSchema> config;
  if (!fields_node.IsDefined()) {
    parser.fail("", "error in schema definition: no 'fields' table");
  } else if (kind(fields_node) != Kind::array) {
    parser.fail("fields", "expected an array");
  } else {
    for (const auto& item : fields_node) {
      if (kind(item) != Kind::object || item.size() != 1) {
        parser.fail("fields", "each entry in fields must be a sub-table with exactly one field");
        continue;
      }
      auto it = item.begin();
      std::string name = it->first.Scalar();
      if (name == "config") {
        auto f = parser.field(it->second, name, 0, true);
        if (f && f->type != FieldSchema::Type::record) {
          parser.fail(name, "expected a field of type 'record'");
        } else if (f) {
          config = std::const_pointer_cast<RecordSchema>(f->record);
        }
      } else if (name == "consumer" || name == "route" || name == "service") {
        auto f = parser.field(it->second, name, 0, true);
        if (f && f->type != FieldSchema::Type::foreign) {
          parser.fail(name, "expected a field of type 'foreign'");
        } else if (f) {
          bool forbidden = f->eq && f->eq->is_null();
          if (name == "consumer") out.no_consumer = forbidden;
          if (name == "route") out.no_route = forbidden;
          if (name == "service") out.no_service = forbidden;
        }
      } else if (name == "protocols") {
        auto f = parser.field(it->second, name, 0, true);
        if (f && f->type != FieldSchema::Type::set && f->type != FieldSchema::Type::array) {
          parser.fail(name, "expected a field of type 'set'");
        } else if (f) {
          out.protocols = f;
        }
      } else if (std::find_if(std::begin(kPluginEntityFields), std::end(kPluginEntityFields),
                              [&](const char* n) { return name == n; }) !=
                 std::end(kPluginEntityFields)) {
        parser.fail(name, "this plugins entity field cannot be redefined by a plugin schema");
      } else {
        parser.fail("", fmt::format("error in definition of '{}': {}: cannot create a new field",
                                    out.name, name));
      }
    }
    if (!config && parser.errors.empty()) parser.fail("config", "required field missing");
  }
  if (config && checks_node.IsDefined() && kind(checks_node) != Kind::null)
    parser.entity_checks(checks_node, *config, "", "config.", true);
  if (!parser.errors.empty()) {
    *error = fmt::format("schema of plugin '{}' is invalid: {}", out.name, joined(parser.errors));
    return std::nullopt;
  }
  out.config = std::move(config);
  return out;
}

std::optional<std::vector<EntitySchema>> parse_entity_schemas(std::string_view json,
                                                              std::string* error) {
  std::string load_error;
  const YAML::Node root = load_json(json, &load_error);
  if (!load_error.empty()) {
    *error = load_error;
    return std::nullopt;
  }
  if (kind(root) != Kind::array) {
    *error = "entity schemas: expected an array";
    return std::nullopt;
  }
  std::vector<std::string> names;
  for (const auto& def : root)
    if (kind(def) == Kind::object && def["name"] && kind(def["name"]) == Kind::string)
      names.push_back(def["name"].Scalar());

  std::vector<EntitySchema> out;
  std::vector<std::string> all_errors;
  for (const auto& def : root) {
    detail::SchemaParser parser;
    EntitySchema e;
    if (kind(def) != Kind::object) {
      all_errors.push_back("each entity schema must be a record");
      continue;
    }
    std::string json_error;
    e.json = Value::from_yaml(def, &json_error).to_json();
    if (!json_error.empty()) parser.fail("", "declaration " + json_error);
    YAML::Node fields_node(YAML::NodeType::Undefined), checks_node(YAML::NodeType::Undefined),
        shorthands_node(YAML::NodeType::Undefined);
    bool has_pk = false;
    for (auto it = def.begin(); it != def.end(); ++it) {
      std::string key = it->first.Scalar();
      const YAML::Node v = it->second;
      auto str = [&](std::string* into) {
        if (kind(v) == Kind::string) {
          *into = v.Scalar();
        } else {
          parser.fail(key, "expected a string");
        }
      };
      auto list = [&](std::vector<std::string>* into) {
        bool ok = kind(v) == Kind::array;
        for (const auto& el : v) ok = ok && kind(el) == Kind::string;
        if (!ok) {
          parser.fail(key, "expected an array of strings");
          return;
        }
        for (const auto& el : v) into->push_back(el.Scalar());
      };
      if (key == "name") {
        str(&e.name);
      } else if (key == "primary_key") {
        list(&e.primary_key);
        has_pk = true;
      } else if (key == "cache_key") {
        list(&e.cache_key);
      } else if (key == "endpoint_key") {
        str(&e.endpoint_key);
      } else if (key == "ttl") {
        if (kind(v) == Kind::boolean) {
          e.ttl = yaml_scalar::to_value(v).b;
        } else {
          parser.fail(key, "expected a boolean");
        }
      } else if (key == "workspaceable" || key == "generate_admin_api" || key == "db_export") {
        if (kind(v) != Kind::boolean) parser.fail(key, "expected a boolean");
      } else if (key == "admin_api_name" || key == "admin_api_nested_name" || key == "table_name" ||
                 key == "dao") {
        if (kind(v) != Kind::string) parser.fail(key, "expected a string");
      } else if (key == "fields") {
        fields_node = v;
      } else if (key == "entity_checks") {
        checks_node = v;
      } else if (key == "shorthand_fields") {
        shorthands_node = v;
      } else if (key == "check" || key == "transformations") {
        parser.fail(key, "is a Lua function and cannot be expressed in JSON");
      } else if (key == "subschema_key" || key == "subschema_error") {
        parser.fail(key, "entity subschemas are not supported");
      } else {
        parser.fail(key, "unknown field");
      }
    }
    if (e.name.empty() && !def["name"]) parser.fail("name", "required field missing");
    if (!has_pk) parser.fail("primary_key", "required field missing");
    if (std::count(names.begin(), names.end(), e.name) > 1)
      parser.fail("name", "duplicate entity name");
    auto rec = std::make_shared<RecordSchema>();
    detail::SchemaParser::set_ttl(*rec, e.ttl);
    if (!fields_node.IsDefined()) {
      parser.fail("", "error in schema definition: no 'fields' table");
    } else {
      parser.fields(fields_node, *rec, "", 0, true);
    }
    if (checks_node.IsDefined() && kind(checks_node) != Kind::null)
      parser.entity_checks(checks_node, *rec, "", "", false);
    if (shorthands_node.IsDefined() && kind(shorthands_node) != Kind::null)
      parser.shorthands(shorthands_node, *rec, "", 1);
    // Kong's metaschema `check` and entity.lua rules.
    auto declared = [&](const std::string& n) { return rec->field(n) != nullptr; };
    if (!e.endpoint_key.empty() && !declared(e.endpoint_key))
      parser.fail("endpoint_key", "value must be a field name");
    for (const auto& k : e.cache_key) {
      if (!declared(k)) {
        parser.fail("cache_key", "values must be field names");
        break;
      }
    }
    if (e.cache_key.size() == 1 && declared(e.cache_key[0]) && !rec->field(e.cache_key[0])->unique)
      parser.fail("cache_key", "a field used as a single cache key must be unique");
    for (const auto& k : e.primary_key)
      if (!declared(k)) parser.fail("primary_key", fmt::format("'{}' is not a field name", k));
    for (const auto& fd : rec->fields()) {
      const FieldSchema& f = *fd.schema;
      if (f.unique) e.unique_fields.push_back(fd.name);
      if (f.type == FieldSchema::Type::map && f.keys && f.keys->type != FieldSchema::Type::string)
        parser.fail(fd.name, "Entities map keys must be strings.");
      if (f.type == FieldSchema::Type::foreign) {
        if (!is_core_entity(f.reference) &&
            std::find(names.begin(), names.end(), f.reference) == names.end())
          parser.fail(fd.name,
                      fmt::format("schema refers to an invalid foreign entity: {}", f.reference));
        e.foreign.emplace_back(fd.name, f.reference);
      }
    }
    if (!parser.errors.empty()) {
      all_errors.push_back(fmt::format("schema of custom entity '{}' is invalid: {}", e.name,
                                       joined(parser.errors)));
      continue;
    }
    e.record = std::move(rec);
    out.push_back(std::move(e));
  }
  if (!all_errors.empty()) {
    *error = joined(all_errors);
    return std::nullopt;
  }
  return out;
}

}  // namespace sb::config
