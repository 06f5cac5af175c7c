#include "sim/kv_block_manager.h"

#include <gtest/gtest.h>

#include <vector>

namespace kvroute::sim {
namespace {

using Blocks = std::vector<std::uint32_t>;

TEST(KvBlockManagerTest, NullBlockIsReservedAndUsageCountsReferencedBlocks) {
  KvBlockManager kv(11);
  EXPECT_EQ(kv.usable_blocks(), 10u);
  EXPECT_EQ(kv.num_free_blocks(), 10u);
  EXPECT_EQ(kv.free_queue(), (Blocks{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_DOUBLE_EQ(kv.usage(), 0.0);
  Blocks a;
  ASSERT_TRUE(kv.allocate(4, a));
  EXPECT_EQ(a, (Blocks{1, 2, 3, 4}));  // from the head
  EXPECT_DOUBLE_EQ(kv.usage(), 0.4);
  Blocks b;
  EXPECT_FALSE(kv.allocate(7, b));  // only 6 free: nothing changes
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(kv.num_free_blocks(), 6u);
  ASSERT_TRUE(kv.allocate(6, b));
  EXPECT_DOUBLE_EQ(kv.usage(), 1.0);
}

TEST(KvBlockManagerTest, FreeAppendsInReverseOrderSoTheLastBlockIsEvictedFirst) {
  KvBlockManager kv(9);  // usable 1..8
  Blocks a, b;
  ASSERT_TRUE(kv.allocate(3, a));  // 1 2 3
  ASSERT_TRUE(kv.allocate(3, b));  // 4 5 6
  for (std::uint32_t i = 0; i < 3; ++i) {
    kv.cache_block(a[i], 100 + i);
    kv.cache_block(b[i], 200 + i);
  }
  kv.free_blocks(a);
  kv.free_blocks(b);
  EXPECT_EQ(kv.free_queue(), (Blocks{7, 8, 3, 2, 1, 6, 5, 4}));
  EXPECT_EQ(kv.num_cached_blocks(), 6u);
  EXPECT_DOUBLE_EQ(kv.usage(), 0.0);  // cached but unreferenced blocks count as free

  // Allocation takes the never-used blocks, then a's LAST block: its identity is evicted then.
  Blocks c;
  ASSERT_TRUE(kv.allocate(3, c));
  EXPECT_EQ(c, (Blocks{7, 8, 3}));
  EXPECT_EQ(kv.lookup(102), BlockHashMap::kNone);
  EXPECT_FALSE(kv.is_cached(3));
  EXPECT_EQ(kv.lookup(101), 2u);  // a's earlier blocks survive
  EXPECT_EQ(kv.lookup(100), 1u);
  EXPECT_EQ(kv.num_cached_blocks(), 5u);
}

TEST(KvBlockManagerTest, TouchTakesAHitBlockOutOfTheFreeQueue) {
  KvBlockManager kv(6);  // usable 1..5
  Blocks a;
  ASSERT_TRUE(kv.allocate(2, a));
  kv.cache_block(a[0], 11);
  kv.cache_block(a[1], 12);
  kv.free_blocks(a);
  EXPECT_EQ(kv.free_queue(), (Blocks{3, 4, 5, 2, 1}));

  const Blocks hit{kv.lookup(11)};
  EXPECT_EQ(hit, Blocks{1});
  EXPECT_EQ(kv.count_unreferenced(hit), 1u);
  kv.touch(hit);
  EXPECT_EQ(kv.ref_count(1), 1u);
  EXPECT_EQ(kv.free_queue(), (Blocks{3, 4, 5, 2}));
  EXPECT_EQ(kv.count_unreferenced(hit), 0u);
  kv.touch(hit);  // a second sharer
  EXPECT_EQ(kv.ref_count(1), 2u);

  // Using every free block evicts 12 but not the touched 11.
  Blocks rest;
  ASSERT_TRUE(kv.allocate(4, rest));
  EXPECT_EQ(kv.lookup(12), BlockHashMap::kNone);
  EXPECT_EQ(kv.lookup(11), 1u);
  EXPECT_FALSE(kv.allocate(1, rest));

  // The block returns to the queue only when its last reference goes (at the tail: now the MRU).
  kv.free_blocks(hit);
  EXPECT_EQ(kv.num_free_blocks(), 0u);
  kv.free_blocks(rest);
  kv.free_blocks(hit);
  EXPECT_EQ(kv.free_queue(), (Blocks{2, 5, 4, 3, 1}));
}

TEST(KvBlockManagerTest, DuplicateIdentityIsNotRegistered) {
  KvBlockManager kv(6);
  Blocks a, b;
  ASSERT_TRUE(kv.allocate(1, a));
  ASSERT_TRUE(kv.allocate(1, b));
  EXPECT_TRUE(kv.cache_block(a[0], 77));
  EXPECT_FALSE(kv.cache_block(b[0], 77));
  EXPECT_FALSE(kv.is_cached(b[0]));
  EXPECT_EQ(kv.lookup(77), a[0]);
  EXPECT_FALSE(kv.cache_block(a[0], 78));  // a block keeps its first identity
  EXPECT_EQ(kv.num_cached_blocks(), 1u);
  // Reusing the duplicate evicts nothing.
  kv.free_blocks(b);
  Blocks c;
  ASSERT_TRUE(kv.allocate(4, c));
  EXPECT_EQ(kv.lookup(77), a[0]);
}

TEST(KvBlockManagerTest, CachingDisabledRegistersNothing) {
  KvBlockManager kv(4, /*enable_caching=*/false);
  Blocks a;
  ASSERT_TRUE(kv.allocate(1, a));
  EXPECT_FALSE(kv.cache_block(a[0], 5));
  EXPECT_EQ(kv.lookup(5), BlockHashMap::kNone);
}

}  // namespace
}  // namespace kvroute::sim
