#pragma once
// Everything a worker needs to route a request, as one immutable snapshot: the model router, and per
// pool its backend set (only backends with weight >= 1: weight 0 means drained), the targets to reach
// them, the policy factory, the dispatch accounting, and the pool's timeouts, header rules, routing key
// and retries. Built on the control thread (start-up, later reloads) and published to workers by an
// atomic pointer swap (gateway.h); workers only read it.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "config/model_router.h"
#include "proxy/hold_queue.h"
#include "routing/backend_set.h"
#include "routing/dispatch_accounting.h"
#include "routing/policy_registry.h"
#include "upstream/backend_target.h"

namespace kvroute::proxy {

struct PoolRuntime {
  config::PoolConfig config;                     ///< as configured (timeouts, headers, routing_key, retries, ...)
  routing::BackendSetPtr set;                    ///< the routable backends (weight >= 1), in config order
  std::vector<upstream::BackendTarget> targets;  ///< targets[i] reaches (*set)[i]
  routing::PolicyFactoryPtr factory;
  routing::DispatchAccounting accounting;
  bool any_backend_model_list = false;  ///< some backend serves only listed models
  /// Requests held in this pool's queues, all workers (queue.max_requests); never null. Handed on to
  /// the next snapshot's pool of the same name, so a reload neither forgets nor double-counts them.
  std::shared_ptr<HoldCount> held;
};

struct RoutingSnapshot {
  std::uint64_t generation = 0;  ///< unique per snapshot, increasing
  config::ModelRouter router;
  std::vector<PoolRuntime> pools;
  config::LimitsConfig limits;
  config::ServerConfig server;

  explicit RoutingSnapshot(const config::GatewayConfig& config) : router(config) {}
};

using RoutingSnapshotPtr = std::shared_ptr<const RoutingSnapshot>;

/// Builds a snapshot from a validated config: policies through `registry` (errors located at the
/// policy's name or parameter, FILE:LINE:COL), backend hosts resolved. `previous` (may be null) lends
/// its backends' shared state to backends with the same url, so counts and estimates survive.
/// Control thread; allocates freely.
Result<RoutingSnapshotPtr> build_routing_snapshot(const config::GatewayConfig& config,
                                                  const routing::PolicyRegistry& registry,
                                                  const RoutingSnapshot* previous = nullptr);

/// Checks every pool's policy name and parameters against the registry, reporting every problem,
/// one per line, located like config errors. Pure; any thread.
Result<void> check_policies(const config::GatewayConfig& config, const routing::PolicyRegistry& registry);

}  // namespace kvroute::proxy
