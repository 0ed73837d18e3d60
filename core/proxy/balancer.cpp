#include "proxy/balancer.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "http/message.h"
#include "proxy/health.h"
#include "router/router.h"

namespace sb::proxy::balancer {

Algorithm algorithm_of(std::string_view name) {
  if (name == "consistent-hashing") return Algorithm::consistent_hashing;
  if (name == "least-connections") return Algorithm::least_connections;
  if (name == "latency") return Algorithm::latency;
  return Algorithm::round_robin;
}

HashOn hash_on_of(std::string_view name) {
  if (name == "consumer") return HashOn::consumer;
  if (name == "ip") return HashOn::ip;
  if (name == "header") return HashOn::header;
  if (name == "cookie") return HashOn::cookie;
  if (name == "path") return HashOn::path;
  if (name == "query_arg") return HashOn::query_arg;
  if (name == "uri_capture") return HashOn::uri_capture;
  return HashOn::none;
}

// ---------------------------------------------------------------------------------------------
// CRC-32

namespace {

constexpr std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr auto kCrcTable = make_crc_table();

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Walks `s` URL-decoded (as ngx.req.get_uri_args: %XX and '+'), one byte at a time.
template <class F>
void each_decoded(std::string_view s, F&& f) {
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%' && i + 2 < s.size()) {
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        c = static_cast<char>(hi * 16 + lo);
        i += 2;
      }
    }
    f(c);
  }
}

bool decoded_equals(std::string_view encoded, std::string_view plain) {
  size_t n = 0;
  bool same = true;
  each_decoded(encoded, [&](char c) {
    if (n >= plain.size() || plain[n] != c) same = false;
    ++n;
  });
  return same && n == plain.size();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

void Crc32::update(std::string_view s) {
  uint32_t c = state_;
  for (unsigned char b : s) c = kCrcTable[(c ^ b) & 0xFFu] ^ (c >> 8);
  state_ = c;
}

void Crc32::update(char ch) {
  state_ = kCrcTable[(state_ ^ static_cast<unsigned char>(ch)) & 0xFFu] ^ (state_ >> 8);
}

uint32_t crc32(std::string_view s) {
  Crc32 c;
  c.update(s);
  return c.value();
}

// ---------------------------------------------------------------------------------------------
// Candidates and the ring

bool Candidates::eligible(size_t i) const {
  if (i >= targets->size() || (*targets)[i].weight <= 0) return false;
  const health::TargetHealth* h = health != nullptr ? (*health)[i] : nullptr;
  return h == nullptr || h->healthy();
}

bool Candidates::usable(double threshold, int* count) const {
  int64_t total = 0, available = 0;
  int n = 0;
  for (size_t i = 0; i < targets->size(); ++i) {
    int w = (*targets)[i].weight;
    if (w <= 0) continue;
    total += w;
    if (eligible(i)) {
      available += w;
      ++n;
    }
  }
  if (count != nullptr) *count = n;
  if (available == 0) return false;
  return !(threshold > 0 &&
           static_cast<double>(available) * 100.0 < threshold * static_cast<double>(total));
}

Ring Ring::build(const std::vector<sb::config::Target>& targets, int slots) {
  constexpr int64_t kPointsPerTarget = 160;  // Kong's SERVER_POINTS
  Ring ring;
  // Kong's continuum size: the upstream's slots, 1000 when below that.
  ring.slots_ = slots >= 1000 ? static_cast<uint32_t>(slots) : 1000u;
  std::vector<int32_t> order;
  int64_t total = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    if (targets[i].weight <= 0) continue;
    order.push_back(static_cast<int32_t>(i));
    total += targets[i].weight;
  }
  if (order.empty()) return ring;
  // Placed in name order so collisions resolve the same way whatever the config order.
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const auto &ta = targets[static_cast<size_t>(a)], &tb = targets[static_cast<size_t>(b)];
    return ta.host != tb.host ? ta.host < tb.host : ta.port < tb.port;
  });
  auto count = static_cast<int64_t>(order.size());
  std::string name;
  for (size_t rank = 0; rank < order.size(); ++rank) {
    const auto& t = targets[static_cast<size_t>(order[rank])];
    int64_t entries = std::max<int64_t>(1, t.weight * count * kPointsPerTarget / total);
    for (int64_t i = 1; i <= entries; ++i) {
      name.clear();
      fmt::format_to(std::back_inserter(name), "{}:{} {}", t.host, t.port, i);
      ring.points_.push_back({crc32(name) % ring.slots_, order[rank], static_cast<int32_t>(rank)});
    }
  }
  // Two points on one position both stay, ordered by name: unlike Kong, which moves the later
  // one to its next name, so removing a target never shifts another target's points.
  std::sort(ring.points_.begin(), ring.points_.end(), [](const Point& a, const Point& b) {
    return a.position != b.position ? a.position < b.position : a.rank < b.rank;
  });
  return ring;
}

