#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::make_equal_set;
using testing::make_policy;
using testing::make_set;
using testing::pick_once;
using testing::ScriptedRandom;
using testing::set_in_flight;

TEST(LeastRequestTest, TakesTheLessLoadedOfTheSampledPair) {
  auto set = make_equal_set(4);
  set_in_flight(*set, {5, 1, 3, 0});
  auto policy = make_policy("least_request");
  ScriptedRandom r;
  r.then(0, 4).then(1, 4);
  EXPECT_EQ(*pick_once(*policy, *set, r), 1u);
  r.then(2, 4).then(0, 4);
  EXPECT_EQ(*pick_once(*policy, *set, r), 2u);
  r.then(2, 4).then(2, 4).then(3, 4);  // a repeated draw is redrawn: the pair is distinct
  EXPECT_EQ(*pick_once(*policy, *set, r), 3u);
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(LeastRequestTest, BreaksTiesWithAnExtraDraw) {
  auto set = make_equal_set(4);
  set_in_flight(*set, {2, 2, 2, 2});
  auto policy = make_policy("least_request");
  ScriptedRandom r;
  r.then(1, 4).then(3, 4).then(0, 2);  // tie: the second tied candidate replaces the first
  EXPECT_EQ(*pick_once(*policy, *set, r), 3u);
  r.then(1, 4).then(3, 4).then(1, 2);  // tie: the first one stays
  EXPECT_EQ(*pick_once(*policy, *set, r), 1u);
}

TEST(LeastRequestTest, ChoiceCountSamplesMoreBackends) {
  auto set = make_equal_set(6);
  set_in_flight(*set, {4, 3, 2, 1, 9, 9});
  auto policy = make_policy("least_request", {{"choice_count", "3"}});
  ScriptedRandom r;
  r.then(0, 6).then(1, 6).then(2, 6);
  EXPECT_EQ(*pick_once(*policy, *set, r), 2u);
}

TEST(LeastRequestTest, FullScanFindsTheMinimum) {
  auto set = make_equal_set(5);
  set_in_flight(*set, {4, 3, 0, 1, 9});
  auto policy = make_policy("least_request", {{"selection", "full_scan"}});
  ScriptedRandom r;  // no draws without ties
  EXPECT_EQ(*pick_once(*policy, *set, r), 2u);
}

TEST(LeastRequestTest, FullScanSpreadsTiesEvenly) {
  auto set = make_equal_set(4);
  set_in_flight(*set, {1, 0, 0, 0});
  auto policy = make_policy("least_request", {{"selection", "full_scan"}});
  SeededRandom r(5);
  std::vector<int> counts(4);
  constexpr int kPicks = 120000;
  for (int i = 0; i < kPicks; ++i) ++counts[*pick_once(*policy, *set, r)];
  EXPECT_EQ(counts[0], 0);
  for (int i = 1; i < 4; ++i) EXPECT_NEAR(counts[i] / double(kPicks), 1.0 / 3, 0.01);
}

TEST(LeastRequestTest, PrefersTheLessLoadedOverManyPicks) {
  auto set = make_equal_set(4);
  set_in_flight(*set, {0, 10, 10, 10});
  auto policy = make_policy("least_request");
  SeededRandom r(11);
  std::vector<int> counts(4);
  constexpr int kPicks = 120000;
  for (int i = 0; i < kPicks; ++i) ++counts[*pick_once(*policy, *set, r)];
  // Backend 0 wins whenever it is in the pair: 1 - C(3,2)/C(4,2) = 1/2; the others share the rest.
  EXPECT_NEAR(counts[0] / double(kPicks), 0.5, 0.01);
  for (int i = 1; i < 4; ++i) EXPECT_NEAR(counts[i] / double(kPicks), 1.0 / 6, 0.01);
}

/// Closed loop over `set`: each pick adds a request; once `concurrency` are running, a uniformly
/// random running request finishes after every pick (memoryless service, same for every backend).
/// Returns the mean over picks of each backend's in-flight count, and the mean max-min spread.
struct LoopStats {
  std::vector<double> mean_load;
  double mean_spread = 0;
};

LoopStats closed_loop(Policy& policy, const BackendSet& set, std::size_t concurrency, int picks, std::uint64_t seed) {
  SeededRandom r(seed);
  std::vector<std::uint32_t> running;
  LoopStats out;
  out.mean_load.assign(set.size(), 0.0);
  for (int i = 0; i < picks; ++i) {
    const auto b = *pick_once(policy, set, r);
    set[b].state().accounting.in_flight.fetch_add(1);
    running.push_back(b);
    if (running.size() > concurrency) {
      const auto k = r.uniform(running.size());
      set[running[k]].state().accounting.in_flight.fetch_sub(1);
      running[k] = running.back();
      running.pop_back();
    }
    std::int64_t lo = INT64_MAX, hi = 0;
    for (std::uint32_t j = 0; j < set.size(); ++j) {
      const auto load = set[j].state().in_flight();
      out.mean_load[j] += static_cast<double>(load) / picks;
      lo = std::min(lo, load);
      hi = std::max(hi, load);
    }
    out.mean_spread += static_cast<double>(hi - lo) / picks;
  }
  for (auto b : running) set[b].state().accounting.in_flight.fetch_sub(1);
  return out;
}

TEST(LeastRequestTest, KeepsLiveLoadMuchTighterThanRandom) {
  auto set = make_equal_set(8);
  auto least = make_policy("least_request");
  auto random = make_policy("random");
  auto full = make_policy("least_request", {{"selection", "full_scan"}});
  const double spread_least = closed_loop(*least, *set, 64, 100000, 12).mean_spread;
  const double spread_random = closed_loop(*random, *set, 64, 100000, 12).mean_spread;
  const double spread_full = closed_loop(*full, *set, 64, 100000, 12).mean_spread;
  EXPECT_LT(spread_least, 0.5 * spread_random) << spread_least << " vs " << spread_random;
  EXPECT_LE(spread_full, spread_least);
  EXPECT_LT(spread_full, 2.0);  // a full scan keeps every backend within about one request
}

TEST(LeastRequestTest, HonoursWeightsWhenIdle) {
  auto set = make_set({3, 1});
  auto policy = make_policy("least_request");
  ScriptedRandom r;  // the weighted path draws nothing
  std::vector<int> counts(2);
  for (int i = 0; i < 100000; ++i) ++counts[*pick_once(*policy, *set, r)];
  EXPECT_NEAR(counts[0] / 100000.0, 0.75, 0.001);
}

TEST(LeastRequestTest, WeightedSharesFollowWeightOverLoadPlusOne) {
  auto set = make_set({2, 1});
  set_in_flight(*set, {3, 0});  // dynamic weights 2/4 and 1/1: shares 1/3 and 2/3
  auto policy = make_policy("least_request");
  ScriptedRandom r;
  std::vector<int> counts(2);
  for (int i = 0; i < 90000; ++i) ++counts[*pick_once(*policy, *set, r)];
  EXPECT_NEAR(counts[0] / 90000.0, 1.0 / 3, 0.001);

  auto squared = make_policy("least_request", {{"active_request_bias", "2"}});  // 2/16 and 1/1
  counts.assign(2, 0);
  for (int i = 0; i < 90000; ++i) ++counts[*pick_once(*squared, *set, r)];
  EXPECT_NEAR(counts[0] / 90000.0, (2.0 / 16) / (2.0 / 16 + 1), 0.001);

  auto blind = make_policy("least_request", {{"active_request_bias", "0"}});  // plain weights
  counts.assign(2, 0);
  for (int i = 0; i < 90000; ++i) ++counts[*pick_once(*blind, *set, r)];
  EXPECT_NEAR(counts[0] / 90000.0, 2.0 / 3, 0.001);
}

TEST(LeastRequestTest, WeightedLiveLoadSettlesWhereSharesMatchDynamicWeights) {
  // Picks are shared in proportion to w / (load + 1) and, with the same service for all, loads are in
  // proportion to picks: the loads settle where load_a (load_a + 1) / (load_b (load_b + 1)) = w_a / w_b,
  // so with bias 1 the heavier backend carries more, but less than its weight ratio (about sqrt(3)
  // times here, as with Envoy's EDF). bias 0 ignores load and splits exactly by weight.
  auto set = make_set({3, 1});
  auto biased = make_policy("least_request");
  const auto with_bias = closed_loop(*biased, *set, 40, 100000, 13).mean_load;
  const double a = with_bias[0], b = with_bias[1];
  EXPECT_NEAR(a * (a + 1) / (b * (b + 1)), 3.0, 0.5);
  EXPECT_GT(a / b, 1.4);

  auto blind = make_policy("least_request", {{"active_request_bias", "0"}});
  const auto without = closed_loop(*blind, *set, 40, 100000, 14).mean_load;
  EXPECT_NEAR(without[0] / without[1], 3.0, 0.3);
}

}  // namespace
}  // namespace kvroute::routing
