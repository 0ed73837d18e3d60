// HttpClient over real loopback sockets: a scripted HTTP(S) server runs on the same uv loop.
#include "proxy/http_client.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "net/deadlines.h"
#include "net/stream.h"
#include "net/tls.h"
#include "net/uv_handle.h"
#include "proxy/upstream.h"

namespace sb::proxy {
namespace {

using sb::net::Stream;
using sb::net::StreamHandler;

// ---------------------------------------------------------------------------------------------
// A self-signed certificate for "localhost" (DNS SAN only: no IP SAN) and a server context.

struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};

struct LocalhostCert {
  sb::net::PkeyPtr key;
  sb::net::X509Ptr cert;
  sb::net::SslCtxPtr server_ctx;
  std::string pem;

  LocalhostCert() {
    key.reset(EVP_EC_gen("P-256"));
    cert.reset(X509_new());
    X509_set_version(cert.get(), X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 7);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_set_pubkey(cert.get(), key.get());
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "DNS:localhost");
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(cert.get(), key.get(), EVP_sha256());

    server_ctx.reset(SSL_CTX_new(TLS_server_method()));
    SSL_CTX_use_certificate(server_ctx.get(), cert.get());
    SSL_CTX_use_PrivateKey(server_ctx.get(), key.get());

    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(bio.get(), cert.get());
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    pem.assign(data, static_cast<size_t>(len));
  }
};

const LocalhostCert& localhost_cert() {
  static LocalhostCert c;
  return c;
}