int Ring::pick(uint32_t hash, const Candidates& c, int avoid) const {
  if (points_.empty()) return -1;
  uint32_t pos = hash % slots_;
  auto it = std::upper_bound(points_.begin(), points_.end(), pos,
                             [](uint32_t p, const Point& pt) { return p < pt.position; });
  size_t n = points_.size();
  size_t i = it == points_.begin() ? n - 1 : static_cast<size_t>(it - points_.begin()) - 1;
  int fallback = -1;
  for (size_t step = 0; step < n; ++step, i = i == 0 ? n - 1 : i - 1) {
    int t = points_[i].target;
    if (!c.eligible(static_cast<size_t>(t))) continue;
    if (t != avoid) return t;
    fallback = t;  // the avoided target only when it is the last one standing
  }
  return fallback;
}

Plan make_plan(const sb::config::Upstream& upstream) {
  Plan plan;
  plan.algorithm = algorithm_of(upstream.algorithm);
  plan.hash_on = hash_on_of(upstream.hash_on);
  plan.hash_fallback = hash_on_of(upstream.hash_fallback);
  if (plan.algorithm == Algorithm::consistent_hashing) {
    plan.ring = Ring::build(upstream.targets, upstream.slots);
  }
  return plan;
}

// ---------------------------------------------------------------------------------------------
// Hash input

bool find_cookie(std::string_view header, std::string_view name, std::string_view* value) {
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view pair = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    // nginx's $cookie_NAME compares names without case.
    if (sb::http::iequals(trim(pair.substr(0, eq)), name)) {
      *value = trim(pair.substr(eq + 1));
      return true;
    }
  }
  return false;
}

bool hash_query_arg(std::string_view query, std::string_view name, Crc32* crc) {
  if (!query.empty() && query.front() == '?') query.remove_prefix(1);
  constexpr size_t kMaxValues = 32;
  std::string_view values[kMaxValues];
  size_t count = 0;
  while (!query.empty() && count < kMaxValues) {
    size_t amp = query.find('&');
    std::string_view arg = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (arg.empty()) continue;
    size_t eq = arg.find('=');
    if (!decoded_equals(arg.substr(0, eq), name)) continue;
    // A bare `?name` is Lua's true, which Kong turns into "true".
    values[count++] = eq == std::string_view::npos ? std::string_view("true") : arg.substr(eq + 1);
  }
  if (count == 0) return false;
  // Several values: sorted and joined with "," (sorted here by their encoded form).
  std::sort(values, values + count);
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) crc->update(',');
    each_decoded(values[i], [&](char c) { crc->update(c); });
  }
  return true;
}

namespace {

struct Source {
  HashOn on;
  std::string_view header, query_arg, uri_capture;
};

bool hash_source(const Source& s, const sb::config::Upstream& u, const HashFacts& f, Crc32* crc,
                 bool* cookie_missing) {
  switch (s.on) {
    case HashOn::none:
      return false;
    case HashOn::consumer:
      // The consumer, else the credential (an anonymous-less auth without consumer).
      if (!f.consumer_id.empty()) {
        crc->update(f.consumer_id);
        return true;
      }
      if (!f.credential_id.empty()) {
        crc->update(f.credential_id);
        return true;
      }
      return false;
    case HashOn::ip:
      if (f.client_ip.empty()) return false;
      crc->update(f.client_ip);
      return true;
    case HashOn::header: {
      if (f.head == nullptr) return false;
      // Several fields of the name count as one value joined with ", " (nginx >= 1.23).
      bool found = false;
      for (size_t i = 0; i < f.head->field_count(); ++i) {
        if (!sb::http::iequals(f.head->name(i), s.header)) continue;
        if (found) crc->update(", ");
        crc->update(f.head->value(i));
        found = true;
      }
      return found;
    }
    case HashOn::cookie: {
      if (f.head != nullptr) {
        for (size_t i = 0; i < f.head->field_count(); ++i) {
          if (!sb::http::iequals(f.head->name(i), "Cookie")) continue;
          std::string_view value;
          if (find_cookie(f.head->value(i), u.hash_on_cookie, &value)) {
            crc->update(value);
            return true;
          }
        }
      }
      *cookie_missing = true;
      return false;
    }
    case HashOn::path:
      crc->update(f.path);
      return true;
    case HashOn::query_arg:
      return hash_query_arg(f.query, s.query_arg, crc);
    case HashOn::uri_capture:
      if (f.captures == nullptr) return false;
      for (const auto& c : *f.captures) {
        if (!c.name.empty() && c.name == s.uri_capture) {
          crc->update(c.value);
          return true;
        }
      }
      return false;
  }
  return false;
}

}  // namespace

