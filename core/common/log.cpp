#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <ctime>

namespace sb::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::notice)};
constexpr std::string_view kNames[] = {"debug", "info", "notice", "warn", "error", "crit"};
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

void write(Level level, std::string_view message) {
  std::time_t now = std::time(nullptr);
  struct tm tm;
  localtime_r(&now, &tm);
  char stamp[32];
  size_t n = std::strftime(stamp, sizeof(stamp), "%Y/%m/%d %H:%M:%S", &tm);
  std::string line = fmt::format("{} [{}] {}: {}\n", std::string_view(stamp, n),
                                 kNames[static_cast<int>(level)], getpid(), message);
  ssize_t rc = ::write(STDERR_FILENO, line.data(), line.size());
  (void)rc;
}

}  // namespace sb::log
