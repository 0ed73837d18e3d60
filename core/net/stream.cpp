#include "net/stream.h"

#include <cstring>
#include <memory>
#include <string>

#include "net/tls.h"

namespace sb::net {
namespace {

// One read buffer per loop thread: a read is consumed synchronously by the handler, so idle
// connections hold no buffer at all.
constexpr size_t kReadBufferSize = 64 * 1024;
thread_local char t_read_buffer[kReadBufferSize];

// A queued write owns a copy of the bytes the kernel did not take at once.
struct WriteRequest {
  uv_write_t req;
  Stream* stream;
  size_t size;
  std::unique_ptr<char[]> data;
};

// Corked bytes of the one corked stream on this thread.
constexpr size_t kCorkLimit = 16 * 1024;
thread_local std::string t_cork_buffer;
thread_local Stream* t_corked = nullptr;

// TLS scratch: ciphertext on its way to the socket and plaintext on its way to the handler.
// Both are emptied before anything that could re-enter (the handler) runs.
thread_local std::string t_tls_out;
thread_local std::string t_tls_plain;

// How long a lingering close keeps draining the peer's input.
constexpr uint64_t kLingerMs = 2000;

}  // namespace

Stream::Stream(uv_loop_t* loop, StreamHandler* handler) : handler_(handler) {
  uv_tcp_init(loop, &tcp_);
  tcp_.data = this;
  fire = &Stream::on_deadline;
}

Stream::~Stream() = default;

void Stream::use_tls(std::unique_ptr<TlsSession> tls) { tls_ = std::move(tls); }

int Stream::accept(uv_stream_t* server) {
  return uv_accept(server, reinterpret_cast<uv_stream_t*>(&tcp_));
}

int Stream::open(int fd) { return uv_tcp_open(&tcp_, fd); }

int Stream::connect(const struct sockaddr* address) {
  auto req = std::make_unique<uv_connect_t>();
  req->data = this;
  int rc = uv_tcp_connect(req.get(), &tcp_, address, &Stream::on_connect);
  if (rc == 0) req.release();  // reclaimed in on_connect
  return rc;
}

void Stream::set_nodelay() { uv_tcp_nodelay(&tcp_, 1); }

void Stream::read_start() {
  if (reading_ || closing_) return;
  reading_ = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), &Stream::on_alloc, &Stream::on_read);
}

void Stream::read_stop() {
  if (!reading_) return;
  reading_ = false;
  if (tls_connecting_) return;  // the handshake still needs the peer's bytes
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
}

void Stream::cork() {
  if (t_corked == this) return;
  if (t_corked != nullptr) t_corked->uncork();
  t_corked = this;
  t_cork_buffer.clear();
}

void Stream::uncork() {
  if (t_corked != this) return;
  t_corked = nullptr;
  if (t_cork_buffer.empty()) return;
  uv_buf_t b = uv_buf_init(t_cork_buffer.data(), static_cast<unsigned>(t_cork_buffer.size()));
  write_now(&b, 1);
  t_cork_buffer.clear();
}

void Stream::write(const uv_buf_t* bufs, unsigned count) {
  if (t_corked != this) {
    write_now(bufs, count);
    return;
  }
  size_t total = 0;
  for (unsigned i = 0; i < count; ++i) total += bufs[i].len;
  if (t_cork_buffer.size() + total <= kCorkLimit) {
    for (unsigned i = 0; i < count; ++i) t_cork_buffer.append(bufs[i].base, bufs[i].len);
    return;
  }
  // Too big to batch: send what is corked together with these bytes in one writev.
  if (count > 7) {
    uncork();
    t_corked = this;
    write_now(bufs, count);
    return;
  }
  uv_buf_t all[8];
  unsigned n = 0;
  if (!t_cork_buffer.empty()) {
    all[n++] = uv_buf_init(t_cork_buffer.data(), static_cast<unsigned>(t_cork_buffer.size()));
  }
  for (unsigned i = 0; i < count; ++i) all[n++] = bufs[i];
  write_now(all, n);
  t_cork_buffer.clear();
}

void Stream::write_now(const uv_buf_t* bufs, unsigned count) {
  if (tls_ != nullptr) {
    write_tls(bufs, count);
    return;
  }
  write_raw(bufs, count);
}

