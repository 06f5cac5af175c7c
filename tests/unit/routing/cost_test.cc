// cost: the TTFT model's arithmetic, and the policy's choices on hand-built states.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "routing/policy_registry.h"
#include "routing/prefix_index.h"
#include "routing/ttft_model.h"
#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::make_equal_set;
using testing::pick_once;
using testing::ScriptedRandom;

TEST(TtftModelTest, HandComputedPrediction) {
  TtftModelConfig c;
  c.attention_tokens = 10000;
  c.decode_interference = 0.2;
  c.kv_high = 0.9;
  c.kv_penalty_weight = 1.0;
  TtftInputs in;
  in.prompt_tokens = 10000;
  in.cached_tokens = 6000;
  in.prefill_rate = 20000;
  in.outstanding_work = 40000;
  in.hidden_requests = 2;
  in.mean_request_work = 5000;
  in.kv_usage = 0.5;
  in.kv_capacity_tokens = 100000;
  in.pending_prompt_tokens = 30000;
  in.decode_seconds = 10;
  // rate 20000 / (1 + 0.2 x 0.5) = 18181.8; own work 4000 x (1 + (6000 + 2000) / 10000) = 7200;
  // ahead 40000 + 2 x 5000 = 50000; KV demand 50000 + 30000 + 10000 = 90000 = 0.9 C: no wait.
  TtftPrediction p = predict_ttft(in, c);
  EXPECT_NEAR(p.prefill, 7200 / (20000 / 1.1), 1e-12);
  EXPECT_NEAR(p.queue, 50000 / (20000 / 1.1), 1e-12);
  EXPECT_DOUBLE_EQ(p.kv_demand, 0.9);
  EXPECT_DOUBLE_EQ(p.kv_penalty, 0.0);
  EXPECT_NEAR(p.total(), 57200 / (20000 / 1.1), 1e-12);
  // 20000 more tokens waiting: 20000 over 0.9 C; freeing them takes 10 s x 20000 / 50000 used = 4 s,
  // longer than the prefill queue (2.75 s), and the two overlap.
  in.pending_prompt_tokens = 50000;
  p = predict_ttft(in, c);
  EXPECT_DOUBLE_EQ(p.kv_penalty, 4.0);
  EXPECT_DOUBLE_EQ(p.wait(), 4.0);
  EXPECT_NEAR(p.total(), 4.0 + 7200 / (20000 / 1.1), 1e-12);
}

/// A cost policy over `n` backends whose prefill rates and prefix holdings the test sets by hand.
struct CostFixture {
  explicit CostFixture(std::uint32_t n, PolicyParams extra = {}) : set(make_equal_set(n)) {
    PolicyParams params = {{"index_stride", "1"},      {"attention_tokens", "0"},        {"decode_interference", "0"},
                           {"congestion_weight", "0"}, {"prefill_rate_prior_work", "0"}, {"tie_epsilon", "0.05"},
                           {"tie_floor", "5ms"}};
    for (auto& [k, v] : extra) params[k] = v;
    static const PolicyRegistry registry = PolicyRegistry::with_builtin_policies();
    auto f = registry.create("cost", params);
    EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message);
    factory = *f;
    policy = factory->create();
    index = factory->estimator_config().prefix_index;
  }
  void rate(std::uint32_t i, double tokens_per_second) {
    auto& e = (*set)[i].state().estimates;
    e.prefill_rate_work.store(tokens_per_second);
    e.prefill_rate_seconds.store(1.0);
    e.prefill_rate_at.store(0);
  }
  void queue(std::uint32_t i, std::int64_t work, std::int64_t requests) {
    auto& a = (*set)[i].state().accounting;
    a.outstanding_prefill_work.store(work);
    a.in_flight.store(requests);
  }
  void holds(std::uint32_t i, std::size_t blocks) {
    index->record(std::span<const std::uint64_t>(hashes.data(), blocks), (*set)[i]);
  }
  RequestFeatures features() const {
    RequestFeatures f;
    f.block_hashes = hashes;
    f.prompt_tokens = static_cast<std::uint32_t>(hashes.size() * 16);
    return f;
  }
  BackendSetPtr set;
  PolicyFactoryPtr factory;
  std::unique_ptr<Policy> policy;
  std::shared_ptr<PrefixIndex> index;
  std::vector<std::uint64_t> hashes = [] {
    std::vector<std::uint64_t> h;
    SeededRandom r(1);
    for (int i = 0; i < 1000; ++i) h.push_back(r.next_u64() | 1);  // 1000 blocks = 16000 tokens
    return h;
  }();
};

