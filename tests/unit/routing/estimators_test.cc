#include "routing/estimators.h"

#include <gtest/gtest.h>

#include <cmath>

#include "routing/dispatch_accounting.h"
#include "routing/prefix_index.h"
#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::make_equal_set;

constexpr Nanos kMs = kNanosPerMilli;

RequestFeatures prompt(std::uint32_t tokens, std::span<const std::uint64_t> hashes = {}) {
  RequestFeatures f;
  f.prompt_tokens = tokens;
  f.block_hashes = hashes;
  return f;
}

TEST(EstimatorsTest, PrefillWorkAddsCausalAttention) {
  EXPECT_DOUBLE_EQ(prefill_work(1000, 5000, 0), 1000.0);  // attention ignored
  EXPECT_DOUBLE_EQ(prefill_work(1000, 0, 10000), 1000 * (1 + 500.0 / 10000));
  EXPECT_DOUBLE_EQ(prefill_work(1000, 9000, 10000), 1000 * (1 + 9500.0 / 10000));
  EXPECT_DOUBLE_EQ(prefill_work(0, 9000, 10000), 0.0);
  EXPECT_DOUBLE_EQ(decode_slowdown(0.5, 0.2), 1.1);
  EXPECT_DOUBLE_EQ(decode_slowdown(3.0, 0.2), 1.2);  // usage clamped to 1
}

TEST(EstimatorsTest, LearnsThePrefillRateFromFirstTokens) {
  auto set = make_equal_set(1);
  const DispatchAccounting acc;  // plain tokens, no index
  BackendState& s = (*set)[0].state();
  auto t1 = acc.dispatch(set, 0, prompt(4096), 0, nullptr);
  auto t2 = acc.dispatch(set, 0, prompt(4096), 0, nullptr);
  EXPECT_FALSE(learned_prefill_rate(s).has_value());
  acc.first_token(t1, 100 * kMs, nullptr);  // 4096 tokens in 0.1 s
  EXPECT_DOUBLE_EQ(*learned_prefill_rate(s), 40960.0);
  acc.first_token(t2, 300 * kMs, nullptr);  // the next 4096 in 0.2 s
  // Decayed sums: (4096 e + 4096) / (0.1 e + 0.2), e = exp(-0.2 s / 30 s).
  const double e = std::exp(-0.2 / 30.0);
  EXPECT_NEAR(*learned_prefill_rate(s), (4096 * e + 4096) / (0.1 * e + 0.2), 1e-6);
}

