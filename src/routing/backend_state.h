#pragma once
// Live per-backend figures, shared by every worker thread and the control thread without locks.
//
// One BackendState exists per backend URL. It is created when a URL first appears in a backend-set
// snapshot and handed on to every later snapshot that keeps that URL (backend_set.h), so counts and
// estimates survive config reloads; it is freed when the last snapshot and the last in-flight
// request that refer to it are gone (shared_ptr).
//
// Every field is a std::atomic used with relaxed ordering: each figure is an independent estimate,
// no reader needs two of them to be mutually consistent, and nothing else is published through them.
// Fields are grouped by writer onto separate cache lines so that the per-request counters, written by
// every worker, do not invalidate the lines the control thread writes (scrapes, health) and vice versa.
//
// Adding a figure: put it in the group of its writer, give it a /// line saying who writes it and
// what unit it is in. Never repurpose a field; existing policies read them by name.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "common/time_source.h"

namespace kvroute::routing {

class PrefixIndex;

/// Cache line size assumed for layout (x86-64 and most arm64). A constant rather than
/// std::hardware_destructive_interference_size, whose value may differ between translation units.
inline constexpr std::size_t kCacheLineBytes = 64;

/// A time value meaning "never happened".
inline constexpr Nanos kNever = INT64_MIN;

/// How the pool's shared accounting learns (set per pool; see PolicyFactory::estimator_config()).
/// The defaults suit every policy that does not read the LLM estimates: no prefix index, prefill work
/// counted in plain prompt tokens.
struct EstimatorConfig {
  Nanos ttft_decay = 10 * kNanosPerSecond;    ///< time constant of the TTFT peak-EWMA
  Nanos decode_decay = 10 * kNanosPerSecond;  ///< time constant of the per-token decode EWMA
  /// Time constant of the learned prefill rate (work and busy time are both averaged with it).
  Nanos prefill_rate_decay = 30 * kNanosPerSecond;
  /// Rate samples covering less prefill work than this (work tokens) are merged into the next one:
  /// tiny prompts take a whole engine step whatever their size and would make a backend look slow.
  double prefill_rate_min_sample = 2048;
  /// Prefill work model (estimators.h prefill_work): uncached tokens u on a cached prefix c cost
  /// u * (1 + (c + u / 2) / attention_tokens) "work tokens", the GEMM part plus causal attention.
  /// 0 counts plain tokens (attention ignored).
  double attention_tokens = 0.0;
  /// How much a completely full KV cache of decoding sequences slows a prefill step (vLLM steps read
  /// every running sequence's KV; estimators.h decode_slowdown). The learned prefill rate is
  /// normalised by it, so that it describes the backend, not the load it happened to carry. 0 = off.
  double decode_interference = 0.0;
  /// Shared prefix index the accounting feeds at every dispatch (prefix_index.h); null = none. Set by
  /// the policies that read it, so the pool's DispatchAccounting, built from this config, feeds the
  /// same index the pool's policy instances read.
  std::shared_ptr<PrefixIndex> prefix_index;
};

/// Peak-sensitive exponentially weighted moving average of a latency, in nanoseconds, updated
/// lock-free by any thread (Finagle's and linkerd's "peak EWMA").
///
/// observe(x, t): with w = exp(-(t - t_last) / tau),
///   value = x                          if x > value   (jump to a peak at once)
///   value = w * value + (1 - w) * x    otherwise      (recover gradually: a sample half a tau after
///                                                      the last one moves the value ~39% of the way)
/// A backend that shows one slow response is avoided immediately and trusted again only after
/// several faster ones, which is the asymmetry a load balancer wants.
///
/// Concurrency: a compare-and-swap loop on the value; the stamp is read separately, so two
/// simultaneous observations may decay with a slightly stale stamp. The value always stays within
/// the range of the samples observed, which is all a policy relies on.
class PeakEwma {
 public:
  /// Any thread. Records sample `x_nanos` taken at time `now`.
  void observe(double x_nanos, Nanos now, Nanos tau);

  /// Any thread. Records that the quantity was at least `x_nanos` (a censored sample: the request
  /// failed or was cancelled before it produced the figure). Raises the value as observe() would if
  /// `x_nanos` exceeds it, else changes nothing: a failure never makes a backend look faster.
  /// Before the first real sample it does nothing (a lower bound alone says too little; the reader's
  /// initial value stands).
  void observe_at_least(double x_nanos, Nanos now, Nanos tau);

