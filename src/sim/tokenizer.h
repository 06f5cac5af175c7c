#pragma once
// The simulator's tokenizer: every 4 bytes of text is one token (a trailing 1-3 bytes is one more).
// Crude, but deterministic and position-stable: equal text prefixes give equal token prefixes,
// so prefix caching works from text alone, and a 16-token KV block is exactly 64 bytes of text,
// the same block the gateway hashes for its prefix features.

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/hash.h"

namespace kvroute::sim {

constexpr std::uint32_t kBytesPerToken = 4;
/// Seed of the engine's block hash chain (vLLM's NONE_HASH; fixed, so identities are reproducible).
constexpr std::uint64_t kBlockHashSeed = 0x6b76726f75746531ULL;

constexpr std::uint32_t tokens_for_bytes(std::uint64_t bytes) {
  return static_cast<std::uint32_t>((bytes + kBytesPerToken - 1) / kBytesPerToken);
}

/// Turns prompt text, fed in pieces, into a token count and the chained hashes of its full blocks.
class PromptTokenizer {
 public:
  explicit PromptTokenizer(std::uint32_t block_size_tokens = 16)
      : hasher_(block_size_tokens * kBytesPerToken, kBlockHashSeed) {}

  void append(std::string_view text) {
    hasher_.update(text, [this](std::uint64_t h) { block_hashes_.push_back(h); });
  }
  std::uint32_t tokens() const { return tokens_for_bytes(hasher_.total_bytes()); }
  std::vector<std::uint64_t>& block_hashes() { return block_hashes_; }

 private:
  ChainedBlockHasher hasher_;
  std::vector<std::uint64_t> block_hashes_;
};

}  // namespace kvroute::sim
