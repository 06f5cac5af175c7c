#include "upstream/prometheus_text.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace kvroute::upstream {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_alpha_(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return is_alpha_(c) || c == ':'; }
bool is_name_char(char c) { return is_alpha_(c) || is_digit(c) || c == ':'; }
bool is_label_char(char c) { return is_alpha_(c) || is_digit(c); }

void skip_blanks(std::string_view s, std::size_t& pos) {
  while (pos < s.size() && is_blank(s[pos])) ++pos;
}

// The end of a blank-delimited token starting at pos.
std::size_t token_end(std::string_view s, std::size_t pos) {
  while (pos < s.size() && !is_blank(s[pos])) ++pos;
  return pos;
}

bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

// Reads a label list from just after '{' to just after its '}'. Label values: a backslash always
// escapes the next character (so \" never ends the value).
bool read_labels(std::string_view line, std::size_t& pos) {
  for (;;) {
    skip_blanks(line, pos);
    if (pos >= line.size()) return false;
    if (line[pos] == '}') {
      ++pos;
      return true;
    }
    if (!is_alpha_(line[pos])) return false;
    while (pos < line.size() && is_label_char(line[pos])) ++pos;
    skip_blanks(line, pos);
    if (pos >= line.size() || line[pos] != '=') return false;
    ++pos;
    skip_blanks(line, pos);
    if (pos >= line.size() || line[pos] != '"') return false;
    ++pos;
    for (;;) {
      if (pos >= line.size()) return false;  // unterminated value
      const char c = line[pos++];
      if (c == '"') break;
      if (c == '\\') {
        if (pos >= line.size()) return false;
        ++pos;
      }
    }
    skip_blanks(line, pos);
    if (pos >= line.size()) return false;
    if (line[pos] == ',') {
      ++pos;
    } else if (line[pos] != '}') {
      return false;
    }
  }
}

}  // namespace

bool PromLabelCursor::next(std::string_view& name, std::string_view& raw_value) {
  std::size_t pos = 0;
  skip_blanks(rest_, pos);
  if (pos >= rest_.size()) return false;
  const std::size_t name_start = pos;
  while (pos < rest_.size() && is_label_char(rest_[pos])) ++pos;
  name = rest_.substr(name_start, pos - name_start);
  while (pos < rest_.size() && rest_[pos] != '"') ++pos;  // blanks, '=', blanks
  if (pos >= rest_.size()) {                              // not a checked list: stop rather than read past it
    rest_ = {};
    return false;
  }
  const std::size_t value_start = ++pos;
  while (pos < rest_.size() && rest_[pos] != '"') pos += rest_[pos] == '\\' ? 2 : 1;
  if (pos > rest_.size()) pos = rest_.size();
  raw_value = rest_.substr(value_start, pos - value_start);
  ++pos;  // closing quote
  skip_blanks(rest_, pos);
  if (pos < rest_.size() && rest_[pos] == ',') ++pos;
  rest_ = pos < rest_.size() ? rest_.substr(pos) : std::string_view{};
  return !name.empty();
}

std::optional<std::string_view> find_label(std::string_view labels, std::string_view key) {
  PromLabelCursor cursor(labels);
  std::string_view name, value;
  while (cursor.next(name, value)) {
    if (name == key) return value;
  }
  return std::nullopt;
}

void unescape_label_value(std::string_view raw, std::string& out) {
  out.clear();
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 == raw.size()) {
      out += raw[i];
      continue;
    }
    const char e = raw[++i];
    if (e == 'n') {
      out += '\n';
    } else if (e == '\\' || e == '"') {
      out += e;
    } else {
      out += '\\';  // not an escape the format defines: kept as written
      out += e;
    }
  }
}

std::optional<double> parse_prom_value(std::string_view text) {
  if (text.empty()) return std::nullopt;
  // from_chars reads "inf", "infinity" and "nan" in any case and a leading '-', but not '+'.
  if (text.front() == '+') {
    text.remove_prefix(1);
    if (text.empty() || text.front() == '-' || text.front() == '+') return std::nullopt;
  }
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (end != text.data() + text.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    // Go's ParseFloat saturates: huge magnitudes are +-Inf, tiny ones 0.
    const bool negative = text.front() == '-';
    std::size_t e = text.find_first_of("eE");
    const bool tiny = e != std::string_view::npos && e + 1 < text.size() && text[e + 1] == '-';
    if (tiny) return negative ? -0.0 : 0.0;
    return negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  if (ec != std::errc()) return std::nullopt;
  // from_chars accepts "nan(chars)"; Go does not, and neither do we.
  if (std::isnan(v) && !iequals_ascii(text, "nan")) return std::nullopt;
  return v;
}

bool PromTextReader::next_line(std::string_view& line) {
  if (offset_ >= text_.size()) return false;
  const char* begin = text_.data() + offset_;
  const std::size_t left = text_.size() - offset_;
  const void* nl = std::memchr(begin, '\n', left);
  std::size_t len = nl != nullptr ? static_cast<std::size_t>(static_cast<const char*>(nl) - begin) : left;
  offset_ += len + (nl != nullptr ? 1 : 0);
  if (len > 0 && begin[len - 1] == '\r') --len;  // CRLF
  line = std::string_view(begin, len);
  return true;
}

PromTextReader::LineStart PromTextReader::start_line(std::string_view line, std::size_t& pos, std::string_view& name) {
  skip_blanks(line, pos);
  if (pos >= line.size() || line[pos] == '#') return LineStart::kSkip;
  if (!is_name_start(line[pos])) return LineStart::kMalformed;
  const std::size_t start = pos;
  while (pos < line.size() && is_name_char(line[pos])) ++pos;
  name = line.substr(start, pos - start);
  return LineStart::kName;
}

bool PromTextReader::finish_sample(std::string_view line, std::size_t pos, PromSample& out) {
  // After the name: blanks, then either the label list or the value. A character that can neither
  // continue the name nor separate it (metric-name.with.dots) makes the line malformed.
  if (pos < line.size() && !is_blank(line[pos]) && line[pos] != '{') return false;
  skip_blanks(line, pos);
  out.labels = {};
  if (pos < line.size() && line[pos] == '{') {
    const std::size_t start = ++pos;
    if (!read_labels(line, pos)) return false;
    out.labels = line.substr(start, pos - 1 - start);
    skip_blanks(line, pos);
  }
  const std::size_t value_end = token_end(line, pos);
  const auto value = parse_prom_value(line.substr(pos, value_end - pos));
  if (!value) return false;
  out.value = *value;
  out.timestamp_ms.reset();
  pos = value_end;
  skip_blanks(line, pos);
  if (pos < line.size() && line[pos] != '#') {
    const std::size_t ts_end = token_end(line, pos);
    std::int64_t ts = 0;
    const auto [end, ec] = std::from_chars(line.data() + pos, line.data() + ts_end, ts);
    if (ec != std::errc() || end != line.data() + ts_end) return false;
    out.timestamp_ms = ts;
    pos = ts_end;
    skip_blanks(line, pos);
  }
  // Nothing may follow but an OpenMetrics exemplar, which starts with '#'.
  return pos >= line.size() || line[pos] == '#';
}

}  // namespace kvroute::upstream
