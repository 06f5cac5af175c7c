#include "routing/prefix_index.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <thread>
#include <vector>

#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::make_equal_set;

/// A chain of n distinct block hashes: `shared` leading hashes from `common`, the rest unique to `seed`.
std::vector<std::uint64_t> chain(std::size_t n, std::uint64_t seed, const std::vector<std::uint64_t>& common = {},
                                 std::size_t shared = 0) {
  std::vector<std::uint64_t> h;
  SeededRandom r(seed);
  for (std::size_t i = 0; i < n; ++i) h.push_back(i < shared ? common[i] : (r.next_u64() | 1));
  return h;
}

PrefixIndexConfig exact(std::uint64_t capacity_entries = 1'000'000) {
  PrefixIndexConfig c;
  c.stride = 1;
  c.tokens_per_block = 16;
  c.default_capacity_tokens = capacity_entries * 16;
  return c;
}

std::map<std::uint32_t, std::uint32_t> runs(const PrefixIndex& index, const std::vector<std::uint64_t>& hashes,
                                            const BackendSet& set) {
  std::vector<std::uint64_t> wanted(PrefixIndex::kMaxSlots / 64, 0);
  std::map<std::uint32_t, std::uint32_t> slot_of_backend;
  for (std::uint32_t i = 0; i < set.size(); ++i) {
    const auto slot = index.find_slot(set[i].state());
    if (slot != PrefixIndex::kNoSlot) wanted[slot / 64] |= std::uint64_t{1} << (slot % 64);
  }
  std::map<std::uint32_t, std::uint32_t> by_slot;
  index.match(hashes, wanted, [&](std::uint32_t slot, std::uint32_t blocks) { by_slot[slot] = blocks; });
  std::map<std::uint32_t, std::uint32_t> out;
  for (std::uint32_t i = 0; i < set.size(); ++i) {
    const auto slot = index.find_slot(set[i].state());
    out[i] = slot == PrefixIndex::kNoSlot ? 0 : by_slot.at(slot);
  }
  return out;
}

TEST(PrefixIndexTest, FindsTheLongestLeadingRunPerBackend) {
  auto set = make_equal_set(3);
  PrefixIndex index(exact());
  const auto a = chain(40, 1);
  const auto b = chain(30, 2, a, 20);  // shares a's first 20 blocks
  ASSERT_TRUE(index.record(a, (*set)[0]));
  ASSERT_TRUE(index.record(b, (*set)[1]));
  const auto r = runs(index, a, *set);
  EXPECT_EQ(r.at(0), 40u);
  EXPECT_EQ(r.at(1), 20u);
  EXPECT_EQ(r.at(2), 0u);
  EXPECT_EQ(index.match_one(a, (*set)[1].state()), 20u);
  EXPECT_EQ(index.match_one(b, (*set)[0].state()), 20u);
  EXPECT_EQ(index.match_one(chain(5, 9), (*set)[0].state()), 0u);
  EXPECT_EQ(index.match_one({}, (*set)[0].state()), 0u);
}

TEST(PrefixIndexTest, EveryRunLengthIsFoundExactly) {
  // 20 backends holding prefixes of one chain of every length from 0 to 95 blocks, step 5.
  auto set = make_equal_set(20);
  PrefixIndex index(exact());
  const auto a = chain(100, 3);
  for (std::uint32_t i = 0; i < 20; ++i) {
    const std::vector<std::uint64_t> prefix(a.begin(), a.begin() + 5 * i);
    index.record(prefix, (*set)[i]);
    index.record(chain(7, 100 + i), (*set)[i]);  // and something unrelated, so every backend has a slot
  }
  const auto r = runs(index, a, *set);
  for (std::uint32_t i = 0; i < 20; ++i) EXPECT_EQ(r.at(i), 5 * i) << i;
}

TEST(PrefixIndexTest, StrideTracksEveryNthBlockAndRoundsDown) {
  auto set = make_equal_set(1);
  PrefixIndexConfig c = exact();
  c.stride = 4;
  PrefixIndex index(c);
  const auto a = chain(10, 4);
  index.record(a, (*set)[0]);
  EXPECT_EQ(index.match_one(a, (*set)[0].state()), 8u);  // entries at blocks 3 and 7
  EXPECT_EQ(index.stats().entries, 2u);
  auto b = a;
  for (std::size_t i = 5; i < b.size(); ++i) b[i] ^= 1;  // differs from block 5 on (a chain): 0-3 match
  EXPECT_EQ(index.match_one(b, (*set)[0].state()), 4u);
}

