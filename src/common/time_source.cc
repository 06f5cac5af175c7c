#include "common/time_source.h"

namespace kvroute {

RealClock::RealClock() : epoch_(std::chrono::steady_clock::now()) {}

Nanos RealClock::now() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - epoch_).count();
}

void VirtualClock::advance_to(Nanos t) {
  Nanos cur = now_.load(std::memory_order_relaxed);
  while (t > cur && !now_.compare_exchange_weak(cur, t, std::memory_order_relaxed)) {
  }
}

}  // namespace kvroute