void Stream::write_tls(const uv_buf_t* bufs, unsigned count) {
  if (closing_) return;
  size_t total = 0;
  for (unsigned i = 0; i < count; ++i) total += bufs[i].len;
  if (count > 1 && total <= 16 * 1024) {
    // Small pieces (a chunk-size line, data, CRLF) become one TLS record, not one each.
    thread_local std::string joined;
    joined.clear();
    for (unsigned i = 0; i < count; ++i) joined.append(bufs[i].base, bufs[i].len);
    if (tls_->write(joined.data(), joined.size(), t_tls_out) != TlsSession::Status::error) {
      write_raw(t_tls_out);
    }
    t_tls_out.clear();
    return;
  }
  for (unsigned i = 0; i < count; ++i) {
    if (bufs[i].len == 0) continue;
    // A failure here is sticky in the session and surfaces on the next read.
    if (tls_->write(bufs[i].base, bufs[i].len, t_tls_out) == TlsSession::Status::error) break;
  }
  write_raw(t_tls_out);
  t_tls_out.clear();
}

void Stream::write_raw(const std::string& bytes) {
  if (bytes.empty()) return;
  uv_buf_t b = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
  write_raw(&b, 1);
}

void Stream::send_close_notify() {
  tls_->shutdown(t_tls_out);
  write_raw(t_tls_out);
  t_tls_out.clear();
}

void Stream::write_raw(const uv_buf_t* bufs, unsigned count) {
  if (closing_) return;
  auto* s = reinterpret_cast<uv_stream_t*>(&tcp_);
  size_t total = 0;
  for (unsigned i = 0; i < count; ++i) total += bufs[i].len;
  if (total == 0) return;
  size_t written = 0;
  if (queued_ == 0) {
    int rc = uv_try_write(s, bufs, count);
    if (rc > 0) written = static_cast<size_t>(rc);
    // Errors other than EAGAIN fall through to uv_write, which reports them asynchronously.
  }
  if (written == total) return;

  auto req = std::make_unique<WriteRequest>();
  req->stream = this;
  req->size = total - written;
  req->data = std::make_unique<char[]>(req->size);
  size_t skip = written;
  size_t at = 0;
  for (unsigned i = 0; i < count; ++i) {
    size_t len = bufs[i].len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    std::memcpy(req->data.get() + at, bufs[i].base + skip, len - skip);
    at += len - skip;
    skip = 0;
  }
  uv_buf_t buf = uv_buf_init(req->data.get(), static_cast<unsigned>(req->size));
  req->req.data = req.get();
  if (uv_write(&req->req, s, &buf, 1, &Stream::on_write) == 0) {
    queued_ += static_cast<uint32_t>(req->size);
    if (queued_ >= kHighWatermark) was_congested_ = true;
    req.release();  // reclaimed in on_write
  }
}

void Stream::timer_start(uint64_t timeout_ms) {
  if (closing_) return;
  deadlines()->start(this, timeout_ms);
}

void Stream::timer_stop() { deadlines()->stop(this); }

void Stream::close_after_flush(bool linger) {
  if (closing_) return;
  uncork();
  if (tls_ != nullptr) send_close_notify();  // once: the session remembers
  linger_ = linger;
  if (queued_ == 0) {
    if (linger_) {
      auto req = std::make_unique<uv_shutdown_t>();
      req->data = this;
      if (uv_shutdown(req.get(), reinterpret_cast<uv_stream_t*>(&tcp_), &Stream::on_shutdown) ==
          0) {
        req.release();
        lingering_ = true;
        read_start();
        deadlines()->start(this, kLingerMs);
        return;
      }
    }
    close();
    return;
  }
  close_when_flushed_ = true;
  read_stop();
}

void Stream::shutdown_write() {
  if (closing_ || write_shut_) return;
  uncork();
  if (tls_ != nullptr) send_close_notify();
  if (queued_ == 0) {
    do_shutdown();
  } else {
    shutdown_when_flushed_ = true;
  }
}

void Stream::do_shutdown() {
  write_shut_ = true;
  auto req = std::make_unique<uv_shutdown_t>();
  req->data = this;
  if (uv_shutdown(req.get(), reinterpret_cast<uv_stream_t*>(&tcp_), &Stream::on_shutdown) == 0) {
    req.release();
  }
}

void Stream::close(bool reset) {
  if (closing_) return;
  start_close(reset);
}

void Stream::start_close(bool reset) {
  if (t_corked == this) {
    t_corked = nullptr;
    t_cork_buffer.clear();
  }
  closing_ = true;
  reading_ = false;
  deadlines()->stop(this);
  if (reset && uv_tcp_close_reset(&tcp_, &Stream::on_close) == 0) return;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Stream::on_close);
}

int Stream::peer_address(struct sockaddr_storage* out) const {
  int len = sizeof(*out);
  return uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(out), &len);
}

int Stream::local_address(struct sockaddr_storage* out) const {
  int len = sizeof(*out);
  return uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(out), &len);
}

