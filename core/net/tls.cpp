#include "net/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>

namespace sb::net {
namespace {

struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

// Mozilla "intermediate" (Kong's default) for TLS 1.2; TLS 1.3 suites stay OpenSSL's default.
constexpr const char* kCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";

constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr unsigned char kSessionIdContext[] = "silverback";

// The OpenSSL error queue as one line (and cleared).
std::string openssl_errors(std::string_view fallback) {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    // Keep the human part: "error:0A000086:SSL routines::certificate verify failed" -> reason.
    std::string_view s(buf);
    size_t colon = s.rfind(':');
    out += colon == std::string_view::npos ? s : s.substr(colon + 1);
  }
  return out.empty() ? std::string(fallback) : out;
}

int alpn_select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned inlen, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpnHttp11, sizeof(kAlpnHttp11), in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // no http/1.1 offered: go on without ALPN
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// Protocol, cipher, ALPN and buffer settings shared by the listener and every certificate's
// context (a connection switched by SNI keeps behaving the same).
bool configure_server(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  if (SSL_CTX_set_cipher_list(ctx, kCiphers) != 1) return false;
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_dh_auto(ctx, 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1);
  SSL_CTX_set_alpn_select_cb(ctx, &alpn_select, nullptr);
  return true;
}

SslCtxPtr new_server_ctx() {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx && !configure_server(ctx.get())) ctx.reset();
  return ctx;
}

// All certificates of a PEM text, in order.
std::vector<X509Ptr> read_certs(std::string_view pem) {
  std::vector<X509Ptr> out;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return out;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();  // the read that ends the loop leaves "no start line"
  return out;
}

PkeyPtr read_key(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return nullptr;
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return key;
}

// Loads one leaf + chain + key into `ctx` (a context may hold one pair per key type).
bool load_pair(SSL_CTX* ctx, std::string_view cert_pem, std::string_view key_pem,
               std::string_view what, std::string* error) {
  std::vector<X509Ptr> certs = read_certs(cert_pem);
  if (certs.empty()) {
    *error = std::string("invalid ") + std::string(what) + ": no certificate in PEM data";
    return false;
  }
  std::string key_what = what == "cert" ? "key" : "key_alt";
  PkeyPtr key = read_key(key_pem);
  if (!key) {
    *error = "invalid " + key_what + ": no private key in PEM data";
    return false;
  }
  if (X509_check_private_key(certs[0].get(), key.get()) != 1) {
    ERR_clear_error();
    *error = what == "cert" ? "certificate does not match key"
                            : "alternative certificate does not match key";
    return false;
  }
  if (SSL_CTX_use_certificate(ctx, certs[0].get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) {
    *error = std::string("invalid ") + std::string(what) + ": " + openssl_errors("rejected");
    return false;
  }
  for (size_t i = 1; i < certs.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, certs[i].get()) != 1) {
      *error =
          std::string("invalid ") + std::string(what) + " chain: " + openssl_errors("rejected");
      return false;
    }
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!out.empty() && out.back() == '.') out.pop_back();  // "example.com." is "example.com"
  return out;
}

int servername_cb(SSL* ssl, int*, void* arg) {
  auto selector = reinterpret_cast<TlsServer::Selector>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  SSL_CTX* chosen = selector(SSL_get_app_data(ssl), name != nullptr ? name : "");
  if (chosen != nullptr && chosen != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, chosen);
  return SSL_TLSEXT_ERR_OK;
}

// A self-signed EC P-256 certificate for CN=localhost, valid for 10 years.
bool make_self_signed(X509Ptr* cert_out, PkeyPtr* key_out) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  if (!key || !cert) return false;
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof(serial)) != 1) return false;
  serial[0] &= 0x7f;  // positive
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_bin2bn(serial, sizeof(serial), nullptr),
                                                 &BN_free);
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return false;
  }
  X509_set_version(cert.get(), X509_VERSION_3);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, decltype(&X509_EXTENSION_free)> san(
      X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "DNS:localhost"),
      &X509_EXTENSION_free);
  if (san) X509_add_ext(cert.get(), san.get(), -1);
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return false;
  *cert_out = std::move(cert);
  *key_out = std::move(key);
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// CertificateStore

