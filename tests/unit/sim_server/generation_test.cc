// How long answers are and why they stop; the filler text.
#include "sim_server/generation.h"

#include <set>

#include <gtest/gtest.h>

namespace kvroute::sim_server {
namespace {

openai::RequestFields fields() { return openai::RequestFields{}; }

TEST(PlanOutputTest, SimOutputTokensIsExact) {
  auto f = fields();
  f.sim_output_tokens = 37;
  auto p = plan_output(f, 10, 2048, 12345);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->output_tokens, 37u);
  EXPECT_EQ(p->finish, FinishReason::kStop);
  f.max_tokens = 37;
  p = plan_output(f, 10, 2048, 12345);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->finish, FinishReason::kLength);
}

TEST(PlanOutputTest, IgnoreEosRunsToMaxTokens) {
  auto f = fields();
  f.ignore_eos = true;
  f.max_tokens = 500;
  auto p = plan_output(f, 10, 2048, 0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->output_tokens, 500u);
  EXPECT_EQ(p->finish, FinishReason::kLength);
}

TEST(PlanOutputTest, DefaultMaxTokensIsCappedAndBoundedByContext) {
  auto f = fields();
  f.ignore_eos = true;
  auto p = plan_output(f, 10, 2048, 0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->output_tokens, kDefaultMaxTokens);
  p = plan_output(f, 2000, 2048, 0);  // only 48 tokens of context left
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->output_tokens, 48u);
}

TEST(PlanOutputTest, NaturalLengthIsAPureFunctionOfTheSeed) {
  auto f = fields();
  f.max_tokens = 1000;
  std::set<std::uint32_t> lengths;
  for (std::uint64_t seed = 0; seed < 500; ++seed) {
    auto a = plan_output(f, 10, 4096, seed);
    auto b = plan_output(f, 10, 4096, seed);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->output_tokens, b->output_tokens);
    EXPECT_GE(a->output_tokens, 16u);
    EXPECT_LE(a->output_tokens, 255u);
    EXPECT_EQ(a->finish, FinishReason::kStop);
    lengths.insert(a->output_tokens);
  }
  EXPECT_GT(lengths.size(), 100u);  // the seed really varies it
}

TEST(PlanOutputTest, MaxTokensBelowNaturalLengthEndsOnLength) {
  auto f = fields();
  f.max_tokens = 5;
  auto p = plan_output(f, 10, 2048, 3);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->output_tokens, 5u);
  EXPECT_EQ(p->finish, FinishReason::kLength);
}

TEST(PlanOutputTest, MinTokensLengthensTheNaturalStop) {
  auto f = fields();
  f.min_tokens = 300;
  f.max_tokens = 400;
  auto p = plan_output(f, 10, 2048, 0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->output_tokens, 300u);
  EXPECT_EQ(p->finish, FinishReason::kStop);
}

TEST(PlanOutputTest, ContextOverflowsAre400s) {
  auto f = fields();
  auto p = plan_output(f, 2048, 2048, 0);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, 400);
  EXPECT_NE(p.error().message.find("maximum context length is 2048"), std::string::npos);

  f.max_tokens = 100;
  p = plan_output(f, 1990, 2048, 0);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, 400);
  EXPECT_NE(p.error().message.find("max_tokens"), std::string::npos);

  auto g = fields();
  g.sim_output_tokens = 100;
  EXPECT_FALSE(plan_output(g, 1990, 2048, 0).ok());

  auto h = fields();
  h.max_tokens = 10;
  h.min_tokens = 11;
  EXPECT_FALSE(plan_output(h, 10, 2048, 0).ok());
}

TEST(FillerTest, TokensCycleThroughTheWordListFromASeededStart) {
  EXPECT_EQ(Filler::token(5, 0).front() == ' ', false);  // the first token has no leading space
  for (std::uint32_t i = 1; i < 200; ++i) {
    EXPECT_EQ(Filler::token(5, i).front(), ' ');
    EXPECT_EQ(Filler::token(5, i), Filler::token(5 + Filler::kNumWords, i));  // period of the list
  }
  EXPECT_EQ(Filler::token(5, 2), Filler::token(6, 1));  // a later start is the same cycle shifted
  EXPECT_NE(Filler::token(0, 3), Filler::token(1, 3));
  std::string a;
  std::string b;
  Filler::append_text(a, 99, 50);
  Filler::append_text(b, 99, 50);
  EXPECT_EQ(a, b);
  for (char c : a) EXPECT_TRUE(c == ' ' || (c >= 'a' && c <= 'z')) << a;  // nothing to JSON-escape
}

TEST(TextSeedSinkTest, CountsTokensHashesBlocksAndSeedsByContent) {
  TextSeedSink a(16);
  a.append(std::string(100, 'x'));
  a.append("tail");
  EXPECT_EQ(a.tokens(), 26u);           // 104 bytes / 4
  EXPECT_EQ(a.block_hashes().size(), 1u);  // one full 64-byte block
  TextSeedSink b(16);
  b.append(std::string(100, 'x'));
  b.append("tail");
  EXPECT_EQ(a.seed(), b.seed());
  EXPECT_EQ(a.block_hashes(), b.block_hashes());
  TextSeedSink c(16);
  c.append(std::string(100, 'x'));
  c.append("tale");
  EXPECT_NE(a.seed(), c.seed());
  EXPECT_EQ(a.block_hashes(), c.block_hashes());  // same first block
}

}  // namespace
}  // namespace kvroute::sim_server
