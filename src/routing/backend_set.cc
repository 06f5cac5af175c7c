#include "routing/backend_set.h"

#include <atomic>
#include <unordered_map>
#include <unordered_set>

namespace kvroute::routing {
namespace {

constexpr int kInvalidArgument = 22;

std::uint64_t next_generation() {
  static std::atomic<std::uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace

Result<std::shared_ptr<const BackendSet>> BackendSet::build(std::vector<BackendSpec> specs,
                                                            const BackendSet* previous) {
  std::unordered_map<std::string_view, std::shared_ptr<BackendState>> carried;
  if (previous != nullptr) {
    for (const auto& b : previous->backends_) carried.emplace(b.url, b.shared_state);
  }

  std::shared_ptr<BackendSet> set(new BackendSet());
  set->backends_.reserve(specs.size());
  std::unordered_set<std::string> seen;
  for (auto& spec : specs) {
    if (spec.url.empty()) return Error{kInvalidArgument, "backend with an empty url"};
    if (spec.weight == 0) {
      return Error{kInvalidArgument, "backend " + spec.url + ": weight must be >= 1 (drain it to stop traffic)"};
    }
    if (!seen.insert(spec.url).second) return Error{kInvalidArgument, "duplicate backend url " + spec.url};

    Backend b;
    b.index = static_cast<std::uint32_t>(set->backends_.size());
    b.id = spec.id.empty() ? spec.url : std::move(spec.id);
    b.weight = spec.weight;
    b.labels = std::move(spec.labels);
    b.capacity = spec.capacity;
    if (auto it = carried.find(spec.url); it != carried.end()) {
      b.shared_state = it->second;
    } else {
      b.shared_state = std::make_shared<BackendState>();
    }
    b.url = std::move(spec.url);
    set->total_weight_ += b.weight;
    if (!set->backends_.empty() && b.weight != set->backends_.front().weight) set->weights_equal_ = false;
    set->backends_.push_back(std::move(b));
  }
  set->generation_ = next_generation();
  return std::shared_ptr<const BackendSet>(std::move(set));
}

const Backend* BackendSet::find_url(std::string_view url) const {
  for (const auto& b : backends_) {
    if (b.url == url) return &b;
  }
  return nullptr;
}

}  // namespace kvroute::routing
