#include "common/random.h"

#include <array>

#include <gtest/gtest.h>

namespace kvroute {
namespace {

TEST(SeededRandomTest, SameSeedSameSequence) {
  SeededRandom a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    differs |= x != c.next_u64();
  }
  EXPECT_TRUE(differs);
}

TEST(SeededRandomTest, UniformIsInRangeAndRoughlyFlat) {
  SeededRandom r(1);
  std::array<int, 10> counts{};
  constexpr int kDraws = 200'000;
  for (int i = 0; i < kDraws; ++i) {
    const auto v = r.uniform(10);
    ASSERT_LT(v, 10u);
    ++counts[v];
  }
  for (int c : counts) EXPECT_NEAR(c, kDraws / 10, kDraws / 100);
  for (int i = 0; i < 1000; ++i) {
    const double u = r.uniform01();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

TEST(SeededRandomTest, DerivedSeedsDiffer) {
  EXPECT_NE(derive_seed(1, 0), derive_seed(1, 1));
  EXPECT_EQ(derive_seed(5, 3), derive_seed(5, 3));
}

}  // namespace
}  // namespace kvroute
