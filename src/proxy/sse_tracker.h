#pragma once
// Watches an SSE body as the relay forwards it, without holding it back: counts complete events (for
// time to first token and the gaps between tokens), notices the [DONE] terminator, and keeps the
// last data event before it, which is where vLLM puts the usage chunk, so usage can be parsed once
// at the end (openai::parse_usage). The relay forwards the bytes themselves; this only reads them.
//
// An event ends at a blank line ("\n\n" or "\r\n\r\n"; a bare "\r" line end is not recognised), and may
// be split across reads at any byte. Cost per event: a memchr per line, one copy of the event's bytes
// (a few hundred) into a reused buffer, and a buffer swap; nothing is searched inside the payload.
// Not thread-safe: one per stream (reset() between).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kvroute::proxy {

class SseTracker {
 public:
  /// Starts a new stream (keeps buffer capacity).
  void reset();

  /// Feeds body bytes in arrival order; returns how many events they completed.
  std::size_t feed(std::string_view bytes);

  /// Complete events so far (including [DONE]).
  std::uint64_t events() const { return events_; }
  /// Complete events that carried data other than [DONE] (content, role and usage chunks).
  std::uint64_t data_events() const { return data_events_; }
  /// The stream's terminator has been seen.
  bool done_seen() const { return done_seen_; }
  /// The payload of the last data event other than [DONE] (vLLM's usage chunk when the client asked
  /// for usage; parse_usage tells), or nullopt when there was none.
  std::optional<std::string_view> usage_payload() const;

  /// Events longer than this are counted but not kept (a usage chunk is ~300 bytes).
  static constexpr std::size_t kMaxKeptEvent = 64 * 1024;

 private:
  void finish_event();
  void keep(std::string_view bytes);

  std::string current_;    ///< bytes of the event being assembled (up to kMaxKeptEvent)
  std::string last_data_;  ///< bytes of the last complete data event (swapped in, not copied)
  bool has_last_data_ = false;
  bool current_overflow_ = false;
  bool line_has_content_ = false;  ///< the current line has a byte other than its line end
  bool event_started_ = false;     ///< the current event has a non-empty line
  std::uint64_t events_ = 0;
  std::uint64_t data_events_ = 0;
  bool done_seen_ = false;
};

}  // namespace kvroute::proxy