  /// Any thread. The current value, or nullopt before the first sample.
  std::optional<double> value() const;

  /// Any thread. The value aged by idleness: multiplied by exp(-(now - t_last) / tau) when
  /// `idle` is true, unchanged otherwise. Finagle and linkerd decay every estimate toward zero on
  /// each read, so that a backend that stopped receiving traffic after a slow spell is eventually
  /// probed again; we compute the same decay from the age of the last sample without writing, and
  /// apply it only to idle backends (one with requests in flight will produce fresh samples, and
  /// must not look faster merely because it is stuck).
  std::optional<double> value_aged(Nanos now, Nanos tau, bool idle) const;

  /// Any thread. Time of the last sample, or kNever.
  Nanos last_sample_at() const { return stamp_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
  std::atomic<Nanos> stamp_{kNever};
};

/// Why a backend may not take new requests. Bit flags in BackendState::health; 0 means healthy.
enum HealthFlag : std::uint8_t {
  kHealthCheckFailed = 1u << 0,  ///< active health checks report it down
  kEjected = 1u << 1,            ///< outlier detection ejected it for a while
  kDraining = 1u << 2,           ///< operator drain: finishes what it runs, takes nothing new, ever
};

/// Figures from the backend's own metrics endpoint (vLLM / SGLang names), written by the scraper on
/// the control thread, read by policies. Values are as of `scraped_at` (kNever before the first
/// scrape); a reader judges staleness itself.
struct alignas(kCacheLineBytes) ScrapedMetrics {
  std::atomic<Nanos> scraped_at{kNever};               ///< TimeSource time of the scrape
  std::atomic<std::uint32_t> num_running{0};           ///< requests in the running batch
  std::atomic<std::uint32_t> num_waiting{0};           ///< requests queued (incl. preempted)
  std::atomic<double> kv_usage{0.0};                   ///< fraction of KV blocks in use, [0, 1]
  std::atomic<std::uint64_t> prefix_cache_hits{0};     ///< cumulative tokens served from cache
  std::atomic<std::uint64_t> prefix_cache_queries{0};  ///< cumulative tokens looked up
  /// KV cache size in tokens (vLLM cache_config_info num_gpu_blocks x block_size, or
  /// kv_cache_size_tokens); 0 = not reported. Bounds the prefix index when no hint is configured.
  std::atomic<std::uint64_t> kv_capacity_tokens{0};
  std::atomic<std::uint64_t> num_preemptions{0};  ///< cumulative preemptions
};

/// Any thread. A process-wide unique, never reused identity for a new BackendState.
std::uint64_t next_backend_state_uid();

/// Per-backend live state. See the file comment for the threading rules.
struct BackendState {
  BackendState() = default;
  BackendState(const BackendState&) = delete;
  BackendState& operator=(const BackendState&) = delete;

  /// Unique in the process and never reused (unlike the object's address): services that keep
  /// per-backend data of their own (prefix indexes) key it by this, so a state freed and another
  /// allocated at the same address are never confused.
  const std::uint64_t uid = next_backend_state_uid();

  // --- Request accounting: written by workers on every request (dispatch_accounting.h only). ---
  struct alignas(kCacheLineBytes) Accounting {
    std::atomic<std::int64_t> in_flight{0};                   ///< dispatched and not yet completed
    std::atomic<std::int64_t> outstanding_prefill_tokens{0};  ///< prompt tokens dispatched, no first token yet
    std::atomic<std::int64_t> active_decodes{0};              ///< requests past their first token
    /// Of outstanding_prefill_tokens, those not predicted to be served from the backend's prefix cache
    /// (prompt tokens minus the prefix index's predicted hit; all of them without an index).
    std::atomic<std::int64_t> outstanding_uncached_tokens{0};
    /// Prefill work of the requests without a first token, in work tokens (estimators.h prefill_work;
    /// equal to outstanding_uncached_tokens when the pool's attention_tokens is 0).
    std::atomic<std::int64_t> outstanding_prefill_work{0};
    /// Prefill work ever dispatched, in work tokens: at a request's first token, everything dispatched
    /// before it has been prefilled too (engines admit FCFS), which is what the rate learner uses.
    std::atomic<std::int64_t> dispatched_prefill_work_total{0};
    std::atomic<std::uint64_t> dispatched_prompt_tokens_total{0};  ///< prompt tokens ever dispatched
    std::atomic<std::uint64_t> dispatched_total{0};
    std::atomic<std::uint64_t> ok_total{0};
    std::atomic<std::uint64_t> error_total{0};
    std::atomic<std::uint64_t> cancelled_total{0};
  } accounting;

