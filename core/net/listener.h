// A listening TCP socket on one loop. With `reuseport`, several workers bind the same address and
// the kernel spreads connections between them (SO_REUSEPORT).
#pragma once

#include <uv.h>

#include <string>

#include "net/uv_handle.h"

namespace sb::net {

struct ListenAddress {
  std::string host = "0.0.0.0";
  int port = 8000;
  bool ssl = false;  // parsed now, served by the TLS issue
  std::string to_string() const;
};

// Parses Kong's listen syntax for one entry: "HOST:PORT [flags...]", "[v6]:PORT", "PORT".
bool parse_listen_address(std::string_view text, ListenAddress& out, std::string& error);

class Listener {
 public:
  using AcceptFn = void (*)(void* ctx, uv_stream_t* server);

  Listener(uv_loop_t* loop, AcceptFn fn, void* ctx);
  // Returns 0 or a libuv error code.
  int listen(const ListenAddress& address, bool reuseport, int backlog = 16384);
  void close() { handle_.reset(); }
  int port() const { return port_; }

 private:
  static void on_connection(uv_stream_t* server, int status);
  uv_loop_t* loop_;
  UvHandle<uv_tcp_t> handle_;
  AcceptFn fn_;
  void* ctx_;
  int port_ = 0;
};

}  // namespace sb::net
