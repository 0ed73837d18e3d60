// TLS sessions shuttled in memory (no sockets), certificates generated here with OpenSSL.
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <vector>

#include "net/deadlines.h"
#include "net/stream.h"
#include "net/tls.h"

namespace sb::net {
namespace {

struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string cert_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return bio_string(bio.get());
}

std::string key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_string(bio.get());
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
  ASSERT_NE(ext, nullptr);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `cn` (SAN DNS:cn unless a CA), signed by issuer (self-signed when null).
X509Ptr make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                  bool ca) {
  static long serial = 1;
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(cert.get(), key);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  if (ca) {
    add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(cert.get(), signer, NID_subject_alt_name, ("DNS:" + cn).c_str());
  }
  X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256());
  return cert;
}

// Everything generated once for the whole suite.
struct Material {
  PkeyPtr ca_key, other_ca_key, ec_key, ec_key2, rsa_key;
  X509Ptr ca, other_ca, a_example, wildcard_net, dual_ec, dual_rsa;
  Material() {
    ca_key.reset(EVP_EC_gen("P-256"));
    other_ca_key.reset(EVP_EC_gen("P-256"));
    ec_key.reset(EVP_EC_gen("P-256"));
    ec_key2.reset(EVP_EC_gen("P-256"));
    rsa_key.reset(EVP_RSA_gen(2048));
    ca = make_cert(ca_key.get(), "Test CA", nullptr, nullptr, true);
    other_ca = make_cert(other_ca_key.get(), "Other CA", nullptr, nullptr, true);
    a_example = make_cert(ec_key.get(), "a.example.com", ca.get(), ca_key.get(), false);
    wildcard_net = make_cert(ec_key2.get(), "*.example.net", ca.get(), ca_key.get(), false);
    dual_ec = make_cert(ec_key.get(), "dual.example.org", ca.get(), ca_key.get(), false);
    dual_rsa = make_cert(rsa_key.get(), "dual.example.org", ca.get(), ca_key.get(), false);
  }
};

const Material& material() {
  static Material m;
  return m;
}

SSL_CTX* select_from_store(void* app_data, std::string_view name) {
  return static_cast<const CertificateStore*>(app_data)->select(name);
}

std::vector<CertificateStore::Input> test_inputs() {
  const Material& m = material();
  std::vector<CertificateStore::Input> in(3);
  // The leaf followed by its chain (the CA), as kong.yaml certificates carry them.
  in[0].cert = cert_pem(m.a_example.get()) + cert_pem(m.ca.get());
  in[0].key = key_pem(m.ec_key.get());
  in[0].snis = {"a.example.com"};
  in[1].cert = cert_pem(m.wildcard_net.get());
  in[1].key = key_pem(m.ec_key2.get());
  in[1].snis = {"*.example.net", "example.*"};
  in[2].cert = cert_pem(m.dual_ec.get());
  in[2].key = key_pem(m.ec_key.get());
  in[2].cert_alt = cert_pem(m.dual_rsa.get());
  in[2].key_alt = key_pem(m.rsa_key.get());
  in[2].snis = {"dual.example.org"};
  return in;
}

std::string subject_cn(X509* cert) {
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf));
  return buf;
}

// A client and a server session joined in memory.
struct Pair {
  std::unique_ptr<TlsSession> client, server;
  std::string client_plain, server_plain;  // what each side received
  TlsSession::Status client_status = TlsSession::Status::ok;
  TlsSession::Status server_status = TlsSession::Status::ok;
  std::string to_server, to_client;  // ciphertext in flight