// Sets an environment variable for one scope.
class EnvGuard {
 public:
  EnvGuard(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~EnvGuard() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// ---------------------------------------------------------------------------------------------
// The scripted server: reads one request (head + Content-Length body), asks the script what to
// answer. No answer (nullopt) stalls: the connection stays open and is read until the peer
// closes it.

struct Reply {
  std::string bytes;
  bool close = true;     // close after writing (ends close-delimited bodies)
  bool trickle = false;  // one byte per millisecond
};
using Script = std::function<std::optional<Reply>(const std::string& request)>;

bool request_complete(const std::string& in) {
  size_t end = in.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  std::string head = in.substr(0, end + 2);
  std::transform(head.begin(), head.end(), head.begin(), ::tolower);
  size_t at = head.find("\r\ncontent-length:");
  size_t length = 0;
  if (at != std::string::npos) length = std::stoul(head.substr(at + 17));
  return in.size() >= end + 4 + length;
}

class TestServer {
 public:
  TestServer(uv_loop_t* loop, Script script, SSL_CTX* tls = nullptr, const char* ip = "127.0.0.1")
      : loop_(loop),
        script_(std::move(script)),
        tls_(tls),
        listener_(sb::net::make_uv_handle<uv_tcp_t>()) {
    uv_tcp_init(loop, listener_.get());
    listener_->data = this;
    sockaddr_storage addr{};
    if (uv_ip4_addr(ip, 0, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
        uv_ip6_addr(ip, 0, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
      return;
    }
    if (uv_tcp_bind(listener_.get(), reinterpret_cast<const sockaddr*>(&addr), 0) != 0) return;
    if (uv_listen(reinterpret_cast<uv_stream_t*>(listener_.get()), 64, &on_connection) != 0) {
      return;
    }
    sockaddr_storage bound{};
    int len = sizeof(bound);
    uv_tcp_getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  ~TestServer() {
    for (Conn* c : conns_) {
      c->server = nullptr;
      c->stream.close();
    }
  }
  int port() const { return port_; }
  std::string url(std::string_view path = "/", const char* host = "127.0.0.1") const {
    return fmt::format("{}://{}:{}{}", tls_ != nullptr ? "https" : "http", host, port_, path);
  }

  bool answer_any_bytes = false;      // answer the first bytes, whatever they are
  std::vector<std::string> requests;  // complete requests, as received
  std::vector<std::string> snis;      // TLS: the name each client sent ("" for none)
  int peer_closed = 0;                // connections the client closed or reset

 private:
  struct Conn final : StreamHandler {
    TestServer* server;
    Stream stream;
    sb::net::Timer trickle_timer;
    std::string in, out;
    size_t out_at = 0;
    bool close_after = false, answered = false;

    explicit Conn(TestServer* s) : server(s), stream(s->loop_, this), trickle_timer(s->loop_) {}
    void on_stream_read(const char* data, size_t len) override {
      if (answered || server == nullptr) return;
      in.append(data, len);
      if (!server->answer_any_bytes && !request_complete(in)) return;
      answered = true;
      server->requests.push_back(in);
      if (stream.tls() != nullptr) server->snis.emplace_back(stream.tls()->server_name());
      std::optional<Reply> reply = server->script_(in);
      if (!reply) return;
      close_after = reply->close;
      if (reply->trickle) {
        out = reply->bytes;
        trickle_timer.start(1, &Conn::on_trickle, this);
        return;
      }
      stream.write(reply->bytes);
      if (close_after) stream.close_after_flush();
    }
    static void on_trickle(void* ctx) {
      auto* c = static_cast<Conn*>(ctx);
      if (c->stream.closing()) return;
      c->stream.write(std::string_view(c->out).substr(c->out_at++, 1));
      if (c->out_at < c->out.size()) {
        c->trickle_timer.start(1, &Conn::on_trickle, c);
      } else if (c->close_after) {
        c->stream.close_after_flush();
      }
    }
    void on_stream_eof() override { peer_gone(); }
    void on_stream_error(int) override { peer_gone(); }
    void peer_gone() {
      if (server != nullptr) ++server->peer_closed;
      stream.close();
    }
    void on_stream_closed() override {
      std::unique_ptr<Conn> self(this);
      if (server != nullptr) server->conns_.erase(this);
    }
  };

  static void on_connection(uv_stream_t* listener, int status) {
    auto* self = static_cast<TestServer*>(listener->data);
    if (self == nullptr || status != 0) return;
    auto conn = std::make_unique<Conn>(self);
    if (conn->stream.accept(listener) != 0) {
      conn.release()->stream.close();  // frees itself (not yet in conns_)
      return;
    }
    if (self->tls_ != nullptr) {
      conn->stream.use_tls(sb::net::TlsSession::server(self->tls_, nullptr));
    }
    conn->stream.read_start();
    self->conns_.insert(conn.release());
  }

  uv_loop_t* loop_;
  Script script_;
  SSL_CTX* tls_;
  sb::net::UvHandle<uv_tcp_t> listener_;
  std::set<Conn*> conns_;
  int port_ = 0;
};

Reply ok_reply(std::string_view body, std::string_view extra_headers = "") {
  return {fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{}\r\n{}", body.size(),
                      extra_headers, body)};
}

Script always(Reply reply) {
  return [reply](const std::string&) { return reply; };
}

Script stall() {
  return [](const std::string&) { return std::nullopt; };
}

// ---------------------------------------------------------------------------------------------

struct Outcome {
  int calls = 0;
  HttpCallError error = HttpCallError::ok;
  HttpCallResponse response;
  std::string header(std::string_view name) const {
    for (const auto& [n, v] : response.headers) {
      if (sb::http::iequals(n, name)) return v;
    }
    return "<none>";
  }
};
using OutcomePtr = std::shared_ptr<Outcome>;

HttpCallRequest get(std::string url) {
  HttpCallRequest r;
  r.url = std::move(url);
  r.timeout_ms = 5000;
  return r;
}

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    deadlines_ = std::make_unique<sb::net::DeadlineQueue>(&loop_);
    deadlines_->attach();
    resolver_ = std::make_unique<Resolver>(&loop_);
    client_ = std::make_unique<HttpClient>(&loop_, *resolver_);
  }

  void TearDown() override {
    client_.reset();
    servers_.clear();
    deadlines_->close();
    uv_run(&loop_, UV_RUN_DEFAULT);  // close callbacks, late DNS answers
    // Every handle (sockets, timers) was closed: nothing leaks into the loop.
    EXPECT_EQ(uv_loop_close(&loop_), 0);
    resolver_.reset();
    deadlines_.reset();
  }

  TestServer& server(Script script, SSL_CTX* tls = nullptr, const char* ip = "127.0.0.1") {
    servers_.push_back(std::make_unique<TestServer>(&loop_, std::move(script), tls, ip));
    return *servers_.back();
  }

  // Every callback records into its own Outcome (shared: a test may end with calls running).
  HttpCallback record(const OutcomePtr& o) {
    return [o](HttpCallError e, HttpCallResponse* r) {
      ++o->calls;
      o->error = e;
      EXPECT_EQ(r != nullptr, e == HttpCallError::ok);
      if (r != nullptr) o->response = *r;
    };
  }

  OutcomePtr start(HttpCallRequest r) {
    auto o = std::make_shared<Outcome>();
    client_->start(std::move(r), record(o));
    EXPECT_EQ(o->calls, 0) << "called back inside start()";
    return o;
  }

  // Runs the loop until `done` (true) or `limit_ms` passed (false).
  bool run_until(const std::function<bool()>& done, uint64_t limit_ms = 5000) {
    auto tick = sb::net::make_uv_handle<uv_timer_t>();
    uv_timer_init(&loop_, tick.get());
    uv_timer_start(
        tick.get(), [](uv_timer_t*) {}, 5, 5);  // bounds each UV_RUN_ONCE
    uint64_t until = uv_now(&loop_) + limit_ms;
    while (!done() && uv_now(&loop_) < until) uv_run(&loop_, UV_RUN_ONCE);
    return done();
  }

  // Runs until every given call reported.
  bool finish(std::initializer_list<OutcomePtr> all, uint64_t limit_ms = 5000) {
    std::vector<OutcomePtr> v(all);
    return run_until(
        [&] { return std::all_of(v.begin(), v.end(), [](auto& o) { return o->calls > 0; }); },
        limit_ms);
  }

  uv_loop_t loop_;
  std::unique_ptr<sb::net::DeadlineQueue> deadlines_;
  std::unique_ptr<Resolver> resolver_;
  std::unique_ptr<HttpClient> client_;
  std::vector<std::unique_ptr<TestServer>> servers_;
};

// ---------------------------------------------------------------------------------------------
// URLs and requests

TEST(HttpClientUrl, Parses) {
  HttpUrl u;
  std::string error;
  ASSERT_TRUE(parse_http_url("http://example.com/a/b?x=1#frag", &u, &error)) << error;
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.target, "/a/b?x=1");
  ASSERT_TRUE(parse_http_url("HTTPS://Example.com:8443", &u, &error)) << error;
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.port, 8443);
  EXPECT_EQ(u.target, "/");
  ASSERT_TRUE(parse_http_url("https://[::1]:9000?q", &u, &error)) << error;
  EXPECT_TRUE(u.ipv6);
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 9000);
  EXPECT_EQ(u.target, "/?q");
  ASSERT_TRUE(parse_http_url("http://[::1]/", &u, &error)) << error;
  EXPECT_EQ(u.port, 80);

  for (const char* bad :
       {"example.com/x", "ftp://example.com/", "http://", "http://:80/", "http://host:0/",
        "http://host:65536/", "http://host:/", "http://host:8x/", "http://user:pw@host/",
        "http://[::1/", "http://[nothex]/", "http://[::1]x/", "http://ho st/", "http://host/a b",
        "http://host/\x7f", "http://host%41/"}) {
    EXPECT_FALSE(parse_http_url(bad, &u, &error)) << bad;
  }
}

