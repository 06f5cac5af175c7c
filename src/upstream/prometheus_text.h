#pragma once
// A reader of the Prometheus text exposition format (version 0.0.4, what vLLM's and SGLang's
// prometheus_client pages are), for the metrics scraper.
//
// What it accepts, line by line (a line ends at '\n'; a '\r' before it is dropped):
//   - blank lines and comments ('#' as the first non-blank character: # HELP, # TYPE, # EOF, ...);
//   - samples: NAME [ "{" LABEL="VALUE" ("," LABEL="VALUE")* [","] "}" ] VALUE [TIMESTAMP]
//     with blanks (spaces, tabs) allowed between tokens. NAME is [a-zA-Z_:][a-zA-Z0-9_:]*, LABEL is
//     [a-zA-Z_][a-zA-Z0-9_]*; label values are double-quoted with \\, \" and \n escapes (any other
//     backslash pair is kept as written rather than refused, as exporters are not all careful).
//     VALUE is a float as Go's ParseFloat reads it: decimals, exponents, NaN, +Inf, -Inf (any case).
//     TIMESTAMP is an integer (milliseconds). An OpenMetrics exemplar ("# {...} v") after them is ignored.
// Anything else (a stray word, an unterminated quote, a value that is not a number, the UTF-8 quoted
// names of Prometheus 3) makes that one line malformed: it is skipped and counted, never fatal, so
// one odd series does not cost the figures on the rest of the page.
//
// Cost: one pass over the text with no allocation; samples are views into it. A caller that wants a
// few names (the scraper wants about ten out of hundreds of histogram lines) gives a name filter and
// pays, for every other line, the name scan and a memchr to the line end.
//
// Any thread; a reader is owned by one caller.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kvroute::upstream {

/// One sample line. Views into the text given to the reader, valid as long as it is.
struct PromSample {
  std::string_view name;
  std::string_view labels;  ///< the label list between the braces, escapes as written; "" when none
  double value = 0;
  std::optional<std::int64_t> timestamp_ms;
};

/// Walks a label list as PromSample::labels holds it. The list was checked when the line was read, so
/// every pair is well formed.
class PromLabelCursor {
 public:
  explicit PromLabelCursor(std::string_view labels) : rest_(labels) {}
  /// The next pair: the label's name and its value as written (escapes intact, no quotes); false at
  /// the end.
  bool next(std::string_view& name, std::string_view& raw_value);

 private:
  std::string_view rest_;
};

/// The raw value (escapes intact) of label `key` in a label list, or nullopt when it has none.
std::optional<std::string_view> find_label(std::string_view labels, std::string_view key);

/// Writes the unescaped form of a raw label value (\\ -> \, \" -> ", \n -> newline) to out (cleared).
void unescape_label_value(std::string_view raw, std::string& out);

/// Parses a sample value as Go's ParseFloat would for the exposition format: "1", "-2.5e-3", "NaN",
/// "+Inf", "-Inf", "inf". The whole text must be the number.
std::optional<double> parse_prom_value(std::string_view text);

class PromTextReader {
 public:
  explicit PromTextReader(std::string_view text) : text_(text) {}

  /// The next sample; false at the end of the text. Comments and blank lines are skipped, malformed
  /// lines skipped and counted.
  bool next(PromSample& out) {
    return next(out, [](std::string_view) { return true; });
  }

  /// The next sample whose metric name `want(name)` accepts. Lines it rejects are passed over
  /// without reading their labels or value (so they are never counted as malformed).
  template <class Want>
  bool next(PromSample& out, Want&& want) {
    std::string_view line;
    std::string_view name;
    while (next_line(line)) {
      std::size_t pos = 0;
      switch (start_line(line, pos, name)) {
        case LineStart::kSkip:
          continue;
        case LineStart::kMalformed:
          ++malformed_;
          continue;
        case LineStart::kName:
          break;
      }
      if (!want(name)) continue;
      if (finish_sample(line, pos, out)) {
        out.name = name;
        return true;
      }
      ++malformed_;
    }
    return false;
  }

  /// Lines skipped as malformed so far.
  std::size_t malformed_lines() const { return malformed_; }

 private:
  enum class LineStart { kName, kSkip, kMalformed };
  bool next_line(std::string_view& line);
  /// Reads up to the end of the metric name: kSkip for blank lines and comments.
  static LineStart start_line(std::string_view line, std::size_t& pos, std::string_view& name);
  /// Reads labels, value and timestamp after the name; false when the rest is malformed.
  static bool finish_sample(std::string_view line, std::size_t pos, PromSample& out);

  std::string_view text_;
  std::size_t offset_ = 0;
  std::size_t malformed_ = 0;
};

}  // namespace kvroute::upstream
