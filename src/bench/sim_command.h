#pragma once
// `kvroute-bench sim`: reads a trace, prepares it once, and replays it in virtual time on a
// simulated fleet for every requested policy (and every time scale of a sweep), then prints a table
// and optionally writes JSON. docs/benchmarks.md documents the options and the output.

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "bench/report.h"
#include "common/result.h"

namespace kvroute::bench {

/// The options of `kvroute-bench sim`, with their defaults.
struct SimCommandOptions {
  std::string trace;                ///< --trace (required)
  std::string format = "auto";      ///< --format: auto, mooncake, azure, kvroute
  std::uint32_t backends = 8;       ///< --backends (ignored with --fleet)
  std::string preset = "L8B-H100";  ///< --preset: one name or a comma list
  std::string fleet_file;           ///< --fleet: YAML/JSON fleet file (overrides --backends/--preset)
  /// --policies: comma list of "name" or "label=name" (one policy under several labels)
  std::string policies = "round_robin,random,least_request,power_of_two,ewma";
  std::vector<std::string> policy_params;  ///< --policy-param label.key=value (repeatable)
  double time_scale = 1.0;                 ///< --time-scale
  std::vector<double> sweep;               ///< --sweep: several time scales (overrides --time-scale)
  std::string json_out;                    ///< --json: output file ("-" = stdout, after the table)
  std::uint64_t seed = 1;                  ///< --seed
  std::size_t max_requests = 0;            ///< --max-requests (0 = all)
  double ttft_slo_ms = 2000;               ///< --ttft-slo-ms
  double tpot_slo_ms = 100;                ///< --tpot-slo-ms
  double timeout_s = 300;                  ///< --timeout-s: arrival -> first token
  double scrape_interval_ms = 50;          ///< --scrape-interval-ms
  std::string model;                       ///< --model: request model name (default: the first preset's)
  bool markdown = false;                   ///< --markdown: print Markdown tables instead of the text table
};

/// Runs the simulation described by `options`: one SimReport per time scale. Progress (one line
/// per policy run, with wall-clock time) goes to `progress` when it is not null. Errors (22): bad
/// trace, fleet, policy name or parameter, option out of range.
Result<std::vector<SimReport>> run_sim(const SimCommandOptions& options, std::ostream* progress);

/// Parses "policy.key=value" options into per-policy parameter maps (exposed for tests).
Result<std::vector<std::pair<std::string, std::pair<std::string, std::string>>>> parse_policy_params(
    const std::vector<std::string>& items);

/// The whole `kvroute-bench` command line (subcommand `sim`); returns the process exit code.
int bench_main(int argc, char** argv);

}  // namespace kvroute::bench
