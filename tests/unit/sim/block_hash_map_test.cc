#include "sim/block_hash_map.h"

#include <gtest/gtest.h>

#include <unordered_map>

#include "common/random.h"

namespace kvroute::sim {
namespace {

TEST(BlockHashMapTest, InsertFindErase) {
  BlockHashMap map(8);
  EXPECT_EQ(map.find(42), BlockHashMap::kNone);
  EXPECT_TRUE(map.insert(42, 7));
  EXPECT_FALSE(map.insert(42, 9));  // present: unchanged
  EXPECT_EQ(map.find(42), 7u);
  EXPECT_EQ(map.size(), 1u);
  EXPECT_TRUE(map.erase(42));
  EXPECT_FALSE(map.erase(42));
  EXPECT_EQ(map.find(42), BlockHashMap::kNone);
  EXPECT_EQ(map.size(), 0u);
}

// Random inserts and erases near full load on a small table (long probe runs that wrap around)
// must agree with std::unordered_map: this is what exercises backward-shift deletion.
TEST(BlockHashMapTest, AgreesWithStdMapUnderChurn) {
  constexpr std::uint32_t kMax = 64;
  BlockHashMap map(kMax);
  std::unordered_map<std::uint64_t, std::uint32_t> ref;
  SeededRandom rng(7);
  for (int op = 0; op < 200000; ++op) {
    const std::uint64_t key = rng.uniform(200);  // small keys: many share a home slot
    if (rng.uniform(2) == 0 && ref.size() < kMax) {
      const auto value = static_cast<std::uint32_t>(rng.uniform(1000));
      const bool inserted = ref.emplace(key, value).second;
      ASSERT_EQ(map.insert(key, value), inserted);
    } else {
      ASSERT_EQ(map.erase(key), ref.erase(key) == 1);
    }
    ASSERT_EQ(map.size(), ref.size());
    if (op % 97 == 0) {
      for (std::uint64_t k = 0; k < 200; ++k) {
        const auto it = ref.find(k);
        ASSERT_EQ(map.find(k), it == ref.end() ? BlockHashMap::kNone : it->second) << "key " << k;
      }
    }
  }
}

}  // namespace
}  // namespace kvroute::sim
