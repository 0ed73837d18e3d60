// One immutable config generation: the validated entities and everything compiled from them.
// A request pins the Snapshot it started with (shared_ptr), so a reload never changes the
// config under an in-flight request; the old generation is freed when its last user is done.
#pragma once

#include <netinet/in.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/model.h"
#include "net/tls.h"
#include "plugins/chain.h"
#include "plugins/entities.h"
#include "proxy/balancer.h"
#include "router/router.h"

namespace sb::proxy {

// What a request needs to reach a service directly (not through an `upstreams` entity),
// computed once per Snapshot instead of per request.
struct ServiceTarget {
  bool is_ip = false;  // host is an IP literal: `address` is ready to connect to
  sockaddr_storage address{};
  std::string host_header;  // host, plus ":port" unless the scheme's default port
  int upstream = -1;        // index into config.upstreams when host names an upstream
  sb::net::SslCtxPtr tls;   // https services: the client context (verification, mTLS)
};

struct Snapshot {
  sb::config::Config config;
  std::unique_ptr<sb::router::Router> router;
  std::unordered_map<std::string, int> upstream_by_name;          // index into config.upstreams
  std::vector<ServiceTarget> service_targets;                     // parallel to config.services
  std::shared_ptr<const sb::net::CertificateStore> certificates;  // served by SNI
  // Plugin instances compiled for this generation (freed on the main thread with it) and the
  // consumer/entity look-ups plugins use. Declared after `config`, which they point into.
  std::unique_ptr<sb::plugins::CompiledPlugins> plugins;
  sb::plugins::EntityIndex entities;
  // Per upstream (parallel to config.upstreams): its algorithm and consistent-hashing ring.
  std::vector<balancer::Plan> balancers;

  // The precomputed target of one of this Snapshot's services.
  const ServiceTarget& target_of(const sb::config::Service& svc) const {
    return service_targets[static_cast<size_t>(&svc - config.services.data())];
  }
  uint64_t generation = 0;
};

// 443 for https/grpcs, 80 otherwise (the port Kong leaves out of the upstream Host header).
int default_port_for(std::string_view protocol);

// The part of build_snapshot() that may run on any thread: targets, TLS contexts, certificates,
// router. Problems are appended to `errors` (null result).
std::shared_ptr<Snapshot> prepare_snapshot(sb::config::Config config, sb::router::Flavor flavor,
                                           uint64_t generation, std::vector<std::string>* errors);
// The rest, on the main thread (the plugin ABI's config_compile and configure hooks run there):
// compiles the plugin configs of `registry` (may be null: no plugins) and the entity look-ups.
// Returns false, with `errors`, when a plugin refuses its config.
bool finish_snapshot(Snapshot& snap, std::vector<std::string>* errors,
                     const sb::plugins::Registry* registry);

// Compiles a Snapshot; router problems are appended to `errors` (empty on success).
// `registry` (may be null: no plugins) compiles the generation's plugin configs.
std::shared_ptr<const Snapshot> build_snapshot(sb::config::Config config, sb::router::Flavor flavor,
                                               uint64_t generation,
                                               std::vector<std::string>* errors,
                                               const sb::plugins::Registry* registry = nullptr);

}  // namespace sb::proxy
