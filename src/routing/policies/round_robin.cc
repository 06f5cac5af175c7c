/* round_robin: each worker walks the backends in order, one step per pick.
 *
 * Algorithm: a per-worker cursor; a pick returns the first candidate at or after the cursor (wrapping)
 *   and moves the cursor past it. Candidates follow PickContext's rules (exclusions, healthy first,
 *   panic when none is healthy). Each worker starts at a random position (one draw on its first pick)
 *   so that N workers do not all send their first request to backend 0, as Envoy does.
 *   Weights are ignored (use weighted_round_robin). Per-worker cursors mean the pool as a whole is
 *   round robin only on average: two workers may pick the same backend back to back.
 * Knobs: none.
 * Source: the classic scheduler; Envoy ROUND_ROBIN (unweighted case), nginx's default without weights.
 * Cost per pick: O(1) while the next backend is a candidate; O(n) worst case (a long run of excluded
 *   or unhealthy backends). No allocation.
 */
#include <cstdint>
#include <optional>

#include "routing/candidates.h"
#include "routing/policies/builtin_policies.h"
#include "routing/policies/simple_factory.h"

namespace kvroute::routing {
namespace {

struct RoundRobinConfig {};

class RoundRobinPolicy final : public Policy {
 public:
  explicit RoundRobinPolicy(RoundRobinConfig /*config*/) {}

  std::string_view name() const override { return "round_robin"; }

  std::optional<std::uint32_t> pick(const RequestFeatures& /*features*/, const BackendSet& set,
                                    PickContext& ctx) override {
    const auto tier = select_tier(set, ctx);
    if (!tier) return std::nullopt;
    const std::uint32_t n = set.size();
    if (!started_) {
      cursor_ = ctx.random.uniform(n);
      started_ = true;
    }
    for (std::uint32_t step = 0; step < n; ++step) {
      const auto i = static_cast<std::uint32_t>((cursor_ + step) % n);
      if (is_candidate(set, ctx, i, *tier)) {
        cursor_ = i + 1ULL;
        return i;
      }
    }
    return std::nullopt;
  }

 private:
  std::uint64_t cursor_ = 0;
  bool started_ = false;
};

}  // namespace

PolicyDescriptor round_robin_policy() {
  PolicyDescriptor d;
  d.name = "round_robin";
  d.summary = "each worker cycles through the backends in order; weights ignored";
  d.build = [](const ParsedParams&) -> Result<PolicyFactoryPtr> {
    return PolicyFactoryPtr(
        std::make_shared<SimplePolicyFactory<RoundRobinPolicy, RoundRobinConfig>>("round_robin", RoundRobinConfig{}));
  };
  return d;
}

}  // namespace kvroute::routing
