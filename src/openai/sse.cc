#include "openai/sse.h"

#include <simdjson.h>

namespace kvroute::openai {

namespace od = simdjson::ondemand;

void append_sse_event(std::string& out, std::string_view payload) {
  out.reserve(out.size() + payload.size() + 8);
  out += "data: ";
  out += payload;
  out += "\n\n";
}

void SseParser::feed(std::string_view bytes) {
  // Drop consumed lines before growing. Nothing handed out points into buf_ (events are
  // assembled in data_), so compaction is always safe; doing it only once half the buffer is
  // consumed keeps the memmove cost linear overall.
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

std::optional<std::string_view> SseParser::next() {
  if (returned_) {
    data_.clear();
    has_data_ = false;
    returned_ = false;
  }
  while (true) {
    const std::size_t avail = buf_.size() - pos_;
    std::size_t i = scanned_;
    const char* p = buf_.data() + pos_;
    while (i < avail && p[i] != '\n' && p[i] != '\r') ++i;
    if (i == avail) {
      scanned_ = i;
      return std::nullopt;
    }
    std::size_t terminator = 1;
    if (p[i] == '\r') {
      // "\r\n" is one line end; a lone '\r' at the very end may be the first half of one.
      if (i + 1 == avail) {
        scanned_ = i;
        return std::nullopt;
      }
      if (p[i + 1] == '\n') terminator = 2;
    }
    const std::string_view line(p, i);
    pos_ += i + terminator;
    scanned_ = 0;
    event_bytes_ += i + terminator;
    if (!line.empty()) {
      take_line(line);
      continue;
    }
    event_bytes_ = 0;
    if (has_data_) {
      returned_ = true;
      return std::string_view(data_);
    }
  }
}

void SseParser::take_line(std::string_view line) {
  if (line.front() == ':') return;  // comment
  const std::size_t colon = line.find(':');
  const std::string_view field = line.substr(0, colon);
  if (field != "data") return;  // event:, id:, retry: and unknown fields
  std::string_view value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (has_data_) data_ += '\n';
  data_.append(value);
  has_data_ = true;
}

std::size_t SseParser::pending_bytes() const { return event_bytes_ + (buf_.size() - pos_); }

namespace {

/// Integer or 0 (null, wrong type): usage figures are advisory, never a reason to fail.
std::int64_t int_or_zero(od::value v) {
  std::int64_t n = 0;
  if (v.get_int64().get(n) != simdjson::SUCCESS) return 0;
  return n;
}

std::optional<Usage> read_usage(od::value v) {
  od::object obj;
  if (v.get_object().get(obj) != simdjson::SUCCESS) return std::nullopt;  // null or not an object
  Usage usage;
  bool has_total = false;
  for (auto field_result : obj) {
    od::field field;
    if (std::move(field_result).get(field) != simdjson::SUCCESS) return std::nullopt;
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) return std::nullopt;
    if (key == "prompt_tokens") {
      usage.prompt_tokens = int_or_zero(field.value());
    } else if (key == "completion_tokens") {
      usage.completion_tokens = int_or_zero(field.value());
    } else if (key == "total_tokens") {
      usage.total_tokens = int_or_zero(field.value());
      has_total = true;
    } else if (key == "prompt_tokens_details") {
      od::object details;
      if (field.value().get_object().get(details) != simdjson::SUCCESS) continue;  // null
      for (auto detail_result : details) {
        od::field detail;
        if (std::move(detail_result).get(detail) != simdjson::SUCCESS) return std::nullopt;
        std::string_view detail_key;
        if (detail.unescaped_key().get(detail_key) != simdjson::SUCCESS) return std::nullopt;
        if (detail_key == "cached_tokens") {
          std::int64_t n = 0;
          if (detail.value().get_int64().get(n) == simdjson::SUCCESS) usage.cached_tokens = n;
        }
      }
    }
  }
  if (!has_total) usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  return usage;
}

}  // namespace

std::optional<Usage> parse_usage(std::string_view json) {
  // Most stream chunks carry no usage: skip them without parsing.
  if (json.find("\"usage\"") == std::string_view::npos) return std::nullopt;
  thread_local od::parser parser;
  thread_local std::string padded;
  padded.assign(json);
  padded.resize(json.size() + simdjson::SIMDJSON_PADDING, '\0');
  od::document doc;
  if (parser.iterate(padded.data(), json.size(), padded.size()).get(doc) != simdjson::SUCCESS) return std::nullopt;
  od::object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS) return std::nullopt;
  for (auto field_result : root) {
    od::field field;
    if (std::move(field_result).get(field) != simdjson::SUCCESS) return std::nullopt;
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) return std::nullopt;
    if (key == "usage") return read_usage(field.value());
  }
  return std::nullopt;
}

}  // namespace kvroute::openai
