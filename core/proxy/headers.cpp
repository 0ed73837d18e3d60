#include "proxy/headers.h"

#include <arpa/inet.h>
#include <fmt/format.h>

namespace sb::proxy {

using sb::http::has_token;
using sb::http::iequals;

namespace {

void add(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

// Headers the client's Connection header names are hop-by-hop too (except these tokens).
bool listed_in_connection(std::string_view connection, std::string_view name) {
  if (connection.empty()) return false;
  if (iequals(name, "keep-alive") || iequals(name, "close") || iequals(name, "upgrade")) {
    return false;
  }
  return has_token(connection, name);
}

// Parses an IP address; `trusted` tells whether it is in trusted_ips.
bool parse_address(std::string_view text, const Settings& settings, bool* trusted) {
  char buf[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof(buf)) return false;
  text.copy(buf, text.size());
  buf[text.size()] = '\0';
  sockaddr_storage ss{};
  if (inet_pton(AF_INET, buf, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
    ss.ss_family = AF_INET;
  } else if (inet_pton(AF_INET6, buf, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr) == 1) {
    ss.ss_family = AF_INET6;
  } else {
    return false;
  }
  *trusted = cidr_contains(settings.trusted_ips, reinterpret_cast<const sockaddr*>(&ss));
  return true;
}

// The client address after real-IP processing (nginx realip, which Kong configures from
// trusted_ips, real_ip_header and real_ip_recursive): only a trusted peer may set it; the last
// address of a list wins, or with real_ip_recursive the last one that is not itself trusted;
// anything that is not an IP address is ignored.
}  // namespace

std::string_view client_forwarded_ip(const sb::http::MessageHead& request, const Settings& settings,
                                     std::string_view peer_ip, bool trusted) {
  if (!trusted) return peer_ip;
  bool found = false;
  std::string_view list = request.get(settings.real_ip_header, &found);
  if (!found) return peer_ip;
  std::string_view chosen;
  while (true) {
    size_t comma = list.rfind(',');
    std::string_view item =
        sb::http::trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
    bool item_trusted = false;
    if (!parse_address(item, settings, &item_trusted)) break;
    chosen = item;
    if (!settings.real_ip_recursive || !item_trusted || comma == std::string_view::npos) break;
    list = list.substr(0, comma);
  }
  return chosen.empty() ? peer_ip : chosen;
}

bool is_hop_by_hop(std::string_view name) {
  return iequals(name, "Connection") || iequals(name, "Keep-Alive") ||
         iequals(name, "Proxy-Connection") || iequals(name, "Transfer-Encoding") ||
         iequals(name, "TE") || iequals(name, "Trailer") || iequals(name, "Upgrade") ||
         iequals(name, "Proxy");
}

void build_upstream_request(std::string& out, const Transaction& t,
                            const sb::http::MessageHead& request, const Settings& settings,
                            std::string_view peer_ip, bool trusted, uint16_t listen_port) {
  std::string_view connection = request.get("Connection");
  std::string_view incoming_xff, incoming_via, x_proto, x_host, x_port, x_path, x_prefix;
  bool wants_trailers = false;
  const PluginRun* run = t.plugins_active ? t.plugins.get() : nullptr;
  if (run != nullptr && !run->method_override.empty()) {
    out.append(run->method_override);
  } else {
    out.append(llhttp_method_name(static_cast<llhttp_method_t>(request.method)));
  }
  out += ' ';
  out.append(t.match.upstream_path);
  out.append(run != nullptr && run->query_overridden ? std::string_view(run->query_override)
                                                     : t.query);
  out.append(" HTTP/1.1\r\nHost: ");
  out.append(t.upstream_host_header);
  out.append("\r\n");
  std::string xff_merged;
  for (size_t i = 0; i < request.field_count(); ++i) {
    std::string_view name = request.name(i);
    std::string_view value = request.value(i);
    switch (name.size()) {
      case 2:
        if (iequals(name, "TE")) {
          wants_trailers = wants_trailers || has_token(value, "trailers");
          continue;
        }
        break;
      case 3:
        if (iequals(name, "Via")) {
          incoming_via = value;
          continue;
        }
        break;
      case 4:
        if (iequals(name, "Host")) continue;
        break;
      case 6:
        if (iequals(name, "Expect")) continue;
        break;
      case 9:
        if (iequals(name, "X-Real-IP")) continue;
        break;
      case 15:
        if (iequals(name, "X-Forwarded-For")) {
          if (incoming_xff.empty()) {
            incoming_xff = value;
          } else {
            // Several X-Forwarded-For lines: nginx joins them with ", ".
            if (xff_merged.empty()) xff_merged.assign(incoming_xff);
            xff_merged.append(", ");
            xff_merged.append(value);
            incoming_xff = xff_merged;
          }
          continue;
        }
        break;
      case 16:
        if (iequals(name, "X-Forwarded-Host")) {
          x_host = value;
          continue;
        }
        if (iequals(name, "X-Forwarded-Port")) {
          x_port = value;
          continue;
        }
        if (iequals(name, "X-Forwarded-Path")) {
          x_path = value;
          continue;
        }
        break;
      case 17:
        if (iequals(name, "X-Forwarded-Proto")) {
          x_proto = value;
          continue;
        }
        if (iequals(name, "X-Kong-Request-Id") && (settings.headers_upstream & kHeaderRequestId)) {
          continue;
        }
        break;
      case 18:
        if (iequals(name, "X-Forwarded-Prefix")) {
          x_prefix = value;
          continue;
        }
        break;
      case 14:
        if (iequals(name, "Content-Length")) continue;
        break;
      default:
        break;
    }
    if (is_hop_by_hop(name) || listed_in_connection(connection, name)) continue;
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
  }
  std::string_view real_ip = client_forwarded_ip(request, settings, peer_ip, trusted);
  add(out, "X-Real-IP", real_ip);
  // Kong: incoming X-Forwarded-For + ", " + the connecting peer; else the (real) client address.
  out.append("X-Forwarded-For: ");
  if (!incoming_xff.empty()) {
    out.append(incoming_xff);
    out.append(", ");
    out.append(peer_ip);
  } else {
    out.append(real_ip);
  }
  out.append("\r\n");
  add(out, "X-Forwarded-Proto",
      trusted && !x_proto.empty() ? x_proto : std::string_view(t.https ? "https" : "http"));
  add(out, "X-Forwarded-Host", trusted && !x_host.empty() ? x_host : std::string_view(t.host));
  if (trusted && !x_port.empty()) {
    add(out, "X-Forwarded-Port", x_port);
  } else {
    out.append("X-Forwarded-Port: ");
    fmt::format_to(std::back_inserter(out), "{}", listen_port);
    out.append("\r\n");
  }
  add(out, "X-Forwarded-Path", trusted && !x_path.empty() ? x_path : t.raw_path);
  if (trusted && !x_prefix.empty()) {
    add(out, "X-Forwarded-Prefix", x_prefix);
  } else if (!t.match.stripped_prefix.empty() && t.match.stripped_prefix != "/") {
    add(out, "X-Forwarded-Prefix", t.match.stripped_prefix);
  }
  // Kong 3.8+ always sends Via upstream; the `headers` setting only governs responses.
  out.append("Via: ");
  if (!incoming_via.empty()) {
    out.append(incoming_via);
    out.append(", ");
  }
  out.append(t.client_minor == 0 ? "1.0 " : "1.1 ");
  out.append(kProductToken);
  out.append("\r\n");
  if (settings.headers_upstream & kHeaderRequestId) {
    add(out, "X-Kong-Request-Id", std::string_view(t.request_id, sizeof(t.request_id)));
  }
  if (wants_trailers) out.append("TE: trailers\r\n");
  if (t.upgrade && iequals(sb::http::trim(request.get("Upgrade")), "websocket")) {
    out.append("Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n");
  } else {
    out.append("Connection: keep-alive\r\n");
  }
  if (t.chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  } else if (t.content_length >= 0) {
    fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n", t.content_length);
  }
  out.append("\r\n");
}

void build_client_response_head(std::string& out, const Transaction& t,
                                const sb::http::MessageHead& response, const Settings& settings,
                                ResponseFraming framing, bool keep_alive, std::string_view date) {
  std::string_view connection = response.get("Connection");
  std::string_view upstream_via;
  bool has_server = false;
  bool has_date = false;
  std::string_view reason = response.reason();
  if (reason.empty()) reason = sb::http::status_reason(response.status);
  fmt::format_to(std::back_inserter(out), "HTTP/1.1 {} {}\r\n", response.status, reason);
  for (size_t i = 0; i < response.field_count(); ++i) {
    std::string_view name = response.name(i);
    std::string_view value = response.value(i);
    if (iequals(name, "Content-Length")) continue;
    if (iequals(name, "Via")) {
      upstream_via = value;
      continue;
    }
    if (framing == ResponseFraming::tunnel && iequals(name, "Upgrade")) {
      add(out, name, value);
      continue;
    }
    if (is_hop_by_hop(name) || listed_in_connection(connection, name)) continue;
    if (iequals(name, "Server")) has_server = true;
    if (iequals(name, "Date")) has_date = true;
    add(out, name, value);
  }
  switch (framing) {
    case ResponseFraming::length:
      fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n", response.content_length);
      break;
    case ResponseFraming::none:
      if (response.content_length >= 0 && response.status != 204) {
        fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n", response.content_length);
      } else if (response.chunked && t.head_request) {
        out.append("Transfer-Encoding: chunked\r\n");
      }
      break;
    case ResponseFraming::chunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    case ResponseFraming::close:
    case ResponseFraming::tunnel:
      break;
  }
  if (framing == ResponseFraming::tunnel) {
    out.append("Connection: upgrade\r\n");
  } else if (!keep_alive) {
    out.append("Connection: close\r\n");
  } else {
    out.append("Connection: keep-alive\r\n");
  }
  if (!has_date) add(out, "Date", date);
  if (!has_server && (settings.headers & kHeaderServer)) add(out, "Server", kProductToken);
  if (settings.headers & kHeaderVia) {
    out.append("Via: ");
    if (!upstream_via.empty()) {
      out.append(upstream_via);
      out.append(", ");
    }
    out.append("1.1 ");
    out.append(kProductToken);
    out.append("\r\n");
  } else if (!upstream_via.empty()) {
    add(out, "Via", upstream_via);
  }
  if (settings.headers & kHeaderUpstreamStatus) {
    fmt::format_to(std::back_inserter(out), "X-Kong-Upstream-Status: {}\r\n", response.status);
  }
  if (settings.headers & kHeaderUpstreamLatency) {
    fmt::format_to(std::back_inserter(out), "X-Kong-Upstream-Latency: {}\r\n",
                   t.upstream_head_ms - t.upstream_start_ms);
  }
  if (settings.headers & kHeaderProxyLatency) {
    fmt::format_to(std::back_inserter(out), "X-Kong-Proxy-Latency: {}\r\n",
                   t.upstream_start_ms - t.start_ms);
  }
  if (settings.headers & kHeaderRequestId) {
    add(out, "X-Kong-Request-Id", std::string_view(t.request_id, sizeof(t.request_id)));
  }
  out.append("\r\n");
}

void build_local_response(std::string& out, const Transaction& t, const Settings& settings,
                          int status, std::string_view content_type, size_t body_size,
                          bool keep_alive, std::string_view extra_headers, bool admin,
                          uint64_t latency_ms, std::string_view date) {
  fmt::format_to(std::back_inserter(out), "HTTP/1.1 {} {}\r\n", status,
                 sb::http::status_reason(status));
  add(out, "Date", date);
  if (!content_type.empty()) add(out, "Content-Type", content_type);
  if (status == 426) {
    // Kong's "Please use HTTPS protocol" answer.
    out.append("Connection: Upgrade\r\nUpgrade: TLS/1.2, HTTP/1.1\r\n");
  } else {
    out.append(keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
  }
  // nginx sends no Content-Length with a 204 (RFC 9110 §8.6: it must not).
  if (status != 204) fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n", body_size);
  out.append(extra_headers);
  if (admin) {
    if (settings.headers & kHeaderAdminLatency) {
      fmt::format_to(std::back_inserter(out), "X-Kong-Admin-Latency: {}\r\n", latency_ms);
    }
  } else if (settings.headers & kHeaderResponseLatency) {
    fmt::format_to(std::back_inserter(out), "X-Kong-Response-Latency: {}\r\n", latency_ms);
  }
  if (settings.headers & kHeaderServer) add(out, "Server", kProductToken);
  if (!admin && (settings.headers & kHeaderRequestId)) {
    add(out, "X-Kong-Request-Id", std::string_view(t.request_id, sizeof(t.request_id)));
  }
  out.append("\r\n");
}

}  // namespace sb::proxy
