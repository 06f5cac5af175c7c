#include "openai/sse.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace kvroute::openai {
namespace {

std::vector<std::string> drain(SseParser& parser) {
  std::vector<std::string> events;
  while (auto event = parser.next()) events.emplace_back(*event);
  return events;
}

std::vector<std::string> parse_whole(std::string_view stream) {
  SseParser parser;
  parser.feed(stream);
  return drain(parser);
}

std::vector<std::string> parse_byte_by_byte(std::string_view stream) {
  SseParser parser;
  std::vector<std::string> events;
  for (const char c : stream) {
    parser.feed(std::string_view(&c, 1));
    for (auto& e : drain(parser)) events.push_back(std::move(e));
  }
  return events;
}

const std::vector<std::string> kStreams = {
    // vLLM chat stream with a usage chunk.
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
    "data: "
    "{\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}"
    "\n\n"
    "data: [DONE]\n\n",
    // CRLF line ends, comments, other fields, multi-line data.
    ": keep-alive\r\n\r\nevent: message\r\nid: 7\r\ndata: first\r\ndata: second\r\nretry: 10\r\n\r\n"
    "data:nospace\r\n\r\ndata:  two spaces\n\n",
    // Lone CR line ends and mixed ends.
    "data: a\r\rdata: b\n\r\ndata: c\r\ndata: d\n\n",
    // Events without data produce nothing; an empty data field produces "".
    "event: ping\n\nid: 3\n\n:comment only\n\ndata\n\ndata:\n\ndata: x\n\n",
};

TEST(SseWriterTest, FramesLikeVllm) {
  std::string out;
  append_sse_event(out, R"({"a":1})");
  append_sse_event(out, "x");
  EXPECT_EQ(out, "data: {\"a\":1}\n\ndata: x\n\n");
  EXPECT_EQ(kSseDone, "data: [DONE]\n\n");
}

TEST(SseParserTest, SplitsAVllmStream) {
  const auto events = parse_whole(kStreams[0]);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0], R"({"id":"chatcmpl-1","choices":[{"index":0,"delta":{"role":"assistant"}}]})");
  EXPECT_EQ(events[3], "[DONE]");
}

TEST(SseParserTest, CrlfCommentsFieldsAndMultiLineData) {
  EXPECT_EQ(parse_whole(kStreams[1]), (std::vector<std::string>{"first\nsecond", "nospace", " two spaces"}));
}

TEST(SseParserTest, LoneCarriageReturnsEndLines) {
  EXPECT_EQ(parse_whole(kStreams[2]), (std::vector<std::string>{"a", "b", "c\nd"}));
}

TEST(SseParserTest, EventsWithoutDataYieldNothing) {
  EXPECT_EQ(parse_whole(kStreams[3]), (std::vector<std::string>{"", "", "x"}));
}

TEST(SseParserTest, ByteByByteMatchesWhole) {
  for (const auto& stream : kStreams) {
    EXPECT_EQ(parse_byte_by_byte(stream), parse_whole(stream)) << stream;
  }
}

TEST(SseParserTest, RandomSplitsMatchWhole) {
  std::mt19937_64 rng(42);
  for (const auto& stream : kStreams) {
    const auto whole = parse_whole(stream);
    for (int round = 0; round < 200; ++round) {
      SseParser parser;
      std::vector<std::string> events;
      std::size_t at = 0;
      while (at < stream.size()) {
        const std::size_t n = std::min<std::size_t>(stream.size() - at, rng() % 17);
        parser.feed(std::string_view(stream).substr(at, n));
        at += n;
        for (auto& e : drain(parser)) events.push_back(std::move(e));
      }
      ASSERT_EQ(events, whole) << "round " << round;
    }
  }
}

TEST(SseParserTest, IncompleteEventWaitsAndCountsPendingBytes) {
  SseParser parser;
  parser.feed("data: {\"a\":");
  EXPECT_FALSE(parser.next());
  EXPECT_EQ(parser.pending_bytes(), 11u);
  parser.feed("1}\n");
  EXPECT_FALSE(parser.next());
  EXPECT_EQ(parser.pending_bytes(), 14u);
  parser.feed("\ndata: [DO");
  const auto event = parser.next();
  ASSERT_TRUE(event);
  EXPECT_EQ(*event, "{\"a\":1}");
  EXPECT_FALSE(parser.next());
  EXPECT_EQ(parser.pending_bytes(), 9u);
  parser.feed("NE]\n\n");
  EXPECT_EQ(parser.next(), std::optional<std::string_view>("[DONE]"));
  EXPECT_EQ(parser.pending_bytes(), 0u);
}

TEST(SseParserTest, CrAtEndOfFeedWaitsForPossibleLf) {
  SseParser parser;
  parser.feed("data: a\r");
  EXPECT_FALSE(parser.next());
  parser.feed("\n\r");
  EXPECT_FALSE(parser.next());
  parser.feed("\n");
  EXPECT_EQ(parser.next(), std::optional<std::string_view>("a"));
  EXPECT_FALSE(parser.next());
}

TEST(SseParserTest, LongEventInSmallChunks) {
  const std::string payload(100000, 'z');
  std::string stream;
  append_sse_event(stream, payload);
  SseParser parser;
  for (std::size_t at = 0; at < stream.size(); at += 7) {
    parser.feed(std::string_view(stream).substr(at, 7));
    if (at + 7 < stream.size()) {
      ASSERT_FALSE(parser.next());
    }
  }
  const auto event = parser.next();
  ASSERT_TRUE(event);
  EXPECT_EQ(*event, payload);
}

