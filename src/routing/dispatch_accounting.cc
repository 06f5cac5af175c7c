#include "routing/dispatch_accounting.h"

#include <utility>

namespace kvroute::routing {

DispatchTicket::DispatchTicket(DispatchTicket&& other) noexcept
    : set_(std::move(other.set_)),
      index_(other.index_),
      prompt_tokens_(other.prompt_tokens_),
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
  } else {
    acc.active_decodes.fetch_sub(1, std::memory_order_relaxed);
  }
  done_ = true;
}

DispatchTicket DispatchAccounting::dispatch(BackendSetPtr set, std::uint32_t index, const RequestFeatures& features,
                                            Nanos now, Policy* policy) const {
  auto& acc = (*set)[index].state().accounting;
  acc.in_flight.fetch_add(1, std::memory_order_relaxed);
  acc.outstanding_prefill_tokens.fetch_add(features.prompt_tokens, std::memory_order_relaxed);
  acc.dispatched_total.fetch_add(1, std::memory_order_relaxed);

  DispatchTicket t;
  t.index_ = index;
  t.prompt_tokens_ = features.prompt_tokens;
  t.dispatched_at_ = now;
  t.set_ = std::move(set);
  if (policy != nullptr) policy->on_dispatch(features, *t.set_, index);
  return t;
}

void DispatchAccounting::first_token(DispatchTicket& ticket, Nanos now, Policy* policy) const {
  if (!ticket.active() || ticket.first_token_at_ != kNever) return;
  ticket.first_token_at_ = now;
  BackendState& s = ticket.backend().state();
  s.accounting.outstanding_prefill_tokens.fetch_sub(ticket.prompt_tokens_, std::memory_order_relaxed);
  s.accounting.active_decodes.fetch_add(1, std::memory_order_relaxed);
  const Nanos ttft = now - ticket.dispatched_at_;
  s.estimates.ttft.observe(static_cast<double>(ttft), now, config_.ttft_decay);
  if (policy != nullptr) policy->on_first_token(ticket.set(), ticket.index_, ttft);
}

void DispatchAccounting::complete(DispatchTicket& ticket, Outcome outcome, std::uint32_t output_tokens, Nanos now,
                                  Policy* policy) const {
  if (!ticket.active()) return;
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
    policy->on_complete(ticket.set(), ticket.index_, done);
  }
}

}  // namespace kvroute::routing
