#pragma once
// The time-to-first-token model of the `cost` policy (policies/cost.cc), separate so that tests can
// check its arithmetic on hand-built states. Pure function of its inputs; no clock, no allocation.
//
// For a request of P prompt tokens of which the backend holds H (prefix index), on a backend with
// learned prefill rate R (work tokens/s at no decode load; estimators.h):
//
//   rate      r    = R / (1 + decode_interference * kv_usage)           decode interference
//   own       w    = prefill_work(P - H, H, attention_tokens)           this request's prefill
//   ahead     A    = outstanding prefill work dispatched by the gateway
//                    + hidden requests x mean work per request          (scraped waiting the gateway
//                                                                        does not know of: preempted
//                                                                        requests, other gateways)
//   queue     q    = A / r
//   KV        D    = kv_usage x C + prompt tokens waiting for admission + P   (KV demand, tokens)
//             pen  = 0                                   if D <= kv_high x C
//                    decode_time x (D - kv_high x C) / max(used, 0.1 C)   otherwise
//             (running requests free their KV over about one decode phase, decode_time, so freeing
//              X tokens of `used` takes about decode_time x X / used)
//   TTFT          = max(q, kv_penalty_weight x pen) + w / r
//   (the backend prefills what is ahead while running requests free KV: the two waits overlap)

#include <algorithm>
#include <cstdint>

#include "routing/estimators.h"

namespace kvroute::routing {

/// The model's knobs (the `cost` policy's parameters of the same names).
struct TtftModelConfig {
  double attention_tokens = 32768;  ///< estimators.h prefill_work
  double decode_interference = 0.15;
  double kv_high = 0.9;  ///< KV demand fraction above which admission waits
  double kv_penalty_weight = 1.0;
};

/// What the model needs to know about one backend for one request.
struct TtftInputs {
  double prompt_tokens = 0;          ///< P
  double cached_tokens = 0;          ///< H (prefix index prediction)
  double prefill_rate = 0;           ///< R, work tokens/s at no decode load (> 0)
  double outstanding_work = 0;       ///< gateway-side prefill work ahead, work tokens
  double hidden_requests = 0;        ///< scraped waiting requests the gateway does not account for
  double mean_request_work = 0;      ///< work tokens per request, for the hidden ones
  double kv_usage = 0;               ///< scraped, 0-1
  double kv_capacity_tokens = 0;     ///< C
  double pending_prompt_tokens = 0;  ///< prompt tokens dispatched, no first token yet
  double decode_seconds = 0;         ///< learned decode phase, seconds
};

/// The model's output for one backend, in seconds (kv_penalty already weighted).
struct TtftPrediction {
  double queue = 0;
  double prefill = 0;
  double kv_penalty = 0;
  double kv_demand = 0;                                        ///< D / C
  double wait() const { return std::max(queue, kv_penalty); }  ///< before its own prefill starts
  double total() const { return wait() + prefill; }
};

inline TtftPrediction predict_ttft(const TtftInputs& in, const TtftModelConfig& c) {
  TtftPrediction out;
  const double rate = std::max(in.prefill_rate, 1.0) / decode_slowdown(in.kv_usage, c.decode_interference);
  const double uncached = std::max(0.0, in.prompt_tokens - in.cached_tokens);
  const double own = prefill_work(uncached, in.cached_tokens, c.attention_tokens);
  const double ahead = std::max(0.0, in.outstanding_work) + std::max(0.0, in.hidden_requests) * in.mean_request_work;
  out.queue = ahead / rate;
  out.prefill = own / rate;
  if (in.kv_capacity_tokens > 0) {
    const double used = std::clamp(in.kv_usage, 0.0, 1.0) * in.kv_capacity_tokens;
    const double demand = used + std::max(0.0, in.pending_prompt_tokens) + in.prompt_tokens;
    out.kv_demand = demand / in.kv_capacity_tokens;
    const double excess = demand - c.kv_high * in.kv_capacity_tokens;
    if (excess > 0) {
      out.kv_penalty = c.kv_penalty_weight * in.decode_seconds * excess / std::max(used, 0.1 * in.kv_capacity_tokens);
    }
  }
  return out;
}

}  // namespace kvroute::routing
