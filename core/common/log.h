// A minimal leveled error log (Kong's levels) on stderr or a file. Thread-safe: one write() per
// line. Lines are rare (no per-request logging at the default level), so they are written
// synchronously, as nginx does.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace sb::log {

enum class Level { debug, info, notice, warn, error, crit };

void set_level(Level level);
bool enabled(Level level);
void write(Level level, std::string_view message);
bool parse_level(std::string_view text, Level& out);
// Sends the log to `path` ("/dev/stderr" and "/dev/stdout" mean those streams; a file is opened
// for appending). Returns "" or an error text.
std::string open(const std::string& path);
// Re-opens the file in place (logrotate, SIGUSR1); a stream target is left alone.
std::string reopen();

template <typename... Args>
void at(Level level, fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(level)) write(level, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... a) {
  at(Level::info, f, std::forward<Args>(a)...);
}
template <typename... Args>
void notice(fmt::format_string<Args...> f, Args&&... a) {
  at(Level::notice, f, std::forward<Args>(a)...);
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... a) {
  at(Level::warn, f, std::forward<Args>(a)...);
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... a) {
  at(Level::error, f, std::forward<Args>(a)...);
}

}  // namespace sb::log
