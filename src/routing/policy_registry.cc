#include "routing/policy_registry.h"

#include <stdexcept>

#include "routing/policies/builtin_policies.h"

namespace kvroute::routing {
namespace {
constexpr int kInvalidArgument = 22;
}  // namespace

PolicyRegistry PolicyRegistry::with_builtin_policies() {
  PolicyRegistry r;
  r.add(round_robin_policy());
  r.add(weighted_round_robin_policy());
  r.add(random_policy());
  r.add(least_request_policy());
  r.add(power_of_two_policy());
  r.add(consistent_hash_policy());
  r.add(ewma_policy());
  r.add(prefix_policy());
  r.add(kv_aware_policy());
  r.add(sglang_cache_aware_policy());
  r.add(llmd_default_policy());
  r.add(cost_policy());
  return r;
}

void PolicyRegistry::add(PolicyDescriptor descriptor) {
  if (descriptor.name.empty()) throw std::invalid_argument("policy with an empty name");
  if (!descriptor.build) throw std::invalid_argument("policy " + descriptor.name + " has no builder");
  if (find(descriptor.name) != nullptr) throw std::invalid_argument("policy " + descriptor.name + " registered twice");
  policies_.push_back(std::move(descriptor));
}

Result<PolicyFactoryPtr> PolicyRegistry::create(std::string_view name, const PolicyParams& params) const {
  const PolicyDescriptor* d = find(name);
  if (d == nullptr) {
    std::string known;
    for (const auto& p : policies_) known += (known.empty() ? "" : ", ") + p.name;
    return Error{kInvalidArgument, "unknown policy '" + std::string(name) + "' (known: " + known + ")"};
  }
  auto parsed = parse_params(d->name, d->params, params);
  if (!parsed) return parsed.error();
  return d->build(*parsed);
}

const PolicyDescriptor* PolicyRegistry::find(std::string_view name) const {
  for (const auto& p : policies_) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::vector<std::string_view> PolicyRegistry::names() const {
  std::vector<std::string_view> out;
  out.reserve(policies_.size());
  for (const auto& p : policies_) out.emplace_back(p.name);
  return out;
}

}  // namespace kvroute::routing
