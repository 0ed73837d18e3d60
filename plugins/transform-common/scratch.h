// Per-worker scratch storage reused across requests, so a request's transform does not allocate
// once the worker has warmed up. Use from one thread only (a thread_local instance).
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>

namespace sbp {

// Strings whose views stay valid until reset(): a deque never moves its elements.
class StringPool {
 public:
  void reset() {
    // Give back what one unusually large request grew, keep the usual working set.
    for (size_t i = 0; i < used_; ++i) {
      if (strings_[i].capacity() > kKeepCapacity) std::string().swap(strings_[i]);
    }
    used_ = 0;
  }
  std::string& acquire() {
    if (used_ == strings_.size()) strings_.emplace_back();
    std::string& s = strings_[used_++];
    s.clear();
    return s;
  }
  std::string_view keep(std::string_view v) {
    std::string& s = acquire();
    s.assign(v);
    return s;
  }

 private:
  static constexpr size_t kKeepCapacity = 64 * 1024;
  std::deque<std::string> strings_;
  size_t used_ = 0;
};

}  // namespace sbp
