// The keep-alive pool's bookkeeping, step by step, with integers standing in for connections.
#include "upstream/connection_pool.h"

#include <gtest/gtest.h>

namespace kvroute::upstream {
namespace {

using Pool = ConnectionPool<int>;
using Grant = Pool::Grant;

TEST(ConnectionPoolTest, OpensUpToTheLimitThenSaysWait) {
  Pool pool(2);
  std::optional<int> c;
  EXPECT_EQ(pool.acquire(c), Grant::kOpen);
  EXPECT_EQ(pool.acquire(c), Grant::kOpen);
  EXPECT_EQ(pool.acquire(c), Grant::kWait);
  EXPECT_FALSE(c.has_value());
  EXPECT_EQ(pool.open_count(), 2u);
  EXPECT_EQ(pool.opened_total(), 2u);
}

TEST(ConnectionPoolTest, ReleasedConnectionsAreReusedMostRecentFirst) {
  Pool pool(4);
  std::optional<int> c;
  ASSERT_EQ(pool.acquire(c), Grant::kOpen);
  ASSERT_EQ(pool.acquire(c), Grant::kOpen);
  EXPECT_EQ(pool.release(1, 100), nullptr);
  EXPECT_EQ(pool.release(2, 200), nullptr);
  EXPECT_EQ(pool.idle_count(), 2u);
  ASSERT_EQ(pool.acquire(c), Grant::kIdle);
  EXPECT_EQ(*c, 2) << "the warmest connection first";
  c.reset();
  ASSERT_EQ(pool.acquire(c), Grant::kIdle);
  EXPECT_EQ(*c, 1);
  EXPECT_EQ(pool.open_count(), 2u) << "reuse opens nothing";
  EXPECT_EQ(pool.reused_total(), 2u);
}

TEST(ConnectionPoolTest, DiscardFreesASlot) {
  Pool pool(1);
  std::optional<int> c;
  ASSERT_EQ(pool.acquire(c), Grant::kOpen);
  EXPECT_EQ(pool.acquire(c), Grant::kWait);
  EXPECT_EQ(pool.discard(), nullptr);
  EXPECT_EQ(pool.open_count(), 0u);
  EXPECT_EQ(pool.acquire(c), Grant::kOpen);
}

TEST(ConnectionPoolTest, ReleaseHandsTheConnectionToTheFirstWaiter) {
  Pool pool(1);
  std::optional<int> c;
  ASSERT_EQ(pool.acquire(c), Grant::kOpen);
  Pool::Waiter w1, w2;
  pool.enqueue(w1);
  pool.enqueue(w2);
  EXPECT_TRUE(pool.has_waiters());
  EXPECT_EQ(pool.release(7, 0), &w1);
  ASSERT_TRUE(w1.connection.has_value());
  EXPECT_EQ(*w1.connection, 7);
  EXPECT_FALSE(w2.woken());
  EXPECT_EQ(pool.idle_count(), 0u);
  // w1 finishes; the connection goes to w2.
  EXPECT_EQ(pool.release(*w1.connection, 0), &w2);
  EXPECT_EQ(*w2.connection, 7);
  EXPECT_FALSE(pool.has_waiters());
}

TEST(ConnectionPoolTest, NewRequestsQueueBehindWaiters) {
  Pool pool(1);
  std::optional<int> c;
  ASSERT_EQ(pool.acquire(c), Grant::kOpen);
  Pool::Waiter w;
  pool.enqueue(w);
  EXPECT_EQ(pool.acquire(c), Grant::kWait) << "first come, first served";
  EXPECT_EQ(pool.acquire_fresh(), Grant::kWait);
}

TEST(ConnectionPoolTest, DiscardGivesTheSlotToTheFirstWaiter) {
  Pool pool(1);
  std::optional<int> c;
  ASSERT_EQ(pool.acquire(c), Grant::kOpen);
  Pool::Waiter w;
  pool.enqueue(w);
  EXPECT_EQ(pool.discard(), &w);
  EXPECT_TRUE(w.may_open);
  EXPECT_EQ(pool.open_count(), 1u) << "the slot moved to the waiter";
}

TEST(ConnectionPoolTest, CancelledWaiterLeavesTheQueueAndReturnsUnusedGrants) {
  Pool pool(1);
  std::optional<int> c;
  ASSERT_EQ(pool.acquire(c), Grant::kOpen);
  Pool::Waiter w1, w2, w3;
  pool.enqueue(w1);
  pool.enqueue(w2);
  pool.enqueue(w3);
  EXPECT_EQ(pool.cancel(w2, 0), nullptr);  // from the middle
  EXPECT_EQ(pool.release(5, 0), &w1);
  // w1 gives up without using the connection: it goes to w3 (w2 left).
  EXPECT_EQ(pool.cancel(w1, 0), &w3);
  EXPECT_EQ(*w3.connection, 5);
  // w3 gives up too: the connection goes idle.
  EXPECT_EQ(pool.cancel(w3, 0), nullptr);
  EXPECT_EQ(pool.idle_count(), 1u);
  EXPECT_EQ(pool.open_count(), 1u);
}

TEST(ConnectionPoolTest, AcquireFreshNeverReturnsIdle) {
  Pool pool(2);
  std::optional<int> c;
  ASSERT_EQ(pool.acquire(c), Grant::kOpen);
  pool.release(1, 0);
  EXPECT_EQ(pool.acquire_fresh(), Grant::kOpen);
  EXPECT_EQ(pool.idle_count(), 1u);
  EXPECT_EQ(pool.acquire_fresh(), Grant::kWait) << "the idle one still counts against the limit";
}

TEST(ConnectionPoolTest, EvictIdleClosesWhatTheCallerRejects) {
  Pool pool(4);
  std::optional<int> c;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(pool.acquire(c), Grant::kOpen);
  pool.release(1, 10);
  pool.release(2, 20);
  pool.release(3, 30);
  std::vector<int> closed;
  const auto n = pool.evict_idle([](int& conn, Nanos since) { return conn != 2 && since >= 10; },
                                 [&](int& conn) { closed.push_back(conn); });
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(closed, std::vector<int>{2});
  EXPECT_EQ(pool.idle_count(), 2u);
  EXPECT_EQ(pool.open_count(), 2u);
  ASSERT_EQ(pool.acquire(c), Grant::kIdle);
  EXPECT_EQ(*c, 3);
}

TEST(ConnectionPoolTest, ZeroLimitMeansOne) {
  Pool pool(0);
  EXPECT_EQ(pool.max_connections(), 1u);
}

}  // namespace
}  // namespace kvroute::upstream
