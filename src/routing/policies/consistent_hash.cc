/* consistent_hash: requests with the same routing key go to the same backend, unless it is
 * overloaded (consistent hashing with bounded loads).
 *
 * Algorithm: a ring of 64-bit points; each backend owns vnodes_per_weight * weight points
 *   (hashes of its URL and a replica number, so a backend's points do not depend on its index or on
 *   the other backends). A request's key (RequestFeatures::routing_key, from a header, the `user`
 *   field or a session id) is hashed onto the ring, and the ring is walked clockwise from there.
 *   Without a bound, the first candidate reached wins; adding or removing one backend moves only the
 *   keys whose arc it gains or loses, about 1/n of them.
 *   Bounded load: with T requests in flight on the candidates, total candidate weight W and
 *   c = balance_factor, a candidate b is eligible only while
 *       in_flight(b) + 1 <= ceil(c * (T + 1) * weight(b) / W)
 *   (equal weights: ceil(c * (T + 1) / n)), and the walk continues past ineligible ones. No backend
 *   then carries more than c times its share of the load, and a key is moved only while its home is
 *   overloaded; c close to 1 balances tightly but moves more keys, c large approaches plain
 *   consistent hashing. If the walk finds no eligible candidate (possible only when counts change
 *   under it), the first candidate it met wins.
 *   Requests without a key are spread round robin over the candidates (per worker, random start).
 *   The ring is built once per snapshot and shared by all workers (PolicyFactory::prepare or the
 *   first worker to need it); a worker keeps a per-snapshot "visited" array so the walk checks each
 *   backend once.
 * Knobs: vnodes_per_weight (points per unit of weight, default 160; the ring is capped at 2^20
 *   points, scaled down proportionally beyond), balance_factor (c, default 1.25; 0 disables the
 *   bound; otherwise >= 1).
 * Source: Karger et al., "Consistent Hashing and Random Trees" (STOC 1997); Mirrokni, Thorup,
 *   Zadimoghaddam, "Consistent Hashing with Bounded Loads" (SODA 2018); HAProxy lb_chash.c
 *   (hash-balance-factor), Envoy ring_hash.
 * Cost per pick: O(log V) for the ring search (V points) plus O(n) to sum the in-flight counts when
 *   the bound is on; the walk is O(1) expected, O(V) worst case when almost every backend is at
 *   its bound. No allocation except on the first pick of a snapshot that was not prepared.
 */
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/hash.h"
#include "routing/candidates.h"
#include "routing/policies/builtin_policies.h"

namespace kvroute::routing {
namespace {

constexpr std::uint64_t kMaxRingPoints = 1ULL << 20;
constexpr std::uint64_t kKeySalt = 0x6b76726f75746521ULL;  // decorrelates key hashes from URL hashes

struct ConsistentHashConfig {
  std::uint32_t vnodes_per_weight = 160;
  double balance_factor = 1.25;
};

struct RingPoint {
  std::uint64_t point;
  std::uint32_t backend;
};

/// The ring of one snapshot; immutable once built.
struct Ring {
  std::uint64_t generation = 0;
  std::vector<RingPoint> points;  // sorted by point
};

std::shared_ptr<const Ring> build_ring(const BackendSet& set, std::uint32_t vnodes_per_weight) {
  auto ring = std::make_shared<Ring>();
  ring->generation = set.generation();
  const std::uint64_t wanted = set.total_weight() * vnodes_per_weight;
  const double scale =
      wanted > kMaxRingPoints ? static_cast<double>(kMaxRingPoints) / static_cast<double>(wanted) : 1.0;
  ring->points.reserve(static_cast<std::size_t>(std::min(wanted, kMaxRingPoints + set.size())));
  for (const Backend& b : set.backends()) {
    const auto count = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(static_cast<double>(b.weight) * vnodes_per_weight * scale));
    const std::uint64_t url_hash = hash_string(b.url);
    for (std::uint64_t k = 0; k < count; ++k) ring->points.push_back(RingPoint{hash_combine(url_hash, k), b.index});
  }
  std::sort(ring->points.begin(), ring->points.end(), [](const RingPoint& a, const RingPoint& b) {
    return a.point != b.point ? a.point < b.point : a.backend < b.backend;
  });
  return ring;
}

/// The latest ring, shared by the factory and every policy instance it made.
class RingCache {
 public:
  explicit RingCache(std::uint32_t vnodes_per_weight) : vnodes_per_weight_(vnodes_per_weight) {}

  /// Any thread. The ring for `set`: the cached one if it matches, else a new one, published for the
  /// others unless a newer snapshot's ring got there first.
  std::shared_ptr<const Ring> get(const BackendSet& set) {
    auto cached = latest_.load(std::memory_order_acquire);
    if (cached && cached->generation == set.generation()) return cached;
    auto fresh = build_ring(set, vnodes_per_weight_);
    while (!cached || cached->generation < fresh->generation) {
      if (latest_.compare_exchange_weak(cached, fresh, std::memory_order_acq_rel)) break;
    }
    return fresh;
  }

 private:
  std::uint32_t vnodes_per_weight_;
  std::atomic<std::shared_ptr<const Ring>> latest_;
};

class ConsistentHashPolicy final : public Policy {
 public:
  ConsistentHashPolicy(ConsistentHashConfig config, std::shared_ptr<RingCache> cache)
      : config_(config), cache_(std::move(cache)) {}

  std::string_view name() const override { return "consistent_hash"; }

