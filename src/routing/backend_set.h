#pragma once
// Immutable snapshot of a pool's backends.
//
// The control thread builds a BackendSet at start-up and on every change of membership or weights
// (reload, admin API, discovery) and publishes it as std::shared_ptr<const BackendSet> by atomic
// pointer swap; workers load the pointer per request and never see a set change under them. Nothing
// in a snapshot changes after build() returns, except through the BackendState each backend points
// to, which is shared, mutable through atomics only, and carried from snapshot to snapshot by URL.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "routing/backend_state.h"

namespace kvroute::routing {

/// What the operator says a backend can hold (config); policies that need a figure the operator
/// did not give fall back to learned or scraped values.
struct CapacityHints {
  std::optional<std::uint64_t> kv_capacity_tokens;  ///< KV cache size in tokens
  std::optional<std::uint32_t> max_concurrency;     ///< requests it can batch at once
};

using Labels = std::vector<std::pair<std::string, std::string>>;

/// A backend as configured, the input to BackendSet::build().
struct BackendSpec {
  std::string id;            ///< display name; defaults to the url when empty
  std::string url;           ///< identity: state is kept across reloads by url
  std::uint32_t weight = 1;  ///< >= 1; relative share for weight-aware policies
  Labels labels;
  CapacityHints capacity;
};

/// One backend of a snapshot.
struct Backend {
  std::uint32_t index = 0;   ///< position in its snapshot; what Policy::pick returns
  std::string id;            ///< display name (metrics, logs, admin API)
  std::string url;           ///< base URL; the identity that carries state across reloads
  std::uint32_t weight = 1;  ///< >= 1
  Labels labels;             ///< operator-defined key/value pairs (zone, GPU type, ...)
  CapacityHints capacity;
  std::shared_ptr<BackendState> shared_state;  ///< never null

  /// Any thread. The live state (atomics) of this backend.
  BackendState& state() const { return *shared_state; }
};

class BackendSet {
 public:
  /// Control thread (any thread in tests). Builds a snapshot from specs, in their order. A spec
  /// whose url appears in `previous` reuses that backend's BackendState, so in-flight counts and
  /// latency estimates survive the reload; a new url gets a fresh state.
  /// Errors (code 22): empty url, duplicate url, weight 0.
  static Result<std::shared_ptr<const BackendSet>> build(std::vector<BackendSpec> specs,
                                                         const BackendSet* previous = nullptr);

  /// Any thread. Number of backends (may be 0: every pick then returns nullopt).
  std::uint32_t size() const { return static_cast<std::uint32_t>(backends_.size()); }
  bool empty() const { return backends_.empty(); }
  /// Any thread. Backend at index i < size().
  const Backend& operator[](std::uint32_t i) const { return backends_[i]; }
  std::span<const Backend> backends() const { return backends_; }
  /// Any thread. Unique per snapshot within the process (never reused): policies key per-snapshot
  /// caches by it instead of by address, which a later snapshot could reuse.
  std::uint64_t generation() const { return generation_; }
  /// Any thread. Sum of weights.
  std::uint64_t total_weight() const { return total_weight_; }
  /// Any thread. All backends have the same weight (weight-aware policies take cheaper paths).
  bool weights_equal() const { return weights_equal_; }
  /// Any thread. The backend with this url, or nullptr. O(n).
  const Backend* find_url(std::string_view url) const;

 private:
  BackendSet() = default;

  std::vector<Backend> backends_;
  std::uint64_t generation_ = 0;
  std::uint64_t total_weight_ = 0;
  bool weights_equal_ = true;
};

using BackendSetPtr = std::shared_ptr<const BackendSet>;

}  // namespace kvroute::routing