TEST(PrefixIndexTest, EvictsTheLeastRecentlyRecordedPromptFirst) {
  auto set = make_equal_set(1);
  const Backend& b0 = (*set)[0];
  PrefixIndex index(exact(10));
  const auto a = chain(5, 10), b = chain(5, 11), c = chain(5, 12), d = chain(5, 13);
  index.record(a, b0);
  index.record(b, b0);
  EXPECT_EQ(index.stats().entries, 10u);
  index.record(c, b0);  // over capacity by 5: a, the oldest, goes
  EXPECT_EQ(index.stats().entries, 10u);
  EXPECT_EQ(index.match_one(a, b0.state()), 0u);
  EXPECT_EQ(index.match_one(b, b0.state()), 5u);
  EXPECT_EQ(index.match_one(c, b0.state()), 5u);
  index.record(b, b0);  // b used again: now c is the least recent
  index.record(d, b0);
  EXPECT_EQ(index.match_one(b, b0.state()), 5u);
  EXPECT_EQ(index.match_one(c, b0.state()), 0u);
  EXPECT_EQ(index.match_one(d, b0.state()), 5u);
}

TEST(PrefixIndexTest, EvictsAChainsTailBeforeItsHead) {
  auto set = make_equal_set(1);
  const Backend& b0 = (*set)[0];
  PrefixIndex index(exact(8));
  const auto a = chain(6, 20);
  index.record(a, b0);
  index.record(chain(4, 21), b0);  // 2 over: a's last two blocks go, its head stays usable
  EXPECT_EQ(index.match_one(a, b0.state()), 4u);
}