void Stream::on_alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  *buf = uv_buf_init(t_read_buffer, kReadBufferSize);
}

void Stream::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Stream*>(s->data);
  if (self->closing_) return;
  if (self->lingering_) {
    if (nread < 0) self->close();
    return;  // discard input while lingering
  }
  if (nread > 0) {
    if (self->tls_ != nullptr) {
      self->read_tls(buf->base, static_cast<size_t>(nread));
      return;
    }
    self->handler_->on_stream_read(buf->base, static_cast<size_t>(nread));
  } else if (nread < 0 && self->tls_connecting_) {
    // The peer went away (or the read failed) in the middle of the TLS handshake.
    self->tls_connecting_ = false;
    self->read_stop();
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&self->tcp_));
    self->handler_->on_stream_connected(nread == UV_EOF ? UV_ECONNRESET : static_cast<int>(nread));
  } else if (nread == UV_EOF) {
    self->read_stop();
    self->handler_->on_stream_eof();
  } else if (nread < 0) {
    self->read_stop();
    self->handler_->on_stream_error(static_cast<int>(nread));
  }
}

void Stream::read_tls(const char* data, size_t len) {
  // Swapped out so that a handler reading another TLS stream cannot clobber these bytes.
  std::string plain;
  plain.swap(t_tls_plain);
  plain.clear();
  TlsSession::Status st = tls_->on_ciphertext(data, len, plain, t_tls_out);
  write_raw(t_tls_out);  // handshake messages, alerts, tickets
  t_tls_out.clear();
  if (st == TlsSession::Status::error) {
    t_tls_plain.swap(plain);
    tls_failed();
    return;
  }
  if (tls_connecting_ && tls_->handshake_done()) {
    tls_connecting_ = false;
    if (!reading_) uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    handler_->on_stream_connected(0);
  }
  if (!plain.empty() && !closing_) handler_->on_stream_read(plain.data(), plain.size());
  if (st == TlsSession::Status::closed && !closing_) {
    read_stop();
    handler_->on_stream_eof();
  }
  if (t_tls_plain.capacity() < plain.capacity()) t_tls_plain.swap(plain);
}

void Stream::tls_failed() {
  read_stop();
  if (tls_connecting_) {
    tls_connecting_ = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    handler_->on_stream_connected(UV_EPROTO);
    return;
  }
  if (!closing_) handler_->on_stream_error(UV_EPROTO);
}

void Stream::on_write(uv_write_t* req, int status) {
  std::unique_ptr<WriteRequest> w(static_cast<WriteRequest*>(req->data));
  Stream* self = w->stream;
  self->queued_ -= static_cast<uint32_t>(w->size);
  if (self->closing_) return;
  if (status < 0) {
    self->handler_->on_stream_error(status);
    return;
  }
  if (self->queued_ == 0 && self->shutdown_when_flushed_) {
    self->shutdown_when_flushed_ = false;
    self->do_shutdown();
  }
  if (self->queued_ == 0 && self->close_when_flushed_) {
    self->close_when_flushed_ = false;
    self->close_after_flush(self->linger_);
    return;
  }
  if (self->was_congested_ && self->queued_ <= kLowWatermark) {
    self->was_congested_ = false;
    self->handler_->on_stream_drain();
  }
}

void Stream::on_connect(uv_connect_t* req, int status) {
  std::unique_ptr<uv_connect_t> owned(req);
  auto* self = static_cast<Stream*>(req->data);
  if (self->closing_) return;
  if (status == 0 && self->tls_ != nullptr) {
    // Connected: on_stream_connected waits for the handshake, which needs reading.
    if (self->tls_->start(t_tls_out) == TlsSession::Status::error) {
      t_tls_out.clear();
      self->handler_->on_stream_connected(UV_EPROTO);
      return;
    }
    self->tls_connecting_ = true;
    self->write_raw(t_tls_out);
    t_tls_out.clear();
    if (!self->reading_) {
      uv_read_start(reinterpret_cast<uv_stream_t*>(&self->tcp_), &Stream::on_alloc,
                    &Stream::on_read);
    }
    return;
  }
  self->handler_->on_stream_connected(status);
}

void Stream::on_shutdown(uv_shutdown_t* req, int) { std::unique_ptr<uv_shutdown_t> owned(req); }

void Stream::on_deadline(Deadline* d) {
  auto* self = static_cast<Stream*>(d);
  if (self->closing_) return;
  if (self->lingering_) {
    self->close();
    return;
  }
  self->handler_->on_stream_timeout();
}

void Stream::on_close(uv_handle_t* h) {
  auto* self = static_cast<Stream*>(h->data);
  self->handler_->on_stream_closed();
}

}  // namespace sb::net
