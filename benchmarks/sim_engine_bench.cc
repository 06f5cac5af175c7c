// Throughput of the simulated engine in virtual time: how many requests per second of wall clock
// one engine can replay. The offline evaluator replays a 12k-request trace (mean prompt ~12k
// tokens, ~750 KV blocks per request) on 8 engines for 5 policies and must finish in under 60 s
// on one core, i.e. the whole pipeline needs well over 1,000 requests/s; the engine's share
// should be a small fraction of that budget.
//
//   BM_EngineLongPrompts  Mooncake-like: prompts 2k-22k tokens (mean 12k), 40 % of requests
//                         continue one of 200 sessions (sharing its prefix), outputs 1-600 tokens,
//                         Poisson arrivals at about the engine's capacity (KV pressure, preemption).
//   BM_EngineShortPrompts Chat-like: 1k-token prompts, 200-token outputs, arrivals fast enough to
//                         keep ~hundreds of sequences decoding (per-step cost with a big batch).

#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "common/hash.h"
#include "common/random.h"
#include "sim/engine.h"
#include "sim/preset.h"

namespace {

using kvroute::Nanos;
using kvroute::SeededRandom;
using namespace kvroute::sim;

struct Arrival {
  Nanos at;
  EngineRequest request;
};

std::vector<Arrival> long_prompt_workload(std::uint32_t n, double rate_per_s, std::uint64_t seed) {
  SeededRandom rng(seed);
  std::vector<std::vector<std::uint64_t>> sessions(200);
  std::vector<Arrival> out;
  double t = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    t += -std::log(1.0 - rng.uniform01()) / rate_per_s;
    EngineRequest r;
    r.id = i;
    r.prompt_tokens = 2048 + static_cast<std::uint32_t>(rng.uniform(20480));
    r.output_tokens = 1 + static_cast<std::uint32_t>(rng.uniform(600));
    const std::uint32_t blocks = r.prompt_tokens / 16;
    std::uint64_t h = kvroute::hash_combine(seed, i);
    if (rng.uniform(10) < 4) {  // continue a session: share its prefix, then extend it
      auto& s = sessions[rng.uniform(sessions.size())];
      const std::size_t shared = std::min<std::size_t>(s.size(), blocks);
      r.block_hashes.assign(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(shared));
      if (shared > 0) h = r.block_hashes.back();
      for (std::size_t b = shared; b < blocks; ++b) r.block_hashes.push_back(h = kvroute::hash_combine(h, b));
      s = r.block_hashes;
    } else {
      for (std::uint32_t b = 0; b < blocks; ++b) r.block_hashes.push_back(h = kvroute::hash_combine(h, b));
    }
    out.push_back(Arrival{kvroute::seconds_to_nanos(t), std::move(r)});
  }
  return out;
}

std::vector<Arrival> short_prompt_workload(std::uint32_t n, double rate_per_s, std::uint64_t seed) {
  SeededRandom rng(seed);
  std::vector<Arrival> out;
  double t = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    t += -std::log(1.0 - rng.uniform01()) / rate_per_s;
    EngineRequest r;
    r.id = i;
    r.prompt_tokens = 1024;
    r.output_tokens = 200;
    std::uint64_t h = kvroute::hash_combine(seed, i % 50);  // 50 distinct system prompts
    for (std::uint32_t b = 0; b < 64; ++b) r.block_hashes.push_back(h = kvroute::hash_combine(h, b < 16 ? b : b + i));
    out.push_back(Arrival{kvroute::seconds_to_nanos(t), std::move(r)});
  }
  return out;
}

/// Replays the workload; returns the virtual time at which the engine went idle.
Nanos replay(Engine& engine, const std::vector<Arrival>& arrivals) {
  Nanos now = 0;
  std::size_t next = 0;
  while (next < arrivals.size() || !engine.idle()) {
    while (next < arrivals.size() && arrivals[next].at <= now) engine.add_request(arrivals[next++].request);
    const auto end = engine.step(now);
    now = end ? *end : arrivals[next].at;
  }
  return now;
}

void run(benchmark::State& state, const Preset& preset, const std::vector<Arrival>& workload) {
  EngineStats stats;
  Nanos virtual_end = 0;
  for (auto _ : state) {
    Engine engine(EngineConfig{preset});
    virtual_end = replay(engine, workload);
    stats = engine.stats();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * workload.size()));
  state.counters["steps_per_req"] = static_cast<double>(stats.steps) / static_cast<double>(workload.size());
  state.counters["hit_rate"] = static_cast<double>(stats.prefix_cache_hits) /
                               static_cast<double>(std::max<std::uint64_t>(1, stats.prefix_cache_queries));
  state.counters["preemptions"] = static_cast<double>(stats.num_preemptions);
  state.counters["virtual_s"] = kvroute::nanos_to_seconds(virtual_end);
}

void BM_EngineLongPrompts(benchmark::State& state) {
  static const auto workload = long_prompt_workload(1500, 3.0, 1);
  run(state, *find_preset("L8B-H100"), workload);
}
BENCHMARK(BM_EngineLongPrompts)->Unit(benchmark::kMillisecond);

void BM_EngineShortPrompts(benchmark::State& state) {
  static const auto workload = short_prompt_workload(20000, 60.0, 2);
  run(state, *find_preset("L8B-H100"), workload);
}
BENCHMARK(BM_EngineShortPrompts)->Unit(benchmark::kMillisecond);

}  // namespace
