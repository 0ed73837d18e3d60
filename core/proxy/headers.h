// Serialisation of the heads the gateway writes: the request to the upstream and the response
// to the client, with Kong's added and removed headers (kong-compat.md §3.1, §3.2).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http/message.h"
#include "proxy/settings.h"
#include "proxy/transaction.h"

namespace sb::proxy {

inline constexpr std::string_view kProductToken = "silverback/0.1.0";

// The client address after real-IP processing (kong.client.get_forwarded_ip): a view into
// `request` or `peer_ip`.
std::string_view client_forwarded_ip(const sb::http::MessageHead& request, const Settings& settings,
                                     std::string_view peer_ip, bool trusted);

// True for headers that never cross a proxy (RFC 7230 §6.1 and Kong's list).
bool is_hop_by_hop(std::string_view name);

void build_upstream_request(std::string& out, const Transaction& t,
                            const sb::http::MessageHead& request, const Settings& settings,
                            std::string_view peer_ip, bool trusted, uint16_t listen_port);

void build_client_response_head(std::string& out, const Transaction& t,
                                const sb::http::MessageHead& response, const Settings& settings,
                                ResponseFraming framing, bool keep_alive, std::string_view date);

void build_local_response(std::string& out, const Transaction& t, const Settings& settings,
                          int status, std::string_view content_type, size_t body_size,
                          bool keep_alive, std::string_view extra_headers, bool admin,
                          uint64_t latency_ms, std::string_view date);

}  // namespace sb::proxy
