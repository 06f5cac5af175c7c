/* llmd_default: a faithful re-implementation of the Gateway API Inference Extension (GIE) endpoint
 * picker's default scheduling profile, which llm-d ships as its default, as a baseline.
 *
 * Algorithm (GIE pkg/epp/scheduling: filter -> score -> pick):
 *   Filters: the endpoints the picker may use at all: here PickContext's candidate rules (healthy,
 *     not excluded; GIE's datastore lists only ready pods). The default profile adds no other filter.
 *   Scorers, each in [0, 1], summed with weights:
 *     queue-scorer (weight queue_weight = 2): (max_q - q) / (max_q - min_q) over the candidates, q =
 *       the scraped waiting queue (vllm:num_requests_waiting); 1 for everyone when all are equal.
 *     kv-cache-utilization-scorer (weight kv_weight = 2): 1 - scraped KV usage (vllm:kv_cache_usage_perc).
 *     prefix-cache-scorer (weight prefix_weight = 3), approximate mode: the prompt is cut to
 *       max_prefix_blocks (256) blocks of 64 bytes; its hashes are [hash(model), h_1, ..., h_n] (ours:
 *       the chained block hashes seeded by the model, request_features.h, with the seed in front, as
 *       GIE puts the model's hash first); walking from the first hash while some server is recorded
 *       for it, each server gets one point per hash it is recorded for; score = points / (n + 1). A
 *       prompt shorter than one block has no hashes and scores 0 everywhere. Servers are recorded
 *       from the picker's own decisions (PreRequest: the chosen server gets all the request's hashes),
 *       in a per-server LRU of lru_capacity_per_server (31,250) hashes, added in prompt order.
 *   Picker (max-score-picker): the highest total; ties broken uniformly at random (GIE shuffles, then
 *     stable-sorts by score).
 *   Metrics are whatever the scraper last wrote (GIE refreshes them every 50 ms and uses them as they
 *   are); the gateway's own in-flight counts are not used.
 * Knobs: queue_weight 2, kv_weight 2, prefix_weight 3, max_prefix_blocks 256, lru_capacity_per_server
 *   31250 (GIE's defaults, and the weights of GIE's default-plugins.yaml / llm-d's default profile).
 * Source: kubernetes-sigs/gateway-api-inference-extension pkg/epp/scheduling/framework/plugins:
 *   scorer/queue.go, scorer/kvcache_utilization.go, multi/prefix/plugin.go and indexer.go,
 *   picker/max_score_picker.go; default-plugins.yaml; SIMULATOR-FACTS.md section 3.
 * Cost per pick: O(n) over the candidates plus up to 257 index lookups under a shared lock (GIE's
 *   indexer uses one RWMutex too). No allocation except on a new snapshot.
 */
#include <algorithm>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "routing/candidates.h"
#include "routing/policies/builtin_policies.h"
#include "routing/prompt_features.h"

namespace kvroute::routing {
namespace {

struct LlmdConfig {
  double queue_weight = 2;
  double kv_weight = 2;
  double prefix_weight = 3;
  std::uint32_t max_prefix_blocks = 256;
  std::uint32_t lru_capacity = 31250;
};

/// GIE's prefix indexer: hash -> servers, and per server an LRU of hashes whose eviction removes the
/// server from the hash's set. Servers are identified by their BackendState (GIE: the pod), which a
/// backend keeps across reloads as long as its url stays.
class LlmdIndexer {
 public:
  explicit LlmdIndexer(std::uint32_t capacity) : capacity_(capacity) {}

  /// Server id for a backend (registers it on first use). Takes the write lock.
  std::uint32_t server_id(const BackendState& state) {
    std::unique_lock lock(mutex_);
    auto [it, added] = ids_.emplace(state.uid, static_cast<std::uint32_t>(lrus_.size()));
    if (added) lrus_.emplace_back();
    return it->second;
  }

  /// Forgets what was recorded for backends that are not in `set` (their ids are not reused).
  void retain(const BackendSet& set) {
    std::unique_lock lock(mutex_);
    for (auto it = ids_.begin(); it != ids_.end();) {
      bool present = false;
      for (const Backend& b : set.backends()) present = present || b.state().uid == it->first;
      if (present) {
        ++it;
        continue;
      }
      Lru& lru = lrus_[it->second];
      for (const std::uint64_t h : lru.order) remove_server(h, it->second);
      lru.order.clear();
      lru.where.clear();
      it = ids_.erase(it);
    }
  }

