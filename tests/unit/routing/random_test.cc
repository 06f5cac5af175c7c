#include <gtest/gtest.h>

#include <vector>

#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::make_equal_set;
using testing::make_policy;
using testing::make_set;
using testing::pick_once;
using testing::ScriptedRandom;

TEST(RandomPolicyTest, ReturnsTheDrawnBackend) {
  auto set = make_equal_set(5);
  auto policy = make_policy("random");
  ScriptedRandom r;
  r.then(3, 5).then(0, 5).then(4, 5);
  EXPECT_EQ(*pick_once(*policy, *set, r), 3u);
  EXPECT_EQ(*pick_once(*policy, *set, r), 0u);
  EXPECT_EQ(*pick_once(*policy, *set, r), 4u);
}

TEST(RandomPolicyTest, RedrawsWhenTheDrawIsNotACandidate) {
  auto set = make_equal_set(5);
  auto policy = make_policy("random");
  (*set)[2].state().set_health_flag(kHealthCheckFailed, true);
  ScriptedRandom r;
  r.then(1, 5).then(2, 5).then(4, 5);  // 1 excluded, 2 unhealthy, 4 fine
  EXPECT_EQ(*pick_once(*policy, *set, r, {}, {1}), 4u);
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(RandomPolicyTest, FallsBackToDrawingAmongCandidatesAfterRepeatedMisses) {
  auto set = make_equal_set(4);
  auto policy = make_policy("random");
  ScriptedRandom r;
  for (int i = 0; i < 8; ++i) r.then(0, 4);  // eight misses on the excluded backend 0
  r.then(1, 3);                              // then the second of the three candidates {1, 2, 3}
  EXPECT_EQ(*pick_once(*policy, *set, r, {}, {0}), 2u);
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(RandomPolicyTest, WeightedDrawMapsOntoCumulativeWeights) {
  auto set = make_set({1, 3, 2});
  auto policy = make_policy("random", {{"weighted", "true"}});
  ScriptedRandom r;
  r.then(0, 6).then(1, 6).then(3, 6).then(4, 6).then(5, 6);
  EXPECT_EQ(*pick_once(*policy, *set, r), 0u);
  EXPECT_EQ(*pick_once(*policy, *set, r), 1u);
  EXPECT_EQ(*pick_once(*policy, *set, r), 1u);
  EXPECT_EQ(*pick_once(*policy, *set, r), 2u);
  EXPECT_EQ(*pick_once(*policy, *set, r), 2u);
}

TEST(RandomPolicyTest, UniformOverManyPicks) {
  auto set = make_set({1, 5, 1, 1});  // weights ignored by default
  auto policy = make_policy("random");
  SeededRandom r(42);
  std::vector<int> counts(4);
  constexpr int kPicks = 200000;
  for (int i = 0; i < kPicks; ++i) ++counts[*pick_once(*policy, *set, r)];
  for (int c : counts) EXPECT_NEAR(c / double(kPicks), 0.25, 0.01);
}

TEST(RandomPolicyTest, WeightedProportionsOverManyPicks) {
  auto set = make_set({1, 5, 2, 2});
  auto policy = make_policy("random", {{"weighted", "yes"}});
  SeededRandom r(43);
  std::vector<int> counts(4);
  constexpr int kPicks = 200000;
  for (int i = 0; i < kPicks; ++i) ++counts[*pick_once(*policy, *set, r)];
  const double expected[] = {0.1, 0.5, 0.2, 0.2};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(counts[i] / double(kPicks), expected[i], 0.01);
}

TEST(RandomPolicyTest, WeightedStaysProportionalAmongRemainingCandidates) {
  auto set = make_set({1, 5, 2, 2});
  auto policy = make_policy("random", {{"weighted", "true"}});
  SeededRandom r(44);
  std::vector<int> counts(4);
  constexpr int kPicks = 100000;
  for (int i = 0; i < kPicks; ++i) ++counts[*pick_once(*policy, *set, r, {}, {1})];
  EXPECT_EQ(counts[1], 0);
  EXPECT_NEAR(counts[0] / double(kPicks), 0.2, 0.01);
  EXPECT_NEAR(counts[2] / double(kPicks), 0.4, 0.01);
}

}  // namespace
}  // namespace kvroute::routing
