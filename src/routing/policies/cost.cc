/* cost: send each request where it is predicted to get its first token soonest; hold it in the
 * gateway when every backend is saturated, and bind it when capacity frees (late binding).
 *
 * Algorithm: for every candidate backend, predict the time to first token in seconds with the model
 *   of ttft_model.h:
 *     queue    prefill work already dispatched there and not yet prefilled (the gateway's own count,
 *              fresh at every pick), plus requests the backend reports waiting that the gateway did
 *              not send or that were preempted (scraped, x the mean work of a request),
 *     prefill  this request's uncached tokens on that backend (prefix index: the leading blocks it
 *              holds) as work tokens: u (1 + (c + u/2) / attention_tokens), the GEMMs plus causal
 *              attention over the cached prefix c,
 *     both over the backend's measured prefill rate, learned online from its first tokens (everything
 *              dispatched before a request is prefilled when its first token arrives; estimators.h),
 *              blended with prefill_rate_prior_work work tokens of evidence at the fleet's pooled
 *              rate (initial_prefill_rate before anything is measured), so that a backend measured
 *              on little work or not for a while is taken to be like the rest; and slowed by its
 *              decode load: rate / (1 + decode_interference x kv_usage), since every vLLM step also
 *              reads the KV of every running sequence,
 *     KV       when the KV the backend will need (scraped usage + prompts waiting for admission + this
 *              prompt) exceeds kv_high of its capacity, the time for running requests to free the
 *              excess: decode_time x excess / used (decode_time learned per backend), weighted by
 *              kv_penalty_weight. The backend prefills what is queued while KV frees, so the wait is
 *              the longer of the two, not their sum.
 *   Own prefill work weighs (1 + congestion_weight x congestion) times, where congestion is the
 *   number of requests waiting for a prefill per backend (at the backends, and in the gateway's queue:
 *   the dispatch rate x how long this request has been held): each of them, and each that arrives
 *   while they wait, is delayed by the work a request adds (the marginal cost of work in a FIFO
 *   queue, with Little's law), so the busier the fleet, the more a prefix-cache hit is worth against a
 *   shorter queue. The lowest cost wins; candidates within tie_epsilon (relative) + tie_floor
 *   (absolute) of it are near-equal: two of them are drawn at random and the one with fewer requests
 *   in flight is taken, so that gateway replicas reading the same state do not all pick the same
 *   backend and decode load stays even when the prediction cannot tell backends apart. Heterogeneous
 *   backends are weighted by measured speed, not by configured weight (weights are ignored).
 *   Late binding: when even the best candidate would wait longer than hold_queue before its own
 *   prefill starts (queue or KV wait), or every candidate's KV demand exceeds kv_hold of its capacity
 *   while it has work of its own, pick() returns nullopt: the request stays in the gateway's queue and
 *   is offered again when a backend's state changes (first token, completion, scrape), so it is bound
 *   with fresh state to whichever backend frees first instead of queueing behind work that may take
 *   longer than predicted. An idle backend never holds a request. Holding early costs cache affinity
 *   (the request goes to whichever backend frees first), hence a threshold of seconds.
 *   Scraped figures older than metrics_max_age are ignored (treated as absent).
 * Knobs (defaults make sense for any fleet; none is fitted to a trace):
 *   attention_tokens 32768 (prompt length at which attention costs as much as the GEMMs: about 20k
 *   for 8B and 40k for 70B models on H100-class GPUs), decode_interference 0.15,
 *   initial_prefill_rate 20000 work tokens/s, prefill_rate_decay 30s, prefill_rate_prior_work 65536,
 *   congestion_weight 1 (0 = predicted TTFT alone), hold_queue 2s (0 = never hold), kv_hold 1.0
 *   (0 = never hold on KV), kv_high 0.9, kv_penalty_weight 1.0, default_decode_time 10s,
 *   tie_epsilon 0.05, tie_floor 5ms, metrics_max_age 1s, index_stride 4 blocks (64 tokens),
 *   default_kv_capacity_tokens 400000 (a backend with no capacity hint that reports none).
 * Source: kvroute's own. The queue model is shortest-expected-delay routing with a work-based queue;
 *   choosing by predicted TTFT with a prefix-cache index follows the idea of Mooncake's "Conductor"
 *   (Qin et al., FAST 2025) and of Preble (Srivatsa et al., ICLR 2025); late binding is a central
 *   queue in front of the backends' own.
 * Cost per pick: one prefix-index lookup over all candidates (O(d log n) probes, PrefixIndex::match),
 *   then O(candidates) arithmetic, atomic loads and one exp() each. No allocation except on a new
 *   snapshot.
 */
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "routing/candidates.h"
#include "routing/estimators.h"
#include "routing/policies/builtin_policies.h"
#include "routing/prefix_index.h"
#include "routing/prefix_lookup.h"
#include "routing/ttft_model.h"

