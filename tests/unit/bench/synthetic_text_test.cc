#include "bench/synthetic_text.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "routing/prompt_features.h"
#include "sim/tokenizer.h"

namespace kvroute::bench {
namespace {

std::string block(std::uint64_t id) {
  std::string s(kTraceBlockBytes, '\0');
  trace_block_text(id, std::span<char, kTraceBlockBytes>(s.data(), kTraceBlockBytes));
  return s;
}

std::vector<std::uint64_t> feature_hashes(const std::string& text, std::string_view model) {
  routing::PromptFeatureBuilder b;
  b.reset(model);
  b.append(text);
  return {b.block_hashes().begin(), b.block_hashes().end()};
}

std::size_t common_prefix(const std::vector<std::uint64_t>& a, const std::vector<std::uint64_t>& b) {
  std::size_t k = 0;
  while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
  return k;
}

TEST(SyntheticTextTest, EqualIdsGiveEqualTextAndDistinctIdsDistinctText) {
  EXPECT_EQ(block(7), block(7));
  EXPECT_NE(block(7), block(8));
  EXPECT_NE(block(0), block(1));
  // Distinct from the first byte on in practice: no shared 64-byte block between different ids.
  EXPECT_NE(block(7).substr(0, 64), block(8).substr(0, 64));
}

TEST(SyntheticTextTest, TextIsPrintableAndNeedsNoJsonEscaping) {
  for (std::uint64_t id : {0ULL, 1ULL, 123456789ULL}) {
    for (const char c : block(id)) {
      const bool ok =
          (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ' ' || c == '.';
      ASSERT_TRUE(ok) << "byte " << static_cast<int>(c);
    }
  }
}

TEST(SyntheticTextTest, PromptHasExactlyFourBytesPerToken) {
  const std::vector<std::uint64_t> ids{3, 4, 5, 6};
  for (const std::uint32_t tokens : {1u, 15u, 16u, 511u, 512u, 513u, 1500u, 2048u}) {
    const std::string text = synthetic_prompt(SyntheticPrompt{ids, 0, tokens});
    EXPECT_EQ(text.size(), std::size_t{tokens} * 4) << tokens;
    sim::PromptTokenizer tok;
    tok.append(text);
    EXPECT_EQ(tok.tokens(), tokens);
  }
}

TEST(SyntheticTextTest, PromptIsTheConcatenationOfBlockTextsWithTheLastCut) {
  const std::vector<std::uint64_t> ids{9, 2};
  const std::string text = synthetic_prompt(SyntheticPrompt{ids, 0, 700});
  EXPECT_EQ(text.substr(0, 2048), block(9));
  EXPECT_EQ(text.substr(2048), block(2).substr(0, 700 * 4 - 2048));
}

TEST(SyntheticTextTest, RequestsSharingKIdsShareExactlyKTimes32LeadingHashes) {
  const std::string model = "meta-llama/Llama-3.1-8B-Instruct";
  for (std::size_t k = 0; k <= 3; ++k) {
    std::vector<std::uint64_t> a{100, 101, 102, 103};
    std::vector<std::uint64_t> b = a;
    for (std::size_t i = k; i < b.size(); ++i) b[i] += 1000;  // diverge after k blocks
    const auto ha = feature_hashes(synthetic_prompt(SyntheticPrompt{a, 1, 2000}), model);
    const auto hb = feature_hashes(synthetic_prompt(SyntheticPrompt{b, 2, 1900}), model);
    EXPECT_EQ(common_prefix(ha, hb), k * 32) << "k=" << k;

    // The simulated server's KV block identities share exactly as many 16-token blocks.
    sim::PromptTokenizer ta;
    sim::PromptTokenizer tb;
    ta.append(synthetic_prompt(SyntheticPrompt{a, 1, 2000}));
    tb.append(synthetic_prompt(SyntheticPrompt{b, 2, 1900}));
    EXPECT_EQ(common_prefix(ta.block_hashes(), tb.block_hashes()), k * 32) << "k=" << k;
  }
}

TEST(SyntheticTextTest, RequestsWithoutIdsShareNothing) {
  // Azure records: every block unique to the request key.
  const std::string a = synthetic_prompt(SyntheticPrompt{{}, 1, 600});
  const std::string b = synthetic_prompt(SyntheticPrompt{{}, 2, 600});
  EXPECT_EQ(a, synthetic_prompt(SyntheticPrompt{{}, 1, 600}));
  EXPECT_NE(a.substr(0, 64), b.substr(0, 64));
  // And they never collide with a Mooncake id of the same number.
  EXPECT_NE(a.substr(0, 2048), block(1));
}

TEST(SyntheticTextTest, MissingIdsAreFilledWithBlocksUniqueToTheRequest) {
  const std::vector<std::uint64_t> ids{5};
  const std::string a = synthetic_prompt(SyntheticPrompt{ids, 1, 1024});
  const std::string b = synthetic_prompt(SyntheticPrompt{ids, 2, 1024});
  EXPECT_EQ(a.substr(0, 2048), b.substr(0, 2048));
  EXPECT_NE(a.substr(2048, 64), b.substr(2048, 64));
}

}  // namespace
}  // namespace kvroute::bench
