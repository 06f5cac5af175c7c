#pragma once
// One worker thread's hold queue for one pool, with its wake-ups (hold_queue.h states the queue's
// rules; docs/gateway.md "Hold queue (late binding)" the behaviour clients see).
//
//  - A held request waits on a steady_timer of its own (HoldEntry::user), armed for its max_wait
//    deadline; waking it is cancelling that timer, as for upstream::UpstreamPool waiters. The woken
//    request reads HoldEntry::offered() to tell an offer from its client leaving or a drain.
//  - The head is offered a pick whenever the pool's state changes on this worker: every first token
//    and every completion of one of its requests (the session calls offer() after the accounting).
//  - And every kReofferInterval while the queue is not empty, because what changes elsewhere is not
//    seen otherwise: completions on other workers, scrapes and health changes on the control thread.
//    No timer runs while the queue is empty.
//
// Worker thread only. Lives as long as the worker (keyed by pool name, so it survives reloads).
// Networking code (includes Asio).

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>

#include "proxy/hold_queue.h"

namespace kvroute::proxy {

/// Period of the re-offer while requests are held. A free slot on another worker or a fresh scrape
/// (every 50 ms by default) is noticed at most this late, which is small beside what a held request
/// has already waited (a saturated backend's queue: hundreds of ms and more) and beside a decode step
/// (10-30 ms); each tick costs one pick of the head (microseconds) per pool with held requests, about
/// 200 picks per second, and only while the fleet is saturated.
inline constexpr std::chrono::milliseconds kReofferInterval{5};

class WorkerHoldQueue {
 public:
  explicit WorkerHoldQueue(boost::asio::io_context& io) : reoffer_(io) {}
  WorkerHoldQueue(const WorkerHoldQueue&) = delete;
  WorkerHoldQueue& operator=(const WorkerHoldQueue&) = delete;

  /// Worker thread. No request is held: what a request that is not held checks, and all it pays.
  bool empty() const { return queue_.empty(); }
  std::size_t size() const { return queue_.size(); }

  /// Worker thread. The pool's state changed on this worker (a first token, a completion): wakes the
  /// head to pick again. One emptiness check when nothing is held.
  void offer() {
    if (!queue_.empty()) wake(queue_.offer());
  }

  /// Worker thread. Holds e at the tail; e.user must point to the boost::asio::steady_timer its
  /// request waits on. Starts the re-offer timer if it is not running.
  void push_back(HoldEntry& e);

  /// Worker thread. The head e picked and was held again: it keeps its place, no longer offered.
  void decline(HoldEntry& e) { queue_.decline(e); }

  /// Worker thread. e leaves the queue (bound, timed out, client gone, drained); the new head is woken
  /// when e was the head; the re-offer timer stops when the queue is empty. No-op if e is not queued.
  void remove(HoldEntry& e);

 private:
  static void wake(HoldEntry* e);
  void arm();
  void on_tick();

  HoldQueue queue_;
  boost::asio::steady_timer reoffer_;
  bool armed_ = false;
};

}  // namespace kvroute::proxy
