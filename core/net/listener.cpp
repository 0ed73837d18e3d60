#include "net/listener.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <charconv>

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
  // libuv 1.44 has no UV_TCP_REUSEPORT: create the socket ourselves to set SO_REUSEPORT first.
  int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return uv_translate_sys_error(errno);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuseport) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  socklen_t len = storage.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&storage), len) != 0) {
    int err = errno;
    ::close(fd);
    return uv_translate_sys_error(err);
  }
  handle_ = make_uv_handle<uv_tcp_t>();
  uv_tcp_init(loop_, handle_.get());
  handle_->data = this;
  if ((rc = uv_tcp_open(handle_.get(), fd)) != 0) {
    ::close(fd);
    return rc;
  }
  if ((rc = uv_listen(reinterpret_cast<uv_stream_t*>(handle_.get()), backlog,
                      &Listener::on_connection)) != 0) {
    return rc;
  }
  struct sockaddr_storage bound {};
  int blen = sizeof(bound);
  uv_tcp_getsockname(handle_.get(), reinterpret_cast<sockaddr*>(&bound), &blen);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return 0;
}

void Listener::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<Listener*>(server->data);
  if (self == nullptr || status < 0) return;
  self->fn_(self->ctx_, server);
}

}  // namespace sb::net
