#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "event_scanner.h"
#include "histogram.h"
#include "sim_process.h"

namespace kvroute::bench {
namespace {

constexpr std::string_view kRole =
    R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})"
    "\n\n";
constexpr std::string_view kToken =
    R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" the"},"finish_reason":null}]})"
    "\n\n";
constexpr std::string_view kUsage =
    R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}})"
    "\n\n";
constexpr std::string_view kDone = "data: [DONE]\n\n";

void feed(EventScanner& s, std::string_view bytes) {
  auto span = s.prepare(bytes.size());
  std::memcpy(span.data(), bytes.data(), bytes.size());
  s.commit(bytes.size());
}

TEST(EventScannerTest, CountsContentEventsButNotRoleUsageOrDone) {
  EventScanner s;
  feed(s, std::string(kRole) + std::string(kToken) + std::string(kToken) + std::string(kUsage) + std::string(kDone));
  const ScanResult r = s.scan();
  EXPECT_EQ(r.events, 5u);
  EXPECT_EQ(r.tokens, 2u);
  EXPECT_TRUE(r.done);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(s.pending(), 0u);
}

TEST(EventScannerTest, FindsEventsSplitAtEveryByte) {
  const std::string stream = std::string(kRole) + std::string(kToken) + std::string(kToken) + std::string(kDone);
  for (std::size_t cut = 1; cut < stream.size(); ++cut) {
    EventScanner s(16);
    feed(s, std::string_view(stream).substr(0, cut));
    ScanResult a = s.scan();
    feed(s, std::string_view(stream).substr(cut));
    ScanResult b = s.scan();
    ASSERT_EQ(a.events + b.events, 4u) << "cut at " << cut;
    ASSERT_EQ(a.tokens + b.tokens, 2u) << "cut at " << cut;
    ASSERT_TRUE(b.done) << "cut at " << cut;
    ASSERT_EQ(s.pending(), 0u);
  }
}

TEST(EventScannerTest, HandlesCrLfTerminatorsSplitInTheMiddle) {
  const std::string ev = "data: {\"choices\":[{\"text\":\"x\"}]}\r\n\r\n";
  for (std::size_t cut = ev.size() - 4; cut < ev.size(); ++cut) {
    EventScanner s;
    feed(s, std::string_view(ev).substr(0, cut));
    ScanResult a = s.scan();
    EXPECT_EQ(a.events, 0u) << "cut at " << cut;
    feed(s, std::string_view(ev).substr(cut));
    ScanResult b = s.scan();
    EXPECT_EQ(b.events, 1u) << "cut at " << cut;
    EXPECT_EQ(b.tokens, 1u) << "cut at " << cut;
  }
}

TEST(EventScannerTest, SingleNewlinesInsideAnEventDoNotSplitIt) {
  EventScanner s;
  feed(s, "data: {\"choices\":[{\"delta\":\ndata: {\"content\":\"a\"}}]}\n\n");
  const ScanResult r = s.scan();
  EXPECT_EQ(r.events, 1u);
  EXPECT_EQ(r.tokens, 1u);
}

TEST(EventScannerTest, FlagsInStreamErrors) {
  EventScanner s;
  feed(s, std::string(R"(data: {"error":{"message":"boom","type":"InternalServerError","param":null,"code":500}})") +
              "\n\n" + std::string(kDone));
  const ScanResult r = s.scan();
  EXPECT_TRUE(r.error);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.tokens, 0u);
}

TEST(EventScannerTest, ContentWithSpacesAfterTheColonCounts) {
  ScanResult r;
  EventScanner::classify(R"(data: {"delta": {"content": "hi"}})", r);
  EventScanner::classify(R"(data: {"delta": {"content": ""}})", r);
  EventScanner::classify(R"(data: {"delta": {"content": null}})", r);
  EXPECT_EQ(r.tokens, 1u);
  EXPECT_EQ(r.events, 3u);
}

TEST(LogHistogramTest, BucketsCoverEveryValueWithinASixteenth) {
  for (std::uint64_t v : {0ull, 1ull, 15ull, 16ull, 17ull, 31ull, 32ull, 1000ull, 123456ull, 1ull << 40}) {
    const int b = LogHistogram::bucket_of(v);
    EXPECT_LE(LogHistogram::bucket_lower(b), v) << v;
    EXPECT_GT(LogHistogram::bucket_upper(b), v) << v;
    const auto width = LogHistogram::bucket_upper(b) - LogHistogram::bucket_lower(b);
    EXPECT_LE(width * 16, std::max<std::uint64_t>(v, 16)) << v;
  }
}

TEST(LogHistogramTest, PercentilesOfAUniformSpread) {
  LogHistogram h;
  for (int i = 1; i <= 10000; ++i) h.record(i);
  const Summary s = h.summarize();
  EXPECT_EQ(s.count, 10000u);
  EXPECT_NEAR(s.p50, 5000, 5000 * 0.07);
  EXPECT_NEAR(s.p99, 9900, 9900 * 0.07);
  EXPECT_EQ(s.max, 10000);
  EXPECT_NEAR(s.mean, 5000.5, 0.01);
}

TEST(BucketHistogramTest, MergesByUpperBoundAndInterpolates) {
  BucketHistogram a;
  a.add(100, 90);
  a.add(1000, 10);
  a.note_max(900);
  BucketHistogram b;
  b.add(1000, 90);  // reported in another order and with a bucket a lacks
  b.add(100, 10);
  b.add(10000, 0);
  b.note_max(500);
  a.merge(b);
  EXPECT_EQ(a.count(), 200u);
  const Summary s = a.summarize();
  EXPECT_EQ(s.max, 900);
  // 100 values in (0,100], 100 in (100,1000] capped at the maximum 900.
  EXPECT_NEAR(s.p50, 100, 1e-9);
  EXPECT_NEAR(s.p90, 100 + 800 * 0.8, 1e-9);
  EXPECT_LE(s.p999, 900);
}

TEST(BucketHistogramTest, OverflowBucketUsesTheObservedMaximum) {
  BucketHistogram h;
  h.add(1000, 98);
  h.add(std::numeric_limits<double>::infinity(), 2);
  h.note_max(50000);
  const Summary s = h.summarize();
  EXPECT_GT(s.p99, 1000);
  EXPECT_LE(s.p99, 50000);
  EXPECT_EQ(s.max, 50000);
}

TEST(SimProcessTest, ParsesListeningLines) {
  SimInstance inst;
  ASSERT_TRUE(parse_listening_line(
      "listening instance=3 url=http://127.0.0.1:40123 preset=L8B-H100 model=meta-llama/Llama-3.1-8B-Instruct", inst));
  EXPECT_EQ(inst.index, 3);
  EXPECT_EQ(inst.url, "http://127.0.0.1:40123");
  EXPECT_EQ(inst.preset, "L8B-H100");
  EXPECT_EQ(inst.model, "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_FALSE(parse_listening_line("ready instances=8", inst));
}

}  // namespace
}  // namespace kvroute::bench
