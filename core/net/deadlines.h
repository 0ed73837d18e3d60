// Per-loop deadlines for many connections with one libuv timer.
//
// A uv_timer_t per connection costs 152 bytes and a heap operation per restart. Connections
// here restart their deadline on every request with one of a handful of durations (keep-alive,
// header, body, a service's timeouts), so deadlines of equal duration are kept in one FIFO list
// whose order is also deadline order: start/stop are O(1) unlinks and appends, and the single
// timer only ever looks at the list heads. A Deadline is 40 bytes embedded in its owner.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "net/uv_handle.h"

namespace sb::net {

struct DeadlineBucket;

struct Deadline {
  using Fire = void (*)(Deadline*);
  Deadline* prev = nullptr;
  Deadline* next = nullptr;
  DeadlineBucket* bucket = nullptr;  // null when not armed
  uint64_t due_ms = 0;
  Fire fire = nullptr;
  bool armed() const { return bucket != nullptr; }
};

struct DeadlineBucket {
  uint64_t timeout_ms = 0;
  Deadline* head = nullptr;
  Deadline* tail = nullptr;
};

class DeadlineQueue {
 public:
  explicit DeadlineQueue(uv_loop_t* loop);
  ~DeadlineQueue();
  DeadlineQueue(const DeadlineQueue&) = delete;
  DeadlineQueue& operator=(const DeadlineQueue&) = delete;

  // The queue of a loop (set with attach()).
  static DeadlineQueue* of(uv_loop_t* loop) { return static_cast<DeadlineQueue*>(loop->data); }
  void attach() { loop_->data = this; }

  void start(Deadline* d, uint64_t timeout_ms);
  void stop(Deadline* d);
  // Releases the timer handle so the loop can end (call when the loop is shutting down and
  // nothing will be armed again).
  void close();

 private:
  static void on_timer(uv_timer_t* t);
  DeadlineBucket* bucket_for(uint64_t timeout_ms);
  void arm(uint64_t due_ms);
  void rearm();

  uv_loop_t* loop_;
  UvHandle<uv_timer_t> timer_;
  std::vector<std::unique_ptr<DeadlineBucket>> buckets_;
  uint64_t armed_due_ = UINT64_MAX;
};

}  // namespace sb::net
