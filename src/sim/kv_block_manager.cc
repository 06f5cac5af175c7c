// See kv_block_manager.h for the algorithm (vLLM V1 BlockPool, SIMULATOR-FACTS.md section 6).

#include "sim/kv_block_manager.h"

#include <stdexcept>

namespace kvroute::sim {

KvBlockManager::KvBlockManager(std::uint32_t num_gpu_blocks, bool enable_caching)
    : blocks_(std::size_t{num_gpu_blocks} + 1),
      sentinel_(num_gpu_blocks),
      enable_caching_(enable_caching),
      map_(num_gpu_blocks) {
  if (num_gpu_blocks < 2) throw std::invalid_argument("KvBlockManager: need at least 2 blocks");
  Block& s = blocks_[sentinel_];
  s.prev = s.next = sentinel_;
  // vLLM builds the queue over all blocks in id order and pops the null block off its head.
  for (std::uint32_t b = 1; b < num_gpu_blocks; ++b) push_tail(b);
  blocks_[kNullBlock].ref_count = 1;  // never freed, never allocated
}

double KvBlockManager::usage() const {
  return 1.0 - static_cast<double>(num_free_) / static_cast<double>(usable_blocks());
}

void KvBlockManager::push_tail(std::uint32_t b) {
  Block& blk = blocks_[b];
  Block& s = blocks_[sentinel_];
  blk.prev = s.prev;
  blk.next = sentinel_;
  blocks_[s.prev].next = b;
  s.prev = b;
  blk.in_free_queue = true;
  ++num_free_;
}

void KvBlockManager::unlink(std::uint32_t b) {
  Block& blk = blocks_[b];
  blocks_[blk.prev].next = blk.next;
  blocks_[blk.next].prev = blk.prev;
  blk.in_free_queue = false;
  --num_free_;
}

void KvBlockManager::evict(std::uint32_t b) {
  Block& blk = blocks_[b];
  if (!blk.cached) return;
  map_.erase(blk.identity);
  blk.cached = false;
}

std::uint32_t KvBlockManager::count_unreferenced(std::span<const std::uint32_t> blocks) const {
  std::uint32_t n = 0;
  for (std::uint32_t b : blocks) n += blocks_[b].ref_count == 0 ? 1 : 0;
  return n;
}

void KvBlockManager::touch(std::span<const std::uint32_t> blocks) {
  for (std::uint32_t b : blocks) {
    Block& blk = blocks_[b];
    if (blk.ref_count == 0) unlink(b);
    ++blk.ref_count;
  }
}

bool KvBlockManager::allocate(std::uint32_t n, std::vector<std::uint32_t>& out) {
  if (n > num_free_) return false;
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint32_t b = blocks_[sentinel_].next;
    unlink(b);
    evict(b);
    blocks_[b].ref_count = 1;
    out.push_back(b);
  }
  return true;
}

bool KvBlockManager::cache_block(std::uint32_t block, std::uint64_t identity) {
  Block& blk = blocks_[block];
  if (!enable_caching_ || blk.cached) return false;
  if (!map_.insert(identity, block)) return false;  // another block holds it: leave a duplicate
  blk.identity = identity;
  blk.cached = true;
  return true;
}

void KvBlockManager::free_blocks(std::span<const std::uint32_t> blocks) {
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    Block& blk = blocks_[*it];
    if (--blk.ref_count == 0) push_tail(*it);
  }
}

std::vector<std::uint32_t> KvBlockManager::free_queue() const {
  std::vector<std::uint32_t> out;
  out.reserve(num_free_);
  for (std::uint32_t b = blocks_[sentinel_].next; b != sentinel_; b = blocks_[b].next) out.push_back(b);
  return out;
}

}  // namespace kvroute::sim
