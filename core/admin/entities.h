// Kong's Admin API rendering of each entity (all schema fields, null when unset) and the
// look-ups by "id or endpoint key" the item endpoints use.
#pragma once

#include <cstdint>
#include <string_view>

#include "admin/json_writer.h"
#include "config/model.h"

namespace sb::admin {

// `loaded_at`: when the config was loaded (created_at/updated_at of entities that do not carry
// their own, as Kong stamps declarative entities at load time).
struct RenderContext {
  const sb::config::Config& config;
  int64_t loaded_at = 0;
};

void render(JsonWriter& w, const RenderContext& c, const sb::config::Service& e);
void render(JsonWriter& w, const RenderContext& c, const sb::config::Route& e);
void render(JsonWriter& w, const RenderContext& c, const sb::config::Consumer& e);
void render(JsonWriter& w, const RenderContext& c, const sb::config::Plugin& e);
void render(JsonWriter& w, const RenderContext& c, const sb::config::Upstream& e);
void render(JsonWriter& w, const RenderContext& c, const sb::config::Certificate& e);
void render(JsonWriter& w, const RenderContext& c, const sb::config::Sni& e);
void render(JsonWriter& w, const RenderContext& c, const sb::config::CaCertificate& e);
// Targets need their upstream's id.
void render(JsonWriter& w, const RenderContext& c, const sb::config::Target& e,
            const sb::config::Upstream& upstream);

// Look-ups: a UUID matches the id, anything else the entity's endpoint key (Kong's rule).
const sb::config::Service* find_service(const sb::config::Config& c, std::string_view key);
const sb::config::Route* find_route(const sb::config::Config& c, std::string_view key);
const sb::config::Consumer* find_consumer(const sb::config::Config& c, std::string_view key);
const sb::config::Plugin* find_plugin(const sb::config::Config& c, std::string_view key);
const sb::config::Upstream* find_upstream(const sb::config::Config& c, std::string_view key);
const sb::config::Target* find_target(const sb::config::Upstream& u, std::string_view key);
// By id or by one of its SNI names (as Kong's /certificates/{id or sni}).
const sb::config::Certificate* find_certificate(const sb::config::Config& c, std::string_view key);
const sb::config::Sni* find_sni(const sb::config::Config& c, std::string_view key);
const sb::config::CaCertificate* find_ca_certificate(const sb::config::Config& c,
                                                     std::string_view key);

bool matches_tags(const std::vector<std::string>& entity_tags, std::string_view filter);

}  // namespace sb::admin
