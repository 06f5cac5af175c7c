// The backend's usage report, from the bytes the gateway relays to what the dispatch accounting
// records: a backend that holds less of a prompt than the prefix index predicted is counted as an
// overprediction and shrinks the index's trust in that backend.
#include "proxy/prompt_usage.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "common/random.h"
#include "routing/prefix_index.h"

namespace kvroute::proxy {
namespace {

TEST(PromptUsageTest, NoReportIsEmpty) {
  const auto u = prompt_usage_of(std::nullopt);
  EXPECT_FALSE(u.prompt_tokens);
  EXPECT_FALSE(u.cached_tokens);
}

TEST(PromptUsageTest, ReadsANonStreamedBodyAndAStreamedUsageChunk) {
  // kvroute-sim's (and vLLM's) non-streamed answer and final usage chunk.
  auto u = prompt_usage_of(openai::parse_usage(
      R"({"id":"x","choices":[],"usage":{"prompt_tokens":120,"total_tokens":125,"completion_tokens":5,)"
      R"("prompt_tokens_details":{"cached_tokens":96}}})"));
  EXPECT_EQ(u.prompt_tokens, 120u);
  EXPECT_EQ(u.cached_tokens, 96u);
  // A usage without details (vLLM without --enable-prompt-tokens-details) says nothing about the cache.
  u = prompt_usage_of(openai::parse_usage(R"({"usage":{"prompt_tokens":120,"completion_tokens":5}})"));
  EXPECT_EQ(u.prompt_tokens, 120u);
  EXPECT_FALSE(u.cached_tokens);
  // A chunk without usage.
  EXPECT_FALSE(prompt_usage_of(openai::parse_usage(R"({"choices":[{"delta":{"content":"x"}}]})")).prompt_tokens);
}

TEST(PromptUsageTest, MissingOrOddFiguresAreNotTakenAtFaceValue) {
  openai::Usage u;
  u.prompt_tokens = 0;  // parse_usage's reading of a missing counter
  u.cached_tokens = 40;
  auto p = prompt_usage_of(u);
  EXPECT_FALSE(p.prompt_tokens);
  EXPECT_EQ(p.cached_tokens, 40u);
  u.prompt_tokens = 30;  // more cached than the prompt has: at most the prompt
  p = prompt_usage_of(u);
  EXPECT_EQ(p.cached_tokens, 30u);
  u.cached_tokens = -5;
  EXPECT_EQ(prompt_usage_of(u).cached_tokens, 0u);
  u.prompt_tokens = std::int64_t{1} << 40;
  u.cached_tokens = std::int64_t{1} << 41;
  p = prompt_usage_of(u);
  EXPECT_EQ(p.prompt_tokens, UINT32_MAX);
  EXPECT_EQ(p.cached_tokens, UINT32_MAX);
}

TEST(PromptUsageTest, AReportBelowThePredictionReachesTheAccounting) {
  routing::PrefixIndexConfig ic;
  ic.stride = 1;
  routing::EstimatorConfig c;
  c.prefix_index = std::make_shared<routing::PrefixIndex>(ic);
  const routing::DispatchAccounting acc(c);
  std::vector<routing::BackendSpec> specs(1);
  specs[0].url = "http://10.0.0.1:8000";
  auto set = *routing::BackendSet::build(std::move(specs));
  std::vector<std::uint64_t> hashes;
  SeededRandom r(5);
  for (int i = 0; i < 100; ++i) hashes.push_back(r.next_u64() | 1);  // 100 blocks = 1600 tokens
  routing::RequestFeatures f;
  f.prompt_tokens = 1600;
  f.block_hashes = hashes;

  auto warm = acc.dispatch(set, 0, f, 0, nullptr);
  acc.complete(warm, routing::Outcome::kOk, 1, 10, nullptr);
  auto t = acc.dispatch(set, 0, f, 20, nullptr);
  ASSERT_GT(t.predicted_cached_tokens(), 1500u);  // the index expects the prompt to be cached
  const auto& prefix = (*set)[0].state().prefix;
  const auto before = c.prefix_index->backend_stats((*set)[0].state());

  // The backend evicted it: its answer says 16 tokens were cached.
  const auto usage = prompt_usage_of(openai::parse_usage(
      R"({"usage":{"prompt_tokens":1600,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":16}}})"));
  acc.complete(t, routing::Outcome::kOk, 3, 40, nullptr, usage);
  EXPECT_EQ(prefix.reports_total.load(), 1u);
  EXPECT_EQ(prefix.reported_cached_tokens_total.load(), 16u);
  EXPECT_EQ(prefix.reported_prompt_tokens_total.load(), 1600u);
  EXPECT_EQ(prefix.overpredictions_total.load(), 1u);
  EXPECT_LT(c.prefix_index->backend_stats((*set)[0].state()).effective_capacity_entries,
            before.effective_capacity_entries);
}

}  // namespace
}  // namespace kvroute::proxy
