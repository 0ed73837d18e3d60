// The node-setting parsers on each line of the input: Kong's listen syntax, trusted_ips CIDRs
// (then cidr_contains on an address made of the line's bytes), the `headers` setting, and the
// config loader's host parsers; then the whole input as a kong.conf file, every entry applied.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "config/checks.h"
#include "fuzz_common.h"
#include "net/listener.h"
#include "proxy/conf.h"
#include "proxy/settings.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sb::fuzz::Input in(data, size);
  std::vector<sb::proxy::Cidr> cidrs;
  size_t sink = 0;
  for (int n = 0; in.size() > 0 && n < 64; ++n) {
    std::string_view line = in.line();
    std::string error;
    sb::net::ListenAddress listen;
    if (sb::net::parse_listen_address(line, listen, error)) sink += listen.to_string().size();
    sb::proxy::Cidr cidr;
    if (sb::proxy::parse_cidr(line, cidr)) cidrs.push_back(cidr);
    uint32_t bits = 0;
    (void)sb::proxy::parse_headers_setting(line, bits, error);
    if (auto hp = sb::config::checks::parse_host(line, &error)) sink += hp->host.size();
    sink += sb::config::checks::check_route_host(line).size();
    sink += sb::config::checks::check_wildcard_host(line).size();
    sink += sb::config::checks::check_host_with_optional_port(line).size();
    (void)sb::config::checks::is_ip_or_cidr(line);

    sockaddr_in6 a6{};
    a6.sin6_family = AF_INET6;
    std::memcpy(&a6.sin6_addr, line.data(), std::min(line.size(), sizeof(a6.sin6_addr)));
    sockaddr_in a4{};
    a4.sin_family = AF_INET;
    std::memcpy(&a4.sin_addr, line.data(), std::min(line.size(), sizeof(a4.sin_addr)));
    sink += sb::proxy::cidr_contains(cidrs, reinterpret_cast<const sockaddr*>(&a6));
    sink += sb::proxy::cidr_contains(cidrs, reinterpret_cast<const sockaddr*>(&a4));
  }
  std::vector<sb::proxy::ConfEntry> entries;
  std::string error;
  std::string_view whole(reinterpret_cast<const char*>(data), size);
  sink += sb::proxy::looks_like_conf(whole);
  if (sb::proxy::parse_conf_text(whole, entries, error)) {
    sb::proxy::Settings settings;
    for (const auto& e : entries) sink += sb::proxy::apply_setting(settings, e.key, e.value, error);
  }
  (void)sink;
  return 0;
}
