// The worker's buffer free lists and idle-read list (proxy/buffer_pool.h): blocks are reused LIFO
// and bounded, free lists give back what a period did not use, a read buffer keeps its unread bytes
// across compaction and growth and returns its block on release.

#include "proxy/buffer_pool.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace kvroute::proxy {
namespace {

void write(ReadBuffer& b, std::string_view bytes) {
  while (!bytes.empty()) {
    const auto room = b.prepare();
    const std::size_t n = std::min(room.size(), bytes.size());
    std::memcpy(room.data(), bytes.data(), n);
    b.commit(n);
    bytes.remove_prefix(n);
  }
}

TEST(FreeListDecayTest, GivesBackHalfOfTheUnusedSurplusAboveKeepAtTheEndOfAPeriod) {
  FreeListDecay decay(4);
  // The list never fell below 20 entries in this period: 16 above keep were never needed.
  for (std::uint32_t i = 1; i < FreeListDecay::kPeriod; ++i) EXPECT_EQ(decay.after_acquire(20 + i % 3), 0u);
  EXPECT_EQ(decay.after_acquire(30), 8u);
  // A period whose low point is at or below keep gives nothing back.
  for (std::uint32_t i = 1; i < FreeListDecay::kPeriod; ++i) decay.after_acquire(50);
  EXPECT_EQ(decay.after_acquire(4), 0u);
}

TEST(BufferPoolTest, ReusesTheMostRecentlyReleasedBlockAndBoundsTheFreeList) {
  BufferPool pool(/*keep=*/1, /*max_free=*/2);
  char* a = pool.acquire();
  char* b = pool.acquire();
  char* c = pool.acquire();
  EXPECT_EQ(pool.live_blocks(), 3u);
  EXPECT_EQ(pool.free_blocks(), 0u);
  pool.release(a);
  pool.release(b);
  pool.release(c);  // the list holds max_free already: c is freed
  EXPECT_EQ(pool.free_blocks(), 2u);
  EXPECT_EQ(pool.live_blocks(), 2u);
  EXPECT_EQ(pool.acquire(), b);  // LIFO: the warmest block first
  EXPECT_EQ(pool.acquire(), a);
  EXPECT_EQ(pool.live_blocks(), 2u);  // no allocation for reused blocks
  char* d = pool.acquire();           // list empty: a new block
  EXPECT_EQ(pool.live_blocks(), 3u);
  pool.release(a);
  pool.release(b);
  pool.release(d);
}

TEST(ReadBufferTest, TakesABlockOnlyForAReadAndGivesItBackOnRelease) {
  BufferPool pool(1, 8);
  ReadBuffer buf(pool);
  EXPECT_FALSE(buf.has_storage());
  EXPECT_EQ(pool.live_blocks(), 0u);
  write(buf, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(buf.has_storage());
  EXPECT_EQ(pool.live_blocks(), 1u);
  EXPECT_EQ(buf.view(), "GET / HTTP/1.1\r\n\r\n");
  buf.consume(4);
  EXPECT_EQ(buf.view(), "/ HTTP/1.1\r\n\r\n");
  buf.release();
  EXPECT_FALSE(buf.has_storage());
  EXPECT_EQ(buf.size(), 0u);
  EXPECT_EQ(pool.free_blocks(), 1u);
}

TEST(ReadBufferTest, KeepsUnreadBytesWhenItCompactsAndWhenItGrowsPastABlock) {
  BufferPool pool(1, 8);
  ReadBuffer buf(pool);
  // Fill most of the block, read most of it: the next prepare moves the rest to the front.
  std::string first(BufferPool::kBlockSize - ReadBuffer::kMinRoom / 2, 'a');
  first.replace(first.size() - 5, 5, "tail!");
  write(buf, first);
  buf.consume(first.size() - 5);
  const auto room = buf.prepare();
  EXPECT_GE(room.size(), ReadBuffer::kMinRoom);
  EXPECT_EQ(buf.view(), "tail!");
  // A head larger than a block: the unread bytes survive the growth, the block goes back.
  std::string big;
  for (int i = 0; big.size() < 3 * BufferPool::kBlockSize; ++i) big += "header-" + std::to_string(i) + ";";
  write(buf, big);
  EXPECT_EQ(buf.view(), "tail!" + big);
  EXPECT_EQ(pool.free_blocks(), 1u);
  buf.release();
  EXPECT_EQ(pool.free_blocks(), 1u);  // a grown buffer goes to the allocator, not the list
}

TEST(BodyBufferPoolTest, KeepsBuffersWithStorageEmptiedAndDropsThoseWithout) {
  BodyBufferPool pool(/*padding=*/64, /*keep=*/1, /*max_free=*/4);
  PaddedBuffer b = pool.acquire();
  EXPECT_EQ(b.size(), 0u);
  b.append("{\"model\":\"m\"}");
  const char* storage = b.data();
  pool.release(std::move(b));
  EXPECT_EQ(pool.free_buffers(), 1u);
  PaddedBuffer again = pool.acquire();
  EXPECT_EQ(again.data(), storage);  // the same storage, reused
  EXPECT_EQ(again.size(), 0u);       // and emptied
  pool.release(pool.acquire());      // a buffer that never allocated is not worth keeping
  EXPECT_EQ(pool.free_buffers(), 0u);
  pool.release(std::move(again));
}

TEST(IdleReadListTest, OldestIsTheFirstLinkedAndRemovalKeepsTheOrder) {
  IdleReadList list;
  IdleReadList::Hook a, b, c;
  EXPECT_EQ(list.oldest(), nullptr);
  list.push_front(a);
  list.push_front(b);
  list.push_front(c);
  EXPECT_EQ(list.size(), 3u);
  EXPECT_EQ(list.oldest(), &a);
  list.remove(a);
  EXPECT_EQ(list.oldest(), &b);
  list.remove(c);  // the newest
  EXPECT_EQ(list.oldest(), &b);
  list.remove(c);  // not linked: nothing
  EXPECT_EQ(list.size(), 1u);
  list.remove(b);
  EXPECT_EQ(list.oldest(), nullptr);
  EXPECT_EQ(list.size(), 0u);
  list.push_front(a);  // a hook can be linked again
  EXPECT_EQ(list.oldest(), &a);
  list.remove(a);
}

}  // namespace
}  // namespace kvroute::proxy