std::shared_ptr<const CertificateStore> CertificateStore::build(const std::vector<Input>& certs,
                                                                SSL_CTX* fallback_default,
                                                                std::vector<std::string>* errors) {
  auto store = std::make_shared<CertificateStore>();
  store->default_ = fallback_default;
  size_t error_count = errors != nullptr ? errors->size() : 0;
  auto fail = [&](size_t i, std::string reason) {
    if (errors != nullptr) {
      errors->push_back("certificates[" + std::to_string(i) + "]: " + std::move(reason));
    }
    ++error_count;
  };
  size_t initial_errors = error_count;
  store->certs_.reserve(certs.size());
  for (size_t i = 0; i < certs.size(); ++i) {
    const Input& in = certs[i];
    ServerCertificate sc;
    sc.ctx = new_server_ctx();
    if (!sc.ctx) {
      fail(i, openssl_errors("cannot create a TLS context"));
      store->certs_.push_back(std::move(sc));
      continue;
    }
    std::string error;
    bool ok = load_pair(sc.ctx.get(), in.cert, in.key, "cert", &error);
    if (ok && (in.cert_alt.empty() != in.key_alt.empty())) {
      error = "cert_alt and key_alt must be given together";
      ok = false;
    }
    if (ok && !in.cert_alt.empty()) {
      // The alternate must be of another key type, or it would replace the main pair.
      std::vector<X509Ptr> main = read_certs(in.cert);
      std::vector<X509Ptr> alt = read_certs(in.cert_alt);
      if (!alt.empty() && !main.empty() &&
          EVP_PKEY_get_base_id(X509_get0_pubkey(main[0].get())) ==
              EVP_PKEY_get_base_id(X509_get0_pubkey(alt[0].get()))) {
        error = "cert_alt must use a different key type than cert";
        ok = false;
      } else {
        ok = load_pair(sc.ctx.get(), in.cert_alt, in.key_alt, "cert_alt", &error);
      }
    }
    if (!ok) {
      fail(i, std::move(error));
      sc.ctx.reset();
    }
    store->certs_.push_back(std::move(sc));
    if (!ok) continue;
    for (const std::string& raw : in.snis) {
      std::string sni = lower(raw);
      if (sni.size() > 2 && sni.compare(0, 2, "*.") == 0) {
        store->left_wildcard_.emplace(sni.substr(1), i);  // "*.example.com" -> ".example.com"
      } else if (sni.size() > 2 && sni.compare(sni.size() - 2, 2, ".*") == 0) {
        store->right_wildcard_.emplace(sni.substr(0, sni.size() - 1), i);  // "example."
      } else if (!sni.empty()) {
        store->exact_.emplace(std::move(sni), i);
      }
    }
  }
  if (error_count != initial_errors) return nullptr;
  return store;
}

SSL_CTX* CertificateStore::select(std::string_view server_name) const {
  if (server_name.empty()) return default_;
  std::string name = lower(server_name);
  if (auto it = exact_.find(name); it != exact_.end()) return certs_[it->second].ctx.get();
  if (!left_wildcard_.empty()) {
    size_t dot = name.find('.');
    if (dot != std::string::npos) {
      if (auto it = left_wildcard_.find(name.substr(dot)); it != left_wildcard_.end()) {
        return certs_[it->second].ctx.get();
      }
    }
  }
  if (!right_wildcard_.empty()) {
    size_t dot = name.rfind('.');
    if (dot != std::string::npos) {
      if (auto it = right_wildcard_.find(name.substr(0, dot + 1)); it != right_wildcard_.end()) {
        return certs_[it->second].ctx.get();
      }
    }
  }
  return default_;
}

// ---------------------------------------------------------------------------------------------
// TlsServer

std::unique_ptr<TlsServer> TlsServer::create(Selector selector, std::string* error) {
  auto server = std::make_unique<TlsServer>();
  server->ctx_ = new_server_ctx();
  if (!server->ctx_) {
    *error = "cannot create the TLS listener context: " + openssl_errors("out of memory");
    return nullptr;
  }
  X509Ptr cert;
  PkeyPtr key;
  if (!make_self_signed(&cert, &key) ||
      SSL_CTX_use_certificate(server->ctx_.get(), cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(server->ctx_.get(), key.get()) != 1) {
    *error = "cannot generate the default certificate: " + openssl_errors("unknown error");
    return nullptr;
  }
  if (selector != nullptr) {
    SSL_CTX_set_tlsext_servername_callback(server->ctx_.get(), &servername_cb);
    SSL_CTX_set_tlsext_servername_arg(server->ctx_.get(), reinterpret_cast<void*>(selector));
  }
  return server;
}

// ---------------------------------------------------------------------------------------------
// Client contexts

SslCtxPtr make_client_ctx(const ClientTlsOptions& options, std::string* error) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    *error = "cannot create a TLS client context: " + openssl_errors("out of memory");
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_alpn_protos(ctx.get(), kAlpnHttp11, sizeof(kAlpnHttp11)) != 0) {
    *error = "cannot set ALPN: " + openssl_errors("unknown error");
    return nullptr;
  }
  if (options.verify) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (options.verify_depth >= 0) SSL_CTX_set_verify_depth(ctx.get(), options.verify_depth);
    if (options.ca_pems.empty()) {
      if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
        *error = "cannot load the system CA store: " + openssl_errors("unknown error");
        return nullptr;
      }
    } else {
      X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
      for (size_t i = 0; i < options.ca_pems.size(); ++i) {
        std::vector<X509Ptr> cas = read_certs(options.ca_pems[i]);
        if (cas.empty()) {
          *error = "ca_certificates[" + std::to_string(i) + "]: no certificate in PEM data";
          return nullptr;
        }
        for (const X509Ptr& ca : cas) {
          if (X509_STORE_add_cert(store, ca.get()) != 1) ERR_clear_error();  // duplicates
        }
      }
    }
  }
  if (!options.client_cert_pem.empty() || !options.client_key_pem.empty()) {
    std::string why;
    if (!load_pair(ctx.get(), options.client_cert_pem, options.client_key_pem, "cert", &why)) {
      *error = "client_certificate: " + why;
      return nullptr;
    }
  }
  return ctx;
}

