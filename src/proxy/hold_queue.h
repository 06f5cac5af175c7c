#pragma once
// The gateway's hold queue (late binding), bookkeeping only (sans-IO, so its rules are tested without
// sockets or timers; worker_hold_queue.h adds the wake-ups).
//
// A policy may return nullopt while backends are left to pick from (routing/candidates.h
// has_candidate): it holds the request, to bind it later, with fresh state, to whichever backend frees
// first (the `cost` policy when every backend is saturated). The request then waits here. The rules
// are those of the offline evaluator's gateway queue (bench/fleet_driver.cc drain()), so a policy
// behaves the same live and offline:
//  - first in, first out; a request that arrives while others are held joins the tail without
//    picking (no overtaking);
//  - only the head is offered a pick; while the head is held, everything behind it stays held;
//  - when the head leaves (it was bound to a backend, or gave up), the new head is offered at once:
//    a burst of binding is a chain of offers, each pick seeing the dispatches before it.
//
// Each worker thread has one queue per pool (nothing here is locked); HoldCount is the only figure
// shared between workers: the number of requests held in the pool, for queue.max_requests.

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace kvroute::proxy {

/// A held request's place in its queue. Lives in the held request's session; the queue links it
/// without allocating.
class HoldEntry {
 public:
  /// The queue asked this request to pick again (it is the head, and state may have changed).
  bool offered() const { return offered_; }
  /// Linked into a queue.
  bool queued() const { return queued_; }

  void* user = nullptr;  ///< for the I/O code: what to wake (worker_hold_queue.h)

 private:
  friend class HoldQueue;
  HoldEntry* prev_ = nullptr;
  HoldEntry* next_ = nullptr;
  bool queued_ = false;
  bool offered_ = false;
};

/// FIFO of held requests of one pool on one worker thread. Owner thread only.
class HoldQueue {
 public:
  HoldQueue() = default;
  HoldQueue(const HoldQueue&) = delete;
  HoldQueue& operator=(const HoldQueue&) = delete;

  bool empty() const { return head_ == nullptr; }
  std::size_t size() const { return size_; }
  HoldEntry* front() const { return head_; }

  /// Appends e (not offered). e must stay alive until remove(e).
  void push_back(HoldEntry& e);

  /// State changed: the head should pick again. Marks it offered and returns it (wake it), or null
  /// when the queue is empty or the head's offer is still pending (one wake-up is enough).
  HoldEntry* offer();

  /// The head picked and was held again: it stays first, no longer offered.
  void decline(HoldEntry& e) { e.offered_ = false; }

  /// Takes e out (bound to a backend, timed out, its client left; any position). When e was the
  /// head, the new head is offered and returned (wake it); otherwise null. No-op if e is not queued.
  HoldEntry* remove(HoldEntry& e);

 private:
  HoldEntry* head_ = nullptr;
  HoldEntry* tail_ = nullptr;
  std::size_t size_ = 0;
};

/// Requests held in one pool across every worker, bounded by queue.max_requests. Touched only when a
/// request is held and when it leaves the queue, never by a request that is not held.
class HoldCount {
 public:
  /// Any thread. Counts one more held request unless `max` are held already (false then; 0 = never).
  bool try_acquire(std::uint32_t max) {
    std::uint32_t n = n_.load(std::memory_order_relaxed);
    do {
      if (n >= max) return false;
    } while (!n_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
    return true;
  }
  /// Any thread. A request counted by try_acquire left the queue.
  void release() { n_.fetch_sub(1, std::memory_order_relaxed); }
  /// Any thread. Requests held now.
  std::uint32_t held() const { return n_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint32_t> n_{0};
};

}  // namespace kvroute::proxy
