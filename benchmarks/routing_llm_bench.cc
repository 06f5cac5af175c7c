// The LLM-aware routing path: prompt features of a 32 KiB prompt, pick() of each LLM-aware policy at
// 8, 64 and 512 backends with warm indexes and realistic shared state, the features + cost pick
// budget (10 us median at 64 backends), the prefix index's lookup, record cost and memory per
// tracked block.
//
// State: a fleet whose backends were sent 4 prompts each of 32 KiB (512 blocks), built from 16 shared
// 8 KiB heads (system prompts) and unique tails, half of them still in flight, with learned prefill
// rates and fresh scraped metrics. Picks use prompts from the same heads with new tails.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "common/random.h"
#include "common/time_source.h"
#include "routing/dispatch_accounting.h"
#include "routing/policy_registry.h"
#include "routing/prefix_index.h"
#include "routing/prompt_features.h"

namespace kvroute::routing {
namespace {

constexpr std::size_t kPromptBytes = 32 * 1024;
constexpr std::size_t kHeadBytes = 8 * 1024;
constexpr int kHeads = 16;

const PolicyRegistry& registry() {
  static const PolicyRegistry r = PolicyRegistry::with_builtin_policies();
  return r;
}

std::string text(std::size_t bytes, SeededRandom& random) {
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,";
  std::string s(bytes, ' ');
  for (auto& c : s) c = kAlphabet[random.uniform(sizeof(kAlphabet) - 1)];
  return s;
}

/// Prompts of kPromptBytes: one of kHeads heads, then a unique tail.
struct PromptPool {
  explicit PromptPool(std::size_t n, std::uint64_t seed) {
    SeededRandom random(seed);
    SeededRandom head_random(12345);  // the same heads in every pool
    std::vector<std::string> heads;
    for (int i = 0; i < kHeads; ++i) heads.push_back(text(kHeadBytes, head_random));
    for (std::size_t i = 0; i < n; ++i) {
      prompts.push_back(heads[random.uniform(kHeads)] + text(kPromptBytes - kHeadBytes, random));
    }
  }
  std::vector<std::string> prompts;
};

struct Hashed {
  std::vector<std::uint64_t> hashes;
  std::uint32_t tokens = 0;
};

Hashed hash(const std::string& prompt) {
  PromptFeatureBuilder b;
  b.reset("meta-llama/Llama-3.1-8B-Instruct");
  b.append(prompt);
  return {std::vector<std::uint64_t>(b.block_hashes().begin(), b.block_hashes().end()), b.estimated_tokens()};
}

/// A fleet of n backends behind one policy factory, warmed with dispatches.
struct Fleet {
  Fleet(const std::string& policy_name, std::uint32_t n) {
    std::vector<BackendSpec> specs(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      specs[i].url = "http://10.2." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":8000";
      specs[i].capacity.kv_capacity_tokens = 440'000;
    }
    set = std::move(*BackendSet::build(std::move(specs)));
    factory = *registry().create(policy_name);
    factory->prepare(*set);
    this->policy = factory->create();
    accounting = std::make_unique<DispatchAccounting>(factory->estimator_config());
    SeededRandom random(7);
    const PromptPool pool(64, 99);
    std::vector<Hashed> warm;
    for (const auto& p : pool.prompts) warm.push_back(hash(p));
    for (std::uint32_t i = 0; i < n; ++i) {
      BackendState& s = (*set)[i].state();
      s.scraped.scraped_at.store(0);
      s.scraped.kv_usage.store(0.1 + 0.5 * random.uniform01());
      s.scraped.num_waiting.store(static_cast<std::uint32_t>(random.uniform(4)));
      s.scraped.kv_capacity_tokens.store(440'000);
      s.estimates.prefill_rate_work.store(40000.0 * (1 + random.uniform(4)));
      s.estimates.prefill_rate_seconds.store(1.0 + random.uniform(4));
      s.estimates.prefill_rate_at.store(0);
      for (int k = 0; k < 4; ++k) {
        const Hashed& h = warm[random.uniform(warm.size())];
        RequestFeatures f;
        f.block_hashes = h.hashes;
        f.prompt_tokens = h.tokens;
        auto t = accounting->dispatch(set, i, f, 0, this->policy.get());
        if (k % 2 == 0) {
          accounting->complete(t, Outcome::kOk, 100, 0, this->policy.get());
        } else {
          tickets.push_back(std::move(t));
        }
      }
    }
  }
  BackendSetPtr set;
  PolicyFactoryPtr factory;
  std::unique_ptr<Policy> policy;
  std::unique_ptr<DispatchAccounting> accounting;
  std::vector<DispatchTicket> tickets;
};

const std::vector<std::string>& llm_policies() {
  static const std::vector<std::string> all = {"prefix", "kv_aware", "sglang_cache_aware", "llmd_default", "cost"};
  return all;
}

void BM_Features32KiB(benchmark::State& state) {
  const PromptPool pool(16, 1);
  PromptFeatureBuilder builder;
  std::size_t i = 0;
  for (auto _ : state) {
    builder.reset("meta-llama/Llama-3.1-8B-Instruct");
    builder.append(pool.prompts[i++ % pool.prompts.size()]);
    benchmark::DoNotOptimize(builder.block_hashes().data());
    benchmark::DoNotOptimize(builder.estimated_tokens());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kPromptBytes));
}

void BM_Pick(benchmark::State& state, const std::string& policy) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  Fleet fleet(policy, n);
  const PromptPool pool(64, 2);
  std::vector<Hashed> asks;
  for (const auto& p : pool.prompts) asks.push_back(hash(p));
  SeededRandom random(3);
  VirtualClock clock(kNanosPerMilli);
  std::size_t i = 0;
  for (auto _ : state) {
    const Hashed& h = asks[i++ % asks.size()];
    RequestFeatures f;
    f.model = "meta-llama/Llama-3.1-8B-Instruct";
    f.block_hashes = h.hashes;
    f.prompt_tokens = h.tokens;
    PickContext ctx{clock, random, {}};
    benchmark::DoNotOptimize(fleet.policy->pick(f, *fleet.set, ctx));
  }
  state.SetItemsProcessed(state.iterations());
}

/// What a request costs the gateway before it is sent: prompt features of 32 KiB, then cost's pick.
void BM_FeaturesAndCostPick(benchmark::State& state) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  Fleet fleet("cost", n);
  const PromptPool pool(16, 4);
  PromptFeatureBuilder builder;
  SeededRandom random(5);
  VirtualClock clock(kNanosPerMilli);
  std::size_t i = 0;
  for (auto _ : state) {
    builder.reset("meta-llama/Llama-3.1-8B-Instruct");
    builder.append(pool.prompts[i++ % pool.prompts.size()]);
    RequestFeatures f;
    f.model = "meta-llama/Llama-3.1-8B-Instruct";
    f.block_hashes = builder.block_hashes();
    f.prompt_tokens = builder.estimated_tokens();
    PickContext ctx{clock, random, {}};
    benchmark::DoNotOptimize(fleet.policy->pick(f, *fleet.set, ctx));
  }
  state.SetItemsProcessed(state.iterations());
}

