#include "bench/trace.h"

#include <gtest/gtest.h>

#include <string>

namespace kvroute::bench {
namespace {

Trace parse_ok(std::string_view text, std::string_view source, TraceFormat format = TraceFormat::kAuto) {
  auto t = parse_trace(text, source, format);
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return t.ok() ? std::move(*t) : Trace{};
}

std::string parse_error(std::string_view text, std::string_view source, TraceFormat format = TraceFormat::kAuto) {
  auto t = parse_trace(text, source, format);
  EXPECT_FALSE(t.ok());
  if (t.ok()) return "";
  EXPECT_EQ(t.error().code, 22);
  return t.error().message;
}

// --- Mooncake ---

TEST(MooncakeTraceTest, ReadsRecordsInMillisecondsWithBlockIds) {
  const auto t = parse_ok(
      "{\"timestamp\": 0, \"input_length\": 6758, \"output_length\": 500, \"hash_ids\": [0, 1, 2]}\n"
      "\n"
      "{\"timestamp\": 3052, \"input_length\": 700, \"output_length\": 1, \"hash_ids\": [0, 14]}\n",
      "trace.jsonl");
  ASSERT_EQ(t.records.size(), 2u);
  EXPECT_EQ(t.format, TraceFormat::kMooncake);
  EXPECT_EQ(t.records[0].arrival, 0);
  EXPECT_EQ(t.records[0].input_tokens, 6758u);
  EXPECT_EQ(t.records[0].output_tokens, 500u);
  EXPECT_EQ(t.records[0].hash_ids, (std::vector<std::uint64_t>{0, 1, 2}));
  EXPECT_EQ(t.records[0].line, 1u);
  EXPECT_EQ(t.records[1].arrival, 3052 * kNanosPerMilli);
  EXPECT_EQ(t.records[1].line, 3u);
  EXPECT_TRUE(t.records[1].prompt.empty());
}

TEST(MooncakeTraceTest, SortsByArrivalKeepingFileOrderForTies) {
  const auto t = parse_ok(
      "{\"timestamp\": 10, \"input_length\": 1, \"output_length\": 1, \"hash_ids\": [1]}\n"
      "{\"timestamp\": 5, \"input_length\": 2, \"output_length\": 1, \"hash_ids\": [2]}\n"
      "{\"timestamp\": 10, \"input_length\": 3, \"output_length\": 1, \"hash_ids\": [3]}\n",
      "t.jsonl");
  ASSERT_EQ(t.records.size(), 3u);
  EXPECT_EQ(t.records[0].input_tokens, 2u);
  EXPECT_EQ(t.records[1].input_tokens, 1u);
  EXPECT_EQ(t.records[2].input_tokens, 3u);
}

TEST(MooncakeTraceTest, ReportsBadRecordsWithFileAndLine) {
  const std::string ok = "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5, \"hash_ids\": [0]}\n";
  EXPECT_EQ(parse_error(ok + "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5, \"hash_ids\": [0]\n",
                        "m.jsonl", TraceFormat::kMooncake),
            "m.jsonl:2: not valid JSON");
  EXPECT_EQ(parse_error(ok + ok + "{\"timestamp\": 0, \"output_length\": 5, \"hash_ids\": [0]}\n", "m.jsonl",
                        TraceFormat::kMooncake),
            "m.jsonl:3: missing \"input_length\"");
  EXPECT_EQ(parse_error(ok + "{\"timestamp\": 1, \"input_length\": 10, \"output_length\": -5, \"hash_ids\": []}\n",
                        "m.jsonl", TraceFormat::kMooncake),
            "m.jsonl:2: \"output_length\" must be >= 1, got -5");
  EXPECT_EQ(parse_error("{\"timestamp\": 0, \"input_length\": 0, \"output_length\": 5, \"hash_ids\": [0]}\n", "m.jsonl",
                        TraceFormat::kMooncake),
            "m.jsonl:1: \"input_length\" must be in [1, 4294967295], got 0");
  EXPECT_EQ(parse_error("{\"timestamp\": \"x\", \"input_length\": 1, \"output_length\": 5, \"hash_ids\": [0]}\n",
                        "m.jsonl", TraceFormat::kMooncake),
            "m.jsonl:1: \"timestamp\" must be a number of milliseconds, got \"x\"");
  EXPECT_EQ(parse_error("{\"timestamp\": 0, \"input_length\": 1, \"output_length\": 5, \"hash_ids\": [0, \"a\"]}\n",
                        "m.jsonl", TraceFormat::kMooncake),
            "m.jsonl:1: \"hash_ids\" must hold integers >= 0, got \"a\"");
  EXPECT_EQ(parse_error("[1, 2]\n", "m.jsonl", TraceFormat::kMooncake), "m.jsonl:1: expected a JSON object");
}

TEST(MooncakeTraceTest, MaxRecordsStopsReadingEarly) {
  const std::string ok = "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5, \"hash_ids\": [0]}\n";
  auto t = parse_trace(ok + ok + "garbage\n", "m.jsonl", TraceFormat::kMooncake, 2);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->records.size(), 2u);
}

// --- Azure ---

TEST(AzureTraceTest, ReadsWallClockTimesRelativeToTheFirstRow) {
  const auto t = parse_ok(
      "TIMESTAMP,ContextTokens,GeneratedTokens\r\n"
      "2023-11-16 18:15:46.6805900,374,44\r\n"
      "2023-11-16 18:15:50.9951690,396,109\r\n"
      "2023-11-16 18:15:51.2224670,879,55\r\n",
      "azure.csv");
  EXPECT_EQ(t.format, TraceFormat::kAzure);
  ASSERT_EQ(t.records.size(), 3u);
  EXPECT_EQ(t.records[0].arrival, 0);
  EXPECT_EQ(t.records[0].input_tokens, 374u);
  EXPECT_EQ(t.records[0].output_tokens, 44u);
  EXPECT_EQ(t.records[1].arrival, 4'314'579'000);  // 50.9951690 - 46.6805900 s, exactly
  EXPECT_EQ(t.records[2].arrival, 4'541'877'000);
  EXPECT_EQ(t.records[2].line, 4u);
  EXPECT_TRUE(t.records[2].hash_ids.empty());
}

TEST(AzureTraceTest, ParsesTimestampsExactly) {
  auto t = parse_wall_clock("2023-11-16 18:15:46.6805900");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, 1700158546LL * kNanosPerSecond + 680'590'000);
  EXPECT_EQ(*parse_wall_clock("1970-01-01 00:00:01.5"), 1'500'000'000);
  EXPECT_EQ(*parse_wall_clock("2000-03-01 00:00:00"), 951868800LL * kNanosPerSecond);
  EXPECT_FALSE(parse_wall_clock("2023-11-16").ok());
  EXPECT_FALSE(parse_wall_clock("2023-13-16 18:15:46").ok());
  EXPECT_FALSE(parse_wall_clock("2023-11-16 18:15:46.").ok());
  EXPECT_FALSE(parse_wall_clock("2023-11-16 18:15:46.12345678901").ok());
}

TEST(AzureTraceTest, ReportsBadRowsWithFileAndLine) {
  const std::string header = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
  const std::string row = "2023-11-16 18:15:46.6805900,374,44\n";
  EXPECT_EQ(parse_error(header + row + "2023-11-16 18:15:47.0,12\n", "a.csv"),
            "a.csv:3: expected 3 fields: TIMESTAMP,ContextTokens,GeneratedTokens");
  EXPECT_EQ(parse_error(header + row + row + "2023-11-16 18:15:47.0,x,4\n", "a.csv"),
            "a.csv:4: ContextTokens must be an integer >= 1, got 'x'");
  EXPECT_EQ(parse_error(header + "2023-11-16 18:15:47.0,5,0\n", "a.csv"),
            "a.csv:2: GeneratedTokens must be an integer >= 1, got '0'");
  EXPECT_EQ(parse_error(header + "yesterday,5,3\n", "a.csv"),
            "a.csv:2: bad timestamp 'yesterday' (expected YYYY-MM-DD HH:MM:SS.fffffff)");
  EXPECT_EQ(parse_error("time,in,out\n" + row, "a.csv"),
            "a.csv:1: expected the header TIMESTAMP,ContextTokens,GeneratedTokens");
}

// --- kvroute JSONL ---

TEST(KvrouteTraceTest, PromptBecomesTheCanonicalText) {
  const auto t = parse_ok(
      "{\"timestamp_ms\": 1.5, \"model\": \"m1\", \"prompt\": \"Hello, world\", \"output_tokens\": 7, \"user\": "
      "\"u\"}\n"
      "{\"timestamp_ms\": 20, \"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
      " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Hi\"}]}], \"output_tokens\": 3}\n"
      "{\"timestamp_ms\": 30, \"prompt\": [\"a\", \"b\"], \"output_tokens\": 1}\n",
      "k.jsonl");
  EXPECT_EQ(t.format, TraceFormat::kKvroute);
  ASSERT_EQ(t.records.size(), 3u);
  EXPECT_EQ(t.records[0].arrival, 1'500'000);
  EXPECT_EQ(t.records[0].prompt, "Hello, world");
  EXPECT_EQ(t.records[0].input_tokens, 3u);  // 12 bytes / 4
  EXPECT_EQ(t.records[0].model, "m1");
  EXPECT_EQ(t.records[0].user, "u");
  EXPECT_EQ(t.records[0].output_tokens, 7u);
  // Chat canonical form (openai/request_view.h): role, "\n", text, "\n\n" per message.
  EXPECT_EQ(t.records[1].prompt, "system\nBe brief.\n\nuser\nHi\n\n");
  EXPECT_EQ(t.records[1].input_tokens, 7u);  // 25 bytes
  EXPECT_TRUE(t.records[1].model.empty());
  EXPECT_EQ(t.records[2].prompt, "a\nb");
}

TEST(KvrouteTraceTest, ReportsBadRecordsWithFileAndLine) {
  const std::string ok = "{\"timestamp_ms\": 0, \"prompt\": \"x\", \"output_tokens\": 1}\n";
  EXPECT_EQ(parse_error(ok + "{\"timestamp_ms\": 0, \"prompt\": \"x\", \"messages\": [], \"output_tokens\": 1}\n",
                        "k.jsonl", TraceFormat::kKvroute),
            "k.jsonl:2: needs exactly one of \"prompt\" and \"messages\"");
  EXPECT_EQ(parse_error(ok + "{\"timestamp_ms\": 0, \"prompt\": \"x\"}\n", "k.jsonl", TraceFormat::kKvroute),
            "k.jsonl:2: missing \"output_tokens\"");
  EXPECT_EQ(
      parse_error(ok + ok + "{\"timestamp_ms\": 0, \"messages\": [{\"content\": \"hi\"}], \"output_tokens\": 1}\n",
                  "k.jsonl", TraceFormat::kKvroute),
      "k.jsonl:3: Missing required parameter: 'messages[0].role'.");
  EXPECT_EQ(
      parse_error("{\"timestamp_ms\": 0, \"prompt\": \"\", \"output_tokens\": 1}\n", "k.jsonl", TraceFormat::kKvroute),
      "k.jsonl:1: the prompt is empty");
  EXPECT_EQ(parse_error("{\"timestamp_ms\": 0, \"model\": 5, \"prompt\": \"x\", \"output_tokens\": 1}\n", "k.jsonl",
                        TraceFormat::kKvroute),
            "k.jsonl:1: \"model\" must be a string");
}

// --- detection and files ---

TEST(TraceFormatTest, DetectsByExtensionAndContent) {
  EXPECT_EQ(*detect_trace_format("x.csv", ""), TraceFormat::kAzure);
  EXPECT_EQ(*detect_trace_format("x.txt", "TIMESTAMP,ContextTokens,GeneratedTokens\n"), TraceFormat::kAzure);
  EXPECT_EQ(*detect_trace_format("x.jsonl", "\n{\"timestamp\": 0, \"input_length\": 3}\n"), TraceFormat::kMooncake);
  EXPECT_EQ(*detect_trace_format("x.jsonl", "{\"timestamp_ms\": 0, \"prompt\": \"a\"}"), TraceFormat::kKvroute);
  const auto unknown = detect_trace_format("x.jsonl", "{\"a\": 1}");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("--format"), std::string::npos);
  EXPECT_EQ(*parse_trace_format("mooncake"), TraceFormat::kMooncake);
  EXPECT_FALSE(parse_trace_format("csv").ok());
}

TEST(TraceFormatTest, MissingFileIsAnError) {
  const auto t = read_trace("/nonexistent/trace.jsonl");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message, "/nonexistent/trace.jsonl: cannot open the trace file");
}

}  // namespace
}  // namespace kvroute::bench
