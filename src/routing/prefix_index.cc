#include "routing/prefix_index.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace kvroute::routing {
namespace {

constexpr double kMaxLoad = 0.78;     // grow above this
constexpr double kGrowFactor = 1.22;  // so a table is at least 64% full after growing
constexpr double kMinLoad = 0.30;     // shrink below this (to ~60%)
constexpr std::size_t kMinTable = 64;

std::uint32_t next_index_id() {
  static std::atomic<std::uint32_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

// Record key of a block hash for one group of 64 slots. Group 0 uses the (already well mixed) chained
// hash itself; other groups remix it so that each (hash, group) pair is its own record. 0 marks an
// empty table cell, so it is never a key.
std::uint64_t make_key(std::uint64_t hash, std::uint32_t group) {
  std::uint64_t k = hash;
  if (group != 0) {
    k ^= (static_cast<std::uint64_t>(group) + 1) * 0x9E3779B97F4A7C15ULL;
    k ^= k >> 31;
    k *= 0xBF58476D1CE4E5B9ULL;
    k ^= k >> 29;
  }
  return k == 0 ? 1 : k;
}

std::size_t home_of(std::uint64_t key, std::size_t cap) {
  __extension__ using u128 = unsigned __int128;
  return static_cast<std::size_t>((static_cast<u128>(key) * cap) >> 64);
}

}  // namespace

// 32 bytes: two records per cache line.
struct PrefixIndex::Record {
  std::uint64_t key = 0;   // 0 = empty cell
  std::uint64_t mask = 0;  // holders among this group's 64 slots
  std::uint64_t ref = 0;   // CLOCK referenced bits, per holder
  std::uint32_t creator = 0;
  std::uint32_t unused = 0;
};

// One open-addressing table (linear probing, backward-shift deletion) behind its own mutex.
struct alignas(64) PrefixIndex::Stripe {
  std::mutex mutex;
  std::vector<Record> table;
  std::size_t count = 0;

  Record* find(std::uint64_t key) {
    const std::size_t cap = table.size();
    if (cap == 0) return nullptr;
    for (std::size_t i = home_of(key, cap);; i = (i + 1 == cap) ? 0 : i + 1) {
      Record& r = table[i];
      if (r.key == key) return &r;
      if (r.key == 0) return nullptr;
    }
  }

  Record& insert_new(std::uint64_t key) {
    if (static_cast<double>(count + 1) > kMaxLoad * static_cast<double>(table.size())) {
      rehash(std::max<std::size_t>(kMinTable,
                                   static_cast<std::size_t>(static_cast<double>(table.size()) * kGrowFactor) + 1));
    }
    const std::size_t cap = table.size();
    std::size_t i = home_of(key, cap);
    while (table[i].key != 0) i = (i + 1 == cap) ? 0 : i + 1;
    table[i] = Record{};
    table[i].key = key;
    ++count;
    return table[i];
  }

  void erase(Record* r) {
    const std::size_t cap = table.size();
    std::size_t i = static_cast<std::size_t>(r - table.data());
    for (std::size_t j = (i + 1 == cap) ? 0 : i + 1;; j = (j + 1 == cap) ? 0 : j + 1) {
      if (table[j].key == 0) break;
      const std::size_t home = home_of(table[j].key, cap);
      // table[j] may move to the hole at i only if its home is not cyclically within (i, j].
      const bool stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
      if (stays) continue;
      table[i] = table[j];
      i = j;
    }
    table[i] = Record{};
    --count;
    if (table.size() > kMinTable && static_cast<double>(count) < kMinLoad * static_cast<double>(table.size())) {
      rehash(std::max<std::size_t>(kMinTable, static_cast<std::size_t>(static_cast<double>(count) / 0.6) + 1));
    }
  }

