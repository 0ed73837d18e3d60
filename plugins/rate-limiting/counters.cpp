#include "counters.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace sbp::rate_limiting {

namespace {

constexpr size_t kMinSweep = 64;

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Howard Hinnant's civil-from-days / days-from-civil (proleptic Gregorian, UTC).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = floor_div(y, 400);
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t* y, unsigned* m) {
  z += 719468;
  const int64_t era = floor_div(z, 146097);
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

}  // namespace

int64_t window_start(Period period, int64_t t) {
  switch (period) {
    case kSecond:
      return t;
    case kMinute:
      return floor_div(t, 60) * 60;
    case kHour:
      return floor_div(t, 3600) * 3600;
    case kDay:
      return floor_div(t, 86400) * 86400;
    case kMonth:
    case kYear: {
      int64_t y;
      unsigned m;
      civil_from_days(floor_div(t, 86400), &y, &m);
      return days_from_civil(y, period == kMonth ? m : 1, 1) * 86400;
    }
  }
  return t;
}

int64_t window_end(Period period, int64_t start) {
  switch (period) {
    case kSecond:
      return start + 1;
    case kMinute:
      return start + 60;
    case kHour:
      return start + 3600;
    case kDay:
      return start + 86400;
    case kMonth:
    case kYear: {
      int64_t y;
      unsigned m;
      civil_from_days(floor_div(start, 86400), &y, &m);
      if (period == kYear) return days_from_civil(y + 1, 1, 1) * 86400;
      return (m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, m + 1, 1)) * 86400;
    }
  }
  return start + 1;
}

CounterStore::CounterStore(size_t shards, size_t max_entries) {
  size_t n = 1;
  while (n < shards) n <<= 1;
  shards_ = std::make_unique<Shard[]>(n);
  shard_mask_ = n - 1;
  max_per_shard_ = std::max<size_t>(1, max_entries / n);
  for (size_t i = 0; i < n; ++i) shards_[i].sweep_at = std::min(kMinSweep, max_per_shard_);
}

CounterStore::~CounterStore() = default;

CounterStore::Usage CounterStore::hit(std::string_view key, const Check& check, int64_t now_s) {
  Usage usage;
  size_t h = Hash{}(key);
  Shard& shard = shards_[(h ^ (h >> 29)) & shard_mask_];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.map.find(key);
  Entry* e = it == shard.map.end() ? nullptr : &it->second;
  for (int p = 0; p < kPeriods; ++p) {
    if (!(check.mask & (1u << p))) continue;
    usage.count[p] = (e != nullptr && e->start[p] == check.start[p]) ? e->count[p] : 0;
    if (check.limit[p] - static_cast<double>(usage.count[p]) <= 0) usage.blocked = true;
  }
  if (usage.blocked) {
    if (e != nullptr) e->last_used = now_s;
    return usage;
  }
  if (e == nullptr) {
    if (shard.map.size() >= shard.sweep_at) maintain(shard, now_s);
    Entry fresh{};
    for (int p = 0; p < kPeriods; ++p) fresh.start[p] = INT64_MIN;
    fresh.expires = now_s;
    e = &shard.map.emplace(std::string(key), fresh).first->second;
  }
  for (int p = 0; p < kPeriods; ++p) {
    if (!(check.mask & (1u << p))) continue;
    if (e->start[p] != check.start[p]) {
      e->start[p] = check.start[p];
      e->count[p] = 0;
    }
    ++e->count[p];
    e->expires = std::max(e->expires, check.end[p]);
  }
  e->last_used = now_s;
  return usage;
}

// Called with the shard locked, before an insert: expired entries go; beyond the bound the
// least recently used quarter goes. The next run waits until the table doubled again, so the
// cost per insert stays constant.
void CounterStore::maintain(Shard& shard, int64_t now_s) {
  std::erase_if(shard.map, [now_s](const auto& kv) { return kv.second.expires <= now_s; });
  if (shard.map.size() >= max_per_shard_) {
    std::vector<std::pair<int64_t, const std::string*>> by_age;
    by_age.reserve(shard.map.size());
    for (const auto& [k, e] : shard.map) by_age.emplace_back(e.last_used, &k);
    size_t drop = std::max<size_t>(1, by_age.size() / 4);
    std::nth_element(by_age.begin(), by_age.begin() + static_cast<ptrdiff_t>(drop - 1),
                     by_age.end());
    std::vector<std::string> victims;
    victims.reserve(drop);
    for (size_t i = 0; i < drop; ++i) victims.push_back(*by_age[i].second);
    for (const auto& k : victims) shard.map.erase(k);
  }
  shard.sweep_at =
      std::clamp(shard.map.size() * 2, std::min(kMinSweep, max_per_shard_), max_per_shard_);
}

void CounterStore::sweep(int64_t now_s) {
  for (size_t i = 0; i <= shard_mask_; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    std::erase_if(shards_[i].map, [now_s](const auto& kv) { return kv.second.expires <= now_s; });
  }
}

size_t CounterStore::size() const {
  size_t n = 0;
  for (size_t i = 0; i <= shard_mask_; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    n += shards_[i].map.size();
  }
  return n;
}

}  // namespace sbp::rate_limiting