/// Dispatch and completion through the accounting with cost's index (match, record pinned, release).
void BM_CostDispatchCycle(benchmark::State& state) {
  Fleet fleet("cost", 64);
  const PromptPool pool(64, 6);
  std::vector<Hashed> asks;
  for (const auto& p : pool.prompts) asks.push_back(hash(p));
  SeededRandom random(8);
  std::size_t i = 0;
  for (auto _ : state) {
    const Hashed& h = asks[i++ % asks.size()];
    RequestFeatures f;
    f.block_hashes = h.hashes;
    f.prompt_tokens = h.tokens;
    auto t = fleet.accounting->dispatch(fleet.set, static_cast<std::uint32_t>(random.uniform(64)), f, 0, nullptr);
    fleet.accounting->first_token(t, kNanosPerMilli, nullptr);
    fleet.accounting->complete(t, Outcome::kOk, 10, 2 * kNanosPerMilli, nullptr);
  }
  state.SetItemsProcessed(state.iterations());
}

/// One lookup over every backend for a 32 KiB prompt.
void BM_PrefixIndexMatch(benchmark::State& state) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  Fleet fleet("cost", n);
  const auto index = fleet.factory->estimator_config().prefix_index;
  const Hashed h = hash(PromptPool(1, 9).prompts[0]);
  std::vector<std::uint64_t> wanted(PrefixIndex::kMaxSlots / 64, 0);
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto slot = index->find_slot((*fleet.set)[i].state());
    if (slot != PrefixIndex::kNoSlot) wanted[slot / 64] |= std::uint64_t{1} << (slot % 64);
  }
  for (auto _ : state) {
    std::uint32_t sum = 0;
    index->match(h.hashes, wanted, [&sum](std::uint32_t, std::uint32_t blocks) { sum += blocks; });
    benchmark::DoNotOptimize(sum);
  }
}

/// Memory per tracked (backend, block) entry with every backend's index at its capacity: 8 backends
/// of 440k tokens (6875 entries each at the default stride of 4 blocks), filled with 32 KiB prompts
/// sharing 16 heads. Reported as counters; the loop body only reads the stats.
void BM_PrefixIndexMemory(benchmark::State& state) {
  std::vector<BackendSpec> specs(8);
  for (std::uint32_t i = 0; i < 8; ++i) {
    specs[i].url = "http://m" + std::to_string(i);
    specs[i].capacity.kv_capacity_tokens = 440'000;
  }
  auto set = std::move(*BackendSet::build(std::move(specs)));
  PrefixIndex index;
  const PromptPool pool(600, 10);
  SeededRandom random(11);
  for (const auto& p : pool.prompts) index.record(hash(p).hashes, (*set)[random.uniform(8)]);
  PrefixIndexStats s;
  for (auto _ : state) {
    s = index.stats();
    benchmark::DoNotOptimize(s);
  }
  state.counters["entries"] = static_cast<double>(s.entries);
  state.counters["blocks"] = static_cast<double>(s.blocks);
  state.counters["bytes"] = static_cast<double>(s.bytes);
  state.counters["bytes_per_entry"] = s.bytes_per_entry();
}

const bool registered = [] {
  benchmark::RegisterBenchmark("BM_Features32KiB", BM_Features32KiB);
  for (const auto& p : llm_policies()) {
    benchmark::RegisterBenchmark(("BM_Pick/" + p).c_str(), BM_Pick, p)->Arg(8)->Arg(64)->Arg(512);
  }
  benchmark::RegisterBenchmark("BM_FeaturesAndCostPick", BM_FeaturesAndCostPick)
      ->Arg(64)
      ->Repetitions(5)
      ->ReportAggregatesOnly(true);
  benchmark::RegisterBenchmark("BM_CostDispatchCycle", BM_CostDispatchCycle);
  benchmark::RegisterBenchmark("BM_PrefixIndexMatch", BM_PrefixIndexMatch)->Arg(8)->Arg(64)->Arg(512);
  benchmark::RegisterBenchmark("BM_PrefixIndexMemory", BM_PrefixIndexMemory)->Iterations(10);
  return true;
}();

}  // namespace
}  // namespace kvroute::routing
