// RAII ownership of libuv handles: a handle is freed only after libuv's close callback, so the
// owning object can be destroyed at any time without leaving libuv a dangling pointer.
#pragma once

#include <uv.h>

#include <memory>

namespace sb::net {

template <typename H>
struct UvCloser {
  void operator()(H* handle) const {
    if (handle == nullptr) return;
    auto* base = reinterpret_cast<uv_handle_t*>(handle);
    base->data = nullptr;             // callbacks check this and ignore events for a dead owner
    if (uv_is_closing(base)) return;  // already closing: its close callback frees it
    uv_close(base, [](uv_handle_t* h) { std::default_delete<H>()(reinterpret_cast<H*>(h)); });
  }
};

template <typename H>
using UvHandle = std::unique_ptr<H, UvCloser<H>>;

template <typename H>
UvHandle<H> make_uv_handle() {
  return UvHandle<H>(std::make_unique<H>().release());
}

// A one-shot timer owned by a C++ object; `fn(ctx)` runs when it fires.
class Timer {
 public:
  using Callback = void (*)(void* ctx);
  explicit Timer(uv_loop_t* loop) : handle_(make_uv_handle<uv_timer_t>()) {
    uv_timer_init(loop, handle_.get());
    handle_->data = this;
  }
  void start(uint64_t timeout_ms, Callback fn, void* ctx) {
    fn_ = fn;
    ctx_ = ctx;
    uv_timer_start(handle_.get(), &Timer::fire, timeout_ms, 0);
  }
  void stop() { uv_timer_stop(handle_.get()); }

 private:
  static void fire(uv_timer_t* t) {
    auto* self = static_cast<Timer*>(t->data);
    if (self != nullptr && self->fn_ != nullptr) self->fn_(self->ctx_);
  }
  UvHandle<uv_timer_t> handle_;
  Callback fn_ = nullptr;
  void* ctx_ = nullptr;
};

}  // namespace sb::net
