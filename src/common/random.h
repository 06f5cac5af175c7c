#pragma once
// Randomness is injected (Random&) so policies and the simulator are reproducible under a seed
// and tests can script exact draws.

#include <cstdint>
#include <span>

namespace kvroute {

/// A source of uniformly distributed 64-bit values. Not thread-safe: give each thread its own.
class Random {
 public:
  virtual ~Random() = default;
  virtual std::uint64_t next_u64() = 0;

  /// Uniform integer in [0, n); n must be > 0. Lemire's multiply-shift, bias below 2^-64 * n.
  std::uint64_t uniform(std::uint64_t n) {
    __extension__ using u128 = unsigned __int128;
    return static_cast<std::uint64_t>((static_cast<u128>(next_u64()) * n) >> 64);
  }
  /// Uniform double in [0, 1) with 53 bits of precision.
  double uniform01() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
};

/// xoshiro256** seeded through splitmix64: fast, small state, good statistical quality.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(std::uint64_t seed);
  std::uint64_t next_u64() override;

 private:
  std::uint64_t s_[4];
};

/// Derives an independent seed for a sub-stream (per instance, per thread) from a master seed.
std::uint64_t derive_seed(std::uint64_t master, std::uint64_t stream);

}  // namespace kvroute
