/* ewma: least expected response time, from a peak-sensitive moving average of time to first token.
 *
 * Algorithm: each backend's cost is  ttft_estimate * (in_flight + 1):  how long the backend has been
 *   taking to produce a first token, scaled by how many requests it is already working on. The pick
 *   samples choice_count distinct candidates (default 2, as Finagle and linkerd do; a full scan when
 *   choice_count >= n) and takes the cheapest; ties go to a random one of the tied.
 *   ttft_estimate is BackendState::estimates.ttft, a peak-EWMA shared by all workers and fed by
 *   DispatchAccounting at each first token: it jumps up to a slower sample at once and decays toward
 *   faster ones with time constant decay_time (the pool's accounting uses this policy's decay_time,
 *   see PolicyFactory::estimator_config). A backend with no requests in flight has its estimate
 *   aged toward zero by the time since its last sample (same time constant), so a backend that was
 *   abandoned after a slow spell is probed again after a few decay times instead of never; a busy
 *   backend is not aged, so one that is stuck does not start to look fast. A backend with no sample
 *   yet is costed at initial_ttft, as if that were a sample taken when this worker first saw the
 *   backend (so it ages the same way, and a new backend is tried after a while even when the
 *   others stay cheaper): low values try new backends eagerly, high values cautiously.
 *   Weights are ignored.
 * Knobs: decay_time (default 10s), initial_ttft (default 500ms), choice_count (default 2, 1..64).
 * Source: Finagle PeakEwma / P2CPeakEwma (Twitter, 2016), linkerd2-proxy and tower's PeakEwma;
 *   the cost formula is theirs with TTFT in place of request latency.
 * Cost per pick: O(choice_count) expected (an exp() per idle candidate), O(n) with a full scan.
 *   No allocation.
 */
#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "routing/candidates.h"
#include "routing/policies/builtin_policies.h"

namespace kvroute::routing {
namespace {

struct EwmaConfig {
  Nanos decay_time = 10 * kNanosPerSecond;
  Nanos initial_ttft = 500 * kNanosPerMilli;
  std::uint32_t choice_count = 2;
};

class EwmaPolicy final : public Policy {
 public:
  explicit EwmaPolicy(EwmaConfig config) : config_(config) {}

  std::string_view name() const override { return "ewma"; }

  std::optional<std::uint32_t> pick(const RequestFeatures& /*features*/, const BackendSet& set,
                                    PickContext& ctx) override {
    const auto tier = select_tier(set, ctx);
    if (!tier) return std::nullopt;
    adopt(set);
    const Nanos now = ctx.clock.now();
    LowestCost<double> lowest;
    if (config_.choice_count >= set.size()) {
      for (std::uint32_t i = 0; i < set.size(); ++i) {
        if (is_candidate(set, ctx, i, *tier)) lowest.offer(i, cost(set, i, now), ctx.random);
      }
      return lowest.best();
    }
    std::array<std::uint32_t, kMaxChoices> drawn;
    const std::size_t k = draw_distinct_candidates(set, ctx, *tier, std::span(drawn.data(), config_.choice_count));
    for (std::size_t j = 0; j < k; ++j) lowest.offer(drawn[j], cost(set, drawn[j], now), ctx.random);
    return lowest.best();
  }

 private:
  void adopt(const BackendSet& set) {
    if (set.generation() == generation_) return;
    generation_ = set.generation();
    first_seen_.assign(set.size(), kNever);
  }

  double cost(const BackendSet& set, std::uint32_t i, Nanos now) {
    const BackendState& s = set[i].state();
    const std::int64_t in_flight = s.in_flight();
    const bool idle = in_flight == 0;
    double estimate;
    if (const auto sampled = s.estimates.ttft.value_aged(now, config_.decay_time, idle)) {
      estimate = *sampled;
    } else {
      if (first_seen_[i] == kNever) first_seen_[i] = now;
      estimate = static_cast<double>(config_.initial_ttft);
      if (idle && now > first_seen_[i]) {
        estimate *= std::exp(-static_cast<double>(now - first_seen_[i]) / static_cast<double>(config_.decay_time));
      }
    }
    return estimate * static_cast<double>(in_flight + 1);
  }

  EwmaConfig config_;
  std::uint64_t generation_ = 0;
  std::vector<Nanos> first_seen_;  // per backend of the current snapshot: when first costed unsampled
};

class EwmaFactory final : public PolicyFactory {
 public:
  explicit EwmaFactory(EwmaConfig config) : config_(config) {}
  std::string_view name() const override { return "ewma"; }
  std::unique_ptr<Policy> create() const override { return std::make_unique<EwmaPolicy>(config_); }
  EstimatorConfig estimator_config() const override {
    EstimatorConfig c;
    c.ttft_decay = config_.decay_time;
    return c;
  }

 private:
  EwmaConfig config_;
};

}  // namespace

PolicyDescriptor ewma_policy() {
  PolicyDescriptor d;
  d.name = "ewma";
  d.summary = "lowest peak-EWMA time-to-first-token x (in_flight + 1) of two random backends (Finagle)";
  d.params = {
      duration_param("decay_time", "10s", "time constant of the TTFT moving average and of the idle ageing", 0.001,
                     3600.0),
      duration_param("initial_ttft", "500ms", "estimate used for a backend that has not produced a first token yet",
                     0.0, 3600.0),
      int_param("choice_count", "2", "random candidates compared per pick; >= number of backends compares all", 1,
                static_cast<double>(kMaxChoices)),
  };
  d.build = [](const ParsedParams& p) -> Result<PolicyFactoryPtr> {
    EwmaConfig c;
    c.decay_time = p.get_duration("decay_time");
    c.initial_ttft = p.get_duration("initial_ttft");
    c.choice_count = static_cast<std::uint32_t>(p.get_int("choice_count"));
    return PolicyFactoryPtr(std::make_shared<EwmaFactory>(c));
  };
  return d;
}

}  // namespace kvroute::routing
