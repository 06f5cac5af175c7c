/* prefix: send a request where most of its prompt is already cached, unless that backend is overloaded.
 *
 * Algorithm: ask the pool's prefix index (prefix_index.h, fed by every dispatch) how many leading
 *   tokens of the prompt each candidate holds. A candidate is eligible when taking this request keeps
 *   it within the load bound: in_flight + 1 <= ceil(balance_factor x (total in flight + 1) /
 *   candidates), the bounded-load rule of consistent hashing with bounded loads (the least loaded
 *   candidate is always eligible when balance_factor >= 1).
 *   Exploit: if the longest cached prefix among eligible candidates covers at least min_match_fraction
 *   of the prompt, the candidate holding it wins (on equal prefixes, fewer requests in flight, then a
 *   random one). Explore: otherwise the candidate with the fewest requests in flight wins (random
 *   among equals), which spreads new prompts, and prompts that share only a short head such as a
 *   system prompt, instead of piling them on whichever backend saw that head first.
 *   Weights are ignored. In-flight counts are the gateway's own (fresh at every pick).
 * Knobs: min_match_fraction 0.5 (Preble's rule: follow the cache when the cached part is at least the
 *   part to compute), balance_factor 1.25 (>= 1; larger follows the cache longer under load),
 *   index_stride 4 blocks (64 tokens), default_kv_capacity_tokens 400000 (per backend without a hint
 *   or a scraped size).
 * Source: prefix-affinity routing as in Preble (Srivatsa et al., ICLR 2025) and SGLang's cache-aware
 *   router, with the load guard of Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with Bounded
 *   Loads" (SODA 2018).
 * Cost per pick: one prefix-index lookup over all candidates (O(d log n) probes) plus O(candidates).
 *   No allocation except on a new snapshot.
 */
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>

#include "routing/candidates.h"
#include "routing/policies/builtin_policies.h"
#include "routing/prefix_index.h"
#include "routing/prefix_lookup.h"

namespace kvroute::routing {
namespace {

struct PrefixConfig {
  double balance_factor = 1.25;
  double min_match_fraction = 0.5;
  PrefixIndexConfig index;
};

class PrefixPolicy final : public Policy {
 public:
  PrefixPolicy(const PrefixConfig& config, std::shared_ptr<PrefixIndex> index)
      : config_(config), index_(std::move(index)) {}

  std::string_view name() const override { return "prefix"; }

  std::optional<std::uint32_t> pick(const RequestFeatures& features, const BackendSet& set, PickContext& ctx) override {
    const auto tier = select_tier(set, ctx);
    if (!tier) return std::nullopt;
    std::int64_t total = 0;
    std::uint32_t candidates = 0;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      if (!is_candidate(set, ctx, i, *tier)) continue;
      total += set[i].state().in_flight();
      ++candidates;
    }
    if (candidates == 0) return std::nullopt;
    const auto bound = static_cast<std::int64_t>(
        std::ceil(config_.balance_factor * static_cast<double>(total + 1) / static_cast<double>(candidates)));
    lookup_.run(*index_, features.block_hashes, set, ctx, *tier);

    // Exploit: the longest cached prefix among eligible candidates (fewer in flight, then random, on ties).
    std::optional<std::uint32_t> best;
    std::uint32_t best_tokens = 0;
    std::int64_t best_load = 0;
    std::uint64_t ties = 0;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      if (!is_candidate(set, ctx, i, *tier)) continue;
      const std::int64_t load = set[i].state().in_flight();
      if (load + 1 > bound) continue;
      const std::uint32_t tokens =
          index_->cached_tokens(lookup_.blocks(i), features.block_hashes.size(), features.prompt_tokens);
      const bool better = !best || tokens > best_tokens || (tokens == best_tokens && load < best_load);
      if (better) {
        best = i;
        best_tokens = tokens;
        best_load = load;
        ties = 1;
      } else if (tokens == best_tokens && load == best_load) {
        ++ties;
        if (ctx.random.uniform(ties) == 0) best = i;
      }
    }
    if (best && best_tokens > 0 &&
        static_cast<double>(best_tokens) >= config_.min_match_fraction * static_cast<double>(features.prompt_tokens)) {
      return best;
    }
    // Explore: the fewest in flight.
    LowestCost<std::int64_t> least;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      if (is_candidate(set, ctx, i, *tier)) least.offer(i, set[i].state().in_flight(), ctx.random);
    }
    return least.best();
  }

 private:
  PrefixConfig config_;
  std::shared_ptr<PrefixIndex> index_;
  PrefixLookup lookup_;
};

class PrefixFactory final : public PolicyFactory {
 public:
  explicit PrefixFactory(PrefixConfig config) : config_(config), index_(std::make_shared<PrefixIndex>(config.index)) {}
  std::string_view name() const override { return "prefix"; }
  std::unique_ptr<Policy> create() const override { return std::make_unique<PrefixPolicy>(config_, index_); }
  void prepare(const BackendSet& set) const override { index_->retain(set); }
  EstimatorConfig estimator_config() const override {
    EstimatorConfig c;
    c.prefix_index = index_;
    return c;
  }

 private:
  PrefixConfig config_;
  std::shared_ptr<PrefixIndex> index_;
};

}  // namespace

PolicyDescriptor prefix_policy() {
  PolicyDescriptor d;
  d.name = "prefix";
  d.summary =
      "longest cached prefix (prefix index) if it covers half the prompt, within a load bound; else fewest in flight";
  d.params = {
      double_param("balance_factor", "1.25", "a backend may carry up to this x the mean in-flight load (+1)", 1, 1e6),
      double_param("min_match_fraction", "0.5", "follow the cache when it covers at least this share of the prompt", 0,
                   1),
      int_param("index_stride", "4", "prefix index granularity in 64-byte blocks (16 tokens each)", 1, 1024),
      int_param("default_kv_capacity_tokens", "400000", "KV capacity of a backend with no hint and no scrape", 1, 1e12),
  };
  d.build = [](const ParsedParams& p) -> Result<PolicyFactoryPtr> {
    PrefixConfig c;
    c.balance_factor = p.get_double("balance_factor");
    c.min_match_fraction = p.get_double("min_match_fraction");
    c.index.stride = static_cast<std::uint32_t>(p.get_int("index_stride"));
    c.index.default_capacity_tokens = static_cast<std::uint64_t>(p.get_int("default_kv_capacity_tokens"));
    return PolicyFactoryPtr(std::make_shared<PrefixFactory>(c));
  };
  return d;
}

}  // namespace kvroute::routing
