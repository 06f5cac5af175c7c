#pragma once
// The offline fleet driver: replays a prepared workload against N simulated servers in virtual
// time, routing every request through one Policy instance and the shared DispatchAccounting, exactly
// as a gateway worker would (routing/dispatch_accounting.h), and records what happened to each
// request. Single-threaded; one FleetSimulation per policy run (fresh engines, fresh backend state).
//
// Events, in virtual time (ties at one instant are handled in this order):
//   1. step end     an engine's forward pass ends: its tokens are delivered (first token ->
//                   DispatchAccounting::first_token with the backend's usage report: prompt tokens
//                   and cached_tokens from Engine::request_info; last token -> complete(kOk)), then the engine
//                   starts its next pass at once (Engine::step), as kvroute-sim's loop does.
//   2. scrape       every scrape_interval (from t = 0): each engine's stats are copied into its
//                   BackendState::scraped (running, waiting, KV usage, prefix hits/queries,
//                   preemptions, KV capacity, time), the figures the live gateway's scraper writes
//                   from vLLM's /metrics. The engine's state is the one after its latest step was
//                   planned (kvroute-sim serves /metrics from the same state).
//   3. arrival      the request (arrival = trace time x time_scale) joins the gateway's FIFO queue,
//                   and the queue is drained (below).
//   4. deadline     arrival + timeout: a request with no first token yet is a timeout. Still queued:
//                   dropped. Dispatched: aborted in its engine (its KV blocks are freed at once) and
//                   completed as Outcome::kError, which the accounting treats as a failed request.
//   5. kick         an engine that received work while idle starts a pass, after everything else at
//                   that instant, so a burst of simultaneous arrivals is batched into one pass.
// Draining the queue: the head request's features are built (arrival time, the prompt's block hashes
// and token estimate, max_tokens = the trace's output length, model, deadline = arrival + timeout,
// stream = true) and offered to policy.pick(); a backend index dispatches it (accounting, then
// Engine::add_request), nullopt stops the drain and the request waits: late-binding policies hold
// requests this way. The queue is offered again whenever a backend's state changes: a first token, a
// completion, a scrape, a timeout. FIFO: a held head holds everything behind it.
// A request the engine refuses (prompt + output beyond max_model_len or the whole KV cache) is
// completed as kError at once and counted as rejected.

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "bench/fleet.h"
#include "bench/workload.h"
#include "common/time_source.h"
#include "routing/backend_set.h"
#include "routing/policy.h"
#include "sim/engine.h"

namespace kvroute::bench {

struct SimOptions {
  double time_scale = 1.0;                      ///< arrivals at trace time x time_scale (0.5: twice as dense)
  std::uint64_t seed = 1;                       ///< seeds the policy's PickContext random source
  Nanos scrape_interval = 50 * kNanosPerMilli;  ///< llm-d EPP's default refresh interval
  Nanos timeout = 300 * kNanosPerSecond;        ///< arrival -> first token, else a timeout; > 0
};

enum class RequestStatus : std::uint8_t { kPending, kCompleted, kTimedOut, kRejected };

/// What happened to one request. Times are virtual, on the run's clock (kNever: did not happen).
struct RequestRecord {
  Nanos arrival = 0;  ///< scaled
  Nanos dispatched = routing::kNever;
  Nanos first_token = routing::kNever;
  Nanos finished = routing::kNever;  ///< last token, timeout or rejection
  std::uint32_t backend = UINT32_MAX;
  std::uint32_t prompt_tokens = 0;
  std::uint32_t output_tokens = 0;
  std::uint32_t cached_tokens = 0;  ///< the engine's prefix hit at first schedule
  RequestStatus status = RequestStatus::kPending;
};

/// Raw outcome of one policy run; metrics.h turns it into the reported figures.
struct RunResult {
  std::vector<RequestRecord> requests;  ///< in workload order
  std::vector<std::uint64_t> dispatched_per_backend;
  Nanos start = 0;                      ///< first arrival
  Nanos end = 0;                        ///< last completion, timeout or rejection
  double kv_usage_mean = 0;             ///< time-weighted over [start, end], averaged over backends
  std::uint64_t prefix_cache_hits = 0;  ///< engine counters, summed over backends
  std::uint64_t prefix_cache_queries = 0;
  std::uint64_t preemptions = 0;
  std::size_t max_queued = 0;  ///< longest the gateway queue got
  std::uint64_t engine_steps = 0;
};

class FleetSimulation {
 public:
  /// Builds the fleet (a BackendSet of `fleet.backends.size()` backends, one engine each) and one
  /// policy instance from `factory`. The workload, fleet and factory must outlive the simulation.
  /// Throws std::invalid_argument for an empty fleet or a non-positive timeout or scrape interval.
  FleetSimulation(const Workload& workload, const Fleet& fleet, const routing::PolicyFactory& factory,
                  SimOptions options);
  ~FleetSimulation();
  FleetSimulation(const FleetSimulation&) = delete;
  FleetSimulation& operator=(const FleetSimulation&) = delete;

  /// Replays the whole workload until every request completed, timed out or was rejected.
  /// Call once.
  RunResult run();

  /// Called after every scrape, with the scrape time (tests).
  void set_scrape_observer(std::function<void(Nanos)> observer);

  /// The backend snapshot the policy picks from, and the engines behind it (index = backend index).
  const routing::BackendSet& backends() const;
  const sim::Engine& engine(std::uint32_t backend) const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvroute::bench
