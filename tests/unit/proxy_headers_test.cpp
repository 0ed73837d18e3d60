// The heads the proxy writes (kong-compat.md §3.1, §3.2), Kong's error bodies (§3.5, §3.6) and
// the settings helpers behind trusted_ips and `headers` (§3.3).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/message.h"
#include "http/parser.h"
#include "proxy/errors.h"
#include "proxy/headers.h"
#include "proxy/settings.h"
#include "proxy/transaction.h"

namespace {

using sb::http::MessageHead;
using sb::http::Parser;
using sb::http::ParseStatus;
using sb::proxy::build_client_response_head;
using sb::proxy::build_local_response;
using sb::proxy::build_upstream_request;
using sb::proxy::Cidr;
using sb::proxy::ErrorSource;
using sb::proxy::render_error;
using sb::proxy::ResponseFraming;
using sb::proxy::Settings;
using sb::proxy::Transaction;

constexpr std::string_view kRid = "0123456789abcdef0123456789abcdef";
constexpr std::string_view kDate = "Mon, 01 Jan 2024 00:00:00 GMT";
const std::string kToken(sb::proxy::kProductToken);

// A message head parsed from real bytes (kept alive for the views a Transaction holds).
class Parsed final : public sb::http::ParserEvents {
 public:
  Parsed(llhttp_type_t type, std::string_view bytes) : parser_(type, this, &limits_) {
    size_t consumed = 0;
    ParseStatus st = parser_.execute(bytes.data(), bytes.size(), &consumed);
    EXPECT_TRUE(st == ParseStatus::ok || st == ParseStatus::paused || st == ParseStatus::upgraded)
        << parser_.error_reason();
    EXPECT_TRUE(heads_ == 1) << "head not complete";
  }
  const MessageHead& head() const { return parser_.head(); }

  int on_head(MessageHead&) override {
    ++heads_;
    return 0;
  }
  void on_body(const char*, size_t) override {}
  bool on_message_end() override { return true; }

