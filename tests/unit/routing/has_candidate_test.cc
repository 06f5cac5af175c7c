// has_candidate(): whether PickContext's rules leave any backend, which is how the gateway tells a
// policy's hold (nullopt with a candidate: queue the request) from "no backend" (nullopt without one:
// answer 503).
#include <gtest/gtest.h>

#include <vector>

#include "routing/candidates.h"
#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::make_equal_set;

bool has(const BackendSet& set, std::vector<std::uint32_t> excluded = {}) {
  static const VirtualClock kClock(0);
  SeededRandom random(1);
  PickContext ctx{kClock, random, excluded};
  return has_candidate(set, ctx);
}

TEST(HasCandidateTest, EmptySetHasNone) {
  auto empty = *BackendSet::build({});
  EXPECT_FALSE(has(*empty));
}

TEST(HasCandidateTest, AHealthyBackendIsOne) {
  auto set = make_equal_set(3);
  EXPECT_TRUE(has(*set));
  EXPECT_TRUE(has(*set, {0, 2}));
}

TEST(HasCandidateTest, ExcludingEveryBackendLeavesNone) {
  auto set = make_equal_set(3);
  EXPECT_FALSE(has(*set, {0, 1, 2}));
}

TEST(HasCandidateTest, UnhealthyAndEjectedBackendsCountInPanic) {
  auto set = make_equal_set(3);
  (*set)[0].state().set_health_flag(kHealthCheckFailed, true);
  (*set)[1].state().set_health_flag(kEjected, true);
  (*set)[2].state().set_health_flag(kHealthCheckFailed, true);
  EXPECT_TRUE(has(*set));
  EXPECT_TRUE(has(*set, {0, 2}));  // only the ejected one is left: still usable in panic
}

TEST(HasCandidateTest, DrainingBackendsNeverCount) {
  auto set = make_equal_set(3);
  for (std::uint32_t i = 0; i < 3; ++i) (*set)[i].state().set_health_flag(kDraining, true);
  EXPECT_FALSE(has(*set));
  (*set)[1].state().set_health_flag(kDraining, false);
  EXPECT_TRUE(has(*set));
  EXPECT_FALSE(has(*set, {1}));  // the only non-draining one was tried already
}

// For every policy that never holds, pick() gives nullopt exactly when there is no candidate: the
// gateway can only mistake a refusal for a hold if a policy breaks the candidate rules.
TEST(HasCandidateTest, AgreesWithEveryPolicyOverHealthAndExclusions) {
  constexpr std::uint32_t kBackends = 4;
  SeededRandom random(7);
  for (const auto& c : testing::all_policy_cases(kBackends)) {
    auto set = testing::make_set(c.weights);
    auto policy = testing::make_policy(c.policy, c.params);
    for (int round = 0; round < 300; ++round) {
      std::vector<std::uint32_t> excluded;
      for (std::uint32_t i = 0; i < kBackends; ++i) {
        const auto draw = random.uniform(6);
        auto& s = (*set)[i].state();
        s.set_health_flag(kHealthCheckFailed, draw == 1);
        s.set_health_flag(kEjected, draw == 2);
        s.set_health_flag(kDraining, draw == 3);
        if (draw == 4) excluded.push_back(i);
      }
      RequestFeatures f;
      if (c.keyed) f.routing_key = RoutingKey::of(random.next_u64());
      const bool picked = testing::pick_once(*policy, *set, random, f, excluded).has_value();
      ASSERT_EQ(picked, has(*set, excluded)) << c.label << " round " << round;
    }
  }
}

// The cost policy's late binding: nullopt while a candidate exists is a hold.
TEST(HasCandidateTest, CostHoldsWithCandidatesLeft) {
  auto set = make_equal_set(2);
  auto policy = testing::make_policy("cost", {{"hold_queue", "100ms"}, {"prefill_rate_prior_work", "0"}});
  for (std::uint32_t i = 0; i < 2; ++i) {
    auto& s = (*set)[i].state();
    s.estimates.prefill_rate_work.store(10000);
    s.estimates.prefill_rate_seconds.store(1.0);
    s.estimates.prefill_rate_at.store(0);
    s.accounting.outstanding_prefill_work.store(5000);  // 0.5 s queued on each
    s.accounting.in_flight.store(2);
  }
  RequestFeatures f;
  f.prompt_tokens = 100;
  SeededRandom random(3);
  EXPECT_FALSE(testing::pick_once(*policy, *set, random, f).has_value());
  EXPECT_TRUE(has(*set));
}

}  // namespace
}  // namespace kvroute::routing
