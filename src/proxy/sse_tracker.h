#pragma once
// Watches an SSE body as the relay forwards it, without holding it back: counts complete events (for
// time to first token and the gaps between tokens), notices the [DONE] terminator, and keeps the
// payload of the latest event that carries "usage" so it can be parsed once at the end
// (openai::parse_usage). The relay forwards the bytes themselves; this only reads them.
//
// An event ends at a blank line ("\n\n", "\r\n\r\n", or mixed line ends, as SSE allows), and may be
// split across reads at any byte. Cost: one scan of the bytes and a copy of each event's bytes
// (a few hundred bytes) into a reused buffer. Not thread-safe: one per stream (reset() between).

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
  /// The JSON payload of the latest event mentioning "usage", if any.
  std::optional<std::string_view> usage_payload() const;

  /// Events longer than this are counted but not kept (a usage chunk is ~300 bytes).
  static constexpr std::size_t kMaxKeptEvent = 64 * 1024;

 private:
  void finish_event();

  std::string current_;  ///< bytes of the event being assembled (up to kMaxKeptEvent)
  std::string usage_;    ///< payload of the latest usage event
  bool has_usage_ = false;
  bool current_overflow_ = false;
  bool line_empty_ = true;      ///< no byte yet on the current line
  bool event_started_ = false;  ///< the current event has a non-empty line
  bool after_cr_ = false;       ///< last byte was '\r' (a following '\n' belongs to the same line end)
  std::uint64_t events_ = 0;
  std::uint64_t data_events_ = 0;
  bool done_seen_ = false;
};

}  // namespace kvroute::proxy
