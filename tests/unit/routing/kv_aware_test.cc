// kv_aware: GIE-style queue and KV scores, brought up to date with the gateway's own dispatches.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "routing/dispatch_accounting.h"
#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::make_equal_set;
using testing::make_policy;
using testing::pick_once;
using testing::ScriptedRandom;

void scrape(const BackendSet& set, const std::vector<std::uint32_t>& waiting, const std::vector<double>& kv,
            Nanos at = 0) {
  for (std::uint32_t i = 0; i < set.size(); ++i) {
    set[i].state().scraped.num_waiting.store(waiting[i]);
    set[i].state().scraped.kv_usage.store(kv[i]);
    set[i].state().scraped.scraped_at.store(at);
  }
}

TEST(KvAwareTest, ScoresQueueAndKvLikeGie) {
  auto set = make_equal_set(3);
  auto policy = make_policy("kv_aware");
  // queue (4 - q) / 4 = {1, 0, 0.5}; 1 - kv = {0.25, 0.875, 0.75}: totals {2.5, 1.75, 2.5}: 0 and 2 tie
  scrape(*set, {0, 4, 2}, {0.75, 0.125, 0.25});
  ScriptedRandom r;
  r.then(0, 2);  // the tie: the second (2) replaces the first
  EXPECT_EQ(*pick_once(*policy, *set, r, RequestFeatures{}), 2u);
  scrape(*set, {0, 4, 2}, {0.75, 0.125, 0.125});  // 2.75 for backend 2: no tie
  EXPECT_EQ(*pick_once(*policy, *set, r, RequestFeatures{}), 2u);
}

TEST(KvAwareTest, DispatchesSinceTheScrapeCount) {
  auto set = make_equal_set(2);
  auto policy = make_policy("kv_aware", {{"default_kv_capacity_tokens", "100000"}});
  const DispatchAccounting acc;
  scrape(*set, {0, 0}, {0.30, 0.35});
  ScriptedRandom r;
  EXPECT_EQ(*pick_once(*policy, *set, r, RequestFeatures{}), 0u);  // sees the scrape first
  RequestFeatures f;
  f.prompt_tokens = 10000;  // +0.1 of KV on backend 0 since the scrape: 0.40 against 0.35
  auto t = acc.dispatch(set, 0, f, 0, nullptr);
  // Backend 0 also has a request without a first token now: queue {1, 0} -> scores {0 + 1.2, 2 + 1.3}.
  EXPECT_EQ(*pick_once(*policy, *set, r, RequestFeatures{}), 1u);
  acc.complete(t, Outcome::kOk, 1, 0, nullptr);
}

TEST(KvAwareTest, StaleScrapesAreIgnored) {
  auto set = make_equal_set(2);
  auto policy = make_policy("kv_aware");
  scrape(*set, {9, 0}, {0.9, 0.0}, -5 * kNanosPerSecond);
  ScriptedRandom r;
  r.then(1, 2);  // no usable metrics: both score alike; keep the first
  EXPECT_EQ(*pick_once(*policy, *set, r, RequestFeatures{}), 0u);
}

}  // namespace
}  // namespace kvroute::routing
