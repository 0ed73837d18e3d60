// Kong's upstream load-balancing algorithms other than round-robin (which is health::pick):
// consistent-hashing over a ring, least-connections and latency (EWMA of response times).
//
// The immutable part (the ring, the parsed algorithm and hash_on fields) is built once per
// config generation into the Snapshot; the mutable part (in-flight counts, latency averages) is
// per worker and survives reloads for targets that stay. Nothing here allocates per request.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"

namespace sb::http {
class MessageHead;
}
namespace sb::router {
struct Capture;
}

namespace sb::proxy {
namespace health {
class TargetHealth;
}

namespace balancer {

enum class Algorithm : uint8_t { round_robin, consistent_hashing, least_connections, latency };
enum class HashOn : uint8_t { none, consumer, ip, header, cookie, path, query_arg, uri_capture };
Algorithm algorithm_of(std::string_view name);
HashOn hash_on_of(std::string_view name);

// CRC-32 (IEEE), fed in parts so an input made of several pieces needs no buffer.
class Crc32 {
 public:
  void update(std::string_view s);
  void update(char c);
  uint32_t value() const { return ~state_; }

 private:
  uint32_t state_ = 0xFFFFFFFFu;
};
uint32_t crc32(std::string_view s);

// The targets one pick may choose from: weight > 0 and healthy (health null: all healthy).
struct Candidates {
  const std::vector<sb::config::Target>* targets = nullptr;
  const std::vector<health::TargetHealth*>* health = nullptr;  // parallel to targets
  bool eligible(size_t i) const;
  // Kong's balancer health: false when nothing is eligible or the eligible weight is below
  // `threshold` percent of the total. `count` receives the number of eligible targets.
  bool usable(double threshold, int* count) const;
};

// Kong's consistent-hashing continuum: `slots` positions (Kong's wheel size), each target
// owning points in proportion to its weight (160 per target at equal weights), a point being
// crc32("host:port i") % slots (positions may be shared). A hash lands at position hash % slots and
// belongs to the nearest point at or below it; taking points away (a removed target) only moves the
// keys those points held.
class Ring {
 public:
  static Ring build(const std::vector<sb::config::Target>& targets, int slots);
  bool empty() const { return points_.empty(); }
  size_t points() const { return points_.size(); }
  uint32_t slots() const { return slots_; }
  // The target for `hash`: its owner, else the next eligible owner going down the ring
  // (Kong's walk past unavailable addresses). `avoid` (-1: none, a retry's previous target) is
  // passed over while another eligible target exists. -1: none eligible.
  int pick(uint32_t hash, const Candidates& c, int avoid) const;

 private:
  struct Point {
    uint32_t position;
    int32_t target;
    int32_t rank;  // the target's place in name order
  };
  std::vector<Point> points_;  // sorted by position, then rank
  uint32_t slots_ = 0;
};

// What a Snapshot keeps per upstream.
struct Plan {
  Algorithm algorithm = Algorithm::round_robin;
  HashOn hash_on = HashOn::none, hash_fallback = HashOn::none;
  Ring ring;  // consistent-hashing only
};
Plan make_plan(const sb::config::Upstream& upstream);

// The request facts a hash input can come from.
struct HashFacts {
  const sb::http::MessageHead* head = nullptr;
  std::string_view path;   // normalized (nginx's $uri)
  std::string_view query;  // "?..." or empty
  const std::vector<sb::router::Capture>* captures = nullptr;
  std::string_view consumer_id;    // authenticated consumer, empty: none
  std::string_view credential_id;  // authenticated credential, empty: none
  std::string_view client_ip;      // after real-ip handling (nginx's $remote_addr)
};

// Kong's get_value_to_hash: the hash of `hash_on`'s input, else of `hash_fallback`'s. Returns
// false when neither has an input (Kong then hashes the empty string) or when hashing on a
// cookie the request lacks (`*cookie_missing` set: the caller makes one up and hashes that).
bool hash_request(const sb::config::Upstream& upstream, const Plan& plan, const HashFacts& facts,
                  uint32_t* hash, bool* cookie_missing);

// Parsing helpers (exposed for tests): the value of cookie `name` in a Cookie header value, and
// whether query string `query` ("?a=1&b") has argument `name`, hashing its values (decoded,
// several sorted and joined with ",", a bare name as "true") into `crc`.
bool find_cookie(std::string_view header, std::string_view name, std::string_view* value);
bool hash_query_arg(std::string_view query, std::string_view name, Crc32* crc);

// One worker's view of one target: tries in flight and the latency average.
struct TargetLoad {
  int64_t in_flight = 0;
  double ewma_ms = 0;
  uint64_t touched_ms = 0;
  bool measured = false;
  // Kong's decaying EWMA (10 s decay time) with one more response time.
  void observe(double rtt_ms, uint64_t now_ms);
  // The average decayed to `now_ms` as if nothing had been seen since (idle targets get tried).
  double score(uint64_t now_ms) const;
};

// A try's claim on a target's load: in flight from construction until release/destruction.
class LoadClaim {
 public:
  LoadClaim() = default;
  explicit LoadClaim(std::shared_ptr<TargetLoad> load);
  LoadClaim(LoadClaim&& o) noexcept : load_(std::move(o.load_)) {}
  LoadClaim& operator=(LoadClaim&& o) noexcept;
  LoadClaim(const LoadClaim&) = delete;
  LoadClaim& operator=(const LoadClaim&) = delete;
  ~LoadClaim() { release(); }
  void release();
  TargetLoad* get() const { return load_.get(); }
  explicit operator bool() const { return load_ != nullptr; }

 private:
  std::shared_ptr<TargetLoad> load_;
};

// Least connections (Kong: (in flight + 1) / weight, lowest wins); ties go to the first after
// `rotation` so equal targets share. `loads` is parallel to the targets.
int pick_least_connections(const Candidates& c, const std::shared_ptr<TargetLoad>* loads, int avoid,
                           uint32_t rotation);
// Latency (Kong 3.x): lowest decayed EWMA / weight.
int pick_latency(const Candidates& c, const std::shared_ptr<TargetLoad>* loads, int avoid,
                 uint64_t now_ms);

// A worker's loads for the upstreams of its current generation, kept per (upstream id,
// target) across reloads so in-flight counts stay right.
class WorkerLoads {
 public:
  void bind(const sb::config::Config& config, const void* generation);
  const void* bound() const { return bound_; }
  // Parallel to upstream `index`'s targets; null for upstreams that need no loads.
  const std::shared_ptr<TargetLoad>* of(size_t index) const;
  uint32_t next_rotation() { return rotation_++; }

 private:
  const void* bound_ = nullptr;
  std::vector<std::vector<std::shared_ptr<TargetLoad>>> loads_;
  std::map<std::string, std::shared_ptr<TargetLoad>> by_key_;
  uint32_t rotation_ = 0;
};

}  // namespace balancer
}  // namespace sb::proxy
