#pragma once
// Block identity -> block id, for the prefix cache. A map can never hold more entries than there are
// KV blocks, so it is sized once at construction (load factor <= 1/2) and never rehashes or
// allocates afterwards: registering and evicting a block costs no heap traffic in steady state.
// Open addressing with linear probing and backward-shift deletion (no tombstones, so probe
// lengths stay short however long the simulation runs). Identities are xxh3 outputs, but callers
// may pass small integers (tests), so the slot is taken from a Fibonacci multiply, not the raw key.

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <vector>

namespace kvroute::sim {

class BlockHashMap {
 public:
  static constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

  /// A map for up to max_entries entries. Not thread-safe (one engine, one thread).
  explicit BlockHashMap(std::uint32_t max_entries) {
    const std::uint64_t want = std::max<std::uint64_t>(16, 2 * std::uint64_t{max_entries});
    const std::uint64_t capacity = std::bit_ceil(want);
    shift_ = 64 - std::countr_zero(capacity);
    mask_ = capacity - 1;
    slots_.assign(capacity, Slot{0, kNone});
  }

  /// The value stored for key, or kNone.
  std::uint32_t find(std::uint64_t key) const {
    for (std::uint64_t i = home(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.value == kNone) return kNone;
      if (s.key == key) return s.value;
    }
  }

  /// Inserts key -> value (value != kNone); false, and no change, if key is present.
  bool insert(std::uint64_t key, std::uint32_t value) {
    for (std::uint64_t i = home(key);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.value == kNone) {
        s = Slot{key, value};
        ++size_;
        return true;
      }
      if (s.key == key) return false;
    }
  }

  /// Removes key; false if absent.
  bool erase(std::uint64_t key) {
    std::uint64_t i = home(key);
    for (;; i = (i + 1) & mask_) {
      if (slots_[i].value == kNone) return false;
      if (slots_[i].key == key) break;
    }
    // Backward shift: pull later entries of the probe run into the hole when their home slot is
    // not cyclically inside (hole, j], so every entry stays reachable from its home.
    std::uint64_t hole = i;
    for (std::uint64_t j = (i + 1) & mask_; slots_[j].value != kNone; j = (j + 1) & mask_) {
      const std::uint64_t h = home(slots_[j].key);
      const bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
      if (!stays) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = Slot{0, kNone};
    --size_;
    return true;
  }

  std::uint32_t size() const { return size_; }

 private:
  struct Slot {
    std::uint64_t key;
    std::uint32_t value;  // kNone: empty
  };

  std::uint64_t home(std::uint64_t key) const { return (key * 0x9E3779B97F4A7C15ULL) >> shift_; }

  std::vector<Slot> slots_;
  std::uint64_t mask_ = 0;
  int shift_ = 0;
  std::uint32_t size_ = 0;
};

}  // namespace kvroute::sim
