#pragma once
// Per-worker scratch for asking a PrefixIndex about every candidate of a pick at once: maps the
// candidates to their index slots, runs one PrefixIndex::match over all of them, and hands back the
// leading blocks each candidate holds, indexed like the snapshot. Owned by one policy instance (one
// thread); allocates only when it meets a new snapshot.

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "routing/backend_set.h"
#include "routing/candidates.h"
#include "routing/policy.h"
#include "routing/prefix_index.h"

namespace kvroute::routing {

class PrefixLookup {
 public:
  /// Owner thread. Fills blocks(i) for every candidate i of `tier` (0 for the others) with the number
  /// of leading prefix blocks of `hashes` that the index thinks set[i] holds. No allocation once the
  /// snapshot was seen.
  void run(const PrefixIndex& index, std::span<const std::uint64_t> hashes, const BackendSet& set,
           const PickContext& ctx, Tier tier) {
    if (set.generation() != generation_ || blocks_.size() != set.size()) {
      generation_ = set.generation();
      blocks_.assign(set.size(), 0);
      if (slot_owner_.empty()) {
        slot_owner_.assign(PrefixIndex::kMaxSlots, 0);
        slot_stamp_.assign(PrefixIndex::kMaxSlots, 0);
      }
    }
    ++stamp_;
    std::uint64_t wanted[PrefixIndex::kMaxSlots / 64] = {};
    std::size_t words = 0;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      blocks_[i] = 0;
      if (hashes.empty() || !is_candidate(set, ctx, i, tier)) continue;
      const std::uint32_t slot = index.find_slot(set[i].state());
      if (slot == PrefixIndex::kNoSlot) continue;
      wanted[slot / 64] |= std::uint64_t{1} << (slot % 64);
      words = std::max<std::size_t>(words, slot / 64 + 1);
      slot_owner_[slot] = i;
      slot_stamp_[slot] = stamp_;
    }
    if (words == 0) return;
    index.match(hashes, std::span<const std::uint64_t>(wanted, words), [this](std::uint32_t slot, std::uint32_t n) {
      if (slot_stamp_[slot] == stamp_) blocks_[slot_owner_[slot]] = n;
    });
  }

  /// Leading blocks held by set[i], from the last run().
  std::uint32_t blocks(std::uint32_t i) const { return blocks_[i]; }

 private:
  std::uint64_t generation_ = 0;
  std::uint64_t stamp_ = 0;
  std::vector<std::uint32_t> blocks_;
  std::vector<std::uint32_t> slot_owner_;  // slot -> backend index, valid when stamped
  std::vector<std::uint64_t> slot_stamp_;
};

}  // namespace kvroute::routing
