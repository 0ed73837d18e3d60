#include "proxy/settings.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fmt/format.h>
#include <charconv>
#include <cstring>

#include "http/message.h"

namespace sb::proxy {

bool parse_cidr(std::string_view text, Cidr& out) {
  text = sb::http::trim(text);
  out = Cidr{};
  std::string addr(text.substr(0, text.find('/')));
  int bits = -1;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    auto bits_text = text.substr(slash + 1);
    if (bits_text.empty() || bits_text[0] < '0' || bits_text[0] > '9') return false;
    auto [p, ec] = std::from_chars(bits_text.data(), bits_text.data() + bits_text.size(), bits);
    if (ec != std::errc() || p != bits_text.data() + bits_text.size()) return false;
  }
  if (inet_pton(AF_INET, addr.c_str(), out.addr) == 1) {
    out.family = AF_INET;
    if (bits < 0) bits = 32;
    if (bits > 32) return false;
  } else if (inet_pton(AF_INET6, addr.c_str(), out.addr) == 1) {
    out.family = AF_INET6;
    if (bits < 0) bits = 128;
    if (bits > 128) return false;
  } else {
    return false;
  }
  out.bits = static_cast<uint8_t>(bits);
  return true;
}

namespace {
bool prefix_equal(const uint8_t* a, const uint8_t* b, int bits) {
  int full = bits / 8;
  if (std::memcmp(a, b, full) != 0) return false;
  int rest = bits % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}
}  // namespace

bool cidr_contains(const std::vector<Cidr>& list, const struct sockaddr* addr) {
  const uint8_t* bytes = nullptr;
  uint8_t mapped[4];
  int family = addr->sa_family;
  if (family == AF_INET) {
    bytes = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(addr)->sin_addr);
  } else if (family == AF_INET6) {
    bytes =
        reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr);
    static const uint8_t v4map[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(bytes, v4map, 12) == 0) {
      std::memcpy(mapped, bytes + 12, 4);
      bytes = mapped;
      family = AF_INET;
    }
  } else {
    return false;
  }
  for (const Cidr& c : list) {
    if (c.family == family && prefix_equal(c.addr, bytes, c.bits)) return true;
  }
  return false;
}

bool parse_headers_setting(std::string_view text, uint32_t& out, std::string& error) {
  out = 0;
  bool first = true;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = sb::http::trim(text.substr(0, comma));
    using sb::http::iequals;
    if (item.empty()) {
    } else if (iequals(item, "off")) {
      if (first) return true;  // Kong: "off" disables everything only as the first entry
    } else if (iequals(item, "server_tokens")) {
      out |= kHeaderServer | kHeaderVia;
    } else if (iequals(item, "latency_tokens")) {
      out |= kHeaderProxyLatency | kHeaderResponseLatency | kHeaderUpstreamLatency |
             kHeaderAdminLatency;
    } else if (iequals(item, "Server")) {
      out |= kHeaderServer;
    } else if (iequals(item, "Via")) {
      out |= kHeaderVia;
    } else if (iequals(item, "X-Kong-Proxy-Latency")) {
      out |= kHeaderProxyLatency;
    } else if (iequals(item, "X-Kong-Response-Latency")) {
      out |= kHeaderResponseLatency;
    } else if (iequals(item, "X-Kong-Upstream-Latency")) {
      out |= kHeaderUpstreamLatency;
    } else if (iequals(item, "X-Kong-Admin-Latency")) {
      out |= kHeaderAdminLatency;
    } else if (iequals(item, "X-Kong-Upstream-Status")) {
      out |= kHeaderUpstreamStatus;
    } else if (iequals(item, "X-Kong-Request-Id")) {
      out |= kHeaderRequestId;
    } else {
      error = fmt::format("headers: invalid entry '{}'", item);
      return false;
    }
    if (!item.empty()) first = false;
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return true;
}

}  // namespace sb::proxy
