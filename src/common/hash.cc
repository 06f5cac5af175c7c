#include "common/hash.h"

#include <stdexcept>

#include <xxhash.h>

namespace kvroute {

std::uint64_t hash_bytes(const void* data, std::size_t size, std::uint64_t seed) {
  return XXH3_64bits_withSeed(data, size, seed);
}

std::uint64_t hash_combine(std::uint64_t parent, std::uint64_t value) {
  return XXH3_64bits_withSeed(&value, sizeof value, parent);
}

ChainedBlockHasher::ChainedBlockHasher(std::size_t block_bytes, std::uint64_t seed)
    : block_bytes_(block_bytes), last_(seed) {
  if (block_bytes == 0 || block_bytes > kMaxBlockBytes) throw std::invalid_argument("ChainedBlockHasher: bad block size");
}

}  // namespace kvroute
