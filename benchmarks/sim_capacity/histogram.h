#pragma once
// Latency histograms for the capacity benchmark: a cheap log-linear recorder for what the client
// measures itself, and a merge of the bucket lists that kvroute-sim reports in /sim/stats.

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

namespace kvroute::bench {

/// Percentile summary of one distribution, in microseconds.
struct Summary {
  std::uint64_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
};

/// Log-linear histogram of non-negative microsecond values: 16 linear sub-buckets per power of
/// two, so any recorded value is known to within 1/16 (about 6%). Recording is a few integer
/// operations and never allocates, which keeps the load generator cheap. Not thread-safe: one
/// per thread, merged at the end.
class LogHistogram {
 public:
  static constexpr int kSubBits = 4;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = 64 * kSub;

  /// Adds one value (microseconds; negative values count as 0).
  void record(std::int64_t us);
  /// Adds every count of other into this one.
  void merge(const LogHistogram& other);
  /// Percentiles by linear interpolation inside the bucket that holds the rank.
  Summary summarize() const;
  std::uint64_t count() const { return count_; }

  /// Bucket index of a value, and the half-open value range [lower, upper) a bucket covers.
  static int bucket_of(std::uint64_t us);
  static std::uint64_t bucket_lower(int b);
  static std::uint64_t bucket_upper(int b);

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
  double sum_ = 0;
};

/// A histogram given as (upper bound, count) pairs, as kvroute-sim reports token lateness: bucket
/// i holds values in (upper[i-1], upper[i]]. Merging adds counts bucket by bucket (by upper
/// bound, so instances need not report identical bucket lists).
class BucketHistogram {
 public:
  /// Adds a bucket; upper_us may be +infinity for an overflow bucket.
  void add(double upper_us, std::uint64_t count);
  /// Takes note of an observed maximum (used for the overflow bucket and for Summary::max).
  void note_max(double max_us);
  void merge(const BucketHistogram& other);
  /// Percentiles by linear interpolation inside a bucket (between the previous upper bound and
  /// this one, capped at the observed maximum).
  Summary summarize() const;
  std::uint64_t count() const;
  /// Buckets sorted by upper bound.
  const std::vector<std::pair<double, std::uint64_t>>& buckets() const { return buckets_; }

 private:
  std::vector<std::pair<double, std::uint64_t>> buckets_;  // sorted by upper bound
  double max_ = 0;
};

}  // namespace kvroute::bench