 private:
  sb::http::Limits limits_;
  Parser parser_;
  int heads_ = 0;
};

// The transaction the session would build for `req` (session.cpp start_request/route_request).
void FillTransaction(Transaction& t, const MessageHead& req, std::string upstream_path) {
  std::memcpy(t.request_id, kRid.data(), sizeof(t.request_id));
  t.client_minor = req.http_minor;
  t.head_request = req.method == HTTP_HEAD;
  t.chunked = req.chunked;
  t.content_length = req.content_length;
  t.upgrade = req.upgrade;
  std::string_view target = req.target();
  size_t q = target.find('?');
  t.raw_path = target.substr(0, q);
  t.query = q == std::string_view::npos ? std::string_view() : target.substr(q);
  t.host_header = req.get("Host");
  t.host = "example.com";
  t.match.upstream_path = std::move(upstream_path);
  t.upstream_host_header = "backend.internal:8080";
}

std::string Upstream(const Transaction& t, const MessageHead& req, const Settings& s,
                     std::string_view peer = "203.0.113.7", bool trusted = false,
                     uint16_t port = 8000) {
  std::string out;
  build_upstream_request(out, t, req, s, peer, trusted, port);
  return out;
}

std::string AddedUpstreamHeaders(std::string_view real_ip, std::string_view xff,
                                 std::string_view path, std::string_view prefix = {}) {
  std::string s = "X-Real-IP: " + std::string(real_ip) + "\r\n" +
                  "X-Forwarded-For: " + std::string(xff) + "\r\n" +
                  "X-Forwarded-Proto: http\r\n"
                  "X-Forwarded-Host: example.com\r\n"
                  "X-Forwarded-Port: 8000\r\n"
                  "X-Forwarded-Path: " +
                  std::string(path) + "\r\n";
  if (!prefix.empty()) s += "X-Forwarded-Prefix: " + std::string(prefix) + "\r\n";
  return s;
}

const std::string kViaAndId =
    "Via: 1.1 " + kToken + "\r\nX-Kong-Request-Id: " + std::string(kRid) + "\r\n";

// ------------------------------------------------------------------------------------------------
// build_upstream_request

TEST(ProxyHeadersUpstream, SimpleGet) {
  Parsed req(HTTP_REQUEST,
             "GET /users/42?page=2&q=a%20b HTTP/1.1\r\n"
             "Host: Example.COM:8000\r\n"
             "User-Agent: curl/8.0\r\n"
             "Accept: */*\r\n"
             "\r\n");
  Transaction t;
  FillTransaction(t, req.head(), "/api/users/42");
  EXPECT_EQ(Upstream(t, req.head(), Settings{}),
            "GET /api/users/42?page=2&q=a%20b HTTP/1.1\r\n"
            "Host: backend.internal:8080\r\n"
            "User-Agent: curl/8.0\r\n"
            "Accept: */*\r\n" +
                AddedUpstreamHeaders("203.0.113.7", "203.0.113.7", "/users/42") + kViaAndId +
                "Connection: keep-alive\r\n"
                "\r\n");
}

TEST(ProxyHeadersUpstream, HopByHopHeadersAreRemoved) {
  Parsed req(HTTP_REQUEST,
             "POST /form HTTP/1.1\r\n"
             "Host: a\r\n"
             "Connection: keep-alive, X-Secret, close\r\n"
             "Keep-Alive: timeout=5\r\n"
             "Proxy-Connection: keep-alive\r\n"
             "TE: gzip\r\n"
             "Upgrade: h2c\r\n"
             "Proxy: http://evil.example\r\n"
             "X-Secret: s3cr3t\r\n"
             "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"
             "Expect: 100-continue\r\n"
             "X-Real-IP: 6.6.6.6\r\n"
             "Content-Type: text/plain\r\n"
             "Content-Length: 5\r\n"
             "\r\n");
  Transaction t;
  FillTransaction(t, req.head(), "/form");
  EXPECT_EQ(Upstream(t, req.head(), Settings{}),
            "POST /form HTTP/1.1\r\n"
            "Host: backend.internal:8080\r\n"
            "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"
            "Content-Type: text/plain\r\n" +
                AddedUpstreamHeaders("203.0.113.7", "203.0.113.7", "/form") + kViaAndId +
                "Connection: keep-alive\r\n"
                "Content-Length: 5\r\n"
                "\r\n");
}

TEST(ProxyHeadersUpstream, TeTrailersIsKept) {
  Parsed req(HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nTE: deflate, trailers\r\n\r\n");
  Transaction t;
  FillTransaction(t, req.head(), "/");
  EXPECT_EQ(Upstream(t, req.head(), Settings{}),
            "GET / HTTP/1.1\r\nHost: backend.internal:8080\r\n" +
                AddedUpstreamHeaders("203.0.113.7", "203.0.113.7", "/") + kViaAndId +
                "TE: trailers\r\n"
                "Connection: keep-alive\r\n"
                "\r\n");
}

TEST(ProxyHeadersUpstream, ChunkedRequestBody) {
  Parsed req(HTTP_REQUEST,
             "PUT /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n");
  Transaction t;
  FillTransaction(t, req.head(), "/up");
  EXPECT_EQ(Upstream(t, req.head(), Settings{}),
            "PUT /up HTTP/1.1\r\nHost: backend.internal:8080\r\nX-A: 1\r\n" +
                AddedUpstreamHeaders("203.0.113.7", "203.0.113.7", "/up") + kViaAndId +
                "Connection: keep-alive\r\n"
                "Transfer-Encoding: chunked\r\n"
                "\r\n");
}

TEST(ProxyHeadersUpstream, XForwardedForIsAppendedAndLinesJoined) {
  Parsed req(HTTP_REQUEST,
             "GET / HTTP/1.1\r\nHost: a\r\n"
             "X-Forwarded-For: 10.0.0.1\r\n"
             "X-Other: o\r\n"
             "x-forwarded-for: 10.0.0.2, 10.0.0.3\r\n"
             "\r\n");
  Transaction t;
  FillTransaction(t, req.head(), "/");
  // Kong 3.5-3.8 read $http_x_forwarded_for, which nginx joins with ", " (3.9 takes the first).
  EXPECT_EQ(Upstream(t, req.head(), Settings{}, "127.0.0.1"),
            "GET / HTTP/1.1\r\nHost: backend.internal:8080\r\nX-Other: o\r\n" +
                AddedUpstreamHeaders("127.0.0.1", "10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1", "/") +
                kViaAndId + "Connection: keep-alive\r\n\r\n");
}

constexpr std::string_view kForwardedRequest =
    "GET /svc/items?x=1 HTTP/1.1\r\n"
    "Host: a\r\n"
    "X-Real-IP: 198.51.100.9\r\n"
    "X-Forwarded-Proto: https\r\n"
    "X-Forwarded-Host: public.example\r\n"
    "X-Forwarded-Port: 443\r\n"
    "X-Forwarded-Path: /outer/svc/items\r\n"
    "X-Forwarded-Prefix: /outer\r\n"
    "\r\n";

TEST(ProxyHeadersUpstream, XForwardedHeadersReplacedForUntrustedPeers) {
  Parsed req(HTTP_REQUEST, kForwardedRequest);
  Transaction t;
  FillTransaction(t, req.head(), "/items");
  t.match.stripped_prefix = "/svc";
  EXPECT_EQ(Upstream(t, req.head(), Settings{}, "203.0.113.7", false),
            "GET /items?x=1 HTTP/1.1\r\nHost: backend.internal:8080\r\n" +
                AddedUpstreamHeaders("203.0.113.7", "203.0.113.7", "/svc/items", "/svc") +
                kViaAndId + "Connection: keep-alive\r\n\r\n");
}

TEST(ProxyHeadersUpstream, XForwardedHeadersKeptForTrustedPeers) {
  Parsed req(HTTP_REQUEST, kForwardedRequest);
  Transaction t;
  FillTransaction(t, req.head(), "/items");
  t.match.stripped_prefix = "/svc";
  EXPECT_EQ(Upstream(t, req.head(), Settings{}, "10.1.1.1", true, 8000),
            "GET /items?x=1 HTTP/1.1\r\nHost: backend.internal:8080\r\n"
            "X-Real-IP: 198.51.100.9\r\n"
            "X-Forwarded-For: 198.51.100.9\r\n"
            "X-Forwarded-Proto: https\r\n"
            "X-Forwarded-Host: public.example\r\n"
            "X-Forwarded-Port: 443\r\n"
            "X-Forwarded-Path: /outer/svc/items\r\n"
            "X-Forwarded-Prefix: /outer\r\n" +
                kViaAndId + "Connection: keep-alive\r\n\r\n");
}

TEST(ProxyHeadersUpstream, TrustedPeerWithoutForwardedHeadersUsesOwnValues) {
  Parsed req(HTTP_REQUEST, "GET /svc HTTP/1.1\r\nHost: a\r\n\r\n");
  Transaction t;
  FillTransaction(t, req.head(), "/");
  t.match.stripped_prefix = "/";  // stripping "/" gives no prefix header
  EXPECT_EQ(Upstream(t, req.head(), Settings{}, "10.1.1.1", true),
            "GET / HTTP/1.1\r\nHost: backend.internal:8080\r\n" +
                AddedUpstreamHeaders("10.1.1.1", "10.1.1.1", "/svc") + kViaAndId +
                "Connection: keep-alive\r\n\r\n");
}

// Kong appends $realip_remote_addr (the connecting peer) to an incoming X-Forwarded-For, not the
// address realip derived from it (kong/runloop/handler.lua, "X-Forwarded-* Headers").
TEST(ProxyHeadersUpstream, XForwardedForAppendsThePeerNotTheRealIp) {
  Parsed req(HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.9\r\n\r\n");
  Transaction t;
  FillTransaction(t, req.head(), "/");
  Settings s;
  s.real_ip_header = "X-Forwarded-For";
  std::string out = Upstream(t, req.head(), s, "10.1.1.1", true);
  EXPECT_NE(out.find("\r\nX-Real-IP: 198.51.100.9\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nX-Forwarded-For: 198.51.100.9, 10.1.1.1\r\n"), std::string::npos) << out;
}

TEST(ProxyHeadersUpstream, RealIpFromTheLastXForwardedForEntry) {
  Parsed req(HTTP_REQUEST,
             "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2 , 3.3.3.3\r\n\r\n");
  Transaction t;
  FillTransaction(t, req.head(), "/");
  Settings s;
  s.real_ip_header = "X-Forwarded-For";
  std::string trusted = Upstream(t, req.head(), s, "10.1.1.1", true);
  EXPECT_NE(trusted.find("\r\nX-Real-IP: 3.3.3.3\r\n"), std::string::npos) << trusted;
  std::string untrusted = Upstream(t, req.head(), s, "10.1.1.1", false);
  EXPECT_NE(untrusted.find("\r\nX-Real-IP: 10.1.1.1\r\n"), std::string::npos) << untrusted;
  EXPECT_NE(untrusted.find("\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2 , 3.3.3.3, 10.1.1.1\r\n"),
            std::string::npos)
      << untrusted;
}

TEST(ProxyHeadersUpstream, RealIpRecursiveSkipsTrustedProxies) {
  Parsed req(HTTP_REQUEST,
             "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.0.0.7\r\n\r\n");
  Transaction t;
  FillTransaction(t, req.head(), "/");
  Settings s;
  s.real_ip_header = "X-Forwarded-For";
  sb::proxy::Cidr ten;
  ASSERT_TRUE(sb::proxy::parse_cidr("10.0.0.0/8", ten));
  s.trusted_ips.push_back(ten);
  // Not recursive: the last entry, even though it is a trusted proxy.
  std::string plain = Upstream(t, req.head(), s, "10.1.1.1", true);
  EXPECT_NE(plain.find("\r\nX-Real-IP: 10.0.0.7\r\n"), std::string::npos) << plain;
  // Recursive: the right-most entry that is not trusted.
  s.real_ip_recursive = true;
  std::string rec = Upstream(t, req.head(), s, "10.1.1.1", true);
  EXPECT_NE(rec.find("\r\nX-Real-IP: 2.2.2.2\r\n"), std::string::npos) << rec;
}

TEST(ProxyHeadersUpstream, RealIpHeaderThatIsNotAnAddressIsIgnored) {
  Parsed req(HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nX-Real-IP: not-an-ip\r\n\r\n");
  Transaction t;
  FillTransaction(t, req.head(), "/");
  Settings s;
  std::string out = Upstream(t, req.head(), s, "10.1.1.1", true);
  EXPECT_NE(out.find("\r\nX-Real-IP: 10.1.1.1\r\n"), std::string::npos) << out;
}

TEST(ProxyHeadersUpstream, ViaIsAppended) {
  Parsed req(HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nVia: 1.0 fred, 1.1 p.example\r\n\r\n");
  Transaction t;
  FillTransaction(t, req.head(), "/");
  std::string out = Upstream(t, req.head(), Settings{});
  EXPECT_NE(out.find("\r\nVia: 1.0 fred, 1.1 p.example, 1.1 " + kToken + "\r\n"), std::string::npos)
      << out;
  EXPECT_EQ(out.find("Via: 1.0 fred, 1.1 p.example\r\n"), std::string::npos) << out;
}

// Kong 3.8+ sets $upstream_via unconditionally; the `headers` setting only governs response
// headers (kong/runloop/handler.lua access phase vs header_filter).
TEST(ProxyHeadersUpstream, ViaUpstreamIsNotGovernedByTheHeadersSetting) {
  Parsed req(HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nVia: 1.0 fred\r\n\r\n");
  Transaction t;
  FillTransaction(t, req.head(), "/");
  Settings s;
  s.headers = 0;
  std::string out = Upstream(t, req.head(), s);
  EXPECT_NE(out.find("\r\nVia: 1.0 fred, 1.1 " + kToken + "\r\n"), std::string::npos) << out;
}

TEST(ProxyHeadersUpstream, RequestIdReplacesIncomingOneWhenEnabled) {
  Parsed req(HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nX-Kong-Request-Id: spoofed\r\n\r\n");
  Transaction t;
  FillTransaction(t, req.head(), "/");
  std::string on = Upstream(t, req.head(), Settings{});
  EXPECT_EQ(on.find("spoofed"), std::string::npos) << on;
  EXPECT_NE(on.find("\r\nX-Kong-Request-Id: " + std::string(kRid) + "\r\n"), std::string::npos);

  Settings off;
  off.headers_upstream = 0;
  EXPECT_EQ(Upstream(t, req.head(), off),
            "GET / HTTP/1.1\r\nHost: backend.internal:8080\r\n"
            "X-Kong-Request-Id: spoofed\r\n" +
                AddedUpstreamHeaders("203.0.113.7", "203.0.113.7", "/") + "Via: 1.1 " + kToken +
                "\r\nConnection: keep-alive\r\n\r\n");
}

TEST(ProxyHeadersUpstream, WebSocketUpgrade) {
  Parsed req(HTTP_REQUEST,
             "GET /chat HTTP/1.1\r\n"
             "Host: a\r\n"
             "Connection: Upgrade\r\n"
             "Upgrade: websocket\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n"
             "\r\n");
  ASSERT_TRUE(req.head().upgrade);
  Transaction t;
  FillTransaction(t, req.head(), "/chat");
  EXPECT_EQ(Upstream(t, req.head(), Settings{}),
            "GET /chat HTTP/1.1\r\n"
            "Host: backend.internal:8080\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n" +
                AddedUpstreamHeaders("203.0.113.7", "203.0.113.7", "/chat") + kViaAndId +
                "Connection: keep-alive, Upgrade\r\n"
                "Upgrade: websocket\r\n"
                "\r\n");
}

// Kong sends the literal `Upgrade: websocket` whenever the client's Upgrade is websocket in any
// case, and nothing for other protocols (h2c), whatever the Connection header says.
TEST(ProxyHeadersUpstream, OnlyWebSocketUpgradesAreForwarded) {
  Parsed ws(HTTP_REQUEST,
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: WebSocket\r\n\r\n");
  Transaction t1;
  FillTransaction(t1, ws.head(), "/");
  std::string out1 = Upstream(t1, ws.head(), Settings{});
  EXPECT_NE(out1.find("\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n"),
            std::string::npos)
      << out1;

  Parsed h2c(HTTP_REQUEST,
             "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
             "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n");
  Transaction t2;
  FillTransaction(t2, h2c.head(), "/");
  EXPECT_EQ(Upstream(t2, h2c.head(), Settings{}),
            "GET / HTTP/1.1\r\nHost: backend.internal:8080\r\n" +
                AddedUpstreamHeaders("203.0.113.7", "203.0.113.7", "/") + kViaAndId +
                "Connection: keep-alive\r\n\r\n");
}

TEST(ProxyHeadersUpstream, IsHopByHop) {
  for (const char* name : {"Connection", "keep-alive", "PROXY-CONNECTION", "Transfer-Encoding",
                           "te", "Trailer", "Upgrade", "Proxy"}) {
    EXPECT_TRUE(sb::proxy::is_hop_by_hop(name)) << name;
  }
  for (const char* name : {"Proxy-Authorization", "Proxy-Authenticate", "Content-Length", "Host",
                           "X-Connection", "Tee"}) {
    EXPECT_FALSE(sb::proxy::is_hop_by_hop(name)) << name;
  }
}

// ------------------------------------------------------------------------------------------------
// build_client_response_head

std::string ClientHead(std::string_view response_bytes, ResponseFraming framing, bool keep_alive,
                       int client_minor = 1, const Settings& s = Settings{},
                       bool head_request = false) {
  Parsed resp(HTTP_RESPONSE, response_bytes);
  Transaction t;
  std::memcpy(t.request_id, kRid.data(), sizeof(t.request_id));
  t.client_minor = client_minor;
  t.head_request = head_request;
  t.start_ms = 1000;
  t.upstream_start_ms = 1003;
  t.upstream_head_ms = 1010;
  std::string out;
  build_client_response_head(out, t, resp.head(), s, framing, keep_alive, kDate);
  return out;
}

const std::string kResponseTail = "Date: " + std::string(kDate) + "\r\nServer: " + kToken +
                                  "\r\nVia: 1.1 " + kToken +
                                  "\r\nX-Kong-Upstream-Latency: 7\r\n"
                                  "X-Kong-Proxy-Latency: 3\r\n"
                                  "X-Kong-Request-Id: " +
                                  std::string(kRid) + "\r\n\r\n";

TEST(ProxyHeadersResponse, ContentLengthFramingAndHopByHopRemoval) {
  EXPECT_EQ(ClientHead("HTTP/1.1 200 OK\r\n"
                       "Content-Type: application/json\r\n"
                       "Content-Length: 2\r\n"
                       "Connection: keep-alive, X-Hop\r\n"
                       "Keep-Alive: timeout=5\r\n"
                       "X-Hop: 1\r\n"
                       "Proxy-Connection: keep-alive\r\n"
                       "Upgrade: h2c\r\n"
                       "Set-Cookie: a=1\r\n"
                       "Set-Cookie: b=2\r\n"
                       "\r\n",
                       ResponseFraming::length, false),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: application/json\r\n"
            "Set-Cookie: a=1\r\n"
            "Set-Cookie: b=2\r\n"
            "Content-Length: 2\r\n"
            "Connection: close\r\n" +
                kResponseTail);
}

TEST(ProxyHeadersResponse, ChunkedFraming) {
  EXPECT_EQ(
      ClientHead("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n",
                 ResponseFraming::chunked, false),
      "HTTP/1.1 201 Created\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n" +
          kResponseTail);
}

TEST(ProxyHeadersResponse, CloseDelimitedForHttp10Client) {
  EXPECT_EQ(ClientHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                       ResponseFraming::close, false, 0),
            "HTTP/1.1 200 OK\r\nConnection: close\r\n" + kResponseTail);
}

TEST(ProxyHeadersResponse, NoBodyFramings) {
  // HEAD: the upstream's Content-Length describes the body a GET would get, and is kept.
  EXPECT_EQ(ClientHead("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", ResponseFraming::none,
                       false, 1, Settings{}, true),
            "HTTP/1.1 200 OK\r\nContent-Length: 42\r\nConnection: close\r\n" + kResponseTail);
  EXPECT_EQ(
      ClientHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", ResponseFraming::none,
                 false, 1, Settings{}, true),
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n" + kResponseTail);
  EXPECT_EQ(ClientHead("HTTP/1.1 204 No Content\r\n\r\n", ResponseFraming::none, false),
            "HTTP/1.1 204 No Content\r\nConnection: close\r\n" + kResponseTail);
  EXPECT_EQ(
      ClientHead("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", ResponseFraming::none, false),
      "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nConnection: close\r\n" + kResponseTail);
}

TEST(ProxyHeadersResponse, Http10ClientKeepAlive) {
  EXPECT_EQ(
      ClientHead("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ResponseFraming::length, true, 0),
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n" + kResponseTail);
}

// nginx's header filter writes "Connection: keep-alive" on every kept-alive response, HTTP/1.1
// included (ngx_http_header_filter_module.c: `if (r->keepalive) ... "Connection: keep-alive"`).
TEST(ProxyHeadersResponse, Http11ClientKeepAliveSaysSo) {
  EXPECT_EQ(
      ClientHead("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ResponseFraming::length, true, 1),
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n" + kResponseTail);
}

TEST(ProxyHeadersResponse, UpstreamServerDateAndViaAreKept) {
  EXPECT_EQ(ClientHead("HTTP/1.1 200 Fine\r\n"
                       "Server: nginx/1.25\r\n"
                       "Date: Tue, 02 Jan 2024 00:00:00 GMT\r\n"
                       "Via: 1.1 varnish\r\n"
                       "Content-Length: 0\r\n"
                       "\r\n",
                       ResponseFraming::length, false),
            "HTTP/1.1 200 Fine\r\n"
            "Server: nginx/1.25\r\n"
            "Date: Tue, 02 Jan 2024 00:00:00 GMT\r\n"
            "Content-Length: 0\r\n"
            "Connection: close\r\n"
            "Via: 1.1 varnish, 1.1 " +
                kToken +
                "\r\n"
                "X-Kong-Upstream-Latency: 7\r\n"
                "X-Kong-Proxy-Latency: 3\r\n"
                "X-Kong-Request-Id: " +
                std::string(kRid) + "\r\n\r\n");
}

TEST(ProxyHeadersResponse, MissingReasonPhraseIsFilledIn) {
  std::string out =
      ClientHead("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", ResponseFraming::length, false);
  EXPECT_EQ(out.substr(0, out.find("\r\n")), "HTTP/1.1 404 Not Found");
}

TEST(ProxyHeadersResponse, HeadersSettingTurnsHeadersOff) {
  Settings off;
  off.headers = 0;
  EXPECT_EQ(ClientHead("HTTP/1.1 200 OK\r\nVia: 1.1 varnish\r\nContent-Length: 0\r\n\r\n",
                       ResponseFraming::length, false, 1, off),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n"
            "Date: " +
                std::string(kDate) + "\r\nVia: 1.1 varnish\r\n\r\n");

  Settings some;
  some.headers = sb::proxy::kHeaderUpstreamStatus | sb::proxy::kHeaderUpstreamLatency;
  EXPECT_EQ(ClientHead("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", ResponseFraming::length,
                       false, 1, some),
            "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n"
            "Date: " +
                std::string(kDate) +
                "\r\nX-Kong-Upstream-Status: 503\r\nX-Kong-Upstream-Latency: 7\r\n\r\n");
}

TEST(ProxyHeadersResponse, TunnelKeepsUpgrade) {
  EXPECT_EQ(ClientHead("HTTP/1.1 101 Switching Protocols\r\n"
                       "Connection: Upgrade\r\n"
                       "Upgrade: websocket\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                       "\r\n",
                       ResponseFraming::tunnel, false),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Connection: upgrade\r\n" +
                kResponseTail);
}

// ------------------------------------------------------------------------------------------------
// build_local_response

std::string Local(int status, std::string_view ctype, size_t size, bool keep_alive,
                  std::string_view extra, bool admin, const Settings& s = Settings{}) {
  Transaction t;
  std::memcpy(t.request_id, kRid.data(), sizeof(t.request_id));
  std::string out;
  build_local_response(out, t, s, status, ctype, size, keep_alive, extra, admin, 4, kDate);
  return out;
}

TEST(ProxyHeadersLocal, ErrorResponse) {
  EXPECT_EQ(Local(404, "application/json; charset=utf-8", 103, true, {}, false),
            "HTTP/1.1 404 Not Found\r\n"
            "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
            "Content-Type: application/json; charset=utf-8\r\n"
            "Connection: keep-alive\r\n"
            "Content-Length: 103\r\n"
            "X-Kong-Response-Latency: 4\r\n"
            "Server: " +
                kToken + "\r\nX-Kong-Request-Id: " + std::string(kRid) + "\r\n\r\n");
}

TEST(ProxyHeadersLocal, RedirectWithExtraHeadersAndClose) {
  EXPECT_EQ(Local(301, {}, 0, false, "Location: https://example.com/x\r\n", false),
            "HTTP/1.1 301 Moved Permanently\r\n"
            "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
            "Connection: close\r\n"
            "Content-Length: 0\r\n"
            "Location: https://example.com/x\r\n"
            "X-Kong-Response-Latency: 4\r\n"
            "Server: " +
                kToken + "\r\nX-Kong-Request-Id: " + std::string(kRid) + "\r\n\r\n");
}

// https-only route over http with https_redirect_status_code 426 (kong-compat.md §3.5).
TEST(ProxyHeadersLocal, UpgradeRequiredCarriesUpgradeHeaders) {
  EXPECT_EQ(Local(426, "application/json; charset=utf-8", 75, true, {}, false),
            "HTTP/1.1 426 Upgrade Required\r\n"
            "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
            "Content-Type: application/json; charset=utf-8\r\n"
            "Connection: Upgrade\r\n"
            "Upgrade: TLS/1.2, HTTP/1.1\r\n"
            "Content-Length: 75\r\n"
            "X-Kong-Response-Latency: 4\r\n"
            "Server: " +
                kToken + "\r\nX-Kong-Request-Id: " + std::string(kRid) + "\r\n\r\n");
}

TEST(ProxyHeadersLocal, AdminResponse) {
  EXPECT_EQ(Local(200, "application/json; charset=utf-8", 2, true, {}, true),
            "HTTP/1.1 200 OK\r\n"
            "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
            "Content-Type: application/json; charset=utf-8\r\n"
            "Connection: keep-alive\r\n"
            "Content-Length: 2\r\n"
            "X-Kong-Admin-Latency: 4\r\n"
            "Server: " +
                kToken + "\r\n\r\n");
}

TEST(ProxyHeadersLocal, HeadersOff) {
  Settings off;
  off.headers = 0;
  EXPECT_EQ(Local(401, "text/plain; charset=utf-8", 10, true, {}, false, off),
            "HTTP/1.1 401 Unauthorized\r\n"
            "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Connection: keep-alive\r\n"
            "Content-Length: 10\r\n"
            "\r\n");
}

// ------------------------------------------------------------------------------------------------
// render_error (Kong 3.5+ templates, kong/tools/http.lua)

constexpr std::string_view kJson = "application/json; charset=utf-8";
constexpr std::string_view kPlain = "text/plain; charset=utf-8";
constexpr std::string_view kHtml = "text/html; charset=utf-8";
constexpr std::string_view kXml = "application/xml; charset=utf-8";

std::string_view TypeFor(std::string_view accept, std::string_view ctype = {},
                         ErrorSource source = ErrorSource::kong) {
  static std::string keep;
  keep = std::string(render_error(404, "m", accept, ctype, source, kRid).content_type);
  return keep;
}

TEST(ProxyHeadersErrors, JsonByDefault) {
  sb::proxy::ErrorBody b =
      render_error(404, "no Route matched with those values", {}, {}, ErrorSource::kong, kRid);
  EXPECT_EQ(b.content_type, kJson);
  EXPECT_EQ(b.body,
            "{\n  \"message\":\"no Route matched with those values\",\n"
            "  \"request_id\":\"0123456789abcdef0123456789abcdef\"\n}");
}

TEST(ProxyHeadersErrors, PlainBody) {
  sb::proxy::ErrorBody b =
      render_error(503, "name resolution failed", "text/plain", {}, ErrorSource::kong, kRid);
  EXPECT_EQ(b.content_type, kPlain);
  EXPECT_EQ(b.body, "name resolution failed\nrequest_id: 0123456789abcdef0123456789abcdef\n");
}

TEST(ProxyHeadersErrors, HtmlBody) {
  sb::proxy::ErrorBody b = render_error(502, {}, "text/html", {}, ErrorSource::nginx, kRid);
  EXPECT_EQ(b.content_type, kHtml);
  EXPECT_EQ(b.body,
            "<!doctype html>\n"
            "<html>\n"
            "  <head>\n"
            "    <meta charset=\"utf-8\">\n"
            "    <title>Error</title>\n"
            "  </head>\n"
            "  <body>\n"
            "    <h1>Error</h1>\n"
            "    <p>An invalid response was received from the upstream server.</p>\n"
            "    <p>request_id: 0123456789abcdef0123456789abcdef</p>\n"
            "  </body>\n"
            "</html>\n");
}

TEST(ProxyHeadersErrors, XmlBody) {
  sb::proxy::ErrorBody b =
      render_error(401, "Unauthorized", "application/xml", {}, ErrorSource::kong, kRid);
  EXPECT_EQ(b.content_type, kXml);
  EXPECT_EQ(b.body,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<error>\n"
            "  <message>Unauthorized</message>\n"
            "  <requestid>0123456789abcdef0123456789abcdef</requestid>\n"
            "</error>\n");
}

TEST(ProxyHeadersErrors, AcceptNegotiation) {
  EXPECT_EQ(TypeFor("application/json"), kJson);
  // Kong's Accept regex is case-insensitive but its MIME_TYPES look-up is not: JSON.
  EXPECT_EQ(TypeFor("TEXT/PLAIN"), kJson);
  EXPECT_EQ(TypeFor("text/html; charset=utf-8"), kHtml);
  EXPECT_EQ(TypeFor("*/*"), kJson);
  EXPECT_EQ(TypeFor("text/*"), kPlain);
  EXPECT_EQ(TypeFor("application/*"), kJson);
  EXPECT_EQ(TypeFor("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), kHtml);
  EXPECT_EQ(TypeFor("text/html;q=0.5, application/xml;q=0.9"), kXml);
  EXPECT_EQ(TypeFor("application/json;q=0.1, text/plain"), kPlain);
  EXPECT_EQ(TypeFor("text/plain;q=0, text/html;q=0.2"), kHtml);
  EXPECT_EQ(TypeFor("text/html; q=0.3, text/plain; q=0.4"), kPlain);
  EXPECT_EQ(TypeFor("text/html, text/plain"), kHtml);  // ties: the first one wins
  EXPECT_EQ(TypeFor("*/*, text/plain"), kJson);
}

// get_response_type: the highest-q entry decides; an unknown type there means the default (JSON)
// even when a lower-q entry is known. Only the five table entries are known (no text/xml).
TEST(ProxyHeadersErrors, UnknownPreferredTypeMeansJson) {
  EXPECT_EQ(TypeFor("image/png, text/html;q=0.5"), kJson);
  EXPECT_EQ(TypeFor("image/webp"), kJson);
  EXPECT_EQ(TypeFor("text/xml"), kJson);
  EXPECT_EQ(TypeFor("text/html;q=0.5, image/png"), kJson);
}

// kong/error_handlers.lua: Accept if present (whatever it says), else the request Content-Type,
// else error_default_type (text/plain), each run through get_response_type.
TEST(ProxyHeadersErrors, NginxSourceFallsBackToContentTypeThenPlain) {
  EXPECT_EQ(TypeFor({}, {}, ErrorSource::nginx), kPlain);
  EXPECT_EQ(TypeFor({}, "application/json", ErrorSource::nginx), kJson);
  EXPECT_EQ(TypeFor({}, "text/html; charset=utf-8", ErrorSource::nginx), kHtml);
  EXPECT_EQ(TypeFor("*/*", "text/html", ErrorSource::nginx), kJson);
  EXPECT_EQ(TypeFor("application/xml", "text/html", ErrorSource::nginx), kXml);
  EXPECT_EQ(TypeFor({}, "text/plain", ErrorSource::kong), kJson);  // kong source ignores it
}

TEST(ProxyHeadersErrors, NginxSourceUnknownTypesMeanJson) {
  EXPECT_EQ(TypeFor({}, "application/x-www-form-urlencoded", ErrorSource::nginx), kJson);
  EXPECT_EQ(TypeFor({}, "multipart/form-data; boundary=x", ErrorSource::nginx), kJson);
  EXPECT_EQ(TypeFor("image/webp", "text/html", ErrorSource::nginx), kJson);
}

std::string MessageFor(int status, ErrorSource source) {
  return render_error(status, {}, "text/plain", {}, source, "r").body;
}

TEST(ProxyHeadersErrors, DefaultMessages) {
  const std::pair<int, const char*> common[] = {
      {400, "Bad request"},
      {404, "Not found"},
      {405, "Method not allowed"},
      {408, "Request timeout"},
      {411, "Length required"},
      {413, "Payload too large"},
      {414, "URI too long"},
      {500, "An unexpected error occurred"},
      {502, "An invalid response was received from the upstream server"},
      {503, "The upstream server is currently unavailable"},
      {504, "The upstream server is timing out"},
  };
  for (auto [status, msg] : common) {
    EXPECT_EQ(MessageFor(status, ErrorSource::kong), std::string(msg) + "\nrequest_id: r\n");
    EXPECT_EQ(MessageFor(status, ErrorSource::nginx), std::string(msg) + "\nrequest_id: r\n");
  }
  const std::pair<int, const char*> kong_only[] = {
      {401, "Unauthorized"},           {403, "Forbidden"},        {409, "Conflict"},
      {415, "Unsupported media type"}, {426, "Upgrade required"}, {429, "Too many requests"},
  };
  for (auto [status, msg] : kong_only) {
    EXPECT_EQ(MessageFor(status, ErrorSource::kong), std::string(msg) + "\nrequest_id: r\n");
  }
  EXPECT_EQ(sb::proxy::default_error_message(429), "Too many requests");
  EXPECT_EQ(sb::proxy::default_error_message(299), "");
}

TEST(ProxyHeadersErrors, UnknownStatusMessage) {
  EXPECT_EQ(MessageFor(418, ErrorSource::nginx),
            "The upstream server responded with 418\nrequest_id: r\n");
  EXPECT_EQ(MessageFor(420, ErrorSource::kong),
            "The upstream server responded with 420\nrequest_id: r\n");
  EXPECT_EQ(render_error(599, {}, {}, {}, ErrorSource::kong, "r").body,
            "{\n  \"message\":\"The upstream server responded with 599\",\n"
            "  \"request_id\":\"r\"\n}");
}

// kong.response.error's table (kong/pdk/response.lua, 3.5-3.9) and the nginx error handler's
// (kong/error_handlers.lua) know more codes than the common list.
TEST(ProxyHeadersErrors, FullerDefaultMessageTables) {
  EXPECT_EQ(MessageFor(418, ErrorSource::kong), "I'm a teapot\nrequest_id: r\n");
  EXPECT_EQ(MessageFor(422, ErrorSource::kong), "Unprocessable entity\nrequest_id: r\n");
  EXPECT_EQ(MessageFor(412, ErrorSource::nginx), "Precondition failed\nrequest_id: r\n");
  EXPECT_EQ(MessageFor(417, ErrorSource::nginx), "Expectation failed\nrequest_id: r\n");
}

TEST(ProxyHeadersErrors, NginxOwnPagesFor501And505) {
  // Kong's error_page list leaves 501 and 505 to nginx's built-in page, whatever Accept says.
  sb::proxy::ErrorBody b =
      render_error(501, "Not Implemented", "application/json", {}, ErrorSource::nginx, "r");
  EXPECT_EQ(b.content_type, "text/html");
  EXPECT_EQ(b.body,
            "<html>\r\n<head><title>501 Not Implemented</title></head>\r\n<body>\r\n"
            "<center><h1>501 Not Implemented</h1></center>\r\n<hr><center>silverback</center>\r\n"
            "</body>\r\n</html>\r\n");
  b = render_error(505, {}, {}, {}, ErrorSource::nginx, "r");
  EXPECT_NE(b.body.find("<title>505 HTTP Version Not Supported</title>"), std::string::npos);
  // kong.response.error(501) is Kong's own template.
  EXPECT_EQ(MessageFor(501, ErrorSource::kong), "Not implemented\nrequest_id: r\n");
}

TEST(ProxyHeadersErrors, ExplicitMessageWins) {
  EXPECT_EQ(render_error(404, "custom", "text/plain", {}, ErrorSource::kong, "r").body,
            "custom\nrequest_id: r\n");
}

// ------------------------------------------------------------------------------------------------
// parse_cidr / cidr_contains / parse_headers_setting

sockaddr_storage V4(const char* ip) {
  sockaddr_storage ss{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  sin->sin_family = AF_INET;
  EXPECT_EQ(inet_pton(AF_INET, ip, &sin->sin_addr), 1) << ip;
  return ss;
}

sockaddr_storage V6(const char* ip) {
  sockaddr_storage ss{};
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  sin6->sin6_family = AF_INET6;
  EXPECT_EQ(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1) << ip;
  return ss;
}

std::vector<Cidr> List(std::initializer_list<const char*> texts) {
  std::vector<Cidr> out;
  for (const char* text : texts) {
    Cidr c;
    EXPECT_TRUE(sb::proxy::parse_cidr(text, c)) << text;
    out.push_back(c);
  }
  return out;
}

bool Contains(const std::vector<Cidr>& list, const sockaddr_storage& ss) {
  return sb::proxy::cidr_contains(list, reinterpret_cast<const sockaddr*>(&ss));
}

TEST(ProxyHeadersSettings, ParseCidr) {
  Cidr c;
  ASSERT_TRUE(sb::proxy::parse_cidr("10.0.0.0/8", c));
  EXPECT_EQ(c.family, AF_INET);
  EXPECT_EQ(c.bits, 8);
  EXPECT_EQ(c.addr[0], 10);
  ASSERT_TRUE(sb::proxy::parse_cidr(" 192.168.1.5 ", c));
  EXPECT_EQ(c.bits, 32);
  ASSERT_TRUE(sb::proxy::parse_cidr("2001:db8::/32", c));
  EXPECT_EQ(c.family, AF_INET6);
  EXPECT_EQ(c.bits, 32);
  ASSERT_TRUE(sb::proxy::parse_cidr("::1", c));
  EXPECT_EQ(c.bits, 128);
  ASSERT_TRUE(sb::proxy::parse_cidr("0.0.0.0/0", c));
  EXPECT_EQ(c.bits, 0);
}

TEST(ProxyHeadersSettings, ParseCidrRejectsBadInput) {
  Cidr c;
  for (const char* bad : {"", "abc", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/8x",
                          "10.0.0.0/-1", "10.0.0/8", "256.0.0.1", "10.0.0.0/8/8", "/8", "unix:"}) {
    EXPECT_FALSE(sb::proxy::parse_cidr(bad, c)) << bad;
  }
}

TEST(ProxyHeadersSettings, CidrContainsV4) {
  auto list = List({"10.0.0.0/8", "172.16.0.0/12", "192.168.1.5"});
  EXPECT_TRUE(Contains(list, V4("10.255.1.2")));
  EXPECT_TRUE(Contains(list, V4("172.31.255.255")));
  EXPECT_FALSE(Contains(list, V4("172.32.0.0")));
  EXPECT_TRUE(Contains(list, V4("192.168.1.5")));
  EXPECT_FALSE(Contains(list, V4("192.168.1.6")));
  EXPECT_FALSE(Contains(list, V4("11.0.0.1")));
  EXPECT_FALSE(Contains({}, V4("10.0.0.1")));
}

TEST(ProxyHeadersSettings, CidrContainsV6AndMapped) {
  auto list = List({"2001:db8::/32", "10.0.0.0/8"});
  EXPECT_TRUE(Contains(list, V6("2001:db8:1::1")));
  EXPECT_FALSE(Contains(list, V6("2001:db9::1")));
  EXPECT_TRUE(Contains(list, V6("::ffff:10.1.2.3")));  // v4-mapped peer on a dual-stack socket
  EXPECT_FALSE(Contains(list, V6("::ffff:11.1.2.3")));
  EXPECT_FALSE(Contains(list, V6("::10.1.2.3")));  // v4-compatible is not v4-mapped
}

TEST(ProxyHeadersSettings, CidrZeroPrefixes) {
  auto v4all = List({"0.0.0.0/0"});
  EXPECT_TRUE(Contains(v4all, V4("1.2.3.4")));
  EXPECT_TRUE(Contains(v4all, V6("::ffff:1.2.3.4")));
  EXPECT_FALSE(Contains(v4all, V6("2001:db8::1")));
  auto v6all = List({"::/0"});
  EXPECT_TRUE(Contains(v6all, V6("2001:db8::1")));
  EXPECT_FALSE(Contains(v6all, V4("1.2.3.4")));
}

TEST(ProxyHeadersSettings, CidrContainsOtherFamilies) {
  sockaddr_storage ss{};
  ss.ss_family = AF_UNIX;
  EXPECT_FALSE(Contains(List({"0.0.0.0/0", "::/0"}), ss));
}

TEST(ProxyHeadersSettings, ParseHeadersSetting) {
  using namespace sb::proxy;
  uint32_t bits = 12345;
  std::string error;
  ASSERT_TRUE(parse_headers_setting("server_tokens, latency_tokens", bits, error));
  EXPECT_EQ(bits, kHeaderServer | kHeaderVia | kHeaderProxyLatency | kHeaderResponseLatency |
                      kHeaderUpstreamLatency | kHeaderAdminLatency);
  ASSERT_TRUE(parse_headers_setting("server_tokens,latency_tokens,X-Kong-Request-Id", bits, error));
  EXPECT_EQ(bits, Settings{}.headers);
  ASSERT_TRUE(parse_headers_setting("off", bits, error));
  EXPECT_EQ(bits, 0u);
  ASSERT_TRUE(parse_headers_setting("server, x-kong-upstream-status", bits, error));
  EXPECT_EQ(bits, kHeaderServer | kHeaderUpstreamStatus);
  ASSERT_TRUE(
      parse_headers_setting("Via,X-Kong-Proxy-Latency,X-Kong-Response-Latency", bits, error));
  EXPECT_EQ(bits, kHeaderVia | kHeaderProxyLatency | kHeaderResponseLatency);
  ASSERT_TRUE(parse_headers_setting("X-Kong-Upstream-Latency, X-Kong-Admin-Latency", bits, error));
  EXPECT_EQ(bits, kHeaderUpstreamLatency | kHeaderAdminLatency);
  ASSERT_TRUE(parse_headers_setting("", bits, error));
  EXPECT_EQ(bits, 0u);
  EXPECT_TRUE(error.empty());
}

TEST(ProxyHeadersSettings, ParseHeadersSettingOffOnlyCountsFirst) {
  // kong/conf_loader/init.lua: `off` disables everything only as the first entry; elsewhere it
  // is skipped.
  uint32_t bits = 0;
  std::string error;
  ASSERT_TRUE(sb::proxy::parse_headers_setting("Server, off", bits, error));
  EXPECT_EQ(bits, sb::proxy::kHeaderServer);
}

TEST(ProxyHeadersSettings, ParseHeadersSettingRejectsUnknown) {
  uint32_t bits = 0;
  std::string error;
  EXPECT_FALSE(sb::proxy::parse_headers_setting("server_tokens, bogus", bits, error));
  EXPECT_EQ(error, "headers: invalid entry 'bogus'");  // kong/conf_loader/parse.lua
}

}  // namespace
