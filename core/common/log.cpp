#include "common/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>

namespace sb::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::notice)};
// The descriptor lines go to. A file keeps its descriptor number for the process's life:
// reopen() dup2()s a fresh file over it, so a concurrent write() never sees a closed fd.
std::atomic<int> g_fd{STDERR_FILENO};
std::mutex g_open_mutex;
std::string g_path;  // empty while the target is a stream
constexpr std::string_view kNames[] = {"debug", "info", "notice", "warn", "error", "crit"};

int open_append(const std::string& path, std::string* error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) *error = "could not open " + path + ": " + std::strerror(errno);
  return fd;
}
}  // namespace

void set_level(Level level) { g_level.store(static_cast<int>(level)); }
bool enabled(Level level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

bool parse_level(std::string_view text, Level& out) {
  for (size_t i = 0; i < std::size(kNames); ++i) {
    if (text == kNames[i]) {
      out = static_cast<Level>(i);
      return true;
    }
  }
  if (text == "alert" || text == "emerg") {
    out = Level::crit;
    return true;
  }
  return false;
}

std::string open(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_open_mutex);
  if (path == "/dev/stderr" || path == "/dev/stdout") {
    g_fd.store(path == "/dev/stderr" ? STDERR_FILENO : STDOUT_FILENO);
    g_path.clear();
    return {};
  }
  std::string error;
  int fd = open_append(path, &error);
  if (fd < 0) return error;
  int old = g_fd.load();
  if (!g_path.empty() && old > STDERR_FILENO) {
    ::dup2(fd, old);  // keep the number already in use
    ::close(fd);
  } else {
    g_fd.store(fd);
  }
  g_path = path;
  return {};
}

std::string reopen() {
  std::lock_guard<std::mutex> lock(g_open_mutex);
  if (g_path.empty()) return {};
  std::string error;
  int fd = open_append(g_path, &error);
  if (fd < 0) return error;
  ::dup2(fd, g_fd.load());
  ::close(fd);
  return {};
}

void write(Level level, std::string_view message) {
  std::time_t now = std::time(nullptr);
  struct tm tm;
  localtime_r(&now, &tm);
  char stamp[32];
  size_t n = std::strftime(stamp, sizeof(stamp), "%Y/%m/%d %H:%M:%S", &tm);
  std::string line = fmt::format("{} [{}] {}: {}\n", std::string_view(stamp, n),
                                 kNames[static_cast<int>(level)], getpid(), message);
  ssize_t rc = ::write(g_fd.load(std::memory_order_relaxed), line.data(), line.size());
  (void)rc;
}

}  // namespace sb::log
