#include "sim_server/lateness.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include <fmt/format.h>

namespace kvroute::sim_server {

std::size_t LatenessHistogram::bucket_of(std::uint64_t v) {
  if (v < kLinearLimit) return static_cast<std::size_t>(v);
  int e = std::bit_width(v) - 1;  // floor(log2 v) >= 4
  if (e > kMaxExponent) return kNumBuckets - 1;
  const std::uint64_t sub = (v >> (e - kSubBucketBits)) & ((1u << kSubBucketBits) - 1);
  return kLinearLimit + static_cast<std::size_t>(e - 4) * (1u << kSubBucketBits) + sub;
}

std::uint64_t LatenessHistogram::bucket_upper(std::size_t index) {
  if (index < kLinearLimit) return index;
  const std::size_t rel = index - kLinearLimit;
  const int e = static_cast<int>(rel >> kSubBucketBits) + 4;
  const std::uint64_t sub = rel & ((1u << kSubBucketBits) - 1);
  // Bucket (e, sub) holds [(8 + sub) << (e - 3), (9 + sub) << (e - 3)).
  return (((std::uint64_t{1} << kSubBucketBits) + sub + 1) << (e - kSubBucketBits)) - 1;
}

void LatenessHistogram::record(std::uint64_t micros) {
  ++counts_[bucket_of(micros)];
  ++count_;
  sum_ += micros;
  max_ = std::max(max_, micros);
}

void LatenessHistogram::reset() {
  counts_.fill(0);
  count_ = sum_ = max_ = 0;
}

std::uint64_t LatenessHistogram::percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kNumBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(bucket_upper(i), max_);
  }
  return max_;
}

void LatenessHistogram::append_json(std::string& out) const {
  auto it = std::back_inserter(out);
  fmt::format_to(it, R"({{"count":{},"p50_us":{},"p90_us":{},"p99_us":{},"p999_us":{},"max_us":{},"mean_us":{:.1f},"buckets":[)",
                 count_, percentile(0.5), percentile(0.9), percentile(0.99), percentile(0.999), max_, mean());
  bool first = true;
  for (std::size_t i = 0; i < kNumBuckets; ++i) {
    if (counts_[i] == 0) continue;
    fmt::format_to(it, "{}[{},{}]", first ? "" : ",", bucket_upper(i), counts_[i]);
    first = false;
  }
  out += "]}";
}

}  // namespace kvroute::sim_server