  /// Servers recorded for `hash`, or nullptr. Caller holds the read lock.
  const std::vector<std::uint32_t>* get(std::uint64_t hash) const {
    const auto it = hash_to_servers_.find(hash);
    return it == hash_to_servers_.end() ? nullptr : &it->second;
  }

  /// Adds every hash to `server`'s LRU in order (the last one ends most recent), evicting beyond
  /// capacity.
  void add(const std::uint64_t* hashes, std::size_t n, std::uint32_t server) {
    std::unique_lock lock(mutex_);
    Lru& lru = lrus_[server];
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t h = hashes[i];
      if (auto it = lru.where.find(h); it != lru.where.end()) {
        lru.order.splice(lru.order.begin(), lru.order, it->second);  // most recent first
      } else {
        lru.order.push_front(h);
        lru.where.emplace(h, lru.order.begin());
        if (lru.order.size() > capacity_) {
          const std::uint64_t old = lru.order.back();
          lru.order.pop_back();
          lru.where.erase(old);
          remove_server(old, server);
        }
      }
      auto& servers = hash_to_servers_[h];
      if (std::find(servers.begin(), servers.end(), server) == servers.end()) servers.push_back(server);
    }
  }

  std::shared_mutex& mutex() { return mutex_; }

 private:
  struct Lru {
    std::list<std::uint64_t> order;
    std::unordered_map<std::uint64_t, std::list<std::uint64_t>::iterator> where;
  };

  void remove_server(std::uint64_t hash, std::uint32_t server) {
    const auto it = hash_to_servers_.find(hash);
    if (it == hash_to_servers_.end()) return;
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), server), v.end());
    if (v.empty()) hash_to_servers_.erase(it);
  }

  std::uint32_t capacity_;
  std::shared_mutex mutex_;
  std::unordered_map<std::uint64_t, std::uint32_t> ids_;  // BackendState::uid -> server id
  std::vector<Lru> lrus_;
  std::unordered_map<std::uint64_t, std::vector<std::uint32_t>> hash_to_servers_;
};

class LlmdDefaultPolicy final : public Policy {
 public:
  LlmdDefaultPolicy(const LlmdConfig& config, std::shared_ptr<LlmdIndexer> indexer)
      : config_(config), indexer_(std::move(indexer)) {}

  std::string_view name() const override { return "llmd_default"; }

  std::optional<std::uint32_t> pick(const RequestFeatures& features, const BackendSet& set, PickContext& ctx) override {
    const auto tier = select_tier(set, ctx);
    if (!tier) return std::nullopt;
    adopt(set);

    // queue-scorer: min and max waiting over the candidates.
    std::uint32_t min_q = UINT32_MAX, max_q = 0;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      if (!is_candidate(set, ctx, i, *tier)) continue;
      const std::uint32_t q = set[i].state().scraped.num_waiting.load(std::memory_order_relaxed);
      min_q = std::min(min_q, q);
      max_q = std::max(max_q, q);
    }

    // prefix-cache-scorer: points per server along the leading run of recorded hashes.
    const std::size_t n = hashes_of(features);
    std::fill(points_.begin(), points_.end(), 0u);
    if (n > 0) {
      std::shared_lock lock(indexer_->mutex());
      for (std::size_t i = 0; i < n; ++i) {
        const auto* servers = indexer_->get(hashes_[i]);
        if (servers == nullptr || servers->empty()) break;
        for (const std::uint32_t s : *servers) {
          if (s < points_.size()) ++points_[s];
        }
      }
    }