namespace kvroute::routing {
namespace {

struct CostConfig {
  TtftModelConfig model;
  double initial_prefill_rate = 20000;
  Nanos prefill_rate_decay = 30 * kNanosPerSecond;
  double prefill_rate_prior_work = 65536;
  Nanos hold_queue = 2 * kNanosPerSecond;
  double kv_hold = 1.0;
  Nanos default_decode_time = 10 * kNanosPerSecond;
  double tie_epsilon = 0.05;
  double congestion_weight = 1.0;
  Nanos tie_floor = 5 * kNanosPerMilli;
  Nanos metrics_max_age = kNanosPerSecond;
  PrefixIndexConfig index;
};

class CostPolicy final : public Policy {
 public:
  CostPolicy(const CostConfig& config, std::shared_ptr<PrefixIndex> index)
      : config_(config), index_(std::move(index)) {}

  std::string_view name() const override { return "cost"; }

  std::optional<std::uint32_t> pick(const RequestFeatures& features, const BackendSet& set, PickContext& ctx) override {
    const auto tier = select_tier(set, ctx);
    if (!tier) return std::nullopt;
    if (set.generation() != generation_ || cost_.size() != set.size()) {
      generation_ = set.generation();
      cost_.assign(set.size(), 0.0);
    }
    lookup_.run(*index_, features.block_hashes, set, ctx, *tier);
    const Nanos now = ctx.clock.now();

    // Fleet figures, in one pass: the pooled measured rate (for backends not measured yet), the mean
    // work of a request (for requests the gateway cannot see), the mean decode phase, and the
    // congestion: requests waiting for a prefill per candidate. Each of them (and each that arrives
    // while they wait) is delayed by the work this request adds, so under load the request's own
    // work weighs (1 + congestion_weight x congestion) times: cache hits matter more. Requests held
    // in the gateway's own queue wait too: the head of a FIFO queue that has waited W seconds has
    // about (dispatch rate x W) requests behind it.
    double fleet_work = 0, fleet_seconds = 0, decode_sum = 0, work_total = 0, requests_total = 0, pending_sum = 0;
    std::uint32_t decoded = 0, counted = 0;
    std::uint64_t dispatched = 0;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      const BackendState& s = set[i].state();
      const auto requests = s.accounting.dispatched_total.load(std::memory_order_relaxed);
      dispatched += requests;
      if (!is_candidate(set, ctx, i, *tier)) continue;
      fleet_work += s.estimates.prefill_rate_work.load(std::memory_order_relaxed);
      fleet_seconds += s.estimates.prefill_rate_seconds.load(std::memory_order_relaxed);
      if (const auto d = learned_decode_seconds(s)) {
        decode_sum += *d;
        ++decoded;
      }
      work_total += static_cast<double>(s.accounting.dispatched_prefill_work_total.load(std::memory_order_relaxed));
      requests_total += static_cast<double>(requests);
      pending_sum += static_cast<double>(pending_of(s, now));
      ++counted;
    }
    const double fleet_rate = fleet_seconds > 0 ? fleet_work / fleet_seconds : config_.initial_prefill_rate;
    const double fleet_decode = decoded > 0 ? decode_sum / decoded : nanos_to_seconds(config_.default_decode_time);
    const double prompt = features.prompt_tokens;
    const double mean_work =
        requests_total > 0 ? work_total / requests_total : prefill_work(prompt, 0, config_.model.attention_tokens);
    update_dispatch_rate(dispatched, now);
    if (features.arrival > 0 && now > features.arrival) {
      pending_sum += dispatch_rate_ * nanos_to_seconds(now - features.arrival);
    }
    const double work_weight = 1.0 + config_.congestion_weight * (counted > 0 ? pending_sum / counted : 0.0);

