#pragma once
// Hashing shared by the gateway (prefix features) and the simulator (KV block identities).
// xxh3-64 everywhere: fast, stable across platforms and releases.

#include <cstddef>
#include <cstdint>
#include <span>
#include <algorithm>
#include <string_view>

namespace kvroute {

std::uint64_t hash_bytes(const void* data, std::size_t size, std::uint64_t seed = 0);
inline std::uint64_t hash_string(std::string_view s, std::uint64_t seed = 0) {
  return hash_bytes(s.data(), s.size(), seed);
}

/// Mixes two 64-bit values into one (for chaining identities that are already hashes).
std::uint64_t hash_combine(std::uint64_t parent, std::uint64_t value);

/// Incremental chained hashing of fixed-size blocks: h_i = xxh3(block_i, seed = h_{i-1}), h_{-1} = seed.
/// Only whole blocks produce a hash; a trailing partial block is ignored. Feed text in any
/// number of pieces (a prompt assembled from several chat messages needs no joined copy).
class ChainedBlockHasher {
 public:
  /// block_bytes must be in [1, kMaxBlockBytes].
  ChainedBlockHasher(std::size_t block_bytes, std::uint64_t seed);

  static constexpr std::size_t kMaxBlockBytes = 4096;

  /// Appends bytes; calls on_block(hash) once per completed block, in order.
  template <class OnBlock>
  void update(std::string_view bytes, OnBlock&& on_block) {
    while (!bytes.empty()) {
      const std::size_t take = std::min(block_bytes_ - fill_, bytes.size());
      std::copy_n(bytes.data(), take, buf_ + fill_);
      fill_ += take;
      bytes.remove_prefix(take);
      total_ += take;
      if (fill_ == block_bytes_) {
        last_ = hash_bytes(buf_, block_bytes_, last_);
        fill_ = 0;
        on_block(last_);
      }
    }
  }

  /// Starts a new chain with `seed`, keeping the block size (reuse without reallocation).
  void reset(std::uint64_t seed) {
    fill_ = 0;
    total_ = 0;
    last_ = seed;
  }

  /// Bytes fed so far.
  std::size_t total_bytes() const { return total_; }
  /// Hash of the last completed block (the seed if none).
  std::uint64_t last_hash() const { return last_; }

 private:
  std::size_t block_bytes_;
  std::size_t fill_ = 0;
  std::size_t total_ = 0;
  std::uint64_t last_;
  char buf_[kMaxBlockBytes];
};

}  // namespace kvroute
