#include "plugins/entities.h"

#include <fmt/format.h>

namespace sb::plugins {

namespace {

using sb::config::Value;

Value string_value(std::string_view s) {
  Value v;
  v.kind = Value::Kind::string;
  v.s.assign(s);
  return v;
}

// The text a field is indexed by: strings as they are, integers in decimal, a foreign
// reference by its id.
bool key_text(const Value* v, std::string& out) {
  if (v == nullptr) return false;
  switch (v->kind) {
    case Value::Kind::string:
      out = v->s;
      return true;
    case Value::Kind::integer:
      out = std::to_string(v->i);
      return true;
    case Value::Kind::object:
      return key_text(v->get("id"), out);
    default:
      return false;
  }
}

std::string& key_buffer() {
  thread_local std::string buf;
  return buf;
}

}  // namespace

void EntityIndex::add(std::string_view entity, std::string_view field, std::string_view value,
                      const Value* row) {
  std::string key;
  key.reserve(entity.size() + field.size() + value.size() + 2);
  key.append(entity).append(1, '\0').append(field).append(1, '\0').append(value);
  rows_.emplace(std::move(key), row);  // first row wins (the loader rejects duplicates)
}

void EntityIndex::build(const sb::config::Config& config, const Registry* registry) {
  consumers_.reserve(config.consumers.size());
  for (size_t i = 0; i < config.consumers.size(); ++i) {
    const auto& c = config.consumers[i];
    Value row;
    row.kind = Value::Kind::object;
    row.members.emplace_back("id", string_value(c.id));
    row.members.emplace_back("username", c.username.empty() ? Value() : string_value(c.username));
    row.members.emplace_back("custom_id",
                             c.custom_id.empty() ? Value() : string_value(c.custom_id));
    Value tags;
    tags.kind = Value::Kind::array;
    for (const auto& t : c.tags) tags.items.push_back(string_value(t));
    row.members.emplace_back("tags", std::move(tags));
    consumers_.push_back(std::move(row));
    consumer_by_id_.emplace(c.id, static_cast<int>(i));
  }
  // consumers_ no longer grows: addresses are stable from here on.
  for (size_t i = 0; i < config.consumers.size(); ++i) {
    const auto& c = config.consumers[i];
    add("consumers", "id", c.id, &consumers_[i]);
    if (!c.username.empty()) add("consumers", "username", c.username, &consumers_[i]);
    if (!c.custom_id.empty()) add("consumers", "custom_id", c.custom_id, &consumers_[i]);
  }
  std::string text;
  for (const auto& r : config.entity_rows) {
    add(r.entity, "id", r.id, &r.row);
    const sb::config::EntitySchema* schema = registry ? registry->entity(r.entity) : nullptr;
    if (schema == nullptr) continue;
    for (const auto& f : schema->unique_fields) {
      if (key_text(r.row.get(f), text)) add(r.entity, f, text, &r.row);
    }
    if (schema->cache_key.size() == 1) {
      if (key_text(r.row.get(schema->cache_key[0]), text)) {
        add(r.entity, schema->cache_key[0], text, &r.row);
      }
    } else if (schema->cache_key.size() > 1) {
      std::string joined;
      bool ok = true;
      for (size_t k = 0; k < schema->cache_key.size() && ok; ++k) {
        if (k > 0) joined += ':';
        ok = key_text(r.row.get(schema->cache_key[k]), text);
        joined += text;
      }
      if (ok) add(r.entity, "cache_key", joined, &r.row);
    }
  }
}

const Value* EntityIndex::find(std::string_view entity, std::string_view field,
                               std::string_view value) const {
  std::string& key = key_buffer();  // reused: no allocation per look-up once warm
  key.clear();
  key.append(entity).append(1, '\0').append(field).append(1, '\0').append(value);
  auto it = rows_.find(key);
  return it == rows_.end() ? nullptr : it->second;
}

int EntityIndex::consumer_index(std::string_view id) const {
  std::string& key = key_buffer();
  key.assign(id);
  auto it = consumer_by_id_.find(key);
  return it == consumer_by_id_.end() ? -1 : it->second;
}

}  // namespace sb::plugins
