#include "net/listener.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <charconv>

#include "common/log.h"

namespace sb::net {

std::string ListenAddress::to_string() const {
  bool v6 = host.find(':') != std::string::npos;
  return fmt::format("{}{}{}:{}{}", v6 ? "[" : "", host, v6 ? "]" : "", port, ssl ? " ssl" : "");
}

bool parse_listen_address(std::string_view text, ListenAddress& out, std::string& error) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  std::string_view addr = text.substr(0, text.find(' '));
  std::string_view flags = addr.size() < text.size() ? text.substr(addr.size()) : "";
  out = ListenAddress{};
  std::string_view port_text;
  if (!addr.empty() && addr.front() == '[') {
    auto close = addr.find(']');
    if (close == std::string_view::npos || close + 1 >= addr.size() || addr[close + 1] != ':') {
      error = fmt::format("invalid listen address '{}'", text);
      return false;
    }
    out.host = std::string(addr.substr(1, close - 1));
    port_text = addr.substr(close + 2);
  } else if (auto colon = addr.rfind(':'); colon != std::string_view::npos) {
    out.host = std::string(addr.substr(0, colon));
    port_text = addr.substr(colon + 1);
  } else {
    port_text = addr;
  }
  int port = -1;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || p != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    error = fmt::format("invalid port in listen address '{}'", text);
    return false;
  }
  out.port = port;
  while (!flags.empty()) {
    while (!flags.empty() && flags.front() == ' ') flags.remove_prefix(1);
    std::string_view flag = flags.substr(0, flags.find(' '));
    flags.remove_prefix(flag.size());
    if (flag == "ssl") out.ssl = true;
    // Other Kong flags (http2, reuseport, backlog=N, deferred, bind, proxy_protocol) are
    // accepted; workers always use reuseport.
  }
  return true;
}

Listener::Listener(uv_loop_t* loop, AcceptFn fn, void* ctx) : loop_(loop), fn_(fn), ctx_(ctx) {}

Listener::~Listener() { close(); }

void Listener::close() {
  if (poll_) uv_poll_stop(poll_.get());
  poll_.reset();
  resume_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

int Listener::listen(const ListenAddress& address, bool reuseport, int backlog) {
  struct sockaddr_storage storage {};
  int rc;
  if (address.host.find(':') != std::string::npos) {
    rc = uv_ip6_addr(address.host.c_str(), address.port, reinterpret_cast<sockaddr_in6*>(&storage));
  } else {
    std::string host = address.host == "localhost" ? "127.0.0.1" : address.host;
    rc = uv_ip4_addr(host.c_str(), address.port, reinterpret_cast<sockaddr_in*>(&storage));
  }
  if (rc != 0) return rc;
  int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return uv_translate_sys_error(errno);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuseport) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  socklen_t len = storage.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&storage), len) != 0 || ::listen(fd, backlog) != 0) {
    int err = errno;
    ::close(fd);
    return uv_translate_sys_error(err);
  }
  struct sockaddr_storage bound {};
  socklen_t blen = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  fd_ = fd;
  poll_ = make_uv_handle<uv_poll_t>();
  if ((rc = uv_poll_init_socket(loop_, poll_.get(), fd_)) != 0) {
    // Never initialised: free it without uv_close().
    std::default_delete<uv_poll_t>()(poll_.release());
    close();
    return rc;
  }
  poll_->data = this;
  resume_ = make_uv_handle<uv_timer_t>();
  uv_timer_init(loop_, resume_.get());
  resume_->data = this;
  return uv_poll_start(poll_.get(), UV_READABLE, &Listener::on_readable);
}

void Listener::on_readable(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<Listener*>(handle->data);
  if (self == nullptr) return;
  if (status < 0) {
    self->pause(-status);
    return;
  }
  self->accept_pending();
}

void Listener::accept_pending() {
  // At most a batch per wake-up, so one busy listener does not starve the loop.
  for (int i = 0; i < 256 && fd_ >= 0 && !paused_; ++i) {
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      fn_(ctx_, fd);  // the callee owns fd now
      continue;
    }
    switch (errno) {
      case EAGAIN:
#if EAGAIN != EWOULDBLOCK
      case EWOULDBLOCK:
#endif
        return;
      case EINTR:
      case ECONNABORTED:
      case EPROTO:
      case EPERM:  // a firewall refused it
        continue;
      default:
        // EMFILE, ENFILE, ENOBUFS, ENOMEM (and anything unexpected): retrying at once would
        // spin, so stop watching the socket for a moment.
        pause(errno);
        return;
    }
  }
}

void Listener::pause(int error) {
  if (!poll_ || paused_) return;
  paused_ = true;
  uv_poll_stop(poll_.get());
  uv_timer_start(resume_.get(), &Listener::on_resume, kPauseMs, 0);
  ++pauses_;
  // Logged once, then at most every 10 s while it lasts (nginx logs every failed accept()).
  uint64_t now = uv_now(loop_);
  if (pauses_ == 1 || now - last_log_ms_ >= 10000) {
    sb::log::warn("accept() failed on port {}: {}; accepting again in {} ms ({} pause(s) so far)",
                  port_, uv_strerror(uv_translate_sys_error(error)), kPauseMs, pauses_);
    last_log_ms_ = now;
  }
}

void Listener::on_resume(uv_timer_t* timer) {
  auto* self = static_cast<Listener*>(timer->data);
  if (self == nullptr || !self->poll_) return;
  self->paused_ = false;
  uv_poll_start(self->poll_.get(), UV_READABLE, &Listener::on_readable);
}

}  // namespace sb::net