bool hash_request(const sb::config::Upstream& u, const Plan& plan, const HashFacts& f,
                  uint32_t* hash, bool* cookie_missing) {
  *cookie_missing = false;
  Crc32 crc;
  if (hash_source({plan.hash_on, u.hash_on_header, u.hash_on_query_arg, u.hash_on_uri_capture}, u,
                  f, &crc, cookie_missing)) {
    *hash = crc.value();
    return true;
  }
  if (*cookie_missing || plan.hash_on == HashOn::none) return false;
  Crc32 fallback;
  if (hash_source({plan.hash_fallback, u.hash_fallback_header, u.hash_fallback_query_arg,
                   u.hash_fallback_uri_capture},
                  u, f, &fallback, cookie_missing)) {
    *hash = fallback.value();
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Loads

void TargetLoad::observe(double rtt_ms, uint64_t now_ms) {
  constexpr double kDecayMs = 10000.0;  // Kong's DECAY_TIME
  double weight = 0;
  if (measured && now_ms > touched_ms) {
    weight = std::exp(-static_cast<double>(now_ms - touched_ms) / kDecayMs);
  } else if (measured) {
    weight = 1.0;
  }
  // Several responses in one millisecond: still let the newest count.
  if (weight >= 1.0) weight = 0.9;
  ewma_ms = ewma_ms * weight + rtt_ms * (1.0 - weight);
  touched_ms = now_ms;
  measured = true;
}

double TargetLoad::score(uint64_t now_ms) const {
  if (!measured) return 0;
  double idle = now_ms > touched_ms ? static_cast<double>(now_ms - touched_ms) : 0;
  return ewma_ms * std::exp(-idle / 10000.0);
}

LoadClaim::LoadClaim(std::shared_ptr<TargetLoad> load) : load_(std::move(load)) {
  if (load_) ++load_->in_flight;
}

LoadClaim& LoadClaim::operator=(LoadClaim&& o) noexcept {
  if (this != &o) {
    release();
    load_ = std::move(o.load_);
  }
  return *this;
}

void LoadClaim::release() {
  if (load_) {
    --load_->in_flight;
    load_.reset();
  }
}

int pick_least_connections(const Candidates& c, const std::shared_ptr<TargetLoad>* loads, int avoid,
                           uint32_t rotation) {
  size_t n = c.targets->size();
  if (n == 0) return -1;
  int best = -1;
  int64_t best_load = 0, best_weight = 1;
  for (size_t step = 0; step < n; ++step) {
    size_t i = (rotation + step) % n;
    if (static_cast<int>(i) == avoid || !c.eligible(i)) continue;
    int64_t load = loads[i]->in_flight + 1, weight = (*c.targets)[i].weight;
    // load / weight < best_load / best_weight, without division.
    if (best < 0 || load * best_weight < best_load * weight) {
      best = static_cast<int>(i);
      best_load = load;
      best_weight = weight;
    }
  }
  return best;
}

int pick_latency(const Candidates& c, const std::shared_ptr<TargetLoad>* loads, int avoid,
                 uint64_t now_ms) {
  int best = -1;
  double best_score = 0;
  for (size_t i = 0; i < c.targets->size(); ++i) {
    if (static_cast<int>(i) == avoid || !c.eligible(i)) continue;
    double score = loads[i]->score(now_ms) / (*c.targets)[i].weight;
    if (best < 0 || score < best_score) {
      best = static_cast<int>(i);
      best_score = score;
    }
  }
  return best;
}

void WorkerLoads::bind(const sb::config::Config& config, const void* generation) {
  std::map<std::string, std::shared_ptr<TargetLoad>> next;
  loads_.assign(config.upstreams.size(), {});
  for (size_t u = 0; u < config.upstreams.size(); ++u) {
    const auto& up = config.upstreams[u];
    Algorithm a = algorithm_of(up.algorithm);
    if (a != Algorithm::least_connections && a != Algorithm::latency) continue;
    auto& row = loads_[u];
    row.reserve(up.targets.size());
    for (const auto& t : up.targets) {
      std::string key = fmt::format("{}\n{}", up.id.empty() ? up.name : up.id, t.target);
      if (auto it = next.find(key); it != next.end()) {
        row.push_back(it->second);
        continue;
      }
      auto old = by_key_.find(key);
      auto load = old != by_key_.end() ? old->second : std::make_shared<TargetLoad>();
      next.emplace(std::move(key), load);
      row.push_back(std::move(load));
    }
  }
  by_key_ = std::move(next);
  bound_ = generation;
}

const std::shared_ptr<TargetLoad>* WorkerLoads::of(size_t index) const {
  if (index >= loads_.size() || loads_[index].empty()) return nullptr;
  return loads_[index].data();
}

}  // namespace sb::proxy::balancer