  // Moves ciphertext until neither side has anything to say.
  void pump() {
    for (int rounds = 0; rounds < 100 && (!to_server.empty() || !to_client.empty()); ++rounds) {
      if (!to_server.empty() && server_status == TlsSession::Status::ok) {
        std::string in;
        in.swap(to_server);
        server_status = server->on_ciphertext(in.data(), in.size(), server_plain, to_client);
      }
      to_server.clear();
      if (!to_client.empty() && client_status == TlsSession::Status::ok) {
        std::string in;
        in.swap(to_client);
        client_status = client->on_ciphertext(in.data(), in.size(), client_plain, to_server);
      }
      to_client.clear();
    }
  }
  bool handshake() {
    client_status = client->start(to_server);
    pump();
    return client->handshake_done() && server->handshake_done() &&
           client_status == TlsSession::Status::ok && server_status == TlsSession::Status::ok;
  }
  X509Ptr peer_cert() const { return X509Ptr(SSL_get1_peer_certificate(client->ssl())); }
};

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    server_ = TlsServer::create(&select_from_store, &error);
    ASSERT_NE(server_, nullptr) << error;
    std::vector<std::string> errors;
    store_ = CertificateStore::build(test_inputs(), server_->ctx(), &errors);
    ASSERT_NE(store_, nullptr) << (errors.empty() ? "" : errors[0]);
    plain_client_ = make_client_ctx({}, &error);
    ASSERT_NE(plain_client_, nullptr) << error;
  }

  Pair pair(SSL_CTX* client_ctx, std::string_view sni, std::string_view verify_host = {}) {
    Pair p;
    p.client = TlsSession::client(client_ctx, sni, verify_host.empty() ? sni : verify_host);
    p.server = TlsSession::server(server_->ctx(), const_cast<CertificateStore*>(store_.get()));
    return p;
  }

  SslCtxPtr verifying_client(X509* ca) {
    ClientTlsOptions o;
    o.verify = true;
    o.ca_pems = {cert_pem(ca)};
    std::string error;
    SslCtxPtr ctx = make_client_ctx(o, &error);
    EXPECT_NE(ctx, nullptr) << error;
    return ctx;
  }

  std::unique_ptr<TlsServer> server_;
  std::shared_ptr<const CertificateStore> store_;
  SslCtxPtr plain_client_;
};

TEST_F(TlsTest, HandshakeAlpnAndDataBothWays) {
  Pair p = pair(plain_client_.get(), "a.example.com");
  ASSERT_TRUE(p.handshake()) << p.client->error_text() << " / " << p.server->error_text();
  EXPECT_EQ(p.client->version(), "TLSv1.3");
  EXPECT_EQ(p.server->version(), "TLSv1.3");
  EXPECT_FALSE(p.server->cipher().empty());
  EXPECT_EQ(p.client->alpn(), "http/1.1");
  EXPECT_EQ(p.server->alpn(), "http/1.1");
  EXPECT_EQ(p.server->server_name(), "a.example.com");

  ASSERT_EQ(p.client->write("GET / HTTP/1.1\r\n\r\n", 18, p.to_server), TlsSession::Status::ok);
  p.pump();
  EXPECT_EQ(p.server_plain, "GET / HTTP/1.1\r\n\r\n");
  ASSERT_EQ(p.server->write("HTTP/1.1 200 OK\r\n\r\n", 19, p.to_client), TlsSession::Status::ok);
  p.pump();
  EXPECT_EQ(p.client_plain, "HTTP/1.1 200 OK\r\n\r\n");
}

TEST_F(TlsTest, LargeDataBothWays) {
  Pair p = pair(plain_client_.get(), "a.example.com");
  ASSERT_TRUE(p.handshake());
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + (i >> 9));
  ASSERT_EQ(p.client->write(big.data(), big.size(), p.to_server), TlsSession::Status::ok);
  p.pump();
  EXPECT_TRUE(p.server_plain == big);
  // Server to client in many small writes.
  for (size_t at = 0; at < big.size(); at += 7000) {
    size_t n = std::min<size_t>(7000, big.size() - at);
    ASSERT_EQ(p.server->write(big.data() + at, n, p.to_client), TlsSession::Status::ok);
    if (at % (70000) == 0) p.pump();
  }
  p.pump();
  EXPECT_TRUE(p.client_plain == big);
}

TEST_F(TlsTest, WritesBeforeHandshakeAreKept) {
  Pair p = pair(plain_client_.get(), "a.example.com");
  ASSERT_EQ(p.client->write("early", 5, p.to_server), TlsSession::Status::ok);
  ASSERT_TRUE(p.handshake());
  EXPECT_EQ(p.server_plain, "early");
}

TEST_F(TlsTest, SniSelectsExactWildcardAndDefault) {
  struct Case {
    const char* sni;
    const char* cn;
  } cases[] = {
      {"a.example.com", "a.example.com"},
      {"A.Example.COM", "a.example.com"},
      {"x.example.net", "*.example.net"},
      {"example.io", "*.example.net"},  // example.*
      {"b.a.example.com", "localhost"},
      {"other.org", "localhost"},
      {"", "localhost"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.sni);
    Pair p = pair(plain_client_.get(), c.sni);
    ASSERT_TRUE(p.handshake()) << p.client->error_text();
    X509Ptr peer = p.peer_cert();
    ASSERT_NE(peer, nullptr);
    EXPECT_EQ(subject_cn(peer.get()), c.cn);
  }
}

