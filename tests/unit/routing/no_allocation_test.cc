// pick() must not allocate in the steady state (policy.h). alloc_counter.cc replaces the global
// operator new for the whole test binary with a counting one; only the counts around picks matter.
#include <gtest/gtest.h>


#include "routing_test_support.h"

#include "alloc_counter.h"

namespace kvroute::routing {
namespace {

using testing::PolicyCase;

class NoAllocationTest : public ::testing::TestWithParam<PolicyCase> {};

TEST_P(NoAllocationTest, PickDoesNotAllocateInSteadyState) {
  if (!testing::kCountingAllocations) GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
  auto set = testing::make_set(GetParam().weights);
  auto policy = testing::make_policy(GetParam().policy, GetParam().params);
  SeededRandom random(1);
  VirtualClock clock(0);
  for (std::uint32_t i = 0; i < set->size(); ++i) {
    set->backends()[i].state().accounting.in_flight.store(static_cast<std::int64_t>(random.uniform(5)));
  }
  (*set)[1].state().set_health_flag(kEjected, true);
  const std::uint32_t excluded[] = {2};
  RequestFeatures features;
  auto run = [&](int picks) {
    for (int i = 0; i < picks; ++i) {
      if (GetParam().keyed) features.routing_key = RoutingKey::of(random.next_u64());
      PickContext ctx{clock, random, excluded};
      (void)policy->pick(features, *set, ctx);
    }
  };
  run(10);  // first picks on a snapshot may build per-snapshot structures
  const long before = testing::allocations_so_far();
  run(10000);
  EXPECT_EQ(testing::allocations_so_far() - before, 0);
}

TEST_P(NoAllocationTest, InterleavingTwoSnapshotsDoesNotAllocateOnceWarm) {
  if (!testing::kCountingAllocations) GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
  // During a reload, retries of older requests pick on the old snapshot between new requests'
  // picks on the new one.
  auto old_set = testing::make_set(GetParam().weights);
  auto new_set = testing::make_set(
      std::vector<std::uint32_t>(GetParam().weights.begin(), GetParam().weights.begin() + 40), old_set.get());
  auto policy = testing::make_policy(GetParam().policy, GetParam().params);
  SeededRandom random(2);
  VirtualClock clock(0);
  RequestFeatures features;
  auto run = [&](int picks) {
    for (int i = 0; i < picks; ++i) {
      if (GetParam().keyed) features.routing_key = RoutingKey::of(random.next_u64());
      PickContext ctx{clock, random, {}};
      (void)policy->pick(features, i % 3 == 0 ? *old_set : *new_set, ctx);
    }
  };
  run(10);
  const long before = testing::allocations_so_far();
  run(3000);
  EXPECT_EQ(testing::allocations_so_far() - before, 0);
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, NoAllocationTest, ::testing::ValuesIn(testing::all_policy_cases(64)),
                         [](const ::testing::TestParamInfo<PolicyCase>& p) { return p.param.label; });

}  // namespace
}  // namespace kvroute::routing
