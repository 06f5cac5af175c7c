/* sglang_cache_aware: a faithful re-implementation of the SGLang model gateway's (sgl-router) cache_aware
 * policy, as a baseline.
 *
 * Algorithm (sgl-model-gateway src/policies/cache_aware.rs, select_worker):
 *   1. load = the router's own count of requests in flight per worker (BackendState in_flight); over
 *      all workers of the set, healthy or not, max_load and min_load.
 *   2. Imbalanced when (max_load - min_load) > balance_abs_threshold AND
 *      max_load > balance_rel_threshold * min_load: send to the least loaded healthy worker (the first
 *      one in order on ties, as Rust's min_by_key), and still insert the prompt in its tree.
 *   3. Otherwise, prefix-match the prompt against the approximate tree of everything routed so far
 *      (one radix tree shared by all workers, each node tagged with the workers that hold it):
 *      match_rate = matched characters / prompt characters. If match_rate > cache_threshold, send to
 *      the worker that holds the deepest matched node (the node's cached "last tenant": the worker
 *      that created it, while it still holds it); else to the least loaded healthy worker (current
 *      sgl-model-gateway; the older sgl-router picked the worker with the smallest tree, available
 *      here as fallback = smallest_tree). If the chosen worker is not a candidate (unhealthy,
 *      excluded), the first candidate in order.
 *   4. The prompt is inserted into the chosen worker's tree (here: when the request is dispatched,
 *      which is the same moment).
 *   Eviction: every eviction_interval, each worker's tree is trimmed to max_tree_size characters by
 *   evicting least recently used leaves (SGLang runs this in a background thread; here the first pick
 *   after the deadline does it, on the injected clock).
 *   Representation: SGLang's tree holds raw characters; ours holds the prompt's 64-byte block hashes
 *   (tracked every index_stride blocks, default 4 = 256 characters), so matches are rounded down to
 *   256 characters, negligible against the prompts the threshold is about. Trees are per pool (SGLang
 *   keeps one per model; a pool serves one model). Leaf-LRU eviction is approximated by the prefix
 *   index's CLOCK (prefix_index.h), which also evicts a chain's tail before its head.
 * Knobs: cache_threshold 0.3, balance_abs_threshold 64, balance_rel_threshold 1.5 (SGLang's defaults),
 *   eviction_interval 120s, max_tree_size 67108864 characters (2^26) per worker, fallback least_load |
 *   smallest_tree (default least_load), index_stride 4.
 * Source: sgl-project/sglang sgl-model-gateway (formerly sgl-router) src/policies/cache_aware.rs and
 *   tree.rs; lightseekorg/smg docs (load-balancing.md, cache-aware.md).
 * Cost per pick: O(n) for the loads plus one tree lookup (PrefixIndex::match, O(d log m) probes).
 *   No allocation except on a new snapshot; the periodic eviction walks the evicted entries.
 */
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "routing/candidates.h"
#include "routing/policies/builtin_policies.h"
#include "routing/prefix_index.h"
#include "routing/prefix_lookup.h"
#include "routing/prompt_features.h"

namespace kvroute::routing {
namespace {

struct SglangConfig {
  double cache_threshold = 0.3;
  std::int64_t balance_abs_threshold = 64;
  double balance_rel_threshold = 1.5;
  Nanos eviction_interval = 120 * kNanosPerSecond;
  std::uint64_t max_tree_size = std::uint64_t{1} << 26;  // characters per worker
  bool smallest_tree_fallback = false;
  std::uint32_t stride = 4;
};

/// What every worker's policy instance shares: the tree and the eviction deadline.
struct SglangShared {
  explicit SglangShared(const SglangConfig& c) : tree(make_index_config(c)) {}
  static PrefixIndexConfig make_index_config(const SglangConfig& c) {
    PrefixIndexConfig ic;
    ic.stride = c.stride;
    ic.deferred_eviction = true;
    ic.shrink_step = 0;  // no corrections: SGLang does not read usage
    return ic;
  }
  PrefixIndex tree;
  std::atomic<Nanos> next_eviction{kNever};
};

class SglangCacheAwarePolicy final : public Policy {
 public:
  SglangCacheAwarePolicy(const SglangConfig& config, std::shared_ptr<SglangShared> shared)
      : config_(config), shared_(std::move(shared)) {}

