// The LLM-aware policies' pick() must not allocate in the steady state either, with real prompts
// (block hashes) and indexes filled by earlier dispatches.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "routing/dispatch_accounting.h"
#include "routing/policy_registry.h"
#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

class LlmNoAllocationTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LlmNoAllocationTest, PickDoesNotAllocateWithPromptsAndWarmIndexes) {
  if (!testing::kCountingAllocations) GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
  static const PolicyRegistry registry = PolicyRegistry::with_builtin_policies();
  auto factory = *registry.create(GetParam());
  auto set = testing::make_equal_set(64);
  factory->prepare(*set);
  auto policy = factory->create();
  const DispatchAccounting acc(factory->estimator_config());
  SeededRandom random(1);
  VirtualClock clock(kNanosPerSecond);

  // 200 prompts of 100-1000 blocks sharing a 32-block head; dispatch them, finish half.
  std::vector<std::uint64_t> head;
  for (int i = 0; i < 32; ++i) head.push_back(random.next_u64() | 1);
  std::vector<std::vector<std::uint64_t>> prompts;
  for (int i = 0; i < 200; ++i) {
    auto p = head;
    const auto n = 100 + random.uniform(900);
    while (p.size() < n) p.push_back(random.next_u64() | 1);
    prompts.push_back(std::move(p));
  }
  auto features = [&](const std::vector<std::uint64_t>& p) {
    RequestFeatures f;
    f.model = "m";
    f.block_hashes = p;
    f.prompt_tokens = static_cast<std::uint32_t>(p.size() * 16);
    f.arrival = clock.now();
    return f;
  };
  std::vector<DispatchTicket> tickets;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    PickContext ctx{clock, random, {}};
    const auto b = policy->pick(features(prompts[i]), *set, ctx);
    tickets.push_back(acc.dispatch(set, b.value_or(static_cast<std::uint32_t>(i % 64)), features(prompts[i]),
                                   clock.now(), policy.get()));
    if (i % 2 == 0) acc.complete(tickets.back(), Outcome::kOk, 10, clock.now(), policy.get());
  }
  auto run = [&](int picks) {
    for (int i = 0; i < picks; ++i) {
      const auto f = features(prompts[static_cast<std::size_t>(i) % prompts.size()]);
      PickContext ctx{clock, random, {}};
      (void)policy->pick(f, *set, ctx);
    }
  };
  run(20);
  const long before = testing::allocations_so_far();
  run(5000);
  EXPECT_EQ(testing::allocations_so_far() - before, 0);
}

INSTANTIATE_TEST_SUITE_P(LlmPolicies, LlmNoAllocationTest,
                         ::testing::Values("prefix", "kv_aware", "sglang_cache_aware", "llmd_default", "cost"));

}  // namespace
}  // namespace kvroute::routing