    double best = INFINITY, least_wait = INFINITY, least_demand = INFINITY;
    bool any_idle = false;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      if (!is_candidate(set, ctx, i, *tier)) continue;
      const Backend& b = set[i];
      const BackendState& s = b.state();
      const auto& acc = s.accounting;
      TtftInputs in;
      in.prompt_tokens = prompt;
      in.cached_tokens = index_->cached_tokens(lookup_.blocks(i), features.block_hashes.size(), features.prompt_tokens);
      in.prefill_rate =
          prefill_rate_estimate(s, now, config_.prefill_rate_decay, fleet_rate, config_.prefill_rate_prior_work);
      in.outstanding_work = static_cast<double>(acc.outstanding_prefill_work.load(std::memory_order_relaxed));
      in.mean_request_work = mean_work;
      in.kv_capacity_tokens = static_cast<double>(index_->capacity_tokens_for(b));
      in.pending_prompt_tokens = static_cast<double>(acc.outstanding_prefill_tokens.load(std::memory_order_relaxed));
      in.decode_seconds = learned_decode_seconds(s).value_or(fleet_decode);
      const Nanos scraped_at = s.scraped.scraped_at.load(std::memory_order_relaxed);
      const std::int64_t in_flight = s.in_flight();
      if (scraped_at != kNever && now - scraped_at <= config_.metrics_max_age) {
        in.kv_usage = s.scraped.kv_usage.load(std::memory_order_relaxed);
        const std::int64_t pending = in_flight - acc.active_decodes.load(std::memory_order_relaxed);
        const auto waiting = static_cast<std::int64_t>(s.scraped.num_waiting.load(std::memory_order_relaxed));
        in.hidden_requests =
            static_cast<double>(std::max<std::int64_t>(0, waiting - std::max<std::int64_t>(pending, 0)));
      }
      const TtftPrediction p = predict_ttft(in, config_.model);
      cost_[i] = p.wait() + work_weight * p.prefill;
      best = std::min(best, cost_[i]);
      least_wait = std::min(least_wait, p.wait());
      const bool idle = in_flight == 0 && in.hidden_requests == 0 && in.kv_usage < 0.01;
      any_idle = any_idle || idle;
      if (!idle) least_demand = std::min(least_demand, p.kv_demand);
    }
    if (!any_idle) {
      if (config_.hold_queue > 0 && least_wait > nanos_to_seconds(config_.hold_queue)) return std::nullopt;
      if (config_.kv_hold > 0 && least_demand > config_.kv_hold) return std::nullopt;
    }

    // Among the near-equal: two drawn uniformly at random (reservoir sampling, the t-th replacing
    // one of the two with probability 2/t), the one with fewer requests in flight (balances decode
    // load, which the TTFT model does not see), the first drawn on a tie.
    const double limit = best * (1.0 + config_.tie_epsilon) + nanos_to_seconds(config_.tie_floor);
    std::optional<std::uint32_t> first, second;
    std::uint64_t seen = 0;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      if (!is_candidate(set, ctx, i, *tier) || cost_[i] > limit) continue;
      ++seen;
      if (seen == 1) {
        first = i;
      } else if (seen == 2) {
        second = i;
        if (ctx.random.uniform(2) == 0) std::swap(first, second);
      } else if (const auto k = ctx.random.uniform(seen); k < 2) {
        (k == 0 ? first : second) = i;
      }
    }
    if (!second) return first;
    return set[*second].state().in_flight() < set[*first].state().in_flight() ? second : first;
  }

 private:
  /// Per-worker estimate of the pool's dispatch rate (requests/s, all workers), from the shared
  /// dispatch counters, averaged over about 10 s.
  void update_dispatch_rate(std::uint64_t dispatched, Nanos now) {
    if (rate_at_ == kNever) {
      rate_at_ = now;
      rate_count_ = dispatched;
      return;
    }
    const Nanos dt = now - rate_at_;
    if (dt < 100 * kNanosPerMilli) return;
    const double sample = static_cast<double>(dispatched - rate_count_) / nanos_to_seconds(dt);
    const double w = std::exp(-nanos_to_seconds(dt) / 10.0);
    dispatch_rate_ = w * dispatch_rate_ + (1 - w) * sample;
    rate_at_ = now;
    rate_count_ = dispatched;
  }

  /// Requests at the backend without a first token: the gateway's own, or the scraped waiting count
  /// when that is larger (preempted requests, other gateways).
  std::int64_t pending_of(const BackendState& s, Nanos now) const {
    const std::int64_t own =
        std::max<std::int64_t>(0, s.in_flight() - s.accounting.active_decodes.load(std::memory_order_relaxed));
    const Nanos scraped_at = s.scraped.scraped_at.load(std::memory_order_relaxed);
    if (scraped_at == kNever || now - scraped_at > config_.metrics_max_age) return own;
    return std::max<std::int64_t>(own, s.scraped.num_waiting.load(std::memory_order_relaxed));
  }

  CostConfig config_;
  std::shared_ptr<PrefixIndex> index_;
  PrefixLookup lookup_;
  std::uint64_t generation_ = 0;
  std::vector<double> cost_;
  Nanos rate_at_ = kNever;
  std::uint64_t rate_count_ = 0;
  double dispatch_rate_ = 0;
};

