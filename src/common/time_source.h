#pragma once
// Time is injected everywhere routing or simulation reads it, so the same code runs on the
// wall clock (gateway, kvroute-sim) and on a virtual clock (offline replay, exact tests).

#include <atomic>
#include <chrono>
#include <cstdint>

namespace kvroute {

/// Nanoseconds since an arbitrary, per-source epoch. Differences are meaningful; absolute values are not.
using Nanos = std::int64_t;

constexpr Nanos kNanosPerSecond = 1'000'000'000;
constexpr Nanos kNanosPerMilli = 1'000'000;
constexpr Nanos kNanosPerMicro = 1'000;

constexpr double nanos_to_seconds(Nanos n) { return static_cast<double>(n) / 1e9; }
constexpr Nanos seconds_to_nanos(double s) { return static_cast<Nanos>(s * 1e9 + (s >= 0 ? 0.5 : -0.5)); }

/// Source of the current time. Implementations must be safe to call from any thread.
class TimeSource {
 public:
  virtual ~TimeSource() = default;
  /// Monotonic time in nanoseconds; never decreases.
  virtual Nanos now() const = 0;
};

/// std::chrono::steady_clock, epoch fixed at construction so values stay small and readable in logs.
class RealClock final : public TimeSource {
 public:
  RealClock();
  Nanos now() const override;
  /// The steady_clock time point that now() == 0 corresponds to (for converting to Asio timers).
  std::chrono::steady_clock::time_point epoch() const { return epoch_; }

 private:
  std::chrono::steady_clock::time_point epoch_;
};

/// A clock that moves only when told to: offline simulation and tests.
class VirtualClock final : public TimeSource {
 public:
  explicit VirtualClock(Nanos start = 0) : now_(start) {}
  Nanos now() const override { return now_.load(std::memory_order_relaxed); }
  /// Moves the clock to t; a t in the past is ignored so the clock stays monotonic.
  void advance_to(Nanos t);
  void advance_by(Nanos d) { advance_to(now() + d); }

 private:
  std::atomic<Nanos> now_;
};

}  // namespace kvroute
