#pragma once
// The prefix index: which backends probably hold which prompt prefixes in their KV cache, as far as
// the gateway can tell from where it sent each prompt (DESIGN.md section 4). A service shared by the
// policies of a pool and by its DispatchAccounting, which feeds it at every dispatch.
//
// What it stores. A prompt is a chain of block hashes (request_features.h: 64-byte blocks, each hash
// covering its block and everything before it), so "backend b holds block i of this prompt" means b
// computed this exact prefix. The index keeps, for every tracked block hash, the set of backends
// that hold it, and for every backend an approximately-LRU list of its blocks, bounded by the
// backend's KV capacity. Every `stride`-th block of a prompt is tracked (default 4: one entry per 64
// tokens), which divides the index's size and its per-dispatch cost by the stride at a matching
// granularity of stride x 16 tokens, far below the size of prompts that are worth routing by prefix.
//
// Eviction (per backend), modelled on vLLM's block pool: the blocks of a running request are in use
// and cannot be evicted; finished requests' blocks stay cached and are evicted least recently used
// first. Here: a dispatch records its prompt *pinned* (record_pinned); the pins are released when the
// request ends (release), which also marks its blocks as just used. Unpinned entries are evicted by
// CLOCK, a one-bit approximation of LRU: recording or releasing a prompt on a backend that already
// holds a block sets that block's "referenced" bit; new blocks are appended to the backend's ring,
// referenced too.
// Over capacity, the ring's oldest entry is evicted unless referenced or pinned, in which case its
// bit is cleared and it goes to the back (a second chance). A prompt's blocks are appended last block
// first, so that within a prompt the tail is evicted before the head, as vLLM evicts (it frees a
// request's blocks in reverse order): what a backend holds of a chain is then always a prefix of it.
// Lookups rely on that (see match). Pinned entries count toward capacity (they fill the KV cache);
// when everything held is pinned, nothing is evicted.
//
// Capacity: per backend, in tokens: the configured CapacityHints::kv_capacity_tokens, else the
// scraped ScrapedMetrics::kv_capacity_tokens, else PrefixIndexConfig::default_capacity_tokens. The
// index works with an effective capacity that starts there and is corrected by what backends report:
// when a backend says it had fewer cached tokens than the index predicted (usage cached_tokens), its
// cache held less than the index assumed (decode tokens, other gateways' traffic, preemptions), so its
// effective capacity shrinks by shrink_step; accurate reports let it recover toward the configured
// value.
//
// Lookup: for each candidate backend, the length of the longest leading run of the prompt's blocks it
// holds. Because a backend's holdings of a chain are a prefix of it, the run is found by binary search
// over block positions, splitting the candidate set at each probe (holders go deeper, the others
// shallower): O(d log n) probes for n blocks and d distinct run lengths among the candidates,
// typically 20-40 probes for a long prompt, whatever the number of backends (up to 64 per probe).
//
// Memory: one 32-byte record per tracked block hash (key, holder mask, referenced mask, first
// holder), held in open-addressing tables kept between 64% and 80% full, plus 8 bytes per
// (backend, block) in the backend's ring: at most about 60 bytes per tracked (backend, block) entry,
// less when blocks are shared. stats() reports the exact figures.
//
// Threading: any thread. Records live in `stripes` independent tables, each behind its own mutex;
// a lookup probe locks one stripe for one hash-table probe; recording a prompt locks the backend's
// ring and then each touched stripe in turn. There is no global lock. Backends are identified by a
// slot (dense, 0..4095) assigned on their first record and remembered in their BackendState.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "routing/backend_set.h"

namespace kvroute::routing {

struct PrefixIndexConfig {
  std::uint32_t stride = 4;             ///< track every stride-th block hash (>= 1)
  std::uint32_t tokens_per_block = 16;  ///< tokens of one 64-byte prefix block (4 bytes per token)
  /// Per-backend capacity when neither a hint nor a scrape gives one: an 8B model on an 80 GB GPU.
  std::uint64_t default_capacity_tokens = 400'000;
  /// Deferred eviction: record() never evicts; evict() brings every backend back to its capacity
  /// (SGLang's periodic eviction). Otherwise every record() evicts at once.
  bool deferred_eviction = false;
  double shrink_step = 0.05;            ///< effective capacity lost per over-prediction
  double recover_step = 0.01;           ///< fraction of the configured capacity regained per accurate report
  double min_capacity_fraction = 0.25;  ///< effective capacity never drops below this share
  std::uint32_t stripes = 256;          ///< record tables (rounded up to a power of two)
};

struct PrefixIndexStats {
  std::uint64_t entries = 0;   ///< tracked (backend, block) pairs
  std::uint64_t blocks = 0;    ///< distinct tracked block hashes (records)
  std::uint64_t bytes = 0;     ///< heap bytes of tables and rings
  std::uint32_t backends = 0;  ///< slots in use
  double bytes_per_entry() const { return entries ? static_cast<double>(bytes) / static_cast<double>(entries) : 0.0; }
};

/// Per-backend figures of the index, for reports and tests.
struct PrefixIndexBackendStats {
  std::uint64_t entries = 0;              ///< tracked blocks held
  std::uint64_t pinned_entries = 0;       ///< of which pinned by requests in flight
  std::uint64_t capacity_entries = 0;     ///< configured capacity, in tracked blocks
  double effective_capacity_entries = 0;  ///< after corrections
};

class PrefixIndex {
 public:
  static constexpr std::uint32_t kMaxSlots = 4096;
  static constexpr std::uint32_t kNoSlot = UINT32_MAX;