  void rehash(std::size_t new_cap) {
    std::vector<Record> old;
    old.swap(table);
    table.assign(new_cap, Record{});
    for (const Record& r : old) {
      if (r.key == 0) continue;
      std::size_t i = home_of(r.key, new_cap);
      while (table[i].key != 0) i = (i + 1 == new_cap) ? 0 : i + 1;
      table[i] = r;
    }
  }
};

// A growable ring of record keys: one backend's CLOCK order.
class KeyRing {
 public:
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return buf_.size(); }
  void push_back(std::uint64_t k) {
    if (size_ == buf_.size()) regrow(std::max<std::size_t>(64, buf_.size() + buf_.size() / 4 + 1));
    buf_[(head_ + size_) % buf_.size()] = k;
    ++size_;
  }
  std::uint64_t pop_front() {
    const std::uint64_t k = buf_[head_];
    head_ = (head_ + 1) % buf_.size();
    --size_;
    if (buf_.size() > 256 && size_ < buf_.size() / 3) regrow(size_ + size_ / 2 + 64);
    return k;
  }
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < size_; ++i) f(buf_[(head_ + i) % buf_.size()]);
  }
  void clear() {
    std::vector<std::uint64_t>().swap(buf_);
    head_ = size_ = 0;
  }

 private:
  void regrow(std::size_t cap) {
    std::vector<std::uint64_t> next(cap);
    for (std::size_t i = 0; i < size_; ++i) next[i] = buf_[(head_ + i) % buf_.size()];
    buf_.swap(next);
    head_ = 0;
  }
  std::vector<std::uint64_t> buf_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

// key -> pin count, open addressing with backward-shift deletion (one backend's pinned entries).
class PinCounts {
 public:
  std::size_t size() const { return count_; }
  std::size_t capacity() const { return table_.size(); }
  std::uint32_t get(std::uint64_t key) const {
    const Cell* c = find(key);
    return c == nullptr ? 0 : c->count;
  }
  /// +1; returns the new count.
  std::uint32_t increment(std::uint64_t key) {
    if (Cell* c = find(key)) return ++c->count;
    if (static_cast<double>(count_ + 1) > kMaxLoad * static_cast<double>(table_.size())) {
      rehash(std::max<std::size_t>(kMinTable, table_.size() * 2));
    }
    std::size_t i = home_of(key, table_.size());
    while (table_[i].key != 0) i = next(i);
    table_[i] = Cell{key, 1};
    ++count_;
    return 1;
  }
  /// -1 (no-op at 0); returns the new count.
  std::uint32_t decrement(std::uint64_t key) {
    Cell* c = find(key);
    if (c == nullptr) return 0;
    if (--c->count > 0) return c->count;
    std::size_t i = static_cast<std::size_t>(c - table_.data());
    for (std::size_t j = next(i);; j = next(j)) {
      if (table_[j].key == 0) break;
      const std::size_t home = home_of(table_[j].key, table_.size());
      const bool stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
      if (stays) continue;
      table_[i] = table_[j];
      i = j;
    }
    table_[i] = Cell{};
    --count_;
    return 0;
  }
  void clear() {
    std::vector<Cell>().swap(table_);
    count_ = 0;
  }

 private:
  struct Cell {
    std::uint64_t key = 0;
    std::uint32_t count = 0;
  };
  std::size_t next(std::size_t i) const { return i + 1 == table_.size() ? 0 : i + 1; }
  const Cell* find(std::uint64_t key) const { return const_cast<PinCounts*>(this)->find(key); }
  Cell* find(std::uint64_t key) {
    if (table_.empty()) return nullptr;
    for (std::size_t i = home_of(key, table_.size());; i = next(i)) {
      if (table_[i].key == key) return &table_[i];
      if (table_[i].key == 0) return nullptr;
    }
  }
  void rehash(std::size_t cap) {
    std::vector<Cell> old;
    old.swap(table_);
    table_.assign(cap, Cell{});
    for (const Cell& c : old) {
      if (c.key == 0) continue;
      std::size_t i = home_of(c.key, cap);
      while (table_[i].key != 0) i = next(i);
      table_[i] = c;
    }
  }
  std::vector<Cell> table_;
  std::size_t count_ = 0;
};

