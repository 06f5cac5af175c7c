#pragma once
// Server-sent events as vLLM frames them: every event is exactly "data: <payload>\n\n" and a
// stream ends with "data: [DONE]\n\n". The writer side is for kvroute-sim; the incremental
// parser is for anything relaying or consuming a stream (gateway, load generator, tests).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kvroute::openai {

inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

/// Appends one "data: <payload>\n\n" event.
void append_sse_event(std::string& out, std::string_view payload);

/// Incremental SSE splitter: feed bytes as they arrive, take complete events out. Accepts "\n\n",
/// "\r\n\r\n" and mixed line ends; multi-line data fields are joined with "\n"; comment lines
/// (":" ...) and fields other than data are skipped. One space after "data:" is dropped, as the
/// SSE spec says. An event with no data field yields nothing; one with an empty data field
/// ("data:") yields an empty string. Events may be split across feeds at any byte.
/// Not thread-safe (one per stream).
class SseParser {
 public:
  void feed(std::string_view bytes);
  /// Next complete event's data (valid until the next call to feed/next), or nullopt.
  std::optional<std::string_view> next();
  /// Bytes buffered that do not yet form a complete event.
  std::size_t pending_bytes() const;

 private:
  void take_line(std::string_view line);

  std::string buf_;              ///< bytes fed and not yet consumed as lines (from pos_)
  std::size_t pos_ = 0;          ///< start of the first unconsumed line in buf_
  std::size_t scanned_ = 0;      ///< bytes from pos_ already known to hold no line end
  std::size_t event_bytes_ = 0;  ///< bytes of consumed lines of the event being assembled
  std::string data_;             ///< data of the event being assembled (or just returned)
  bool has_data_ = false;        ///< the event being assembled has a data field
  bool returned_ = false;        ///< data_ was handed out by next(); clear it on the next call
};

/// Token usage, as found in a response body or in the usage chunk of a stream.
struct Usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t total_tokens = 0;
  std::optional<std::int64_t> cached_tokens;  ///< usage.prompt_tokens_details.cached_tokens
};

/// Reads the top-level "usage" from a response body or stream chunk; nullopt when absent or null,
/// or when json is not an object. When usage is followed only by scalar members of the root object
/// (as OpenAI-compatible servers write it) only the usage object is parsed; otherwise the whole
/// document is. Missing counters read as 0
/// (total_tokens as prompt + completion). Any thread (uses a thread-local parser and buffer).
std::optional<Usage> parse_usage(std::string_view json);

}  // namespace kvroute::openai
