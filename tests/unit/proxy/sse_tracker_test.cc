// The relay's view of an SSE body: events counted at their blank line, whatever the split.
#include "proxy/sse_tracker.h"

#include <gtest/gtest.h>

#include <string>

#include "openai/sse.h"

namespace kvroute::proxy {
namespace {

const std::string kStream =
    "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n"
    "data: [DONE]\n\n";

TEST(SseTrackerTest, CountsEventsAndFindsUsageAndDone) {
  SseTracker t;
  t.reset();
  EXPECT_EQ(t.feed(kStream), 4u);
  EXPECT_EQ(t.events(), 4u);
  EXPECT_EQ(t.data_events(), 3u);
  EXPECT_TRUE(t.done_seen());
  ASSERT_TRUE(t.usage_payload().has_value());
  const auto usage = openai::parse_usage(*t.usage_payload());
  ASSERT_TRUE(usage.has_value());
  EXPECT_EQ(usage->completion_tokens, 2);
}

TEST(SseTrackerTest, AnySplitGivesTheSameCounts) {
  for (std::size_t split = 1; split < kStream.size(); ++split) {
    SseTracker t;
    std::size_t completed = t.feed(std::string_view(kStream).substr(0, split));
    completed += t.feed(std::string_view(kStream).substr(split));
    ASSERT_EQ(completed, 4u) << "split at " << split;
    ASSERT_TRUE(t.usage_payload().has_value()) << "split at " << split;
    EXPECT_TRUE(t.done_seen());
  }
}

TEST(SseTrackerTest, ByteByByte) {
  SseTracker t;
  std::size_t completed = 0;
  for (char c : kStream) completed += t.feed(std::string_view(&c, 1));
  EXPECT_EQ(completed, 4u);
  EXPECT_TRUE(t.done_seen());
}

TEST(SseTrackerTest, CrLfLineEndsAndComments) {
  SseTracker t;
  EXPECT_EQ(t.feed(": keep-alive comment\r\n\r\ndata: a\r\n\r\ndata: [DONE]\r\n\r\n"), 3u);
  EXPECT_TRUE(t.done_seen());
  EXPECT_EQ(t.data_events(), 1u);
}

TEST(SseTrackerTest, AnEventIsCompleteOnlyAtItsBlankLine) {
  SseTracker t;
  EXPECT_EQ(t.feed("data: {\"a\":1}\n"), 0u);
  EXPECT_EQ(t.feed("\n"), 1u);
  EXPECT_EQ(t.feed("\n\n"), 0u) << "extra blank lines are no events";
}

TEST(SseTrackerTest, ResetStartsOver) {
  SseTracker t;
  t.feed(kStream);
  t.reset();
  EXPECT_EQ(t.events(), 0u);
  EXPECT_FALSE(t.done_seen());
  EXPECT_FALSE(t.usage_payload().has_value());
}

TEST(SseTrackerTest, WithoutAUsageChunkTheLastEventHasNoUsage) {
  SseTracker t;
  t.feed("data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {\"choices\":[{\"text\":\"b\"}]}\n\ndata: [DONE]\n\n");
  ASSERT_TRUE(t.usage_payload().has_value());
  EXPECT_EQ(*t.usage_payload(), "{\"choices\":[{\"text\":\"b\"}]}");
  EXPECT_FALSE(openai::parse_usage(*t.usage_payload()).has_value());
}

TEST(SseTrackerTest, HugeEventsAreCountedNotKept) {
  SseTracker t;
  const std::string big = "data: " + std::string(SseTracker::kMaxKeptEvent + 10, 'x') + "\n\n";
  EXPECT_EQ(t.feed(big), 1u);
  EXPECT_EQ(t.data_events(), 1u);
}

}  // namespace
}  // namespace kvroute::proxy
