#include "proxy/routing_snapshot.h"

#include <atomic>

namespace kvroute::proxy {
namespace {

std::atomic<std::uint64_t> g_next_generation{1};

Result<routing::PolicyFactoryPtr> make_factory(const config::PoolConfig& pool,
                                               const routing::PolicyRegistry& registry) {
  const auto values = pool.policy.values();
  routing::PolicyParams params(values.begin(), values.end());
  auto factory = registry.create(pool.policy.name, params);
  if (!factory) {
    // The registry names the parameter in its message; locate() puts the error at that parameter's
    // line, or at the policy name's.
    return pool.policy.locate(factory.error());
  }
  return std::move(*factory);
}

}  // namespace

Result<void> check_policies(const config::GatewayConfig& config, const routing::PolicyRegistry& registry) {
  std::string errors;
  for (const auto& pool : config.pools) {
    auto f = make_factory(pool, registry);
    if (!f) {
      if (!errors.empty()) errors += '\n';
      errors += f.error().message;
    }
  }
  if (!errors.empty()) return Error{22, std::move(errors)};
  return {};
}

Result<RoutingSnapshotPtr> build_routing_snapshot(const config::GatewayConfig& config,
                                                  const routing::PolicyRegistry& registry,
                                                  const RoutingSnapshot* previous) {
  auto snap = std::make_shared<RoutingSnapshot>(config);
  snap->generation = g_next_generation.fetch_add(1);
  snap->limits = config.limits;
  snap->server = config.server;
  std::string errors;
  auto fail = [&](const std::string& message) {
    if (!errors.empty()) errors += '\n';
    errors += message;
  };
  for (std::size_t p = 0; p < config.pools.size(); ++p) {
    const config::PoolConfig& pool = config.pools[p];
    PoolRuntime rt;
    rt.config = pool;
    auto factory = make_factory(pool, registry);
    if (!factory) {
      fail(factory.error().message);
      continue;
    }
    rt.factory = std::move(*factory);
    rt.accounting = routing::DispatchAccounting(rt.factory->estimator_config());

    std::vector<routing::BackendSpec> specs;
    for (const auto& b : pool.backends) {
      if (b.weight == 0) continue;  // drained: configured, but not routable
      auto target = upstream::make_backend_target(b);
      if (!target) {
        fail(target.error().message);
        continue;
      }
      routing::BackendSpec spec;
      spec.id = target->name;
      spec.url = b.url;
      spec.weight = b.weight;
      for (const auto& [k, v] : b.labels) spec.labels.emplace_back(k, v);
      spec.capacity.kv_capacity_tokens = b.kv_capacity_tokens;
      spec.capacity.max_concurrency = b.max_concurrency;
      specs.push_back(std::move(spec));
      if (!b.models.empty()) rt.any_backend_model_list = true;
      rt.targets.push_back(std::move(*target));
    }
    const routing::BackendSet* prev_set = nullptr;
    if (previous != nullptr) {
      for (const auto& old : previous->pools) {
        if (old.config.name != pool.name) continue;
        prev_set = old.set.get();
        rt.held = old.held;
      }
    }
    if (!rt.held) rt.held = std::make_shared<HoldCount>();
    auto set = routing::BackendSet::build(std::move(specs), prev_set);
    if (!set) {
      fail("pool " + pool.name + ": " + set.error().message);
      continue;
    }
    rt.set = std::move(*set);
    rt.factory->prepare(*rt.set);
    snap->pools.push_back(std::move(rt));
  }
  if (!errors.empty()) return Error{22, std::move(errors)};
  return RoutingSnapshotPtr(std::move(snap));
}

}  // namespace kvroute::proxy