  // --- Learned estimates: written by workers at first token and completion (dispatch_accounting.h). ---
  struct alignas(kCacheLineBytes) Estimates {
    PeakEwma ttft;              ///< dispatch -> first token, nanoseconds
    PeakEwma decode_per_token;  ///< first token -> last token, per later token, nanoseconds
    /// Learned prefill throughput in work tokens per second (prompt tokens when the pool's
    /// attention_tokens is 0), normalised to a backend with no decode load; 0 = not learned yet.
    /// Written by the rate learner (estimators.h) at first tokens; read by policies.
    std::atomic<double> prefill_tokens_per_second{0.0};
    /// The decayed sums behind prefill_tokens_per_second (work tokens and busy seconds) and the time
    /// of the last sample, so readers can age them (estimators.h prefill_rate_estimate).
    std::atomic<double> prefill_rate_work{0.0};
    std::atomic<double> prefill_rate_seconds{0.0};
    std::atomic<Nanos> prefill_rate_at{kNever};
    /// Decode phase (first token -> completion) of successful requests, seconds, plain time-decayed
    /// EWMA; 0 = no sample yet. How long a request holds its KV after its prefill.
    std::atomic<double> decode_seconds{0.0};
    std::atomic<Nanos> decode_seconds_at{kNever};

    // Rate learner state (estimators.h PrefillRateLearner), guarded by learner_busy.
    std::atomic<bool> learner_busy{false};
    std::int64_t learner_done_mark = 0;  ///< dispatched_prefill_work_total known prefilled
    Nanos learner_mark_at = kNever;      ///< when that became known (a first token)
    double learner_work = 0.0;           ///< decayed sum of prefilled work in busy intervals
    double learner_seconds = 0.0;        ///< decayed sum of those intervals' lengths
    Nanos learner_busy_since = kNever;   ///< start of the current busy period (see note_dispatch)
    std::int64_t learner_idle_mark = 0;  ///< dispatched work known prefilled when it started
  } estimates;

  // --- Prefix-cache bookkeeping: written by workers at dispatch and when usage is reported. ---
  struct alignas(kCacheLineBytes) PrefixStats {
    std::atomic<std::uint64_t> predicted_cached_tokens_total{0};  ///< prefix index predictions at dispatch
    std::atomic<std::uint64_t> reported_cached_tokens_total{0};   ///< backend-reported cached_tokens
    std::atomic<std::uint64_t> reported_prompt_tokens_total{0};   ///< prompt tokens of those reports
    std::atomic<std::uint64_t> reports_total{0};                  ///< requests with a cached_tokens report
    std::atomic<std::uint64_t> overpredictions_total{0};          ///< reports below the prediction
    /// PrefixIndex slot of this backend: (index id << 32) | (slot + 1); 0 = none. Written once by
    /// the index that first records this backend.
    std::atomic<std::uint64_t> index_slot{0};
  } prefix;

  // --- Scraped metrics: written by the control thread's scraper. ---
  ScrapedMetrics scraped;

  // --- Health: written by the control thread (health checks, outlier detection, admin drain). ---
  struct alignas(kCacheLineBytes) Health {
    std::atomic<std::uint8_t> flags{0};  ///< HealthFlag bits
  } health;

  /// Any thread. No flag set: a first-choice candidate.
  bool healthy() const { return health.flags.load(std::memory_order_relaxed) == 0; }
  /// Any thread. May still be picked when no healthy backend is available ("panic"): everything
  /// except a drained backend.
  bool usable_in_panic() const { return (health.flags.load(std::memory_order_relaxed) & kDraining) == 0; }
  /// Control thread (tests: any). Sets or clears one flag.
  void set_health_flag(HealthFlag flag, bool on) {
    if (on) {
      health.flags.fetch_or(flag, std::memory_order_relaxed);
    } else {
      health.flags.fetch_and(static_cast<std::uint8_t>(~flag), std::memory_order_relaxed);
    }
  }
  /// Any thread. Requests currently dispatched to this backend (never negative).
  std::int64_t in_flight() const {
    const auto v = accounting.in_flight.load(std::memory_order_relaxed);
    return v < 0 ? 0 : v;
  }
};

static_assert(sizeof(BackendState) % kCacheLineBytes == 0);
static_assert(std::atomic<double>::is_always_lock_free);
static_assert(std::atomic<Nanos>::is_always_lock_free);

}  // namespace kvroute::routing
