#include "routing/estimators.h"

#include <algorithm>
#include <cmath>
#include <thread>

namespace kvroute::routing {

void PrefillRateLearner::lock(BackendState& s) {
  auto& busy = s.estimates.learner_busy;
  for (int spins = 0;; ++spins) {
    bool expected = false;
    if (!busy.load(std::memory_order_relaxed) &&
        busy.compare_exchange_weak(expected, true, std::memory_order_acquire, std::memory_order_relaxed)) {
      return;
    }
    if (spins > 64) std::this_thread::yield();
  }
}

void PrefillRateLearner::unlock(BackendState& s) { s.estimates.learner_busy.store(false, std::memory_order_release); }

void PrefillRateLearner::note_dispatch(BackendState& s, std::int64_t outstanding_before, std::int64_t cumulative_before,
                                       Nanos now) {
  if (outstanding_before > 0) return;
  lock(s);
  auto& e = s.estimates;
  e.learner_busy_since = now;
  e.learner_idle_mark = cumulative_before;
  unlock(s);
}

void PrefillRateLearner::note_first_token(BackendState& s, const EstimatorConfig& config, std::int64_t mark,
                                          Nanos dispatched_at, Nanos now, double kv_usage) {
  lock(s);
  auto& e = s.estimates;
  if (mark > e.learner_done_mark) {
    Nanos start = e.learner_mark_at;
    std::int64_t base = e.learner_done_mark;
    if (e.learner_busy_since != kNever && (start == kNever || e.learner_busy_since > start)) {
      // The backend ran dry after the last mark: what was dispatched before the new busy period
      // started was done by then, and the interval starts with the period.
      start = e.learner_busy_since;
      base = std::max(base, e.learner_idle_mark);
    }
    if (start == kNever) start = dispatched_at;
    const Nanos dt = now - start;
    if (mark > base && dt >= kMinInterval && static_cast<double>(mark - base) >= config.prefill_rate_min_sample) {
      const double seconds = nanos_to_seconds(dt);
      const double work = static_cast<double>(mark - base) * decode_slowdown(kv_usage, config.decode_interference);
      double w = 1.0;
      if (e.learner_mark_at != kNever && config.prefill_rate_decay > 0) {
        w = std::exp(-static_cast<double>(now - e.learner_mark_at) / static_cast<double>(config.prefill_rate_decay));
      }
      e.learner_work = e.learner_work * w + work;
      e.learner_seconds = e.learner_seconds * w + seconds;
      if (e.learner_seconds > 0) {
        e.prefill_tokens_per_second.store(e.learner_work / e.learner_seconds, std::memory_order_relaxed);
      }
      e.prefill_rate_work.store(e.learner_work, std::memory_order_relaxed);
      e.prefill_rate_seconds.store(e.learner_seconds, std::memory_order_relaxed);
      e.prefill_rate_at.store(now, std::memory_order_relaxed);
      e.learner_done_mark = mark;
      e.learner_mark_at = now;
    }
  }
  unlock(s);
}

double prefill_rate_estimate(const BackendState& s, Nanos now, Nanos tau, double prior_rate, double prior_work) {
  prior_rate = std::max(prior_rate, 1.0);
  const Nanos at = s.estimates.prefill_rate_at.load(std::memory_order_relaxed);
  double work = 0, seconds = 0;
  if (at != kNever) {
    const double e = (tau > 0 && now > at) ? std::exp(-static_cast<double>(now - at) / static_cast<double>(tau)) : 1.0;
    work = s.estimates.prefill_rate_work.load(std::memory_order_relaxed) * e;
    seconds = s.estimates.prefill_rate_seconds.load(std::memory_order_relaxed) * e;
  }
  const double denom = seconds + prior_work / prior_rate;
  return denom > 0 ? (work + prior_work) / denom : prior_rate;
}

void observe_decode_seconds(BackendState& s, double seconds, Nanos now, Nanos tau) {
  auto& e = s.estimates;
  if (seconds < 0) seconds = 0;
  const Nanos last = e.decode_seconds_at.exchange(now, std::memory_order_relaxed);
  double w = 0.0;  // first sample: take it as is
  if (last != kNever && tau > 0)
    w = std::exp(-static_cast<double>(std::max<Nanos>(now - last, 0)) / static_cast<double>(tau));
  double cur = e.decode_seconds.load(std::memory_order_relaxed);
  while (!e.decode_seconds.compare_exchange_weak(cur, w * cur + (1.0 - w) * seconds, std::memory_order_relaxed)) {
  }
}

}  // namespace kvroute::routing
