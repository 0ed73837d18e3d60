// Bytes -> sb::net::TlsSession::server as ciphertext from a client (ClientHello and whatever
// follows), in 1..3 pieces, with the SNI callback asking a selector as the worker does. The
// listener context (and its generated certificate) is made once.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "net/tls.h"

namespace {

SSL_CTX* select_ctx(void* app_data, std::string_view server_name) {
  auto* seen = static_cast<size_t*>(app_data);
  if (seen != nullptr) *seen += server_name.size();
  return nullptr;  // keep the default certificate
}

sb::net::TlsServer* server() {
  static std::unique_ptr<sb::net::TlsServer> s = [] {
    std::string error;
    auto created = sb::net::TlsServer::create(select_ctx, &error);
    if (!created) std::abort();
    return created;
  }();
  return s.get();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sb::fuzz::Input in(data, size);
  uint8_t a = in.byte(), b = in.byte();
  std::string_view bytes = in.rest();
  size_t seen = 0;
  auto session = sb::net::TlsSession::server(server()->ctx(), &seen);
  if (!session) return 0;
  std::string plaintext, to_socket;
  size_t begin = 0;
  for (size_t cut : sb::fuzz::split_points(bytes.size(), a, b)) {
    std::string piece(bytes.substr(begin, cut - begin));
    begin = cut;
    auto st = session->on_ciphertext(piece.data(), piece.size(), plaintext, to_socket);
    if (st != sb::net::TlsSession::Status::ok) break;
    if (a & 0x40) session->write("x", 1, to_socket);
  }
  (void)session->server_name();
  (void)session->version();
  (void)session->alpn();
  (void)session->error_text();
  session->shutdown(to_socket);
  return 0;
}
