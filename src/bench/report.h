#pragma once
// Reports of `kvroute-bench sim`: the JSON document (docs/benchmarks.md gives the schema) and the
// table printed on stdout. Output is a pure function of the report: no wall-clock figures, so the
// same inputs and seed give byte-identical JSON.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bench/fleet.h"
#include "bench/metrics.h"

namespace kvroute::bench {

/// One run of every policy at one time scale.
struct SimReport {
  std::string trace;   ///< the trace file as given
  std::string format;  ///< mooncake, azure or kvroute
  std::uint32_t backends = 0;
  std::string preset;  ///< preset names, comma-separated
  std::vector<FleetEntry> fleet;
  std::string model;  ///< the requests' model name
  double time_scale = 1;
  std::uint64_t seed = 1;
  std::uint64_t requests = 0;
  LatencySummary lower_bound_ttft_ms;  ///< idle-server bound (metrics.h lower_bound_ttft_ms)
  double achievable_hit_rate = 0;
  SloOptions slo;
  double timeout_s = 0;
  double scrape_interval_ms = 0;
  std::vector<PolicyMetrics> results;
};

/// The report as one JSON object (2-space indentation, trailing newline).
std::string report_json(const SimReport& report);
/// Several reports (a --sweep) as a JSON array of report objects, in the given order.
std::string sweep_json(std::span<const SimReport> reports);

/// A fixed-width table: a header block, one row per policy with the key columns, and the ratios of
/// mean TTFT, p99 TTFT and goodput to round_robin's when round_robin is in the run.
std::string format_table(const SimReport& report);

/// The same rows as a Markdown table (docs/benchmarks.md), with the lower bound as the first row:
/// seconds for TTFT and E2E, ms for TPOT, percentages for rates. Rows of several runs on the same
/// scenario can be concatenated under one header (`with_header` false for the later ones).
std::string format_markdown(const SimReport& report, bool with_header = true);

}  // namespace kvroute::bench
