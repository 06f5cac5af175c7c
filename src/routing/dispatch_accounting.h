#pragma once
// Dispatch accounting: the one place that updates the shared per-backend figures a request changes
// (in-flight count, outstanding prefill tokens, active decodes, latency estimates, totals) and tells
// the worker's policy about the request's progress. The live gateway and the offline evaluator both
// call it, in the same order, so policies see the same state in both worlds:
//
//   auto idx = policy.pick(features, *set, ctx);
//   DispatchTicket t = accounting.dispatch(set, *idx, features, now, &policy);
//   ... accounting.first_token(t, now, &policy, usage);   // first streamed token (see below)
//   ... accounting.complete(t, Outcome::kOk, tokens, now, &policy, usage);
//
// `usage` (optional, PromptUsage) is what the backend reported about the prompt: OpenAI usage
// prompt_tokens and prompt_tokens_details.cached_tokens (vLLM with --enable-prompt-tokens-details).
// Pass it as soon as it is known (with the first token when the backend streams usage on every
// chunk, else at completion); the first report per ticket counts. It corrects the prefix index
// (prefix_index.h) and the prefix statistics; without it the index's predictions stand.
//
// LLM figures (backend_state.h, estimators.h): at dispatch, when the pool has a prefix index
// (EstimatorConfig::prefix_index), the accounting predicts how much of the prompt the backend holds
// (the ticket keeps the prediction), records the prompt on that backend in the index, and adds the
// uncached tokens and their prefill work to the backend's outstanding figures; at the first token it
// removes them again and feeds the prefill-rate learner; at completion it feeds the decode-phase
// estimate. The prompt stays pinned in the index (its blocks are in use on the backend) until the
// request ends, however it ends.
//
// Threading: DispatchAccounting is immutable and may be shared by every thread. A ticket belongs to
// its request and is used by the thread that runs the request; the Policy passed in must be that
// thread's own instance (or nullptr to skip the policy hooks). Nothing here blocks or allocates:
// the shared figures are relaxed atomics (backend_state.h), and the ticket only copies a shared_ptr.
//
// Non-streamed responses arrive whole; the gateway should call first_token() when the response head
// arrives (the earliest sign of progress it sees). If it never does, the request's prompt tokens
// stay "outstanding prefill" until completion and no TTFT sample is taken.

#include <cstdint>
#include <memory>

#include "common/time_source.h"
#include "routing/backend_set.h"
#include "routing/policy.h"
#include "routing/request_features.h"

namespace kvroute::routing {

class PrefixIndex;

/// One request's claim on a backend: what must be undone when it ends. Move-only. Destroying a
/// ticket that was not completed (or assigning over it) releases its counts as a cancellation (no
/// latency sample, no policy hook), so an error path that forgets to complete cannot leak in-flight
/// counts.
class DispatchTicket {
 public:
  DispatchTicket() = default;
  DispatchTicket(DispatchTicket&& other) noexcept;
  DispatchTicket& operator=(DispatchTicket&& other) noexcept;
  DispatchTicket(const DispatchTicket&) = delete;
  DispatchTicket& operator=(const DispatchTicket&) = delete;
  ~DispatchTicket();

  /// Holds a dispatch that has not completed yet.
  bool active() const { return set_ != nullptr && !done_; }
  /// The snapshot the backend was picked from (kept alive by the ticket).
  const BackendSet& set() const { return *set_; }
  std::uint32_t backend_index() const { return index_; }
  const Backend& backend() const { return (*set_)[index_]; }
  Nanos dispatched_at() const { return dispatched_at_; }
  /// kNever until first_token() was recorded.
  Nanos first_token_at() const { return first_token_at_; }
  /// Prompt tokens the prefix index predicted the backend holds (0 without an index).
  std::uint32_t predicted_cached_tokens() const { return predicted_cached_; }
  /// Prompt tokens of the request (features.prompt_tokens at dispatch).
  std::uint32_t prompt_tokens() const { return prompt_tokens_; }
  /// Prefill work added to the backend's outstanding figures (estimators.h units).
  std::int64_t prefill_work() const { return work_; }

 private:
  friend class DispatchAccounting;
  void release_counts();
  void abandon();

  BackendSetPtr set_;
  std::uint32_t index_ = 0;
  std::uint32_t prompt_tokens_ = 0;
  std::uint32_t predicted_cached_ = 0;  // tokens
  std::uint32_t predicted_blocks_ = 0;  // prefix blocks
  std::uint32_t uncached_ = 0;          // added to outstanding_uncached_tokens
  std::int64_t work_ = 0;               // added to outstanding_prefill_work
  std::int64_t mark_ = 0;               // dispatched_prefill_work_total including this request
  std::optional<std::uint32_t> reported_cached_;
  PrefixIndex* prefix_index_ = nullptr;  // the pool's index (outlives its tickets: the factory holds it)
  std::uint64_t pin_ = 0;                // the prompt's pin in it, released when the request ends
  Nanos dispatched_at_ = 0;
  Nanos first_token_at_ = kNever;
  bool done_ = false;
};

/// What a backend reported about a request's prompt (OpenAI usage). Either figure may be missing.
struct PromptUsage {
  std::optional<std::uint32_t> prompt_tokens;  ///< usage.prompt_tokens
  std::optional<std::uint32_t> cached_tokens;  ///< usage.prompt_tokens_details.cached_tokens
};

class DispatchAccounting {
 public:
  explicit DispatchAccounting(EstimatorConfig config = {}) : config_(config) {}

  /// Request thread. Records that the request goes to (*set)[index]: in_flight += 1,
  /// outstanding_prefill_tokens += features.prompt_tokens, dispatched_total += 1, the prefix index
  /// prediction and record (see the file comment), outstanding uncached tokens and prefill work; then
  /// policy->on_dispatch. `now` is the dispatch time on the pool's TimeSource.
  DispatchTicket dispatch(BackendSetPtr set, std::uint32_t index, const RequestFeatures& features, Nanos now,
                          Policy* policy) const;

  /// Request thread. The first token arrived at `now`: moves the prompt tokens from outstanding
  /// prefill to an active decode, feeds the TTFT estimate and the prefill-rate learner, applies
  /// `usage` if given, then policy->on_first_token. Only the first call per ticket counts; calls
  /// after complete() are ignored.
  void first_token(DispatchTicket& ticket, Nanos now, Policy* policy, const PromptUsage& usage = {}) const;

  /// Request thread. Applies a usage report that arrived on its own (see the file comment). Only the
  /// first report with cached_tokens per ticket counts.
  void report_usage(DispatchTicket& ticket, const PromptUsage& usage) const;

  /// Request thread. The request ended at `now` with `outcome` after `output_tokens` tokens: releases
  /// its counts, updates totals and estimates, then policy->on_complete. Estimates: a successful
  /// request with more than one token feeds the per-token decode time; a failed or cancelled request
  /// that never produced a first token feeds the TTFT estimate as a lower bound only (it can make the
  /// backend look slower, never faster: a backend that fails fast must not attract traffic).
  /// A successful request with a first token also feeds the decode-phase estimate. `usage`, if given,
  /// is applied first (report_usage). Only the first call per ticket counts.
  void complete(DispatchTicket& ticket, Outcome outcome, std::uint32_t output_tokens, Nanos now, Policy* policy,
                const PromptUsage& usage = {}) const;

  const EstimatorConfig& config() const { return config_; }

 private:
  EstimatorConfig config_;
};

}  // namespace kvroute::routing
