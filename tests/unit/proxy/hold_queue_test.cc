// The hold queue's rules (FIFO, only the head is offered, the wake chain, leaving from any place), the
// process-wide held count behind queue.max_requests, and the worker queue's wake-ups on real timers.
#include "proxy/hold_queue.h"

#include <gtest/gtest.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <thread>
#include <vector>

#include "proxy/worker_hold_queue.h"

namespace kvroute::proxy {
namespace {

TEST(HoldQueueTest, ServesInArrivalOrder) {
  HoldQueue q;
  std::array<HoldEntry, 4> e;
  for (auto& x : e) q.push_back(x);
  EXPECT_EQ(q.size(), 4u);
  std::vector<HoldEntry*> served;
  while (!q.empty()) {
    HoldEntry* head = q.front();
    served.push_back(head);
    q.remove(*head);
  }
  EXPECT_EQ(served, (std::vector<HoldEntry*>{&e[0], &e[1], &e[2], &e[3]}));
  EXPECT_EQ(q.size(), 0u);
}

TEST(HoldQueueTest, OnlyTheHeadIsOfferedAndOnlyOnce) {
  HoldQueue q;
  EXPECT_EQ(q.offer(), nullptr);  // nothing held
  std::array<HoldEntry, 4> e;
  for (auto& x : e) q.push_back(x);
  EXPECT_EQ(q.offer(), &e[0]);
  EXPECT_TRUE(e[0].offered());
  EXPECT_FALSE(e[1].offered());
  EXPECT_EQ(q.offer(), nullptr);  // its offer is still pending: one wake-up is enough
  q.decline(e[0]);                // it picked and was held again
  EXPECT_FALSE(e[0].offered());
  EXPECT_EQ(q.front(), &e[0]);  // and keeps its place: everything behind it stays held
  EXPECT_EQ(q.offer(), &e[0]);
}

TEST(HoldQueueTest, TheHeadLeavingOffersTheNextOne) {
  HoldQueue q;
  std::array<HoldEntry, 4> e;
  for (auto& x : e) q.push_back(x);
  ASSERT_EQ(q.offer(), &e[0]);
  // The head is bound to a backend: the next one picks at once (with the dispatch counted), and so on.
  EXPECT_EQ(q.remove(e[0]), &e[1]);
  EXPECT_TRUE(e[1].offered());
  EXPECT_EQ(q.remove(e[1]), &e[2]);
  // A head that gives up (timeout, client gone) without an offer passes one on too.
  q.decline(e[2]);
  EXPECT_EQ(q.remove(e[2]), &e[3]);
  EXPECT_EQ(q.remove(e[3]), nullptr);
  EXPECT_TRUE(q.empty());
}

TEST(HoldQueueTest, LeavingFromTheMiddleOrTheTailKeepsTheOrder) {
  HoldQueue q;
  std::array<HoldEntry, 4> e;
  for (auto& x : e) q.push_back(x);
  EXPECT_EQ(q.remove(e[2]), nullptr);  // not the head: nobody to wake
  EXPECT_FALSE(e[2].queued());
  EXPECT_EQ(q.remove(e[2]), nullptr);  // leaving twice is harmless
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.remove(e[3]), nullptr);  // the tail
  HoldEntry late;
  q.push_back(late);  // the tail pointer was fixed up: the newcomer goes after e[1]
  std::vector<HoldEntry*> served;
  while (!q.empty()) {
    served.push_back(q.front());
    q.remove(*q.front());
  }
  EXPECT_EQ(served, (std::vector<HoldEntry*>{&e[0], &e[1], &late}));
}

TEST(HoldQueueTest, AnEntryCanBeHeldAgainAfterLeaving) {
  HoldQueue q;
  HoldEntry a, b;
  q.push_back(a);
  ASSERT_EQ(q.offer(), &a);
  q.remove(a);
  EXPECT_FALSE(a.offered());
  q.push_back(b);
  q.push_back(a);  // a retry held again joins the tail, not offered
  EXPECT_FALSE(a.offered());
  EXPECT_EQ(q.front(), &b);
  EXPECT_EQ(q.remove(b), &a);
}

TEST(HoldCountTest, BoundsTheRequestsHeld) {
  HoldCount c;
  EXPECT_FALSE(c.try_acquire(0));  // max_requests 0: never hold
  EXPECT_TRUE(c.try_acquire(2));
  EXPECT_TRUE(c.try_acquire(2));
  EXPECT_FALSE(c.try_acquire(2));
  EXPECT_EQ(c.held(), 2u);
  c.release();
  EXPECT_TRUE(c.try_acquire(2));
  EXPECT_FALSE(c.try_acquire(2));
}

TEST(HoldCountTest, NeverAdmitsMoreThanTheLimitAcrossThreads) {
  HoldCount c;
  constexpr std::uint32_t kMax = 1000;
  std::atomic<std::uint32_t> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (c.try_acquire(kMax)) admitted.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), kMax);
  EXPECT_EQ(c.held(), kMax);
}

