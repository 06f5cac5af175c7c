#pragma once
// The /metrics page of one simulated instance: vLLM V1's metric names, types, labels and bucket
// boundaries (SIMULATOR-FACTS.md section 1), in Prometheus text format 0.0.4 as prometheus_client
// writes it (counters' HELP/TYPE lines carry the _total name; values print as Go floats, "1.0").
// Scraped every 50 ms by routers, so rendering is one pass over preformatted pieces into a reused
// string; recording an observation is a short bucket search and never allocates.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sim/engine.h"
#include "sim/preset.h"

namespace kvroute::sim_server {

/// Formats v as Python's prometheus_client does (floatToGoString): "+Inf", "1.0", "0.001", "2.5e-05".
void append_go_float(std::string& out, double v);

/// A Prometheus histogram with fixed upper bounds (le); observations counted per bucket. Owner's
/// thread only.
class PromHistogram {
 public:
  explicit PromHistogram(std::span<const double> bounds);
  void observe(double v);
  void reset();
  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  std::span<const double> bounds() const { return bounds_; }
  /// Non-cumulative count of bucket i (i == bounds().size() is the +Inf overflow).
  std::uint64_t bucket(std::size_t i) const { return counts_[i]; }

  /// Appends the _bucket lines (cumulative, with +Inf), _count and _sum for `name`; labels is the
  /// preformatted label list without braces (model_name="m",engine="0").
  void render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::string> le_;  // preformatted ,le="..." pieces, +Inf last
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

/// vLLM's finished_reason label values.
enum class FinishReason : std::uint8_t { kStop, kLength, kAbort, kError };
std::string_view finish_reason_name(FinishReason r);

/// Everything one instance exports besides the engine's own counters. Instance thread only.
class InstanceMetrics {
 public:
  InstanceMetrics(std::string_view served_model, const sim::Preset& preset);

  // Observations, in seconds (or tokens), as vLLM records them.
  void request_finished(FinishReason reason) { ++success_[static_cast<std::size_t>(reason)]; }
  PromHistogram ttft{kTtftBuckets};
  PromHistogram tpot{kTpotBuckets};  ///< vllm:time_per_output_token_seconds (per token)
  PromHistogram itl{kTpotBuckets};   ///< vllm:inter_token_latency_seconds (same data)
  PromHistogram e2e{kRequestLatencyBuckets};
  PromHistogram queue_time{kRequestLatencyBuckets};
  PromHistogram inference_time{kRequestLatencyBuckets};
  PromHistogram prefill_time{kRequestLatencyBuckets};
  PromHistogram decode_time{kRequestLatencyBuckets};
  PromHistogram iteration_tokens{kIterationTokenBuckets};
  PromHistogram prompt_tokens;      ///< 1-2-5 buckets up to max_model_len
  PromHistogram generation_tokens;  ///< same buckets
  PromHistogram max_tokens_param;   ///< vllm:request_params_max_tokens
  PromHistogram token_lateness{kLatenessBuckets};  ///< kvroute_sim_token_lateness_seconds

  std::uint64_t success(FinishReason r) const { return success_[static_cast<std::size_t>(r)]; }

  /// Renders the whole page into out (cleared first) from these figures and the engine's stats.
  void render(std::string& out, const sim::EngineStats& stats) const;

  static constexpr double kTtftBuckets[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
                                            1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
  static constexpr double kTpotBuckets[] = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
                                            0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
  static constexpr double kRequestLatencyBuckets[] = {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0,
                                                      30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0,
                                                      1920.0, 7680.0};
  static constexpr double kIterationTokenBuckets[] = {1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};
  static constexpr double kLatenessBuckets[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005,
                                                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};

  /// vLLM's build_1_2_5_buckets(max): 1, 2, 5, 10, 20, 50, ... while <= max.
  static std::vector<double> buckets_1_2_5(std::uint32_t max_value);

 private:
  std::string labels_;        // model_name="...",engine="0"
  std::string cache_config_;  // the whole vllm:cache_config_info block
  std::uint64_t success_[4] = {};
};

}  // namespace kvroute::sim_server
