#include "bench/trace.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <utility>

#include "openai/request_view.h"

namespace kvroute::bench {
namespace {

constexpr int kInvalidArgument = 22;
constexpr std::uint64_t kMaxTokens = std::numeric_limits<std::uint32_t>::max();
/// Model name given to the request parser when a kvroute record has none (only the canonical
/// prompt is used from that parse, so the name does not matter).
constexpr const char* kPlaceholderModel = "kvroute-bench";

using Json = nlohmann::json;

Error record_error(std::string_view source, std::size_t line, std::string_view what) {
  return Error{kInvalidArgument, fmt::format("{}:{}: {}", source, line, what)};
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

/// Calls on_line(line_number, text) for every line (without its "\n" or "\r\n"); stops early
/// when on_line returns false.
template <class OnLine>
void for_each_line(std::string_view text, OnLine&& on_line) {
  std::size_t line = 0;
  while (!text.empty()) {
    ++line;
    const std::size_t nl = text.find('\n');
    std::string_view l = text.substr(0, nl);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (!on_line(line, l)) return;
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

template <class T>
bool parse_unsigned(std::string_view s, T& out) {
  s = trim(s);
  if (s.empty()) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

/// A JSON value that must be an integer in [min, max]; the error names the field.
Result<std::uint64_t> json_uint(const Json& object, const char* field, std::uint64_t min, std::uint64_t max,
                                bool required = true) {
  const auto it = object.find(field);
  if (it == object.end() || it->is_null()) {
    if (!required) return std::uint64_t{0};
    return Error{kInvalidArgument, fmt::format("missing \"{}\"", field)};
  }
  std::uint64_t v = 0;
  if (it->is_number_unsigned()) {
    v = it->get<std::uint64_t>();
  } else if (it->is_number_integer()) {
    return Error{kInvalidArgument, fmt::format("\"{}\" must be >= {}, got {}", field, min, it->get<std::int64_t>())};
  } else if (it->is_number_float()) {
    const double d = it->get<double>();
    if (!(d >= 0) || d != std::floor(d) || d > 1.8e19) {
      return Error{kInvalidArgument, fmt::format("\"{}\" must be an integer, got {}", field, it->dump())};
    }
    v = static_cast<std::uint64_t>(d);
  } else {
    return Error{kInvalidArgument, fmt::format("\"{}\" must be an integer, got {}", field, it->dump())};
  }
  if (v < min || v > max) {
    return Error{kInvalidArgument, fmt::format("\"{}\" must be in [{}, {}], got {}", field, min, max, v)};
  }
  return v;
}

/// A JSON value that must be a finite number >= 0 (milliseconds); returned in nanoseconds.
Result<Nanos> json_millis(const Json& object, const char* field) {
  const auto it = object.find(field);
  if (it == object.end() || it->is_null()) return Error{kInvalidArgument, fmt::format("missing \"{}\"", field)};
  if (!it->is_number()) {
    return Error{kInvalidArgument, fmt::format("\"{}\" must be a number of milliseconds, got {}", field, it->dump())};
  }
  const double ms = it->get<double>();
  // 1e12 ms is about 31 years: far beyond any trace, and safely inside int64 nanoseconds.
  if (!(ms >= 0) || ms > 1e12) {
    return Error{kInvalidArgument,
                 fmt::format("\"{}\" must be a number of milliseconds >= 0, got {}", field, it->dump())};
  }
  return static_cast<Nanos>(std::llround(ms * 1e6));
}

Result<Json> parse_object(std::string_view line) {
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error{kInvalidArgument, "not valid JSON"};
  if (!j.is_object()) return Error{kInvalidArgument, "expected a JSON object"};
  return j;
}

Result<TraceRecord> parse_mooncake_record(std::string_view line) {
  auto j = parse_object(line);
  if (!j) return j.error();
  TraceRecord r;
  auto ts = json_millis(*j, "timestamp");
  if (!ts) return ts.error();
  r.arrival = *ts;
  auto in = json_uint(*j, "input_length", 1, kMaxTokens);
  if (!in) return in.error();
  r.input_tokens = static_cast<std::uint32_t>(*in);
  auto out = json_uint(*j, "output_length", 1, kMaxTokens);
  if (!out) return out.error();
  r.output_tokens = static_cast<std::uint32_t>(*out);
  const auto ids = j->find("hash_ids");
  if (ids == j->end()) return Error{kInvalidArgument, "missing \"hash_ids\""};
  if (!ids->is_array()) return Error{kInvalidArgument, "\"hash_ids\" must be an array of integers >= 0"};
  r.hash_ids.reserve(ids->size());
  for (const auto& id : *ids) {
    if (!id.is_number_unsigned()) {
      return Error{kInvalidArgument, fmt::format("\"hash_ids\" must hold integers >= 0, got {}", id.dump())};
    }
    r.hash_ids.push_back(id.get<std::uint64_t>());
  }
  return r;
}

/// Collects the canonical prompt pieces from the request parser.
class StringSink final : public openai::PromptSink {
 public:
  explicit StringSink(std::string& out) : out_(out) {}
  void append(std::string_view piece) override { out_.append(piece); }

 private:
  std::string& out_;
};

Result<TraceRecord> parse_kvroute_record(std::string_view line, openai::RequestParser& parser) {
  auto j = parse_object(line);
  if (!j) return j.error();
  TraceRecord r;
  auto ts = json_millis(*j, "timestamp_ms");
  if (!ts) return ts.error();
  r.arrival = *ts;
  auto out = json_uint(*j, "output_tokens", 1, kMaxTokens);
  if (!out) return out.error();
  r.output_tokens = static_cast<std::uint32_t>(*out);
  for (const char* field : {"model", "user"}) {
    const auto it = j->find(field);
    if (it == j->end() || it->is_null()) continue;
    if (!it->is_string()) return Error{kInvalidArgument, fmt::format("\"{}\" must be a string", field)};
    (std::string_view(field) == "model" ? r.model : r.user) = it->get<std::string>();
  }
  const bool has_prompt = j->contains("prompt") && !(*j)["prompt"].is_null();
  const bool has_messages = j->contains("messages") && !(*j)["messages"].is_null();
  if (has_prompt == has_messages) return Error{kInvalidArgument, "needs exactly one of \"prompt\" and \"messages\""};

  // The canonical prompt comes from the gateway's own request parser, so the text hashed here is
  // byte for byte what the live gateway and kvroute-sim hash for the same request.
  const char* key = has_messages ? "messages" : "prompt";
  Json body = Json::object();
  body["model"] = r.model.empty() ? kPlaceholderModel : r.model;
  body[key] = (*j)[key];
  const std::string text = body.dump();
  StringSink sink(r.prompt);
  const auto endpoint = has_messages ? openai::Endpoint::kChatCompletions : openai::Endpoint::kCompletions;
  auto fields = parser.parse(endpoint, text, text.size(), &sink);
  if (!fields) return Error{kInvalidArgument, fields.error().message};
  if (r.prompt.empty()) return Error{kInvalidArgument, "the prompt is empty"};
  const std::uint64_t tokens = (r.prompt.size() + 3) / 4;
  if (tokens > kMaxTokens) return Error{kInvalidArgument, "the prompt is too long"};
  r.input_tokens = static_cast<std::uint32_t>(tokens);
  return r;
}

bool starts_with_timestamp_header(std::string_view line) {
  line = trim(line);
  if (line.size() >= 3 && static_cast<unsigned char>(line[0]) == 0xEF && static_cast<unsigned char>(line[1]) == 0xBB &&
      static_cast<unsigned char>(line[2]) == 0xBF) {
    line.remove_prefix(3);  // UTF-8 byte-order mark
  }
  return line.substr(0, 9) == "TIMESTAMP";
}

Result<Trace> parse_azure(std::string_view text, std::string_view source, std::size_t max_records) {
  Trace trace;
  std::optional<Error> error;
  bool header_seen = false;
  Nanos origin = 0;
  for_each_line(text, [&](std::size_t line, std::string_view l) {
    if (trim(l).empty()) return true;
    if (!header_seen) {
      // The header names the three columns in this order; anything else is not this format.
      std::string_view h = trim(l);
      if (h.size() >= 3 && static_cast<unsigned char>(h[0]) == 0xEF) h.remove_prefix(3);
      std::string cols;
      for (char c : h) {
        if (c != ' ') cols.push_back(c);
      }
      if (cols != "TIMESTAMP,ContextTokens,GeneratedTokens") {
        error = record_error(source, line, "expected the header TIMESTAMP,ContextTokens,GeneratedTokens");
        return false;
      }
      header_seen = true;
      return true;
    }
    const std::size_t c1 = l.find(',');
    const std::size_t c2 = c1 == std::string_view::npos ? c1 : l.find(',', c1 + 1);
    if (c2 == std::string_view::npos || l.find(',', c2 + 1) != std::string_view::npos) {
      error = record_error(source, line, "expected 3 fields: TIMESTAMP,ContextTokens,GeneratedTokens");
      return false;
    }
    auto ts = parse_wall_clock(trim(l.substr(0, c1)));
    if (!ts) {
      error = record_error(source, line, ts.error().message);
      return false;
    }
    std::uint64_t context = 0;
    std::uint64_t generated = 0;
    if (!parse_unsigned(l.substr(c1 + 1, c2 - c1 - 1), context) || context < 1 || context > kMaxTokens) {
      error = record_error(
          source, line,
          fmt::format("ContextTokens must be an integer >= 1, got '{}'", trim(l.substr(c1 + 1, c2 - c1 - 1))));
      return false;
    }
    if (!parse_unsigned(l.substr(c2 + 1), generated) || generated < 1 || generated > kMaxTokens) {
      error = record_error(source, line,
                           fmt::format("GeneratedTokens must be an integer >= 1, got '{}'", trim(l.substr(c2 + 1))));
      return false;
    }
    if (trace.records.empty()) origin = *ts;
    TraceRecord r;
    r.arrival = *ts - origin;
    r.input_tokens = static_cast<std::uint32_t>(context);
    r.output_tokens = static_cast<std::uint32_t>(generated);
    r.line = static_cast<std::uint32_t>(line);
    trace.records.push_back(std::move(r));
    return max_records == 0 || trace.records.size() < max_records;
  });
  if (error) return *error;
  if (!header_seen) return Error{kInvalidArgument, fmt::format("{}: empty file (no CSV header)", source)};
  // Rows are in time order in the published file; if they are not, arrivals before the first row
  // would be negative, so the origin moves to the earliest row.
  Nanos earliest = 0;
  for (const auto& r : trace.records) earliest = std::min(earliest, r.arrival);
  if (earliest < 0) {
    for (auto& r : trace.records) r.arrival -= earliest;
  }
  return trace;
}

template <class ParseRecord>
Result<Trace> parse_jsonl(std::string_view text, std::string_view source, std::size_t max_records,
                          ParseRecord&& parse) {
  Trace trace;
  std::optional<Error> error;
  for_each_line(text, [&](std::size_t line, std::string_view l) {
    if (trim(l).empty()) return true;
    auto r = parse(l);
    if (!r) {
      error = record_error(source, line, r.error().message);
      return false;
    }
    r->line = static_cast<std::uint32_t>(line);
    trace.records.push_back(std::move(*r));
    return max_records == 0 || trace.records.size() < max_records;
  });
  if (error) return *error;
  return trace;
}

bool has_extension(std::string_view path, std::string_view ext) {
  return path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext;
}

}  // namespace

std::string_view trace_format_name(TraceFormat format) {
  switch (format) {
    case TraceFormat::kAuto:
      return "auto";
    case TraceFormat::kMooncake:
      return "mooncake";
    case TraceFormat::kAzure:
      return "azure";
    case TraceFormat::kKvroute:
      return "kvroute";
  }
  return "auto";
}

Result<TraceFormat> parse_trace_format(std::string_view name) {
  for (auto f : {TraceFormat::kAuto, TraceFormat::kMooncake, TraceFormat::kAzure, TraceFormat::kKvroute}) {
    if (trace_format_name(f) == name) return f;
  }
  return Error{kInvalidArgument,
               fmt::format("unknown trace format '{}' (known: auto, mooncake, azure, kvroute)", name)};
}

Result<Nanos> parse_wall_clock(std::string_view text) {
  // YYYY-MM-DD HH:MM:SS[.f{1,9}]
  const auto bad = [&] {
    return Error{kInvalidArgument, fmt::format("bad timestamp '{}' (expected YYYY-MM-DD HH:MM:SS.fffffff)", text)};
  };
  if (text.size() < 19 || text[4] != '-' || text[7] != '-' || (text[10] != ' ' && text[10] != 'T') || text[13] != ':' ||
      text[16] != ':') {
    return bad();
  }
  int year = 0;
  unsigned month = 0;
  unsigned day = 0;
  unsigned hour = 0;
  unsigned minute = 0;
  unsigned second = 0;
  if (!parse_unsigned(text.substr(0, 4), year) || !parse_unsigned(text.substr(5, 2), month) ||
      !parse_unsigned(text.substr(8, 2), day) || !parse_unsigned(text.substr(11, 2), hour) ||
      !parse_unsigned(text.substr(14, 2), minute) || !parse_unsigned(text.substr(17, 2), second)) {
    return bad();
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return bad();
  Nanos fraction = 0;
  if (text.size() > 19) {
    if (text[19] != '.' || text.size() == 20 || text.size() > 29) return bad();
    Nanos scale = 100'000'000;
    for (char c : text.substr(20)) {
      if (c < '0' || c > '9') return bad();
      fraction += (c - '0') * scale;
      scale /= 10;
    }
  }
  // Days from 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's days_from_civil).
  const int y = year - (month <= 2 ? 1 : 0);
  const int era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const std::int64_t days = static_cast<std::int64_t>(era) * 146097 + static_cast<std::int64_t>(doe) - 719468;
  const std::int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second;
  return seconds * kNanosPerSecond + fraction;
}

Result<TraceFormat> detect_trace_format(std::string_view source, std::string_view text) {
  if (has_extension(source, ".csv")) return TraceFormat::kAzure;
  std::string_view first;
  for_each_line(text, [&](std::size_t, std::string_view l) {
    if (trim(l).empty()) return true;
    first = trim(l);
    return false;
  });
  if (starts_with_timestamp_header(first)) return TraceFormat::kAzure;
  if (!first.empty() && first.front() == '{') {
    auto j = Json::parse(first, nullptr, false);
    if (j.is_object()) {
      if (j.contains("hash_ids") || j.contains("input_length")) return TraceFormat::kMooncake;
      if (j.contains("timestamp_ms") || j.contains("prompt") || j.contains("messages")) return TraceFormat::kKvroute;
    }
  }
  return Error{
      kInvalidArgument,
      fmt::format("{}: cannot tell the trace format (mooncake, azure or kvroute); name it with --format", source)};
}

Result<Trace> parse_trace(std::string_view text, std::string_view source, TraceFormat format, std::size_t max_records) {
  if (format == TraceFormat::kAuto) {
    auto detected = detect_trace_format(source, text);
    if (!detected) return detected.error();
    format = *detected;
  }
  Result<Trace> trace = Error{kInvalidArgument, "unreachable"};
  switch (format) {
    case TraceFormat::kMooncake:
      trace = parse_jsonl(text, source, max_records, parse_mooncake_record);
      break;
    case TraceFormat::kKvroute: {
      openai::RequestParser parser;
      trace = parse_jsonl(text, source, max_records,
                          [&parser](std::string_view l) { return parse_kvroute_record(l, parser); });
      break;
    }
    case TraceFormat::kAzure:
      trace = parse_azure(text, source, max_records);
      break;
    case TraceFormat::kAuto:
      break;
  }
  if (!trace) return trace;
  trace->source = std::string(source);
  trace->format = format;
  std::stable_sort(trace->records.begin(), trace->records.end(),
                   [](const TraceRecord& a, const TraceRecord& b) { return a.arrival < b.arrival; });
  return trace;
}

Result<Trace> read_trace(const std::string& path, TraceFormat format, std::size_t max_records) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{kInvalidArgument, fmt::format("{}: cannot open the trace file", path)};
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return Error{kInvalidArgument, fmt::format("{}: read error", path)};
  return parse_trace(buf.str(), path, format, max_records);
}

}  // namespace kvroute::bench