  std::string_view name() const override { return "sglang_cache_aware"; }

  std::optional<std::uint32_t> pick(const RequestFeatures& features, const BackendSet& set, PickContext& ctx) override {
    const auto tier = select_tier(set, ctx);
    if (!tier) return std::nullopt;
    maybe_evict(ctx.clock.now());

    std::int64_t min_load = INT64_MAX, max_load = 0;
    for (const Backend& b : set.backends()) {
      const std::int64_t load = b.state().in_flight();
      min_load = std::min(min_load, load);
      max_load = std::max(max_load, load);
    }
    const std::optional<std::uint32_t> least = least_loaded(set, ctx, *tier);
    const bool imbalanced =
        (max_load - min_load) > config_.balance_abs_threshold &&
        static_cast<double>(max_load) > static_cast<double>(min_load) * config_.balance_rel_threshold;
    if (imbalanced) return least;

    // Match against the whole tree (every worker, as SGLang's tree holds them all).
    lookup_.run(shared_->tree, features.block_hashes, set, all_, Tier::kPanic);
    std::uint32_t matched = 0;
    for (std::uint32_t i = 0; i < set.size(); ++i) matched = std::max(matched, lookup_.blocks(i));
    const double prompt_chars = std::max<double>(static_cast<double>(features.block_hashes.size() * kPrefixBlockBytes),
                                                 static_cast<double>(features.prompt_tokens) * kEstimatedBytesPerToken);
    const double match_rate = prompt_chars > 0 ? static_cast<double>(matched) * kPrefixBlockBytes / prompt_chars : 0.0;
    if (!(match_rate > config_.cache_threshold)) {
      return config_.smallest_tree_fallback ? smallest_tree(set, ctx, *tier) : least;
    }
    const std::optional<std::uint32_t> tenant = deepest_tenant(features, set, matched);
    if (tenant && is_candidate(set, ctx, *tenant, *tier)) return tenant;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      if (is_candidate(set, ctx, i, *tier)) return i;  // SGLang: the first healthy worker
    }
    return std::nullopt;
  }

  void on_dispatch(const RequestFeatures& features, const BackendSet& set, std::uint32_t backend) override {
    // max_tree_size characters = max_tree_size / 4 tokens at 4 characters per token.
    shared_->tree.record(features.block_hashes, set[backend], config_.max_tree_size / kEstimatedBytesPerToken);
  }

 private:
  void maybe_evict(Nanos now) {
    Nanos due = shared_->next_eviction.load(std::memory_order_relaxed);
    if (due == kNever) {
      shared_->next_eviction.compare_exchange_strong(due, now + config_.eviction_interval, std::memory_order_relaxed);
      return;
    }
    if (due - now > config_.eviction_interval) {
      // The clock is behind the deadline by more than a period (a new run on a fresh clock): re-arm.
      shared_->next_eviction.compare_exchange_strong(due, now + config_.eviction_interval, std::memory_order_relaxed);
      return;
    }
    if (now < due) return;
    if (shared_->next_eviction.compare_exchange_strong(due, now + config_.eviction_interval,
                                                       std::memory_order_relaxed)) {
      shared_->tree.evict();
    }
  }

  static std::optional<std::uint32_t> least_loaded(const BackendSet& set, const PickContext& ctx, Tier tier) {
    std::optional<std::uint32_t> best;
    std::int64_t best_load = 0;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      if (!is_candidate(set, ctx, i, tier)) continue;
      const std::int64_t load = set[i].state().in_flight();
      if (!best || load < best_load) {
        best = i;
        best_load = load;
      }
    }
    return best;
  }

