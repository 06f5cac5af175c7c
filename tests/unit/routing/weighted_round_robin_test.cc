#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "routing/dispatch_accounting.h"
#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::make_policy;
using testing::make_set;
using testing::pick_once;
using testing::ScriptedRandom;

std::string sequence(Policy& policy, const BackendSet& set, int picks) {
  ScriptedRandom r;  // smooth WRR draws nothing: an exhausted script would fail the test
  std::string out;
  for (int i = 0; i < picks; ++i) out += static_cast<char>('a' + *pick_once(policy, set, r));
  return out;
}

TEST(WeightedRoundRobinTest, SmoothSequenceForWeights511) {
  auto set = make_set({5, 1, 1});
  auto policy = make_policy("weighted_round_robin");
  EXPECT_EQ(sequence(*policy, *set, 7), "aabacaa");
  EXPECT_EQ(sequence(*policy, *set, 14), "aabacaaaabacaa");
}

TEST(WeightedRoundRobinTest, EqualWeightsIsPlainRoundRobin) {
  auto set = make_set({2, 2, 2});
  auto policy = make_policy("weighted_round_robin");
  EXPECT_EQ(sequence(*policy, *set, 6), "abcabc");
}

TEST(WeightedRoundRobinTest, ProportionsAreExactOverWholeCycles) {
  auto set = make_set({3, 2, 1, 4});
  auto policy = make_policy("weighted_round_robin");
  SeededRandom r(1);
  std::vector<int> counts(4);
  constexpr int kPicks = 100000;  // a multiple of the total weight, 10
  for (int i = 0; i < kPicks; ++i) ++counts[*pick_once(*policy, *set, r)];
  EXPECT_EQ(counts, (std::vector<int>{30000, 20000, 10000, 40000}));
}

TEST(WeightedRoundRobinTest, ExcludedBackendSharesOutItsTurns) {
  auto set = make_set({5, 1, 1});
  auto policy = make_policy("weighted_round_robin");
  ScriptedRandom r;
  std::vector<int> counts(3);
  for (int i = 0; i < 600; ++i) ++counts[*pick_once(*policy, *set, r, {}, {0})];
  EXPECT_EQ(counts, (std::vector<int>{0, 300, 300}));
}

TEST(WeightedRoundRobinTest, ErrorsLowerEffectiveWeightWhichRecovers) {
  auto set = make_set({4, 4});
  auto policy = make_policy("weighted_round_robin", {{"error_weight_drop", "1.0"}});
  const DispatchAccounting acc;
  EXPECT_EQ(sequence(*policy, *set, 1), "a");
  auto t = acc.dispatch(set, 0, {}, 0, policy.get());
  acc.complete(t, Outcome::kError, 0, 1, policy.get());
  // Backend 0's effective weight fell to 0 and regains 1 per pick: b gets the next four picks,
  // then the two alternate again.
  EXPECT_EQ(sequence(*policy, *set, 8), "bbbbabab");
  // Once recovered, the split is even again.
  std::string later = sequence(*policy, *set, 800);
  EXPECT_EQ(std::count(later.begin(), later.end(), 'a'), 400);
}

TEST(WeightedRoundRobinTest, ErrorDropIsOffByDefault) {
  auto set = make_set({1, 1});
  auto policy = make_policy("weighted_round_robin");
  const DispatchAccounting acc;
  EXPECT_EQ(sequence(*policy, *set, 1), "a");
  auto t = acc.dispatch(set, 0, {}, 0, policy.get());
  acc.complete(t, Outcome::kError, 0, 1, policy.get());
  EXPECT_EQ(sequence(*policy, *set, 4), "baba");
}

}  // namespace
}  // namespace kvroute::routing