TEST_F(TlsTest, StoreSelectRules) {
  SSL_CTX* a = store_->select("a.example.com");
  SSL_CTX* net = store_->select("www.example.net");
  EXPECT_NE(a, server_->ctx());
  EXPECT_NE(net, server_->ctx());
  EXPECT_NE(a, net);
  EXPECT_EQ(store_->select("a.example.com."), a);
  EXPECT_EQ(store_->select("foo.net"), server_->ctx());
  EXPECT_EQ(store_->select("a.b.example.net"), server_->ctx());  // one label only, as Kong
  EXPECT_EQ(store_->select("example.co.uk"), server_->ctx());
  EXPECT_EQ(store_->select("example.com"), net);  // example.*
  EXPECT_EQ(store_->select(""), server_->ctx());
}

TEST_F(TlsTest, ClientVerifiesAgainstCa) {
  SslCtxPtr ctx = verifying_client(material().ca.get());
  Pair p = pair(ctx.get(), "a.example.com");
  EXPECT_TRUE(p.handshake()) << p.client->error_text();
  Pair w = pair(ctx.get(), "x.example.net");
  EXPECT_TRUE(w.handshake()) << w.client->error_text();
}

TEST_F(TlsTest, ClientVerifyFailsWithWrongCa) {
  SslCtxPtr ctx = verifying_client(material().other_ca.get());
  Pair p = pair(ctx.get(), "a.example.com");
  EXPECT_FALSE(p.handshake());
  EXPECT_EQ(p.client_status, TlsSession::Status::error);
  EXPECT_NE(p.client->error_text().find("certificate verify failed"), std::string::npos)
      << p.client->error_text();
  // The server hears the alert.
  EXPECT_EQ(p.server_status, TlsSession::Status::error);
}

TEST_F(TlsTest, ClientVerifyFailsWithWrongHost) {
  SslCtxPtr ctx = verifying_client(material().ca.get());
  Pair p = pair(ctx.get(), "a.example.com", "b.example.com");
  EXPECT_FALSE(p.handshake());
  EXPECT_EQ(p.client_status, TlsSession::Status::error);
  EXPECT_NE(p.client->error_text().find("hostname mismatch"), std::string::npos)
      << p.client->error_text();
  // The default certificate is self-signed: not trusted either.
  Pair d = pair(ctx.get(), "unknown.org");
  EXPECT_FALSE(d.handshake());
}

TEST_F(TlsTest, SystemStoreWhenNoCaGiven) {
  ClientTlsOptions o;
  o.verify = true;
  o.verify_depth = 2;
  std::string error;
  SslCtxPtr ctx = make_client_ctx(o, &error);
  ASSERT_NE(ctx, nullptr) << error;
  EXPECT_EQ(SSL_CTX_get_verify_depth(ctx.get()), 2);
  Pair p = pair(ctx.get(), "a.example.com");
  EXPECT_FALSE(p.handshake());  // the test CA is not in the system store
}

TEST_F(TlsTest, BuildErrors) {
  const Material& m = material();
  std::vector<CertificateStore::Input> in(4);
  in[0].cert = cert_pem(m.a_example.get());
  in[0].key = key_pem(m.ec_key.get());  // fine
  in[1].cert = cert_pem(m.a_example.get());
  in[1].key = key_pem(m.ec_key2.get());
  in[2].cert = "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n";
  in[2].key = key_pem(m.ec_key.get());
  in[3].cert = cert_pem(m.dual_ec.get());
  in[3].key = key_pem(m.ec_key.get());
  in[3].cert_alt = cert_pem(m.dual_rsa.get());  // key_alt missing
  std::vector<std::string> errors;
  EXPECT_EQ(CertificateStore::build(in, server_->ctx(), &errors), nullptr);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0], "certificates[1]: certificate does not match key");
  EXPECT_EQ(errors[1].rfind("certificates[2]: invalid cert", 0), 0u) << errors[1];
  EXPECT_EQ(errors[2], "certificates[3]: cert_alt and key_alt must be given together");

  std::vector<CertificateStore::Input> same(1);
  same[0].cert = cert_pem(m.a_example.get());
  same[0].key = key_pem(m.ec_key.get());
  same[0].cert_alt = cert_pem(m.wildcard_net.get());
  same[0].key_alt = key_pem(m.ec_key2.get());
  errors.clear();
  EXPECT_EQ(CertificateStore::build(same, server_->ctx(), &errors), nullptr);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "certificates[0]: cert_alt must use a different key type than cert");
}

