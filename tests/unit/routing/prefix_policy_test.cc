// prefix: exploit a cached prefix that covers enough of the prompt, within the load bound; explore
// (fewest in flight) otherwise.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "routing/policy_registry.h"
#include "routing/prefix_index.h"
#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::make_equal_set;
using testing::pick_once;
using testing::ScriptedRandom;
using testing::set_in_flight;

struct PrefixFixture {
  explicit PrefixFixture(std::uint32_t n, PolicyParams params = {}) : set(make_equal_set(n)) {
    params["index_stride"] = "1";
    static const PolicyRegistry registry = PolicyRegistry::with_builtin_policies();
    factory = *registry.create("prefix", params);
    policy = factory->create();
    index = factory->estimator_config().prefix_index;
    SeededRandom r(3);
    for (int i = 0; i < 100; ++i) hashes.push_back(r.next_u64() | 1);  // 100 blocks, 1600 tokens
  }
  RequestFeatures features() const {
    RequestFeatures f;
    f.block_hashes = hashes;
    f.prompt_tokens = 1600;
    return f;
  }
  void holds(std::uint32_t i, std::size_t blocks) {
    index->record(std::span<const std::uint64_t>(hashes.data(), blocks), (*set)[i]);
  }
  BackendSetPtr set;
  PolicyFactoryPtr factory;
  std::unique_ptr<Policy> policy;
  std::shared_ptr<PrefixIndex> index;
  std::vector<std::uint64_t> hashes;
};

TEST(PrefixPolicyTest, FollowsACacheThatCoversHalfThePrompt) {
  PrefixFixture fx(3);
  fx.holds(1, 60);
  fx.holds(2, 50);
  set_in_flight(*fx.set, {0, 1, 1});
  ScriptedRandom r;
  EXPECT_EQ(*pick_once(*fx.policy, *fx.set, r, fx.features()), 1u);  // 60 % cached, the longest
}

TEST(PrefixPolicyTest, ExploresWhenTheCacheCoversLittle) {
  PrefixFixture fx(3);
  fx.holds(1, 49);  // a shared system prompt, say: below half
  set_in_flight(*fx.set, {2, 0, 1});
  ScriptedRandom r;
  EXPECT_EQ(*pick_once(*fx.policy, *fx.set, r, fx.features()), 1u);  // fewest in flight (and the cache)
  set_in_flight(*fx.set, {0, 2, 1});
  EXPECT_EQ(*pick_once(*fx.policy, *fx.set, r, fx.features()), 0u);  // the cache does not matter
}

TEST(PrefixPolicyTest, TheLoadBoundOverridesTheCache) {
  PrefixFixture fx(4);
  fx.holds(0, 100);
  fx.holds(3, 60);
  // Bound: ceil(1.25 x (total 12 + 1) / 4) = 5. Backend 0 has 6 (over), backend 3 has 4 (within).
  set_in_flight(*fx.set, {6, 1, 1, 4});
  ScriptedRandom r;
  r.then(1, 2);  // 1 and 2 tie on the way (both uncached, equally loaded) before 3 wins
  EXPECT_EQ(*pick_once(*fx.policy, *fx.set, r, fx.features()), 3u);
  set_in_flight(*fx.set, {6, 1, 1, 5});  // 3 over the bound too: explore
  r.then(1, 2).then(1, 2);               // 1 and 2 tie (both uncached, equally loaded) in both passes: keep 1
  EXPECT_EQ(*pick_once(*fx.policy, *fx.set, r, fx.features()), 1u);
}

TEST(PrefixPolicyTest, EqualPrefixesGoToTheLessLoaded) {
  PrefixFixture fx(3);
  for (std::uint32_t i = 0; i < 3; ++i) fx.holds(i, 80);
  set_in_flight(*fx.set, {2, 1, 2});
  ScriptedRandom r;
  EXPECT_EQ(*pick_once(*fx.policy, *fx.set, r, fx.features()), 1u);
}

}  // namespace
}  // namespace kvroute::routing
