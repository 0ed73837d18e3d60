// TLS with OpenSSL memory BIOs: a transport filter under the same HTTP code (Stream runs it
// between the socket and its handler), plus the contexts and certificate store it needs.
//
// Defaults follow Kong: TLS 1.2 and 1.3 only, Mozilla "intermediate" ciphers, ALPN http/1.1,
// session resumption with tickets (keys rotate with the process) and a per-context cache.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sb::net {

struct SslCtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const { SSL_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// One certificate (+ optional alternate of another key type, e.g. ECDSA + RSA) ready to serve.
struct ServerCertificate {
  SslCtxPtr ctx;  // a server context carrying this certificate (and its chain)
};

// Certificates of one config generation, selected by SNI as Kong does: exact name first, then
// a leftmost wildcard (*.example.com), then a rightmost one (example.*), else the default.
// Immutable once built; shared by worker threads.
class CertificateStore {
 public:
  // `certs` are PEM pairs; `snis[i]` lists the names certificate i serves. Errors name the
  // certificate by index ("certificates[2]: ...").
  struct Input {
    std::string cert, key, cert_alt, key_alt;
    std::vector<std::string> snis;
  };
  // Returns null when any certificate is invalid (every problem is appended to `errors`).
  // `fallback_default` (normally TlsServer::ctx()) serves names no SNI matches.
  static std::shared_ptr<const CertificateStore> build(const std::vector<Input>& certs,
                                                       SSL_CTX* fallback_default,
                                                       std::vector<std::string>* errors);
  // The context whose certificate serves `server_name` (never null: the default at worst).
  SSL_CTX* select(std::string_view server_name) const;

 private:
  std::vector<ServerCertificate> certs_;
  std::unordered_map<std::string, size_t> exact_;
  std::unordered_map<std::string, size_t> left_wildcard_;   // key ".example.com"
  std::unordered_map<std::string, size_t> right_wildcard_;  // key "example."
  SSL_CTX* default_ = nullptr;  // not owned (the process default) unless a cert is "*"
};

// The process-wide listener context with a generated self-signed default certificate (Kong
// generates one at start when none is configured). On every handshake the SNI callback asks
// `selector(app_data, server_name)` (app_data as given to TlsSession::server) for the context
// whose certificate to serve, e.g. the connection's worker's current CertificateStore::select;
// a null answer keeps the default certificate.
class TlsServer {
 public:
  using Selector = SSL_CTX* (*)(void* app_data, std::string_view server_name);
  static std::unique_ptr<TlsServer> create(Selector selector, std::string* error);
  SSL_CTX* ctx() const { return ctx_.get(); }  // listener context (also the default cert)

 private:
  SslCtxPtr ctx_;
};

// Upstream (client) contexts: one per distinct verification setup.
struct ClientTlsOptions {
  bool verify = false;
  int verify_depth = -1;                        // -1 = OpenSSL default
  std::vector<std::string> ca_pems;             // trusted CAs (empty + verify = system store)
  std::string client_cert_pem, client_key_pem;  // mTLS to the upstream
};
SslCtxPtr make_client_ctx(const ClientTlsOptions& options, std::string* error);

// One connection's TLS state over a memory BIO (no socket BIO). Ciphertext goes in from the
// socket and comes out for the socket; plaintext goes in from the application and comes out
// for it. The BIO reads the caller's bytes in place and appends output to the caller's string,
// so the session holds no I/O buffer between calls. Not copyable or movable.
class TlsSession {
 public:
  // Server side: `app_data` is handed to the TlsServer's selector from the SNI callback.
  static std::unique_ptr<TlsSession> server(SSL_CTX* listener_ctx, void* app_data);
  // Client side: sends `sni` (when non-empty and not an IP literal) and verifies the peer
  // against `verify_host` (a DNS name or an IP address) when the context verifies.
  static std::unique_ptr<TlsSession> client(SSL_CTX* ctx, std::string_view sni,
                                            std::string_view verify_host);

  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  enum class Status { ok, error, closed };
  // Feeds ciphertext read from the socket. Decrypted bytes are appended to `plaintext`,
  // bytes to send (handshake, alerts, tickets) to `to_socket`. `Status::closed`: the peer sent
  // close_notify (the plaintext before it is still appended). `Status::error`: fatal (failed
  // handshake, bad record), see error_text(); an alert may be in `to_socket`. Both are sticky.
  Status on_ciphertext(const char* data, size_t len, std::string& plaintext,
                       std::string& to_socket);
  // Encrypts application bytes into `to_socket`. Before the handshake is done they are kept
  // and flushed once it completes.
  Status write(const char* data, size_t len, std::string& to_socket);
  // Starts the handshake (client side) into `to_socket`.
  Status start(std::string& to_socket);
  // close_notify into `to_socket` (once; nothing before the handshake is done).
  void shutdown(std::string& to_socket);

  bool handshake_done() const { return handshake_done_; }
  std::string_view server_name() const;  // SNI the client sent (server side)
  std::string_view version() const;      // "TLSv1.3"
  std::string_view cipher() const;
  std::string_view alpn() const;                     // "http/1.1" or empty
  std::string error_text() const { return error_; }  // e.g. "certificate verify failed (...)"
  SSL* ssl() const { return ssl_.get(); }  // for facts not wrapped here (peer certificate)

 private:
  TlsSession() = default;
  static std::unique_ptr<TlsSession> make(SSL_CTX* ctx);
  Status handshake();
  Status encrypt(const char* data, size_t len);
  Status fail(int ssl_error);

 public:
  // What the session's BIO reads from and writes to during one call (internal).
  struct Io {
    const char* in = nullptr;
    size_t in_len = 0;
    std::string* out = nullptr;
  };

 private:
  struct IoScope;
  SslPtr ssl_;
  Io io_;
  std::string pending_plaintext_;
  std::string error_;
  bool handshake_done_ = false;
  bool failed_ = false;
  bool closed_ = false;
  bool shutdown_sent_ = false;
};

}  // namespace sb::net