TEST_F(TlsTest, CertAltServedToRsaOnlyClient) {
  // Default client: ECDSA preferred.
  Pair e = pair(plain_client_.get(), "dual.example.org");
  ASSERT_TRUE(e.handshake());
  X509Ptr ec = e.peer_cert();
  EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(ec.get())), EVP_PKEY_EC);

  // TLS 1.3 client that only accepts RSA signatures.
  SslCtxPtr rsa13(SSL_CTX_new(TLS_client_method()));
  ASSERT_EQ(SSL_CTX_set1_sigalgs_list(rsa13.get(), "rsa_pss_rsae_sha256:rsa_pkcs1_sha256"), 1);
  Pair r = pair(rsa13.get(), "dual.example.org");
  ASSERT_TRUE(r.handshake()) << r.client->error_text() << " / " << r.server->error_text();
  X509Ptr rsa = r.peer_cert();
  EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(rsa.get())), EVP_PKEY_RSA);

  // TLS 1.2 client with RSA cipher suites only.
  SslCtxPtr rsa12(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_max_proto_version(rsa12.get(), TLS1_2_VERSION);
  ASSERT_EQ(SSL_CTX_set_cipher_list(rsa12.get(), "ECDHE-RSA-AES128-GCM-SHA256"), 1);
  Pair t = pair(rsa12.get(), "dual.example.org");
  ASSERT_TRUE(t.handshake()) << t.client->error_text() << " / " << t.server->error_text();
  EXPECT_EQ(t.server->version(), "TLSv1.2");
  EXPECT_EQ(t.server->cipher(), "ECDHE-RSA-AES128-GCM-SHA256");
  X509Ptr rsa2 = t.peer_cert();
  EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(rsa2.get())), EVP_PKEY_RSA);
}