struct PrefixIndex::Slot {
  std::mutex mutex;
  std::atomic<std::uint64_t> owner{0};  // BackendState::uid of the backend; 0 = free
  KeyRing ring;
  std::uint64_t live = 0;           // entries held (= ring size)
  std::uint64_t capacity = 0;       // configured capacity, entries
  double effective_capacity = 0.0;  // after corrections, entries
  // Pins: entries of requests in flight. pinned_live = entries with a pin count > 0.
  PinCounts pins;
  std::uint64_t pinned_live = 0;
  std::uint32_t generation = 1;  // bumped when the slot is released: stale pin handles are ignored
  std::vector<std::vector<std::uint64_t>> pin_records;  // keys pinned per handle (capacity reused)
  std::vector<std::uint32_t> free_pin_records;
};

namespace {
// Pin handle: slot (12 bits) | slot generation (20 bits) | pin record index + 1 (32 bits).
std::uint64_t make_pin(std::uint32_t slot, std::uint32_t generation, std::uint32_t record) {
  return (std::uint64_t{slot} << 52) | (std::uint64_t{generation & 0xFFFFFu} << 32) | (std::uint64_t{record} + 1);
}
}  // namespace

PrefixIndex::PrefixIndex(PrefixIndexConfig config) : config_(config), id_(next_index_id()) {
  config_.stride = std::max<std::uint32_t>(1, config_.stride);
  config_.tokens_per_block = std::max<std::uint32_t>(1, config_.tokens_per_block);
  const std::uint32_t stripes = std::bit_ceil(std::max<std::uint32_t>(1, config_.stripes));
  config_.stripes = stripes;
  stripe_mask_ = stripes - 1;
  stripes_ = std::make_unique<Stripe[]>(stripes);
  slots_ = std::make_unique<std::atomic<Slot*>[]>(kMaxSlots);
  for (std::uint32_t i = 0; i < kMaxSlots; ++i) slots_[i].store(nullptr, std::memory_order_relaxed);
}

PrefixIndex::~PrefixIndex() = default;

PrefixIndex::Stripe& PrefixIndex::stripe_of(std::uint64_t key) const { return stripes_[key & stripe_mask_]; }

std::uint64_t PrefixIndex::probe(std::uint64_t key) const {
  Stripe& st = stripe_of(key);
  std::lock_guard lock(st.mutex);
  const Record* r = st.find(key);
  return r == nullptr ? 0 : r->mask;
}

std::uint32_t PrefixIndex::find_slot(const BackendState& state) const {
  const std::uint64_t v = state.prefix.index_slot.load(std::memory_order_acquire);
  if (v == 0) return kNoSlot;
  if ((v >> 32) == id_) {
    const auto slot = static_cast<std::uint32_t>(v & 0xffffffffu) - 1;
    const Slot* s = slot < kMaxSlots ? slots_[slot].load(std::memory_order_acquire) : nullptr;
    if (s != nullptr && s->owner.load(std::memory_order_acquire) == state.uid) return slot;
  }
  // The state's field names another index (the same backend state used with two indices) or a slot
  // that was released: look it up the slow way.
  std::lock_guard lock(registry_mutex_);
  const std::uint32_t used = slots_used_.load(std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < used; ++i) {
    const Slot* s = slots_[i].load(std::memory_order_relaxed);
    if (s != nullptr && s->owner.load(std::memory_order_relaxed) == state.uid) return i;
  }
  return kNoSlot;
}