// ---------------------------------------------------------------------------------------------
// TlsSession

namespace {

// The session's transport: a memory BIO without a buffer of its own. Reads come straight from
// the bytes being fed (the record layer keeps a partial record in its own buffer, which
// SSL_MODE_RELEASE_BUFFERS frees when idle), writes append straight to the caller's string.
// So an idle connection holds no BIO memory and nothing is copied twice.
int io_read(BIO* b, char* buf, size_t size, size_t* done) {
  auto* io = static_cast<TlsSession::Io*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (io->in_len == 0) {
    BIO_set_retry_read(b);
    return 0;
  }
  size_t n = std::min(size, io->in_len);
  std::memcpy(buf, io->in, n);
  io->in += n;
  io->in_len -= n;
  *done = n;
  return 1;
}

int io_write(BIO* b, const char* data, size_t size, size_t* done) {
  auto* io = static_cast<TlsSession::Io*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (io->out == nullptr) {
    BIO_set_retry_write(b);
    return 0;
  }
  io->out->append(data, size);
  *done = size;
  return 1;
}

long io_ctrl(BIO* b, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING:
      return static_cast<long>(static_cast<TlsSession::Io*>(BIO_get_data(b))->in_len);
    default:
      return 0;
  }
}

int io_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

struct BioMethodFree {
  void operator()(BIO_METHOD* m) const { BIO_meth_free(m); }
};

const BIO_METHOD* io_method() {
  static const std::unique_ptr<BIO_METHOD, BioMethodFree> method = [] {
    std::unique_ptr<BIO_METHOD, BioMethodFree> m(
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "silverback-tls"));
    if (m) {
      BIO_meth_set_read_ex(m.get(), &io_read);
      BIO_meth_set_write_ex(m.get(), &io_write);
      BIO_meth_set_ctrl(m.get(), &io_ctrl);
      BIO_meth_set_create(m.get(), &io_create);
    }
    return m;
  }();
  return method.get();
}

}  // namespace

// Points the BIO at one call's buffers, and away from them when the call returns.
struct TlsSession::IoScope {
  Io& io;
  IoScope(Io& i, const char* in, size_t in_len, std::string* out) : io(i) {
    io.in = in;
    io.in_len = in_len;
    io.out = out;
  }
  ~IoScope() { io = Io{}; }
  IoScope(const IoScope&) = delete;
  IoScope& operator=(const IoScope&) = delete;
};

std::unique_ptr<TlsSession> TlsSession::make(SSL_CTX* ctx) {
  const BIO_METHOD* method = io_method();
  if (method == nullptr) return nullptr;
  SslPtr ssl(SSL_new(ctx));
  if (!ssl) return nullptr;
  BIO* bio = BIO_new(method);
  if (bio == nullptr) return nullptr;
  auto session = std::unique_ptr<TlsSession>(new TlsSession());
  BIO_set_data(bio, &session->io_);  // the session's address is stable (heap, not movable)
  SSL_set_bio(ssl.get(), bio, bio);  // ssl owns it now
  session->ssl_ = std::move(ssl);
  return session;
}

std::unique_ptr<TlsSession> TlsSession::server(SSL_CTX* listener_ctx, void* app_data) {
  auto s = make(listener_ctx);
  if (!s) return nullptr;
  SSL_set_app_data(s->ssl_.get(), app_data);
  SSL_set_accept_state(s->ssl_.get());
  return s;
}

