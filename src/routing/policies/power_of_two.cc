/* power_of_two: of two distinct random candidates, the one with fewer requests in flight.
 *
 * Algorithm: draw two distinct candidates uniformly at random (rejection draws; a scan when most
 *   backends are not candidates), compare their in_flight counts (shared by all workers), return the
 *   lower; on a tie, either with probability 1/2. The most loaded backend can only win when it is
 *   compared with an equally loaded one, so with differing loads it never gets a request, and the
 *   maximum load stays within O(log log n) of the mean (Mitzenmacher), while a pick reads two
 *   counters. Weights are ignored (least_request handles weights). With one candidate, that one.
 * Knobs: none (least_request with choice_count = 2 generalises it).
 * Source: M. Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing" (IEEE TPDS 2001);
 *   Envoy LEAST_REQUEST, Finagle P2C, nginx "random two least_conn".
 * Cost per pick: O(1) expected (two draws, two counter reads); O(n) fallback when most backends are
 *   not candidates. No allocation.
 */
#include <array>
#include <cstdint>
#include <optional>

#include "routing/candidates.h"
#include "routing/policies/builtin_policies.h"
#include "routing/policies/simple_factory.h"

namespace kvroute::routing {
namespace {

struct PowerOfTwoConfig {};

class PowerOfTwoPolicy final : public Policy {
 public:
  explicit PowerOfTwoPolicy(PowerOfTwoConfig /*config*/) {}

  std::string_view name() const override { return "power_of_two"; }

  std::optional<std::uint32_t> pick(const RequestFeatures& /*features*/, const BackendSet& set,
                                    PickContext& ctx) override {
    const auto tier = select_tier(set, ctx);
    if (!tier) return std::nullopt;
    std::array<std::uint32_t, 2> drawn;
    const std::size_t k = draw_distinct_candidates(set, ctx, *tier, drawn);
    LowestCost<std::int64_t> lowest;
    for (std::size_t j = 0; j < k; ++j) lowest.offer(drawn[j], set[drawn[j]].state().in_flight(), ctx.random);
    return lowest.best();
  }
};

}  // namespace

PolicyDescriptor power_of_two_policy() {
  PolicyDescriptor d;
  d.name = "power_of_two";
  d.summary = "the less loaded (fewer in flight) of two random backends";
  d.build = [](const ParsedParams&) -> Result<PolicyFactoryPtr> {
    return PolicyFactoryPtr(
        std::make_shared<SimplePolicyFactory<PowerOfTwoPolicy, PowerOfTwoConfig>>("power_of_two", PowerOfTwoConfig{}));
  };
  return d;
}

}  // namespace kvroute::routing
