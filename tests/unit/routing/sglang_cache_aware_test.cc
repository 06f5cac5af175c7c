// sglang_cache_aware: SGLang's imbalance rule and thresholds exactly, the cache path, the fallbacks.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "routing/prompt_features.h"
#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::make_equal_set;
using testing::make_policy;
using testing::pick_once;
using testing::ScriptedRandom;
using testing::set_in_flight;

/// A prompt of n 64-byte blocks (16 tokens each); the first `shared` blocks are those of `base`.
struct Prompt {
  std::vector<std::uint64_t> hashes;
  RequestFeatures features() const {
    RequestFeatures f;
    f.block_hashes = hashes;
    f.prompt_tokens = static_cast<std::uint32_t>(hashes.size() * 16);
    return f;
  }
};
Prompt prompt(std::size_t n, std::uint64_t seed, const Prompt* base = nullptr, std::size_t shared = 0) {
  Prompt p;
  SeededRandom r(seed);
  for (std::size_t i = 0; i < n; ++i) p.hashes.push_back(i < shared ? base->hashes[i] : (r.next_u64() | 1));
  return p;
}

const PolicyParams kExact = {{"index_stride", "1"}};

TEST(SglangCacheAwareTest, FollowsTheLongestMatchAboveTheThreshold) {
  auto set = make_equal_set(3);
  auto policy = make_policy("sglang_cache_aware", kExact);
  const Prompt a = prompt(100, 1);
  policy->on_dispatch(a.features(), *set, 2);  // the tree now says backend 2 holds a
  set_in_flight(*set, {0, 0, 5});              // backend 2 is busier, but not imbalanced
  ScriptedRandom r;                            // no draws
  EXPECT_EQ(*pick_once(*policy, *set, r, a.features()), 2u);
  const Prompt b = prompt(100, 2, &a, 31);  // 31 % of the characters match: > 0.3
  EXPECT_EQ(*pick_once(*policy, *set, r, b.features()), 2u);
  const Prompt c = prompt(100, 3, &a, 30);                    // exactly 0.3 is not above the threshold: least loaded
  EXPECT_EQ(*pick_once(*policy, *set, r, c.features()), 0u);  // first of the least loaded (0 and 1)
}

TEST(SglangCacheAwareTest, ImbalanceNeedsBothTheAbsoluteAndTheRelativeThreshold) {
  auto set = make_equal_set(2);
  auto policy = make_policy("sglang_cache_aware", kExact);
  const Prompt a = prompt(100, 4);
  policy->on_dispatch(a.features(), *set, 0);
  ScriptedRandom r;
  struct Case {
    std::int64_t cached_load, other_load;
    std::uint32_t expected;
  };
  const std::vector<Case> cases = {
      {64, 0, 0},     // max - min = 64: not above 64, so the cache wins
      {65, 0, 1},     // 65 > 64 and 65 > 1.5 x 0: imbalanced, least loaded
      {200, 134, 0},  // 66 > 64 but 200 <= 1.5 x 134 = 201: balanced
      {202, 134, 1},  // 68 > 64 and 202 > 201: imbalanced
      {100, 36, 0},   // 64, not above
  };
  for (const Case& c : cases) {
    set_in_flight(*set, {c.cached_load, c.other_load});
    EXPECT_EQ(*pick_once(*policy, *set, r, a.features()), c.expected) << c.cached_load << " vs " << c.other_load;
  }
}

TEST(SglangCacheAwareTest, ThresholdsAreParameters) {
  auto set = make_equal_set(2);
  auto policy = make_policy("sglang_cache_aware", {{"index_stride", "1"},
                                                   {"balance_abs_threshold", "5"},
                                                   {"balance_rel_threshold", "2.0"},
                                                   {"cache_threshold", "0.5"}});
  const Prompt a = prompt(100, 5);
  policy->on_dispatch(a.features(), *set, 0);
  ScriptedRandom r;
  set_in_flight(*set, {6, 0});  // 6 > 5 and 6 > 0: imbalanced
  EXPECT_EQ(*pick_once(*policy, *set, r, a.features()), 1u);
  set_in_flight(*set, {12, 6});  // 6 > 5 but 12 is not > 2 x 6
  EXPECT_EQ(*pick_once(*policy, *set, r, a.features()), 0u);
  set_in_flight(*set, {1, 0});
  EXPECT_EQ(*pick_once(*policy, *set, r, prompt(100, 6, &a, 51).features()), 0u);  // 0.51 > 0.5: the cache
  EXPECT_EQ(*pick_once(*policy, *set, r, prompt(100, 6, &a, 50).features()), 1u);  // 0.5 is not: least loaded
}

