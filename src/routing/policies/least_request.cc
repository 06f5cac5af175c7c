/* least_request: send the request where the fewest are in flight, as Envoy's LEAST_REQUEST does.
 *
 * Algorithm, equal weights: sample choice_count distinct candidates uniformly at random and take the
 *   one with the fewest requests in flight (BackendState in_flight, counted by every worker); ties go
 *   to a uniformly random one of the tied. This is "the power of d choices" (Mitzenmacher): with
 *   d = 2 the most loaded backend's excess over the mean falls from O(log n / log log n) (one random
 *   choice) to O(log log n), while each pick reads only two counters, and workers that read the
 *   same stale counters do not all herd onto the same backend as a full scan would. selection =
 *   full_scan reads every candidate instead (best for a handful of backends with long requests,
 *   where the exact minimum matters more than herding); so does choice_count >= n.
 * Algorithm, unequal weights: smooth weighted round robin (see weighted_round_robin.cc) over dynamic
 *   weights  weight / (in_flight + 1)^active_request_bias,  recomputed from live counts on every pick.
 *   Each backend gets a share of picks proportional to its dynamic weight, so an idle backend gets
 *   its configured share and a loaded one gives way in proportion to its load. Envoy does the same
 *   with an EDF schedule whose entries are weighted at insertion time; recomputing per pick uses
 *   fresher counts at O(n). bias = 0 ignores load (pure weighted round robin); larger bias reacts
 *   more strongly to load. choice_count and selection do not apply to this case.
 * Knobs: choice_count (default 2, 1..64), active_request_bias (default 1.0, >= 0),
 *   selection (n_choices | full_scan, default n_choices).
 * Source: Envoy source/extensions/load_balancing_policies/least_request; M. Mitzenmacher, "The Power
 *   of Two Choices in Randomized Load Balancing" (2001).
 * Cost per pick: equal weights O(choice_count) expected, full scan O(n); unequal weights O(n) (plus a
 *   pow() per backend when bias is not 0 or 1). No allocation except on the first pick of a snapshot.
 */
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "routing/candidates.h"
#include "routing/policies/builtin_policies.h"
#include "routing/policies/simple_factory.h"

namespace kvroute::routing {
namespace {

struct LeastRequestConfig {
  std::uint32_t choice_count = 2;
  double active_request_bias = 1.0;
  bool full_scan = false;
};

class LeastRequestPolicy final : public Policy {
 public:
  explicit LeastRequestPolicy(LeastRequestConfig config) : config_(config) {}

  std::string_view name() const override { return "least_request"; }

  std::optional<std::uint32_t> pick(const RequestFeatures& /*features*/, const BackendSet& set,
                                    PickContext& ctx) override {
    const auto tier = select_tier(set, ctx);
    if (!tier) return std::nullopt;
    if (!set.weights_equal()) return pick_weighted(set, ctx, *tier);

    LowestCost<std::int64_t> lowest;
    if (config_.full_scan || config_.choice_count >= set.size()) {
      for (std::uint32_t i = 0; i < set.size(); ++i) {
        if (is_candidate(set, ctx, i, *tier)) lowest.offer(i, set[i].state().in_flight(), ctx.random);
      }
      return lowest.best();
    }
    std::array<std::uint32_t, kMaxChoices> drawn;
    const std::size_t k = draw_distinct_candidates(set, ctx, *tier, std::span(drawn.data(), config_.choice_count));
    for (std::size_t j = 0; j < k; ++j) lowest.offer(drawn[j], set[drawn[j]].state().in_flight(), ctx.random);
    return lowest.best();
  }

 private:
  double dynamic_weight(const Backend& b) const {
    const auto w = static_cast<double>(b.weight);
    const auto load = static_cast<double>(b.state().in_flight() + 1);
    if (config_.active_request_bias == 0.0) return w;
    if (config_.active_request_bias == 1.0) return w / load;
    return w / std::pow(load, config_.active_request_bias);
  }

  std::optional<std::uint32_t> pick_weighted(const BackendSet& set, PickContext& ctx, Tier tier) {
    if (set.generation() != generation_) {
      generation_ = set.generation();
      current_.assign(set.size(), 0.0);
    }
    double total = 0.0;
    std::int64_t best = -1;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      if (!is_candidate(set, ctx, i, tier)) continue;
      const double w = dynamic_weight(set[i]);
      current_[i] += w;
      total += w;
      if (best < 0 || current_[i] > current_[static_cast<std::size_t>(best)]) best = i;
    }
    if (best < 0) return std::nullopt;
    current_[static_cast<std::size_t>(best)] -= total;
    return static_cast<std::uint32_t>(best);
  }

  LeastRequestConfig config_;
  std::uint64_t generation_ = 0;
  std::vector<double> current_;
};

}  // namespace

PolicyDescriptor least_request_policy() {
  PolicyDescriptor d;
  d.name = "least_request";
  d.summary = "fewest requests in flight among choice_count random backends (Envoy); weight-aware";
  d.params = {
      int_param("choice_count", "2", "random candidates compared per pick when weights are equal", 1,
                static_cast<double>(kMaxChoices)),
      double_param("active_request_bias", "1.0",
                   "exponent of (in_flight + 1) dividing the weight when weights differ; 0 ignores load", 0.0, 100.0),
      choice_param("selection", "n_choices", "n_choices: compare choice_count random backends; full_scan: compare all",
                   {"n_choices", "full_scan"}),
  };
  d.build = [](const ParsedParams& p) -> Result<PolicyFactoryPtr> {
    LeastRequestConfig c;
    c.choice_count = static_cast<std::uint32_t>(p.get_int("choice_count"));
    c.active_request_bias = p.get_double("active_request_bias");
    c.full_scan = p.get_choice("selection") == "full_scan";
    return PolicyFactoryPtr(
        std::make_shared<SimplePolicyFactory<LeastRequestPolicy, LeastRequestConfig>>("least_request", c));
  };
  return d;
}

}  // namespace kvroute::routing
