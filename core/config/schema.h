// The schema engine: Kong's plugin-schema DSL (kong/db/schema) for native plugins.
//
// A plugin declares its config schema, and optionally custom entities, as JSON text in Kong's own
// shapes (the Lua tables of a plugin's schema.lua / daos.lua written as JSON). This file parses
// those declarations (checking them roughly the way Kong's metaschema does) and validates YAML
// input against them with Kong's rules and messages: types, defaults, auto fields, validators,
// entity checks and shorthand fields. See docs in schema.cpp for what cannot be expressed in JSON.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/model.h"
#include "config/value.h"

namespace YAML {
class Node;
}
namespace sb::config::tree {
class Node;
}

namespace sb::config {

struct SchemaError {
  // Dotted path relative to the validated record, e.g. "key_names[2]" (0-based, like the loader's
  // "paths[0]") or "redis.port"; empty = the record itself (entity checks).
  std::string field;
  std::string message;  // Kong's wording
  SourcePos pos;        // the offending YAML node, or the record when the field is missing
};

class RecordSchema;
namespace detail {
class SchemaParser;
class Validator;
}  // namespace detail

// One field definition.
class FieldSchema {
 public:
  enum class Type : uint8_t {
    string,
    number,
    integer,
    boolean,
    array,
    set,
    map,
    record,
    foreign,
    json
  };
  static const char* type_name(Type t);

  Type type = Type::string;

  // Presence.
  bool required = false;
  std::optional<Value> default_value;  // nullopt = no default; a null Value = `"default": null`
  bool auto_fill = false;              // Kong's `auto`: uuid / random key / timestamps
  bool unique = false;                 // recorded only; uniqueness is checked across rows
  bool referenceable = false;          // a "{vault://...}" string skips the validators

  // Validators, applied in Kong's order (eq, ne, not_one_of, one_of, gt, timestamp, uuid,
  // is_regex, between, len_eq, len_min, len_max, starts_with, not_match, match_none, match,
  // match_all, match_any, contains, mutually_exclusive_subsets). Patterns are Lua patterns.
  struct PatternErr {
    std::string pattern;
    std::optional<std::string> err;
  };
  struct MatchAny {
    std::vector<std::string> patterns;
    std::optional<std::string> err;
  };
  std::optional<Value> eq, ne, gt, contains;
  std::optional<std::vector<Value>> one_of, not_one_of;
  bool timestamp = false, uuid = false, is_regex = false;
  std::optional<std::pair<Value, Value>> between;
  std::optional<int64_t> len_eq, len_min, len_max;
  std::optional<std::string> starts_with, not_match, match;
  std::optional<std::vector<PatternErr>> match_none, match_all;
  std::optional<MatchAny> match_any;
  std::optional<std::vector<std::vector<std::string>>> mutually_exclusive_subsets;
  std::optional<std::string> err;  // replaces any validator message

  // Nested definitions.
  std::shared_ptr<const FieldSchema> elements;      // array, set
  std::shared_ptr<const FieldSchema> keys, values;  // map
  std::shared_ptr<const RecordSchema> record;       // record
  std::string reference;                            // foreign: the referenced entity name

  // Validates one value. An undefined node (a missing key looked up on a const node, or
  // YAML::Node(YAML::NodeType::Undefined)) means absent: default, auto or required apply. A null
  // node is an explicit null (it stays null; `required` fails). Note a default-constructed
  // YAML::Node is null, not undefined. Writes the normalized value into *out; returns true when
  // no errors were added.
  bool validate(const YAML::Node& node, Value* out, std::vector<SchemaError>* errors) const;
  bool validate(const tree::Node& node, Value* out, std::vector<SchemaError>* errors) const;
};

// A record: ordered fields plus entity checks and shorthand fields.
class RecordSchema {
 public:
  struct Field {
    std::string name;
    std::shared_ptr<const FieldSchema> schema;
  };
  struct EntityCheck;  // defined in schema.cpp
  struct Shorthand;    // defined in schema.cpp

  const std::vector<Field>& fields() const { return fields_; }
  const FieldSchema* field(std::string_view name) const;
  // Names of the fields of type foreign, in schema order.
  std::vector<std::string> foreign_fields() const;

  // Validates `node` (a YAML map, or null/undefined meaning {}) against the record: type checks,
  // validators, defaults filled, unknown fields rejected, entity checks; writes the normalized
  // Value (every declared field present, unset optional ones as null, as Kong stores them) into
  // *out. Every error is appended to *errors. Returns true when no errors were added.
  bool validate(const YAML::Node& node, Value* out, std::vector<SchemaError>* errors) const;
  bool validate(const tree::Node& node, Value* out, std::vector<SchemaError>* errors) const;

 private:
  friend class detail::SchemaParser;
  friend class detail::Validator;
  std::vector<Field> fields_;
  std::unordered_map<std::string, size_t> index_;  // field name -> fields_ slot
  std::vector<std::shared_ptr<const EntityCheck>> checks_;
  std::vector<std::shared_ptr<const Shorthand>> shorthands_;
  bool ttl_ = false;  // entity schemas with `"ttl": true` accept a `ttl` key (not validated)
};

struct PluginSchema {
  std::string name;
  std::string json;  // the text as declared, served by the Admin API
  std::shared_ptr<const RecordSchema>
      config;  // the `config` record (plugin entity checks included)
  // From "consumer"/"route"/"service" fields declared with "eq": null (Kong's typedefs.no_consumer
  // etc.): the plugin cannot be scoped that way.
  bool no_consumer = false, no_route = false, no_service = false;
  // The plugin's own `protocols` field (e.g. typedefs.protocols_http), or null when not declared.
  std::shared_ptr<const FieldSchema> protocols;
};

// Parses a plugin schema: {"name": ..., "fields": [{"consumer": ...}, {"protocols": ...},
// {"config": {"type": "record", ...}}], "entity_checks": [...]}. On failure returns nullopt and
// sets *error to every problem found, "; "-separated.
std::optional<PluginSchema> parse_plugin_schema(std::string_view json, std::string* error);

struct EntitySchema {
  std::string name;
  std::string json;  // this entity's declaration, re-encoded as compact JSON
  std::shared_ptr<const RecordSchema> record;
  std::vector<std::string> primary_key, cache_key;
  std::string endpoint_key;
  std::vector<std::string> unique_fields;                    // fields with "unique": true
  std::vector<std::pair<std::string, std::string>> foreign;  // field -> referenced entity
  bool ttl = false;                                          // rows may carry `ttl`
};

// Parses custom entity declarations (a plugin's daos.lua as JSON): an array of DAO schemas.
std::optional<std::vector<EntitySchema>> parse_entity_schemas(std::string_view json,
                                                              std::string* error);

}  // namespace sb::config
