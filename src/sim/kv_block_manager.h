#pragma once
// Paged KV cache with automatic prefix caching, as vLLM V1's BlockPool (SIMULATOR-FACTS.md section 6).
//
// - A pool of num_gpu_blocks blocks, allocated once. Block 0 is the null block (vLLM reserves it as a
//   placeholder), so num_gpu_blocks - 1 blocks are usable, and usage = 1 - free / (num_gpu_blocks - 1).
// - Every block with ref_count 0 sits in one intrusive doubly-linked free queue; its head is the
//   least recently freed block. Unreferenced blocks that still hold a cached identity stay in the
//   queue: they count as free and are reusable by a prefix hit until they are evicted.
// - Allocation pops from the head; if the popped block carries an identity, the identity is evicted
//   (removed from the identity map) at that moment.
// - A prefix hit "touches" blocks: ref_count + 1, and the block leaves the free queue if it was there.
// - Freeing a request's blocks walks them in REVERSE order and appends those that drop to
//   ref_count 0 to the tail, so a request's last block (which hashes the most tokens and is the
//   least likely to be shared) is evicted first. Net policy: LRU over unreferenced blocks.
// - A full block is registered under its identity as soon as the identity is known. If another
//   block already holds that identity, the new one is simply not registered (V1 does not
//   de-duplicate; the duplicate lives until it is freed).
// Every operation is O(1) per block touched; nothing allocates after construction except the
// caller's output vectors.

#include <cstdint>
#include <span>
#include <vector>

#include "sim/block_hash_map.h"

namespace kvroute::sim {

class KvBlockManager {
 public:
  static constexpr std::uint32_t kNullBlock = 0;

  /// num_gpu_blocks >= 2 (one of them is the null block). Not thread-safe: one engine, one thread.
  explicit KvBlockManager(std::uint32_t num_gpu_blocks, bool enable_caching = true);

  std::uint32_t num_gpu_blocks() const { return static_cast<std::uint32_t>(blocks_.size()) - 1; }
  /// Blocks a request can ever use: all but the null block.
  std::uint32_t usable_blocks() const { return num_gpu_blocks() - 1; }
  /// Blocks in the free queue (unreferenced, cached or not).
  std::uint32_t num_free_blocks() const { return num_free_; }
  /// Blocks registered under an identity, referenced or not.
  std::uint32_t num_cached_blocks() const { return map_.size(); }
  /// vLLM's kv_cache_usage_perc: referenced blocks over usable blocks, in [0, 1].
  double usage() const;

  /// The block registered under identity, or BlockHashMap::kNone (also when caching is off).
  std::uint32_t lookup(std::uint64_t identity) const { return map_.find(identity); }
  /// How many of blocks are unreferenced (a touch will take them out of the free queue).
  std::uint32_t count_unreferenced(std::span<const std::uint32_t> blocks) const;
  /// Takes a reference on each block (prefix hit), removing it from the free queue if needed.
  void touch(std::span<const std::uint32_t> blocks);
  /// Appends n fresh blocks (ref_count 1) to out, taken from the head of the free queue, evicting
  /// their identities. Returns false, and changes nothing, if fewer than n blocks are free.
  bool allocate(std::uint32_t n, std::vector<std::uint32_t>& out);
  /// Registers a full block under identity unless caching is off, the block already has an
  /// identity, or another block holds this identity. Returns whether it registered.
  bool cache_block(std::uint32_t block, std::uint64_t identity);
  /// Drops one reference per block, walking blocks in reverse order; blocks reaching 0 go to the
  /// tail of the free queue in that order (so blocks.back() is evicted first).
  void free_blocks(std::span<const std::uint32_t> blocks);

  // Introspection (tests, calibration, debugging).
  std::uint32_t ref_count(std::uint32_t block) const { return blocks_[block].ref_count; }
  bool is_cached(std::uint32_t block) const { return blocks_[block].cached; }
  /// The free queue from head (next evicted) to tail. O(num_free_blocks), allocates.
  std::vector<std::uint32_t> free_queue() const;

 private:
  struct Block {
    std::uint64_t identity = 0;
    std::uint32_t prev = 0;  // free queue links; only meaningful while in_free_queue
    std::uint32_t next = 0;
    std::uint32_t ref_count = 0;
    bool cached = false;  // identity is registered in map_ and points at this block
    bool in_free_queue = false;
  };

  void push_tail(std::uint32_t b);
  void unlink(std::uint32_t b);
  void evict(std::uint32_t b);

  std::vector<Block> blocks_;  // num_gpu_blocks real blocks plus the free queue's sentinel (last)
  std::uint32_t sentinel_;
  std::uint32_t num_free_ = 0;
  bool enable_caching_;
  BlockHashMap map_;
};

}  // namespace kvroute::sim
