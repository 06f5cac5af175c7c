// The Prometheus text reader: every construct of format 0.0.4, and lines it must skip without
// losing the rest of the page.
#include "upstream/prometheus_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace kvroute::upstream {
namespace {

std::vector<PromSample> read_all(std::string_view text, std::size_t* malformed = nullptr) {
  PromTextReader reader(text);
  std::vector<PromSample> out;
  PromSample s;
  while (reader.next(s)) out.push_back(s);
  if (malformed != nullptr) *malformed = reader.malformed_lines();
  return out;
}

TEST(PromTextReaderTest, ReadsNamesLabelsValuesAndSkipsComments) {
  const std::string_view page =
      "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
      "# TYPE vllm:num_requests_running gauge\n"
      "vllm:num_requests_running{model_name=\"m\",engine=\"0\"} 3.0\n"
      "\n"
      "   # an indented comment\n"
      "plain_metric 42\n"
      "with_ts{a=\"b\"} 1.5 1712345678901\n";
  std::size_t malformed = 99;
  const auto samples = read_all(page, &malformed);
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_EQ(malformed, 0u);
  EXPECT_EQ(samples[0].name, "vllm:num_requests_running");
  EXPECT_EQ(samples[0].labels, "model_name=\"m\",engine=\"0\"");
  EXPECT_EQ(samples[0].value, 3.0);
  EXPECT_FALSE(samples[0].timestamp_ms);
  EXPECT_EQ(samples[1].name, "plain_metric");
  EXPECT_EQ(samples[1].labels, "");
  EXPECT_EQ(samples[1].value, 42.0);
  EXPECT_EQ(samples[2].value, 1.5);
  ASSERT_TRUE(samples[2].timestamp_ms);
  EXPECT_EQ(*samples[2].timestamp_ms, 1712345678901);
}

TEST(PromTextReaderTest, ParsesSpecialAndExponentValues) {
  const auto samples = read_all("a NaN\nb +Inf\nc -Inf\nd 1e3\ne -2.5E-3\nf 0\ng inf\nh 7 -5\ni +3.25\nj 1e999\n");
  ASSERT_EQ(samples.size(), 10u);
  EXPECT_TRUE(std::isnan(samples[0].value));
  EXPECT_EQ(samples[1].value, std::numeric_limits<double>::infinity());
  EXPECT_EQ(samples[2].value, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(samples[3].value, 1000.0);
  EXPECT_DOUBLE_EQ(samples[4].value, -0.0025);
  EXPECT_EQ(samples[5].value, 0.0);
  EXPECT_EQ(samples[6].value, std::numeric_limits<double>::infinity());
  EXPECT_EQ(samples[7].value, 7.0);
  EXPECT_EQ(*samples[7].timestamp_ms, -5);
  EXPECT_EQ(samples[8].value, 3.25);
  EXPECT_EQ(samples[9].value, std::numeric_limits<double>::infinity());  // Go saturates too
}

TEST(PromTextReaderTest, LabelValuesWithEscapesKeepTheirBraceAndCommaCharacters) {
  const std::string_view page = R"(m{path="C:\\dir",quote="say \"hi\", {ok}",nl="a\nb",} 1)"
                                "\n";
  const auto samples = read_all(page);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].value, 1.0);
  PromLabelCursor cursor(samples[0].labels);
  std::string_view name, raw;
  std::string unescaped;
  ASSERT_TRUE(cursor.next(name, raw));
  EXPECT_EQ(name, "path");
  unescape_label_value(raw, unescaped);
  EXPECT_EQ(unescaped, "C:\\dir");
  ASSERT_TRUE(cursor.next(name, raw));
  EXPECT_EQ(name, "quote");
  unescape_label_value(raw, unescaped);
  EXPECT_EQ(unescaped, "say \"hi\", {ok}");
  ASSERT_TRUE(cursor.next(name, raw));
  EXPECT_EQ(name, "nl");
  unescape_label_value(raw, unescaped);
  EXPECT_EQ(unescaped, "a\nb");
  EXPECT_FALSE(cursor.next(name, raw));
  EXPECT_EQ(find_label(samples[0].labels, "nl"), std::optional<std::string_view>("a\\nb"));
  EXPECT_FALSE(find_label(samples[0].labels, "missing"));
}

TEST(PromTextReaderTest, ToleratesBlanksAroundTokensAndCrlf) {
  const auto samples = read_all("m { a = \"1\" , b=\"2\" }\t 5 \r\nn 6\r\n\r\n");
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].value, 5.0);
  EXPECT_EQ(find_label(samples[0].labels, "b"), std::optional<std::string_view>("2"));
  EXPECT_EQ(samples[1].name, "n");
  EXPECT_EQ(samples[1].value, 6.0);
}

TEST(PromTextReaderTest, EmptyLabelSetAndLastLineWithoutNewline) {
  const auto samples = read_all("a{} 1\nb 2");
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].labels, "");
  EXPECT_EQ(samples[1].value, 2.0);
}

TEST(PromTextReaderTest, MalformedLinesAreSkippedAndCountedNotFatal) {
  const std::string_view page =
      "good_1 1\n"
      "no_value\n"
      "bad_value abc\n"
      "unterminated{a=\"x} 1\n"
      "missing_quote{a=x} 1\n"
      "3starts_with_digit 1\n"
      "name.with.dots 1\n"
      "{\"utf8.name\"} 1\n"
      "trailing 1 2 3\n"
      "float_ts 1 1.5\n"
      "nan_payload nan(123)\n"
      "double_sign +-1\n"
      "no_close{a=\"1\" 2\n"
      "\x01\x02 binary\n"
      "good_2{x=\"y\"} 2\n";
  std::size_t malformed = 0;
  const auto samples = read_all(page, &malformed);
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].name, "good_1");
  EXPECT_EQ(samples[1].name, "good_2");
  EXPECT_EQ(malformed, 13u);
}

TEST(PromTextReaderTest, IgnoresAnOpenMetricsExemplar) {
  const auto samples = read_all("h_bucket{le=\"0.5\"} 3 # {trace_id=\"abc\"} 0.4\n");
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].value, 3.0);
}

TEST(PromTextReaderTest, FilterSkipsRejectedNamesWithoutCountingThem) {
  PromTextReader reader("skip_me{broken 1\nkeep 1\nskip_me 2\nkeep{a=\"b\"} 3\n");
  PromSample s;
  std::vector<double> values;
  while (reader.next(s, [](std::string_view name) { return name == "keep"; })) values.push_back(s.value);
  EXPECT_EQ(values, (std::vector<double>{1, 3}));
  EXPECT_EQ(reader.malformed_lines(), 0u);  // the broken line was never read past its name
}

TEST(PromTextReaderTest, EmptyAndCommentOnlyInput) {
  EXPECT_TRUE(read_all("").empty());
  EXPECT_TRUE(read_all("\n\n# EOF\n").empty());
}

TEST(PromValueTest, RejectsWhatGoRejects) {
  EXPECT_FALSE(parse_prom_value(""));
  EXPECT_FALSE(parse_prom_value("+"));
  EXPECT_FALSE(parse_prom_value("1.0x"));
  EXPECT_FALSE(parse_prom_value("0x10"));
  EXPECT_FALSE(parse_prom_value("++1"));
  EXPECT_TRUE(parse_prom_value("-0"));
  EXPECT_EQ(*parse_prom_value("1e-999"), 0.0);
  EXPECT_TRUE(std::isnan(*parse_prom_value("NaN")));
  EXPECT_TRUE(std::isnan(*parse_prom_value("nan")));
}

}  // namespace
}  // namespace kvroute::upstream
