#pragma once
// What a simulated request generates: how many tokens, why it stops, and the text. All of it is a
// pure function of the request (its fields and its canonical prompt), so answers are reproducible
// and a test can predict them.
//
// Output length, in order:
//   sim_output_tokens given     exactly that many (trace replay); finish_reason "length" when it
//                               equals max_tokens, else "stop"
//   ignore_eos                  max_tokens; "length"
//   otherwise                   the filler's natural length, min(max_tokens, natural) where
//                               natural = max(min_tokens, 16 + seed % 240); "stop" if it ended
//                               before max_tokens, else "length"
// max_tokens (or max_completion_tokens) defaults to min(256, max_model_len - prompt_tokens): vLLM
// would allow the whole remaining context, which makes answers unbounded for no benefit here.
// Like vLLM, prompt_tokens >= max_model_len, max_tokens or sim_output_tokens beyond the remaining
// context, and min_tokens > max_tokens are 400s.

#include <cstdint>
#include <string>
#include <string_view>

#include <vector>

#include "common/hash.h"
#include "common/result.h"
#include "openai/request_view.h"
#include "sim/tokenizer.h"
#include "sim_server/metrics.h"

namespace kvroute::sim_server {

constexpr std::uint32_t kDefaultMaxTokens = 256;

struct OutputPlan {
  std::uint32_t output_tokens = 1;
  FinishReason finish = FinishReason::kLength;
  std::uint32_t max_tokens = 1;  ///< the effective max_tokens (for vllm:request_params_max_tokens)
};

/// Decides the output of a request with prompt_tokens tokens; seed is its text seed (see
/// TextSeedSink). Errors carry status 400 and vLLM-like messages.
Result<OutputPlan> plan_output(const openai::RequestFields& fields, std::uint32_t prompt_tokens,
                               std::uint32_t max_model_len, std::uint64_t seed);

/// The deterministic filler: token i of a request is one word of a fixed list, starting at a
/// position picked by the request's seed and cycling through the list; every token but the first
/// has a leading space. Words need no JSON escaping.
class Filler {
 public:
  static constexpr std::uint32_t kNumWords = 64;
  /// Text of output token `index` of the request with text seed `seed`; static storage.
  static std::string_view token(std::uint64_t seed, std::uint32_t index);
  /// Appends the text of tokens [0, count).
  static void append_text(std::string& out, std::uint64_t seed, std::uint32_t count);
};

/// Receives the canonical prompt during the parse: counts tokens and hashes full blocks with the
/// engine's tokenizer, and folds every piece into the request's text seed. Per request, on the
/// stack; not thread-safe.
class TextSeedSink final : public openai::PromptSink {
 public:
  explicit TextSeedSink(std::uint32_t block_size_tokens) : tokenizer_(block_size_tokens) {}
  void append(std::string_view piece) override {
    tokenizer_.append(piece);
    seed_ = hash_string(piece, seed_);
  }
  std::uint32_t tokens() const { return tokenizer_.tokens(); }
  std::vector<std::uint64_t>& block_hashes() { return tokenizer_.block_hashes(); }
  /// A deterministic function of the prompt pieces (same request body: same seed).
  std::uint64_t seed() const { return seed_; }

 private:
  sim::PromptTokenizer tokenizer_;
  std::uint64_t seed_ = 0x66696c6c6572ULL;
};

}  // namespace kvroute::sim_server