TEST_F(HttpClientTest, InvalidRequestsFailOnALaterLoopTurn) {
  std::vector<HttpCallRequest> bad(6, get("http://127.0.0.1:1/"));
  bad[0].url = "not a url";
  bad[1].method = "GE T";
  bad[2].headers = {{"X-Evil", "a\r\nInjected: 1"}};
  bad[3].headers = {{"Bad Name", "x"}};
  bad[4].body = "hello";
  bad[4].headers = {{"Content-Length", "4"}};  // disagrees with the body
  bad[5].timeout_ms = 0;
  std::vector<OutcomePtr> outcomes;
  for (auto& r : bad) outcomes.push_back(start(r));  // start() asserts no callback yet
  EXPECT_EQ(client_->active(), bad.size());
  ASSERT_TRUE(run_until([&] { return client_->active() == 0; }));
  for (auto& o : outcomes) {
    EXPECT_EQ(o->calls, 1);
    EXPECT_EQ(o->error, HttpCallError::invalid_request) << to_string(o->error);
  }
}

// ---------------------------------------------------------------------------------------------
// Responses

TEST_F(HttpClientTest, ContentLengthResponseAndTheRequestAsSent) {
  TestServer& s = server(always(ok_reply("hello world", "X-Test: yes\r\n")));
  auto o = start(get(s.url("/path?q=1")));
  ASSERT_TRUE(finish({o}));
  EXPECT_EQ(o->calls, 1);
  ASSERT_EQ(o->error, HttpCallError::ok) << to_string(o->error);
  EXPECT_EQ(o->response.status, 200);
  EXPECT_EQ(o->response.body, "hello world");
  EXPECT_EQ(o->header("x-test"), "yes");
  EXPECT_EQ(o->header("Content-Length"), "11");
  ASSERT_EQ(s.requests.size(), 1u);
  const std::string& req = s.requests[0];
  EXPECT_EQ(req.rfind("GET /path?q=1 HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find(fmt::format("\r\nHost: 127.0.0.1:{}\r\n", s.port())), std::string::npos);
  EXPECT_NE(req.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_EQ(req.find("Content-Length"), std::string::npos);  // GET without a body
  EXPECT_EQ(client_->active(), 0u);
}

TEST_F(HttpClientTest, PostsALargeBodyWithCallerHeaders) {
  TestServer& s = server(always(ok_reply("done")));
  HttpCallRequest r = get(s.url("/upload"));
  r.method = "POST";
  r.body.assign(3 * 1024 * 1024, 'b');  // more than the socket takes at once
  r.headers = {{"Host", "api.example"}, {"X-Key", "k1"}, {"Connection", "close"}};
  auto o = start(std::move(r));
  ASSERT_TRUE(finish({o}));
  ASSERT_EQ(o->error, HttpCallError::ok) << to_string(o->error);
  ASSERT_EQ(s.requests.size(), 1u);
  const std::string& req = s.requests[0];
  EXPECT_EQ(req.rfind("POST /upload HTTP/1.1\r\nHost: api.example\r\nX-Key: k1\r\n", 0), 0u);
  EXPECT_NE(req.find("\r\nContent-Length: 3145728\r\n"), std::string::npos);
  EXPECT_EQ(req.find("Host: 127.0.0.1"), std::string::npos);  // the caller's Host wins
  size_t head_end = req.find("\r\n\r\n");
  EXPECT_EQ(req.find("Connection"), req.rfind("Connection"));  // not added twice
  EXPECT_EQ(req.size() - head_end - 4, 3u * 1024 * 1024);
}

TEST_F(HttpClientTest, ChunkedBodyArrivingByteByByte) {
  Reply r{
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
      false, true};  // kept open: the chunk framing alone ends the body
  TestServer& s = server(always(r));
  auto o = start(get(s.url()));
  ASSERT_TRUE(finish({o}));
  ASSERT_EQ(o->error, HttpCallError::ok) << to_string(o->error);
  EXPECT_EQ(o->response.body, "hello world");
  EXPECT_EQ(o->header("Transfer-Encoding"), "chunked");
}

TEST_F(HttpClientTest, CloseDelimitedBody) {
  TestServer& s = server(always({"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nuntil the end", true}));
  auto o = start(get(s.url()));
  ASSERT_TRUE(finish({o}));
  ASSERT_EQ(o->error, HttpCallError::ok) << to_string(o->error);
  EXPECT_EQ(o->response.body, "until the end");
}

TEST_F(HttpClientTest, HeadNoContentAndNotModifiedHaveNoBody) {
  // Each server keeps the connection open after the head: a client waiting for the announced
  // body would time out instead.
  TestServer& head = server(always({"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", false}));
  TestServer& no_content =
      server(always({"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false}));
  TestServer& not_modified =
      server(always({"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n", false}));
  HttpCallRequest r = get(head.url());
  r.method = "HEAD";
  r.timeout_ms = 2000;
  auto o1 = start(r);
  r.method = "GET";
  r.url = no_content.url();
  auto o2 = start(r);
  r.url = not_modified.url();
  r.max_response_bytes = 10;  // a 304's Content-Length announces no body to receive
  auto o3 = start(r);
  ASSERT_TRUE(finish({o1, o2, o3}));
  EXPECT_EQ(o1->error, HttpCallError::ok) << to_string(o1->error);
  EXPECT_EQ(o2->error, HttpCallError::ok) << to_string(o2->error);
  EXPECT_EQ(o3->error, HttpCallError::ok) << to_string(o3->error);
  EXPECT_EQ(o1->response.status, 200);
  EXPECT_EQ(o1->header("content-length"), "100");
  EXPECT_EQ(o2->response.status, 204);
  EXPECT_EQ(o3->response.status, 304);
  EXPECT_TRUE(o1->response.body.empty() && o2->response.body.empty() && o3->response.body.empty());
  ASSERT_EQ(head.requests.size(), 1u);
  EXPECT_EQ(head.requests[0].rfind("HEAD / HTTP/1.1\r\n", 0), 0u);
}

TEST_F(HttpClientTest, InterimResponsesAreSkipped) {
  TestServer& s =
      server(always({"HTTP/1.1 100 Continue\r\n\r\n"
                     "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                     "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
                     false}));
  auto o = start(get(s.url()));
  ASSERT_TRUE(finish({o}));
  ASSERT_EQ(o->error, HttpCallError::ok) << to_string(o->error);
  EXPECT_EQ(o->response.status, 201);
  EXPECT_EQ(o->response.body, "ok");
  EXPECT_EQ(o->header("Link"), "<none>");  // the 103's headers are not the response's
}

TEST_F(HttpClientTest, InvalidTruncatedAndUpgradeResponsesAreProtocolErrors) {
  TestServer& garbage = server(always({"SSH-2.0-OpenSSH\r\n\r\n"}));
  TestServer& truncated = server(always({"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"}));
  TestServer& bad_chunk =
      server(always({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false}));
  TestServer& nothing = server(always({""}));
  TestServer& upgrade = server(always(
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
       false}));
  auto o1 = start(get(garbage.url()));
  auto o2 = start(get(truncated.url()));
  auto o3 = start(get(bad_chunk.url()));
  auto o4 = start(get(nothing.url()));
  auto o5 = start(get(upgrade.url()));
  ASSERT_TRUE(finish({o1, o2, o3, o4, o5}));
  for (const auto& o : {o1, o2, o3, o4, o5}) {
    EXPECT_EQ(o->calls, 1);
    EXPECT_EQ(o->error, HttpCallError::protocol) << to_string(o->error);
  }
  // The client dropped the connections it gave up on (the servers kept theirs open).
  ASSERT_TRUE(run_until([&] { return bad_chunk.peer_closed == 1 && upgrade.peer_closed == 1; }));
}

TEST_F(HttpClientTest, StalledServerTimesOutAndTheSocketIsClosed) {
  TestServer& s = server(stall());
  HttpCallRequest r = get(s.url());
  r.timeout_ms = 200;
  uint64_t began = uv_now(&loop_);
  auto o = start(r);
  ASSERT_TRUE(finish({o}));
  EXPECT_EQ(o->error, HttpCallError::timeout) << to_string(o->error);
  uint64_t took = uv_now(&loop_) - began;
  EXPECT_GE(took, 190u);
  EXPECT_LT(took, 2000u);
  EXPECT_EQ(s.requests.size(), 1u);  // it was waiting for the response, not connecting
  ASSERT_TRUE(run_until([&] { return s.peer_closed == 1; }));
}

TEST_F(HttpClientTest, TimeoutCoversTheWholeExchangeNotEachRead) {
  // Bytes keep arriving (one per millisecond) but the response takes longer than the timeout.
  TestServer& s = server(always({ok_reply(std::string(600, 'x')).bytes, true, true}));
  HttpCallRequest r = get(s.url());
  r.timeout_ms = 150;
  auto o = start(r);
  ASSERT_TRUE(finish({o}));
  EXPECT_EQ(o->error, HttpCallError::timeout) << to_string(o->error);
}

TEST_F(HttpClientTest, OversizedBodiesAreTooLargeAndTheConnectionIsClosed) {
  // Announced: refused at the head. Chunked and close-delimited: refused once over the limit.
  TestServer& announced = server(
      always({"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(500, 'a'), false}));
  std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 64; ++i) chunked += "400\r\n" + std::string(1024, 'c') + "\r\n";
  TestServer& streamed = server(always({chunked, false}));
  TestServer& delimited =
      server(always({"HTTP/1.1 200 OK\r\n\r\n" + std::string(1024 * 1024, 'd'), false}));
  TestServer& exact = server(always(ok_reply(std::string(1000, 'e'))));
  HttpCallRequest r = get(announced.url());
  r.max_response_bytes = 1000;
  auto o1 = start(r);
  r.url = streamed.url();
  auto o2 = start(r);
  r.url = delimited.url();
  auto o3 = start(r);
  r.url = exact.url();
  auto o4 = start(r);
  ASSERT_TRUE(finish({o1, o2, o3, o4}));
  EXPECT_EQ(o1->error, HttpCallError::too_large) << to_string(o1->error);
  EXPECT_EQ(o2->error, HttpCallError::too_large) << to_string(o2->error);
  EXPECT_EQ(o3->error, HttpCallError::too_large) << to_string(o3->error);
  EXPECT_EQ(o4->error, HttpCallError::ok) << to_string(o4->error);  // the limit itself fits
  EXPECT_EQ(o4->response.body.size(), 1000u);
  ASSERT_TRUE(run_until([&] {
    return announced.peer_closed == 1 && streamed.peer_closed == 1 && delimited.peer_closed == 1;
  }));
}

// ---------------------------------------------------------------------------------------------
// Connecting and resolving

TEST_F(HttpClientTest, RefusedPortIsAConnectError) {
  // A bound socket that does not listen: connections to its port are refused.
  auto holder = sb::net::make_uv_handle<uv_tcp_t>();
  uv_tcp_init(&loop_, holder.get());
  sockaddr_in addr{};
  uv_ip4_addr("127.0.0.1", 0, &addr);
  ASSERT_EQ(uv_tcp_bind(holder.get(), reinterpret_cast<const sockaddr*>(&addr), 0), 0);
  sockaddr_storage bound{};
  int len = sizeof(bound);
  uv_tcp_getsockname(holder.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  int port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  auto o = start(get(fmt::format("http://127.0.0.1:{}/", port)));
  ASSERT_TRUE(finish({o}));
  EXPECT_EQ(o->calls, 1);
  EXPECT_EQ(o->error, HttpCallError::connect) << to_string(o->error);
}

TEST_F(HttpClientTest, NamesResolveThroughTheResolverAndFailuresAreDns) {
  TestServer& s = server(always(ok_reply("by name")));
  auto o1 = start(get(s.url("/", "localhost")));
  // A label over 63 bytes: the system resolver rejects it without asking a name server.
  auto o2 = start(get("http://" + std::string(70, 'a') + ".test/"));
  ASSERT_TRUE(finish({o1, o2}));
  ASSERT_EQ(o1->error, HttpCallError::ok) << to_string(o1->error);
  EXPECT_EQ(o1->response.body, "by name");
  ASSERT_EQ(s.requests.size(), 1u);
  EXPECT_NE(s.requests[0].find(fmt::format("\r\nHost: localhost:{}\r\n", s.port())),
            std::string::npos);
  EXPECT_EQ(o2->error, HttpCallError::dns) << to_string(o2->error);
  // The name is cached now and the resolver answers at once: still not inside start().
  auto o3 = start(get(s.url("/", "localhost")));
  ASSERT_TRUE(finish({o3}));
  EXPECT_EQ(o3->error, HttpCallError::ok) << to_string(o3->error);
}

TEST_F(HttpClientTest, Ipv6Literal) {
  TestServer& s = server(always(ok_reply("six")), nullptr, "::1");
  if (s.port() == 0) GTEST_SKIP() << "no IPv6 loopback here";
  auto o = start(get(fmt::format("http://[::1]:{}/", s.port())));
  ASSERT_TRUE(finish({o}));
  ASSERT_EQ(o->error, HttpCallError::ok) << to_string(o->error);
  EXPECT_EQ(o->response.body, "six");
  EXPECT_NE(s.requests[0].find(fmt::format("\r\nHost: [::1]:{}\r\n", s.port())), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Callbacks: exactly once, never re-entrant, free to start, cancel and destroy

TEST_F(HttpClientTest, CancelRunsTheCallbackBeforeReturning) {
  TestServer& s = server(stall());
  auto o = std::make_shared<Outcome>();
  uint64_t id = client_->start(get(s.url()), record(o));
  EXPECT_NE(id, 0u);
  EXPECT_EQ(client_->active(), 1u);
  EXPECT_TRUE(client_->cancel(id));
  EXPECT_EQ(o->calls, 1);
  EXPECT_EQ(o->error, HttpCallError::cancelled);
  EXPECT_EQ(client_->active(), 0u);
  EXPECT_FALSE(client_->cancel(id));        // finished
  EXPECT_FALSE(client_->cancel(id + 100));  // unknown
  EXPECT_FALSE(client_->cancel(0));
  run_until([] { return false; }, 100);  // the deferred start must not report again
  EXPECT_EQ(o->calls, 1);
  EXPECT_TRUE(s.requests.empty());  // cancelled before it connected
}

TEST_F(HttpClientTest, CancelAnotherCallFromACallback) {
  TestServer& stalled = server(stall());
  TestServer& fast = server(always(ok_reply("fast")));
  auto slow = std::make_shared<Outcome>();
  uint64_t slow_id = client_->start(get(stalled.url()), record(slow));
  auto quick = std::make_shared<Outcome>();
  bool cancelled = false;
  int slow_calls_inside = -1;
  // Wait until the stalled call is mid-exchange before the fast one completes.
  ASSERT_TRUE(run_until([&] { return stalled.requests.size() == 1; }));
  client_->start(get(fast.url()), [&, quick](HttpCallError e, HttpCallResponse*) {
    ++quick->calls;
    quick->error = e;
    cancelled = client_->cancel(slow_id);
    slow_calls_inside = slow->calls;
  });
  ASSERT_TRUE(finish({quick}));
  EXPECT_EQ(quick->error, HttpCallError::ok);
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(slow_calls_inside, 1);  // ran inside cancel(), inside the other callback
  EXPECT_EQ(slow->error, HttpCallError::cancelled);
  EXPECT_EQ(client_->active(), 0u);
  ASSERT_TRUE(run_until([&] { return stalled.peer_closed == 1; }));  // its socket is closed
  EXPECT_EQ(slow->calls, 1);
}

TEST_F(HttpClientTest, CancellingItselfInsideItsCallbackIsRefused) {
  TestServer& s = server(always(ok_reply("x")));
  auto id = std::make_shared<uint64_t>(0);
  int calls = 0;
  bool cancelled = true;
  *id = client_->start(get(s.url()), [&, id](HttpCallError, HttpCallResponse*) {
    ++calls;
    cancelled = client_->cancel(*id);
  });
  ASSERT_TRUE(run_until([&] { return calls > 0; }));
  EXPECT_FALSE(cancelled);
  EXPECT_EQ(calls, 1);
}

TEST_F(HttpClientTest, CallbacksStartNewCalls) {
  TestServer& s = server(
      [n = 0](const std::string&) mutable { return ok_reply(fmt::format("answer {}", ++n)); });
  std::vector<std::string> bodies;
  std::function<void(HttpCallError, HttpCallResponse*)> chain = [&](HttpCallError e,
                                                                    HttpCallResponse* r) {
    ASSERT_EQ(e, HttpCallError::ok);
    bodies.push_back(r->body);
    if (bodies.size() < 3) {
      size_t before = bodies.size();
      client_->start(get(s.url()), chain);
      EXPECT_EQ(bodies.size(), before);  // not re-entered from start()
    }
  };
  client_->start(get(s.url()), chain);
  ASSERT_TRUE(run_until([&] { return bodies.size() == 3 && client_->active() == 0; }));
  EXPECT_EQ(bodies, (std::vector<std::string>{"answer 1", "answer 2", "answer 3"}));
}

TEST_F(HttpClientTest, DestructionCancelsEveryPhase) {
  TestServer& stalled = server(stall());
  auto exchanging = start(get(stalled.url()));
  ASSERT_TRUE(run_until([&] { return stalled.requests.size() == 1; }));  // waiting for a response
  auto resolving = start(get(stalled.url("/", "localhost")));
  uv_run(&loop_, UV_RUN_NOWAIT);           // kicked off: its lookup is on the thread pool
  auto fresh = start(get(stalled.url()));  // not even kicked off yet
  EXPECT_EQ(client_->active(), 3u);
  client_.reset();
  for (const auto& o : {exchanging, resolving, fresh}) {
    EXPECT_EQ(o->calls, 1);
    EXPECT_EQ(o->error, HttpCallError::cancelled);
  }
  // Late events (the DNS answer, close callbacks) find nothing to call.
  ASSERT_TRUE(run_until([&] { return stalled.peer_closed >= 1; }));
  run_until([] { return false; }, 50);
  for (const auto& o : {exchanging, resolving, fresh}) EXPECT_EQ(o->calls, 1);
}

TEST_F(HttpClientTest, ACallbackMayDestroyTheClient) {
  TestServer& stalled = server(stall());
  TestServer& fast = server(always(ok_reply("bye")));
  auto other = start(get(stalled.url()));
  int calls = 0;
  client_->start(get(fast.url()), [&](HttpCallError e, HttpCallResponse* r) {
    ++calls;
    EXPECT_EQ(e, HttpCallError::ok);
    EXPECT_EQ(r->body, "bye");
    client_.reset();  // the other call is cancelled from inside this one
    EXPECT_EQ(other->calls, 1);
  });
  ASSERT_TRUE(run_until([&] { return calls > 0; }));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(other->error, HttpCallError::cancelled);
  EXPECT_EQ(client_, nullptr);
}

TEST_F(HttpClientTest, CallsStartedDuringDestructionAreCancelledToo) {
  TestServer& stalled = server(stall());
  auto late = std::make_shared<Outcome>();
  uint64_t late_id = 0;
  HttpClient* client = client_.get();  // client_ is already null while it is being destroyed
  client->start(get(stalled.url()), [&, late](HttpCallError e, HttpCallResponse*) {
    EXPECT_EQ(e, HttpCallError::cancelled);
    late_id = client->start(get(stalled.url()), record(late));
    EXPECT_EQ(late->calls, 0);  // not inside start(), even now
  });
  client_.reset();
  EXPECT_NE(late_id, 0u);
  EXPECT_EQ(late->calls, 1);
  EXPECT_EQ(late->error, HttpCallError::cancelled);
}

TEST_F(HttpClientTest, ManyConcurrentCallsEachReportOnce) {
  TestServer& good = server(always(ok_reply("fine")));
  TestServer& bad = server(always({"nonsense\r\n\r\n"}));
  TestServer& slow = server(stall());
  std::vector<OutcomePtr> outcomes;
  std::set<uint64_t> ids;
  for (int i = 0; i < 60; ++i) {
    auto o = std::make_shared<Outcome>();
    HttpCallRequest r = get(i % 3 == 0 ? good.url() : i % 3 == 1 ? bad.url() : slow.url());
    r.timeout_ms = 300;
    uint64_t id = client_->start(std::move(r), record(o));
    EXPECT_NE(id, 0u);
    ids.insert(id);
    outcomes.push_back(o);
  }
  EXPECT_EQ(ids.size(), 60u);
  EXPECT_EQ(client_->active(), 60u);
  ASSERT_TRUE(run_until([&] { return client_->active() == 0; }));
  run_until([] { return false; }, 50);
  for (size_t i = 0; i < outcomes.size(); ++i) {
    EXPECT_EQ(outcomes[i]->calls, 1) << i;
    HttpCallError want = i % 3 == 0   ? HttpCallError::ok
                         : i % 3 == 1 ? HttpCallError::protocol
                                      : HttpCallError::timeout;
    EXPECT_EQ(outcomes[i]->error, want) << i << ": " << to_string(outcomes[i]->error);
  }
}

// ---------------------------------------------------------------------------------------------
// https

TEST_F(HttpClientTest, HttpsWithoutVerification) {
  SSL_CTX* tls = localhost_cert().server_ctx.get();
  std::string chunked =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nsafe\r\n0\r\n\r\n";
  TestServer& s = server(always({chunked, false}), tls);
  auto by_ip = start(get(s.url("/ip")));
  auto by_name = start(get(s.url("/name", "localhost")));
  ASSERT_TRUE(finish({by_ip, by_name}));
  ASSERT_EQ(by_ip->error, HttpCallError::ok) << to_string(by_ip->error);
  ASSERT_EQ(by_name->error, HttpCallError::ok) << to_string(by_name->error);
  EXPECT_EQ(by_ip->response.body, "safe");
  EXPECT_EQ(by_name->response.body, "safe");
  ASSERT_EQ(s.requests.size(), 2u);
  // SNI is the host name, never an IP literal.
  for (size_t i = 0; i < 2; ++i) {
    bool ip = s.requests[i].rfind("GET /ip ", 0) == 0;
    EXPECT_EQ(s.snis[i], ip ? "" : "localhost");
  }
}

TEST_F(HttpClientTest, HttpsVerificationAgainstTheSystemStoreAndHostName) {
  SSL_CTX* tls = localhost_cert().server_ctx.get();
  TestServer& s = server(always(ok_reply("trusted")), tls);
  {
    // A fresh client: the test's certificate is not in the system store.
    HttpClient client(&loop_, *resolver_);
    HttpCallRequest r = get(s.url("/", "localhost"));
    r.tls_verify = true;
    auto o = std::make_shared<Outcome>();
    client.start(r, record(o));
    ASSERT_TRUE(finish({o}));
    EXPECT_EQ(o->error, HttpCallError::tls) << to_string(o->error);
  }
  // Trusted through SSL_CERT_FILE (read when the verifying context is made).
  std::string path = ::testing::TempDir() + "http_client_test_ca.pem";
  std::ofstream(path) << localhost_cert().pem;
  EnvGuard env("SSL_CERT_FILE", path);
  HttpCallRequest r = get(s.url("/", "localhost"));
  r.tls_verify = true;
  auto trusted = start(r);
  ASSERT_TRUE(finish({trusted}));
  EXPECT_EQ(trusted->error, HttpCallError::ok) << to_string(trusted->error);
  EXPECT_EQ(trusted->response.body, "trusted");
  r.url = s.url("/");  // 127.0.0.1: the certificate names only localhost
  auto wrong_host = start(r);
  r.tls_verify = false;  // the non-verifying context accepts it
  auto unverified = start(r);
  ASSERT_TRUE(finish({wrong_host, unverified}));
  EXPECT_EQ(wrong_host->error, HttpCallError::tls) << to_string(wrong_host->error);
  EXPECT_EQ(unverified->error, HttpCallError::ok) << to_string(unverified->error);
  std::remove(path.c_str());
}

TEST_F(HttpClientTest, HttpsToAPlainServerIsATlsError) {
  TestServer& plain = server(always({"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"}));
  plain.answer_any_bytes = true;  // answers the ClientHello with plain HTTP
  auto o = start(get(fmt::format("https://127.0.0.1:{}/", plain.port())));
  ASSERT_TRUE(finish({o}));
  EXPECT_EQ(o->error, HttpCallError::tls) << to_string(o->error);
}

TEST_F(HttpClientTest, TimeoutCoversTheTlsHandshake) {
  TestServer& silent = server(stall());  // reads the ClientHello, never answers
  HttpCallRequest r = get(fmt::format("https://127.0.0.1:{}/", silent.port()));
  r.timeout_ms = 150;
  auto o = start(r);
  ASSERT_TRUE(finish({o}));
  EXPECT_EQ(o->error, HttpCallError::timeout) << to_string(o->error);
}

TEST(HttpClientErrors, Names) {
  EXPECT_EQ(to_string(HttpCallError::ok), "ok");
  EXPECT_EQ(to_string(HttpCallError::too_large), "response too large");
  EXPECT_EQ(to_string(HttpCallError::cancelled), "cancelled");
}

}  // namespace
}  // namespace sb::proxy
