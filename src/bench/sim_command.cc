#include "bench/sim_command.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <ostream>
#include <utility>

#include "bench/fleet_driver.h"
#include "bench/trace.h"
#include "bench/workload.h"
#include "routing/policy_registry.h"

namespace kvroute::bench {
namespace {

constexpr int kInvalidArgument = 22;

std::vector<std::string> split_list(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Error invalid(std::string message) { return Error{kInvalidArgument, std::move(message)}; }

}  // namespace

Result<std::vector<std::pair<std::string, std::pair<std::string, std::string>>>> parse_policy_params(
    const std::vector<std::string>& items) {
  std::vector<std::pair<std::string, std::pair<std::string, std::string>>> out;
  for (const auto& item : items) {
    const std::size_t dot = item.find('.');
    const std::size_t eq = item.find('=');
    if (dot == std::string::npos || eq == std::string::npos || dot == 0 || eq < dot + 2) {
      return invalid(fmt::format("--policy-param '{}': expected policy.key=value", item));
    }
    out.emplace_back(item.substr(0, dot), std::make_pair(item.substr(dot + 1, eq - dot - 1), item.substr(eq + 1)));
  }
  return out;
}

Result<std::vector<SimReport>> run_sim(const SimCommandOptions& o, std::ostream* progress) {
  // Options.
  if (o.trace.empty()) return invalid("--trace is required");
  const std::vector<double> scales = o.sweep.empty() ? std::vector<double>{o.time_scale} : o.sweep;
  for (const double s : scales) {
    if (!(s > 0) || !std::isfinite(s)) return invalid(fmt::format("time scale {} must be > 0", s));
  }
  if (!(o.timeout_s > 0)) return invalid("--timeout-s must be > 0");
  if (!(o.scrape_interval_ms > 0)) return invalid("--scrape-interval-ms must be > 0");
  if (!(o.ttft_slo_ms > 0) || !(o.tpot_slo_ms > 0)) return invalid("--ttft-slo-ms and --tpot-slo-ms must be > 0");
  auto format = parse_trace_format(o.format);
  if (!format) return format.error();

  // Fleet.
  auto fleet = o.fleet_file.empty() ? fleet_from_presets(o.preset, o.backends) : read_fleet(o.fleet_file);
  if (!fleet) return fleet.error();
  const std::uint32_t block_tokens = fleet->backends.front().preset->block_size;
  for (const auto& b : fleet->backends) {
    if (b.preset->block_size != block_tokens)
      return invalid("every preset of the fleet must use the same KV block size");
  }
  const std::string model = o.model.empty() ? fleet->backends.front().preset->model_name : o.model;

  // Policies and their parameters.
  const auto registry = routing::PolicyRegistry::with_builtin_policies();
  // Each item is "policy" or "label=policy" (the same policy under several labels, each with its
  // own --policy-param label.key=value).
  std::vector<std::string> names;
  std::vector<std::string> policy_of;
  for (const auto& item : split_list(o.policies)) {
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos) {
      names.push_back(item);
      policy_of.push_back(item);
    } else {
      if (eq == 0 || eq + 1 == item.size()) return invalid(fmt::format("--policies: '{}' is not label=policy", item));
      names.push_back(item.substr(0, eq));
      policy_of.push_back(item.substr(eq + 1));
    }
  }
  if (names.empty()) return invalid("--policies names no policy");
  std::map<std::string, routing::PolicyParams, std::less<>> params;
  auto given = parse_policy_params(o.policy_params);
  if (!given) return given.error();
  for (const auto& [policy, kv] : *given) {
    if (std::find(names.begin(), names.end(), policy) == names.end()) {
      return invalid(fmt::format("--policy-param names policy '{}', which is not in --policies", policy));
    }
    params[policy][kv.first] = kv.second;
  }
  std::vector<routing::PolicyFactoryPtr> factories;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i), names[i]) !=
        names.begin() + static_cast<std::ptrdiff_t>(i)) {
      return invalid(fmt::format("--policies names '{}' twice (give one of them a label: label=policy)", names[i]));
    }
    auto f = registry.create(policy_of[i], params[names[i]]);
    if (!f) return f.error();
    factories.push_back(std::move(*f));
  }

  // Trace, prepared once for every run.
  auto t0 = std::chrono::steady_clock::now();
  auto trace = read_trace(o.trace, *format, o.max_requests);
  if (!trace) return trace.error();
  if (trace->records.empty()) return invalid(fmt::format("{}: the trace has no requests", o.trace));
  auto workload = Workload::build(*trace, model, block_tokens);
  if (!workload) return workload.error();
  const std::string format_name(trace_format_name(trace->format));
  trace->records.clear();
  trace->records.shrink_to_fit();
  const LatencySummary lower_bound = lower_bound_ttft_ms(*workload, *fleet);
  if (progress != nullptr) {
    *progress << fmt::format("prepared {} requests ({} prompt tokens) in {:.2f} s\n", workload->size(),
                             workload->total_prompt_tokens(), seconds_since(t0));
  }

  std::vector<SimReport> reports;
  for (const double scale : scales) {
    SimReport report;
    report.trace = o.trace;
    report.format = format_name;
    report.backends = static_cast<std::uint32_t>(fleet->backends.size());
    report.preset = fleet->preset_label();
    report.fleet = fleet->entries;
    report.model = model;
    report.time_scale = scale;
    report.seed = o.seed;
    report.requests = workload->size();
    report.lower_bound_ttft_ms = lower_bound;
    report.achievable_hit_rate = workload->achievable_hit_rate();
    report.slo = SloOptions{o.ttft_slo_ms, o.tpot_slo_ms};
    report.timeout_s = o.timeout_s;
    report.scrape_interval_ms = o.scrape_interval_ms;

    SimOptions sim;
    sim.time_scale = scale;
    sim.seed = o.seed;
    sim.timeout = seconds_to_nanos(o.timeout_s);
    sim.scrape_interval = seconds_to_nanos(o.scrape_interval_ms / 1000.0);
    for (std::size_t i = 0; i < names.size(); ++i) {
      t0 = std::chrono::steady_clock::now();
      FleetSimulation simulation(*workload, *fleet, *factories[i], sim);
      RunResult run = simulation.run();
      if (progress != nullptr) {
        *progress << fmt::format("time scale {}: {} done in {:.2f} s wall ({} engine steps)\n", scale, names[i],
                                 seconds_since(t0), run.engine_steps);
      }
      report.results.push_back(compute_metrics(run, report.slo, sim.timeout, names[i]));
    }
    reports.push_back(std::move(report));
  }
  return reports;
}

