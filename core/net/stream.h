// A byte stream over a TCP socket: the only place that touches sockets.
//
// HTTP code (downstream sessions, upstream connections) reads and writes plaintext through a
// Stream and never sees the socket; TLS (a later issue) slots in here as a filter between the
// socket and the handler. Every Stream also carries the one timer its owner needs, so a
// connection costs two embedded libuv handles and no extra allocations while idle.
//
// Lifetime: the owner embeds the Stream and must stay alive until on_stream_closed(); only then
// may it be freed (libuv still references the handle until its close callback ran).
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "net/deadlines.h"

namespace sb::net {

class TlsSession;

class StreamHandler {
 public:
  // Bytes read (plaintext on a TLS stream). `data` is valid only during the call (it points into a
  // per-loop buffer).
  virtual void on_stream_read(const char* data, size_t len) = 0;
  virtual void on_stream_eof() = 0;
  // A read, write or connect error (libuv error code); the owner normally closes the stream.
  virtual void on_stream_error(int error) = 0;
  // The write queue fell below the low watermark after having been above the high one.
  virtual void on_stream_drain() {}
  // Connected (on a TLS stream: the handshake is done too). A failed TLS handshake reports
  // UV_EPROTO (details in stream.tls()->error_text()).
  virtual void on_stream_connected(int /*status*/) {}
  virtual void on_stream_timeout() {}
  // The socket is closed: the owner may free itself now.
  virtual void on_stream_closed() = 0;

 protected:
  ~StreamHandler() = default;
};

class Stream : private Deadline {
 public:
  // Backpressure thresholds on bytes queued for writing (not yet accepted by the kernel).
  static constexpr size_t kHighWatermark = 256 * 1024;
  static constexpr size_t kLowWatermark = 64 * 1024;

  Stream(uv_loop_t* loop, StreamHandler* handler);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  int accept(uv_stream_t* server);
  // Takes over an accepted socket; returns 0 or a libuv error (the caller then closes `fd`).
  int open(int fd);
  int connect(const struct sockaddr* address);
  // Speaks TLS from now on: call right after accept() (server session) or connect() (client
  // session; on_stream_connected then waits for the handshake). Reads hand the handler
  // plaintext, writes are encrypted, shutdown_write()/close_after_flush() send close_notify.
  // A failed server handshake reports on_stream_error(UV_EPROTO). A null session is ignored.
  void use_tls(std::unique_ptr<TlsSession> tls);
  const TlsSession* tls() const { return tls_.get(); }
  void read_start();
  void read_stop();
  bool reading() const { return reading_; }

  // Writes now what the kernel takes, copies the rest into the queue. Errors surface
  // asynchronously through on_stream_error, never re-entrantly.
  void write(const uv_buf_t* bufs, unsigned count);
  void write(std::string_view data) {
    uv_buf_t b = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
    write(&b, 1);
  }
  size_t queued() const { return queued_; }

  // Batches small writes until uncork() (one syscall for a response head and a small body).
  // Only one stream per thread is corked at a time; corking another flushes the first.
  void cork();
  void uncork();
  bool congested() const { return queued_ >= kHighWatermark; }

  // The owner's one deadline, for whichever timeout it is waiting on.
  void timer_start(uint64_t timeout_ms);
  void timer_stop();

  // Closes once everything queued has been written. With `linger`, the write side is shut down
  // first and input is drained (discarded) for a short while, so the peer reads our last bytes
  // instead of a reset caused by its unread input.
  void close_after_flush(bool linger = false);
  // Half-close: sends FIN once everything queued is written; reading goes on (tunnels).
  void shutdown_write();
  // Closes now (queued bytes are dropped). `reset` sends RST instead of FIN.
  void close(bool reset = false);
  bool closing() const { return closing_; }

  int peer_address(struct sockaddr_storage* out) const;
  int local_address(struct sockaddr_storage* out) const;
  void set_nodelay();

 private:
  static void on_alloc(uv_handle_t*, size_t, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_connect(uv_connect_t* req, int status);
  static void on_deadline(Deadline* d);
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_close(uv_handle_t* h);
  void start_close(bool reset);
  void write_now(const uv_buf_t* bufs, unsigned count);
  void write_raw(const uv_buf_t* bufs, unsigned count);
  void write_raw(const std::string& bytes);
  void write_tls(const uv_buf_t* bufs, unsigned count);
  void read_tls(const char* data, size_t len);
  void tls_failed();
  void send_close_notify();
  void do_shutdown();

  DeadlineQueue* deadlines() const { return DeadlineQueue::of(tcp_.loop); }

  uv_tcp_t tcp_;
  StreamHandler* handler_;
  std::unique_ptr<TlsSession> tls_;  // null on plaintext streams
  uint32_t queued_ = 0;              // bytes waiting in libuv's write queue
  // Flags as bits: a Stream is embedded in every connection, so its size is idle memory.
  bool reading_ : 1 = false;
  bool closing_ : 1 = false;
  bool close_when_flushed_ : 1 = false;
  bool shutdown_when_flushed_ : 1 = false;
  bool write_shut_ : 1 = false;
  bool linger_ : 1 = false;
  bool lingering_ : 1 = false;
  bool was_congested_ : 1 = false;
  bool tls_connecting_ : 1 = false;  // client TLS: connected, handshake under way
};

}  // namespace sb::net
