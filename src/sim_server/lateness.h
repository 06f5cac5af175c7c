#pragma once
// Token lateness: how long after its step's scheduled end a token's SSE event was handed to the
// socket. It is the simulator's own error: the engine says "this token exists at t", the server
// delivers it at t + lateness. A log-bucketed histogram (HDR-like: exact below 16 us, then 8
// sub-buckets per power of two, so any reported value is within 12.5 % of the truth) that records
// in O(1) without allocating and reports percentiles and non-empty buckets.

#include <array>
#include <cstdint>
#include <string>

namespace kvroute::sim_server {

class LatenessHistogram {
 public:
  static constexpr int kSubBucketBits = 3;
  static constexpr std::uint64_t kLinearLimit = 16;  ///< values below this get one bucket each
  static constexpr int kMaxExponent = 40;            ///< 2^41 us (~25 days) and up share the last bucket
  static constexpr std::size_t kNumBuckets =
      kLinearLimit + (kMaxExponent - 4 + 1) * (std::size_t{1} << kSubBucketBits);

  /// Records one value in microseconds. Owner's thread only.
  void record(std::uint64_t micros);
  /// Forgets everything. Owner's thread only.
  void reset();

  std::uint64_t count() const { return count_; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  /// Smallest bucket upper bound with at least q of the values at or below it (capped at max()):
  /// never below the true quantile, at most 12.5 % above it. 0 when empty. q in [0, 1].
  std::uint64_t percentile(double q) const;

  /// Bucket index of a value, and the largest value that bucket holds (inclusive).
  static std::size_t bucket_of(std::uint64_t micros);
  static std::uint64_t bucket_upper(std::size_t index);

  /// Appends the JSON object {"count":..,"p50_us":..,"p90_us":..,"p99_us":..,"p999_us":..,
  /// "max_us":..,"mean_us":..,"buckets":[[upper_us,count],...]} (non-empty buckets, ascending).
  void append_json(std::string& out) const;

 private:
  std::array<std::uint64_t, kNumBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace kvroute::sim_server