TEST_F(TlsTest, Tls12UsesIntermediateCiphersOnly) {
  SslCtxPtr cbc(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_max_proto_version(cbc.get(), TLS1_2_VERSION);
  ASSERT_EQ(SSL_CTX_set_cipher_list(cbc.get(), "ECDHE-ECDSA-AES128-SHA"), 1);
  Pair p = pair(cbc.get(), "a.example.com");
  EXPECT_FALSE(p.handshake());
  EXPECT_EQ(p.server_status, TlsSession::Status::error);
}

TEST_F(TlsTest, Tls11ClientRefused) {
  SslCtxPtr old(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_min_proto_version(old.get(), TLS1_VERSION);
  SSL_CTX_set_max_proto_version(old.get(), TLS1_1_VERSION);
  SSL_CTX_set_cipher_list(old.get(), "DEFAULT:@SECLEVEL=0");
  Pair p = pair(old.get(), "a.example.com");
  EXPECT_FALSE(p.handshake());
  EXPECT_EQ(p.server_status, TlsSession::Status::error);
  EXPECT_NE(p.server->error_text().find("unsupported protocol"), std::string::npos)
      << p.server->error_text();
  EXPECT_EQ(p.client_status, TlsSession::Status::error);
}

TEST_F(TlsTest, NoAlpnFromClient) {
  SslCtxPtr bare(SSL_CTX_new(TLS_client_method()));
  Pair p = pair(bare.get(), "a.example.com");
  ASSERT_TRUE(p.handshake());
  EXPECT_EQ(p.server->alpn(), "");
  // A client offering only h2 goes on without ALPN too.
  SslCtxPtr h2(SSL_CTX_new(TLS_client_method()));
  static const unsigned char kH2[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(h2.get(), kH2, sizeof(kH2));
  Pair q = pair(h2.get(), "a.example.com");
  ASSERT_TRUE(q.handshake());
  EXPECT_EQ(q.client->alpn(), "");
}

TEST_F(TlsTest, CloseNotifyIsClosed) {
  Pair p = pair(plain_client_.get(), "a.example.com");
  ASSERT_TRUE(p.handshake());
  ASSERT_EQ(p.client->write("last", 4, p.to_server), TlsSession::Status::ok);
  p.client->shutdown(p.to_server);
  p.client->shutdown(p.to_server);  // once only
  p.pump();
  EXPECT_EQ(p.server_plain, "last");
  EXPECT_EQ(p.server_status, TlsSession::Status::closed);
  EXPECT_EQ(p.client->write("more", 4, p.to_server), TlsSession::Status::closed);
  // The server answers with its own close_notify.
  p.server->shutdown(p.to_client);
  std::string in;
  in.swap(p.to_client);
  EXPECT_EQ(p.client->on_ciphertext(in.data(), in.size(), p.client_plain, p.to_server),
            TlsSession::Status::closed);
}

TEST_F(TlsTest, GarbageIsAnError) {
  Pair p = pair(plain_client_.get(), "a.example.com");
  std::string out, plain;
  const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(p.server->on_ciphertext(junk, sizeof(junk) - 1, plain, out), TlsSession::Status::error);
  EXPECT_FALSE(p.server->error_text().empty());
  EXPECT_EQ(p.server->on_ciphertext("x", 1, plain, out), TlsSession::Status::error);
}

TEST_F(TlsTest, SessionResumptionWithTickets) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_max_proto_version(ctx.get(), TLS1_2_VERSION);
  Pair first = pair(ctx.get(), "a.example.com");
  ASSERT_TRUE(first.handshake());
  SSL_SESSION* session = SSL_get1_session(first.client->ssl());
  ASSERT_NE(session, nullptr);
  EXPECT_TRUE(SSL_SESSION_has_ticket(session));
  Pair second = pair(ctx.get(), "a.example.com");
  SSL_set_session(second.client->ssl(), session);
  SSL_SESSION_free(session);
  ASSERT_TRUE(second.handshake());
  EXPECT_TRUE(SSL_session_reused(second.client->ssl()));
}

TEST_F(TlsTest, ClientCertificateOptions) {
  const Material& m = material();
  ClientTlsOptions o;
  o.client_cert_pem = cert_pem(m.a_example.get());
  o.client_key_pem = key_pem(m.ec_key.get());
  std::string error;
  EXPECT_NE(make_client_ctx(o, &error), nullptr) << error;
  o.client_key_pem = key_pem(m.rsa_key.get());
  EXPECT_EQ(make_client_ctx(o, &error), nullptr);
  EXPECT_EQ(error, "client_certificate: certificate does not match key");
  ClientTlsOptions bad;
  bad.verify = true;
  bad.ca_pems = {"not pem"};
  EXPECT_EQ(make_client_ctx(bad, &error), nullptr);
  EXPECT_EQ(error, "ca_certificates[0]: no certificate in PEM data");
}

// ---------------------------------------------------------------------------------------------
// Stream over real loopback sockets: the handler sees only plaintext.

struct LoopbackTls {
  struct ServerConn final : StreamHandler {
    LoopbackTls* t;
    Stream stream;
    explicit ServerConn(LoopbackTls* owner) : t(owner), stream(&owner->loop, this) {}
    void on_stream_read(const char* data, size_t len) override {
      t->server_got.append(data, len);
      stream.cork();
      stream.write(std::string_view(data, len));  // echo
      stream.uncork();
    }
    void on_stream_eof() override {
      t->server_eof = true;
      stream.close_after_flush();
    }
    void on_stream_error(int error) override {
      t->server_error = error;
      stream.close();
    }
    void on_stream_closed() override { t->server_closed = true; }
  };
  struct ClientConn final : StreamHandler {
    LoopbackTls* t;
    Stream stream;
    explicit ClientConn(LoopbackTls* owner) : t(owner), stream(&owner->loop, this) {}
    void on_stream_read(const char* data, size_t len) override {
      t->client_got.append(data, len);
      if (t->client_got.size() == t->payload.size()) stream.shutdown_write();
    }
    void on_stream_connected(int status) override {
      t->connected = status;
      if (status != 0) {
        t->client_error_text = stream.tls()->error_text();
        stream.close();
        return;
      }
      t->client_version = stream.tls()->version();
      stream.write(t->payload);
      stream.read_start();
    }
    void on_stream_eof() override {
      t->client_eof = true;
      stream.close();
    }
    void on_stream_error(int error) override {
      t->client_error = error;
      stream.close();
    }
    void on_stream_closed() override {
      t->client_closed = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&t->listener), nullptr);
    }
  };

  uv_loop_t loop;
  std::unique_ptr<DeadlineQueue> deadlines;
  uv_tcp_t listener;
  SSL_CTX* server_ctx = nullptr;
  void* app_data = nullptr;
  std::unique_ptr<ServerConn> server;
  std::unique_ptr<ClientConn> client;
  std::string payload, server_got, client_got, client_error_text, client_version;
  int connected = 1, server_error = 0, client_error = 0;
  bool server_eof = false, client_eof = false, server_closed = false, client_closed = false;

  LoopbackTls() {
    uv_loop_init(&loop);
    deadlines = std::make_unique<DeadlineQueue>(&loop);
    deadlines->attach();
  }
  ~LoopbackTls() {
    deadlines->close();
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }

  static void on_connection(uv_stream_t* l, int status) {
    auto* t = static_cast<LoopbackTls*>(l->data);
    if (status != 0) return;
    t->server = std::make_unique<ServerConn>(t);
    ASSERT_EQ(t->server->stream.accept(l), 0);
    t->server->stream.use_tls(TlsSession::server(t->server_ctx, t->app_data));
    t->server->stream.read_start();
  }

  void run(SSL_CTX* client_ctx, std::string_view sni) {
    uv_tcp_init(&loop, &listener);
    listener.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    ASSERT_EQ(uv_tcp_bind(&listener, reinterpret_cast<const sockaddr*>(&addr), 0), 0);
    ASSERT_EQ(uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 16, &on_connection), 0);
    sockaddr_storage bound{};
    int len = sizeof(bound);
    uv_tcp_getsockname(&listener, reinterpret_cast<sockaddr*>(&bound), &len);
    client = std::make_unique<ClientConn>(this);
    ASSERT_EQ(client->stream.connect(reinterpret_cast<const sockaddr*>(&bound)), 0);
    client->stream.use_tls(TlsSession::client(client_ctx, sni, sni));
    uv_run(&loop, UV_RUN_DEFAULT);
  }
};

