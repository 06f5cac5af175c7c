#include "routing/candidates.h"

#include <cassert>

namespace kvroute::routing {

std::optional<Tier> select_tier(const BackendSet& set, const PickContext& ctx) {
  bool any_panic = false;
  for (std::uint32_t i = 0; i < set.size(); ++i) {
    if (ctx.is_excluded(i)) continue;
    const BackendState& s = set[i].state();
    if (s.healthy()) return Tier::kHealthy;
    any_panic = any_panic || s.usable_in_panic();
  }
  if (any_panic) return Tier::kPanic;
  return std::nullopt;
}

bool has_candidate(const BackendSet& set, const PickContext& ctx) { return select_tier(set, ctx).has_value(); }

std::uint32_t count_candidates(const BackendSet& set, const PickContext& ctx, Tier tier) {
  std::uint32_t m = 0;
  for (std::uint32_t i = 0; i < set.size(); ++i) m += is_candidate(set, ctx, i, tier) ? 1 : 0;
  return m;
}

std::optional<std::uint32_t> draw_candidate(const BackendSet& set, PickContext& ctx, Tier tier) {
  const std::uint32_t n = set.size();
  if (n == 0) return std::nullopt;
  for (int attempt = 0; attempt < kRejectionDraws; ++attempt) {
    const auto i = static_cast<std::uint32_t>(ctx.random.uniform(n));
    if (is_candidate(set, ctx, i, tier)) return i;
  }
  const std::uint32_t m = count_candidates(set, ctx, tier);
  if (m == 0) return std::nullopt;
  auto k = ctx.random.uniform(m);
  for (std::uint32_t i = 0; i < n; ++i) {
    if (!is_candidate(set, ctx, i, tier)) continue;
    if (k == 0) return i;
    --k;
  }
  return std::nullopt;  // unreachable unless health flipped during the scan
}

std::size_t draw_distinct_candidates(const BackendSet& set, PickContext& ctx, Tier tier, std::span<std::uint32_t> out) {
  assert(out.size() <= kMaxChoices);
  const std::uint32_t n = set.size();
  const std::size_t want = out.size();
  if (n == 0 || want == 0) return 0;

  // Rejection: cheap when candidates are most of the set and want is much smaller than n.
  if (want < n) {
    std::size_t got = 0;
    const std::size_t budget = 4 * want + static_cast<std::size_t>(kRejectionDraws);
    for (std::size_t attempt = 0; attempt < budget && got < want; ++attempt) {
      const auto i = static_cast<std::uint32_t>(ctx.random.uniform(n));
      if (!is_candidate(set, ctx, i, tier)) continue;
      bool dup = false;
      for (std::size_t j = 0; j < got; ++j) dup = dup || out[j] == i;
      if (!dup) out[got++] = i;
    }
    if (got == want) return got;
  }

  // Selection sampling: visit candidates in index order, take each with probability
  // (still needed) / (candidates not yet visited); every want-subset is equally likely.
  const std::uint32_t m = count_candidates(set, ctx, tier);
  std::size_t got = 0;
  std::uint64_t remaining = m;
  for (std::uint32_t i = 0; i < n && got < want && remaining > 0; ++i) {
    if (!is_candidate(set, ctx, i, tier)) continue;
    const std::size_t need = want - got;
    if (remaining <= need || ctx.random.uniform(remaining) < need) out[got++] = i;
    --remaining;
  }
  return got;
}

}  // namespace kvroute::routing
