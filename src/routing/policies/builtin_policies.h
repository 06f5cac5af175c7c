#pragma once
// Descriptors of the built-in policies, one per file in this folder. A new policy adds its file,
// a line here and a line in PolicyRegistry::with_builtin_policies().

#include "routing/policy_registry.h"

namespace kvroute::routing {

PolicyDescriptor round_robin_policy();
PolicyDescriptor weighted_round_robin_policy();
PolicyDescriptor random_policy();
PolicyDescriptor least_request_policy();
PolicyDescriptor power_of_two_policy();
PolicyDescriptor consistent_hash_policy();
PolicyDescriptor ewma_policy();
// LLM-aware policies (docs/routing.md).
PolicyDescriptor prefix_policy();
PolicyDescriptor kv_aware_policy();
PolicyDescriptor sglang_cache_aware_policy();
PolicyDescriptor llmd_default_policy();
PolicyDescriptor cost_policy();

}  // namespace kvroute::routing