  std::optional<std::uint32_t> pick(const RequestFeatures& features, const BackendSet& set, PickContext& ctx) override {
    const auto tier = select_tier(set, ctx);
    if (!tier) return std::nullopt;
    if (!features.routing_key.present) return pick_keyless(set, ctx, *tier);
    adopt(set);

    const bool bounded = config_.balance_factor > 0.0;
    std::uint32_t candidates = 0;
    std::int64_t total_in_flight = 0;
    std::uint64_t total_weight = 0;
    if (bounded) {
      for (std::uint32_t i = 0; i < set.size(); ++i) {
        if (!is_candidate(set, ctx, i, *tier)) continue;
        ++candidates;
        total_in_flight += set[i].state().in_flight();
        total_weight += set[i].weight;
      }
    }
    // Load allowed per unit of weight; a backend is eligible while in_flight + 1 <= ceil(limit * weight).
    const double limit_per_weight =
        bounded ? config_.balance_factor * static_cast<double>(total_in_flight + 1) / static_cast<double>(total_weight)
                : 0.0;

    const auto& points = ring_->points;
    const std::uint64_t key_point = hash_combine(kKeySalt, features.routing_key.hash);
    auto start =
        static_cast<std::size_t>(std::lower_bound(points.begin(), points.end(), key_point,
                                                  [](const RingPoint& p, std::uint64_t v) { return p.point < v; }) -
                                 points.begin());
    next_epoch();

    std::optional<std::uint32_t> first_met;
    std::uint32_t checked = 0;
    for (std::size_t step = 0; step < points.size(); ++step) {
      std::size_t pos = start + step;
      if (pos >= points.size()) pos -= points.size();
      const std::uint32_t b = points[pos].backend;
      if (visited_[b] == epoch_) continue;
      visited_[b] = epoch_;
      if (!is_candidate(set, ctx, b, *tier)) continue;
      if (!bounded) return b;
      if (!first_met) first_met = b;
      const double cap = std::ceil(limit_per_weight * set[b].weight - 1e-9);
      if (static_cast<double>(set[b].state().in_flight() + 1) <= cap) return b;
      if (++checked == candidates) break;
    }
    return first_met;
  }

 private:
  void adopt(const BackendSet& set) {
    if (ring_ && ring_->generation == set.generation()) return;
    if (previous_ring_ && previous_ring_->generation == set.generation()) {
      // Requests that started before a reload still pick (retry) on the old snapshot for a while:
      // keeping its ring makes interleaved old and new picks cheap.
      std::swap(ring_, previous_ring_);
    } else {
      previous_ring_ = std::move(ring_);
      ring_ = cache_->get(set);
    }
    if (visited_.size() < set.size()) visited_.resize(set.size(), 0);  // 0 never equals a live epoch
  }

  void next_epoch() {
    if (++epoch_ == 0) {  // wrapped: old marks could equal a new epoch
      std::fill(visited_.begin(), visited_.end(), 0);
      epoch_ = 1;
    }
  }

  std::optional<std::uint32_t> pick_keyless(const BackendSet& set, PickContext& ctx, Tier tier) {
    const std::uint32_t n = set.size();
    if (!rr_started_) {
      rr_cursor_ = ctx.random.uniform(n);
      rr_started_ = true;
    }
    for (std::uint32_t step = 0; step < n; ++step) {
      const auto i = static_cast<std::uint32_t>((rr_cursor_ + step) % n);
      if (is_candidate(set, ctx, i, tier)) {
        rr_cursor_ = i + 1ULL;
        return i;
      }
    }
    return std::nullopt;
  }

  ConsistentHashConfig config_;
  std::shared_ptr<RingCache> cache_;
  std::shared_ptr<const Ring> ring_;           // ring of the snapshot picked on last
  std::shared_ptr<const Ring> previous_ring_;  // and of the one before it
  std::vector<std::uint32_t> visited_;         // visited_[b] == epoch_: b already checked in this pick
  std::uint32_t epoch_ = 1;
  std::uint64_t rr_cursor_ = 0;
  bool rr_started_ = false;
};

class ConsistentHashFactory final : public PolicyFactory {
 public:
  explicit ConsistentHashFactory(ConsistentHashConfig config)
      : config_(config), cache_(std::make_shared<RingCache>(config.vnodes_per_weight)) {}
  std::string_view name() const override { return "consistent_hash"; }
  std::unique_ptr<Policy> create() const override { return std::make_unique<ConsistentHashPolicy>(config_, cache_); }
  void prepare(const BackendSet& set) const override { (void)cache_->get(set); }

 private:
  ConsistentHashConfig config_;
  std::shared_ptr<RingCache> cache_;
};

}  // namespace

PolicyDescriptor consistent_hash_policy() {
  PolicyDescriptor d;
  d.name = "consistent_hash";
  d.summary = "same routing key, same backend (hash ring), with bounded load (Mirrokni et al., HAProxy)";
  d.params = {
      int_param("vnodes_per_weight", "160", "ring points per unit of backend weight", 1, 10000),
      double_param("balance_factor", "1.25",
                   "c: no backend takes more than c times its share of in-flight requests; 0 disables", 0.0, 1000.0),
  };
  d.build = [](const ParsedParams& p) -> Result<PolicyFactoryPtr> {
    ConsistentHashConfig c;
    c.vnodes_per_weight = static_cast<std::uint32_t>(p.get_int("vnodes_per_weight"));
    c.balance_factor = p.get_double("balance_factor");
    if (c.balance_factor != 0.0 && c.balance_factor < 1.0) {
      return Error{22, "policy 'consistent_hash': parameter 'balance_factor': must be 0 (no bound) or >= 1, got " +
                           std::to_string(c.balance_factor)};
    }
    return PolicyFactoryPtr(std::make_shared<ConsistentHashFactory>(c));
  };
  return d;
}

}  // namespace kvroute::routing
