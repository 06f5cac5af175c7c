#include "proxy/sse_tracker.h"

#include <cstring>

namespace kvroute::proxy {
namespace {

/// The data payload of an event's text: the value of its first "data:" line (one leading space
/// dropped). Events from vLLM and kvroute-sim have exactly one data line.
std::string_view data_of(std::string_view event) {
  while (!event.empty()) {
    const auto eol = event.find_first_of("\r\n");
    std::string_view line = event.substr(0, eol);
    if (line.starts_with("data:")) {
      line.remove_prefix(5);
      if (line.starts_with(' ')) line.remove_prefix(1);
      return line;
    }
    if (eol == std::string_view::npos) break;
    event.remove_prefix(eol + 1);
  }
  return {};
}

}  // namespace

void SseTracker::reset() {
  current_.clear();
  usage_.clear();
  has_usage_ = false;
  current_overflow_ = false;
  line_empty_ = true;
  event_started_ = false;
  after_cr_ = false;
  events_ = 0;
  data_events_ = 0;
  done_seen_ = false;
}

void SseTracker::finish_event() {
  ++events_;
  if (!current_overflow_) {
    const std::string_view data = data_of(current_);
    if (data == "[DONE]") {
      done_seen_ = true;
    } else {
      if (!data.empty()) ++data_events_;
      if (data.find("\"usage\"") != std::string_view::npos) {
        usage_.assign(data);
        has_usage_ = true;
      }
    }
  } else {
    ++data_events_;
  }
  current_.clear();
  current_overflow_ = false;
  event_started_ = false;
}

std::size_t SseTracker::feed(std::string_view bytes) {
  const std::uint64_t before = events_;
  std::size_t run_start = 0;  // bytes are copied into current_ in runs, not one by one
  auto flush_run = [&](std::size_t end) {
    if (end > run_start && !current_overflow_) {
      if (current_.size() + (end - run_start) > kMaxKeptEvent) {
        current_overflow_ = true;
      } else {
        current_.append(bytes.data() + run_start, end - run_start);
      }
    }
    run_start = end;
  };
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (c == '\n' || c == '\r') {
      if (c == '\n' && after_cr_) {  // the '\n' of a "\r\n" pair: same line end
        after_cr_ = false;
        continue;
      }
      after_cr_ = (c == '\r');
      if (line_empty_) {
        if (event_started_) {
          flush_run(i);
          finish_event();
          run_start = i + 1;
        }
      } else {
        line_empty_ = true;
      }
      continue;
    }
    after_cr_ = false;
    line_empty_ = false;
    event_started_ = true;
  }
  flush_run(bytes.size());
  if (!event_started_) current_.clear();  // only line ends since the last event
  return static_cast<std::size_t>(events_ - before);
}

std::optional<std::string_view> SseTracker::usage_payload() const {
  if (!has_usage_) return std::nullopt;
  return std::string_view(usage_);
}

}  // namespace kvroute::proxy
