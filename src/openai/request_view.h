#pragma once
// One parse of an OpenAI request body for the fields that routing and the simulator need.
// simdjson on-demand, a single forward pass over the top-level object; the body itself is never
// copied when it arrives with SIMDJSON_PADDING spare bytes, and never re-serialised.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "common/result.h"

namespace kvroute::openai {

enum class Endpoint : std::uint8_t { kChatCompletions, kCompletions, kEmbeddings, kOther };

/// Endpoint for a request path: exactly "/v1/chat/completions", "/v1/completions" or
/// "/v1/embeddings" (a query string is ignored); kOther for anything else. Any thread.
Endpoint endpoint_for_path(std::string_view path);

/// Receives the canonical prompt, piece by piece, during the parse (no joined copy is made).
/// Canonical form, shared by the gateway's prefix hashing and the simulator's tokenizer:
///   chat:        for each message: role, "\n", its text (string content, or the text parts of a
///                multi-part content array concatenated), "\n\n"
///                (null or absent content, and non-text parts, contribute no text)
///   completions: the prompt string; an array of strings joined with "\n"; a token-id array as
///                decimal ids separated by " "; an array of token-id arrays, each as before,
///                joined with "\n"
///   embeddings:  "input", same rules as the completion prompt
/// Strings are given unescaped (the JSON text "a\nb" arrives as a, newline, b). Pieces are
/// non-empty fragments of any size: only their concatenation is defined.
class PromptSink {
 public:
  virtual ~PromptSink() = default;
  /// Called on the parsing thread during RequestParser::parse; piece is valid only during the call.
  virtual void append(std::string_view piece) = 0;
};

/// The fields kvroute reads. string_views point into memory owned by the RequestParser that
/// produced them (simdjson's string buffer, which the next parse overwrites) and stay valid until
/// that parser's next parse() or its destruction. A JSON null reads as absent for every field.
struct RequestFields {
  std::string_view model;
  bool stream = false;
  bool include_usage = false;          ///< stream_options.include_usage
  bool continuous_usage_stats = false; ///< stream_options.continuous_usage_stats (vLLM extension)
  std::optional<std::int64_t> max_tokens;  ///< max_completion_tokens if present, else max_tokens
  std::string_view user;
  bool ignore_eos = false;                 ///< vLLM extension
  std::optional<std::int64_t> min_tokens;  ///< vLLM extension
  /// kvroute-sim extension: generate exactly this many tokens (trace replay). Field "sim_output_tokens".
  std::optional<std::int64_t> sim_output_tokens;
  std::size_t prompt_bytes = 0;            ///< length of the canonical prompt
  bool has_prompt = false;                 ///< messages / prompt / input was present
  /// Where the model's JSON string value (quotes included) sits in the body, for an in-place
  /// rewrite by an alias without re-serialising the rest.
  std::size_t model_value_offset = 0;
  std::size_t model_value_length = 0;
};

/// Reusable parser (one per thread): keeps simdjson's buffers between requests so a parse does
/// not allocate in the steady state. Not thread-safe.
class RequestParser {
 public:
  RequestParser();
  ~RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  /// Parses body. `capacity` is how many bytes are readable from body.data() (>= body.size());
  /// when capacity - size >= SIMDJSON_PADDING the body is parsed in place (the spare bytes are
  /// read, never written, and their content does not matter), else it is copied once into an
  /// internal padded buffer. The body itself is never modified. sink may be null.
  /// Errors are always Error{400, message}, the message fit for the client and naming the field:
  ///   "Invalid JSON in request body: ..." (malformed, not an object, trailing content, a
  ///     repeated messages/prompt/input key);
  ///   "Missing required parameter: 'model'." (model on the three endpoints; messages, prompt,
  ///     input on theirs; messages[i].role; a text part's type/text);
  ///   "Invalid type for 'stream': expected a boolean, but got a string instead." (and the same
  ///     for every field, nested ones named like 'messages[1].content[0].text', 'prompt[3]');
  ///   "Invalid value for 'max_tokens': expected an integer >= 1, got 0." (max_tokens,
  ///     max_completion_tokens, sim_output_tokens >= 1; min_tokens >= 0; token ids >= 0;
  ///     messages / prompt arrays non-empty; integers beyond int64).
  /// Values of fields kvroute does not read are skipped by structure only, so garbage inside
  /// them (e.g. {"tools":[tru]}) is left for the backend to report.
  /// Steady state: no allocation once the parser has seen a body of this size (errors allocate
  /// their message). Not thread-safe: one parser per thread.
  Result<RequestFields> parse(Endpoint endpoint, std::string_view body, std::size_t capacity, PromptSink* sink);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Required spare bytes after a body for in-place parsing (SIMDJSON_PADDING).
std::size_t required_padding();

}  // namespace kvroute::openai
