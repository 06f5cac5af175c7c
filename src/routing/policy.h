#pragma once
// The Policy interface: which backend of a snapshot should serve a request.
//
// Threading model (after Envoy's worker-local load balancers):
//  - A PolicyFactory is built once per pool from the pool's config (policy_registry.h), on the
//    control thread, and is immutable afterwards; it may be shared by every thread.
//  - Each worker thread calls factory.create() and owns the Policy it gets. A Policy instance is
//    used by one thread only (its owner), so it may keep mutable per-worker state (round-robin
//    cursors, smooth-WRR current weights) without synchronisation.
//  - The backend set and the shared per-backend state (BackendState atomics) are shared by all
//    workers. A policy only reads BackendState; the request path updates it through
//    dispatch_accounting.h, which is the same code in the live gateway and the offline evaluator.
//  - A policy never reads a clock or a global random source (PickContext injects both), never
//    blocks, and does not allocate in pick() in the steady state. The first pick on a new snapshot
//    may allocate to rebuild per-snapshot structures (keyed by BackendSet::generation()).

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "common/random.h"
#include "common/time_source.h"
#include "routing/backend_set.h"
#include "routing/request_features.h"

namespace kvroute::routing {

/// Per-pick inputs that are not about the request: injected time and randomness, and the
/// backends this pick must not return.
///
/// Candidate rules, the same for every policy (candidates.h implements them):
///  1. An excluded backend (already tried by this request's earlier attempts) is never returned.
///  2. Among the rest, only healthy backends (BackendState::healthy()) are candidates.
///  3. If no healthy backend remains, the policy runs over the unhealthy and ejected ones instead
///     ("panic", as Envoy does when too few hosts are healthy): a request sent to a backend that
///     is probably down beats a certain error, and health checks can be wrong. Draining backends
///     are never candidates.
///  4. If nothing remains, pick() returns nullopt.
///
/// `excluded` holds indices into the `set` passed with it. A request should make all its attempts
/// on the snapshot it started with (it holds the shared_ptr for its ticket anyway), so its indices
/// stay meaningful; policies handle picks on an older snapshot interleaved with the latest one
/// (per-snapshot state is rebuilt or, for costly structures, kept for the two latest snapshots).
struct PickContext {
  const TimeSource& clock;
  Random& random;
  std::span<const std::uint32_t> excluded = {};  ///< backend indices tried already; small (retries)

  /// Whether index i is excluded. O(excluded.size()).
  bool is_excluded(std::uint32_t i) const {
    for (const auto e : excluded) {
      if (e == i) return true;
    }
    return false;
  }
};

/// How a dispatched request ended.
enum class Outcome : std::uint8_t {
  kOk,         ///< the backend returned a complete response
  kError,      ///< connect failure, reset, 5xx, malformed stream, timeout
  kCancelled,  ///< the client went away or the gateway gave up for its own reasons
};

/// Timings of a completed request, as told to Policy::on_complete.
struct Completion {
  Outcome outcome = Outcome::kOk;
  Nanos elapsed = 0;                          ///< dispatch -> completion
  std::optional<Nanos> ttft;                  ///< dispatch -> first token, if one arrived
  std::uint32_t output_tokens = 0;            ///< tokens received
  std::uint32_t prompt_tokens = 0;            ///< the request's prompt tokens (estimate, or the backend's usage figure)
  std::uint32_t predicted_cached_tokens = 0;  ///< prefix-index prediction at dispatch (0 without an index)
  std::optional<std::uint32_t> cached_tokens;  ///< backend-reported cached prompt tokens, if reported
};

/// A load-balancing policy instance, owned by one worker thread (see the file comment).
class Policy {
 public:
  virtual ~Policy() = default;

  /// Owner thread. The registered name of this policy ("round_robin", ...).
  virtual std::string_view name() const = 0;

  /// Owner thread. Chooses a backend of `set` for the request, following PickContext's candidate
  /// rules; returns its index, or nullopt when no backend should take it now (no candidate; later
  /// policies may also return nullopt to mean "hold in the gateway queue"). Does not block, does not
  /// change shared state (dispatching is the caller's business, through DispatchAccounting), and
  /// allocates only on the first pick after a snapshot change.
  virtual std::optional<std::uint32_t> pick(const RequestFeatures& features, const BackendSet& set,
                                            PickContext& ctx) = 0;

  /// Owner thread. The request was sent to set[backend] (called by DispatchAccounting::dispatch after
  /// the shared counters were updated). `set` may be older than the policy's latest snapshot.
  virtual void on_dispatch(const RequestFeatures& /*features*/, const BackendSet& /*set*/, std::uint32_t /*backend*/) {}

  /// Owner thread. set[backend] produced the first token `ttft` after dispatch.
  virtual void on_first_token(const BackendSet& /*set*/, std::uint32_t /*backend*/, Nanos /*ttft*/) {}

  /// Owner thread. The request on set[backend] ended; called exactly once per dispatch that was
  /// completed through DispatchAccounting::complete.
  virtual void on_complete(const BackendSet& /*set*/, std::uint32_t /*backend*/, const Completion& /*done*/) {}
};

/// Builds per-worker Policy instances for one pool. Immutable after construction.
class PolicyFactory {
 public:
  virtual ~PolicyFactory() = default;

  /// Any thread. The registered policy name.
  virtual std::string_view name() const = 0;

  /// Any thread (normally each worker, once, at start-up or when the pool's policy changes). A fresh
  /// instance with its own per-worker state; instances of one factory may share immutable,
  /// per-snapshot structures (e.g. a hash ring) built once for all workers.
  virtual std::unique_ptr<Policy> create() const = 0;

  /// Control thread, optional. Called with each new snapshot before it is published, so that
  /// structures every worker needs for it (a hash ring) are built once and off the request path.
  /// A worker that meets a snapshot that was not prepared builds what it needs itself.
  virtual void prepare(const BackendSet& /*set*/) const {}

  /// Any thread. How the pool's shared estimates (BackendState::estimates) should decay for this
  /// policy; the pool builds its DispatchAccounting with it. Defaults suit every policy that does not
  /// read the estimates.
  virtual EstimatorConfig estimator_config() const { return {}; }

  /// Any thread. Whether the policy reads the backends' scraped metrics (BackendState::scraped): pools
  /// whose `metrics.enabled` is left to `auto` are scraped only then.
  virtual bool reads_backend_metrics() const { return false; }
};

}  // namespace kvroute::routing