std::uint32_t PrefixIndex::slot_for(const BackendState& state) {
  if (const auto s = find_slot(state); s != kNoSlot) return s;
  std::lock_guard lock(registry_mutex_);
  const std::uint32_t used = slots_used_.load(std::memory_order_relaxed);
  std::uint32_t slot = kNoSlot;
  for (std::uint32_t i = 0; i < used; ++i) {
    const Slot* s = slots_[i].load(std::memory_order_relaxed);
    const std::uint64_t owner = s == nullptr ? 0 : s->owner.load(std::memory_order_relaxed);
    if (owner == state.uid) return i;  // assigned by another thread meanwhile
    if (owner == 0 && slot == kNoSlot) slot = i;
  }
  if (slot == kNoSlot) {
    if (used == kMaxSlots) return kNoSlot;
    slot = used;
    slot_storage_.push_back(std::make_unique<Slot>());
    slots_[slot].store(slot_storage_.back().get(), std::memory_order_release);
    slots_used_.store(used + 1, std::memory_order_relaxed);
  }
  Slot* s = slots_[slot].load(std::memory_order_relaxed);
  {
    std::lock_guard slot_lock(s->mutex);
    s->live = 0;
    s->capacity = 0;
    s->effective_capacity = 0;
    s->owner.store(state.uid, std::memory_order_release);
  }
  auto& field = const_cast<BackendState&>(state).prefix.index_slot;
  std::uint64_t expected = field.load(std::memory_order_relaxed);
  const std::uint64_t mine = (static_cast<std::uint64_t>(id_) << 32) | (slot + 1);
  // Claim the field unless another live index owns it (then find_slot's slow path serves us).
  while ((expected == 0 || (expected >> 32) == id_) &&
         !field.compare_exchange_weak(expected, mine, std::memory_order_release, std::memory_order_relaxed)) {
  }
  return slot;
}

std::uint64_t PrefixIndex::capacity_tokens_for(const Backend& backend) const {
  if (backend.capacity.kv_capacity_tokens && *backend.capacity.kv_capacity_tokens > 0) {
    return *backend.capacity.kv_capacity_tokens;
  }
  const std::uint64_t scraped = backend.state().scraped.kv_capacity_tokens.load(std::memory_order_relaxed);
  if (scraped > 0) return scraped;
  return config_.default_capacity_tokens;
}

std::uint32_t PrefixIndex::cached_tokens(std::uint32_t blocks, std::size_t total_blocks,
                                         std::uint32_t prompt_tokens) const {
  if (prompt_tokens <= 1 || blocks == 0) return 0;
  std::uint64_t tokens = std::uint64_t{blocks} * config_.tokens_per_block;
  if (total_blocks > 0 && total_blocks * config_.tokens_per_block > prompt_tokens) {
    tokens = std::uint64_t{blocks} * prompt_tokens / total_blocks;
  }
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(tokens, prompt_tokens - 1));
}

void PrefixIndex::match_impl(std::span<const std::uint64_t> hashes, std::span<const std::uint64_t> wanted, void* ctx,
                             RunCallback cb) const {
  const std::uint32_t stride = config_.stride;
  const auto n = static_cast<std::uint32_t>(hashes.size() / stride);
  const std::size_t groups = std::min<std::size_t>(wanted.size(), kMaxSlots / 64);
  struct Frame {
    std::uint32_t lo, hi;
    std::uint64_t mask;
  };
  // Each frame splits in two, one of which is processed next: depth <= 2 * log2(n) + 2.
  Frame stack[160];
  for (std::size_t g = 0; g < groups; ++g) {
    if (wanted[g] == 0) continue;
    std::size_t top = 0;
    stack[top++] = Frame{0, n, wanted[g]};
    while (top > 0) {
      const Frame f = stack[--top];
      if (f.mask == 0) continue;
      if (f.lo == f.hi) {
        for (std::uint64_t m = f.mask; m != 0; m &= m - 1) {
          cb(ctx, static_cast<std::uint32_t>(g * 64 + static_cast<std::size_t>(std::countr_zero(m))), f.lo * stride);
        }
        continue;
      }
      // Invariant: every member holds entry lo - 1 (when lo > 0) and none holds entry hi (when hi < n).
      const std::uint32_t mid = f.lo + (f.hi - f.lo) / 2;
      const std::uint64_t held =
          probe(make_key(hashes[static_cast<std::size_t>(mid + 1) * stride - 1], static_cast<std::uint32_t>(g)));
      stack[top++] = Frame{f.lo, mid, f.mask & ~held};
      stack[top++] = Frame{mid + 1, f.hi, f.mask & held};
    }
  }
}

