#include "proxy/snapshot.h"

#include <fmt/format.h>

#include "proxy/upstream.h"

namespace sb::proxy {

int default_port_for(std::string_view protocol) {
  if (protocol == "https" || protocol == "grpcs") return 443;
  return 80;
}

std::shared_ptr<const Snapshot> build_snapshot(sb::config::Config config, sb::router::Flavor flavor,
                                               uint64_t generation,
                                               std::vector<std::string>* errors) {
  auto snap = std::make_shared<Snapshot>();
  snap->config = std::move(config);
  snap->generation = generation;
  for (size_t i = 0; i < snap->config.upstreams.size(); ++i) {
    snap->upstream_by_name.emplace(snap->config.upstreams[i].name, static_cast<int>(i));
  }
  snap->service_targets.resize(snap->config.services.size());
  for (size_t i = 0; i < snap->config.services.size(); ++i) {
    const auto& svc = snap->config.services[i];
    ServiceTarget& target = snap->service_targets[i];
    if (auto it = snap->upstream_by_name.find(svc.host); it != snap->upstream_by_name.end()) {
      target.upstream = it->second;
      continue;
    }
    target.is_ip = Resolver::parse_ip(svc.host, svc.port, &target.address);
    target.host_header = default_port_for(svc.protocol) == svc.port
                             ? svc.host
                             : fmt::format("{}:{}", svc.host, svc.port);
  }
  std::vector<std::string> router_errors;
  snap->router = sb::router::Router::build(snap->config, flavor, &router_errors);
  if (!router_errors.empty() || !snap->router) {
    if (errors) errors->insert(errors->end(), router_errors.begin(), router_errors.end());
    return nullptr;
  }
  return snap;
}

}  // namespace sb::proxy
