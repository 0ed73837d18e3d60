// Upstream health checks: lua-resty-healthcheck's counters and thresholds, the balancer's
// choice among healthy targets, and state carried across config generations.
#include "proxy/health.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proxy/snapshot.h"
#include "proxy/upstream.h"

namespace sb::proxy::health {
namespace {

using sb::config::Healthchecks;
using sb::config::Target;

Healthchecks passive(int http_failures, int tcp_failures, int timeouts, int successes) {
  Healthchecks h;
  h.passive.unhealthy.http_failures = http_failures;
  h.passive.unhealthy.tcp_failures = tcp_failures;
  h.passive.unhealthy.timeouts = timeouts;
  h.passive.healthy.successes = successes;
  return h;
}

TEST(HealthWord, PacksAndUnpacks) {
  Word w;
  w.state = State::mostly_unhealthy;
  w.counters[0] = 1;
  w.counters[1] = 2;
  w.counters[2] = 255;
  w.counters[3] = 4;
  Word back = Word::unpack(w.pack());
  EXPECT_EQ(back.state, State::mostly_unhealthy);
  EXPECT_EQ(back.counters[0], 1);
  EXPECT_EQ(back.counters[1], 2);
  EXPECT_EQ(back.counters[2], 255);
  EXPECT_EQ(back.counters[3], 4);
}

TEST(HealthWord, FailuresReachingTheLimitMarkUnhealthy) {
  Word w;
  w = apply(w, Kind::http, 3);
  EXPECT_EQ(w.state, State::mostly_healthy);  // still counts as healthy
  EXPECT_TRUE(is_healthy(w.state));
  w = apply(w, Kind::http, 3);
  EXPECT_EQ(w.counters[1], 2);
  w = apply(w, Kind::http, 3);
  EXPECT_EQ(w.state, State::unhealthy);
  EXPECT_FALSE(is_healthy(w.state));
  // A fully unhealthy target does not count more failures.
  Word again = apply(w, Kind::http, 3);
  EXPECT_EQ(again.pack(), w.pack());
}

TEST(HealthWord, ZeroLimitIsDisabled) {
  Word w;
  for (int i = 0; i < 10; ++i) w = apply(w, Kind::timeout, 0);
  EXPECT_EQ(w.pack(), Word().pack());
}

TEST(HealthWord, SuccessResetsFailureCountersAndFailureResetsSuccesses) {
  Word w;
  w = apply(w, Kind::http, 3);
  w = apply(w, Kind::tcp, 3);
  w = apply(w, Kind::timeout, 3);
  EXPECT_EQ(w.counters[1] + w.counters[2] + w.counters[3], 3);
  w = apply(w, Kind::success, 2);  // mostly healthy: successes count
  EXPECT_EQ(w.counters[1], 0);
  EXPECT_EQ(w.counters[2], 0);
  EXPECT_EQ(w.counters[3], 0);
  EXPECT_EQ(w.counters[0], 1);
  // Two more http failures are not enough: the earlier one was forgotten.
  w = apply(w, Kind::http, 3);
  EXPECT_EQ(w.counters[0], 0);  // and the success counter is reset
  w = apply(w, Kind::http, 3);
  EXPECT_TRUE(is_healthy(w.state));
  w = apply(w, Kind::http, 3);
  EXPECT_FALSE(is_healthy(w.state));
}

TEST(HealthWord, SuccessesBringItBack) {
  Word w;
  w.state = State::unhealthy;
  w = apply(w, Kind::success, 3);
  EXPECT_EQ(w.state, State::mostly_unhealthy);
  EXPECT_FALSE(is_healthy(w.state));
  w = apply(w, Kind::success, 3);
  w = apply(w, Kind::success, 3);
  EXPECT_EQ(w.state, State::healthy);
  // Healthy targets do not count successes.
  EXPECT_EQ(apply(w, Kind::success, 3).pack(), w.pack());
}

TEST(HealthWord, KindsCountSeparately) {
  Word w;
  w = apply(w, Kind::tcp, 2);
  w = apply(w, Kind::timeout, 2);
  EXPECT_TRUE(is_healthy(w.state));
  w = apply(w, Kind::tcp, 2);
  EXPECT_FALSE(is_healthy(w.state));
}

TEST(HealthReport, PassiveStatusLists) {
  TargetHealth t("u", "a:1");
  Healthchecks h = passive(2, 0, 0, 1);
  report_status(t, h, 404);  // in neither list: ignored
  report_status(t, h, 404);
  EXPECT_TRUE(t.healthy());
  EXPECT_EQ(t.word().counters[1], 0);
  report_status(t, h, 500);
  EXPECT_TRUE(t.healthy());
  report_status(t, h, 503);
  EXPECT_FALSE(t.healthy());
  report_status(t, h, 200);  // successes = 1
  EXPECT_TRUE(t.healthy());
}

TEST(HealthReport, PassiveFailureKinds) {
  TargetHealth t("u", "a:1");
  Healthchecks h = passive(0, 1, 0, 0);
  report_failure(t, h, failure_kind(UpstreamFailure::read_timeout));  // timeouts disabled
  EXPECT_TRUE(t.healthy());
  report_failure(t, h, failure_kind(UpstreamFailure::connect_refused));
  EXPECT_FALSE(t.healthy());
  EXPECT_EQ(failure_kind(UpstreamFailure::connect_timeout), Kind::timeout);
  EXPECT_EQ(failure_kind(UpstreamFailure::reset), Kind::tcp);
}

TEST(HealthReport, ActiveUsesActiveThresholds) {
  TargetHealth t("u", "a:1");
  Healthchecks h;
  h.active.healthy.interval = 1;
  h.active.unhealthy.http_failures = 1;
  h.active.healthy.successes = 2;
  report_active(t, h, Kind::http, 404);  // 404 is unhealthy for active checks by default
  EXPECT_FALSE(t.healthy());
  report_active(t, h, Kind::http, 200);
  EXPECT_FALSE(t.healthy());
  report_active(t, h, Kind::http, 302);
  EXPECT_TRUE(t.healthy());
  report_active(t, h, Kind::timeout, 0);  // active timeouts disabled
  EXPECT_TRUE(t.healthy());
}

TEST(HealthReport, SetByHandClearsCounters) {
  TargetHealth t("u", "a:1");
  Healthchecks h = passive(3, 0, 0, 0);
  report_status(t, h, 500);
  report_status(t, h, 500);
  t.set(false);
  EXPECT_FALSE(t.healthy());
  t.set(true);
  EXPECT_EQ(t.word().pack(), Word().pack());
  report_status(t, h, 500);
  EXPECT_TRUE(t.healthy());  // the count started over
}

TEST(HealthConfig, EnabledAsKongDecides) {
  Healthchecks h;
  EXPECT_FALSE(enabled(h));
  h.passive.healthy.successes = 5;  // successes alone never mark anything down
  EXPECT_FALSE(enabled(h));
  h.passive.unhealthy.timeouts = 1;
  EXPECT_TRUE(enabled(h));
  Healthchecks a;
  a.active.unhealthy.interval = 0.2;
  EXPECT_TRUE(enabled(a));
  EXPECT_TRUE(active_enabled(a));
}

std::vector<Target> targets(std::vector<int> weights) {
  std::vector<Target> out;
  for (size_t i = 0; i < weights.size(); ++i) {
    Target t;
    t.target = "t" + std::to_string(i) + ":80";
    t.weight = weights[i];
    out.push_back(t);
  }
  return out;
}

std::map<int, int> spread(const std::vector<Target>& ts, const std::vector<TargetHealth*>* h, int n,
                          double threshold = 0) {
  std::vector<int64_t> current(ts.size(), 0);
  std::map<int, int> counts;
  for (int i = 0; i < n; ++i) ++counts[pick(ts, h, current.data(), threshold, -1)];
  return counts;
}

TEST(HealthPick, WeightedRoundRobinWithoutHealth) {
  auto ts = targets({100, 50, 0});
  auto c = spread(ts, nullptr, 30);
  EXPECT_EQ(c[0], 20);
  EXPECT_EQ(c[1], 10);
  EXPECT_EQ(c.count(2), 0u);
}

TEST(HealthPick, SkipsUnhealthyAndKeepsFairnessAmongTheRest) {
  auto ts = targets({100, 100, 50});
  TargetHealth a("u", "t0:80"), b("u", "t1:80"), c("u", "t2:80");
  std::vector<TargetHealth*> h = {&a, &b, &c};
  a.set(false);
  auto counts = spread(ts, &h, 30);
  EXPECT_EQ(counts.count(0), 0u);
  EXPECT_EQ(counts[1], 20);
  EXPECT_EQ(counts[2], 10);
}

TEST(HealthPick, NoneHealthyOrUnderThreshold) {
  auto ts = targets({100, 100, 100, 100});
  TargetHealth a("u", "0"), b("u", "1"), c("u", "2"), d("u", "3");
  std::vector<TargetHealth*> h = {&a, &b, &c, &d};
  std::vector<int64_t> current(4, 0);
  a.set(false);
  b.set(false);
  // 50% available: enough for a 50% threshold, not for 51%.
  EXPECT_GE(pick(ts, &h, current.data(), 50, -1), 2);
  EXPECT_EQ(pick(ts, &h, current.data(), 51, -1), -1);
  c.set(false);
  d.set(false);
  EXPECT_EQ(pick(ts, &h, current.data(), 0, -1), -1);
}

TEST(HealthPick, RetryAvoidsThePreviousTarget) {
  auto ts = targets({100, 1});
  std::vector<int64_t> current(2, 0);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(pick(ts, nullptr, current.data(), 0, 0), 1);
  // The only eligible target is used even if it failed before.
  TargetHealth a("u", "0"), b("u", "1");
  std::vector<TargetHealth*> h = {&a, &b};
  b.set(false);
  EXPECT_EQ(pick(ts, &h, current.data(), 0, 0), 0);
}

std::shared_ptr<Snapshot> snapshot_with(
    std::vector<std::pair<std::string, std::vector<std::string>>> ups, bool checks = true) {
  auto s = std::make_shared<Snapshot>();
  for (auto& [name, list] : ups) {
    sb::config::Upstream u;
    u.name = name;
    if (checks) u.healthchecks.passive.unhealthy.http_failures = 1;
    for (auto& t : list) {
      Target target;
      target.target = t;
      u.targets.push_back(target);
    }
    s->config.upstreams.push_back(u);
  }
  return s;
}

TEST(HealthTable, ReloadKeepsExistingTargetsAndDropsTheRest) {
  Table table;
  auto s1 = snapshot_with({{"api", {"a:1", "b:1"}}, {"other", {"a:1"}}});
  table.update(s1);
  auto b1 = table.binding_for(s1.get());
  ASSERT_TRUE(b1);
  ASSERT_TRUE(b1->upstreams[0].enabled);
  b1->upstreams[0].targets[0]->set(false);              // api a:1 down
  b1->upstreams[0].targets[1]->set(false);              // api b:1 down
  EXPECT_TRUE(b1->upstreams[1].targets[0]->healthy());  // other's a:1 is its own target

  // The new generation drops b:1 and adds c:1; a:1 keeps its state.
  auto s2 = snapshot_with({{"api", {"c:1", "a:1"}}, {"other", {"a:1"}}});
  table.update(s2);
  EXPECT_FALSE(table.binding_for(s1.get()));
  auto b2 = table.binding_for(s2.get());
  ASSERT_TRUE(b2);
  EXPECT_TRUE(b2->upstreams[0].targets[0]->healthy());
  EXPECT_FALSE(b2->upstreams[0].targets[1]->healthy());
  EXPECT_EQ(b2->upstreams[0].targets[1], b1->upstreams[0].targets[0]);
  EXPECT_FALSE(table.find("api", "b:1"));

  // Bringing b:1 back starts it healthy again.
  auto s3 = snapshot_with({{"api", {"a:1", "b:1"}}});
  table.update(s3);
  EXPECT_TRUE(table.find("api", "b:1")->healthy());
  EXPECT_FALSE(table.find("api", "a:1")->healthy());
  EXPECT_FALSE(table.find("other", "a:1"));
  // The old binding still holds what it pointed to.
  EXPECT_FALSE(b1->upstreams[0].targets[1]->healthy());
}

TEST(HealthTable, ChecksOffTracksNothing) {
  Table table;
  auto s = snapshot_with({{"api", {"a:1"}}}, false);
  table.update(s);
  auto b = table.binding_for(s.get());
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->upstreams[0].enabled);
  EXPECT_EQ(b->upstreams[0].targets[0], nullptr);
  EXPECT_FALSE(table.find("api", "a:1"));
}

}  // namespace
}  // namespace sb::proxy::health
