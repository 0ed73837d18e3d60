#include "proxy/snapshot.h"

#include <fmt/format.h>

#include "proxy/upstream.h"

namespace sb::proxy {

int default_port_for(std::string_view protocol) {
  if (protocol == "https" || protocol == "grpcs") return 443;
  return 80;
}

std::shared_ptr<Snapshot> prepare_snapshot(sb::config::Config config, sb::router::Flavor flavor,
                                           uint64_t generation, std::vector<std::string>* errors) {
  auto snap = std::make_shared<Snapshot>();
  snap->config = std::move(config);
  snap->generation = generation;
  for (size_t i = 0; i < snap->config.upstreams.size(); ++i) {
    snap->upstream_by_name.emplace(snap->config.upstreams[i].name, static_cast<int>(i));
  }
  // Balancing structures (the consistent-hashing ring) once per generation, not per request.
  snap->balancers.reserve(snap->config.upstreams.size());
  for (const auto& upstream : snap->config.upstreams) {
    snap->balancers.push_back(balancer::make_plan(upstream));
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
  // Upstream TLS: one client context per https service (verification, CAs, client cert).
  for (size_t i = 0; i < snap->config.services.size(); ++i) {
    const auto& svc = snap->config.services[i];
    if (svc.protocol != "https") continue;
    sb::net::ClientTlsOptions options;
    options.verify = svc.tls_verify.value_or(false);  // Kong's node default: off
    options.verify_depth = svc.tls_verify_depth.value_or(-1);
    for (const auto& id : svc.ca_certificates) {
      if (const auto* ca = snap->config.find_ca_certificate(id))
        options.ca_pems.push_back(ca->cert);
    }
    if (svc.client_certificate) {
      if (const auto* cert = snap->config.find_certificate(*svc.client_certificate)) {
        options.client_cert_pem = cert->cert;
        options.client_key_pem = cert->key;
      }
    }
    std::string error;
    snap->service_targets[i].tls = sb::net::make_client_ctx(options, &error);
    if (!snap->service_targets[i].tls) {
      if (errors) {
        errors->push_back(fmt::format("services[{}] ({}): upstream TLS: {}", i,
                                      svc.name.empty() ? svc.id : svc.name, error));
      }
      return nullptr;
    }
  }
  // Certificates served to clients, selected by SNI.
  std::vector<sb::net::CertificateStore::Input> inputs;
  for (const auto& cert : snap->config.certificates) {
    inputs.push_back({cert.cert, cert.key, cert.cert_alt, cert.key_alt, cert.snis});
  }
  std::vector<std::string> cert_errors;
  snap->certificates = sb::net::CertificateStore::build(inputs, nullptr, &cert_errors);
  if (!cert_errors.empty() || !snap->certificates) {
    if (errors) errors->insert(errors->end(), cert_errors.begin(), cert_errors.end());
    return nullptr;
  }
  std::vector<std::string> router_errors;
  snap->router = sb::router::Router::build(snap->config, flavor, &router_errors);
  if (!router_errors.empty() || !snap->router) {
    if (errors) errors->insert(errors->end(), router_errors.begin(), router_errors.end());
    return nullptr;
  }
  return snap;
}

bool finish_snapshot(Snapshot& snap, std::vector<std::string>* errors,
                     const sb::plugins::Registry* registry) {
  std::vector<std::string> plugin_errors;
  snap.plugins = sb::plugins::CompiledPlugins::build(snap.config, registry, &plugin_errors);
  if (!snap.plugins) {
    if (errors) errors->insert(errors->end(), plugin_errors.begin(), plugin_errors.end());
    return false;
  }
  snap.entities.build(snap.config, registry);
  snap.plugins->run_configure();
  return true;
}

std::shared_ptr<const Snapshot> build_snapshot(sb::config::Config config, sb::router::Flavor flavor,
                                               uint64_t generation,
                                               std::vector<std::string>* errors,
                                               const sb::plugins::Registry* registry) {
  auto snap = prepare_snapshot(std::move(config), flavor, generation, errors);
  if (!snap || !finish_snapshot(*snap, errors, registry)) return nullptr;
  return snap;
}

}  // namespace sb::proxy
