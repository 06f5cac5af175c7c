#include "histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <tuple>

namespace kvroute::bench {

// Values below kSub get one bucket each; above, the top kSubBits+1 bits pick the bucket: the
// position of the highest bit is the "octave", the next kSubBits bits the linear step inside it.
int LogHistogram::bucket_of(std::uint64_t us) {
  if (us < static_cast<std::uint64_t>(kSub)) return static_cast<int>(us);
  const int msb = 63 - std::countl_zero(us);
  const int shift = msb - kSubBits;
  const int sub = static_cast<int>((us >> shift) & (kSub - 1));
  return std::min((shift + 1) * kSub + sub, kBuckets - 1);
}

std::uint64_t LogHistogram::bucket_lower(int b) {
  if (b < kSub) return static_cast<std::uint64_t>(b);
  const int shift = b / kSub - 1;
  const std::uint64_t sub = static_cast<std::uint64_t>(b % kSub);
  return (static_cast<std::uint64_t>(kSub) + sub) << shift;
}

std::uint64_t LogHistogram::bucket_upper(int b) {
  if (b + 1 >= kBuckets) return std::numeric_limits<std::uint64_t>::max();
  return bucket_lower(b + 1);
}

void LogHistogram::record(std::int64_t us) {
  const std::uint64_t v = us < 0 ? 0 : static_cast<std::uint64_t>(us);
  ++counts_[static_cast<std::size_t>(bucket_of(v))];
  ++count_;
  max_ = std::max(max_, v);
  sum_ += static_cast<double>(v);
}

void LogHistogram::merge(const LogHistogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

namespace {

// Value at quantile q of a histogram given as (lower, upper, count) buckets in ascending order,
// assuming values are spread evenly inside a bucket.
template <class BucketFn>
double quantile(std::uint64_t total, double q, int n, BucketFn bucket, double max_seen) {
  if (total == 0) return 0;
  // Rank of the wanted value, 1-based: the smallest value with at least q of the mass at or below it.
  const double rank = std::max(1.0, std::ceil(q * static_cast<double>(total)));
  double seen = 0;
  for (int i = 0; i < n; ++i) {
    const auto [lower, upper, count] = bucket(i);
    if (count == 0) continue;
    if (seen + static_cast<double>(count) >= rank) {
      const double hi = std::min(upper, max_seen);
      const double lo = std::min(lower, hi);
      const double frac = (rank - seen) / static_cast<double>(count);
      return lo + (hi - lo) * frac;
    }
    seen += static_cast<double>(count);
  }
  return max_seen;
}

}  // namespace

Summary LogHistogram::summarize() const {
  Summary s;
  s.count = count_;
  if (count_ == 0) return s;
  s.max = static_cast<double>(max_);
  s.mean = sum_ / static_cast<double>(count_);
  auto bucket = [this](int i) {
    const auto idx = static_cast<std::size_t>(i);
    // Bucket [lower, upper) holds integers lower..upper-1.
    return std::tuple{static_cast<double>(bucket_lower(i)), static_cast<double>(bucket_upper(i) - 1),
                      counts_[idx]};
  };
  s.p50 = quantile(count_, 0.50, kBuckets, bucket, s.max);
  s.p90 = quantile(count_, 0.90, kBuckets, bucket, s.max);
  s.p99 = quantile(count_, 0.99, kBuckets, bucket, s.max);
  s.p999 = quantile(count_, 0.999, kBuckets, bucket, s.max);
  return s;
}

void BucketHistogram::add(double upper_us, std::uint64_t count) {
  auto it = std::lower_bound(buckets_.begin(), buckets_.end(), upper_us,
                             [](const auto& b, double u) { return b.first < u; });
  if (it != buckets_.end() && it->first == upper_us) {
    it->second += count;
  } else {
    buckets_.insert(it, {upper_us, count});
  }
}

void BucketHistogram::note_max(double max_us) { max_ = std::max(max_, max_us); }

void BucketHistogram::merge(const BucketHistogram& other) {
  for (const auto& [upper, count] : other.buckets_) add(upper, count);
  note_max(other.max_);
}

std::uint64_t BucketHistogram::count() const {
  std::uint64_t n = 0;
  for (const auto& b : buckets_) n += b.second;
  return n;
}

Summary BucketHistogram::summarize() const {
  Summary s;
  s.count = count();
  if (s.count == 0) return s;
  // Without a reported maximum, the highest finite non-empty upper bound is the best we know.
  double max_seen = max_;
  if (max_seen <= 0) {
    for (const auto& [upper, count] : buckets_) {
      if (count > 0 && std::isfinite(upper)) max_seen = upper;
    }
  }
  s.max = max_seen;
  double weighted = 0;
  auto bucket = [&](int i) {
    const auto idx = static_cast<std::size_t>(i);
    const double lower = idx == 0 ? 0.0 : buckets_[idx - 1].first;
    return std::tuple{lower, buckets_[idx].first, buckets_[idx].second};
  };
  const int n = static_cast<int>(buckets_.size());
  for (int i = 0; i < n; ++i) {
    const auto [lo, hi, c] = bucket(i);
    weighted += (lo + std::min(hi, max_seen)) / 2 * static_cast<double>(c);
  }
  s.mean = weighted / static_cast<double>(s.count);
  s.p50 = quantile(s.count, 0.50, n, bucket, max_seen);
  s.p90 = quantile(s.count, 0.90, n, bucket, max_seen);
  s.p99 = quantile(s.count, 0.99, n, bucket, max_seen);
  s.p999 = quantile(s.count, 0.999, n, bucket, max_seen);
  return s;
}

}  // namespace kvroute::bench
