#include "proxy/metrics.h"

#include <fmt/format.h>

#include "proxy/snapshot.h"

namespace sb::proxy::metrics {

RouteSeries* WorkerMetrics::series_for(const Snapshot& snap, const sb::config::Route& route,
                                       const sb::config::Service* service) {
  if (snap.generation != cached_generation_) {
    // A new config: route indexes changed; the series (by label) stay.
    cached_generation_ = snap.generation;
    by_route_.assign(snap.config.routes.size(), nullptr);
  }
  auto index = static_cast<size_t>(&route - snap.config.routes.data());
  if (index >= by_route_.size()) return nullptr;
  if (RouteSeries* s = by_route_[index]) return s;
  // Kong's labels: service name else host, route name else id.
  std::string service_label =
      service ? (service->name.empty() ? service->host : service->name) : "";
  std::string route_label = route.name.empty() ? route.id : route.name;
  std::string key = service_label;
  key += '\0';
  key += route_label;
  auto it = by_labels_.find(key);
  RouteSeries* s = nullptr;
  if (it != by_labels_.end()) {
    s = it->second;
  } else {
    auto fresh = std::make_unique<RouteSeries>();
    fresh->service = std::move(service_label);
    fresh->route = std::move(route_label);
    s = fresh.get();
    std::lock_guard<std::mutex> lock(mutex_);
    series_.push_back(std::move(fresh));
    by_labels_.emplace(std::move(key), s);
  }
  by_route_[index] = s;
  return s;
}

void WorkerMetrics::record(const Snapshot& snap, const sb::config::Route& route,
                           const sb::config::Service* service, const Observation& o) {
  RouteSeries* s = series_for(snap, route, service);
  if (s == nullptr) return;
  StatusCount* sc = nullptr;
  for (auto& c : s->statuses) {
    if (c.code == o.status && c.from_service == o.from_service) {
      sc = &c;
      break;
    }
  }
  if (sc == nullptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    sc = &s->statuses.emplace_back();
    sc->code = o.status;
    sc->from_service = o.from_service;
  }
  if (o.request_ms >= 0) s->request.observe(o.request_ms, kUpstreamLatencyBuckets);
  if (o.upstream_ms >= 0) s->upstream.observe(o.upstream_ms, kUpstreamLatencyBuckets);
  if (o.kong_ms >= 0) s->kong.observe(o.kong_ms, kKongLatencyBuckets);
  sc->count.add(1);
}

void Scrape::add(const RouteSeries& s) {
  Series& out = routes[{s.service, s.route}];
  for (const auto& c : s.statuses) out.statuses[{c.code, c.from_service}] += c.count.get();
  for (size_t i = 0; i < out.kong.size(); ++i) out.kong[i] += s.kong.buckets[i].get();
  for (size_t i = 0; i < out.upstream.size(); ++i) out.upstream[i] += s.upstream.buckets[i].get();
  for (size_t i = 0; i < out.request.size(); ++i) out.request[i] += s.request.buckets[i].get();
  out.kong_sum += s.kong.sum.get();
  out.upstream_sum += s.upstream.sum.get();
  out.request_sum += s.request.sum.get();
}

namespace {

// Label values: backslash, double quote and newline are escaped.
std::string label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void header(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <size_t N>
void histogram(std::string& out, std::string_view name, const std::string& labels,
               const std::array<int64_t, N>& bounds, const std::array<uint64_t, N + 1>& counts,
               uint64_t sum) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < N; ++i) {
    cumulative += counts[i];
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"{}\"}} {}\n", name, labels,
                   bounds[i], cumulative);
  }
  cumulative += counts[N];
  fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels,
                 cumulative);
  fmt::format_to(std::back_inserter(out), "{}_count{{{}}} {}\n", name, labels, cumulative);
  fmt::format_to(std::back_inserter(out), "{}_sum{{{}}} {}\n", name, labels, sum);
}

std::string route_labels(const std::pair<std::string, std::string>& key) {
  return fmt::format("service=\"{}\",route=\"{}\",workspace=\"default\"", label(key.first),
                     label(key.second));
}

}  // namespace

