/* random: a uniformly random candidate, optionally in proportion to weight.
 *
 * Algorithm: draw a backend at random (uniformly, or with probability weight / total weight when
 *   weighted = true: a binary search over per-snapshot cumulative weights); if it is not a candidate
 *   (excluded, unhealthy while healthy ones exist, draining), draw again, up to 8 times; then fall
 *   back to one scan that draws among the candidates only. Rejection keeps the result exactly
 *   uniform (or weight-proportional) over the candidates. Random needs no per-backend state and no
 *   coordination between workers, and with many workers it spreads load as evenly as round robin.
 * Knobs: weighted (default false: weights ignored, like round_robin).
 * Source: Envoy RANDOM, nginx/HAProxy "random" (without the two-choices variant, see power_of_two).
 * Cost per pick: O(1) expected unweighted, O(log n) weighted; O(n) fallback when most backends are
 *   not candidates. No allocation except the cumulative weights on the first pick of a snapshot.
 */
#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "routing/candidates.h"
#include "routing/policies/builtin_policies.h"
#include "routing/policies/simple_factory.h"

namespace kvroute::routing {
namespace {

struct RandomConfig {
  bool weighted = false;
};

class RandomPolicy final : public Policy {
 public:
  explicit RandomPolicy(RandomConfig config) : config_(config) {}

  std::string_view name() const override { return "random"; }

  std::optional<std::uint32_t> pick(const RequestFeatures& /*features*/, const BackendSet& set,
                                    PickContext& ctx) override {
    const auto tier = select_tier(set, ctx);
    if (!tier) return std::nullopt;
    if (!config_.weighted || set.weights_equal()) return draw_candidate(set, ctx, *tier);
    adopt(set);
    for (int attempt = 0; attempt < kRejectionDraws; ++attempt) {
      const std::uint64_t r = ctx.random.uniform(set.total_weight());
      // First backend whose cumulative weight exceeds r.
      const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), r);
      const auto i = static_cast<std::uint32_t>(it - cumulative_.begin());
      if (is_candidate(set, ctx, i, *tier)) return i;
    }
    std::uint64_t candidate_weight = 0;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      if (is_candidate(set, ctx, i, *tier)) candidate_weight += set[i].weight;
    }
    if (candidate_weight == 0) return std::nullopt;
    std::uint64_t r = ctx.random.uniform(candidate_weight);
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      if (!is_candidate(set, ctx, i, *tier)) continue;
      if (r < set[i].weight) return i;
      r -= set[i].weight;
    }
    return std::nullopt;
  }

 private:
  void adopt(const BackendSet& set) {
    if (set.generation() == generation_) return;
    generation_ = set.generation();
    cumulative_.resize(set.size());
    std::uint64_t sum = 0;
    for (std::uint32_t i = 0; i < set.size(); ++i) cumulative_[i] = sum += set[i].weight;
  }

  RandomConfig config_;
  std::uint64_t generation_ = 0;
  std::vector<std::uint64_t> cumulative_;
};

}  // namespace

PolicyDescriptor random_policy() {
  PolicyDescriptor d;
  d.name = "random";
  d.summary = "a uniformly random backend (or weight-proportional with weighted=true)";
  d.params = {
      bool_param("weighted", "false", "draw in proportion to backend weight instead of uniformly"),
  };
  d.build = [](const ParsedParams& p) -> Result<PolicyFactoryPtr> {
    RandomConfig c;
    c.weighted = p.get_bool("weighted");
    return PolicyFactoryPtr(std::make_shared<SimplePolicyFactory<RandomPolicy, RandomConfig>>("random", c));
  };
  return d;
}

}  // namespace kvroute::routing
