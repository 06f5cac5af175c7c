#pragma once
// Candidate rules shared by every policy (PickContext's comment states them) and the sampling
// helpers built on them. A policy calls select_tier() once per pick, then runs its algorithm over
// the backends for which is_candidate(..., tier) holds.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "routing/backend_set.h"
#include "routing/policy.h"

namespace kvroute::routing {

/// Which backends a pick runs over: the healthy ones, or (when none is left) every non-draining one.
enum class Tier : std::uint8_t { kHealthy, kPanic };

/// Owner thread. Whether set[i] may be returned by a pick running in `tier`.
inline bool is_candidate(const BackendSet& set, const PickContext& ctx, std::uint32_t i, Tier tier) {
  if (ctx.is_excluded(i)) return false;
  const BackendState& s = set[i].state();
  return tier == Tier::kHealthy ? s.healthy() : s.usable_in_panic();
}

/// Owner thread. The tier this pick runs in, or nullopt when there is no candidate at all.
/// Stops at the first healthy candidate: O(1) expected while most backends are healthy.
std::optional<Tier> select_tier(const BackendSet& set, const PickContext& ctx);

/// Any thread. Whether the rules leave any candidate at all (non-excluded, healthy or usable in panic,
/// not draining). When a pick returns nullopt although one exists, the policy chose to hold the
/// request (late binding), not to refuse it: the gateway queues it instead of answering 503.
/// O(1) expected while most backends are healthy, O(n) worst.
bool has_candidate(const BackendSet& set, const PickContext& ctx);

/// Owner thread. Number of candidates in `tier`. O(n).
std::uint32_t count_candidates(const BackendSet& set, const PickContext& ctx, Tier tier);

/// Owner thread. A uniformly random candidate in `tier`: draws random indices until one is a
/// candidate (at most kRejectionDraws times), then falls back to counting the candidates and drawing
/// among them. O(1) expected when most backends are candidates, O(n) worst. nullopt if none.
std::optional<std::uint32_t> draw_candidate(const BackendSet& set, PickContext& ctx, Tier tier);

/// Owner thread. Fills `out` with distinct candidates of `tier` drawn uniformly without replacement
/// and returns how many it drew (fewer than out.size() only when fewer candidates exist; then all of
/// them, in index order). Rejection draws first, O(k) expected; selection sampling over the whole set
/// (Knuth's algorithm S) when rejection fails, O(n). out.size() must be <= kMaxChoices.
std::size_t draw_distinct_candidates(const BackendSet& set, PickContext& ctx, Tier tier, std::span<std::uint32_t> out);

inline constexpr int kRejectionDraws = 8;
inline constexpr std::size_t kMaxChoices = 64;

/// Lowest-cost selection with ties broken uniformly at random by reservoir sampling: the t-th
/// candidate found equal to the best so far replaces it with probability 1/t, which leaves each of
/// the tied candidates chosen with equal probability. Uses a random draw only on ties.
template <class Cost>
class LowestCost {
 public:
  /// Considers candidate i with cost c.
  void offer(std::uint32_t i, Cost c, Random& random) {
    if (!best_ || c < best_cost_) {
      best_ = i;
      best_cost_ = c;
      ties_ = 1;
    } else if (c == best_cost_) {
      ++ties_;
      if (random.uniform(ties_) == 0) best_ = i;
    }
  }
  std::optional<std::uint32_t> best() const { return best_; }
  Cost best_cost() const { return best_cost_; }

 private:
  std::optional<std::uint32_t> best_;
  Cost best_cost_{};
  std::uint64_t ties_ = 0;
};

}  // namespace kvroute::routing
