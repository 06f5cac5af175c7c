#include "openai/sse.h"

#include <simdjson.h>

#include <cstring>

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

namespace {

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/// The value after the last `"usage":` key of `json` when that key is a member of the root object,
/// found without parsing the rest of the document. OpenAI-compatible servers write usage near the end
/// of the root object (vLLM follows it only with `"prompt_logprobs":null` and the like), so a search
/// backwards from the end stops within the last few hundred bytes. A quote delimits a key only when
/// an even number of backslashes precede it (inside a JSON string every quote is escaped), so an
/// unescaped `"usage"` followed by a colon is a key. It belongs to the root object when what follows
/// its value is only `, "key": scalar` members and one closing brace: nothing there opens or closes
/// another level. kNotFound: no usage key anywhere; kElsewhere: the last one is not provably a member
/// of the root (the caller parses the whole document).
enum class UsageScan : std::uint8_t { kFound, kNotFound, kElsewhere };

/// Skips white space from i.
std::size_t skip_space(std::string_view s, std::size_t i) {
  while (i < s.size() && is_json_space(s[i])) ++i;
  return i;
}

/// The end of the string starting at the quote s[i], or npos when unterminated.
std::size_t string_end(std::string_view s, std::size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

/// The end of a scalar (string, number, true, false, null) starting at s[i]; npos if s[i] opens an
/// object or array or the scalar is unterminated.
std::size_t scalar_end(std::string_view s, std::size_t i) {
  if (i >= s.size() || s[i] == '{' || s[i] == '[') return std::string_view::npos;
  if (s[i] == '"') return string_end(s, i);
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_json_space(s[i])) ++i;
  return i;
}

/// Whether s[i..] is `(, "key" : scalar)* }` and white space to the end.
bool is_root_tail(std::string_view s, std::size_t i) {
  for (;;) {
    i = skip_space(s, i);
    if (i >= s.size()) return false;
    if (s[i] == '}') return skip_space(s, i + 1) == s.size();
    if (s[i] != ',') return false;
    i = skip_space(s, i + 1);
    if (i >= s.size() || s[i] != '"') return false;
    i = string_end(s, i);
    if (i == std::string_view::npos) return false;
    i = skip_space(s, i);
    if (i >= s.size() || s[i] != ':') return false;
    i = scalar_end(s, skip_space(s, i + 1));
    if (i == std::string_view::npos) return false;
  }
}

UsageScan scan_last_usage(std::string_view json, std::string_view& value) {
  static constexpr std::string_view kKey = "\"usage\"";
  if (json.size() < kKey.size()) return UsageScan::kNotFound;
  // Backwards from quote to quote (memrchr); string_view::rfind would call memcmp at every byte.
  for (std::size_t limit = json.size() - kKey.size() + 1; limit > 0;) {
    const void* q = ::memrchr(json.data(), '"', limit);
    if (q == nullptr) break;
    const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(q) - json.data());
    limit = at;
    if (json.compare(at, kKey.size(), kKey) != 0) continue;
    std::size_t backslashes = 0;
    while (backslashes < at && json[at - 1 - backslashes] == '\\') ++backslashes;
    if (backslashes % 2 != 0) continue;
    std::size_t i = skip_space(json, at + kKey.size());
    if (i >= json.size() || json[i] != ':') continue;
    i = skip_space(json, i + 1);
    // The value's extent: the object (braces outside strings), or a scalar (null).
    std::size_t after = std::string_view::npos;
    if (i < json.size() && json[i] == '{') {
      int depth = 0;
      for (std::size_t j = i; j < json.size(); ++j) {
        const char c = json[j];
        if (c == '"') {
          j = string_end(json, j);
          if (j == std::string_view::npos) break;
          --j;
        } else if (c == '{') {
          ++depth;
        } else if (c == '}' && --depth == 0) {
          after = j + 1;
          break;
        }
      }
    } else {
      after = scalar_end(json, i);
    }
    if (after == std::string_view::npos) return UsageScan::kElsewhere;
    value = json.substr(i, after - i);
    return is_root_tail(json, after) ? UsageScan::kFound : UsageScan::kElsewhere;
  }
  return UsageScan::kNotFound;
}

/// Parses `text` (a whole document) with the thread's parser; `visit` reads the root value.
template <class Visit>
std::optional<Usage> parse_padded(std::string_view text, Visit visit) {
  thread_local od::parser parser;
  thread_local std::string padded;
  padded.assign(text);
  padded.resize(text.size() + simdjson::SIMDJSON_PADDING, '\0');
  od::document doc;
  if (parser.iterate(padded.data(), text.size(), padded.size()).get(doc) != simdjson::SUCCESS) return std::nullopt;
  return visit(doc);
}

}  // namespace

std::optional<Usage> parse_usage(std::string_view json) {
  // Most stream chunks carry no usage, and in a non-streamed answer the usage comes at the end of
  // the root object: only the usage object is parsed then. Parsing the whole answer to reach it cost more than any
  // other step of a proxied request except the request's own parse.
  std::string_view value;
  switch (scan_last_usage(json, value)) {
    case UsageScan::kNotFound:
      return std::nullopt;
    case UsageScan::kFound:
      if (value.empty() || value.front() != '{') return std::nullopt;  // null
      return parse_padded(value, [](od::document& doc) -> std::optional<Usage> {
        od::value v;
        if (doc.get_value().get(v) != simdjson::SUCCESS) return std::nullopt;
        return read_usage(v);
      });
    case UsageScan::kElsewhere:
      break;
  }
  return parse_padded(json, [](od::document& doc) -> std::optional<Usage> {
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
  });
}

}  // namespace kvroute::openai