TEST(SseParserTest, ManyEventsInOneFeed) {
  std::string stream;
  for (int i = 0; i < 1000; ++i) append_sse_event(stream, std::to_string(i));
  SseParser parser;
  parser.feed(stream);
  for (int i = 0; i < 1000; ++i) {
    const auto event = parser.next();
    ASSERT_TRUE(event);
    EXPECT_EQ(*event, std::to_string(i));
  }
  EXPECT_FALSE(parser.next());
  EXPECT_EQ(parser.pending_bytes(), 0u);
}

// ---------------------------------------------------------------- usage

TEST(UsageTest, ReadsTheUsageChunk) {
  const auto usage =
      parse_usage(R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],)"
                  R"("usage":{"prompt_tokens":120,"total_tokens":135,"completion_tokens":15}})");
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->prompt_tokens, 120);
  EXPECT_EQ(usage->completion_tokens, 15);
  EXPECT_EQ(usage->total_tokens, 135);
  EXPECT_EQ(usage->cached_tokens, std::nullopt);
}

TEST(UsageTest, ReadsCachedTokens) {
  const auto usage = parse_usage(R"({"usage":{"prompt_tokens":1000,"completion_tokens":2,"total_tokens":1002,)"
                                 R"("prompt_tokens_details":{"audio_tokens":null,"cached_tokens":768}}})");
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->cached_tokens, 768);
  EXPECT_EQ(usage->prompt_tokens, 1000);
}

TEST(UsageTest, NullDetailsMeanNoCachedTokens) {
  const auto usage = parse_usage(
      R"({"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":null}})");
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->cached_tokens, std::nullopt);
  EXPECT_EQ(usage->total_tokens, 3);
}

TEST(UsageTest, NonStreamingResponseWithUsageAfterChoices) {
  const auto usage = parse_usage(
      R"({"id":"cmpl-1","object":"text_completion","choices":[{"index":0,"text":"the \"usage\" key","finish_reason":"length"}],)"
      R"("usage":{"prompt_tokens":5,"completion_tokens":16,"total_tokens":21}})");
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->completion_tokens, 16);
}

TEST(UsageTest, MissingTotalIsTheSum) {
  const auto usage = parse_usage(R"({"usage":{"prompt_tokens":7,"completion_tokens":5}})");
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->total_tokens, 12);
}

TEST(UsageTest, AbsentNullOrUnreadableIsNullopt) {
  EXPECT_EQ(parse_usage(R"({"choices":[{"delta":{"content":"x"}}]})"), std::nullopt);
  EXPECT_EQ(parse_usage(R"({"choices":[],"usage":null})"), std::nullopt);
  EXPECT_EQ(parse_usage(R"({"choices":[{"usage":{"prompt_tokens":1}}]})"), std::nullopt);
  EXPECT_EQ(parse_usage("[DONE]"), std::nullopt);
  EXPECT_EQ(parse_usage(""), std::nullopt);
  EXPECT_EQ(parse_usage(R"({"usage":)"), std::nullopt);
  EXPECT_EQ(parse_usage(R"(["usage"])"), std::nullopt);
  EXPECT_EQ(parse_usage(R"({"usage":"many"})"), std::nullopt);
}

TEST(UsageTest, TopLevelUsageWinsWhereverItIs) {
  // Followed by scalar members (vLLM writes "prompt_logprobs":null after it).
  auto usage = parse_usage(
      R"({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1},"prompt_logprobs":null, "x" : "}{,\"" ,"n":-1.5e3})");
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->prompt_tokens, 3);
  // Followed by an object or array member: the whole document is parsed.
  usage = parse_usage(R"({"usage":{"prompt_tokens":4},"kv_transfer_params":{"a":[1]}})");
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->prompt_tokens, 4);
  // The last "usage" key is a nested one: the top-level one is still found.
  usage = parse_usage(R"({"usage":{"prompt_tokens":3},"choices":[{"usage":{"prompt_tokens":1}}]})");
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->prompt_tokens, 3);
  // A nested one right before the root's end is not taken for the top-level one.
  EXPECT_EQ(parse_usage(R"({"a":{"usage":{"prompt_tokens":1}}})"), std::nullopt);
}

TEST(UsageTest, EscapedQuotesAreNotKeys) {
  // Text that spells the key with escaped quotes, even after escaped backslashes, is content.
  const auto usage = parse_usage(
      R"({"choices":[{"text":"\"usage\": {\"prompt_tokens\": 9} and \\\"usage\\\":{}"}],)"
      R"( "usage" : { "prompt_tokens" : 2 , "completion_tokens" : 4 , "prompt_tokens_details" : {"cached_tokens": 1} } )"
      "}\r\n");
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->prompt_tokens, 2);
  EXPECT_EQ(usage->completion_tokens, 4);
  EXPECT_EQ(usage->cached_tokens, 1);
  EXPECT_EQ(parse_usage(R"({"choices":[{"text":"\"usage\":{\"prompt_tokens\":9}"}]})"), std::nullopt);
}

TEST(UsageTest, UsageInsideStreamEvents) {
  SseParser parser;
  parser.feed(kStreams[0]);
  std::optional<Usage> last;
  while (auto event = parser.next()) {
    if (auto usage = parse_usage(*event)) last = usage;
  }
  ASSERT_TRUE(last);
  EXPECT_EQ(last->prompt_tokens, 3);
  EXPECT_EQ(last->completion_tokens, 1);
  EXPECT_EQ(last->total_tokens, 4);
}

}  // namespace
}  // namespace kvroute::openai
