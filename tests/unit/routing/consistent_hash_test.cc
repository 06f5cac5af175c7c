#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/hash.h"
#include "routing/dispatch_accounting.h"
#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::make_equal_set;
using testing::make_policy;
using testing::make_set;
using testing::pick_once;
using testing::ScriptedRandom;

RequestFeatures keyed(std::uint64_t key) {
  RequestFeatures f;
  f.routing_key = RoutingKey::of(hash_combine(12345, key));
  return f;
}

const PolicyParams kUnbounded = {{"balance_factor", "0"}};

TEST(ConsistentHashTest, SameKeySameBackendAcrossWorkers) {
  auto set = make_equal_set(8);
  auto worker_a = make_policy("consistent_hash");
  auto worker_b = make_policy("consistent_hash");
  ScriptedRandom r;  // keyed picks draw nothing
  for (std::uint64_t k = 0; k < 2000; ++k) {
    const auto first = pick_once(*worker_a, *set, r, keyed(k));
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(pick_once(*worker_a, *set, r, keyed(k)), first);
    EXPECT_EQ(pick_once(*worker_b, *set, r, keyed(k)), first);
  }
}

TEST(ConsistentHashTest, KeysSpreadInProportionToWeight) {
  auto set = make_set({1, 1, 2, 1, 1, 2, 1, 1});
  auto policy = make_policy("consistent_hash", kUnbounded);
  ScriptedRandom r;
  std::vector<int> counts(8);
  constexpr int kKeys = 100000;
  for (std::uint64_t k = 0; k < kKeys; ++k) ++counts[*pick_once(*policy, *set, r, keyed(k))];
  for (std::uint32_t i = 0; i < 8; ++i) {
    const double share = (*set)[i].weight / 10.0;
    EXPECT_NEAR(counts[i] / double(kKeys), share, share * 0.2) << "backend " << i;
  }
}

TEST(ConsistentHashTest, AddingABackendMovesAboutOneNthOfKeysAllToIt) {
  auto v1 = make_equal_set(10);
  auto v2 = make_equal_set(11);  // same first ten urls plus one
  auto policy = make_policy("consistent_hash", kUnbounded);
  ScriptedRandom r;
  constexpr int kKeys = 100000;
  std::vector<std::uint32_t> before(kKeys);
  for (std::uint64_t k = 0; k < kKeys; ++k) before[k] = *pick_once(*policy, *v1, r, keyed(k));
  int moved = 0;
  for (std::uint64_t k = 0; k < kKeys; ++k) {
    const auto after = *pick_once(*policy, *v2, r, keyed(k));
    if (after != before[k]) {
      ++moved;
      EXPECT_EQ(after, 10u) << "key " << k << " moved between old backends";
    }
  }
  EXPECT_NEAR(moved / double(kKeys), 1.0 / 11, 0.02);
}

TEST(ConsistentHashTest, RemovingABackendMovesOnlyItsKeys) {
  auto v1 = make_equal_set(6);
  std::vector<BackendSpec> specs;
  for (std::uint32_t i : {0u, 1u, 2u, 4u, 5u}) {
    BackendSpec s;
    s.url = testing::url_of(i);
    specs.push_back(s);
  }
  auto v2 = *BackendSet::build(specs, v1.get());
  auto policy = make_policy("consistent_hash", kUnbounded);
  ScriptedRandom r;
  for (std::uint64_t k = 0; k < 20000; ++k) {
    const auto b1 = *pick_once(*policy, *v1, r, keyed(k));
    const auto b2 = *pick_once(*policy, *v2, r, keyed(k));
    if (b1 != 3) {
      EXPECT_EQ((*v2)[b2].url, (*v1)[b1].url);
    }
  }
}

TEST(ConsistentHashTest, UnavailableHomeSendsKeyToTheNextBackendAndBack) {
  auto set = make_equal_set(5);
  auto policy = make_policy("consistent_hash", kUnbounded);
  ScriptedRandom r;
  const auto home = *pick_once(*policy, *set, r, keyed(77));
  const auto retry = *pick_once(*policy, *set, r, keyed(77), {home});
  EXPECT_NE(retry, home);
  (*set)[home].state().set_health_flag(kHealthCheckFailed, true);
  EXPECT_EQ(*pick_once(*policy, *set, r, keyed(77)), retry);  // the same successor as the retry
  (*set)[home].state().set_health_flag(kHealthCheckFailed, false);
  EXPECT_EQ(*pick_once(*policy, *set, r, keyed(77)), home);
}

