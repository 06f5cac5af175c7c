#pragma once
// Synthetic prompt text for traces that publish no text (Mooncake, Azure). The one mapping used by
// both the offline evaluator and the live replayer, so both send the same bytes.
//
// A trace block is kTraceBlockTokens = 512 tokens = 2048 bytes of text at the simulator's 4 bytes
// per token (sim/tokenizer.h). Block identity `id` becomes 2048 pseudo-random bytes from a 64-character
// alphabet (letters, digits, space, '.'; nothing that needs JSON escaping), drawn from
// SeededRandom(hash_combine(kMooncakeTextSeed, id)): equal ids give equal text, distinct ids distinct
// text (a collision would need two 2048-byte random strings to agree).
//
// A prompt is the concatenation of its blocks' text, cut so the prompt has exactly input_tokens x 4
// bytes (the last block is cut to input_tokens % 512 tokens when that is not 0).
//   Mooncake record: blocks are its hash_ids. If a record has fewer ids than the length needs, the
//                    missing blocks are unique to the request; extra ids are ignored.
//   Azure record:    every block is unique to the request (no sharing), drawn from a separate
//                    seed space keyed by the request's position in the trace.
// Since the simulator's KV block is 16 tokens = 64 bytes and the gateway's prefix block is also 64
// bytes, two prompts sharing k leading trace blocks share exactly k x 32 leading block hashes, on
// both sides.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace kvroute::bench {

inline constexpr std::uint32_t kTraceBlockTokens = 512;
inline constexpr std::size_t kTraceBlockBytes = 2048;  ///< kTraceBlockTokens x 4 bytes per token

/// Writes the kTraceBlockBytes bytes of text of the trace block with identity `id` into `out`.
void trace_block_text(std::uint64_t id, std::span<char, kTraceBlockBytes> out);

/// Writes the text of block `block` of a request that shares nothing with any other (Azure), the
/// request being number `request_key` of its trace.
void unique_block_text(std::uint64_t request_key, std::uint32_t block, std::span<char, kTraceBlockBytes> out);

/// What a synthetic prompt is made of.
struct SyntheticPrompt {
  std::span<const std::uint64_t> hash_ids;  ///< leading shared blocks (Mooncake); may be empty
  std::uint64_t request_key = 0;            ///< for blocks beyond hash_ids (unique to the request)
  std::uint32_t input_tokens = 0;           ///< exact prompt length in tokens
};

/// Produces the prompt's text in order, one block (or the cut last block) per call of on_piece
/// (std::string_view, valid during the call). Total: input_tokens x 4 bytes.
template <class OnPiece>
void for_each_prompt_piece(const SyntheticPrompt& prompt, OnPiece&& on_piece) {
  char buf[kTraceBlockBytes];
  std::uint64_t remaining = std::uint64_t{prompt.input_tokens} * (kTraceBlockBytes / kTraceBlockTokens);
  for (std::uint32_t block = 0; remaining > 0; ++block) {
    if (block < prompt.hash_ids.size()) {
      trace_block_text(prompt.hash_ids[block], buf);
    } else {
      unique_block_text(prompt.request_key, block, buf);
    }
    const std::size_t take = remaining < kTraceBlockBytes ? static_cast<std::size_t>(remaining) : kTraceBlockBytes;
    on_piece(std::string_view(buf, take));
    remaining -= take;
  }
}

/// The whole prompt as one string (tests, the live replayer's request bodies).
std::string synthetic_prompt(const SyntheticPrompt& prompt);

}  // namespace kvroute::bench
