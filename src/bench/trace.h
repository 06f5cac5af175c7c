#pragma once
// Workload traces: the three formats kvroute-bench replays, read into one record type.
//
//   mooncake  JSON Lines, one request per line (Mooncake FAST'25 release):
//             {"timestamp": ms, "input_length": tokens, "output_length": tokens, "hash_ids": [ids]}
//             hash_ids are prefix block identities of 512-token blocks (synthetic_text.h turns them
//             into text).
//   azure     CSV with the header TIMESTAMP,ContextTokens,GeneratedTokens (Azure LLM inference
//             trace 2023): wall-clock timestamps "YYYY-MM-DD HH:MM:SS.fffffff", taken relative to
//             the first row. No prefix information: every prompt is unique.
//   kvroute   JSON Lines with real prompts, one request per line:
//             {"timestamp_ms": ms, "model": "name", "prompt": ... | "messages": [...],
//              "output_tokens": n, "user": "key"}
//             "model" and "user" are optional; exactly one of "prompt" (a string, an array of
//             strings, token ids or token-id arrays, as in /v1/completions) and "messages" (as in
//             /v1/chat/completions). The prompt becomes the canonical prompt text the gateway's
//             request parser produces (openai/request_view.h PromptSink), so its features and
//             engine blocks are those the live gateway and kvroute-sim would compute.
//
// Every reader reports the first bad record as "FILE:LINE: what is wrong" (Error code 22). Records
// are returned sorted by arrival (a stable sort: equal timestamps keep file order). Cold path:
// start-up only.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/time_source.h"

namespace kvroute::bench {

enum class TraceFormat : std::uint8_t { kAuto, kMooncake, kAzure, kKvroute };

/// "mooncake", "azure", "kvroute" or "auto".
std::string_view trace_format_name(TraceFormat format);
/// The format called `name` (one of the names above); Error 22 otherwise.
Result<TraceFormat> parse_trace_format(std::string_view name);

/// One request of a trace.
struct TraceRecord {
  Nanos arrival = 0;                    ///< from the trace's time origin (unscaled)
  std::uint32_t input_tokens = 0;       ///< prompt length in tokens (>= 1)
  std::uint32_t output_tokens = 0;      ///< tokens to generate (>= 1)
  std::vector<std::uint64_t> hash_ids;  ///< mooncake: prefix block ids (512 tokens each); else empty
  std::string prompt;                   ///< kvroute: canonical prompt text; else empty (synthesised)
  std::string model;                    ///< kvroute: the record's model, if given; else empty
  std::string user;                     ///< kvroute: routing key (the OpenAI `user` field), if given
  std::uint32_t line = 0;               ///< 1-based line in the source file
};

struct Trace {
  std::string source;  ///< file name (or the name given to parse_trace)
  TraceFormat format = TraceFormat::kAuto;
  std::vector<TraceRecord> records;  ///< sorted by arrival
};

/// Which format `text` (the file's content) named `source` is in: by extension (.csv = azure), then
/// by the first non-empty line (a header starting with TIMESTAMP = azure; a JSON object with
/// "hash_ids" or "input_length" = mooncake; with "timestamp_ms", "prompt" or "messages" = kvroute).
Result<TraceFormat> detect_trace_format(std::string_view source, std::string_view text);

/// Parses a whole trace held in memory. `max_records` > 0 stops after that many records (in file
/// order; lines after them are not read, so a bad record beyond the limit is not reported).
Result<Trace> parse_trace(std::string_view text, std::string_view source, TraceFormat format,
                          std::size_t max_records = 0);

/// Reads and parses the file at `path` (see parse_trace). Errors: unreadable file, bad record.
Result<Trace> read_trace(const std::string& path, TraceFormat format = TraceFormat::kAuto, std::size_t max_records = 0);

/// Parses an Azure timestamp "YYYY-MM-DD HH:MM:SS[.fraction]" (up to 9 fractional digits) into
/// nanoseconds since 1970-01-01 (no time zone). Exposed for tests.
Result<Nanos> parse_wall_clock(std::string_view text);

}  // namespace kvroute::bench