int bench_main(int argc, char** argv) {
  CLI::App app{"kvroute-bench: replay LLM-serving traces against simulated fleets (sim) and compare routing policies"};
  app.require_subcommand(1);
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

  SimCommandOptions o;
  std::string sweep;
  CLI::App* sim =
      app.add_subcommand("sim", "Offline: replay a trace in virtual time on simulated backends, per policy");
  sim->add_option("--trace", o.trace, "Trace file: Mooncake JSONL, Azure CSV or kvroute JSONL")->required();
  sim->add_option("--format", o.format, "Trace format: auto (default), mooncake, azure, kvroute");
  sim->add_option("--backends", o.backends, "Number of simulated backends (default 8)");
  sim->add_option("--preset", o.preset, "Preset, or a comma list assigned round-robin to backends (default L8B-H100)");
  sim->add_option("--fleet", o.fleet_file, "Fleet file (YAML or JSON list of {preset, count, speed_factor, weight})");
  sim->add_option("--policies", o.policies,
                  "Comma list of policies, each 'name' or 'label=name' (default " + o.policies + ")");
  sim->add_option("--policy-param", o.policy_params, "policy.key=value (policy: its name or label); repeatable")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sim->add_option("--time-scale", o.time_scale, "Multiply arrival times by this (0.5 = twice the load; default 1)");
  sim->add_option("--sweep", sweep, "Comma list of time scales; JSON is then an array, one report per scale");
  sim->add_option("--json", o.json_out, "Write the JSON report to this file ('-' = stdout)");
  sim->add_option("--seed", o.seed, "Seed of the policies' random source (default 1)");
  sim->add_option("--max-requests", o.max_requests, "Replay only the first N requests (default all)");
  sim->add_option("--ttft-slo-ms", o.ttft_slo_ms, "Goodput SLO on time to first token (default 2000)");
  sim->add_option("--tpot-slo-ms", o.tpot_slo_ms, "Goodput SLO on time per output token (default 100)");
  sim->add_option("--timeout-s", o.timeout_s,
                  "A request without a first token this long after arrival times out (default 300)");
  sim->add_option("--scrape-interval-ms", o.scrape_interval_ms, "Metric scrape period (default 50, as llm-d's EPP)");
  sim->add_option("--model", o.model, "Model name of the requests (default: the first preset's model)");
  sim->add_flag("--markdown", o.markdown, "Print the results as Markdown tables (docs/benchmarks.md)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!sweep.empty()) {
    for (const auto& item : split_list(sweep)) {
      try {
        std::size_t used = 0;
        o.sweep.push_back(std::stod(item, &used));
        if (used != item.size()) throw std::invalid_argument(item);
      } catch (const std::exception&) {
        std::cerr << "kvroute-bench sim: --sweep: '" << item << "' is not a number\n";
        return 2;
      }
    }
  }

  auto reports = run_sim(o, &std::cerr);
  if (!reports) {
    std::cerr << "kvroute-bench sim: " << reports.error().message << "\n";
    return 2;
  }
  for (std::size_t i = 0; i < reports->size(); ++i) {
    if (i > 0) std::cout << "\n";
    if (o.markdown) {
      const SimReport& r = (*reports)[i];
      std::cout << fmt::format("{} ({}), {} x {}, time scale {}, seed {}\n\n", r.trace, r.format, r.backends, r.preset,
                               r.time_scale, r.seed)
                << format_markdown(r);
    } else {
      std::cout << format_table((*reports)[i]);
    }
  }
  if (!o.json_out.empty()) {
    const std::string json = o.sweep.empty() ? report_json(reports->front()) : sweep_json(*reports);
    if (o.json_out == "-") {
      std::cout << json;
    } else {
      std::ofstream out(o.json_out, std::ios::binary | std::ios::trunc);
      out << json;
      if (!out) {
        std::cerr << "kvroute-bench sim: cannot write " << o.json_out << "\n";
        return 1;
      }
    }
  }
  return 0;
}

}  // namespace kvroute::bench
