#include "proxy/snapshot.h"

namespace sb::proxy {

std::shared_ptr<const Snapshot> build_snapshot(sb::config::Config config,
                                               sb::router::Flavor flavor, uint64_t generation,
                                               std::vector<std::string>* errors) {
  auto snap = std::make_shared<Snapshot>();
  snap->config = std::move(config);
  snap->generation = generation;
  for (size_t i = 0; i < snap->config.upstreams.size(); ++i) {
    snap->upstream_by_name.emplace(snap->config.upstreams[i].name, static_cast<int>(i));
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
