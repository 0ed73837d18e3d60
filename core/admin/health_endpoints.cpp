// Upstream health endpoints (Kong's kong/api/routes/upstreams.lua, allowed in DB-less mode):
//   GET /upstreams/{upstream}/health[?balancer_health=1]
//   PUT|POST /upstreams/{upstream}/targets/{target}[/{address}]/healthy|unhealthy
// Health is tracked per target ("host:port"), not per resolved address: `data.addresses` holds
// one entry, the target itself.
#include <fmt/format.h>

#include <cctype>

#include "admin/admin.h"
#include "admin/entities.h"
#include "proxy/health.h"

namespace sb::admin {

using sb::proxy::AdminResponse;

namespace {

const char* health_of(const sb::proxy::health::Table& table, const sb::config::Upstream& up,
                      const sb::config::Target& t) {
  if (!sb::proxy::health::enabled(up.healthchecks) || t.weight <= 0) return "HEALTHCHECKS_OFF";
  auto h = table.find(up.name, t.target);
  if (!h) return "HEALTHCHECKS_OFF";
  return h->healthy() ? "HEALTHY" : "UNHEALTHY";
}

// Kong's balancer getTargetStatus() shape, for one target.
void target_status(JsonWriter& w, const sb::config::Target& t, const char* health) {
  bool down = std::string_view(health) == "UNHEALTHY";
  int64_t weight = t.weight;
  w.begin_object();
  w.field("host", t.host);
  w.field("port", t.port);
  w.field("nodeWeight", weight);
  w.key("weight").begin_object();
  w.field("total", weight).field("unavailable", down ? weight : 0);
  w.field("available", down ? 0 : weight);
  w.end_object();
  w.key("addresses").begin_array();
  w.begin_object();
  w.field("ip", t.host).field("port", t.port).field("weight", weight).field("health", health);
  w.end_object();
  w.end_array();
  w.end_object();
}

}  // namespace

// kong_upstream_target_health rows, as Kong's exporter: every target of every upstream.
void Admin::collect_health(sb::proxy::metrics::Scrape& out) const {
  auto cur = server_.current();
  if (!cur.snapshot) return;
  for (const auto& up : cur.snapshot->config.upstreams) {
    for (const auto& t : up.targets) {
      std::string state = health_of(server_.health(), up, t);
      for (auto& c : state) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.target_health.push_back({up.name, t.target, t.target, std::move(state)});
    }
  }
}

void Admin::add_health_endpoints() {
  add({"/upstreams/{upstream}/health",
       {{"GET", [this](const Request& r, AdminResponse& out) {
           auto cur = server_.current();
           const auto& cfg = cur.snapshot->config;
           const auto* up = find_upstream(cfg, r.params[0]);
           if (up == nullptr) return message(out, 404, "Not found");
           const auto& table = server_.health();
           bool using_hc = sb::proxy::health::enabled(up->healthchecks);
           JsonWriter w;
           w.begin_object();
           if (r.arg("balancer_health") == "1") {
             int64_t total = 0, unavailable = 0;
             for (const auto& t : up->targets) {
               if (t.weight <= 0) continue;
               total += t.weight;
               if (std::string_view(health_of(table, *up, t)) == "UNHEALTHY") {
                 unavailable += t.weight;
               }
             }
             int64_t available = total - unavailable;
             // As the worker's balancer decides (threshold in percent of the total weight).
             bool healthy =
                 available > 0 && static_cast<double>(available) * 100.0 >=
                                      up->healthchecks.threshold * static_cast<double>(total);
             const char* balancer = healthy ? "HEALTHY" : "UNHEALTHY";
             w.key("data").begin_object();
             w.field("health", using_hc ? balancer : "HEALTHCHECKS_OFF");
             w.field("balancer_health", balancer);
             w.field("id", up->id);
             w.key("details").begin_object();
             w.field("healthy", healthy);
             w.key("weight").begin_object();
             w.field("total", total).field("unavailable", unavailable);
             w.field("available", available);
             w.end_object();
             w.key("hosts").begin_array();
             for (const auto& t : up->targets) target_status(w, t, health_of(table, *up, t));
             w.end_array();
             w.end_object();
             w.end_object();
           } else {
             w.key("data").begin_array();
             for (const auto& t : up->targets) {
               const char* health = health_of(table, *up, t);
               w.begin_object();
               w.field("id", t.id);
               w.key("created_at").num(static_cast<double>(cur.loaded_at));
               w.key("updated_at").num(static_cast<double>(cur.loaded_at));
               w.foreign("upstream", &up->id);
               w.field("target", t.target);
               w.field("weight", t.weight);
               w.strings_or_null("tags", t.tags);
               w.field("health", health);
               w.key("data");
               target_status(w, t, health);
               w.end_object();
             }
             w.end_array();
           }
           w.key("next").null();
           w.field("node_id", node_id_);
           w.end_object();
           json(out, 200, std::move(w.text()));
         }}}});

  auto set_health = [this](bool healthy) {
    return [this, healthy](const Request& r, AdminResponse& out) {
      auto cur = server_.current();
      const auto* up = find_upstream(cur.snapshot->config, r.params[0]);
      const auto* t = up ? find_target(*up, r.params[1]) : nullptr;
      if (t == nullptr) return message(out, 404, "Not found");
      if (!sb::proxy::health::enabled(up->healthchecks)) {
        return message(out, 400, fmt::format("no healthchecker found for {}", up->name));
      }
      if (auto h = server_.health().find(up->name, t->target)) h->set(healthy);
      out.status = 204;
      out.body.clear();
    };
  };
  for (const char* state : {"healthy", "unhealthy"}) {
    bool healthy = std::string_view(state) == "healthy";
    // The {address} form is accepted; health is per target, so it sets the whole target.
    for (const char* prefix : {"/upstreams/{upstream}/targets/{target}/",
                               "/upstreams/{upstream}/targets/{target}/{address}/"}) {
      add({std::string(prefix) + state,
           {{"PUT", set_health(healthy)}, {"POST", set_health(healthy)}}});
    }
  }
}

}  // namespace sb::admin
