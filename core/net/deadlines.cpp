#include "net/deadlines.h"

namespace sb::net {

DeadlineQueue::DeadlineQueue(uv_loop_t* loop) : loop_(loop), timer_(make_uv_handle<uv_timer_t>()) {
  uv_timer_init(loop_, timer_.get());
  timer_->data = this;
  // The timer alone must not keep a loop alive: connections with deadlines do.
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_.get()));
}

DeadlineQueue::~DeadlineQueue() { close(); }

void DeadlineQueue::close() { timer_.reset(); }

DeadlineBucket* DeadlineQueue::bucket_for(uint64_t timeout_ms) {
  for (auto& b : buckets_) {
    if (b->timeout_ms == timeout_ms) return b.get();
  }
  buckets_.push_back(std::make_unique<DeadlineBucket>());
  buckets_.back()->timeout_ms = timeout_ms;
  return buckets_.back().get();
}

void DeadlineQueue::start(Deadline* d, uint64_t timeout_ms) {
  DeadlineBucket* b =
      d->bucket != nullptr && d->bucket->timeout_ms == timeout_ms ? d->bucket : nullptr;
  stop(d);
  if (b == nullptr) b = bucket_for(timeout_ms);
  d->due_ms = uv_now(loop_) + timeout_ms;
  d->bucket = b;
  d->prev = b->tail;
  d->next = nullptr;
  if (b->tail) {
    b->tail->next = d;
  } else {
    b->head = d;
  }
  b->tail = d;
  if (d->due_ms < armed_due_) arm(d->due_ms);
}

void DeadlineQueue::stop(Deadline* d) {
  DeadlineBucket* b = d->bucket;
  if (b == nullptr) return;
  if (d->prev) {
    d->prev->next = d->next;
  } else {
    b->head = d->next;
  }
  if (d->next) {
    d->next->prev = d->prev;
  } else {
    b->tail = d->prev;
  }
  d->prev = d->next = nullptr;
  d->bucket = nullptr;
  // The timer may now fire early for nothing; rearm() then finds the next real deadline.
}

void DeadlineQueue::arm(uint64_t due_ms) {
  if (timer_ == nullptr) return;
  armed_due_ = due_ms;
  uint64_t now = uv_now(loop_);
  uv_timer_start(timer_.get(), &DeadlineQueue::on_timer, due_ms > now ? due_ms - now : 0, 0);
}

void DeadlineQueue::rearm() {
  uint64_t next = UINT64_MAX;
  for (auto& b : buckets_) {
    if (b->head && b->head->due_ms < next) next = b->head->due_ms;
  }
  armed_due_ = UINT64_MAX;
  if (next != UINT64_MAX) {
    arm(next);
  } else if (timer_ != nullptr) {
    uv_timer_stop(timer_.get());
  }
}

void DeadlineQueue::on_timer(uv_timer_t* t) {
  auto* self = static_cast<DeadlineQueue*>(t->data);
  if (self == nullptr) return;
  self->armed_due_ = UINT64_MAX;
  uint64_t now = uv_now(self->loop_);
  // Fire everything due. A callback may start or stop any deadline (even in this bucket), so
  // always re-read the head instead of walking a saved pointer.
  for (size_t i = 0; i < self->buckets_.size(); ++i) {
    DeadlineBucket* b = self->buckets_[i].get();
    while (b->head != nullptr && b->head->due_ms <= now) {
      Deadline* d = b->head;
      self->stop(d);
      if (d->fire) d->fire(d);
    }
  }
  self->rearm();
}

}  // namespace sb::net