TEST(CostPolicyTest, ACachedBackendBeatsAnIdleOneWhenItsUncachedWorkIsSmaller) {
  CostFixture fx(2);
  fx.rate(0, 20000);
  fx.rate(1, 20000);
  fx.holds(0, 750);      // 12000 of 16000 tokens cached on backend 0
  fx.queue(0, 5000, 1);  // 0.25 s of work queued there
  ScriptedRandom r;      // 0.25 + 4000/20000 = 0.45 s against 16000/20000 = 0.8 s: no draw
  EXPECT_EQ(*pick_once(*fx.policy, *fx.set, r, fx.features()), 0u);
}

TEST(CostPolicyTest, ALoadedBackendLosesWhenItsQueueOutweighsTheHit) {
  CostFixture fx(2);
  fx.rate(0, 20000);
  fx.rate(1, 20000);
  fx.holds(0, 750);
  fx.queue(0, 20000, 4);  // 1.0 + 0.2 = 1.2 s against 0.8 s
  ScriptedRandom r;
  EXPECT_EQ(*pick_once(*fx.policy, *fx.set, r, fx.features()), 1u);
}

TEST(CostPolicyTest, AFasterMeasuredBackendWinsWhatWouldBeATie) {
  CostFixture fx(3);
  fx.rate(0, 20000);
  fx.rate(1, 40000);  // twice as fast: 0.4 s against 0.8 s
  fx.rate(2, 20000);
  ScriptedRandom r;
  EXPECT_EQ(*pick_once(*fx.policy, *fx.set, r, fx.features()), 1u);
  // A backend never measured is taken to be as fast as the fleet's pooled measurement.
  CostFixture fy(2);
  fy.rate(0, 10000);
  fy.queue(0, 1000, 1);  // 0.1 s queued on the measured one: 1.7 s against 1.6 s for the other
  EXPECT_EQ(*pick_once(*fy.policy, *fy.set, r, fy.features()), 1u);
}

TEST(CostPolicyTest, HoldsTheRequestWhileEveryBackendIsSaturated) {
  CostFixture fx(2, {{"hold_queue", "500ms"}});
  fx.rate(0, 20000);
  fx.rate(1, 20000);
  fx.queue(0, 12000, 3);  // 0.6 s queued
  fx.queue(1, 11000, 3);  // 0.55 s queued: both above hold_queue (500 ms)
  ScriptedRandom r;
  EXPECT_FALSE(pick_once(*fx.policy, *fx.set, r, fx.features()).has_value());
  fx.queue(1, 9000, 3);  // one drains below the threshold: bind to it now
  EXPECT_EQ(*pick_once(*fx.policy, *fx.set, r, fx.features()), 1u);
  CostFixture never(2, {{"hold_queue", "0"}});
  never.rate(0, 20000);
  never.rate(1, 20000);
  never.queue(0, 16000, 3);  // 1.6 s against 1.35 s: never held
  never.queue(1, 11000, 3);
  EXPECT_EQ(*pick_once(*never.policy, *never.set, r, never.features()), 1u);
}

TEST(CostPolicyTest, AnIdleBackendNeverHoldsARequest) {
  CostFixture fx(2, {{"hold_queue", "1ms"}});
  fx.rate(0, 20000);
  fx.rate(1, 20000);
  fx.queue(0, 100000, 5);
  ScriptedRandom r;
  // Backend 1 is idle: its predicted wait is 0 anyway, and an idle backend is never held from.
  EXPECT_EQ(*pick_once(*fx.policy, *fx.set, r, fx.features()), 1u);
}

