#include "proxy/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace sb::proxy {

std::string* AccessLogFile::Channel::line_buffer() {
  if (active_.size() >= kMaxBuffered) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  return &active_;
}

bool AccessLogFile::Channel::flush() {
  if (active_.empty()) return false;
  if (busy_.load(std::memory_order_acquire)) return true;  // the writer has the previous batch
  // Swapping keeps both buffers' capacity: no allocation once warm.
  writing_.swap(active_);
  active_.clear();
  busy_.store(true, std::memory_order_release);
  file_->wake();
  return false;
}

std::unique_ptr<AccessLogFile> AccessLogFile::open(const std::string& path, size_t channels,
                                                   std::string* error) {
  std::unique_ptr<AccessLogFile> f(new AccessLogFile());
  f->path_ = path;
  if (path == "/dev/stdout" || path == "/dev/stderr") {
    // dup(), not open(): under systemd stdout may be a socket, which open() cannot reopen.
    f->fd_ = ::fcntl(path == "/dev/stdout" ? STDOUT_FILENO : STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    f->stream_ = true;
  } else {
    f->fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  }
  if (f->fd_ < 0) {
    *error = fmt::format("could not open access log {}: {}", path, std::strerror(errno));
    return nullptr;
  }
  for (size_t i = 0; i < channels; ++i) {
    auto c = std::make_unique<Channel>();
    c->file_ = f.get();
    c->active_.reserve(kFlushBytes * 2);
    f->channels_.push_back(std::move(c));
  }
  f->thread_ = std::thread([p = f.get()] { p->run(); });
  return f;
}

AccessLogFile::~AccessLogFile() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  // The loggers have stopped: write what they left.
  for (auto& c : channels_) {
    if (c->busy_.load(std::memory_order_acquire)) write_out(*c, c->writing_);
    write_out(*c, c->active_);
  }
  if (fd_ >= 0) ::close(fd_);
}

void AccessLogFile::wake() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    work_ = true;
  }
  cv_.notify_one();
}

void AccessLogFile::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    cv_.wait(lock, [this] { return work_ || stop_; });
    if (stop_) return;
    work_ = false;
    lock.unlock();
    for (auto& c : channels_) {
      if (!c->busy_.load(std::memory_order_acquire)) continue;
      write_out(*c, c->writing_);
      c->writing_.clear();
      c->busy_.store(false, std::memory_order_release);
    }
    lock.lock();
  }
}

void AccessLogFile::write_out(Channel& c, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd_, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // Disk full or similar: the rest is lost; count its lines.
      c.dropped_.fetch_add(static_cast<uint64_t>(std::count(
                               data.begin() + static_cast<ptrdiff_t>(off), data.end(), '\n')),
                           std::memory_order_relaxed);
      return;
    }
    off += static_cast<size_t>(n);
  }
}

std::string AccessLogFile::reopen() {
  if (stream_) return {};
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return fmt::format("could not reopen {}: {}", path_, std::strerror(errno));
  // Same descriptor number, new file: a write in flight lands in one file or the other.
  ::dup2(fd, fd_);
  ::close(fd);
  return {};
}

uint64_t AccessLogFile::dropped() const {
  uint64_t n = 0;
  for (const auto& c : channels_) n += c->dropped();
  return n;
}

namespace {

// nginx's access-log escaping: '"', '\\' and bytes outside printable ASCII become \xHH. Clean
// runs are appended whole: this runs for every request.
void append_escaped(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789ABCDEF";
  size_t clean = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
      out.append(s.data() + clean, i - clean);
      const char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 0xf]};
      out.append(esc, 4);
      clean = i + 1;
    }
  }
  out.append(s.data() + clean, s.size() - clean);
}

void append_quoted_or_dash(std::string& out, std::string_view s) {
  out += '"';
  if (s.empty()) {
    out += '-';
  } else {
    append_escaped(out, s);
  }
  out += '"';
}

template <typename T>
void append_number(std::string& out, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

}  // namespace

void append_access_line(std::string& out, const AccessLogFields& f) {
  out.append(f.remote_addr);
  out.append(" - - [");
  out.append(f.time_local);
  out.append("] \"");
  if (f.method.empty()) {
    out += '-';
  } else {
    append_escaped(out, f.method);
    out += ' ';
    append_escaped(out, f.target);
    out.append(" HTTP/");
    append_number(out, f.http_major);
    out += '.';
    append_number(out, f.http_minor);
  }
  out.append("\" ");
  append_number(out, f.status);
  out += ' ';
  append_number(out, f.body_bytes_sent);
  out += ' ';
  append_quoted_or_dash(out, f.referer);
  out += ' ';
  append_quoted_or_dash(out, f.user_agent);
  out.append(" kong_request_id: \"");
  out.append(f.request_id);
  out.append("\" kong_latency: ");
  append_number(out, f.kong_latency);
  out.append(" upstream_latency: ");
  if (f.upstream_latency < 0) {
    out += '-';
  } else {
    append_number(out, f.upstream_latency);
  }
  out.append(" request_latency: ");
  append_number(out, f.request_latency);
  out += '\n';
}

}  // namespace sb::proxy
