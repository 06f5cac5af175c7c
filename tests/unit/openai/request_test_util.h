#pragma once
// Helpers for the request parser tests: parse a body both ways (copied, and in place with
// hostile padding bytes) and compare owned snapshots of the results.

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "openai/request_view.h"

namespace kvroute::openai::testing {

class StringSink : public PromptSink {
 public:
  void append(std::string_view piece) override {
    text.append(piece);
    ++pieces;
  }
  std::string text;
  int pieces = 0;
};

/// Owned copy of a parse outcome, comparable across parsers.
struct Snapshot {
  bool ok = false;
  int code = 0;
  std::string message;
  std::string model;
  bool stream = false;
  bool include_usage = false;
  bool continuous_usage_stats = false;
  std::optional<std::int64_t> max_tokens;
  std::string user;
  bool ignore_eos = false;
  std::optional<std::int64_t> min_tokens;
  std::optional<std::int64_t> sim_output_tokens;
  std::size_t prompt_bytes = 0;
  bool has_prompt = false;
  std::size_t model_value_offset = 0;
  std::size_t model_value_length = 0;
  std::string prompt;  ///< what the sink received

  bool operator==(const Snapshot&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const Snapshot& s) {
  if (!s.ok) return os << "error " << s.code << ": " << s.message;
  return os << "ok model=" << s.model << " prompt_bytes=" << s.prompt_bytes << " prompt=" << s.prompt;
}

inline Snapshot snapshot(const Result<RequestFields>& r, const StringSink& sink) {
  Snapshot s;
  s.ok = r.ok();
  if (!r.ok()) {
    s.code = r.error().code;
    s.message = r.error().message;
    return s;
  }
  const RequestFields& f = r.value();
  s.model = std::string(f.model);
  s.stream = f.stream;
  s.include_usage = f.include_usage;
  s.continuous_usage_stats = f.continuous_usage_stats;
  s.max_tokens = f.max_tokens;
  s.user = std::string(f.user);
  s.ignore_eos = f.ignore_eos;
  s.min_tokens = f.min_tokens;
  s.sim_output_tokens = f.sim_output_tokens;
  s.prompt_bytes = f.prompt_bytes;
  s.has_prompt = f.has_prompt;
  s.model_value_offset = f.model_value_offset;
  s.model_value_length = f.model_value_length;
  s.prompt = sink.text;
  return s;
}

inline Snapshot parse_in_place(Endpoint endpoint, std::string_view body, char pad_first, char pad_rest) {
  std::string padded(body);
  padded.append(required_padding(), pad_rest);
  padded[body.size()] = pad_first;
  RequestParser parser;
  StringSink sink;
  return snapshot(parser.parse(endpoint, std::string_view(padded.data(), body.size()), padded.size(), &sink), sink);
}

/// Parses body three ways and checks they agree; returns the copied parse.
///  - copied (no spare capacity): the parser pads a private copy with zeros;
///  - in place with zero padding: must match the copy exactly, message included;
///  - in place with hostile padding ('}' then '"'): simdjson runs an extra bracket-balance check
///    when the first padding byte is '}', so a malformed body may fail with a different JSON
///    message; the outcome (value or 400) and every value read must still be the same.
inline Snapshot parse_both(Endpoint endpoint, std::string_view body) {
  RequestParser copied_parser;
  StringSink copied_sink;
  const Snapshot copied = snapshot(copied_parser.parse(endpoint, body, body.size(), &copied_sink), copied_sink);
  EXPECT_EQ(copied, parse_in_place(endpoint, body, '\0', '\0')) << "body: " << body;
  const Snapshot hostile = parse_in_place(endpoint, body, '}', '"');
  EXPECT_EQ(copied.ok, hostile.ok) << "body: " << body << "\n copied: " << copied << "\n hostile: " << hostile;
  EXPECT_EQ(copied.code, hostile.code) << "body: " << body;
  if (copied.ok) {
    EXPECT_EQ(copied, hostile) << "body: " << body;
    EXPECT_EQ(copied.prompt_bytes, copied.prompt.size()) << "body: " << body;
  }
  return copied;
}

}  // namespace kvroute::openai::testing