TEST(CostPolicyTest, KvPressureAddsTheTimeToFreeKv) {
  CostFixture fx(2, {{"default_kv_capacity_tokens", "100000"}});
  fx.rate(0, 20000);
  fx.rate(1, 20000);
  for (std::uint32_t i = 0; i < 2; ++i) {
    auto& m = (*fx.set)[i].state().scraped;
    m.scraped_at.store(0);
    m.kv_usage.store(i == 0 ? 0.95 : 0.5);
    (*fx.set)[i].state().estimates.decode_seconds.store(10.0);
    (*fx.set)[i].state().accounting.in_flight.store(5);
  }
  fx.queue(1, 4000, 5);  // backend 1: 0.2 s queued + 0.8 s
  // Backend 0: demand 95000 + 16000 = 1.11 C; 21000 over 0.9 C; 10 s x 21000 / 95000 used = 2.2 s.
  ScriptedRandom r;
  EXPECT_EQ(*pick_once(*fx.policy, *fx.set, r, fx.features()), 1u);
}

TEST(CostPolicyTest, HiddenWaitingRequestsCountAsQueuedWork) {
  CostFixture fx(2);
  fx.rate(0, 20000);
  fx.rate(1, 20000);
  auto& a = (*fx.set)[0].state().accounting;
  a.dispatched_prefill_work_total.store(100000);  // the fleet's mean request: 10000 work tokens
  a.dispatched_total.store(10);
  fx.holds(0, 500);  // 8000 cached: 0.4 s against 0.8 s...
  auto& m = (*fx.set)[0].state().scraped;
  m.scraped_at.store(0);
  m.num_waiting.store(1);  // ...but one request the gateway did not send waits there: + 0.5 s
  ScriptedRandom r;
  EXPECT_EQ(*pick_once(*fx.policy, *fx.set, r, fx.features()), 1u);
  m.scraped_at.store(-2 * kNanosPerSecond);  // a stale scrape is ignored
  VirtualClock clock(0);
  EXPECT_EQ(*pick_once(*fx.policy, *fx.set, r, fx.features(), {}, &clock), 0u);
}

TEST(CostPolicyTest, CongestionMakesCacheHitsWeighMore) {
  // Backend 0 holds half the prompt behind 0.5 s of work; backend 1 is idle. Alone: 0.9 s against
  // 0.8 s. With two requests waiting per backend on average, own work weighs 1 + 2 = 3 times:
  // 0.5 + 3 x 0.4 = 1.7 s against 3 x 0.8 = 2.4 s.
  for (const bool congested : {false, true}) {
    CostFixture fx(2, {{"congestion_weight", "1"}});
    fx.rate(0, 20000);
    fx.rate(1, 20000);
    fx.holds(0, 500);
    fx.queue(0, 10000, congested ? 4 : 0);
    ScriptedRandom r;
    EXPECT_EQ(*pick_once(*fx.policy, *fx.set, r, fx.features()), congested ? 0u : 1u) << congested;
  }
}

TEST(CostPolicyTest, NearEqualCandidatesAreDrawnAndTheLessBusyOfTwoWins) {
  CostFixture fx(4);
  for (std::uint32_t i = 0; i < 4; ++i) fx.rate(i, 20000);
  fx.rate(3, 15000);  // clearly slower: outside the 5 % + 5 ms margin
  (*fx.set)[0].state().accounting.in_flight.store(2);
  (*fx.set)[2].state().accounting.in_flight.store(1);
  ScriptedRandom r;
  r.then(1, 2).then(0, 3);  // pair (0, 1), then 2 replaces 0: compare 2 (1 in flight) and 1 (none)
  EXPECT_EQ(*pick_once(*fx.policy, *fx.set, r, fx.features()), 1u);
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(CostPolicyTest, NearEqualDrawIsUniform) {
  CostFixture fx(4);
  for (std::uint32_t i = 0; i < 4; ++i) fx.rate(i, 20000);
  fx.rate(3, 19500);  // within 5 %: near-equal too
  SeededRandom r(7);
  std::vector<int> counts(4);
  constexpr int kPicks = 100000;
  for (int i = 0; i < kPicks; ++i) ++counts[*pick_once(*fx.policy, *fx.set, r, fx.features())];
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(counts[i] / double(kPicks), 0.25, 0.01) << i;
}

}  // namespace
}  // namespace kvroute::routing