// ---- The worker queue: wake-ups on real timers ----

/// A held request as the session holds it: a timer armed far ahead, woken by cancellation.
struct Held {
  explicit Held(boost::asio::io_context& io) : timer(io) { entry.user = &timer; }
  void wait(std::vector<Held*>& woken) {
    timer.expires_after(std::chrono::hours(1));
    timer.async_wait([this, &woken](const boost::system::error_code& ec) {
      if (ec == boost::asio::error::operation_aborted) woken.push_back(this);
    });
  }
  boost::asio::steady_timer timer;
  HoldEntry entry;
};

TEST(WorkerHoldQueueTest, OfferWakesTheHeadOnly) {
  boost::asio::io_context io;
  WorkerHoldQueue q(io);
  Held a(io), b(io);
  std::vector<Held*> woken;
  q.push_back(a.entry);
  q.push_back(b.entry);
  a.wait(woken);
  b.wait(woken);
  q.offer();
  q.offer();  // the head's offer is pending: no second wake-up
  io.poll();
  EXPECT_EQ(woken, (std::vector<Held*>{&a}));
  EXPECT_TRUE(a.entry.offered());
  EXPECT_FALSE(b.entry.offered());
  // The head is bound: it leaves, and the next one is woken.
  q.remove(a.entry);
  io.poll();
  EXPECT_EQ(woken, (std::vector<Held*>{&a, &b}));
  EXPECT_TRUE(b.entry.offered());
  q.remove(b.entry);
  EXPECT_TRUE(q.empty());
}

TEST(WorkerHoldQueueTest, ReoffersWhileNotEmptyAndStopsWhenEmpty) {
  boost::asio::io_context io;
  WorkerHoldQueue q(io);
  Held a(io);
  std::vector<Held*> woken;
  q.push_back(a.entry);
  a.wait(woken);
  // Nothing happens on this worker, yet the head is offered again (state may have changed elsewhere).
  const auto start = std::chrono::steady_clock::now();
  while (woken.empty() && std::chrono::steady_clock::now() - start < std::chrono::seconds(10)) io.run_one();
  ASSERT_EQ(woken, (std::vector<Held*>{&a}));
  EXPECT_TRUE(a.entry.offered());
  // Held again: it is offered again at the next tick.
  q.decline(a.entry);
  a.wait(woken);
  while (woken.size() < 2 && std::chrono::steady_clock::now() - start < std::chrono::seconds(10)) io.run_one();
  ASSERT_EQ(woken.size(), 2u);
  // Once the queue is empty no timer is left: run() returns, as it only does when no work remains.
  q.remove(a.entry);
  io.restart();
  io.run();
  EXPECT_TRUE(q.empty());
}

TEST(WorkerHoldQueueTest, TickerRestartsAfterTheQueueEmptied) {
  boost::asio::io_context io;
  WorkerHoldQueue q(io);
  Held a(io), b(io);
  std::vector<Held*> woken;
  q.push_back(a.entry);
  q.remove(a.entry);  // empty again before any tick
  q.push_back(b.entry);
  b.wait(woken);
  const auto start = std::chrono::steady_clock::now();
  while (woken.empty() && std::chrono::steady_clock::now() - start < std::chrono::seconds(10)) io.run_one();
  EXPECT_EQ(woken, (std::vector<Held*>{&b}));
  q.remove(b.entry);
  io.restart();
  io.run();
}

}  // namespace
}  // namespace kvroute::proxy
