#include "common/hash.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace kvroute {
namespace {

std::vector<std::uint64_t> chain(std::initializer_list<std::string_view> pieces, std::size_t block, std::uint64_t seed) {
  ChainedBlockHasher h(block, seed);
  std::vector<std::uint64_t> out;
  for (auto p : pieces) h.update(p, [&](std::uint64_t x) { out.push_back(x); });
  return out;
}

TEST(ChainedBlockHasherTest, SplitPointsDoNotChangeHashes) {
  const std::string text(200, 'a');
  const auto whole = chain({text}, 64, 7);
  const auto pieces = chain({std::string_view(text).substr(0, 3), std::string_view(text).substr(3, 100),
                             std::string_view(text).substr(103)},
                            64, 7);
  ASSERT_EQ(whole.size(), 3u);  // 200 bytes = 3 whole 64-byte blocks + a partial one
  EXPECT_EQ(whole, pieces);
}

TEST(ChainedBlockHasherTest, EachHashDependsOnWholePrefix) {
  const std::string a = std::string(64, 'x') + std::string(64, 'y');
  const std::string b = std::string(64, 'z') + std::string(64, 'y');
  const auto ha = chain({a}, 64, 0);
  const auto hb = chain({b}, 64, 0);
  EXPECT_NE(ha[0], hb[0]);
  EXPECT_NE(ha[1], hb[1]);  // same second block, different parent
  EXPECT_EQ(ha[0], hash_bytes(a.data(), 64, 0));
  EXPECT_EQ(ha[1], hash_bytes(a.data() + 64, 64, ha[0]));
}

TEST(ChainedBlockHasherTest, SeedSeparatesNamespaces) {
  const std::string text(64, 'q');
  EXPECT_NE(chain({text}, 64, 1), chain({text}, 64, 2));
}

}  // namespace
}  // namespace kvroute

namespace kvroute {
namespace {

TEST(ChainedBlockHasherTest, ResetStartsAFreshChain) {
  ChainedBlockHasher h(64, 3);
  const std::string text(130, 'k');
  std::vector<std::uint64_t> first, second;
  h.update(text, [&](std::uint64_t x) { first.push_back(x); });
  h.reset(3);
  EXPECT_EQ(h.total_bytes(), 0u);
  h.update(text, [&](std::uint64_t x) { second.push_back(x); });
  EXPECT_EQ(first, second);
}

}  // namespace
}  // namespace kvroute
