// rate-limiting's `local` policy store: fixed UTC calendar windows and one process-wide counter
// table shared by every worker thread (Kong: the kong_rate_limiting_counters shared dict, one per
// node, shared by its worker processes).
//
// The store lives in the plugin's State (made in on_init, freed in on_shutdown), so counters
// survive config reloads while compiled configs come and go. It is sharded: one mutex per shard,
// held for a hash look-up and a few integer updates, so concurrent requests rarely meet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sbp::rate_limiting {

enum Period : int { kSecond, kMinute, kHour, kDay, kMonth, kYear };
inline constexpr int kPeriods = 6;
inline constexpr const char* kPeriodNames[kPeriods] = {"second", "minute", "hour",
                                                       "day",    "month",  "year"};
// Kong's EXPIRATION table (rate-limiting/expiration.lua): used for RateLimit-Reset, including
// its 30-day month and 365-day year.
inline constexpr int64_t kExpiration[kPeriods] = {1, 60, 3600, 86400, 2592000, 31536000};

// Start (inclusive) and end (exclusive) of the UTC window of `period` containing `t` (Unix
// seconds): second, minute, hour, day, first day of the month, January 1st.
int64_t window_start(Period period, int64_t t);
int64_t window_end(Period period, int64_t start);

class CounterStore {
 public:
  // What one request checks: the configured periods (bit i = Period i), their limits and the
  // current windows.
  struct Check {
    uint8_t mask = 0;
    double limit[kPeriods] = {};
    int64_t start[kPeriods] = {};
    int64_t end[kPeriods] = {};
  };
  struct Usage {
    int64_t count[kPeriods] = {};  // requests counted in each configured window, before this one
    bool blocked = false;          // some window has limit - count <= 0 (this one not counted)
  };

  // shards: a power of two; max_entries: the table's size bound (least recently used keys are
  // dropped beyond it, as a full Kong shared dict evicts). One entry holds every window of one
  // (route, service, identifier), about 250 bytes: the default bound is ~16 MB, about what
  // Kong's 12 MB kong_rate_limiting_counters dict holds for single-window configs.
  explicit CounterStore(size_t shards = 64, size_t max_entries = 65536);
  ~CounterStore();
  CounterStore(const CounterStore&) = delete;
  CounterStore& operator=(const CounterStore&) = delete;

  // Kong's usage() for every configured period, then, unless a window is exhausted,
  // increment() of each of them (check before increment: blocked requests are not counted).
  // Atomic per key. `key` identifies (route, service, identifier).
  Usage hit(std::string_view key, const Check& check, int64_t now_s);

  // Drops every entry whose windows all ended by now_s. Runs by itself as the table grows, and
  // from worker 0's sweep timer (RateLimiting::init_worker).
  void sweep(int64_t now_s);
  size_t size() const;

 private:
  struct Entry {
    int64_t start[kPeriods];
    int64_t count[kPeriods];
    int64_t expires;    // when every window counted in has ended
    int64_t last_used;  // for eviction beyond max_entries
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  struct alignas(64) Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Entry, Hash, std::equal_to<>> map;
    size_t sweep_at = 0;
  };
  void maintain(Shard& shard, int64_t now_s);

  std::unique_ptr<Shard[]> shards_;
  size_t shard_mask_;
  size_t max_per_shard_;
};

}  // namespace sbp::rate_limiting
