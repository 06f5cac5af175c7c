#include "routing/backend_state.h"

#include <algorithm>
#include <cmath>

namespace kvroute::routing {
namespace {

double decay_weight(Nanos elapsed, Nanos tau) {
  if (elapsed <= 0) return 1.0;
  if (tau <= 0) return 0.0;
  return std::exp(-static_cast<double>(elapsed) / static_cast<double>(tau));
}

void advance_stamp(std::atomic<Nanos>& stamp, Nanos now) {
  Nanos cur = stamp.load(std::memory_order_relaxed);
  while (cur < now && !stamp.compare_exchange_weak(cur, now, std::memory_order_relaxed)) {
  }
}

}  // namespace

std::uint64_t next_backend_state_uid() {
  static std::atomic<std::uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

void PeakEwma::observe(double x_nanos, Nanos now, Nanos tau) {
  x_nanos = std::max(x_nanos, 0.0);
  double cur = value_.load(std::memory_order_relaxed);
  for (;;) {
    const Nanos last = stamp_.load(std::memory_order_relaxed);
    double next;
    if (last == kNever || x_nanos > cur) {
      next = x_nanos;
    } else {
      const double w = decay_weight(now - last, tau);
      next = w * cur + (1.0 - w) * x_nanos;
    }
    if (value_.compare_exchange_weak(cur, next, std::memory_order_relaxed)) break;
  }
  advance_stamp(stamp_, now);
}

void PeakEwma::observe_at_least(double x_nanos, Nanos now, Nanos tau) {
  const Nanos last = stamp_.load(std::memory_order_relaxed);
  if (last == kNever || x_nanos <= value_.load(std::memory_order_relaxed)) return;
  observe(x_nanos, now, tau);
}

std::optional<double> PeakEwma::value() const {
  if (stamp_.load(std::memory_order_relaxed) == kNever) return std::nullopt;
  return value_.load(std::memory_order_relaxed);
}

std::optional<double> PeakEwma::value_aged(Nanos now, Nanos tau, bool idle) const {
  const Nanos last = stamp_.load(std::memory_order_relaxed);
  if (last == kNever) return std::nullopt;
  const double v = value_.load(std::memory_order_relaxed);
  return idle ? v * decay_weight(now - last, tau) : v;
}

}  // namespace kvroute::routing
