#pragma once
// Per-worker request statistics ("stat shards"): each worker writes only its own shard, so the
// counters need no read-modify-write atomics (a relaxed load and store), and readers on other threads
// (admin, logs) sum the shards. Cache-line aligned so shards of neighbouring workers do not share a
// line.

#include <atomic>
#include <cstdint>

#include "common/time_source.h"

namespace kvroute::proxy {

/// A counter written by one thread and read by any: add() is a relaxed load + store, not a locked
/// instruction.
class ShardCounter {
 public:
  void add(std::uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void raise_to(std::uint64_t n) {
    if (n > v_.load(std::memory_order_relaxed)) v_.store(n, std::memory_order_relaxed);
  }
  std::uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

struct alignas(64) WorkerStats {
  ShardCounter connections_accepted;
  ShardCounter requests;  ///< requests read from clients
  ShardCounter proxied;   ///< requests sent to a backend (first attempts)
  ShardCounter responses_2xx, responses_4xx, responses_5xx, responses_other;
  ShardCounter gateway_errors;     ///< error responses made by the gateway itself (4xx and 5xx)
  ShardCounter retries;            ///< attempts on another backend
  ShardCounter stale_retries;      ///< retries on a fresh connection after a stale keep-alive one
  ShardCounter upstream_connects;  ///< connections opened to backends
  ShardCounter upstream_reuses;    ///< requests sent on a kept-alive connection
  ShardCounter connect_failures, connect_timeouts;
  ShardCounter first_token_timeouts, idle_timeouts, total_timeouts;
  ShardCounter client_aborts;                      ///< clients that went away mid-request (upstream cancelled)
  ShardCounter ttft_count, ttft_sum_ns;            ///< time to first token (first SSE event, or response head)
  ShardCounter itl_count, itl_sum_ns, itl_max_ns;  ///< gaps between SSE events of a stream
  // The hold queue (late binding, docs/gateway.md). Every request that enters the queue leaves it
  // once: bound to a backend, timed out, abandoned, drained, or (rarely) with no candidate left.
  ShardCounter held;             ///< requests that entered a hold queue (a retry held again counts again)
  ShardCounter held_dispatched;  ///< held requests then bound to a backend
  ShardCounter hold_queue_full;  ///< 503 queue_full: queue.max_requests were held already (not held)
  ShardCounter hold_timeouts;    ///< 503 queue_timeout: held for queue.max_wait
  ShardCounter hold_abandoned;   ///< clients that went away while held (nothing was sent upstream)
  ShardCounter hold_drained;     ///< held requests answered 503 shutting_down at a graceful shutdown
  ShardCounter held_ns_sum;      ///< time spent in hold queues, all exits (ns)
};

/// Sum of several shards (any thread; figures may be a moment apart from each other).
struct StatsTotals {
  std::uint64_t connections_accepted = 0, requests = 0, proxied = 0, responses_2xx = 0, responses_4xx = 0,
                responses_5xx = 0, responses_other = 0, gateway_errors = 0, retries = 0, stale_retries = 0,
                upstream_connects = 0, upstream_reuses = 0, connect_failures = 0, connect_timeouts = 0,
                first_token_timeouts = 0, idle_timeouts = 0, total_timeouts = 0, client_aborts = 0, ttft_count = 0,
                ttft_sum_ns = 0, itl_count = 0, itl_sum_ns = 0, itl_max_ns = 0, held = 0, held_dispatched = 0,
                hold_queue_full = 0, hold_timeouts = 0, hold_abandoned = 0, hold_drained = 0, held_ns_sum = 0;
  void add(const WorkerStats& s);
};

}  // namespace kvroute::proxy
