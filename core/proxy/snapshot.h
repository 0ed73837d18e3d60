// One immutable config generation: the validated entities and everything compiled from them.
// A request pins the Snapshot it started with (shared_ptr), so a reload never changes the
// config under an in-flight request; the old generation is freed when its last user is done.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/model.h"
#include "router/router.h"

namespace sb::proxy {

struct Snapshot {
  sb::config::Config config;
  std::unique_ptr<sb::router::Router> router;
  std::unordered_map<std::string, int> upstream_by_name;  // index into config.upstreams
  uint64_t generation = 0;
};

// Compiles a Snapshot; router problems are appended to `errors` (empty on success).
std::shared_ptr<const Snapshot> build_snapshot(sb::config::Config config,
                                               sb::router::Flavor flavor, uint64_t generation,
                                               std::vector<std::string>* errors);

}  // namespace sb::proxy
