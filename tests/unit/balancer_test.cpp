// Upstream balancing algorithms: the consistent-hashing ring (weights, stability, minimal
// movement, health), the hash inputs, least-connections counting and the latency average.
#include "proxy/balancer.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "http/message.h"
#include "proxy/health.h"

namespace sb::proxy::balancer {
namespace {

using sb::config::Target;

Target make_target(std::string host, int port, int weight = 100) {
  Target t;
  t.host = std::move(host);
  t.port = port;
  t.weight = weight;
  t.target = fmt::format("{}:{}", t.host, t.port);
  return t;
}

std::vector<Target> targets_of(std::vector<std::pair<std::string, int>> spec) {
  std::vector<Target> out;
  for (auto& [host, weight] : spec) out.push_back(make_target(host, 8000, weight));
  return out;
}

// Which target name each of `n` keys lands on.
std::vector<std::string> assign(const std::vector<Target>& targets, const Ring& ring, int n,
                                const std::vector<health::TargetHealth*>* health = nullptr) {
  Candidates c{&targets, health};
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    int t = ring.pick(crc32(fmt::format("key-{}", i)), c, -1);
    out.push_back(t < 0 ? "" : targets[static_cast<size_t>(t)].host);
  }
  return out;
}

TEST(BalancerCrc32, KnownValueAndParts) {
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
  Crc32 parts;
  parts.update("1234");
  parts.update('5');
  parts.update("6789");
  EXPECT_EQ(parts.value(), 0xCBF43926u);
}

TEST(BalancerRing, PointsFollowWeights) {
  auto targets = targets_of({{"a", 100}, {"b", 200}, {"c", 100}, {"zero", 0}});
  Ring ring = Ring::build(targets, 10000);
  EXPECT_EQ(ring.slots(), 10000u);
  // Kong: 160 points per target at equal weights, in proportion otherwise (3 weighted targets).
  EXPECT_EQ(ring.points(), 120u + 240u + 120u);
  constexpr int kKeys = 40000;
  std::map<std::string, int> counts;
  for (const auto& name : assign(targets, ring, kKeys)) ++counts[name];
  EXPECT_EQ(counts.count("zero"), 0u);
  EXPECT_NEAR(counts["a"] / double(kKeys), 0.25, 0.07);
  EXPECT_NEAR(counts["b"] / double(kKeys), 0.50, 0.07);
  EXPECT_NEAR(counts["c"] / double(kKeys), 0.25, 0.07);
}

TEST(BalancerRing, SmallSlotsUseKongsMinimum) {
  auto targets = targets_of({{"a", 100}});
  EXPECT_EQ(Ring::build(targets, 10).slots(), 1000u);
}

TEST(BalancerRing, SameKeySameTargetWhateverTheConfigOrder) {
  auto targets = targets_of({{"a", 100}, {"b", 100}, {"c", 50}});
  auto reversed = targets_of({{"c", 50}, {"b", 100}, {"a", 100}});
  Ring ring = Ring::build(targets, 10000), again = Ring::build(reversed, 10000);
  auto first = assign(targets, ring, 2000);
  EXPECT_EQ(first, assign(targets, ring, 2000));
  EXPECT_EQ(first, assign(reversed, again, 2000));
  std::map<std::string, int> counts;
  for (const auto& name : first) ++counts[name];
  EXPECT_EQ(counts.size(), 3u);  // and the keys do spread
}

TEST(BalancerRing, RemovingATargetOnlyMovesItsKeys) {
  auto four = targets_of({{"a", 100}, {"b", 100}, {"c", 100}, {"d", 100}});
  auto three = targets_of({{"a", 100}, {"b", 100}, {"d", 100}});
  constexpr int kKeys = 20000;
  auto before = assign(four, Ring::build(four, 10000), kKeys);
  auto after = assign(three, Ring::build(three, 10000), kKeys);
  int moved_elsewhere = 0, from_c = 0;
  std::map<std::string, int> c_went_to;
  for (int i = 0; i < kKeys; ++i) {
    if (before[i] == "c") {
      ++from_c;
      ++c_went_to[after[i]];
    } else if (before[i] != after[i]) {
      ++moved_elsewhere;
    }
  }
  EXPECT_GT(from_c, kKeys / 8);
  EXPECT_EQ(moved_elsewhere, 0);
  EXPECT_EQ(c_went_to.count("c"), 0u);
  EXPECT_GE(c_went_to.size(), 2u);  // c's keys spread over the others, not onto one
}

TEST(BalancerRing, UnhealthyTargetIsSkippedAndComesBack) {
  auto targets = targets_of({{"a", 100}, {"b", 100}, {"c", 100}});
  Ring ring = Ring::build(targets, 10000);
  health::TargetHealth ha("u", "a:8000"), hb("u", "b:8000"), hc("u", "c:8000");
  std::vector<health::TargetHealth*> health = {&ha, &hb, &hc};
  constexpr int kKeys = 5000;
  auto before = assign(targets, ring, kKeys, &health);
  hb.set(false);
  auto during = assign(targets, ring, kKeys, &health);
  for (int i = 0; i < kKeys; ++i) {
    EXPECT_NE(during[i], "b");
    if (before[i] != "b") {
      EXPECT_EQ(during[i], before[i]) << i;
    }
  }
  hb.set(true);
  EXPECT_EQ(assign(targets, ring, kKeys, &health), before);
  // None healthy: no target.
  ha.set(false);
  hb.set(false);
  hc.set(false);
  Candidates c{&targets, &health};
  EXPECT_EQ(ring.pick(crc32("x"), c, -1), -1);
  EXPECT_FALSE(c.usable(0, nullptr));
}

TEST(BalancerRing, RetryAvoidsThePreviousTarget) {
  auto targets = targets_of({{"a", 100}, {"b", 100}});
  Ring ring = Ring::build(targets, 10000);
  Candidates c{&targets, nullptr};
  for (int i = 0; i < 100; ++i) {
    uint32_t h = crc32(fmt::format("k{}", i));
    int first = ring.pick(h, c, -1);
    ASSERT_GE(first, 0);
    int retry = ring.pick(h, c, first);
    EXPECT_NE(retry, first);
    EXPECT_GE(retry, 0);
  }
  // The only one left is still used.
  auto one = targets_of({{"a", 100}});
  Ring single = Ring::build(one, 10000);
  Candidates c1{&one, nullptr};
  EXPECT_EQ(single.pick(crc32("k"), c1, 0), 0);
}

TEST(BalancerCandidates, Threshold) {
  auto targets = targets_of({{"a", 100}, {"b", 100}, {"c", 100}, {"d", 100}});
  health::TargetHealth ha("u", "a"), hb("u", "b"), hc("u", "c"), hd("u", "d");
  std::vector<health::TargetHealth*> health = {&ha, &hb, &hc, &hd};
  Candidates c{&targets, &health};
  ha.set(false);
  int count = 0;
  EXPECT_TRUE(c.usable(75, &count));
  EXPECT_EQ(count, 3);
  hb.set(false);
  EXPECT_FALSE(c.usable(75, &count));
  EXPECT_TRUE(c.usable(50, &count));
}

TEST(BalancerHash, CookieAndQueryParsing) {
  std::string_view v;
  EXPECT_TRUE(find_cookie("a=1; session=xyz ; b=2", "session", &v));
  EXPECT_EQ(v, "xyz");
  EXPECT_TRUE(find_cookie("SESSION=up", "session", &v));  // nginx: names without case
  EXPECT_FALSE(find_cookie("sessionx=1; flag", "session", &v));

  auto query_hash = [](std::string_view q, std::string_view name, uint32_t* out) {
    Crc32 c;
    bool found = hash_query_arg(q, name, &c);
    *out = c.value();
    return found;
  };
  uint32_t h = 0;
  EXPECT_TRUE(query_hash("?x=1&user=a%20b", "user", &h));
  EXPECT_EQ(h, crc32("a b"));
  EXPECT_TRUE(query_hash("?user=z&user=b", "user", &h));
  EXPECT_EQ(h, crc32("b,z"));
  EXPECT_TRUE(query_hash("?user", "user", &h));
  EXPECT_EQ(h, crc32("true"));
  EXPECT_FALSE(query_hash("?users=1", "user", &h));
  EXPECT_FALSE(query_hash("", "user", &h));
}

TEST(BalancerHash, PrimaryThenFallback) {
  sb::config::Upstream u;
  u.algorithm = "consistent-hashing";
  u.hash_on = "header";
  u.hash_on_header = "X-User";
  u.hash_fallback = "ip";
  Plan plan = make_plan(u);
  sb::http::MessageHead head;
  head.add_field("x-user", "alice");
  head.add_field("X-User", "bob");
  HashFacts f;
  f.head = &head;
  f.client_ip = "10.0.0.7";
  uint32_t h = 0;
  bool cookie_missing = true;
  ASSERT_TRUE(hash_request(u, plan, f, &h, &cookie_missing));
  EXPECT_FALSE(cookie_missing);
  EXPECT_EQ(h, crc32("alice, bob"));  // several fields: one value joined with ", "

  sb::http::MessageHead empty;
  f.head = &empty;
  ASSERT_TRUE(hash_request(u, plan, f, &h, &cookie_missing));
  EXPECT_EQ(h, crc32("10.0.0.7"));

  u.hash_fallback = "none";
  plan = make_plan(u);
  EXPECT_FALSE(hash_request(u, plan, f, &h, &cookie_missing));
  EXPECT_FALSE(cookie_missing);

  u.hash_on = "cookie";
  u.hash_on_cookie = "sticky";
  plan = make_plan(u);
  EXPECT_FALSE(hash_request(u, plan, f, &h, &cookie_missing));
  EXPECT_TRUE(cookie_missing);
  sb::http::MessageHead with_cookie;
  with_cookie.add_field("Cookie", "other=1; sticky=abc");
  f.head = &with_cookie;
  ASSERT_TRUE(hash_request(u, plan, f, &h, &cookie_missing));
  EXPECT_EQ(h, crc32("abc"));

  u.hash_on = "consumer";
  u.hash_fallback = "none";
  plan = make_plan(u);
  EXPECT_FALSE(hash_request(u, plan, f, &h, &cookie_missing));
  f.credential_id = "cred-1";
  ASSERT_TRUE(hash_request(u, plan, f, &h, &cookie_missing));
  EXPECT_EQ(h, crc32("cred-1"));
  f.consumer_id = "consumer-1";
  ASSERT_TRUE(hash_request(u, plan, f, &h, &cookie_missing));
  EXPECT_EQ(h, crc32("consumer-1"));
}

TEST(BalancerLeastConnections, PicksFewestPerWeightAndCounts) {
  auto targets = targets_of({{"a", 100}, {"b", 100}});
  auto a = std::make_shared<TargetLoad>(), b = std::make_shared<TargetLoad>();
  std::shared_ptr<TargetLoad> loads[] = {a, b};
  Candidates c{&targets, nullptr};
  LoadClaim busy(a);
  EXPECT_EQ(a->in_flight, 1);
  for (uint32_t r = 0; r < 4; ++r) EXPECT_EQ(pick_least_connections(c, loads, -1, r), 1);
  {
    LoadClaim one(b), two(b);
    EXPECT_EQ(pick_least_connections(c, loads, -1, 0), 0);
    LoadClaim moved = std::move(two);
    EXPECT_EQ(b->in_flight, 2);
  }
  EXPECT_EQ(b->in_flight, 0);  // released however the claims ended
  busy.release();
  busy.release();
  EXPECT_EQ(a->in_flight, 0);
  // A retry moves on even to a busier target.
  LoadClaim again(b);
  EXPECT_EQ(pick_least_connections(c, loads, 0, 0), 1);
  again = LoadClaim();
  EXPECT_EQ(b->in_flight, 0);

  // Weights: (in flight + 1) / weight, so a 3x target carries 3x the requests.
  auto weighted = targets_of({{"light", 100}, {"heavy", 300}});
  Candidates cw{&weighted, nullptr};
  std::shared_ptr<TargetLoad> wl[] = {std::make_shared<TargetLoad>(),
                                      std::make_shared<TargetLoad>()};
  std::vector<LoadClaim> claims;
  for (uint32_t i = 0; i < 40; ++i) {
    int pick = pick_least_connections(cw, wl, -1, i);
    ASSERT_GE(pick, 0);
    claims.emplace_back(wl[pick]);
  }
  EXPECT_EQ(wl[0]->in_flight, 10);
  EXPECT_EQ(wl[1]->in_flight, 30);

  // Unhealthy targets are skipped.
  health::TargetHealth hl("u", "light"), hh("u", "heavy");
  std::vector<health::TargetHealth*> health = {&hl, &hh};
  hh.set(false);
  Candidates ch{&weighted, &health};
  EXPECT_EQ(pick_least_connections(ch, wl, -1, 0), 0);
}

TEST(BalancerLatency, LowestAverageWinsAndDecays) {
  auto targets = targets_of({{"a", 100}, {"b", 100}});
  auto a = std::make_shared<TargetLoad>(), b = std::make_shared<TargetLoad>();
  std::shared_ptr<TargetLoad> loads[] = {a, b};
  Candidates c{&targets, nullptr};
  a->observe(200, 1000);
  b->observe(20, 1000);
  EXPECT_EQ(pick_latency(c, loads, -1, 1000), 1);
  EXPECT_EQ(pick_latency(c, loads, 1, 1000), 0);  // a retry moves on
  // b turns slow: its average follows, by time (Kong's 10 s decay), not by count.
  for (uint64_t t = 2000; t <= 20000; t += 1000) b->observe(500, t);
  EXPECT_GT(b->ewma_ms, 400);
  EXPECT_EQ(pick_latency(c, loads, -1, 20000), 0);
  // An idle average decays towards 0, so a long-unused target is tried again.
  EXPECT_LT(a->score(1000 + 60000), 1.0);
}

TEST(BalancerWorkerLoads, KeptAcrossGenerationsPerTarget) {
  sb::config::Config one;
  sb::config::Upstream u;
  u.id = "u1";
  u.name = "up";
  u.algorithm = "least-connections";
  u.targets = targets_of({{"a", 100}, {"b", 100}});
  one.upstreams.push_back(u);
  sb::config::Upstream rr = u;
  rr.id = "u2";
  rr.algorithm = "round-robin";
  one.upstreams.push_back(rr);
  WorkerLoads loads;
  loads.bind(one, &one);
  ASSERT_NE(loads.of(0), nullptr);
  EXPECT_EQ(loads.of(1), nullptr);  // round-robin keeps no loads
  LoadClaim in_flight(loads.of(0)[1]);
  sb::config::Config two = one;
  two.upstreams[0].targets = targets_of({{"b", 100}, {"c", 100}});
  loads.bind(two, &two);
  EXPECT_EQ(loads.bound(), &two);
  EXPECT_EQ(loads.of(0)[0]->in_flight, 1);  // b kept its count
  EXPECT_EQ(loads.of(0)[1]->in_flight, 0);
  in_flight.release();
  EXPECT_EQ(loads.of(0)[0]->in_flight, 0);
}

}  // namespace
}  // namespace sb::proxy::balancer