std::uint32_t PrefixIndex::match_one(std::span<const std::uint64_t> hashes, const BackendState& state) const {
  const std::uint32_t slot = find_slot(state);
  if (slot == kNoSlot) return 0;
  std::uint64_t wanted[kMaxSlots / 64] = {};
  wanted[slot / 64] = std::uint64_t{1} << (slot % 64);
  std::uint32_t run = 0;
  match(hashes, std::span<const std::uint64_t>(wanted, slot / 64 + 1),
        [&run](std::uint32_t, std::uint32_t blocks) { run = blocks; });
  return run;
}

std::uint32_t PrefixIndex::first_holder(std::span<const std::uint64_t> hashes, std::size_t block,
                                        std::uint32_t group) const {
  if (block >= hashes.size()) return kNoSlot;
  const std::uint64_t key = make_key(hashes[block], group);
  Stripe& st = stripe_of(key);
  std::lock_guard lock(st.mutex);
  const Record* r = st.find(key);
  if (r == nullptr || (r->mask & (std::uint64_t{1} << (r->creator % 64))) == 0) return kNoSlot;
  return r->creator;
}

bool PrefixIndex::record(std::span<const std::uint64_t> hashes, const Backend& backend, std::uint64_t capacity_tokens) {
  return record_impl(hashes, backend, capacity_tokens, false) != 0;
}

std::uint64_t PrefixIndex::record_pinned(std::span<const std::uint64_t> hashes, const Backend& backend,
                                         std::uint64_t capacity_tokens) {
  return record_impl(hashes, backend, capacity_tokens, true);
}

void PrefixIndex::release(std::uint64_t pin) {
  if (pin == 0) return;
  const auto slot = static_cast<std::uint32_t>(pin >> 52);
  const auto generation = static_cast<std::uint32_t>((pin >> 32) & 0xFFFFFu);
  const auto record_index = static_cast<std::uint32_t>(pin & 0xFFFFFFFFu) - 1;
  if (slot >= kMaxSlots) return;
  Slot* s = slots_[slot].load(std::memory_order_acquire);
  if (s == nullptr) return;
  std::lock_guard slot_lock(s->mutex);
  if ((s->generation & 0xFFFFFu) != generation || record_index >= s->pin_records.size()) return;
  std::vector<std::uint64_t>& keys = s->pin_records[record_index];
  const std::uint64_t bit = std::uint64_t{1} << (slot % 64);
  for (const std::uint64_t key : keys) {
    if (s->pins.decrement(key) == 0) --s->pinned_live;
    // The request's blocks were just used: give them a second chance.
    Stripe& st = stripe_of(key);
    std::lock_guard lock(st.mutex);
    if (Record* r = st.find(key); r != nullptr && (r->mask & bit) != 0) r->ref |= bit;
  }
  keys.clear();
  s->free_pin_records.push_back(record_index);
  if (!config_.deferred_eviction) evict_slot_locked(slot, *s, s->effective_capacity);
}

