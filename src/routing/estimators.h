#pragma once
// Latency and capacity estimators shared by the accounting and the LLM-aware policies: how much
// prefill work a request is, how fast a backend prefills (learned online from first tokens), how long
// a request keeps its KV cache after its prefill. Pure functions of BackendState and the pool's
// EstimatorConfig; no clock (times are passed in), no allocation.
//
// The work model follows the vLLM step structure (SIMULATOR-FACTS.md section 7.2): prefilling u new
// tokens on top of c cached ones costs GEMMs in proportion to u, plus causal attention in proportion
// to u * (c + u / 2). Expressed in "work tokens" (the GEMM cost of one token):
//     work(u, c) = u * (1 + (c + u / 2) / attention_tokens)
// where attention_tokens is the prompt length at which a token's attention costs as much as its GEMMs
// (about 20k for Llama-3-8B and 40k for 70B on H100-class GPUs; a pool parameter). Long prompts thus
// cost more than their length, and a prefix-cache hit saves more than its share of tokens.
//
// Decode interference: every step of a continuous-batching engine also reads the KV of every running
// sequence, so prefill slows down as the KV cache fills with decoding sequences:
//     slowdown(kv_usage) = 1 + decode_interference * kv_usage
// (about 0.1-0.2 for 8B models: a full cache of decodes adds 10-20% to an 8192-token prefill step).

#include <cstdint>
#include <optional>

#include "common/time_source.h"
#include "routing/backend_state.h"

namespace kvroute::routing {

/// Work tokens of prefilling `uncached` tokens after `cached` cached ones (see the file comment).
inline double prefill_work(double uncached, double cached, double attention_tokens) {
  if (uncached <= 0) return 0.0;
  if (attention_tokens <= 0) return uncached;
  return uncached * (1.0 + (cached + 0.5 * uncached) / attention_tokens);
}

/// Factor by which decoding sequences filling `kv_usage` of the cache slow a prefill step.
inline double decode_slowdown(double kv_usage, double decode_interference) {
  if (kv_usage < 0) kv_usage = 0;
  if (kv_usage > 1) kv_usage = 1;
  return 1.0 + decode_interference * kv_usage;
}

/// Any thread. The backend's learned prefill rate in work tokens per second at no decode load, or
/// nullopt before the first sample.
inline std::optional<double> learned_prefill_rate(const BackendState& s) {
  const double r = s.estimates.prefill_tokens_per_second.load(std::memory_order_relaxed);
  if (r <= 0) return std::nullopt;
  return r;
}

/// Any thread. The backend's prefill rate (work tokens/s at no decode load) for decisions at `now`:
/// the learned sums aged by the time since their last sample (time constant `tau`) and blended with a
/// prior of `prior_work` work tokens at `prior_rate`:
///     rate = (W e + prior_work) / (T e + prior_work / prior_rate),  e = exp(-(now - last) / tau)
/// A backend measured on little work, or not measured for a while, is taken to be like the prior
/// (policies use the fleet's mean), so one unlucky sample cannot exclude a backend for good.
double prefill_rate_estimate(const BackendState& s, Nanos now, Nanos tau, double prior_rate, double prior_work);

/// Any thread. Learned duration of a request's decode phase in seconds, or nullopt.
inline std::optional<double> learned_decode_seconds(const BackendState& s) {
  const double v = s.estimates.decode_seconds.load(std::memory_order_relaxed);
  if (v <= 0) return std::nullopt;
  return v;
}

/// Online estimate of a backend's prefill throughput from the first tokens it produces.
///
/// Engines admit waiting requests first come, first served, so when a request's first token
/// arrives, every request dispatched to that backend before it has been prefilled too. The
/// accounting numbers prefill work cumulatively at dispatch (dispatched_prefill_work_total); a first
/// token therefore proves that the backend has done all work up to that request's cumulative mark.
/// Between two such proofs the backend was busy prefilling (it had work outstanding), so
///     rate = (mark_now - mark_before) / (now - max(time of mark_before, start of the busy period))
/// is its throughput over that interval, including the time its steps spent on decodes. Each sample
/// is scaled by the decode slowdown at that moment, so the estimate describes the backend rather than
/// its load, and is averaged as a ratio of exponentially decayed sums (work over busy time), so long
/// intervals weigh more than short ones. Samples closer than 1 ms to the last mark (several first
/// tokens of one engine step) are merged into the next one.
///
/// When the backend runs out of outstanding work, the next dispatch starts a new busy period and
/// everything dispatched before it is known done (note_dispatch).
///
/// Threading: the learner's state is guarded by a per-backend flag (Estimates::learner_busy); writers
/// are the request threads at dispatch (only when a busy period starts) and at first token. Readers
/// read prefill_tokens_per_second without locking.
class PrefillRateLearner {
 public:
  static constexpr Nanos kMinInterval = kNanosPerMilli;

  /// Request thread. A dispatch added `work` work tokens to a backend whose outstanding prefill
  /// work was `outstanding_before` (the value before the add) and whose cumulative dispatched work
  /// was `cumulative_before`. Starts a busy period when the backend had nothing outstanding.
  static void note_dispatch(BackendState& s, std::int64_t outstanding_before, std::int64_t cumulative_before,
                            Nanos now);

  /// Request thread. A request whose cumulative mark (dispatched work up to and including its own)
  /// is `mark` produced its first token at `now`; it was dispatched at `dispatched_at`. `kv_usage` is
  /// the backend's KV usage (0-1) as last scraped.
  static void note_first_token(BackendState& s, const EstimatorConfig& config, std::int64_t mark, Nanos dispatched_at,
                               Nanos now, double kv_usage);

 private:
  static void lock(BackendState& s);
  static void unlock(BackendState& s);
};

/// Request thread. Records a decode phase of `seconds` ending at `now` (plain EWMA, time constant
/// config.decode_decay).
void observe_decode_seconds(BackendState& s, double seconds, Nanos now, Nanos tau);

}  // namespace kvroute::routing