  std::optional<std::uint32_t> smallest_tree(const BackendSet& set, const PickContext& ctx, Tier tier) const {
    std::optional<std::uint32_t> best;
    std::uint64_t best_size = 0;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      if (!is_candidate(set, ctx, i, tier)) continue;
      const std::uint64_t size = shared_->tree.backend_stats(set[i].state()).entries;
      if (!best || size < best_size) {
        best = i;
        best_size = size;
      }
    }
    return best;
  }

  /// The worker SGLang's prefix_match returns for the deepest matched node: its creator while it
  /// still holds it, else (as a DashMap iteration would give some holder) the first holder in order.
  std::optional<std::uint32_t> deepest_tenant(const RequestFeatures& features, const BackendSet& set,
                                              std::uint32_t matched) const {
    std::optional<std::uint32_t> first;
    std::uint32_t creator_slot = PrefixIndex::kNoSlot;
    bool creator_looked_up = false;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      if (lookup_.blocks(i) != matched) continue;
      if (!first) first = i;
      const std::uint32_t slot = shared_->tree.find_slot(set[i].state());
      if (!creator_looked_up) {
        creator_slot = shared_->tree.first_holder(features.block_hashes, matched - 1, slot / 64);
        creator_looked_up = true;
      }
      if (slot == creator_slot) return i;
    }
    return first;
  }

  SglangConfig config_;
  std::shared_ptr<SglangShared> shared_;
  PrefixLookup lookup_;
  PickContext all_{kNoClock, kNoRandom, {}};  // no exclusions: the tree covers every worker

  struct NoClock final : TimeSource {
    Nanos now() const override { return 0; }
  };
  struct NoRandom final : Random {
    std::uint64_t next_u64() override { return 0; }
  };
  static inline const NoClock kNoClock{};
  static inline NoRandom kNoRandom{};
};

class SglangFactory final : public PolicyFactory {
 public:
  explicit SglangFactory(SglangConfig config) : config_(config), shared_(std::make_shared<SglangShared>(config)) {}
  std::string_view name() const override { return "sglang_cache_aware"; }
  std::unique_ptr<Policy> create() const override { return std::make_unique<SglangCacheAwarePolicy>(config_, shared_); }
  void prepare(const BackendSet& set) const override { shared_->tree.retain(set); }

 private:
  SglangConfig config_;
  std::shared_ptr<SglangShared> shared_;
};

}  // namespace

PolicyDescriptor sglang_cache_aware_policy() {
  PolicyDescriptor d;
  d.name = "sglang_cache_aware";
  d.summary = "SGLang router cache_aware: longest prefix match above a threshold, least loaded when imbalanced";
  d.params = {
      double_param("cache_threshold", "0.3", "minimum prefix match rate (characters) to follow the cache", 0, 1),
      int_param("balance_abs_threshold", "64", "imbalance needs max - min in-flight above this", 0, 1e9),
      double_param("balance_rel_threshold", "1.5", "imbalance also needs max > this x min", 0, 1e9),
      duration_param("eviction_interval", "120s", "period of the tree's LRU eviction", 0.001, 86400),
      int_param("max_tree_size", "67108864", "characters each worker's tree keeps after an eviction", 1, 1e15),
      choice_param("fallback", "least_load", "below the threshold: least_load (current) or smallest_tree (older)",
                   {"least_load", "smallest_tree"}),
      int_param("index_stride", "4", "tree granularity in 64-byte blocks", 1, 1024),
  };
  d.build = [](const ParsedParams& p) -> Result<PolicyFactoryPtr> {
    SglangConfig c;
    c.cache_threshold = p.get_double("cache_threshold");
    c.balance_abs_threshold = p.get_int("balance_abs_threshold");
    c.balance_rel_threshold = p.get_double("balance_rel_threshold");
    c.eviction_interval = p.get_duration("eviction_interval");
    c.max_tree_size = static_cast<std::uint64_t>(p.get_int("max_tree_size"));
    c.smallest_tree_fallback = p.get_choice("fallback") == "smallest_tree";
    c.stride = static_cast<std::uint32_t>(p.get_int("index_stride"));
    return PolicyFactoryPtr(std::make_shared<SglangFactory>(c));
  };
  return d;
}

}  // namespace kvroute::routing