    std::optional<std::uint32_t> best;
    double best_score = 0;
    std::uint64_t ties = 0;
    for (std::uint32_t i = 0; i < set.size(); ++i) {
      if (!is_candidate(set, ctx, i, *tier)) continue;
      const BackendState& s = set[i].state();
      const std::uint32_t q = s.scraped.num_waiting.load(std::memory_order_relaxed);
      const double queue_score =
          max_q == min_q ? 1.0 : static_cast<double>(max_q - q) / static_cast<double>(max_q - min_q);
      const double kv_score = 1.0 - s.scraped.kv_usage.load(std::memory_order_relaxed);
      const std::uint32_t server = server_of(i);
      const double prefix_score =
          n == 0 ? 0.0 : static_cast<double>(server < points_.size() ? points_[server] : 0) / static_cast<double>(n);
      const double score =
          config_.queue_weight * queue_score + config_.kv_weight * kv_score + config_.prefix_weight * prefix_score;
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

  void on_dispatch(const RequestFeatures& features, const BackendSet& set, std::uint32_t backend) override {
    adopt(set);
    const std::size_t n = hashes_of(features);
    if (n > 0) indexer_->add(hashes_.data(), n, server_of(backend));
  }

 private:
  /// Makes server_of() map `set`'s indices. Keeps the maps of the two latest snapshots, so that
  /// retries on an older snapshot interleaved with new requests do not rebuild them every time.
  void adopt(const BackendSet& set) {
    for (auto& m : maps_) {
      if (m.generation == set.generation() && m.server_of.size() == set.size()) {
        current_ = &m;
        m.used = ++uses_;
        return;
      }
    }
    SnapshotMap& m = maps_[0].used <= maps_[1].used ? maps_[0] : maps_[1];
    m.generation = set.generation();
    m.server_of.clear();
    for (const Backend& b : set.backends()) m.server_of.push_back(indexer_->server_id(b.state()));
    m.used = ++uses_;
    current_ = &m;
    std::uint32_t max_id = 0;
    for (const auto id : m.server_of) max_id = std::max(max_id, id + 1);
    if (points_.size() < max_id) points_.assign(max_id, 0u);
    hashes_.reserve(config_.max_prefix_blocks + 1);
  }
  std::uint32_t server_of(std::uint32_t i) const { return current_->server_of[i]; }

  /// GIE's hashPrompt: [hash(model), h_1 .. h_n], n <= max_prefix_blocks; empty below one block.
  std::size_t hashes_of(const RequestFeatures& f) {
    hashes_.clear();
    if (f.block_hashes.empty()) return 0;
    hashes_.push_back(prefix_seed_for_model(f.model));
    const std::size_t n = std::min<std::size_t>(f.block_hashes.size(), config_.max_prefix_blocks);
    hashes_.insert(hashes_.end(), f.block_hashes.begin(), f.block_hashes.begin() + static_cast<std::ptrdiff_t>(n));
    return hashes_.size();
  }

  LlmdConfig config_;
  std::shared_ptr<LlmdIndexer> indexer_;
  struct SnapshotMap {
    std::uint64_t generation = 0;
    std::uint64_t used = 0;
    std::vector<std::uint32_t> server_of;  // backend index -> indexer server id
  };
  SnapshotMap maps_[2];
  SnapshotMap* current_ = &maps_[0];
  std::uint64_t uses_ = 0;
  std::vector<std::uint32_t> points_;  // indexer server id -> prefix points of this pick
  std::vector<std::uint64_t> hashes_;
};

class LlmdFactory final : public PolicyFactory {
 public:
  explicit LlmdFactory(LlmdConfig config)
      : config_(config), indexer_(std::make_shared<LlmdIndexer>(config.lru_capacity)) {}
  std::string_view name() const override { return "llmd_default"; }
  std::unique_ptr<Policy> create() const override { return std::make_unique<LlmdDefaultPolicy>(config_, indexer_); }
  void prepare(const BackendSet& set) const override { indexer_->retain(set); }
  bool reads_backend_metrics() const override { return true; }

 private:
  LlmdConfig config_;
  std::shared_ptr<LlmdIndexer> indexer_;
};

}  // namespace

PolicyDescriptor llmd_default_policy() {
  PolicyDescriptor d;
  d.name = "llmd_default";
  d.summary = "GIE/llm-d default profile: 2 x queue + 2 x KV utilisation + 3 x approximate prefix, highest wins";
  d.params = {
      double_param("queue_weight", "2", "weight of the queue-depth scorer", 0, 1e6),
      double_param("kv_weight", "2", "weight of the KV-utilisation scorer", 0, 1e6),
      double_param("prefix_weight", "3", "weight of the prefix-cache scorer", 0, 1e6),
      int_param("max_prefix_blocks", "256", "prompt blocks (64 bytes) the prefix scorer looks at", 1, 1e6),
      int_param("lru_capacity_per_server", "31250", "hashes remembered per server", 1, 1e9),
  };
  d.build = [](const ParsedParams& p) -> Result<PolicyFactoryPtr> {
    LlmdConfig c;
    c.queue_weight = p.get_double("queue_weight");
    c.kv_weight = p.get_double("kv_weight");
    c.prefix_weight = p.get_double("prefix_weight");
    c.max_prefix_blocks = static_cast<std::uint32_t>(p.get_int("max_prefix_blocks"));
    c.lru_capacity = static_cast<std::uint32_t>(p.get_int("lru_capacity_per_server"));
    return PolicyFactoryPtr(std::make_shared<LlmdFactory>(c));
  };
  return d;
}

}  // namespace kvroute::routing
