// A listening TCP socket on one loop. With `reuseport`, several workers bind the same address and
// the kernel spreads connections between them (SO_REUSEPORT).
#pragma once

#include <uv.h>

#include <cstdint>
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

// Accepts with its own loop over accept4() rather than uv_listen(): when the process runs out
// of file descriptors, libuv's accept path drops connections (its "EMFILE trick" with one
// reserve descriptor per loop) and, once another thread takes that reserve, retries accept()
// in a tight loop inside one callback, freezing the worker. Here, as in nginx, accepting
// pauses for a moment instead and the connections wait in the kernel's backlog.
class Listener {
 public:
  // Called with each accepted connection (non-blocking, close-on-exec); the callee owns `fd`.
  using AcceptFn = void (*)(void* ctx, int fd);
  // How long accepting pauses after EMFILE, ENFILE, ENOBUFS or ENOMEM.
  static constexpr uint64_t kPauseMs = 100;

  Listener(uv_loop_t* loop, AcceptFn fn, void* ctx);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  // Returns 0 or a libuv error code.
  int listen(const ListenAddress& address, bool reuseport, int backlog = 16384);
  void close();
  int port() const { return port_; }

 private:
  static void on_readable(uv_poll_t* handle, int status, int events);
  static void on_resume(uv_timer_t* timer);
  void accept_pending();
  void pause(int error);

  uv_loop_t* loop_;
  UvHandle<uv_poll_t> poll_;
  UvHandle<uv_timer_t> resume_;
  int fd_ = -1;
  AcceptFn fn_;
  void* ctx_;
  int port_ = 0;
  bool paused_ = false;
  uint64_t pauses_ = 0;  // accept pauses so far
  uint64_t last_log_ms_ = 0;
};

}  // namespace sb::net
