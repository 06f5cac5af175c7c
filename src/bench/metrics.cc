#include "bench/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace kvroute::bench {
namespace {

double to_ms(Nanos n) { return static_cast<double>(n) / 1e6; }

}  // namespace

double quantile(std::span<const double> sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

LatencySummary summarize(std::vector<double>& values) {
  LatencySummary s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (const double v : values) sum += v;
  s.mean = sum / static_cast<double>(values.size());
  s.p50 = quantile(values, 0.50);
  s.p90 = quantile(values, 0.90);
  s.p99 = quantile(values, 0.99);
  return s;
}

PolicyMetrics compute_metrics(const RunResult& run, const SloOptions& slo, Nanos timeout, std::string policy) {
  PolicyMetrics m;
  m.policy = std::move(policy);
  m.requests = run.requests.size();
  std::vector<double> ttft;
  std::vector<double> tpot;
  std::vector<double> e2e;
  ttft.reserve(run.requests.size());
  std::uint64_t output_tokens = 0;
  std::uint64_t good = 0;
  for (const RequestRecord& r : run.requests) {
    switch (r.status) {
      case RequestStatus::kCompleted: {
        ++m.completed;
        output_tokens += r.output_tokens;
        const double t = to_ms(r.first_token - r.arrival);
        ttft.push_back(t);
        e2e.push_back(to_ms(r.finished - r.arrival));
        bool tpot_ok = true;
        if (r.output_tokens > 1) {
          const double per_token = to_ms(r.finished - r.first_token) / static_cast<double>(r.output_tokens - 1);
          tpot.push_back(per_token);
          tpot_ok = per_token <= slo.tpot_slo_ms;
        }
        if (t <= slo.ttft_slo_ms && tpot_ok) ++good;
        break;
      }
      case RequestStatus::kTimedOut:
        ++m.timeouts;
        ttft.push_back(to_ms(timeout));
        break;
      case RequestStatus::kRejected:
        ++m.rejected;
        break;
      case RequestStatus::kPending:
        break;
    }
  }
  m.ttft_ms = summarize(ttft);
  m.tpot_ms = summarize(tpot);
  m.e2e_ms = summarize(e2e);
  m.makespan_s = nanos_to_seconds(run.end - run.start);
  if (m.makespan_s > 0) {
    m.throughput_rps = static_cast<double>(m.completed) / m.makespan_s;
    m.output_tokens_per_s = static_cast<double>(output_tokens) / m.makespan_s;
    m.goodput_rps = static_cast<double>(good) / m.makespan_s;
  }
  m.prefix_hit_rate = run.prefix_cache_queries == 0
                          ? 0.0
                          : static_cast<double>(run.prefix_cache_hits) / static_cast<double>(run.prefix_cache_queries);
  m.kv_usage_mean = run.kv_usage_mean;
  if (!run.dispatched_per_backend.empty()) {
    std::uint64_t total = 0;
    std::uint64_t most = 0;
    for (const auto d : run.dispatched_per_backend) {
      total += d;
      most = std::max(most, d);
    }
    const double mean = static_cast<double>(total) / static_cast<double>(run.dispatched_per_backend.size());
    m.imbalance = mean > 0 ? static_cast<double>(most) / mean : 0.0;
  }
  m.preemptions = run.preemptions;
  m.max_queued = run.max_queued;
  return m;
}

LatencySummary lower_bound_ttft_ms(const Workload& workload, const Fleet& fleet) {
  // Distinct server kinds: the bound takes the fastest for each request.
  std::vector<std::pair<const sim::Preset*, double>> kinds;
  for (const auto& b : fleet.backends) {
    const std::pair<const sim::Preset*, double> k{b.preset, b.speed_factor};
    if (std::find(kinds.begin(), kinds.end(), k) == kinds.end()) kinds.push_back(k);
  }
  std::vector<double> ttft;
  ttft.reserve(workload.size());
  for (const WorkloadRequest& r : workload.requests()) {
    Nanos best = std::numeric_limits<Nanos>::max();
    for (const auto& [preset, speed] : kinds) {
      best = std::min(best, idle_prefill_time(*preset, speed, r.prompt_tokens, r.shared_tokens));
    }
    ttft.push_back(to_ms(best));
  }
  return summarize(ttft);
}

}  // namespace kvroute::bench
