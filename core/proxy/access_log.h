// Access logs that never block an event loop. Each worker appends whole lines to its own buffer
// (a Channel); a writer thread per file writes the buffers out. Memory is bounded: a channel
// holds at most kMaxBuffered bytes waiting plus the buffer being written; past that (a stalled
// disk) lines are dropped and counted.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sb::proxy {

class AccessLogFile {
 public:
  static constexpr size_t kFlushBytes = 32 * 1024;     // hand a buffer over at this size
  static constexpr size_t kMaxBuffered = 1024 * 1024;  // per channel, waiting to be written

  class Channel {
   public:
    // Where to append one whole line (ending in '\n'), or null when the buffer is full: the
    // line is then dropped and counted.
    std::string* line_buffer();
    // Hands the buffered lines to the writer unless it is still writing this channel's previous
    // batch. Returns true when lines remain buffered (call again later).
    bool flush();
    size_t buffered() const { return active_.size(); }
    uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

   private:
    friend class AccessLogFile;
    AccessLogFile* file_ = nullptr;
    std::string active_;                // the worker's side
    std::string writing_;               // the writer's side while busy_
    std::atomic<bool> busy_{false};     // writing_ belongs to the writer thread
    std::atomic<uint64_t> dropped_{0};  // lines
  };

  // `path`: a file (created, appended to), "/dev/stdout" or "/dev/stderr". One channel per
  // thread that logs. Null with `error` set when the file cannot be opened.
  static std::unique_ptr<AccessLogFile> open(const std::string& path, size_t channels,
                                             std::string* error);
  // Writes everything still buffered (every logging thread must have stopped), ends the thread.
  ~AccessLogFile();
  AccessLogFile(const AccessLogFile&) = delete;
  AccessLogFile& operator=(const AccessLogFile&) = delete;

  Channel& channel(size_t i) { return *channels_[i]; }
  // Re-opens the file under the same descriptor (logrotate, SIGUSR1). Returns "" or an error.
  std::string reopen();
  uint64_t dropped() const;
  const std::string& path() const { return path_; }

 private:
  AccessLogFile() = default;
  void wake();
  void run();
  void write_out(Channel& c, const std::string& data);

  std::string path_;
  int fd_ = -1;
  bool stream_ = false;  // stdout/stderr: nothing to reopen
  std::vector<std::unique_ptr<Channel>> channels_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool work_ = false;
  bool stop_ = false;
  std::thread thread_;
};

// One access-log line in Kong's kong_log_format (nginx "combined" plus the request id), followed
// by the latencies Kong logs (ms; upstream is "-" when no upstream answered):
//   IP - - [10/Oct/2026:13:55:36 +0000] "GET /x HTTP/1.1" 200 612 "referer" "agent"
//   kong_request_id: "<id>" kong_latency: 1 upstream_latency: 3 request_latency: 4
struct AccessLogFields {
  std::string_view remote_addr;
  std::string_view time_local;  // "10/Oct/2026:13:55:36 +0000"
  std::string_view method;      // empty: no request line (rejected mid-head), logged as "-"
  std::string_view target;
  int http_major = 1, http_minor = 1;
  int status = 0;
  uint64_t body_bytes_sent = 0;
  std::string_view referer;     // empty: "-"
  std::string_view user_agent;  // empty: "-"
  std::string_view request_id;
  int64_t kong_latency = 0;
  int64_t upstream_latency = -1;  // -1: "-"
  int64_t request_latency = 0;
};
void append_access_line(std::string& out, const AccessLogFields& f);

}  // namespace sb::proxy
