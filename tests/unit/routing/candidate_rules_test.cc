// The candidate rules of PickContext, checked for every policy: exclusions (retries), health tiers
// (healthy first, panic over unhealthy ones, never draining), empty and exhausted sets, snapshots.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::PolicyCase;

constexpr std::uint32_t kBackends = 6;

class CandidateRulesTest : public ::testing::TestWithParam<PolicyCase> {
 protected:
  void SetUp() override {
    set_ = testing::make_set(GetParam().weights);
    policy_ = testing::make_policy(GetParam().policy, GetParam().params);
  }

  std::optional<std::uint32_t> pick(std::vector<std::uint32_t> excluded = {}) { return pick_on(*set_, excluded); }

  std::optional<std::uint32_t> pick_on(const BackendSet& set, std::vector<std::uint32_t> excluded = {}) {
    RequestFeatures f;
    if (GetParam().keyed) f.routing_key = RoutingKey::of(random_.next_u64());
    return testing::pick_once(*policy_, set, random_, f, std::move(excluded), &clock_);
  }

  /// Picks `times` times; fails on nullopt; returns the distinct backends seen.
  std::set<std::uint32_t> picks(int times, const std::vector<std::uint32_t>& excluded = {}) {
    std::set<std::uint32_t> seen;
    for (int i = 0; i < times; ++i) {
      const auto b = pick(excluded);
      EXPECT_TRUE(b.has_value());
      if (b) seen.insert(*b);
    }
    return seen;
  }

  void flag(std::uint32_t i, HealthFlag f) { (*set_)[i].state().set_health_flag(f, true); }

  BackendSetPtr set_;
  std::unique_ptr<Policy> policy_;
  SeededRandom random_{99};
  VirtualClock clock_{0};
};

TEST_P(CandidateRulesTest, NeverReturnsAnExcludedBackend) {
  EXPECT_EQ(picks(500, {0, 1, 2, 4, 5}), (std::set<std::uint32_t>{3}));
  for (int i = 0; i < 2000; ++i) {
    std::vector<std::uint32_t> excluded;
    for (std::uint32_t b = 0; b < kBackends; ++b) {
      if (random_.uniform(2) == 0) excluded.push_back(b);
    }
    if (excluded.size() == kBackends) excluded.pop_back();
    const auto got = pick(excluded);
    ASSERT_TRUE(got.has_value());
    for (auto e : excluded) ASSERT_NE(*got, e);
  }
}

TEST_P(CandidateRulesTest, ExcludingEveryBackendGivesNothing) { EXPECT_FALSE(pick({0, 1, 2, 3, 4, 5}).has_value()); }

TEST_P(CandidateRulesTest, EmptySetGivesNothing) {
  auto empty = *BackendSet::build({});
  EXPECT_FALSE(pick_on(*empty).has_value());
}

TEST_P(CandidateRulesTest, AvoidsUnhealthyWhileAHealthyBackendRemains) {
  flag(0, kHealthCheckFailed);
  flag(1, kEjected);
  flag(2, kDraining);
  flag(4, kHealthCheckFailed);
  const auto seen = picks(2000);
  if (GetParam().spreads) {
    EXPECT_EQ(seen, (std::set<std::uint32_t>{3, 5}));
  } else {
    for (auto b : seen) EXPECT_TRUE(b == 3 || b == 5) << b;
  }
}

TEST_P(CandidateRulesTest, PanicSpreadsOverUnhealthyButNeverDraining) {
  flag(0, kHealthCheckFailed);
  flag(1, kEjected);
  flag(2, kDraining);
  flag(3, kHealthCheckFailed);
  flag(4, kDraining);
  flag(5, kEjected);
  const auto seen = picks(2000);
  EXPECT_FALSE(seen.contains(2));
  EXPECT_FALSE(seen.contains(4));
  EXPECT_GE(seen.size(), GetParam().spreads ? 2u : 1u);
}

TEST_P(CandidateRulesTest, RetryFallsBackToUnhealthyWhenHealthyOnesWereTried) {
  for (std::uint32_t i = 0; i < 4; ++i) flag(i, kEjected);
  const auto seen = picks(500, {4, 5});
  EXPECT_FALSE(seen.empty());
  for (auto b : seen) EXPECT_LT(b, 4u);
}

TEST_P(CandidateRulesTest, AllDrainingGivesNothing) {
  for (std::uint32_t i = 0; i < kBackends; ++i) flag(i, kDraining);
  EXPECT_FALSE(pick().has_value());
}

TEST_P(CandidateRulesTest, RecoveredBackendIsPickedAgain) {
  for (std::uint32_t i = 1; i < kBackends; ++i) flag(i, kHealthCheckFailed);
  EXPECT_EQ(picks(200), (std::set<std::uint32_t>{0}));
  for (std::uint32_t i = 1; i < kBackends; ++i) (*set_)[i].state().set_health_flag(kHealthCheckFailed, false);
  EXPECT_GE(picks(2000).size(), GetParam().spreads ? 4u : 1u);
}

TEST_P(CandidateRulesTest, FollowsSnapshotChanges) {
  auto small = testing::make_set(std::vector<std::uint32_t>(GetParam().weights.begin(), GetParam().weights.begin() + 3),
                                 set_.get());
  for (int i = 0; i < 3000; ++i) {
    const bool use_small = (i / 7) % 2 == 1;
    const auto b = pick_on(use_small ? *small : *set_);
    ASSERT_TRUE(b.has_value());
    ASSERT_LT(*b, use_small ? 3u : kBackends);
  }
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, CandidateRulesTest, ::testing::ValuesIn(testing::all_policy_cases(kBackends)),
                         [](const ::testing::TestParamInfo<PolicyCase>& p) { return p.param.label; });

}  // namespace
}  // namespace kvroute::routing
