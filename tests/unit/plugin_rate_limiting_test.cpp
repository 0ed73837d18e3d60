// rate-limiting (plugins/rate-limiting): UTC calendar windows and the shared counter store
// (Kong 3.9's handler.lua, policies/init.lua `local`, spec 23-rate-limiting).
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "counters.h"
#include "rate_limiting.h"

namespace {

using sbp::rate_limiting::CounterStore;
using sbp::rate_limiting::kDay;
using sbp::rate_limiting::kHour;
using sbp::rate_limiting::kMinute;
using sbp::rate_limiting::kMonth;
using sbp::rate_limiting::kSecond;
using sbp::rate_limiting::kYear;
using sbp::rate_limiting::Period;
using sbp::rate_limiting::window_end;
using sbp::rate_limiting::window_start;

constexpr int64_t kLeapDay = 1709210096;  // 2024-02-29T12:34:56Z

TEST(RateLimitingWindows, CalendarAligned) {
  EXPECT_EQ(window_start(kSecond, kLeapDay), kLeapDay);
  EXPECT_EQ(window_start(kMinute, kLeapDay), kLeapDay - 56);
  EXPECT_EQ(window_start(kHour, kLeapDay), kLeapDay - 34 * 60 - 56);
  EXPECT_EQ(window_start(kDay, kLeapDay), 1709164800);
  EXPECT_EQ(window_start(kMonth, kLeapDay), 1706745600);                        // 2024-02-01
  EXPECT_EQ(window_start(kYear, kLeapDay), 1704067200);                         // 2024-01-01
  EXPECT_EQ(window_end(kMonth, 1706745600), 1709251200);                        // 2024-03-01
  EXPECT_EQ(window_end(kYear, 1704067200), 1735689600);                         // 2025-01-01
  EXPECT_EQ(window_end(kMonth, window_start(kMonth, 1704067199)), 1704067200);  // Dec -> Jan
  EXPECT_EQ(window_end(kDay, 1709164800), 1709251200);
  EXPECT_EQ(window_start(kMinute, -1), -60);
}

CounterStore::Check check(int64_t now, std::initializer_list<std::pair<Period, double>> limits) {
  CounterStore::Check c;
  for (auto [p, limit] : limits) {
    c.mask |= static_cast<uint8_t>(1u << p);
    c.limit[p] = limit;
    c.start[p] = window_start(p, now);
    c.end[p] = window_end(p, c.start[p]);
  }
  return c;
}

TEST(RateLimitingCounters, CheckBeforeIncrement) {
  CounterStore store;
  int64_t t = kLeapDay;
  for (int i = 0; i < 3; ++i) {
    auto u = store.hit("k", check(t, {{kMinute, 3}}), t);
    EXPECT_FALSE(u.blocked);
    EXPECT_EQ(u.count[kMinute], i);
  }
  for (int i = 0; i < 2; ++i) {  // blocked requests are not counted
    auto u = store.hit("k", check(t, {{kMinute, 3}}), t);
    EXPECT_TRUE(u.blocked);
    EXPECT_EQ(u.count[kMinute], 3);
  }
  // Another key is independent; the next minute starts over.
  EXPECT_EQ(store.hit("other", check(t, {{kMinute, 3}}), t).count[kMinute], 0);
  int64_t next = window_end(kMinute, window_start(kMinute, t));
  auto u = store.hit("k", check(next, {{kMinute, 3}}), next);
  EXPECT_FALSE(u.blocked);
  EXPECT_EQ(u.count[kMinute], 0);
}

TEST(RateLimitingCounters, SeveralWindows) {
  CounterStore store;
  int64_t t = kLeapDay;
  // second=1, hour=3: the second window blocks within a second, the hour one after 3 seconds.
  EXPECT_FALSE(store.hit("k", check(t, {{kSecond, 1}, {kHour, 3}}), t).blocked);
  auto u = store.hit("k", check(t, {{kSecond, 1}, {kHour, 3}}), t);
  EXPECT_TRUE(u.blocked);
  EXPECT_EQ(u.count[kSecond], 1);
  EXPECT_EQ(u.count[kHour], 1);  // not counted while blocked
  EXPECT_FALSE(store.hit("k", check(t + 1, {{kSecond, 1}, {kHour, 3}}), t + 1).blocked);
  EXPECT_FALSE(store.hit("k", check(t + 2, {{kSecond, 1}, {kHour, 3}}), t + 2).blocked);
  u = store.hit("k", check(t + 3, {{kSecond, 1}, {kHour, 3}}), t + 3);
  EXPECT_TRUE(u.blocked);
  EXPECT_EQ(u.count[kSecond], 0);
  EXPECT_EQ(u.count[kHour], 3);
  // A config with only `minute` on the same key shares nothing it did not count.
  EXPECT_EQ(store.hit("k", check(t + 3, {{kMinute, 10}}), t + 3).count[kMinute], 0);
  // Fractional limits: remaining = limit - usage must stay > 0.
  EXPECT_FALSE(store.hit("f", check(t, {{kDay, 1.5}}), t).blocked);
  EXPECT_FALSE(store.hit("f", check(t, {{kDay, 1.5}}), t).blocked);
  EXPECT_TRUE(store.hit("f", check(t, {{kDay, 1.5}}), t).blocked);
}

TEST(RateLimitingCounters, MonthAndYearWindows) {
  CounterStore store;
  int64_t end_of_jan = 1706745599;  // 2024-01-31T23:59:59Z
  EXPECT_FALSE(store.hit("k", check(end_of_jan, {{kMonth, 1}, {kYear, 5}}), end_of_jan).blocked);
  EXPECT_TRUE(store.hit("k", check(end_of_jan, {{kMonth, 1}, {kYear, 5}}), end_of_jan).blocked);
  auto u = store.hit("k", check(end_of_jan + 1, {{kMonth, 1}, {kYear, 5}}), end_of_jan + 1);
  EXPECT_FALSE(u.blocked);
  EXPECT_EQ(u.count[kMonth], 0);
  EXPECT_EQ(u.count[kYear], 1);
}

TEST(RateLimitingCounters, ExpiredEntriesAreSwept) {
  CounterStore store(4, 1 << 20);
  int64_t t = kLeapDay;
  for (int i = 0; i < 1000; ++i) store.hit("ip" + std::to_string(i), check(t, {{kSecond, 5}}), t);
  EXPECT_EQ(store.size(), 1000u);
  // Inserting later sweeps the shard it lands in once it grew past its threshold...
  for (int i = 0; i < 3000; ++i)
    store.hit("late" + std::to_string(i), check(t + 2, {{kSecond, 5}}), t + 2);
  EXPECT_LT(store.size(), 4000u);
  // ... and an explicit sweep drops everything that ended.
  store.sweep(t + 3);
  EXPECT_EQ(store.size(), 0u);
}

TEST(RateLimitingCounters, BoundedByEvictingLeastRecentlyUsed) {
  CounterStore store(1, 100);
  int64_t t = kLeapDay;
  for (int i = 0; i < 1000; ++i) store.hit("ip" + std::to_string(i), check(t, {{kYear, 5}}), t + i);
  EXPECT_LE(store.size(), 100u);
  // The most recent keys survived.
  EXPECT_EQ(store.hit("ip999", check(t, {{kYear, 5}}), t + 1000).count[kYear], 1);
}

TEST(RateLimitingCounters, SharedAcrossThreads) {
  CounterStore store;
  int64_t t = kLeapDay;
  constexpr int kThreads = 8;
  constexpr int kHits = 2000;
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < kHits; ++j) {
        // One hot key with an exact limit, and per-thread keys that never block.
        if (!store.hit("hot", check(t, {{kHour, 5000}}), t).blocked) ++passed;
        store.hit("t" + std::to_string(i) + "-" + std::to_string(j % 50), check(t, {{kHour, 1e9}}),
                  t);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(passed.load(), 5000);
  EXPECT_EQ(store.hit("hot", check(t, {{kHour, 1e9}}), t).count[kHour], 5000);
  EXPECT_EQ(store.hit("t3-7", check(t, {{kHour, 1e9}}), t).count[kHour], kHits / 50);
}

TEST(RateLimitingFormat, LuaNumbers) {
  char buf[32];
  auto f = [&](double v) {
    return std::string(buf, sbp::rate_limiting::format_number(v, buf, sizeof buf));
  };
  EXPECT_EQ(f(10), "10");
  EXPECT_EQ(f(2.5), "2.5");
  EXPECT_EQ(f(0), "0");
  EXPECT_EQ(f(1e15), "1e+15");
  EXPECT_EQ(f(123456789), "123456789");
}

}  // namespace
