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
/// (":" ...) and fields other than data are skipped.
class SseParser {
 public:
  void feed(std::string_view bytes);
  /// Next complete event's data (valid until the next call to feed/next), or nullopt.
  std::optional<std::string_view> next();
  /// Bytes buffered that do not yet form a complete event.
  std::size_t pending_bytes() const;

 private:
  std::string buf_;
  std::size_t pos_ = 0;
  std::string data_;
};

/// Token usage, as found in a response body or in the usage chunk of a stream.
struct Usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t total_tokens = 0;
  std::optional<std::int64_t> cached_tokens;  ///< usage.prompt_tokens_details.cached_tokens
};

/// Reads "usage" from a response body or stream chunk; nullopt when absent or null.
std::optional<Usage> parse_usage(std::string_view json);

}  // namespace kvroute::openai