std::uint64_t PrefixIndex::record_impl(std::span<const std::uint64_t> hashes, const Backend& backend,
                                       std::uint64_t capacity_tokens, bool pin) {
  const BackendState& state = backend.state();
  const std::uint32_t stride = config_.stride;
  const std::size_t n = hashes.size() / stride;
  if (capacity_tokens == 0) capacity_tokens = capacity_tokens_for(backend);
  const std::uint64_t capacity =
      std::max<std::uint64_t>(1, capacity_tokens / (std::uint64_t{config_.tokens_per_block} * stride));
  for (int attempt = 0; attempt < 4; ++attempt) {
    const std::uint32_t slot = slot_for(state);
    if (slot == kNoSlot) return false;
    Slot& s = *slots_[slot].load(std::memory_order_acquire);
    std::lock_guard slot_lock(s.mutex);
    if (s.owner.load(std::memory_order_relaxed) != state.uid) continue;  // released meanwhile: resolve again
    std::vector<std::uint64_t>* pinned = nullptr;
    std::uint64_t handle = 1;  // non-zero: recorded
    if (pin) {
      std::uint32_t record_index;
      if (!s.free_pin_records.empty()) {
        record_index = s.free_pin_records.back();
        s.free_pin_records.pop_back();
      } else {
        record_index = static_cast<std::uint32_t>(s.pin_records.size());
        s.pin_records.emplace_back();
      }
      pinned = &s.pin_records[record_index];
      handle = make_pin(slot, s.generation, record_index);
    }
    if (s.capacity != capacity) {
      s.effective_capacity =
          s.capacity == 0 ? static_cast<double>(capacity)
                          : s.effective_capacity * static_cast<double>(capacity) / static_cast<double>(s.capacity);
      s.capacity = capacity;
    }
    const std::uint32_t group = slot / 64;
    const std::uint64_t bit = std::uint64_t{1} << (slot % 64);
    // Last block first: the head of the chain ends up most recent, so it outlives the tail.
    for (std::size_t j = n; j-- > 0;) {
      const std::uint64_t key = make_key(hashes[(j + 1) * stride - 1], group);
      Stripe& st = stripe_of(key);
      std::lock_guard lock(st.mutex);
      Record* r = st.find(key);
      if (r == nullptr) {
        r = &st.insert_new(key);
        r->creator = slot;
      }
      // New entries start referenced, as in CLOCK proper: they are the most recently used, so the hand
      // must clear everything older before it may take them.
      r->ref |= bit;
      if ((r->mask & bit) == 0) {
        r->mask |= bit;
        s.ring.push_back(key);
        ++s.live;
      }
      if (pinned != nullptr) {
        pinned->push_back(key);
        if (s.pins.increment(key) == 1) ++s.pinned_live;
      }
    }
    if (!config_.deferred_eviction) evict_slot_locked(slot, s, s.effective_capacity);
    return handle;
  }
  return 0;
}

void PrefixIndex::evict_slot_locked(std::uint32_t slot, Slot& s, double limit) {
  const std::uint64_t bit = std::uint64_t{1} << (slot % 64);
  // Only unpinned entries can go: stop when everything held is pinned.
  while (static_cast<double>(s.live) > limit && s.live > s.pinned_live && !s.ring.empty()) {
    const std::uint64_t key = s.ring.pop_front();
    if (s.pinned_live > 0 && s.pins.get(key) > 0) {
      s.ring.push_back(key);  // in use by a request in flight
      continue;
    }
    Stripe& st = stripe_of(key);
    std::unique_lock lock(st.mutex);
    Record* r = st.find(key);
    if (r == nullptr || (r->mask & bit) == 0) continue;  // not held (cannot happen; be safe)
    if ((r->ref & bit) != 0) {
      r->ref &= ~bit;  // second chance
      lock.unlock();
      s.ring.push_back(key);
      continue;
    }
    r->mask &= ~bit;
    if (r->mask == 0) st.erase(r);
    --s.live;
  }
}

void PrefixIndex::report(const BackendState& state, std::uint32_t predicted_blocks, std::uint32_t actual_blocks) {
  const std::uint32_t slot = find_slot(state);
  if (slot == kNoSlot) return;
  Slot& s = *slots_[slot].load(std::memory_order_acquire);
  std::lock_guard lock(s.mutex);
  if (s.owner.load(std::memory_order_relaxed) != state.uid || s.capacity == 0) return;
  const double cap = static_cast<double>(s.capacity);
  // Engines count only whole 16-token blocks and always recompute the last one, and the index works
  // in strides: small shortfalls are rounding, not evidence.
  const std::uint32_t tolerance = std::max(2 * config_.stride * 1u, predicted_blocks / 8);
  if (actual_blocks + tolerance < predicted_blocks) {
    s.effective_capacity =
        std::max(config_.min_capacity_fraction * cap, s.effective_capacity * (1.0 - config_.shrink_step));
  } else {
    s.effective_capacity = std::min(cap, s.effective_capacity + config_.recover_step * cap);
  }
  if (!config_.deferred_eviction) evict_slot_locked(slot, s, s.effective_capacity);
}

