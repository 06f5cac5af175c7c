// llmd_default: the GIE scorers' arithmetic on a hand-computed example, the prefix indexer's
// semantics (model hash first, per-server LRU, points along the shared run), random tie-break.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::make_equal_set;
using testing::make_policy;
using testing::pick_once;
using testing::ScriptedRandom;

struct Prompt {
  std::vector<std::uint64_t> hashes;
  std::string model = "m1";
  RequestFeatures features() const {
    RequestFeatures f;
    f.model = model;
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

void scrape(const BackendSet& set, const std::vector<std::uint32_t>& waiting, const std::vector<double>& kv) {
  for (std::uint32_t i = 0; i < set.size(); ++i) {
    set[i].state().scraped.num_waiting.store(waiting[i]);
    set[i].state().scraped.kv_usage.store(kv[i]);
    set[i].state().scraped.scraped_at.store(0);
  }
}

TEST(LlmdDefaultTest, WeightedSumOfTheThreeScorersHandComputed) {
  auto set = make_equal_set(3);
  auto policy = make_policy("llmd_default");
  const Prompt p = prompt(9, 1);         // GIE hashes: model + 9 blocks = 10
  const Prompt q = prompt(9, 2, &p, 4);  // shares p's first 4 blocks
  policy->on_dispatch(p.features(), *set, 1);
  policy->on_dispatch(q.features(), *set, 2);
  // prefix points along p: backend 1 holds all 10 hashes, backend 2 the model hash and 4 blocks.
  //   prefix = {0, 10/10, 5/10}
  // waiting {0, 4, 2}: queue = (4 - q) / 4 = {1, 0, 0.5}; kv {0.0, 0.9, 0.8}: 1 - kv = {1, 0.1, 0.2}
  //   total = 2 queue + 2 kv + 3 prefix = {4.0, 3.2, 2.9}
  scrape(*set, {0, 4, 2}, {0.0, 0.9, 0.8});
  ScriptedRandom r;  // no ties, no draws
  EXPECT_EQ(*pick_once(*policy, *set, r, p.features()), 0u);
  // With prefix weight 5 backend 1 scores 0.2 + 5 = 5.2 > 4.
  auto heavier = make_policy("llmd_default", {{"prefix_weight", "5"}});
  heavier->on_dispatch(p.features(), *set, 1);
  EXPECT_EQ(*pick_once(*heavier, *set, r, p.features()), 1u);
  // Lighter KV on backend 1 (0.1): 1.8 + 3 = 4.8 > 4.0.
  scrape(*set, {0, 4, 2}, {0.0, 0.1, 0.8});
  EXPECT_EQ(*pick_once(*policy, *set, r, p.features()), 1u);
}

TEST(LlmdDefaultTest, EqualQueuesScoreOneForEveryone) {
  auto set = make_equal_set(2);
  auto policy = make_policy("llmd_default", {{"kv_weight", "0"}, {"prefix_weight", "0"}});
  scrape(*set, {3, 3}, {0.5, 0.5});
  ScriptedRandom r;
  r.then(0, 2);  // a tie: the second candidate replaces the first on a draw of 0 (probability 1/2)
  EXPECT_EQ(*pick_once(*policy, *set, r, RequestFeatures{}), 1u);
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(LlmdDefaultTest, PointsCountAlongTheSharedRunEvenWhereAServerHasAGap) {
  auto set = make_equal_set(3);
  auto policy =
      make_policy("llmd_default", {{"lru_capacity_per_server", "10"}, {"queue_weight", "0"}, {"kv_weight", "0"}});
  const Prompt p = prompt(9, 3);  // 10 hashes with the model's
  policy->on_dispatch(p.features(), *set, 1);
  Prompt other = prompt(1, 4);
  other.model = "m2";  // another model: two new hashes push p's oldest two (the model's and block 1) out
  policy->on_dispatch(other.features(), *set, 1);
  const Prompt head = prompt(1, 5, &p, 1);  // backend 2 holds the model hash and block 1
  policy->on_dispatch(head.features(), *set, 2);
  scrape(*set, {0, 0, 0}, {0, 0, 0});
  // Walk along p: hash 0 {2}, hash 1 {2}, hashes 2-9 {1}: points {0, 8, 2} of 10 -> backend 1.
  ScriptedRandom r;
  EXPECT_EQ(*pick_once(*policy, *set, r, p.features()), 1u);
  // A prompt of another model shares nothing with p, even with the same block text.
  Prompt same_text = p;
  same_text.model = "m3";
  r.then(1, 2).then(1, 3);  // all three tie at 0: draws for the second and third keep the first
  EXPECT_EQ(*pick_once(*policy, *set, r, same_text.features()), 0u);
}

TEST(LlmdDefaultTest, OnlyTheFirstMaxPrefixBlocksAreHashed) {
  auto set = make_equal_set(2);
  auto policy = make_policy("llmd_default", {{"max_prefix_blocks", "4"}, {"queue_weight", "0"}, {"kv_weight", "0"}});
  const Prompt p = prompt(10, 6);
  const Prompt q = prompt(10, 7, &p, 4);  // differs after block 4: indistinguishable from p
  policy->on_dispatch(p.features(), *set, 1);
  scrape(*set, {0, 0}, {0, 0});
  ScriptedRandom r;
  EXPECT_EQ(*pick_once(*policy, *set, r, q.features()), 1u);
}

TEST(LlmdDefaultTest, TiesAreBrokenUniformly) {
  auto set = make_equal_set(4);
  auto policy = make_policy("llmd_default");
  scrape(*set, {1, 1, 1, 5}, {0.2, 0.2, 0.2, 0.2});
  SeededRandom r(3);
  std::vector<int> counts(4);
  constexpr int kPicks = 120000;
  for (int i = 0; i < kPicks; ++i) ++counts[*pick_once(*policy, *set, r, RequestFeatures{})];
  EXPECT_EQ(counts[3], 0);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(counts[i] / double(kPicks), 1.0 / 3, 0.01);
}

}  // namespace
}  // namespace kvroute::routing
