#include <gtest/gtest.h>

#include <vector>

#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::make_equal_set;
using testing::make_policy;
using testing::pick_once;
using testing::ScriptedRandom;
using testing::set_in_flight;

TEST(PowerOfTwoTest, PicksLessLoadedOfTwoSamples) {
  auto set = make_equal_set(3);
  set_in_flight(*set, {0, 5, 10});
  auto policy = make_policy("power_of_two");
  ScriptedRandom r;
  r.then(2, 3).then(1, 3);
  EXPECT_EQ(*pick_once(*policy, *set, r), 1u);
  r.then(1, 3).then(0, 3);
  EXPECT_EQ(*pick_once(*policy, *set, r), 0u);
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(PowerOfTwoTest, TieIsBrokenByADraw) {
  auto set = make_equal_set(3);
  set_in_flight(*set, {4, 4, 0});
  auto policy = make_policy("power_of_two");
  ScriptedRandom r;
  r.then(0, 3).then(1, 3).then(0, 2);
  EXPECT_EQ(*pick_once(*policy, *set, r), 1u);
  r.then(0, 3).then(1, 3).then(1, 2);
  EXPECT_EQ(*pick_once(*policy, *set, r), 0u);
}

TEST(PowerOfTwoTest, NeverPicksTheMostLoadedOfThree) {
  auto set = make_equal_set(3);
  set_in_flight(*set, {0, 5, 10});
  auto policy = make_policy("power_of_two");
  SeededRandom r(3);
  std::vector<int> counts(3);
  constexpr int kPicks = 150000;
  for (int i = 0; i < kPicks; ++i) ++counts[*pick_once(*policy, *set, r)];
  EXPECT_EQ(counts[2], 0);
  EXPECT_NEAR(counts[0] / double(kPicks), 2.0 / 3, 0.01);  // in 2 of the 3 possible pairs
  EXPECT_NEAR(counts[1] / double(kPicks), 1.0 / 3, 0.01);
}

TEST(PowerOfTwoTest, EqualLoadsSpreadUniformly) {
  auto set = make_equal_set(5);
  auto policy = make_policy("power_of_two");
  SeededRandom r(4);
  std::vector<int> counts(5);
  constexpr int kPicks = 200000;
  for (int i = 0; i < kPicks; ++i) ++counts[*pick_once(*policy, *set, r)];
  for (int c : counts) EXPECT_NEAR(c / double(kPicks), 0.2, 0.01);
}

TEST(PowerOfTwoTest, TwoBackendsCompareBothWithoutSampling) {
  auto set = make_equal_set(2);
  set_in_flight(*set, {3, 1});
  auto policy = make_policy("power_of_two");
  ScriptedRandom r;  // no draws: both are compared
  EXPECT_EQ(*pick_once(*policy, *set, r), 1u);
}

TEST(PowerOfTwoTest, SingleCandidateIsReturned) {
  auto set = make_equal_set(4);
  set_in_flight(*set, {0, 0, 50, 0});
  auto policy = make_policy("power_of_two");
  SeededRandom r(5);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(*pick_once(*policy, *set, r, {}, {0, 1, 3}), 2u);
}

}  // namespace
}  // namespace kvroute::routing