void PrefixIndex::evict() {
  const std::uint32_t used = slots_used_.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < used; ++i) {
    Slot* s = slots_[i].load(std::memory_order_acquire);
    if (s == nullptr) continue;
    std::lock_guard lock(s->mutex);
    if (s->owner.load(std::memory_order_relaxed) == 0) continue;
    evict_slot_locked(i, *s, s->effective_capacity);
  }
}

void PrefixIndex::retain(const BackendSet& set) {
  std::lock_guard registry(registry_mutex_);
  const std::uint32_t used = slots_used_.load(std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < used; ++i) {
    Slot* s = slots_[i].load(std::memory_order_relaxed);
    if (s == nullptr) continue;
    const std::uint64_t owner = s->owner.load(std::memory_order_relaxed);
    if (owner == 0) continue;
    bool present = false;
    for (const Backend& b : set.backends()) present = present || b.state().uid == owner;
    if (present) continue;
    std::lock_guard lock(s->mutex);
    const std::uint64_t bit = std::uint64_t{1} << (i % 64);
    s->ring.for_each([&](std::uint64_t key) {
      Stripe& st = stripe_of(key);
      std::lock_guard stripe_lock(st.mutex);
      if (Record* r = st.find(key)) {
        r->mask &= ~bit;
        r->ref &= ~bit;
        if (r->mask == 0) st.erase(r);
      }
    });
    s->ring.clear();
    s->live = 0;
    s->pins.clear();
    s->pinned_live = 0;
    s->pin_records.clear();
    s->free_pin_records.clear();
    ++s->generation;
    s->capacity = 0;
    s->effective_capacity = 0;
    s->owner.store(0, std::memory_order_release);
  }
}

PrefixIndexStats PrefixIndex::stats() const {
  PrefixIndexStats out;
  for (std::uint32_t i = 0; i <= stripe_mask_; ++i) {
    Stripe& st = stripes_[i];
    std::lock_guard lock(st.mutex);
    out.blocks += st.count;
    out.bytes += st.table.capacity() * sizeof(Record);
  }
  const std::uint32_t used = slots_used_.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < used; ++i) {
    Slot* s = slots_[i].load(std::memory_order_acquire);
    if (s == nullptr) continue;
    std::lock_guard lock(s->mutex);
    out.entries += s->live;
    out.bytes += s->ring.capacity() * sizeof(std::uint64_t) + sizeof(Slot) + s->pins.capacity() * 16;
    for (const auto& keys : s->pin_records) out.bytes += keys.capacity() * sizeof(std::uint64_t);
    if (s->owner.load(std::memory_order_relaxed) != 0) ++out.backends;
  }
  out.bytes += (std::uint64_t{stripe_mask_} + 1) * sizeof(Stripe) + kMaxSlots * sizeof(std::atomic<Slot*>);
  return out;
}

PrefixIndexBackendStats PrefixIndex::backend_stats(const BackendState& state) const {
  PrefixIndexBackendStats out;
  const std::uint32_t slot = find_slot(state);
  if (slot == kNoSlot) return out;
  Slot& s = *slots_[slot].load(std::memory_order_acquire);
  std::lock_guard lock(s.mutex);
  out.entries = s.live;
  out.pinned_entries = s.pinned_live;
  out.capacity_entries = s.capacity;
  out.effective_capacity_entries = s.effective_capacity;
  return out;
}

}  // namespace kvroute::routing