std::string render(const Scrape& s) {
  std::string out;
  out.reserve(4096 + s.routes.size() * 4096);
  std::string node = label(s.node_id);

  header(out, "kong_datastore_reachable", "Datastore reachable from Kong, 0 is unreachable",
         "gauge");
  out += "kong_datastore_reachable 1\n";

  header(out, "kong_http_requests_total", "HTTP status codes per consumer/service/route in Kong",
         "counter");
  for (const auto& [key, series] : s.routes) {
    for (const auto& [status, count] : series.statuses) {
      fmt::format_to(std::back_inserter(out),
                     "kong_http_requests_total{{service=\"{}\",route=\"{}\",code=\"{}\","
                     "source=\"{}\",workspace=\"default\",consumer=\"\"}} {}\n",
                     label(key.first), label(key.second), status.first,
                     status.second ? "service" : "kong", count);
    }
  }

  header(out, "kong_kong_latency_ms",
         "Latency added by Kong and enabled plugins for each service/route in Kong", "histogram");
  for (const auto& [key, series] : s.routes) {
    histogram(out, "kong_kong_latency_ms", route_labels(key), kKongLatencyBuckets, series.kong,
              series.kong_sum);
  }

  header(out, "kong_nginx_connections_total", "Number of connections by subsystem", "gauge");
  const std::pair<const char*, int64_t> states[] = {{"accepted", static_cast<int64_t>(s.accepted)},
                                                    {"active", s.active},
                                                    {"handled", static_cast<int64_t>(s.handled)},
                                                    {"reading", s.reading},
                                                    {"total", static_cast<int64_t>(s.requests)},
                                                    {"waiting", s.waiting},
                                                    {"writing", s.writing}};
  for (const auto& [state, value] : states) {
    fmt::format_to(std::back_inserter(out),
                   "kong_nginx_connections_total{{node_id=\"{}\",subsystem=\"http\",state=\"{}\"}} "
                   "{}\n",
                   node, state, value);
  }

  header(out, "kong_nginx_requests_total", "Number of requests total", "gauge");
  fmt::format_to(std::back_inserter(out),
                 "kong_nginx_requests_total{{node_id=\"{}\",subsystem=\"http\"}} {}\n", node,
                 s.requests);

  header(out, "kong_node_info", "Kong Node metadata information", "gauge");
  fmt::format_to(std::back_inserter(out), "kong_node_info{{node_id=\"{}\",version=\"{}\"}} 1\n",
                 node, label(s.version));

  header(out, "kong_request_latency_ms",
         "Total latency incurred during requests for each service/route in Kong", "histogram");
  for (const auto& [key, series] : s.routes) {
    histogram(out, "kong_request_latency_ms", route_labels(key), kUpstreamLatencyBuckets,
              series.request, series.request_sum);
  }

  header(out, "kong_upstream_latency_ms",
         "Latency added by upstream response for each service/route in Kong", "histogram");
  for (const auto& [key, series] : s.routes) {
    histogram(out, "kong_upstream_latency_ms", route_labels(key), kUpstreamLatencyBuckets,
              series.upstream, series.upstream_sum);
  }

  header(out, "kong_upstream_target_health",
         "Health status of targets of upstream. States = healthchecks_off|healthy|unhealthy|"
         "dns_error, value is 1 when state is populated.",
         "gauge");
  for (const auto& t : s.target_health) {
    for (const char* state : {"healthchecks_off", "healthy", "unhealthy", "dns_error"}) {
      fmt::format_to(std::back_inserter(out),
                     "kong_upstream_target_health{{upstream=\"{}\",target=\"{}\",address=\"{}\","
                     "state=\"{}\",subsystem=\"http\"}} {}\n",
                     label(t.upstream), label(t.target), label(t.address), state,
                     t.state == state ? 1 : 0);
    }
  }

  header(out, "silverback_access_log_dropped_lines_total",
         "Access-log lines dropped because the log writer fell behind", "counter");
  fmt::format_to(std::back_inserter(out), "silverback_access_log_dropped_lines_total {}\n",
                 s.access_log_dropped);

  header(out, "silverback_config_hash",
         "Hash of the loaded declarative configuration (Kong's configuration_hash)", "gauge");
  fmt::format_to(std::back_inserter(out), "silverback_config_hash{{hash=\"{}\"}} 1\n",
                 label(s.config_hash));

  header(out, "silverback_config_reloads_total",
         "Configuration loads after start (SIGHUP and POST /config) by result", "counter");
  fmt::format_to(std::back_inserter(out),
                 "silverback_config_reloads_total{{result=\"success\"}} {}\n"
                 "silverback_config_reloads_total{{result=\"failure\"}} {}\n",
                 s.reloads_ok, s.reloads_failed);
  return out;
}

}  // namespace sb::proxy::metrics
