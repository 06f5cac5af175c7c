/* kv_aware: score backends by how many requests wait for them and how full their KV cache is, from the
 * backends' own metrics brought up to date with what the gateway sent since the last scrape.
 *
 * Algorithm: for every candidate,
 *     q  = max(scraped waiting requests, the gateway's requests there without a first token yet)
 *     kv = scraped KV usage + prompt tokens the gateway sent there since that scrape / KV capacity
 *   (the capacity: CapacityHints, else the scraped size, else default_kv_capacity_tokens). Scores in
 *   [0, 1] as GIE's scorers compute them, over the candidates: queue (max_q - q) / (max_q - min_q) (1
 *   when all are equal) and KV 1 - kv; total = queue_weight x queue + kv_weight x KV; the highest wins,
 *   ties at random. Scraped metrics older than metrics_max_age are ignored (q then counts only the
 *   gateway's own requests, and kv the prompts of the requests it has in flight there).
 *   Why the update: metrics are scraped every 50 ms or so, and every pick in between would otherwise
 *   see the same figures and send a burst of requests to the same backend; the gateway's own counts
 *   are exact and fresh for the requests it sent.
 * Knobs: queue_weight 2, kv_weight 2, metrics_max_age 1s, default_kv_capacity_tokens 400000.
 * Source: the queue-depth and KV-utilisation scorers of the Gateway API Inference Extension
 *   (kubernetes-sigs/gateway-api-inference-extension, scorer/queue.go, scorer/kvcache_utilization.go),
 *   with per-pick freshening from the gateway's accounting.
 * Cost per pick: O(candidates), atomic loads only. No allocation except on a new snapshot.
 */
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "routing/candidates.h"
#include "routing/policies/builtin_policies.h"
#include "routing/policies/simple_factory.h"

namespace kvroute::routing {
namespace {

struct KvAwareConfig {
  double queue_weight = 2;
  double kv_weight = 2;
  Nanos metrics_max_age = kNanosPerSecond;
  std::uint64_t default_capacity_tokens = 400'000;
};

class KvAwarePolicy final : public Policy {
 public:
  explicit KvAwarePolicy(KvAwareConfig config) : config_(config) {}

  std::string_view name() const override { return "kv_aware"; }

  std::optional<std::uint32_t> pick(const RequestFeatures& /*features*/, const BackendSet& set,
                                    PickContext& ctx) override {
    const auto tier = select_tier(set, ctx);
    if (!tier) return std::nullopt;
    if (set.generation() != generation_ || seen_.size() != set.size()) {
      generation_ = set.generation();
      seen_.assign(set.size(), Seen{});
      q_.assign(set.size(), 0.0);
      kv_.assign(set.size(), 0.0);
    }
    const Nanos now = ctx.clock.now();
    double min_q = INFINITY, max_q = -INFINITY;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      if (!is_candidate(set, ctx, i, *tier)) continue;
      const Backend& b = set[i];
      const BackendState& s = b.state();
      const auto& acc = s.accounting;
      const std::int64_t pending =
          std::max<std::int64_t>(0, s.in_flight() - acc.active_decodes.load(std::memory_order_relaxed));
      const std::uint64_t sent = acc.dispatched_prompt_tokens_total.load(std::memory_order_relaxed);
      double capacity = static_cast<double>(config_.default_capacity_tokens);
      if (b.capacity.kv_capacity_tokens && *b.capacity.kv_capacity_tokens > 0) {
        capacity = static_cast<double>(*b.capacity.kv_capacity_tokens);
      } else if (const auto scraped = s.scraped.kv_capacity_tokens.load(std::memory_order_relaxed); scraped > 0) {
        capacity = static_cast<double>(scraped);
      }
      const Nanos scraped_at = s.scraped.scraped_at.load(std::memory_order_relaxed);
      double q = static_cast<double>(pending);
      double kv;
      if (scraped_at != kNever && now - scraped_at <= config_.metrics_max_age) {
        if (seen_[i].scraped_at != scraped_at) seen_[i] = Seen{scraped_at, sent};  // first pick after this scrape
        q = std::max(q, static_cast<double>(s.scraped.num_waiting.load(std::memory_order_relaxed)));
        kv = s.scraped.kv_usage.load(std::memory_order_relaxed) +
             static_cast<double>(sent - seen_[i].sent_tokens) / capacity;
      } else {
        kv = static_cast<double>(acc.outstanding_prefill_tokens.load(std::memory_order_relaxed)) / capacity;
      }
      q_[i] = q;
      kv_[i] = std::clamp(kv, 0.0, 1.0);
      min_q = std::min(min_q, q);
      max_q = std::max(max_q, q);
    }
    std::optional<std::uint32_t> best;
    double best_score = 0;
    std::uint64_t ties = 0;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      if (!is_candidate(set, ctx, i, *tier)) continue;
      const double queue_score = max_q == min_q ? 1.0 : (max_q - q_[i]) / (max_q - min_q);
      const double score = config_.queue_weight * queue_score + config_.kv_weight * (1.0 - kv_[i]);
      if (!best || score > best_score) {
        best = i;
        best_score = score;
        ties = 1;
      } else if (score == best_score) {
        ++ties;
        if (ctx.random.uniform(ties) == 0) best = i;
      }
    }
    return best;
  }

 private:
  struct Seen {
    Nanos scraped_at = kNever;
    std::uint64_t sent_tokens = 0;  // dispatched_prompt_tokens_total when this worker first saw the scrape
  };
  KvAwareConfig config_;
  std::uint64_t generation_ = 0;
  std::vector<Seen> seen_;
  std::vector<double> q_, kv_;
};

}  // namespace

PolicyDescriptor kv_aware_policy() {
  PolicyDescriptor d;
  d.name = "kv_aware";
  d.summary = "GIE-style queue and KV-usage scores from scraped metrics, updated with the gateway's own dispatches";
  d.params = {
      double_param("queue_weight", "2", "weight of the queue score", 0, 1e6),
      double_param("kv_weight", "2", "weight of the KV-usage score", 0, 1e6),
      duration_param("metrics_max_age", "1s", "ignore scraped metrics older than this", 0, 3600),
      int_param("default_kv_capacity_tokens", "400000", "KV capacity of a backend with no hint and no scrape", 1, 1e12),
  };
  d.build = [](const ParsedParams& p) -> Result<PolicyFactoryPtr> {
    KvAwareConfig c;
    c.queue_weight = p.get_double("queue_weight");
    c.kv_weight = p.get_double("kv_weight");
    c.metrics_max_age = p.get_duration("metrics_max_age");
    c.default_capacity_tokens = static_cast<std::uint64_t>(p.get_int("default_kv_capacity_tokens"));
    return PolicyFactoryPtr(std::make_shared<SimplePolicyFactory<KvAwarePolicy, KvAwareConfig>>("kv_aware", c, true));
  };
  return d;
}

}  // namespace kvroute::routing
