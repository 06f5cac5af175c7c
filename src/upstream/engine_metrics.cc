#include "upstream/engine_metrics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>

#include "upstream/prometheus_text.h"

namespace kvroute::upstream {
namespace {

enum class Figure : std::uint8_t {
  kRunning,
  kWaiting,
  kKvUsage,     // vllm:kv_cache_usage_perc, sglang:token_usage
  kKvUsageOld,  // vllm:gpu_cache_usage_perc (deprecated in 0.9)
  kHits,
  kHitsOld,
  kQueries,
  kQueriesOld,
  kPreemptions,
  kCacheConfig,     // vllm:cache_config_info (figures in its labels)
  kCapacityTokens,  // sglang:max_total_num_tokens
  kCount
};

struct NamedFigure {
  std::string_view name;
  Figure figure;
};

constexpr NamedFigure kVllmNames[] = {
    {"vllm:num_requests_running", Figure::kRunning},       {"vllm:num_requests_waiting", Figure::kWaiting},
    {"vllm:kv_cache_usage_perc", Figure::kKvUsage},        {"vllm:gpu_cache_usage_perc", Figure::kKvUsageOld},
    {"vllm:prefix_cache_hits_total", Figure::kHits},       {"vllm:gpu_prefix_cache_hits_total", Figure::kHitsOld},
    {"vllm:prefix_cache_queries_total", Figure::kQueries}, {"vllm:gpu_prefix_cache_queries_total", Figure::kQueriesOld},
    {"vllm:num_preemptions_total", Figure::kPreemptions},  {"vllm:cache_config_info", Figure::kCacheConfig},
};

constexpr NamedFigure kSglangNames[] = {
    {"sglang:num_running_reqs", Figure::kRunning},
    {"sglang:num_queue_reqs", Figure::kWaiting},
    {"sglang:token_usage", Figure::kKvUsage},
    {"sglang:max_total_num_tokens", Figure::kCapacityTokens},
};

// Most lines of a vLLM page are histogram buckets of other metrics: the prefix test rejects every
// non-vLLM/SGLang line at once, and the length comparison most of the rest.
std::optional<Figure> classify(std::string_view name) {
  if (name.starts_with("vllm:")) {
    for (const auto& n : kVllmNames) {
      if (n.name == name) return n.figure;
    }
  } else if (name.starts_with("sglang:")) {
    for (const auto& n : kSglangNames) {
      if (n.name == name) return n.figure;
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> label_integer(std::string_view labels, std::string_view key) {
  const auto raw = find_label(labels, key);
  if (!raw || raw->empty()) return std::nullopt;
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(raw->data(), raw->data() + raw->size(), v);
  if (ec != std::errc() || end != raw->data() + raw->size()) return std::nullopt;  // "None" before init
  return v;
}

// The key that pairs an engine's usage series with its capacity: the engine label when there is one
// (vLLM's cache_config_info has engine but not model_name), else the whole label list (SGLang writes
// token_usage and max_total_num_tokens with the same labels).
std::string_view join_key(std::string_view labels) {
  if (const auto engine = find_label(labels, "engine")) return *engine;
  return labels;
}

std::uint64_t to_count(double v) {
  if (v >= 1.8e19) return UINT64_MAX;
  return static_cast<std::uint64_t>(std::llround(v));
}

// Sum of one figure's series.
struct Sum {
  double total = 0;
  bool seen = false;
  void add(double v) {
    total += v;
    seen = true;
  }
};

class Capacities {
 public:
  void add(std::string_view key, double tokens) {
    total_ += tokens;
    if (stored_ < kMax) {
      keys_[stored_] = key;
      tokens_[stored_] = tokens;
      ++stored_;
    }
    seen_ = true;
  }
  double find(std::string_view key) const {
    for (std::size_t i = 0; i < stored_; ++i) {
      if (keys_[i] == key) return tokens_[i];
    }
    return 0;
  }
  bool seen() const { return seen_; }
  double total() const { return total_; }

 private:
  static constexpr std::size_t kMax = 64;
  std::array<std::string_view, kMax> keys_{};
  std::array<double, kMax> tokens_{};
  std::size_t stored_ = 0;
  double total_ = 0;
  bool seen_ = false;
};

// Usage series of one kind, kept until the page's capacities are known (cache_config_info comes late).
class UsageSeries {
 public:
  void add(std::string_view key, double usage) {
    sum_ += usage;
    ++count_;
    if (stored_ < kMax) {
      keys_[stored_] = key;
      values_[stored_] = usage;
      ++stored_;
    }
  }
  bool empty() const { return count_ == 0; }
  std::size_t count() const { return count_; }
  // Capacity-weighted mean when every series has a capacity among `capacities`, else the plain mean.
  double mean(const Capacities& capacities) const {
    if (count_ == 1) return sum_;
    if (count_ == stored_) {
      double weighted = 0, total = 0;
      bool all_known = true;
      for (std::size_t i = 0; i < stored_ && all_known; ++i) {
        const double c = capacities.find(keys_[i]);
        if (c <= 0) all_known = false;
        weighted += values_[i] * c;
        total += c;
      }
      if (all_known && total > 0) return weighted / total;
    }
    return sum_ / static_cast<double>(count_);
  }

 private:
  static constexpr std::size_t kMax = 64;  // engines on one server; beyond it: plain mean
  std::array<std::string_view, kMax> keys_{};
  std::array<double, kMax> values_{};
  std::size_t stored_ = 0;
  std::size_t count_ = 0;
  double sum_ = 0;
};

}  // namespace

EngineMetrics extract_engine_metrics(std::string_view page) {
  std::array<Sum, static_cast<std::size_t>(Figure::kCount)> sums{};
  UsageSeries usage, usage_old;
  Capacities capacities;

  PromTextReader reader(page);
  PromSample s;
  auto wanted = [](std::string_view name) { return classify(name).has_value(); };
  while (reader.next(s, wanted)) {
    const Figure f = *classify(s.name);
    if (f == Figure::kCacheConfig) {
      // An info metric: the value is 1, the figures are labels.
      std::optional<std::uint64_t> tokens = label_integer(s.labels, "kv_cache_size_tokens");
      if (!tokens) {
        const auto blocks = label_integer(s.labels, "num_gpu_blocks");
        const auto block_size = label_integer(s.labels, "block_size");
        if (blocks && block_size) tokens = *blocks * *block_size;
      }
      if (tokens && *tokens > 0) capacities.add(join_key(s.labels), static_cast<double>(*tokens));
      continue;
    }
    if (!std::isfinite(s.value) || s.value < 0) continue;
    switch (f) {
      case Figure::kKvUsage:
        usage.add(join_key(s.labels), s.value);
        break;
      case Figure::kKvUsageOld:
        usage_old.add(join_key(s.labels), s.value);
        break;
      case Figure::kCapacityTokens:
        if (s.value > 0) capacities.add(join_key(s.labels), s.value);
        break;
      default:
        sums[static_cast<std::size_t>(f)].add(s.value);
    }
  }

  auto sum = [&](Figure f) -> const Sum& { return sums[static_cast<std::size_t>(f)]; };
  auto count = [&](Figure f) -> std::optional<std::uint64_t> {
    if (!sum(f).seen) return std::nullopt;
    return to_count(sum(f).total);
  };
  // The deprecated names only when the current one is absent (vLLM 0.9 exports both, equal).
  auto count_or_old = [&](Figure f, Figure old) { return sum(f).seen ? count(f) : count(old); };

  EngineMetrics m;
  m.running = count(Figure::kRunning);
  m.waiting = count(Figure::kWaiting);
  const UsageSeries& u = !usage.empty() ? usage : usage_old;
  if (!u.empty()) m.kv_usage = std::clamp(u.mean(capacities), 0.0, 1.0);
  m.prefix_cache_hits = count_or_old(Figure::kHits, Figure::kHitsOld);
  m.prefix_cache_queries = count_or_old(Figure::kQueries, Figure::kQueriesOld);
  m.preemptions = count(Figure::kPreemptions);
  if (capacities.seen()) m.kv_capacity_tokens = to_count(capacities.total());
  return m;
}

}  // namespace kvroute::upstream
