#include "proxy/sse_tracker.h"

#include <cstring>

namespace kvroute::proxy {
namespace {

/// The value of an event's first "data:" line (one leading space dropped, a trailing '\r' too).
/// Events from vLLM and kvroute-sim have exactly one data line.
std::string_view data_of(std::string_view event) {
  while (!event.empty()) {
    const void* nl = std::memchr(event.data(), '\n', event.size());
    const std::size_t end =
        nl == nullptr ? event.size() : static_cast<std::size_t>(static_cast<const char*>(nl) - event.data());
    std::string_view line = event.substr(0, end);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.starts_with("data:")) {
      line.remove_prefix(5);
      if (line.starts_with(' ')) line.remove_prefix(1);
      return line;
    }
    if (nl == nullptr) break;
    event.remove_prefix(end + 1);
  }
  return {};
}

/// Whether a piece of a line holds something besides a line-end '\r'.
bool has_content(std::string_view piece) { return !piece.empty() && !(piece.size() == 1 && piece[0] == '\r'); }

}  // namespace

void SseTracker::reset() {
  current_.clear();
  last_data_.clear();
  has_last_data_ = false;
  current_overflow_ = false;
  line_has_content_ = false;
  event_started_ = false;
  events_ = 0;
  data_events_ = 0;
  done_seen_ = false;
}

void SseTracker::keep(std::string_view bytes) {
  if (bytes.empty() || current_overflow_) return;
  if (current_.size() + bytes.size() > kMaxKeptEvent) {
    current_overflow_ = true;
    return;
  }
  current_.append(bytes);
}

void SseTracker::finish_event() {
  ++events_;
  if (current_overflow_) {
    ++data_events_;
  } else {
    const std::string_view data = data_of(current_);
    if (data == "[DONE]") {
      done_seen_ = true;
    } else if (!data.empty()) {
      ++data_events_;
      current_.swap(last_data_);
      has_last_data_ = true;
    }
  }
  current_.clear();
  current_overflow_ = false;
  event_started_ = false;
}

std::size_t SseTracker::feed(std::string_view bytes) {
  const std::uint64_t before = events_;
  std::size_t start = 0;  // first byte of `bytes` that belongs to the event being assembled
  std::size_t pos = 0;
  for (;;) {
    const void* nl = std::memchr(bytes.data() + pos, '\n', bytes.size() - pos);
    if (nl == nullptr) {
      if (has_content(bytes.substr(pos))) line_has_content_ = true;
      break;
    }
    const auto end = static_cast<std::size_t>(static_cast<const char*>(nl) - bytes.data());
    if (has_content(bytes.substr(pos, end - pos))) line_has_content_ = true;
    if (line_has_content_) {
      event_started_ = true;
    } else if (event_started_) {  // a blank line ends the event
      keep(bytes.substr(start, end + 1 - start));
      finish_event();
      start = end + 1;
    } else {
      start = end + 1;  // a blank line between events belongs to none
    }
    line_has_content_ = false;
    pos = end + 1;
  }
  keep(bytes.substr(start));
  return static_cast<std::size_t>(events_ - before);
}

std::optional<std::string_view> SseTracker::usage_payload() const {
  if (!has_last_data_) return std::nullopt;
  return data_of(last_data_);
}

}  // namespace kvroute::proxy
