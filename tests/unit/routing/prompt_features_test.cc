#include "routing/prompt_features.h"

#include <string>

#include <gtest/gtest.h>

namespace kvroute::routing {
namespace {

TEST(PromptFeatureBuilderTest, SharedPrefixGivesSharedLeadingHashes) {
  const std::string head(256, 's');  // 4 whole blocks
  PromptFeatureBuilder a, b;
  a.reset("m");
  a.append(head);
  a.append(std::string(64, 'x'));
  b.reset("m");
  b.append(head.substr(0, 100));  // piece boundaries do not matter
  b.append(head.substr(100));
  b.append(std::string(64, 'y'));
  ASSERT_EQ(a.block_hashes().size(), 5u);
  ASSERT_EQ(b.block_hashes().size(), 5u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(a.block_hashes()[i], b.block_hashes()[i]);
  EXPECT_NE(a.block_hashes()[4], b.block_hashes()[4]);
}

TEST(PromptFeatureBuilderTest, ModelSeedsTheChain) {
  PromptFeatureBuilder a, b;
  a.reset("model-a");
  b.reset("model-b");
  a.append(std::string(64, 'p'));
  b.append(std::string(64, 'p'));
  EXPECT_NE(a.block_hashes()[0], b.block_hashes()[0]);
}

TEST(PromptFeatureBuilderTest, EstimatesTokensAndResets) {
  PromptFeatureBuilder f;
  f.reset("m");
  f.append(std::string(130, 'a'));
  EXPECT_EQ(f.prompt_bytes(), 130u);
  EXPECT_EQ(f.estimated_tokens(), 33u);  // ceil(130 / 4)
  EXPECT_EQ(f.block_hashes().size(), 2u);
  f.reset("m");
  EXPECT_EQ(f.block_hashes().size(), 0u);
  EXPECT_EQ(f.estimated_tokens(), 0u);
}

}  // namespace
}  // namespace kvroute::routing
