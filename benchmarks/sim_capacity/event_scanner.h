#pragma once
// A deliberately shallow reader of an OpenAI SSE stream for the load generator: it splits events
// on the blank line and classifies each with a couple of substring checks instead of parsing
// JSON, because the client shares the machine with the server it measures and must stay cheap.

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

namespace kvroute::bench {

/// What one scan() found among the events completed since the previous scan.
struct ScanResult {
  std::size_t tokens = 0;  ///< events whose delta.content (chat) or text (completions) is non-empty
  std::size_t events = 0;  ///< all complete events, [DONE] included
  bool done = false;       ///< saw "data: [DONE]"
  bool error = false;      ///< saw an in-stream error event
};

/// Owns a growable byte buffer: prepare() space, read into it, commit() what arrived, scan().
/// Bytes of an event that is not complete yet stay buffered for the next scan. One per stream;
/// not thread-safe.
class EventScanner {
 public:
  explicit EventScanner(std::size_t initial_capacity = 8192) : buf_(initial_capacity) {}

  /// Writable space of at least min_bytes at the end of the buffered bytes.
  std::span<char> prepare(std::size_t min_bytes);
  /// Marks n bytes of the last prepare() as filled.
  void commit(std::size_t n) { size_ += n; }
  /// Consumes every complete event and classifies it.
  ScanResult scan();
  /// Forgets buffered bytes (new response).
  void reset() { size_ = 0; searched_ = 0; }
  /// Bytes buffered that do not form a complete event yet.
  std::size_t pending() const { return size_; }

  /// Classification of one event's text (everything before its blank line), exposed for tests.
  static void classify(std::string_view event, ScanResult& out);

 private:
  std::vector<char> buf_;
  std::size_t size_ = 0;
  std::size_t searched_ = 0;  // bytes already known to hold no event end
};

}  // namespace kvroute::bench
