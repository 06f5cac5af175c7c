#include "sim_server/lateness.h"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

namespace kvroute::sim_server {
namespace {

TEST(LatenessHistogramTest, SmallValuesHaveExactBuckets) {
  for (std::uint64_t v = 0; v < 16; ++v) {
    EXPECT_EQ(LatenessHistogram::bucket_of(v), v);
    EXPECT_EQ(LatenessHistogram::bucket_upper(v), v);
  }
}

TEST(LatenessHistogramTest, EveryValueFallsInABucketWhoseUpperBoundIsWithinAnEighth) {
  for (std::uint64_t v : {16ull, 17ull, 31ull, 32ull, 100ull, 1000ull, 1999ull, 123456ull, 1ull << 30, (1ull << 41) - 1}) {
    const std::size_t b = LatenessHistogram::bucket_of(v);
    const std::uint64_t upper = LatenessHistogram::bucket_upper(b);
    EXPECT_GE(upper, v) << v;
    EXPECT_LE(static_cast<double>(upper), static_cast<double>(v) * 1.125 + 1) << v;
    if (b > 0) {
      EXPECT_LT(LatenessHistogram::bucket_upper(b - 1), v) << v;  // buckets do not overlap
    }
  }
  EXPECT_EQ(LatenessHistogram::bucket_of(~0ull), LatenessHistogram::kNumBuckets - 1);
}

TEST(LatenessHistogramTest, BucketBoundsAreContiguous) {
  for (std::size_t b = 1; b + 1 < LatenessHistogram::kNumBuckets; ++b) {
    const std::uint64_t lower = LatenessHistogram::bucket_upper(b - 1) + 1;
    EXPECT_EQ(LatenessHistogram::bucket_of(lower), b);
    EXPECT_EQ(LatenessHistogram::bucket_of(LatenessHistogram::bucket_upper(b)), b);
  }
}

TEST(LatenessHistogramTest, PercentilesNeverUnderstateAndCapAtMax) {
  LatenessHistogram h;
  EXPECT_EQ(h.percentile(0.99), 0u);
  for (std::uint64_t v = 1; v <= 1000; ++v) h.record(v);
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_EQ(h.max(), 1000u);
  const auto p50 = h.percentile(0.5);
  EXPECT_GE(p50, 500u);
  EXPECT_LE(p50, 563u);
  const auto p99 = h.percentile(0.99);
  EXPECT_GE(p99, 990u);
  EXPECT_LE(p99, 1000u);  // capped by the max
  EXPECT_EQ(h.percentile(1.0), 1000u);
  EXPECT_DOUBLE_EQ(h.mean(), 500.5);
}

TEST(LatenessHistogramTest, JsonListsNonEmptyBucketsAndResetClears) {
  LatenessHistogram h;
  h.record(3);
  h.record(3);
  h.record(40);
  std::string out;
  h.append_json(out);
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["count"], 3);
  EXPECT_EQ(j["max_us"], 40);
  ASSERT_EQ(j["buckets"].size(), 2u);
  EXPECT_EQ(j["buckets"][0][0], 3);
  EXPECT_EQ(j["buckets"][0][1], 2);
  EXPECT_GE(j["buckets"][1][0].get<int>(), 40);
  EXPECT_EQ(j["buckets"][1][1], 1);
  for (const char* key : {"p50_us", "p90_us", "p99_us", "p999_us"}) EXPECT_TRUE(j.contains(key)) << key;
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  out.clear();
  h.append_json(out);
  EXPECT_TRUE(nlohmann::json::parse(out)["buckets"].empty());
}

}  // namespace
}  // namespace kvroute::sim_server
