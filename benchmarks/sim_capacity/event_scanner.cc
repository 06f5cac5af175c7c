#include "event_scanner.h"

#include <cstring>

namespace kvroute::bench {

std::span<char> EventScanner::prepare(std::size_t min_bytes) {
  if (buf_.size() - size_ < min_bytes) buf_.resize(size_ + min_bytes);
  return {buf_.data() + size_, buf_.size() - size_};
}

namespace {

// True if json holds `"<key>":` followed (after optional spaces) by a non-empty string.
bool has_nonempty_string(std::string_view json, std::string_view quoted_key) {
  for (std::size_t at = json.find(quoted_key); at != std::string_view::npos;
       at = json.find(quoted_key, at + 1)) {
    std::size_t i = at + quoted_key.size();
    while (i < json.size() && json[i] == ' ') ++i;
    if (i >= json.size() || json[i] != ':') continue;
    ++i;
    while (i < json.size() && json[i] == ' ') ++i;
    if (i + 1 < json.size() && json[i] == '"' && json[i + 1] != '"') return true;
  }
  return false;
}

}  // namespace

void EventScanner::classify(std::string_view event, ScanResult& out) {
  ++out.events;
  // vLLM sends exactly one "data: " line per event; tolerate a CR and a missing space.
  std::string_view data = event;
  if (data.starts_with("data:")) data.remove_prefix(5);
  if (data.starts_with(' ')) data.remove_prefix(1);
  if (data.starts_with("[DONE]")) {
    out.done = true;
    return;
  }
  if (data.starts_with("{\"error\"") || data.find("\"object\":\"error\"") != std::string_view::npos) {
    out.error = true;
    return;
  }
  if (has_nonempty_string(data, "\"content\"") || has_nonempty_string(data, "\"text\"")) ++out.tokens;
}

ScanResult EventScanner::scan() {
  ScanResult result;
  const char* base = buf_.data();
  std::size_t start = 0;        // first byte of the event being looked at
  std::size_t from = searched_;  // where to look for the next '\n'
  // An event ends at "\n\n" or "\r\n\r\n"; a '\n' in the last byte or two may be half of a
  // terminator whose rest is still on the wire, so the search resumes there next time.
  for (;;) {
    const void* hit = from < size_ ? std::memchr(base + from, '\n', size_ - from) : nullptr;
    if (hit == nullptr) {
      from = size_;
      break;
    }
    const std::size_t nl = static_cast<std::size_t>(static_cast<const char*>(hit) - base);
    std::size_t end = 0;
    if (nl + 1 < size_ && base[nl + 1] == '\n') {
      end = nl + 2;
    } else if (nl + 2 < size_ && base[nl + 1] == '\r' && base[nl + 2] == '\n') {
      end = nl + 3;
    } else if (nl + 1 >= size_ || (nl + 2 >= size_ && base[nl + 1] == '\r')) {
      from = nl;
      break;
    } else {
      from = nl + 1;  // a line break inside a multi-line event
      continue;
    }
    std::string_view event(base + start, nl - start);
    if (!event.empty() && event.back() == '\r') event.remove_suffix(1);
    if (!event.empty()) classify(event, result);
    start = end;
    from = end;
  }
  if (start > 0) {
    std::memmove(buf_.data(), base + start, size_ - start);
    size_ -= start;
    from -= start;
  }
  searched_ = from;
  return result;
}

}  // namespace kvroute::bench