  explicit PrefixIndex(PrefixIndexConfig config = {});
  ~PrefixIndex();
  PrefixIndex(const PrefixIndex&) = delete;
  PrefixIndex& operator=(const PrefixIndex&) = delete;

  const PrefixIndexConfig& config() const { return config_; }

  /// Any thread. The backend's slot in this index, or kNoSlot if nothing was ever recorded for it.
  /// Lock-free (one atomic load) in the common case.
  std::uint32_t find_slot(const BackendState& state) const;

  /// Any thread. Leading blocks of `hashes` that `state`'s backend probably holds (a multiple of the
  /// stride). O(log n) probes.
  std::uint32_t match_one(std::span<const std::uint64_t> hashes, const BackendState& state) const;

  /// Any thread. For every slot set in `wanted` (a bitset over slots, 64 per word; bits beyond
  /// kMaxSlots ignored), calls on_run(slot, blocks) with the number of leading blocks of `hashes`
  /// that slot probably holds (a multiple of the stride; 0 included). Slots are visited group by
  /// group; the order within a group is unspecified. No allocation.
  template <class OnRun>
  void match(std::span<const std::uint64_t> hashes, std::span<const std::uint64_t> wanted, OnRun&& on_run) const {
    match_impl(hashes, wanted, &on_run,
               [](void* f, std::uint32_t slot, std::uint32_t blocks) { (*static_cast<OnRun*>(f))(slot, blocks); });
  }

  /// Any thread. The slot that first recorded the block at position `block` of `hashes` (the block
  /// must be tracked: (block + 1) a multiple of the stride) among the slots of `group`, if some slot
  /// of that group holds it now and the first one still does; else kNoSlot.
  std::uint32_t first_holder(std::span<const std::uint64_t> hashes, std::size_t block, std::uint32_t group) const;

  /// Any thread. Records that `backend` now holds every block of `hashes` (its state gets a slot if
  /// it has none). `capacity_tokens` = 0 resolves the capacity as described in the file comment.
  /// Evicts at once unless deferred_eviction. Returns false only when all kMaxSlots are taken.
  bool record(std::span<const std::uint64_t> hashes, const Backend& backend, std::uint64_t capacity_tokens = 0);

  /// Any thread. record(), and pins the prompt's entries on that backend until release(pin) with
  /// the returned handle (0 when nothing could be recorded). Every pin must be released exactly once
  /// (DispatchTicket does it when the request ends). Allocation-free once the backend's pin records
  /// have grown to its peak number of requests in flight.
  std::uint64_t record_pinned(std::span<const std::uint64_t> hashes, const Backend& backend,
                              std::uint64_t capacity_tokens = 0);

  /// Any thread. Releases a pin of record_pinned: the request ended, its blocks are now cached and
  /// free, and most recently used. A handle of a slot released by retain() is ignored.
  void release(std::uint64_t pin);

  /// Any thread. The backend reported `actual_blocks` cached where the index predicted
  /// `predicted_blocks` (both in prefix blocks): corrects its effective capacity.
  void report(const BackendState& state, std::uint32_t predicted_blocks, std::uint32_t actual_blocks);

  /// Any thread. Brings every backend back within its effective capacity (deferred mode).
  void evict();

  /// Control thread (any thread). Frees the slots of backends that are not in `set` and drops
  /// their entries, so removed backends do not keep memory.
  void retain(const BackendSet& set);

  /// Any thread. Capacity in tokens the index uses for `backend` (hint, scrape, default).
  std::uint64_t capacity_tokens_for(const Backend& backend) const;

  /// Any thread. Tokens covered by `blocks` prefix blocks of a prompt of `prompt_tokens` tokens with
  /// `total_blocks` blocks: blocks x tokens_per_block, scaled down when the prompt's token estimate is
  /// smaller than its blocks suggest, and capped at prompt_tokens - 1 (an engine always recomputes the
  /// last token).
  std::uint32_t cached_tokens(std::uint32_t blocks, std::size_t total_blocks, std::uint32_t prompt_tokens) const;

  /// Any thread. Totals (locks every stripe and ring in turn; not for the request path).
  PrefixIndexStats stats() const;
  /// Any thread. One backend's figures (zeros if it has no slot).
  PrefixIndexBackendStats backend_stats(const BackendState& state) const;

 private:
  struct Record;
  struct Stripe;
  struct Slot;

  using RunCallback = void (*)(void*, std::uint32_t, std::uint32_t);
  void match_impl(std::span<const std::uint64_t> hashes, std::span<const std::uint64_t> wanted, void* ctx,
                  RunCallback cb) const;
  std::uint64_t probe(std::uint64_t key) const;
  std::uint32_t slot_for(const BackendState& state);
  std::uint64_t record_impl(std::span<const std::uint64_t> hashes, const Backend& backend,
                            std::uint64_t capacity_tokens, bool pin);
  void evict_slot_locked(std::uint32_t slot, Slot& s, double limit);
  Stripe& stripe_of(std::uint64_t key) const;

  PrefixIndexConfig config_;
  std::uint32_t id_;
  std::uint32_t stripe_mask_;
  std::unique_ptr<Stripe[]> stripes_;
  std::unique_ptr<std::atomic<Slot*>[]> slots_;
  mutable std::mutex registry_mutex_;                // slot assignment and release
  std::vector<std::unique_ptr<Slot>> slot_storage_;  // owns every Slot ever made (kMaxSlots max)
  std::atomic<std::uint32_t> slots_used_{0};         // one past the highest slot ever assigned
};

}  // namespace kvroute::routing
