// pick() for every built-in policy at 8, 64 and 512 backends, with realistic shared state: random
// in-flight counts, TTFT estimates, one ejected backend; consistent hashing with random keys.
// BM_RequestCycle adds the shared accounting a request performs (DispatchAccounting), also with
// several threads hammering the same BackendState atomics.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "common/random.h"
#include "common/time_source.h"
#include "routing/dispatch_accounting.h"
#include "routing/policy_registry.h"

namespace kvroute::routing {
namespace {

struct Case {
  std::string label;
  std::string policy;
  PolicyParams params;
  bool weighted_set;
  bool keyed;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"round_robin", "round_robin", {}, false, false},
      {"weighted_round_robin", "weighted_round_robin", {}, true, false},
      {"random", "random", {}, false, false},
      {"random_weighted", "random", {{"weighted", "true"}}, true, false},
      {"least_request", "least_request", {}, false, false},
      {"least_request_weighted", "least_request", {}, true, false},
      {"least_request_full_scan", "least_request", {{"selection", "full_scan"}}, false, false},
      {"power_of_two", "power_of_two", {}, false, false},
      {"consistent_hash", "consistent_hash", {}, false, true},
      {"consistent_hash_unbounded", "consistent_hash", {{"balance_factor", "0"}}, false, true},
      {"consistent_hash_keyless", "consistent_hash", {}, false, false},
      {"ewma", "ewma", {}, false, false},
  };
  return all;
}

const PolicyRegistry& registry() {
  static const PolicyRegistry r = PolicyRegistry::with_builtin_policies();
  return r;
}

BackendSetPtr make_fleet(std::uint32_t n, bool weighted, SeededRandom& random) {
  std::vector<BackendSpec> specs(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    specs[i].url = "http://10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":8000";
    specs[i].weight = weighted ? 1 + i % 4 : 1;
  }
  auto set = std::move(*BackendSet::build(std::move(specs)));
  for (std::uint32_t i = 0; i < n; ++i) {
    BackendState& s = (*set)[i].state();
    s.accounting.in_flight.store(static_cast<std::int64_t>(random.uniform(10)));
    s.estimates.ttft.observe(static_cast<double>(50 + random.uniform(500)) * kNanosPerMilli, 0, 10 * kNanosPerSecond);
  }
  (*set)[n / 2].state().set_health_flag(kEjected, true);
  return set;
}

void BM_Pick(benchmark::State& state, const Case& c) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  SeededRandom random(42);
  const auto set = make_fleet(n, c.weighted_set, random);
  auto factory = *registry().create(c.policy, c.params);
  factory->prepare(*set);
  auto policy = factory->create();
  VirtualClock clock(kNanosPerSecond);
  std::vector<std::uint64_t> keys(4096);
  for (auto& k : keys) k = random.next_u64();
  RequestFeatures features;
  std::size_t next_key = 0;
  for (auto _ : state) {
    if (c.keyed) features.routing_key = RoutingKey::of(keys[next_key++ & 4095]);
    PickContext ctx{clock, random, {}};
    benchmark::DoNotOptimize(policy->pick(features, *set, ctx));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RequestCycle(benchmark::State& state, const Case& c) {
  static BackendSetPtr shared_set;  // one fleet for all threads: contention on the same atomics
  const auto n = static_cast<std::uint32_t>(state.range(0));
  if (state.thread_index() == 0) {
    SeededRandom seed_random(7);
    shared_set = make_fleet(n, c.weighted_set, seed_random);
  }
  SeededRandom random(derive_seed(99, static_cast<std::uint64_t>(state.thread_index())));
  auto factory = *registry().create(c.policy, c.params);
  auto policy = factory->create();
  const DispatchAccounting accounting(factory->estimator_config());
  VirtualClock clock(kNanosPerSecond);
  RequestFeatures features;
  features.prompt_tokens = 512;
  for (auto _ : state) {
    const BackendSetPtr set = shared_set;
    PickContext ctx{clock, random, {}};
    const auto b = policy->pick(features, *set, ctx);
    auto ticket = accounting.dispatch(set, *b, features, clock.now(), policy.get());
    accounting.first_token(ticket, clock.now() + 80 * kNanosPerMilli, policy.get());
    accounting.complete(ticket, Outcome::kOk, 100, clock.now() + 900 * kNanosPerMilli, policy.get());
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) shared_set.reset();
}

const bool registered = [] {
  for (const Case& c : cases()) {
    benchmark::RegisterBenchmark(("BM_Pick/" + c.label).c_str(), BM_Pick, c)->Arg(8)->Arg(64)->Arg(512);
  }
  for (const Case& c : cases()) {
    if (c.label != "power_of_two" && c.label != "ewma" && c.label != "round_robin") continue;
    benchmark::RegisterBenchmark(("BM_RequestCycle/" + c.label).c_str(), BM_RequestCycle, c)
        ->Arg(64)
        ->Threads(1)
        ->Threads(2)
        ->Threads(4);
  }
  return true;
}();

}  // namespace
}  // namespace kvroute::routing