class CostFactory final : public PolicyFactory {
 public:
  explicit CostFactory(CostConfig config) : config_(config), index_(std::make_shared<PrefixIndex>(config.index)) {}
  std::string_view name() const override { return "cost"; }
  std::unique_ptr<Policy> create() const override { return std::make_unique<CostPolicy>(config_, index_); }
  void prepare(const BackendSet& set) const override { index_->retain(set); }
  bool reads_backend_metrics() const override { return true; }
  EstimatorConfig estimator_config() const override {
    EstimatorConfig c;
    c.prefix_index = index_;
    c.attention_tokens = config_.model.attention_tokens;
    c.decode_interference = config_.model.decode_interference;
    c.prefill_rate_decay = config_.prefill_rate_decay;
    return c;
  }

 private:
  CostConfig config_;
  std::shared_ptr<PrefixIndex> index_;
};

}  // namespace

PolicyDescriptor cost_policy() {
  PolicyDescriptor d;
  d.name = "cost";
  d.summary =
      "lowest predicted time to first token (queued work, uncached prefix, measured rate, KV); holds when saturated";
  d.params = {
      double_param("attention_tokens", "32768",
                   "prompt length at which a token's attention costs as much as its GEMMs; 0 ignores attention", 0,
                   1e9),
      double_param("decode_interference", "0.15", "prefill slowdown of a KV cache full of decoding sequences", 0, 10),
      double_param("initial_prefill_rate", "20000", "work tokens/s assumed before any backend is measured", 1, 1e9),
      duration_param("prefill_rate_decay", "30s", "time constant of the learned prefill rate", 0.001, 86400),
      double_param("prefill_rate_prior_work", "65536",
                   "work tokens of evidence a backend's own measurement needs to outweigh the fleet mean", 0, 1e12),
      duration_param("hold_queue", "2s", "hold the request when every backend would queue it longer; 0 = never hold", 0,
                     3600),
      double_param("kv_hold", "1.0", "hold when every busy backend's KV demand exceeds this fraction; 0 = never", 0,
                   100),
      double_param("kv_high", "0.9", "KV demand fraction above which the KV wait is added", 0, 10),
      double_param("kv_penalty_weight", "1.0", "weight of the predicted KV wait", 0, 1000),
      duration_param("default_decode_time", "10s", "decode phase assumed before one is measured", 0, 86400),
      double_param(
          "congestion_weight", "1.0",
          "own prefill work weighs 1 + this x mean requests waiting per backend (cache hits count more under load)", 0,
          1000),
      double_param("tie_epsilon", "0.05", "relative margin within which candidates are near-equal", 0, 10),
      duration_param("tie_floor", "5ms", "absolute margin within which candidates are near-equal", 0, 60),
      duration_param("metrics_max_age", "1s", "ignore scraped metrics older than this", 0, 3600),
      int_param("index_stride", "4", "prefix index granularity in 64-byte blocks (16 tokens each)", 1, 1024),
      int_param("default_kv_capacity_tokens", "400000", "KV capacity of a backend with no hint and no scrape", 1, 1e12),
  };
  d.build = [](const ParsedParams& p) -> Result<PolicyFactoryPtr> {
    CostConfig c;
    c.model.attention_tokens = p.get_double("attention_tokens");
    c.model.decode_interference = p.get_double("decode_interference");
    c.model.kv_high = p.get_double("kv_high");
    c.model.kv_penalty_weight = p.get_double("kv_penalty_weight");
    c.initial_prefill_rate = p.get_double("initial_prefill_rate");
    c.prefill_rate_decay = p.get_duration("prefill_rate_decay");
    c.prefill_rate_prior_work = p.get_double("prefill_rate_prior_work");
    c.hold_queue = p.get_duration("hold_queue");
    c.kv_hold = p.get_double("kv_hold");
    c.default_decode_time = p.get_duration("default_decode_time");
    c.tie_epsilon = p.get_double("tie_epsilon");
    c.congestion_weight = p.get_double("congestion_weight");
    c.tie_floor = p.get_duration("tie_floor");
    c.metrics_max_age = p.get_duration("metrics_max_age");
    c.index.stride = static_cast<std::uint32_t>(p.get_int("index_stride"));
    c.index.default_capacity_tokens = static_cast<std::uint64_t>(p.get_int("default_kv_capacity_tokens"));
    return PolicyFactoryPtr(std::make_shared<CostFactory>(c));
  };
  return d;
}

}  // namespace kvroute::routing
