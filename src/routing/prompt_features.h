#pragma once
// The prompt part of RequestFeatures, computed the same way by the live gateway (fed by the
// request parser's canonical-prompt pieces) and by the offline evaluator (fed by trace text):
// chained xxh3 hashes of 64-byte blocks seeded by the model name, and an estimated token count.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/hash.h"

namespace kvroute::routing {

/// Bytes of canonical prompt per prefix block (DESIGN.md section 4). 64 bytes is also exactly one
/// 16-token KV block of kvroute-sim's 4-bytes-per-token tokenizer.
inline constexpr std::size_t kPrefixBlockBytes = 64;
/// Token estimate: ~4 bytes of English text per token for Llama-3-class BPE vocabularies.
inline constexpr std::uint32_t kEstimatedBytesPerToken = 4;

/// Seed of a model's block-hash chain: prompts to different models never share prefix blocks.
inline std::uint64_t prefix_seed_for_model(std::string_view model) { return hash_string(model, 0x70726566ULL); }

/// Accumulates one request's prompt features. Reusable: reset() keeps the hash vector's capacity,
/// so a per-worker (or per-connection) instance makes no allocation once warm. Not thread-safe.
class PromptFeatureBuilder {
 public:
  PromptFeatureBuilder() : hasher_(kPrefixBlockBytes, 0) {}

  /// Starts a new prompt for `model`.
  void reset(std::string_view model) {
    hasher_.reset(prefix_seed_for_model(model));
    hashes_.clear();
  }
  /// Appends the next piece of the canonical prompt.
  void append(std::string_view piece) {
    hasher_.update(piece, [this](std::uint64_t h) { hashes_.push_back(h); });
  }

  std::span<const std::uint64_t> block_hashes() const { return hashes_; }
  std::uint64_t prompt_bytes() const { return hasher_.total_bytes(); }
  std::uint32_t estimated_tokens() const {
    return static_cast<std::uint32_t>((hasher_.total_bytes() + kEstimatedBytesPerToken - 1) / kEstimatedBytesPerToken);
  }

 private:
  ChainedBlockHasher hasher_;
  std::vector<std::uint64_t> hashes_;
};

}  // namespace kvroute::routing