TEST_F(TlsTest, StreamEchoOverLoopback) {
  LoopbackTls t;
  t.server_ctx = server_->ctx();
  t.app_data = const_cast<CertificateStore*>(store_.get());
  t.payload.resize(2 * 1024 * 1024);
  for (size_t i = 0; i < t.payload.size(); ++i) t.payload[i] = static_cast<char>(i % 251);
  SslCtxPtr ctx = verifying_client(material().ca.get());
  t.run(ctx.get(), "a.example.com");
  EXPECT_EQ(t.connected, 0) << t.client_error_text;
  EXPECT_EQ(t.client_version, "TLSv1.3");
  EXPECT_TRUE(t.server_got == t.payload);
  EXPECT_TRUE(t.client_got == t.payload);
  EXPECT_TRUE(t.server_eof);  // the client's close_notify
  EXPECT_TRUE(t.client_eof);  // the server's close_notify (or FIN) after its echo
  EXPECT_TRUE(t.server_closed);
  EXPECT_TRUE(t.client_closed);
  EXPECT_EQ(t.server_error, 0);
  EXPECT_EQ(t.client_error, 0);
}

TEST_F(TlsTest, StreamHandshakeFailureReportsConnectError) {
  LoopbackTls t;
  t.server_ctx = server_->ctx();
  t.app_data = const_cast<CertificateStore*>(store_.get());
  t.payload = "never sent";
  SslCtxPtr ctx = verifying_client(material().other_ca.get());
  t.run(ctx.get(), "a.example.com");
  EXPECT_EQ(t.connected, UV_EPROTO);
  EXPECT_NE(t.client_error_text.find("certificate verify failed"), std::string::npos)
      << t.client_error_text;
  EXPECT_EQ(t.server_error, UV_EPROTO);  // the server hears the alert
  EXPECT_TRUE(t.server_got.empty());
  EXPECT_TRUE(t.server_closed);
  EXPECT_TRUE(t.client_closed);
}

TEST(TlsServerTest, DefaultCertificateIsSelfSignedLocalhost) {
  std::string error;
  auto server = TlsServer::create(nullptr, &error);
  ASSERT_NE(server, nullptr) << error;
  X509* cert = SSL_CTX_get0_certificate(server->ctx());
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(subject_cn(cert), "localhost");
  EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(cert)), EVP_PKEY_EC);
  EXPECT_EQ(X509_check_issued(cert, cert), X509_V_OK);
  // Valid for about ten years.
  int days = 0, secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert)), 1);
  EXPECT_GT(days, 3640);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(server->ctx()), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(server->ctx()), TLS1_3_VERSION);
  EXPECT_NE(SSL_CTX_get_mode(server->ctx()) & SSL_MODE_RELEASE_BUFFERS, 0);
  EXPECT_NE(SSL_CTX_get_options(server->ctx()) & SSL_OP_NO_RENEGOTIATION, 0u);
}

}  // namespace
}  // namespace sb::net
