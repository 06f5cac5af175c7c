#include "bench/synthetic_text.h"

#include "common/hash.h"
#include "common/random.h"

namespace kvroute::bench {
namespace {

// Seed spaces: Mooncake block ids and per-request unique blocks never draw from the same stream.
constexpr std::uint64_t kMooncakeTextSeed = 0x6d6f6f6e63616b65ULL;  // "mooncake"
constexpr std::uint64_t kUniqueTextSeed = 0x756e697175657478ULL;    // "uniquetx"

// 64 characters, so one 64-bit draw gives ten of them (6 bits each). No quote, backslash or
// control character: the text goes into JSON request bodies as is.
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .";
static_assert(sizeof(kAlphabet) == 65);

void fill_text(std::uint64_t seed, std::span<char, kTraceBlockBytes> out) {
  SeededRandom rng(seed);
  std::size_t i = 0;
  while (i < out.size()) {
    std::uint64_t v = rng.next_u64();
    for (int k = 0; k < 10 && i < out.size(); ++k, ++i) {
      out[i] = kAlphabet[v & 63];
      v >>= 6;
    }
  }
}

}  // namespace

void trace_block_text(std::uint64_t id, std::span<char, kTraceBlockBytes> out) {
  fill_text(hash_combine(kMooncakeTextSeed, id), out);
}

void unique_block_text(std::uint64_t request_key, std::uint32_t block, std::span<char, kTraceBlockBytes> out) {
  fill_text(hash_combine(hash_combine(kUniqueTextSeed, request_key), block), out);
}

std::string synthetic_prompt(const SyntheticPrompt& prompt) {
  std::string text;
  text.reserve(std::size_t{prompt.input_tokens} * (kTraceBlockBytes / kTraceBlockTokens));
  for_each_prompt_piece(prompt, [&text](std::string_view piece) { text.append(piece); });
  return text;
}

}  // namespace kvroute::bench