TEST(PrefixIndexTest, NeverHoldsMoreThanTheBackendsCapacity) {
  auto set = make_equal_set(2);
  // 64 tokens per entry at stride 4: 10,000 tokens = 156 entries.
  std::vector<BackendSpec> specs(2);
  specs[0].url = "http://a";
  specs[0].capacity.kv_capacity_tokens = 10'000;
  specs[1].url = "http://b";  // no hint: scraped size, then the default
  auto hinted = std::move(*BackendSet::build(std::move(specs)));
  PrefixIndexConfig c;
  c.default_capacity_tokens = 6400;  // 100 entries
  PrefixIndex index(c);
  EXPECT_EQ(index.capacity_tokens_for((*hinted)[0]), 10'000u);
  EXPECT_EQ(index.capacity_tokens_for((*hinted)[1]), 6400u);
  (*hinted)[1].state().scraped.kv_capacity_tokens.store(3200);  // 50 entries
  EXPECT_EQ(index.capacity_tokens_for((*hinted)[1]), 3200u);
  for (int i = 0; i < 50; ++i) {
    index.record(chain(40, 1000 + i), (*hinted)[0]);
    index.record(chain(40, 2000 + i), (*hinted)[1]);
    EXPECT_LE(index.backend_stats((*hinted)[0].state()).entries, 156u);
    EXPECT_LE(index.backend_stats((*hinted)[1].state()).entries, 50u);
  }
  EXPECT_EQ(index.backend_stats((*hinted)[0].state()).capacity_entries, 156u);
  EXPECT_EQ(index.backend_stats((*hinted)[0].state()).entries, 156u);
  EXPECT_EQ(index.backend_stats((*hinted)[1].state()).entries, 50u);
}

TEST(PrefixIndexTest, PinnedPromptsAreNotEvictedUntilReleased) {
  auto set = make_equal_set(1);
  const Backend& b0 = (*set)[0];
  PrefixIndex index(exact(5));
  const auto running = chain(5, 30), other = chain(5, 31), later = chain(5, 32);
  const std::uint64_t pin = index.record_pinned(running, b0);
  ASSERT_NE(pin, 0u);
  EXPECT_EQ(index.backend_stats(b0.state()).pinned_entries, 5u);
  index.record(other, b0);  // over capacity, but the running prompt's blocks are in use
  EXPECT_EQ(index.match_one(running, b0.state()), 5u);
  EXPECT_EQ(index.match_one(other, b0.state()), 0u);
  index.release(pin);  // finished: cached, most recently used
  EXPECT_EQ(index.backend_stats(b0.state()).pinned_entries, 0u);
  EXPECT_EQ(index.match_one(running, b0.state()), 5u);
  index.record(later, b0);  // now the released prompt is the oldest: it goes
  EXPECT_EQ(index.match_one(running, b0.state()), 0u);
  EXPECT_EQ(index.match_one(later, b0.state()), 5u);
  index.release(pin);  // a second release of the same handle is harmless
  index.release(0);
}

TEST(PrefixIndexTest, SharedPinsCountPerRequest) {
  auto set = make_equal_set(1);
  const Backend& b0 = (*set)[0];
  PrefixIndex index(exact(4));
  const auto a = chain(4, 40);
  const auto p1 = index.record_pinned(a, b0);
  const auto p2 = index.record_pinned(a, b0);  // two requests share the prompt
  index.release(p1);
  index.record(chain(4, 41), b0);  // still pinned by the second request
  EXPECT_EQ(index.match_one(a, b0.state()), 4u);
  index.release(p2);
  index.record(chain(4, 42), b0);
  index.record(chain(4, 43), b0);
  EXPECT_EQ(index.match_one(a, b0.state()), 0u);
}

TEST(PrefixIndexTest, OverPredictionsShrinkTheEffectiveCapacityAndAccurateReportsRestoreIt) {
  auto set = make_equal_set(1);
  const Backend& b0 = (*set)[0];
  PrefixIndex index(exact(1000));
  index.record(chain(200, 50), b0);
  EXPECT_DOUBLE_EQ(index.backend_stats(b0.state()).effective_capacity_entries, 1000.0);
  index.report(b0.state(), 100, 95);  // within tolerance (max(2 strides, 1/8 of 100) = 12)
  EXPECT_DOUBLE_EQ(index.backend_stats(b0.state()).effective_capacity_entries, 1000.0);
  index.report(b0.state(), 100, 10);  // the backend had far less than predicted
  EXPECT_DOUBLE_EQ(index.backend_stats(b0.state()).effective_capacity_entries, 950.0);
  for (int i = 0; i < 100; ++i) index.report(b0.state(), 100, 0);
  EXPECT_DOUBLE_EQ(index.backend_stats(b0.state()).effective_capacity_entries, 250.0);  // floor: 25 %
  EXPECT_EQ(index.backend_stats(b0.state()).entries, 200u);  // 200 <= 250: nothing to evict yet
  index.report(b0.state(), 100, 100);
  EXPECT_DOUBLE_EQ(index.backend_stats(b0.state()).effective_capacity_entries, 260.0);  // +1 % of 1000
  index.report(b0.state(), 100, 0);  // 260 x 0.95 = 247, below the floor: 250
  EXPECT_DOUBLE_EQ(index.backend_stats(b0.state()).effective_capacity_entries, 250.0);
  index.record(chain(200, 51), b0);  // now the shrunk capacity bounds the index
  EXPECT_EQ(index.backend_stats(b0.state()).entries, 250u);
}

TEST(PrefixIndexTest, BackendsBeyondSixtyFourUseMoreGroups) {
  auto set = make_equal_set(130);
  PrefixIndex index(exact());
  const auto a = chain(50, 60);
  for (std::uint32_t i = 0; i < 130; ++i) index.record(chain(3, 700 + i), (*set)[i]);
  index.record(a, (*set)[129]);
  index.record(std::vector<std::uint64_t>(a.begin(), a.begin() + 17), (*set)[64]);
  index.record(std::vector<std::uint64_t>(a.begin(), a.begin() + 33), (*set)[0]);
  const auto r = runs(index, a, *set);
  EXPECT_EQ(r.at(129), 50u);
  EXPECT_EQ(r.at(64), 17u);
  EXPECT_EQ(r.at(0), 33u);
  EXPECT_EQ(r.at(1), 0u);
  EXPECT_EQ(r.at(128), 0u);
  EXPECT_EQ(index.stats().backends, 130u);
}

TEST(PrefixIndexTest, RetainDropsRemovedBackends) {
  auto set = make_equal_set(3);
  PrefixIndex index(exact());
  const auto a = chain(10, 70);
  for (std::uint32_t i = 0; i < 3; ++i) index.record(a, (*set)[i]);
  const std::uint64_t pin = index.record_pinned(a, (*set)[2]);
  EXPECT_EQ(index.stats().entries, 30u);
  auto smaller = testing::make_set({1, 1}, set.get());  // backend 2 removed
  index.retain(*smaller);
  EXPECT_EQ(index.stats().entries, 20u);
  EXPECT_EQ(index.find_slot((*set)[2].state()), PrefixIndex::kNoSlot);
  EXPECT_EQ(index.match_one(a, (*smaller)[1].state()), 10u);
  index.release(pin);          // a pin of a released slot is ignored
  index.record(a, (*set)[2]);  // a backend that comes back gets a slot again
  EXPECT_EQ(index.match_one(a, (*set)[2].state()), 10u);
}

TEST(PrefixIndexTest, AFreshFleetStartsEmptyEvenWhereStatesReuseAddresses) {
  // An offline evaluator builds fleet after fleet for one factory: new states may be allocated where
  // freed ones were. The index keys backends by BackendState::uid, never by address.
  PrefixIndex index(exact());
  const auto a = chain(20, 95);
  for (int run = 0; run < 20; ++run) {
    auto set = make_equal_set(2);
    index.retain(*set);
    EXPECT_EQ(index.match_one(a, (*set)[0].state()), 0u) << run;
    EXPECT_EQ(index.stats().entries, 0u) << run;
    index.record(a, (*set)[0]);
    EXPECT_EQ(index.match_one(a, (*set)[0].state()), 20u);
  }
}

TEST(PrefixIndexTest, CachedTokensAreWholeBlocksCappedBelowThePrompt) {
  PrefixIndex index(exact());
  EXPECT_EQ(index.cached_tokens(10, 20, 320), 160u);  // 16 tokens per block
  EXPECT_EQ(index.cached_tokens(20, 20, 320), 319u);  // never the whole prompt
  EXPECT_EQ(index.cached_tokens(10, 20, 200), 100u);  // fewer tokens than blocks suggest: scaled
  EXPECT_EQ(index.cached_tokens(0, 20, 320), 0u);
  EXPECT_EQ(index.cached_tokens(3, 20, 1), 0u);
}

TEST(PrefixIndexTest, MemoryPerTrackedBlockStaysUnderSixtyFourBytes) {
  auto set = make_equal_set(8);
  PrefixIndexConfig c;  // stride 4; 440k tokens per backend = 6875 entries
  c.default_capacity_tokens = 440'000;
  PrefixIndex index(c);
  SeededRandom r(5);
  const auto system_prompt = chain(32, 80);
  for (int i = 0; i < 4000; ++i) {
    // Prompts of 1-1500 blocks sharing a 32-block head, as in a chat service.
    const auto n = static_cast<std::size_t>(33 + r.uniform(1500));
    index.record(chain(n, 10'000 + static_cast<std::uint64_t>(i), system_prompt, 32), (*set)[r.uniform(8)]);
  }
  const PrefixIndexStats s = index.stats();
  EXPECT_EQ(s.entries, 8u * 6875u);
  EXPECT_LE(s.bytes_per_entry(), 64.0) << s.bytes << " bytes for " << s.entries << " entries";
}

TEST(PrefixIndexTest, ConcurrentRecordsAndLookupsStayConsistent) {
  auto set = make_equal_set(8);
  PrefixIndexConfig c;
  c.default_capacity_tokens = 50'000;
  PrefixIndex index(c);
  const auto head = chain(64, 90);
  std::atomic<bool> bad{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      SeededRandom r(static_cast<std::uint64_t>(t) + 1);
      for (int i = 0; i < 2000; ++i) {
        const auto a = chain(64 + r.uniform(200), r.next_u64(), head, 64);
        const Backend& b = (*set)[r.uniform(8)];
        const auto pin = index.record_pinned(a, b);
        // Just recorded and pinned: another thread cannot evict it.
        if (index.match_one(a, b.state()) != (a.size() / 4) * 4) bad = true;
        index.release(pin);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(bad);
  for (std::uint32_t i = 0; i < 8; ++i) EXPECT_LE(index.backend_stats((*set)[i].state()).entries, 50'000u / 64);
}

}  // namespace
}  // namespace kvroute::routing