TEST(SglangCacheAwareTest, LoadsCountEveryWorkerButOnlyCandidatesArePicked) {
  auto set = make_equal_set(3);
  auto policy = make_policy("sglang_cache_aware", kExact);
  const Prompt a = prompt(100, 7);
  policy->on_dispatch(a.features(), *set, 1);
  set_in_flight(*set, {0, 100, 90});
  (*set)[0].state().set_health_flag(kEjected, true);  // unhealthy, idle: still min_load = 0
  ScriptedRandom r;
  // Imbalanced (100 - 0 > 64, 100 > 0): the least loaded healthy worker, 2.
  EXPECT_EQ(*pick_once(*policy, *set, r, a.features()), 2u);
  set_in_flight(*set, {60, 100, 90});  // balanced: the cache (1)
  EXPECT_EQ(*pick_once(*policy, *set, r, a.features()), 1u);
  // The matched worker excluded (a retry): SGLang falls back to the first healthy worker.
  EXPECT_EQ(*pick_once(*policy, *set, r, a.features(), {1}), 2u);
}

TEST(SglangCacheAwareTest, TheDeepestNodesCreatorWins) {
  auto set = make_equal_set(3);
  auto policy = make_policy("sglang_cache_aware", kExact);
  const Prompt a = prompt(100, 8);
  policy->on_dispatch(a.features(), *set, 2);  // created the nodes
  policy->on_dispatch(a.features(), *set, 0);  // also holds them now
  ScriptedRandom r;
  EXPECT_EQ(*pick_once(*policy, *set, r, a.features()), 2u);
}

TEST(SglangCacheAwareTest, SmallestTreeFallbackOfTheOlderRouter) {
  auto set = make_equal_set(3);
  auto policy = make_policy("sglang_cache_aware", {{"index_stride", "1"}, {"fallback", "smallest_tree"}});
  policy->on_dispatch(prompt(50, 9).features(), *set, 0);
  policy->on_dispatch(prompt(10, 10).features(), *set, 1);
  policy->on_dispatch(prompt(30, 11).features(), *set, 2);
  set_in_flight(*set, {0, 3, 0});  // least loaded would be 0; the smallest tree is 1's
  ScriptedRandom r;
  EXPECT_EQ(*pick_once(*policy, *set, r, prompt(40, 12).features()), 1u);
}

TEST(SglangCacheAwareTest, PeriodicEvictionTrimsTreesToTheirSize) {
  auto set = make_equal_set(2);
  // 64 characters per block: a 1,000-character tree keeps 15 blocks.
  auto policy = make_policy("sglang_cache_aware",
                            {{"index_stride", "1"}, {"max_tree_size", "1000"}, {"eviction_interval", "120s"}});
  const Prompt old_prompt = prompt(20, 13), recent = prompt(15, 14);
  policy->on_dispatch(old_prompt.features(), *set, 0);
  policy->on_dispatch(recent.features(), *set, 0);
  ScriptedRandom r;
  VirtualClock clock(0);
  EXPECT_EQ(*pick_once(*policy, *set, r, old_prompt.features(), {}, &clock), 0u);  // arms the timer
  clock.advance_to(119 * kNanosPerSecond);
  EXPECT_EQ(*pick_once(*policy, *set, r, old_prompt.features(), {}, &clock), 0u);  // not yet evicted
  clock.advance_to(121 * kNanosPerSecond);
  // Evicted down to 15 blocks: the older prompt is gone; match rate 0, least loaded: first of 0 and 1.
  set_in_flight(*set, {1, 0});
  EXPECT_EQ(*pick_once(*policy, *set, r, old_prompt.features(), {}, &clock), 1u);
  EXPECT_EQ(*pick_once(*policy, *set, r, recent.features(), {}, &clock), 0u);
}

TEST(SglangCacheAwareTest, ShortPromptsGoToTheFirstLeastLoadedWorker) {
  auto set = make_equal_set(4);
  auto policy = make_policy("sglang_cache_aware");
  set_in_flight(*set, {3, 1, 1, 2});
  ScriptedRandom r;
  EXPECT_EQ(*pick_once(*policy, *set, r, RequestFeatures{}), 1u);  // Rust's min_by_key keeps the first
}

}  // namespace
}  // namespace kvroute::routing
