#include <gtest/gtest.h>

#include <vector>

#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::make_equal_set;
using testing::make_policy;
using testing::pick_once;
using testing::ScriptedRandom;

TEST(RoundRobinTest, StartsAtARandomBackendThenCyclesInOrder) {
  auto set = make_equal_set(4);
  auto policy = make_policy("round_robin");
  ScriptedRandom r;
  r.then(2, 4);  // the only draw: the starting position
  std::vector<std::uint32_t> got;
  for (int i = 0; i < 9; ++i) got.push_back(*pick_once(*policy, *set, r));
  EXPECT_EQ(got, (std::vector<std::uint32_t>{2, 3, 0, 1, 2, 3, 0, 1, 2}));
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(RoundRobinTest, SkipsExcludedAndUnhealthyWithoutLosingItsPlace) {
  auto set = make_equal_set(4);
  auto policy = make_policy("round_robin");
  ScriptedRandom r;
  r.then(0, 4);
  EXPECT_EQ(*pick_once(*policy, *set, r), 0u);
  EXPECT_EQ(*pick_once(*policy, *set, r, {}, {1}), 2u);  // retry excluding 1
  (*set)[3].state().set_health_flag(kEjected, true);
  EXPECT_EQ(*pick_once(*policy, *set, r), 0u);  // 3 is ejected
  EXPECT_EQ(*pick_once(*policy, *set, r), 1u);
}

TEST(RoundRobinTest, IgnoresWeightsAndSpreadsEvenly) {
  auto set = testing::make_set({5, 1, 1});
  auto policy = make_policy("round_robin");
  SeededRandom r(7);
  std::vector<int> counts(3);
  for (int i = 0; i < 120000; ++i) ++counts[*pick_once(*policy, *set, r)];
  for (int c : counts) EXPECT_EQ(c, 40000);
}

TEST(RoundRobinTest, FollowsANewSnapshot) {
  auto v1 = make_equal_set(3);
  auto policy = make_policy("round_robin");
  ScriptedRandom r;
  r.then(1, 3);
  EXPECT_EQ(*pick_once(*policy, *v1, r), 1u);
  auto v2 = make_equal_set(2);
  for (int i = 0; i < 10; ++i) EXPECT_LT(*pick_once(*policy, *v2, r), 2u);
}

}  // namespace
}  // namespace kvroute::routing