std::unique_ptr<TlsSession> TlsSession::client(SSL_CTX* ctx, std::string_view sni,
                                               std::string_view verify_host) {
  auto s = make(ctx);
  if (!s) return nullptr;
  SSL* ssl = s->ssl_.get();
  SSL_set_connect_state(ssl);
  // An IP literal is never sent as SNI (RFC 6066) and is verified against the IP SANs.
  std::string host(verify_host);
  std::string name(sni);
  if (!name.empty()) {
    ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str());
    bool is_ip = ip != nullptr;
    ASN1_OCTET_STRING_free(ip);
    if (!is_ip) SSL_set_tlsext_host_name(ssl, name.c_str());
  }
  if (!host.empty() && (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) != 0) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
      ERR_clear_error();
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl, host.c_str());
    }
  }
  ERR_clear_error();
  return s;
}

TlsSession::Status TlsSession::fail(int ssl_error) {
  std::string text;
  if (ssl_error == SSL_ERROR_SSL || ssl_error == SSL_ERROR_SYSCALL) {
    text = openssl_errors("TLS protocol error");
  } else {
    text = "TLS error " + std::to_string(ssl_error);
    ERR_clear_error();
  }
  long verify = SSL_get_verify_result(ssl_.get());
  if (verify != X509_V_OK) {
    text += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
  }
  error_ = std::move(text);
  failed_ = true;
  return Status::error;  // the alert telling the peer why is already in the output
}

TlsSession::Status TlsSession::handshake() {
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_.get());
  if (rc == 1) {
    handshake_done_ = true;
    if (!pending_plaintext_.empty()) {
      std::string pending;
      pending.swap(pending_plaintext_);
      return encrypt(pending.data(), pending.size());
    }
    return Status::ok;
  }
  int err = SSL_get_error(ssl_.get(), rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return Status::ok;
  return fail(err);
}

TlsSession::Status TlsSession::start(std::string& to_socket) {
  if (failed_) return Status::error;
  if (handshake_done_) return Status::ok;
  IoScope scope(io_, nullptr, 0, &to_socket);
  return handshake();
}

TlsSession::Status TlsSession::on_ciphertext(const char* data, size_t len, std::string& plaintext,
                                             std::string& to_socket) {
  if (failed_) return Status::error;
  if (closed_) return Status::closed;
  IoScope scope(io_, data, len, &to_socket);
  if (!handshake_done_) {
    Status st = handshake();
    if (st != Status::ok || !handshake_done_) return st;
  }
  // Until the input is used up (SSL_read only wants more once the BIO has none left). Records
  // are decrypted into a per-thread scratch buffer and appended, so `plaintext` is never
  // zero-filled ahead of a read.
  constexpr size_t kChunk = 16 * 1024;
  thread_local char scratch[kChunk];
  for (;;) {
    size_t got = 0;
    ERR_clear_error();
    int rc = SSL_read_ex(ssl_.get(), scratch, kChunk, &got);
    if (got > 0) plaintext.append(scratch, got);
    if (rc == 1) continue;
    int err = SSL_get_error(ssl_.get(), rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return Status::ok;
    if (err == SSL_ERROR_ZERO_RETURN) {
      closed_ = true;
      return Status::closed;
    }
    return fail(err);
  }
}

TlsSession::Status TlsSession::encrypt(const char* data, size_t len) {
  while (len > 0) {
    size_t done = 0;
    ERR_clear_error();
    int rc = SSL_write_ex(ssl_.get(), data, len, &done);
    if (rc != 1) return fail(SSL_get_error(ssl_.get(), rc));
    data += done;
    len -= done;
  }
  return Status::ok;
}

TlsSession::Status TlsSession::write(const char* data, size_t len, std::string& to_socket) {
  if (failed_) return Status::error;
  if (!handshake_done_) {
    pending_plaintext_.append(data, len);
    return Status::ok;
  }
  if (shutdown_sent_) return Status::closed;
  IoScope scope(io_, nullptr, 0, &to_socket);
  return encrypt(data, len);
}

void TlsSession::shutdown(std::string& to_socket) {
  if (failed_ || shutdown_sent_ || !handshake_done_) return;
  shutdown_sent_ = true;
  IoScope scope(io_, nullptr, 0, &to_socket);
  ERR_clear_error();
  SSL_shutdown(ssl_.get());
  ERR_clear_error();
}

std::string_view TlsSession::server_name() const {
  const char* name = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
  return name != nullptr ? std::string_view(name) : std::string_view();
}

std::string_view TlsSession::version() const {
  if (!handshake_done_) return {};
  return SSL_get_version(ssl_.get());
}

std::string_view TlsSession::cipher() const {
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl_.get());
  return c != nullptr ? std::string_view(SSL_CIPHER_get_name(c)) : std::string_view();
}

std::string_view TlsSession::alpn() const {
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl_.get(), &p, &len);
  return std::string_view(reinterpret_cast<const char*>(p), len);
}

}  // namespace sb::net
