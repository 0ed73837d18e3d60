// O(1) look-ups of consumers and plugin-declared entity rows by their key fields, built once
// per config generation (kong.client.load_consumer, key-auth's credential by key, ...).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/model.h"
#include "config/value.h"
#include "plugins/registry.h"

namespace sb::plugins {

class EntityIndex {
 public:
  // Indexes consumers (id, username, custom_id) and every plugin entity row (id, unique fields,
  // cache_key). `config` must outlive the index.
  void build(const sb::config::Config& config, const Registry* registry);

  const sb::config::Value* find(std::string_view entity, std::string_view field,
                                std::string_view value) const;
  int consumer_index(std::string_view id) const;  // by id; -1 if none
  const sb::config::Value* consumer_row(int index) const {
    return index >= 0 && static_cast<size_t>(index) < consumers_.size() ? &consumers_[index]
                                                                        : nullptr;
  }

 private:
  void add(std::string_view entity, std::string_view field, std::string_view value,
           const sb::config::Value* row);
  std::vector<sb::config::Value> consumers_;  // consumer rows as plugins see them
  std::unordered_map<std::string, int> consumer_by_id_;
  std::unordered_map<std::string, const sb::config::Value*> rows_;  // "entity\0field\0value"
};

}  // namespace sb::plugins
