#pragma once
// The figures reported per policy (DESIGN.md section 7), computed from a run's request records.
//
//   ttft_ms     arrival (at the gateway) -> first token, gateway queueing included. A timed-out
//               request counts with the timeout as its TTFT (a lower bound on the truth), so a policy
//               cannot look fast by timing requests out; rejected requests are left out.
//   tpot_ms     (last token - first token) / (output_tokens - 1), completed requests with >= 2 tokens
//   e2e_ms      arrival -> last token, completed requests
//   makespan    first arrival -> last completion, timeout or rejection
//   throughput_rps = completed / makespan; output_tokens_per_s = completed requests' tokens / makespan
//   goodput_rps    completed requests with TTFT <= ttft_slo and TPOT <= tpot_slo (a one-token answer has
//                  no TPOT and meets it), per second of makespan
//   prefix_hit_rate  engine prefix-cache hit tokens / tokens looked up, summed over backends
//   kv_usage_mean    time-weighted mean KV usage over [first arrival, end], averaged over backends
//   imbalance        max / mean requests dispatched per backend (1 = perfectly even)
// Percentiles interpolate linearly between order statistics (as the traces' README does).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bench/fleet_driver.h"

namespace kvroute::bench {

struct SloOptions {
  double ttft_slo_ms = 2000;  ///< interactive chat: a first token within 2 s
  double tpot_slo_ms = 100;   ///< 10 tokens/s, faster than people read
};

struct LatencySummary {
  double mean = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
};

struct PolicyMetrics {
  std::string policy;
  std::uint64_t requests = 0;
  std::uint64_t completed = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t rejected = 0;
  LatencySummary ttft_ms;
  LatencySummary tpot_ms;  ///< p50/p90 filled too, reported: mean, p99
  LatencySummary e2e_ms;   ///< reported: p50, p99
  double throughput_rps = 0;
  double output_tokens_per_s = 0;
  double goodput_rps = 0;
  double prefix_hit_rate = 0;
  double kv_usage_mean = 0;
  double imbalance = 0;
  double makespan_s = 0;
  std::uint64_t preemptions = 0;
  std::uint64_t max_queued = 0;
};

/// Value at quantile q in [0, 1] of `sorted` (ascending), linear interpolation; 0 when empty.
double quantile(std::span<const double> sorted, double q);

/// Mean and percentiles of `values` (sorted in place).
LatencySummary summarize(std::vector<double>& values);

/// The figures for one run. `timeout` is the run's timeout (the censored TTFT of timeouts).
PolicyMetrics compute_metrics(const RunResult& run, const SloOptions& slo, Nanos timeout, std::string policy);

/// TTFT in ms of the idle-server lower bound (mean and percentiles over requests): per request,
/// idle_prefill_time of the prompt tokens no earlier request shared, on the fastest kind of backend
/// of the fleet (for a one-preset fleet: that preset).
LatencySummary lower_bound_ttft_ms(const Workload& workload, const Fleet& fleet);

}  // namespace kvroute::bench
