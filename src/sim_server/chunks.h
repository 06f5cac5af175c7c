#pragma once
// The JSON kvroute-sim answers with, byte for byte as vLLM frames it (SIMULATOR-FACTS.md section 4):
// SSE chunks of chat.completion.chunk / text_completion objects, the usage chunk with "choices":[],
// and the non-streaming response bodies. A ChunkFormatter preformats the part every chunk of a
// request shares, so a token event is a few appends into a reused string: no allocation once the
// string has grown.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/random.h"

namespace kvroute::sim_server {

enum class Api : std::uint8_t { kChat, kCompletion };

struct UsageCounts {
  std::uint32_t prompt_tokens = 0;
  std::uint32_t completion_tokens = 0;
  std::uint32_t cached_tokens = 0;
};

/// {"prompt_tokens":P,"total_tokens":T,"completion_tokens":C[,"prompt_tokens_details":{"cached_tokens":X}]}
/// (vLLM's UsageInfo field order).
void append_usage_json(std::string& out, const UsageCounts& usage, bool with_details);

/// A new response id: "chatcmpl-" or "cmpl-" and 32 hex digits drawn from random.
std::string make_response_id(Api api, Random& random);

/// Formats the SSE events of one streamed response. Owner's thread only; reset() per request.
class ChunkFormatter {
 public:
  /// Prepares the shared prefix: data: {"id":..,"object":..,"created":..,"model":..,"choices":[
  void reset(Api api, std::string_view id, std::int64_t created, std::string_view model);

  /// Chat only: the first chunk, delta {"role":"assistant","content":""}. usage: continuous
  /// usage stats to attach (nullptr: none).
  void append_role_event(std::string& out, const UsageCounts* usage) const;
  /// One token. finish_reason empty: null (and no stop_reason); else the reason, with
  /// "stop_reason":null as vLLM writes it on the last chunk.
  void append_token_event(std::string& out, std::string_view text, std::string_view finish_reason,
                          const UsageCounts* usage) const;
  /// The include_usage chunk: "choices":[] and the usage with prompt_tokens_details.
  void append_usage_event(std::string& out, const UsageCounts& usage) const;

  Api api() const { return api_; }

 private:
  Api api_ = Api::kChat;
  std::string head_;
};

/// A whole non-streaming response body (chat.completion or text_completion), text from Filler.
void append_response_body(std::string& out, Api api, std::string_view id, std::int64_t created,
                          std::string_view model, std::uint64_t text_seed, std::uint32_t completion_tokens,
                          std::string_view finish_reason, const UsageCounts& usage);

}  // namespace kvroute::sim_server
