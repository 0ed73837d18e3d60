// Bytes -> sb::config::load_string (kong.yaml / JSON), with no plugins enabled (even sizes) or
// Kong's bundled plugin list enabled (odd sizes). Errors are expected; crashes, leaks and UB are
// not.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"

namespace {

sb::config::LoadOptions kong_plugins() {
  sb::config::LoadOptions o;
  o.enabled_plugins = {"acl",
                       "acme",
                       "ai-proxy",
                       "aws-lambda",
                       "azure-functions",
                       "basic-auth",
                       "bot-detection",
                       "correlation-id",
                       "cors",
                       "datadog",
                       "file-log",
                       "grpc-gateway",
                       "grpc-web",
                       "hmac-auth",
                       "http-log",
                       "ip-restriction",
                       "jwt",
                       "key-auth",
                       "ldap-auth",
                       "loggly",
                       "oauth2",
                       "opentelemetry",
                       "post-function",
                       "pre-function",
                       "prometheus",
                       "proxy-cache",
                       "rate-limiting",
                       "request-size-limiting",
                       "request-termination",
                       "request-transformer",
                       "response-ratelimiting",
                       "response-transformer",
                       "session",
                       "statsd",
                       "syslog",
                       "tcp-log",
                       "udp-log",
                       "zipkin"};
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const sb::config::LoadOptions none;
  static const sb::config::LoadOptions all = kong_plugins();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // Loading is slow (yaml-cpp), so each input runs once: odd sizes with Kong's plugin list.
  const sb::config::LoadOptions& opts = (size % 2) ? all : none;
  sb::config::LoadResult r = sb::config::load_string(text, "fuzz.yaml", opts);
  size_t sink = 0;
  for (const auto& e : r.errors) sink += e.to_string().size();
  if (r.ok()) sink += r.config->routes.size() + r.config->services.size() + r.config->hash.size();
  (void)sink;
  return 0;
}
