#pragma once
// Test doubles and builders shared by the routing tests.

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/random.h"
#include "common/time_source.h"
#include "routing/backend_set.h"
#include "routing/policy.h"
#include "routing/policy_registry.h"

namespace kvroute::routing::testing {

/// A Random that returns a scripted sequence, so a test can force every draw a policy makes.
/// Running out of script is a test failure (the policy drew more often than the test expected).
class ScriptedRandom final : public Random {
 public:
  std::uint64_t next_u64() override {
    if (script_.empty()) {
      ADD_FAILURE() << "ScriptedRandom: script exhausted";
      return 0;
    }
    const auto v = script_.front();
    script_.pop_front();
    return v;
  }
  /// Makes the next uniform(n) return k (k < n).
  ScriptedRandom& then(std::uint64_t k, std::uint64_t n) {
    __extension__ using u128 = unsigned __int128;
    script_.push_back(static_cast<std::uint64_t>(((static_cast<u128>(k) << 64) + n - 1) / n));
    return *this;
  }
  std::size_t remaining() const { return script_.size(); }

 private:
  std::deque<std::uint64_t> script_;
};

inline std::string url_of(std::uint32_t i) { return "http://10.0.0." + std::to_string(i) + ":8000"; }

/// A snapshot with one backend per weight, urls url_of(0..n-1).
inline BackendSetPtr make_set(const std::vector<std::uint32_t>& weights, const BackendSet* previous = nullptr) {
  std::vector<BackendSpec> specs;
  for (std::uint32_t i = 0; i < weights.size(); ++i) {
    BackendSpec s;
    s.url = url_of(i);
    s.weight = weights[i];
    specs.push_back(std::move(s));
  }
  auto set = BackendSet::build(std::move(specs), previous);
  EXPECT_TRUE(set.ok()) << (set.ok() ? "" : set.error().message);
  return std::move(set).value();
}

inline BackendSetPtr make_equal_set(std::uint32_t n) { return make_set(std::vector<std::uint32_t>(n, 1)); }

inline void set_in_flight(const BackendSet& set, const std::vector<std::int64_t>& loads) {
  for (std::uint32_t i = 0; i < loads.size(); ++i) set[i].state().accounting.in_flight.store(loads[i]);
}

/// A policy instance built through the registry (so every test also exercises the registry).
inline std::unique_ptr<Policy> make_policy(const std::string& name, const PolicyParams& params = {}) {
  static const PolicyRegistry registry = PolicyRegistry::with_builtin_policies();
  auto factory = registry.create(name, params);
  EXPECT_TRUE(factory.ok()) << (factory.ok() ? "" : factory.error().message);
  return (*factory)->create();
}

/// Calls pick with a fresh context over `random` and `excluded`.
inline std::optional<std::uint32_t> pick_once(Policy& policy, const BackendSet& set, Random& random,
                                              const RequestFeatures& features = {},
                                              std::vector<std::uint32_t> excluded = {},
                                              const TimeSource* clock = nullptr) {
  static const VirtualClock kEpoch(0);
  PickContext ctx{clock != nullptr ? *clock : kEpoch, random, excluded};
  return policy.pick(features, set, ctx);
}

/// One configuration of one policy, for tests that every policy must pass.
struct PolicyCase {
  std::string label;  ///< gtest-safe name
  std::string policy;
  PolicyParams params;
  std::vector<std::uint32_t> weights;  ///< backend weights (size = number of backends)
  bool keyed = false;                  ///< requests carry a routing key
  /// Spreads picks over equal idle backends (false for SGLang's cache_aware, which sends every
  /// request to the first least-loaded worker until loads differ).
  bool spreads = true;
};

inline std::vector<PolicyCase> all_policy_cases(std::uint32_t n) {
  const std::vector<std::uint32_t> equal(n, 1);
  std::vector<std::uint32_t> mixed(n);
  for (std::uint32_t i = 0; i < n; ++i) mixed[i] = 1 + i % 3;
  return {
      {"round_robin", "round_robin", {}, equal, false},
      {"weighted_round_robin", "weighted_round_robin", {}, mixed, false},
      {"random", "random", {}, equal, false},
      {"random_weighted", "random", {{"weighted", "true"}}, mixed, false},
      {"least_request", "least_request", {}, equal, false},
      {"least_request_weighted", "least_request", {}, mixed, false},
      {"least_request_full_scan", "least_request", {{"selection", "full_scan"}}, equal, false},
      {"power_of_two", "power_of_two", {}, equal, false},
      {"consistent_hash", "consistent_hash", {}, mixed, true},
      {"consistent_hash_unbounded", "consistent_hash", {{"balance_factor", "0"}}, equal, true},
      {"consistent_hash_keyless", "consistent_hash", {}, equal, false},
      {"ewma", "ewma", {}, equal, false},
      {"prefix", "prefix", {}, equal, false},
      {"kv_aware", "kv_aware", {}, equal, false},
      {"sglang_cache_aware", "sglang_cache_aware", {}, equal, false, false},
      {"llmd_default", "llmd_default", {}, equal, false},
      {"cost", "cost", {}, equal, false},
  };
}

}  // namespace kvroute::routing::testing
