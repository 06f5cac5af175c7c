#include "proxy/routing_snapshot.h"

#include <gtest/gtest.h>

#include "config/load_config.h"

namespace kvroute::proxy {
namespace {

config::GatewayConfig load(std::string_view yaml) {
  auto c = config::load_config_string(yaml, "test.yaml");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : config::GatewayConfig{};
}

TEST(RoutingSnapshotTest, DrainedBackendsAreNotRoutable) {
  const auto c = load(R"(
pools:
  - name: p
    models: [m]
    policy: round_robin
    backends:
      - {url: "http://127.0.0.1:8001", weight: 0}
      - {url: "http://127.0.0.1:8002", weight: 2, name: b, max_connections: 3}
)");
  const auto registry = routing::PolicyRegistry::with_builtin_policies();
  auto snap = build_routing_snapshot(c, registry);
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  ASSERT_EQ((*snap)->pools.size(), 1u);
  const PoolRuntime& pool = (*snap)->pools[0];
  ASSERT_EQ(pool.set->size(), 1u);
  ASSERT_EQ(pool.targets.size(), 1u);
  EXPECT_EQ((*pool.set)[0].url, "http://127.0.0.1:8002");
  EXPECT_EQ((*pool.set)[0].weight, 2u);
  EXPECT_EQ(pool.targets[0].name, "b");
  EXPECT_EQ(pool.targets[0].max_connections, 3u);
  EXPECT_EQ(pool.factory->name(), "round_robin");
}

TEST(RoutingSnapshotTest, BackendStateCarriesOverByUrl) {
  const auto c = load(R"(
pools:
  - name: p
    models: [m]
    backends: [http://127.0.0.1:8001]
)");
  const auto registry = routing::PolicyRegistry::with_builtin_policies();
  auto first = build_routing_snapshot(c, registry);
  ASSERT_TRUE(first.ok());
  auto second = build_routing_snapshot(c, registry, first->get());
  ASSERT_TRUE(second.ok());
  EXPECT_GT((*second)->generation, (*first)->generation);
  EXPECT_EQ((*(*first)->pools[0].set)[0].shared_state, (*(*second)->pools[0].set)[0].shared_state);
}

TEST(RoutingSnapshotTest, HeldCountCarriesOverByPoolName) {
  const auto c = load(R"(
pools:
  - name: p
    models: [m]
    backends: [http://127.0.0.1:8001]
  - name: q
    models: [n]
    backends: [http://127.0.0.1:8002]
)");
  const auto registry = routing::PolicyRegistry::with_builtin_policies();
  auto first = build_routing_snapshot(c, registry);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->pools[0].held && (*first)->pools[1].held);
  EXPECT_NE((*first)->pools[0].held, (*first)->pools[1].held);
  ASSERT_TRUE((*first)->pools[0].held->try_acquire(10));  // a request held across the reload
  auto second = build_routing_snapshot(c, registry, first->get());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->pools[0].held, (*first)->pools[0].held);
  EXPECT_EQ((*second)->pools[0].held->held(), 1u);
  EXPECT_EQ((*second)->pools[1].held, (*first)->pools[1].held);
}

TEST(RoutingSnapshotTest, PolicyErrorsAreLocatedInTheFile) {
  const auto c = load(R"(pools:
  - name: p
    models: [m]
    policy:
      name: consistent_hash
      params:
        vnodes_per_weight: 0
    backends: [http://127.0.0.1:8001]
  - name: q
    models: [n]
    policy: fastest
    backends: [http://127.0.0.1:8002]
)");
  const auto registry = routing::PolicyRegistry::with_builtin_policies();
  const auto checked = check_policies(c, registry);
  ASSERT_FALSE(checked.ok());
  const std::string& m = checked.error().message;
  EXPECT_NE(m.find("test.yaml:7:"), std::string::npos) << m;
  EXPECT_NE(m.find("vnodes_per_weight"), std::string::npos) << m;
  EXPECT_NE(m.find("test.yaml:11:"), std::string::npos) << m;
  EXPECT_NE(m.find("fastest"), std::string::npos) << m;
  EXPECT_FALSE(build_routing_snapshot(c, registry).ok());
}

}  // namespace
}  // namespace kvroute::proxy
