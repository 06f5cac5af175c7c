#include "routing/dispatch_accounting.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "routing/estimators.h"
#include "routing/prefix_index.h"

namespace kvroute::routing {

DispatchTicket::DispatchTicket(DispatchTicket&& other) noexcept
    : set_(std::move(other.set_)),
      index_(other.index_),
      prompt_tokens_(other.prompt_tokens_),
      predicted_cached_(other.predicted_cached_),
      predicted_blocks_(other.predicted_blocks_),
      uncached_(other.uncached_),
      work_(other.work_),
      mark_(other.mark_),
      reported_cached_(other.reported_cached_),
      prefix_index_(other.prefix_index_),
      pin_(other.pin_),
      dispatched_at_(other.dispatched_at_),
      first_token_at_(other.first_token_at_),
      done_(other.done_) {
  other.set_.reset();
}

DispatchTicket& DispatchTicket::operator=(DispatchTicket&& other) noexcept {
  if (this != &other) {
    if (active()) abandon();
    set_ = std::move(other.set_);
    index_ = other.index_;
    prompt_tokens_ = other.prompt_tokens_;
    predicted_cached_ = other.predicted_cached_;
    predicted_blocks_ = other.predicted_blocks_;
    uncached_ = other.uncached_;
    work_ = other.work_;
    mark_ = other.mark_;
    reported_cached_ = other.reported_cached_;
    prefix_index_ = other.prefix_index_;
    pin_ = other.pin_;
    dispatched_at_ = other.dispatched_at_;
    first_token_at_ = other.first_token_at_;
    done_ = other.done_;
    other.set_.reset();
  }
  return *this;
}

DispatchTicket::~DispatchTicket() {
  if (active()) abandon();
}

void DispatchTicket::abandon() {
  release_counts();
  backend().state().accounting.cancelled_total.fetch_add(1, std::memory_order_relaxed);
}

void DispatchTicket::release_counts() {
  auto& acc = backend().state().accounting;
  acc.in_flight.fetch_sub(1, std::memory_order_relaxed);
  if (first_token_at_ == kNever) {
    acc.outstanding_prefill_tokens.fetch_sub(prompt_tokens_, std::memory_order_relaxed);
    acc.outstanding_uncached_tokens.fetch_sub(uncached_, std::memory_order_relaxed);
    acc.outstanding_prefill_work.fetch_sub(work_, std::memory_order_relaxed);
  } else {
    acc.active_decodes.fetch_sub(1, std::memory_order_relaxed);
  }
  if (pin_ != 0) prefix_index_->release(pin_);
  pin_ = 0;
  done_ = true;
}

DispatchTicket DispatchAccounting::dispatch(BackendSetPtr set, std::uint32_t index, const RequestFeatures& features,
                                            Nanos now, Policy* policy) const {
  const Backend& backend = (*set)[index];
  BackendState& state = backend.state();
  auto& acc = state.accounting;

  DispatchTicket t;
  t.index_ = index;
  t.prompt_tokens_ = features.prompt_tokens;
  t.dispatched_at_ = now;
  if (PrefixIndex* prefix = config_.prefix_index.get(); prefix != nullptr && !features.block_hashes.empty()) {
    t.predicted_blocks_ = prefix->match_one(features.block_hashes, state);
    t.predicted_cached_ =
        prefix->cached_tokens(t.predicted_blocks_, features.block_hashes.size(), features.prompt_tokens);
    t.prefix_index_ = prefix;
    t.pin_ = prefix->record_pinned(features.block_hashes, backend);
    state.prefix.predicted_cached_tokens_total.fetch_add(t.predicted_cached_, std::memory_order_relaxed);
  }
  t.uncached_ = features.prompt_tokens - t.predicted_cached_;
  t.work_ = std::llround(prefill_work(t.uncached_, t.predicted_cached_, config_.attention_tokens));

  acc.in_flight.fetch_add(1, std::memory_order_relaxed);
  acc.outstanding_prefill_tokens.fetch_add(features.prompt_tokens, std::memory_order_relaxed);
  acc.outstanding_uncached_tokens.fetch_add(t.uncached_, std::memory_order_relaxed);
  const std::int64_t outstanding_before = acc.outstanding_prefill_work.fetch_add(t.work_, std::memory_order_relaxed);
  const std::int64_t cumulative_before =
      acc.dispatched_prefill_work_total.fetch_add(t.work_, std::memory_order_relaxed);
  t.mark_ = cumulative_before + t.work_;
  acc.dispatched_prompt_tokens_total.fetch_add(features.prompt_tokens, std::memory_order_relaxed);
  acc.dispatched_total.fetch_add(1, std::memory_order_relaxed);
  PrefillRateLearner::note_dispatch(state, outstanding_before, cumulative_before, now);

  t.set_ = std::move(set);
  if (policy != nullptr) policy->on_dispatch(features, *t.set_, index);
  return t;
}

void DispatchAccounting::report_usage(DispatchTicket& ticket, const PromptUsage& usage) const {
  if (ticket.set_ == nullptr || !usage.cached_tokens || ticket.reported_cached_) return;
  ticket.reported_cached_ = usage.cached_tokens;
  BackendState& s = ticket.backend().state();
  const std::uint32_t prompt = usage.prompt_tokens.value_or(ticket.prompt_tokens_);
  s.prefix.reported_cached_tokens_total.fetch_add(*usage.cached_tokens, std::memory_order_relaxed);
  s.prefix.reported_prompt_tokens_total.fetch_add(prompt, std::memory_order_relaxed);
  s.prefix.reports_total.fetch_add(1, std::memory_order_relaxed);
  if (*usage.cached_tokens < ticket.predicted_cached_) {
    s.prefix.overpredictions_total.fetch_add(1, std::memory_order_relaxed);
  }
  if (PrefixIndex* prefix = config_.prefix_index.get(); prefix != nullptr && ticket.predicted_blocks_ > 0) {
    const std::uint32_t actual_blocks = *usage.cached_tokens / prefix->config().tokens_per_block;
    prefix->report(s, ticket.predicted_blocks_, actual_blocks);
  }
}

void DispatchAccounting::first_token(DispatchTicket& ticket, Nanos now, Policy* policy,
                                     const PromptUsage& usage) const {
  if (!ticket.active() || ticket.first_token_at_ != kNever) return;
  ticket.first_token_at_ = now;
  BackendState& s = ticket.backend().state();
  s.accounting.outstanding_prefill_tokens.fetch_sub(ticket.prompt_tokens_, std::memory_order_relaxed);
  s.accounting.outstanding_uncached_tokens.fetch_sub(ticket.uncached_, std::memory_order_relaxed);
  s.accounting.outstanding_prefill_work.fetch_sub(ticket.work_, std::memory_order_relaxed);
  s.accounting.active_decodes.fetch_add(1, std::memory_order_relaxed);
  const Nanos ttft = now - ticket.dispatched_at_;
  s.estimates.ttft.observe(static_cast<double>(ttft), now, config_.ttft_decay);
  PrefillRateLearner::note_first_token(s, config_, ticket.mark_, ticket.dispatched_at_, now,
                                       s.scraped.kv_usage.load(std::memory_order_relaxed));
  report_usage(ticket, usage);
  if (policy != nullptr) policy->on_first_token(ticket.set(), ticket.index_, ttft);
}

void DispatchAccounting::complete(DispatchTicket& ticket, Outcome outcome, std::uint32_t output_tokens, Nanos now,
                                  Policy* policy, const PromptUsage& usage) const {
  if (!ticket.active()) return;
  report_usage(ticket, usage);
  BackendState& s = ticket.backend().state();
  const bool had_first_token = ticket.first_token_at_ != kNever;
  ticket.release_counts();

  const Nanos elapsed = now - ticket.dispatched_at_;
  switch (outcome) {
    case Outcome::kOk:
      s.accounting.ok_total.fetch_add(1, std::memory_order_relaxed);
      if (had_first_token && output_tokens > 1) {
        const double per_token =
            static_cast<double>(now - ticket.first_token_at_) / static_cast<double>(output_tokens - 1);
        s.estimates.decode_per_token.observe(per_token, now, config_.decode_decay);
      }
      if (had_first_token) {
        observe_decode_seconds(s, nanos_to_seconds(now - ticket.first_token_at_), now, config_.decode_decay);
      }
      break;
    case Outcome::kError:
      s.accounting.error_total.fetch_add(1, std::memory_order_relaxed);
      break;
    case Outcome::kCancelled:
      s.accounting.cancelled_total.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  if (outcome != Outcome::kOk && !had_first_token) {
    s.estimates.ttft.observe_at_least(static_cast<double>(elapsed), now, config_.ttft_decay);
  }
  if (policy != nullptr) {
    Completion done;
    done.outcome = outcome;
    done.elapsed = elapsed;
    if (had_first_token) done.ttft = ticket.first_token_at_ - ticket.dispatched_at_;
    done.output_tokens = output_tokens;
    done.prompt_tokens = usage.prompt_tokens.value_or(ticket.prompt_tokens_);
    done.predicted_cached_tokens = ticket.predicted_cached_;
    done.cached_tokens = ticket.reported_cached_;
    policy->on_complete(ticket.set(), ticket.index_, done);
  }
}

}  // namespace kvroute::routing
