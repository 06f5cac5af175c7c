/* weighted_round_robin: smooth weighted round robin, as in nginx's upstream module.
 *
 * Algorithm: every backend carries a running score, per worker. On each pick, every candidate's score
 *   grows by its effective weight; the candidate with the highest score wins (lowest index on a tie)
 *   and pays back the sum of the effective weights added in this pick. Over any window of
 *   sum(weights) picks each backend is chosen exactly weight times, and the picks of a heavy backend
 *   are spread out instead of bunched: weights 5,1,1 give a,a,b,a,c,a,a (plain WRR: a,a,a,a,a,b,c).
 *   Effective weight starts at the configured weight. With error_weight_drop > 0, an error reported
 *   to this worker (on_complete) lowers it by that fraction of the weight (at least 1, floor 0);
 *   each later pick that considers the backend restores 1, so a failing backend is tried less for a
 *   while and recovers gradually (nginx does this with max_fails). Scores are reset when the backend
 *   set changes.
 * Knobs: error_weight_drop (fraction of weight removed per error, default 0 = off).
 * Source: nginx ngx_http_upstream_round_robin.c (smooth WRR, 2012); also HAProxy "roundrobin".
 * Cost per pick: O(n) (every candidate's score is updated; nginx does the same). No allocation
 *   except on the first pick after a snapshot change.
 */
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "routing/candidates.h"
#include "routing/policies/builtin_policies.h"
#include "routing/policies/simple_factory.h"

namespace kvroute::routing {
namespace {

struct WeightedRoundRobinConfig {
  double error_weight_drop = 0.0;
};

class WeightedRoundRobinPolicy final : public Policy {
 public:
  explicit WeightedRoundRobinPolicy(WeightedRoundRobinConfig config) : config_(config) {}

  std::string_view name() const override { return "weighted_round_robin"; }

  std::optional<std::uint32_t> pick(const RequestFeatures& /*features*/, const BackendSet& set,
                                    PickContext& ctx) override {
    adopt(set);
    const auto tier = select_tier(set, ctx);
    if (!tier) return std::nullopt;
    std::int64_t total = 0;
    std::int64_t best = -1;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      if (!is_candidate(set, ctx, i, *tier)) continue;
      current_[i] += effective_[i];
      total += effective_[i];
      if (effective_[i] < static_cast<std::int64_t>(set[i].weight)) ++effective_[i];
      if (best < 0 || current_[i] > current_[static_cast<std::size_t>(best)]) best = i;
    }
    if (best < 0) return std::nullopt;
    current_[static_cast<std::size_t>(best)] -= total;
    return static_cast<std::uint32_t>(best);
  }

  void on_complete(const BackendSet& set, std::uint32_t backend, const Completion& done) override {
    if (done.outcome != Outcome::kError || config_.error_weight_drop <= 0.0) return;
    if (set.generation() != generation_ || backend >= effective_.size()) return;
    const auto drop =
        std::max<std::int64_t>(1, std::llround(config_.error_weight_drop * static_cast<double>(set[backend].weight)));
    effective_[backend] = std::max<std::int64_t>(0, effective_[backend] - drop);
  }

 private:
  void adopt(const BackendSet& set) {
    if (set.generation() == generation_) return;
    generation_ = set.generation();
    current_.assign(set.size(), 0);
    effective_.resize(set.size());
    for (std::uint32_t i = 0; i < set.size(); ++i) effective_[i] = set[i].weight;
  }

  WeightedRoundRobinConfig config_;
  std::uint64_t generation_ = 0;  // 0: no snapshot yet (generations start at 1)
  std::vector<std::int64_t> current_;
  std::vector<std::int64_t> effective_;
};

}  // namespace

PolicyDescriptor weighted_round_robin_policy() {
  PolicyDescriptor d;
  d.name = "weighted_round_robin";
  d.summary = "smooth weighted round robin (nginx): each backend gets its weight's share, evenly spread";
  d.params = {
      double_param("error_weight_drop", "0",
                   "fraction of a backend's weight removed per error seen by this worker; 0 disables", 0.0, 1.0),
  };
  d.build = [](const ParsedParams& p) -> Result<PolicyFactoryPtr> {
    WeightedRoundRobinConfig c;
    c.error_weight_drop = p.get_double("error_weight_drop");
    return PolicyFactoryPtr(std::make_shared<SimplePolicyFactory<WeightedRoundRobinPolicy, WeightedRoundRobinConfig>>(
        "weighted_round_robin", c));
  };
  return d;
}

}  // namespace kvroute::routing
