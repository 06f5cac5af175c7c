#pragma once
// POST /v1/embeddings as vLLM serves it for a pooling (embedding) model: the request parse, the
// simulated vector, and the response body. No I/O here; the session runs the inputs through the
// engine (each one a prompt to prefill) and calls these to read the request and write the answer.
//
// Request (OpenAI embeddings API, vLLM's EmbeddingCompletionRequest):
//   model            required string (vLLM would default to its served model; the sim, like its
//                    completions, asks for it)
//   input            a string, an array of strings, an array of token ids, or an array of arrays
//                    of token ids; each string / inner array is one input with its own vector.
//                    Empty strings and empty arrays are 400s (vLLM: "please provide at least one
//                    prompt" for an empty list), as are wrong types, all with param "input".
//   encoding_format  "float" (default) or "base64"; anything else is a 400
//   dimensions       any non-null value is a 400, as vLLM answers for a model without matryoshka
//                    support (vllm/pooling_params.py, PoolingParams.verify): 'Model "<served>" does
//                    not support matryoshka representation, changing output dimensions will lead
//                    to poor results.'
//   user             a string or null, ignored
//   anything else    ignored (vLLM logs and ignores unknown fields)
// A JSON null reads as absent for every field, as in the sim's completions parse; a repeated key
// takes its last value (Python's json, hence vLLM).
//
// Tokens: a string input goes through the sim's tokenizer (sim/tokenizer.h: 4 bytes a token, full
// 64-byte blocks hashed as for a completions prompt, so repeated inputs hit the prefix cache);
// token ids count as given and their full blocks are hashed from the ids.
//
// The vector: a pure function of the input's tokens (its text, which fixes its tokens, or its id
// list): seed = xxh3(input), component pairs from xxh3(k, seed) mapped to [-1, 1), then L2
// normalisation in float32. Same input, same vector on every run and instance; O(hidden size).
// The response writes floats as Python's json writes vLLM's tensor.tolist() (shortest repr of the
// float32 value widened to double), and base64 as vLLM does: the little-endian float32 bytes,
// standard alphabet, padded. Decoding either gives exactly the same float32 values.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/random.h"

namespace kvroute::sim_server {

enum class EmbeddingEncoding : std::uint8_t { kFloat, kBase64 };

/// One input of an embeddings request, reduced to what the engine and the vector need.
struct EmbeddingInput {
  std::uint32_t tokens = 0;                 ///< prompt tokens
  std::vector<std::uint64_t> block_hashes;  ///< identities of its full KV blocks
  std::uint64_t seed = 0;                   ///< hash of its tokens: the vector's only source
};

/// A parsed embeddings request.
struct EmbeddingsRequest {
  std::string model;
  std::vector<EmbeddingInput> inputs;  ///< never empty after a successful parse
  EmbeddingEncoding encoding = EmbeddingEncoding::kFloat;
  bool has_dimensions = false;  ///< "dimensions" was given (a 400 once the model is known)
};

/// An answer for the client: HTTP status, message and the request field it names (empty: null).
struct RequestError {
  int status = 400;
  std::string message;
  std::string param;
};

/// Parses an embeddings request body; block_size is the engine's tokens per KV block. nullopt on
/// success (out filled), else the 400 to answer. Any thread; allocates.
std::optional<RequestError> parse_embeddings_request(std::string_view body, std::uint32_t block_size,
                                                     EmbeddingsRequest& out);

/// The checks vLLM makes once the model is known: "dimensions" (no matryoshka support; served is
/// the model name in the message) and each input against max_model_len (an input may fill the
/// whole context: pooling generates nothing). nullopt when the request may run. Any thread.
std::optional<RequestError> check_embeddings_request(const EmbeddingsRequest& request, std::string_view served,
                                                     std::uint32_t max_model_len);

/// The embedding of the input with `seed`: `dim` float32 components, L2-normalised (empty when
/// dim is 0). out is resized. Any thread.
void embedding_vector(std::uint64_t seed, std::uint32_t dim, std::vector<float>& out);

/// Appends the JSON array of v, each float written as Python writes float(v[i]). Any thread.
void append_float_array(std::string& out, std::span<const float> v);

/// Appends standard base64 (RFC 4648, padded) of v's little-endian float32 bytes. Any thread.
void append_base64_floats(std::string& out, std::span<const float> v);

/// A new response id: "embd-" and 32 hex digits drawn from random (vLLM: "embd-" + uuid4 hex).
std::string make_embeddings_id(Random& random);

/// Appends the whole response body: {"id","object":"list","created","model","data":[{"index",
/// "object":"embedding","embedding"}...],"usage"}; usage as vLLM's UsageInfo serialises it for
/// embeddings: {"prompt_tokens":N,"total_tokens":N,"completion_tokens":0,"prompt_tokens_details":null}.
/// scratch holds one vector at a time. Any thread.
void append_embeddings_body(std::string& out, std::string_view id, std::int64_t created, std::string_view model,
                            const EmbeddingsRequest& request, std::uint32_t dim, std::vector<float>& scratch);

}  // namespace kvroute::sim_server