TEST(EstimatorsTest, AnIdleGapIsNotCountedAsBusyTime) {
  auto set = make_equal_set(1);
  const DispatchAccounting acc;
  BackendState& s = (*set)[0].state();
  auto t1 = acc.dispatch(set, 0, prompt(4000), 0, nullptr);
  acc.first_token(t1, 100 * kMs, nullptr);
  acc.complete(t1, Outcome::kOk, 10, 200 * kMs, nullptr);
  // Ten seconds idle, then another request: its interval starts at its own dispatch.
  auto t2 = acc.dispatch(set, 0, prompt(4000), 10'000 * kMs, nullptr);
  acc.first_token(t2, 10'100 * kMs, nullptr);
  EXPECT_NEAR(*learned_prefill_rate(s), 40000.0, 1e-6);
}

TEST(EstimatorsTest, TinySamplesAreMergedIntoTheNextOne) {
  auto set = make_equal_set(1);
  const DispatchAccounting acc;  // prefill_rate_min_sample 2048
  BackendState& s = (*set)[0].state();
  auto small = acc.dispatch(set, 0, prompt(100), 0, nullptr);
  auto big = acc.dispatch(set, 0, prompt(3900), 0, nullptr);
  acc.first_token(small, 10 * kMs, nullptr);  // 100 tokens: one engine step, says little
  EXPECT_FALSE(learned_prefill_rate(s).has_value());
  acc.first_token(big, 100 * kMs, nullptr);  // 4000 tokens since the start of the busy period
  EXPECT_NEAR(*learned_prefill_rate(s), 40000.0, 1e-6);
}

TEST(EstimatorsTest, RatesAreNormalisedByDecodeLoad) {
  auto set = make_equal_set(1);
  EstimatorConfig c;
  c.decode_interference = 0.25;
  const DispatchAccounting acc(c);
  BackendState& s = (*set)[0].state();
  s.scraped.kv_usage.store(1.0);  // a full cache of decodes: steps 25 % slower
  auto t = acc.dispatch(set, 0, prompt(4000), 0, nullptr);
  acc.first_token(t, 125 * kMs, nullptr);
  EXPECT_NEAR(*learned_prefill_rate(s), 40000.0, 1e-6);  // 4000 / 0.125 x 1.25
}

TEST(EstimatorsTest, RateEstimateBlendsWithThePriorAndAges) {
  auto set = make_equal_set(1);
  BackendState& s = (*set)[0].state();
  EXPECT_DOUBLE_EQ(prefill_rate_estimate(s, 0, 30 * kNanosPerSecond, 20000, 65536), 20000.0);  // nothing learned
  s.estimates.prefill_rate_work.store(65536);
  s.estimates.prefill_rate_seconds.store(65536.0 / 40000);
  s.estimates.prefill_rate_at.store(0);
  // Equal evidence at 40k and at the prior's 20k: (65536 + 65536) / (1.6384 + 3.2768).
  EXPECT_NEAR(prefill_rate_estimate(s, 0, 30 * kNanosPerSecond, 20000, 65536), 131072 / (1.6384 + 3.2768), 1e-6);
  // Thirty seconds later the backend's own evidence weighs e^-1 as much.
  const double e = std::exp(-1.0);
  EXPECT_NEAR(prefill_rate_estimate(s, 30 * kNanosPerSecond, 30 * kNanosPerSecond, 20000, 65536),
              (65536 * e + 65536) / (1.6384 * e + 3.2768), 1e-6);
  EXPECT_NEAR(prefill_rate_estimate(s, 0, 30 * kNanosPerSecond, 20000, 0), 40000.0, 1e-6);  // no prior
}

TEST(EstimatorsTest, DecodePhaseIsAveraged) {
  auto set = make_equal_set(1);
  const DispatchAccounting acc;
  BackendState& s = (*set)[0].state();
  auto t = acc.dispatch(set, 0, prompt(10), 0, nullptr);
  acc.first_token(t, 50 * kMs, nullptr);
  acc.complete(t, Outcome::kOk, 100, 2050 * kMs, nullptr);
  EXPECT_DOUBLE_EQ(*learned_decode_seconds(s), 2.0);
}

// --- The accounting with a prefix index ---

std::vector<std::uint64_t> hashes(std::size_t n, std::uint64_t seed) {
  std::vector<std::uint64_t> h;
  SeededRandom r(seed);
  for (std::size_t i = 0; i < n; ++i) h.push_back(r.next_u64() | 1);
  return h;
}

TEST(AccountingWithPrefixIndexTest, PredictsRecordsAndReleasesPrompts) {
  auto set = make_equal_set(2);
  PrefixIndexConfig ic;
  ic.stride = 1;
  EstimatorConfig c;
  c.prefix_index = std::make_shared<PrefixIndex>(ic);
  c.attention_tokens = 1000;
  const DispatchAccounting acc(c);
  const auto h = hashes(100, 1);  // 100 blocks = 1600 tokens
  auto& a = (*set)[0].state().accounting;

  auto t1 = acc.dispatch(set, 0, prompt(1600, h), 0, nullptr);
  EXPECT_EQ(t1.predicted_cached_tokens(), 0u);
  EXPECT_EQ(a.outstanding_uncached_tokens.load(), 1600);
  EXPECT_EQ(a.outstanding_prefill_work.load(), std::llround(prefill_work(1600, 0, 1000)));
  EXPECT_EQ(c.prefix_index->backend_stats((*set)[0].state()).pinned_entries, 100u);

  auto t2 = acc.dispatch(set, 0, prompt(1600, h), 0, nullptr);  // same prompt, same backend
  EXPECT_EQ(t2.predicted_cached_tokens(), 1599u);               // all but the last token
  EXPECT_EQ(a.outstanding_uncached_tokens.load(), 1601);
  EXPECT_EQ(a.outstanding_prefill_work.load(),
            std::llround(prefill_work(1600, 0, 1000)) + std::llround(prefill_work(1, 1599, 1000)));
  EXPECT_EQ((*set)[0].state().prefix.predicted_cached_tokens_total.load(), 1599u);

  acc.first_token(t1, 100 * kMs, nullptr, PromptUsage{1600, 0});
  acc.first_token(t2, 110 * kMs, nullptr, PromptUsage{1600, 1584});
  EXPECT_EQ(a.outstanding_uncached_tokens.load(), 0);
  EXPECT_EQ(a.outstanding_prefill_work.load(), 0);
  const auto& p = (*set)[0].state().prefix;
  EXPECT_EQ(p.reports_total.load(), 2u);
  EXPECT_EQ(p.reported_cached_tokens_total.load(), 1584u);
  EXPECT_EQ(p.overpredictions_total.load(), 1u);  // 1584 < 1599 (within the index's tolerance, though)
  acc.complete(t1, Outcome::kOk, 5, 200 * kMs, nullptr);
  EXPECT_EQ(c.prefix_index->backend_stats((*set)[0].state()).pinned_entries, 100u);  // t2 still runs
  { auto gone = std::move(t2); }  // destroyed without complete(): released all the same
  EXPECT_EQ(c.prefix_index->backend_stats((*set)[0].state()).pinned_entries, 0u);
  EXPECT_EQ(a.in_flight.load(), 0);
}

TEST(AccountingWithPrefixIndexTest, UsageReportedAtCompletionCorrectsOnce) {
  auto set = make_equal_set(1);
  PrefixIndexConfig ic;
  ic.stride = 1;
  EstimatorConfig c;
  c.prefix_index = std::make_shared<PrefixIndex>(ic);
  const DispatchAccounting acc(c);
  const auto h = hashes(100, 2);
  auto warm = acc.dispatch(set, 0, prompt(1600, h), 0, nullptr);
  acc.complete(warm, Outcome::kOk, 1, 10 * kMs, nullptr);
  auto t = acc.dispatch(set, 0, prompt(1600, h), 20 * kMs, nullptr);
  acc.first_token(t, 30 * kMs, nullptr);              // no usage yet
  acc.report_usage(t, PromptUsage{std::nullopt, 0});  // the backend had nothing: far below 1599
  acc.complete(t, Outcome::kOk, 3, 40 * kMs, nullptr, PromptUsage{std::nullopt, 0});  // not counted twice
  const auto& p = (*set)[0].state().prefix;
  EXPECT_EQ(p.reports_total.load(), 1u);
  EXPECT_EQ(p.overpredictions_total.load(), 1u);
  EXPECT_LT(c.prefix_index->backend_stats((*set)[0].state()).effective_capacity_entries,
            static_cast<double>(c.prefix_index->backend_stats((*set)[0].state()).capacity_entries));
}

}  // namespace
}  // namespace kvroute::routing