TEST(ConsistentHashTest, RequestsWithoutAKeyGoRoundRobin) {
  auto set = make_equal_set(3);
  auto policy = make_policy("consistent_hash");
  ScriptedRandom r;
  r.then(1, 3);
  std::vector<std::uint32_t> got;
  for (int i = 0; i < 6; ++i) got.push_back(*pick_once(*policy, *set, r));
  EXPECT_EQ(got, (std::vector<std::uint32_t>{1, 2, 0, 1, 2, 0}));
}

TEST(ConsistentHashTest, BoundedLoadMovesAHotKeyOffItsHome) {
  auto set = make_equal_set(4);
  auto policy = make_policy("consistent_hash");  // c = 1.25
  ScriptedRandom r;
  const auto home = *pick_once(*policy, *set, r, keyed(5));
  // Home holds 2 of 2 in flight: its cap is ceil(1.25 * 3 / 4) = 1, so the key must go elsewhere.
  (*set)[home].state().accounting.in_flight.store(2);
  const auto moved = *pick_once(*policy, *set, r, keyed(5));
  EXPECT_NE(moved, home);
  (*set)[home].state().accounting.in_flight.store(0);
  EXPECT_EQ(*pick_once(*policy, *set, r, keyed(5)), home);
}

void expect_bound_holds(const std::vector<std::uint32_t>& weights, double c, std::uint64_t seed) {
  auto set = make_set(weights);
  auto policy = make_policy("consistent_hash", {{"balance_factor", std::to_string(c)}});
  const DispatchAccounting acc;
  SeededRandom r(seed);
  std::vector<DispatchTicket> running;
  double total_weight = 0;
  for (auto w : weights) total_weight += w;
  for (int i = 0; i < 100000; ++i) {
    // A skewed key population: half the requests carry one of three hot keys.
    const std::uint64_t key = r.uniform(2) == 0 ? r.uniform(3) : 1000 + r.uniform(100000);
    const auto b = *pick_once(*policy, *set, r, keyed(key));
    std::int64_t total = 0;
    for (const auto& be : set->backends()) total += be.state().in_flight();
    // Bound checked before dispatch: the pick must fit under ceil(c * (T + 1) * w / W).
    const double cap = std::ceil(c * static_cast<double>(total + 1) * (*set)[b].weight / total_weight - 1e-9);
    ASSERT_LE(static_cast<double>((*set)[b].state().in_flight() + 1), cap) << "pick " << i;
    running.push_back(acc.dispatch(set, b, {}, 0, nullptr));
    // Keep between 1 and ~200 requests in flight, completing random ones.
    while (running.size() > 1 + r.uniform(200)) {
      const auto k = r.uniform(running.size());
      acc.complete(running[k], Outcome::kOk, 1, 0, nullptr);
      running[k] = std::move(running.back());
      running.pop_back();
    }
  }
}

TEST(ConsistentHashTest, BoundedLoadIsNeverExceeded) { expect_bound_holds({1, 1, 1, 1, 1, 1, 1, 1}, 1.25, 21); }
TEST(ConsistentHashTest, BoundedLoadIsNeverExceededWithWeights) { expect_bound_holds({1, 3, 2, 1, 1}, 1.25, 22); }
TEST(ConsistentHashTest, TightBoundIsNeverExceeded) { expect_bound_holds({1, 1, 1, 1, 1, 1}, 1.0, 23); }

TEST(ConsistentHashTest, PreparedRingIsSharedByWorkers) {
  static const PolicyRegistry registry = PolicyRegistry::with_builtin_policies();
  auto factory = *registry.create("consistent_hash");
  auto set = make_equal_set(16);
  factory->prepare(*set);
  auto a = factory->create();
  auto b = factory->create();
  ScriptedRandom r;
  for (std::uint64_t k = 0; k < 100; ++k) {
    EXPECT_EQ(pick_once(*a, *set, r, keyed(k)), pick_once(*b, *set, r, keyed(k)));
  }
}

}  // namespace
}  // namespace kvroute::routing
