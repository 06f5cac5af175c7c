#include "sim_server/options.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "sim/preset.h"

namespace kvroute::sim_server {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto comma = s.find(',', start);
    std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Error bad(std::string message) { return Error{2, std::move(message)}; }

/// A list option with one value for all instances or one per instance.
Result<std::vector<std::string>> per_instance(const std::string& option, const std::string& value,
                                              std::uint32_t instances) {
  std::vector<std::string> items = split_list(value);
  for (const auto& item : items) {
    if (item.empty()) return bad(fmt::format("{} '{}' has an empty item", option, value));
  }
  if (items.size() == 1) return std::vector<std::string>(instances, items[0]);
  if (items.size() != instances) {
    return bad(fmt::format("{} has {} values for {} instances (give one value, or one per instance)", option,
                           items.size(), instances));
  }
  return items;
}

Result<double> parse_double(const std::string& option, const std::string& s) {
  double v = 0;
  const auto [p, err] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (err != std::errc{} || p != s.data() + s.size() || !std::isfinite(v)) {
    return bad(fmt::format("{}: '{}' is not a number", option, s));
  }
  return v;
}

std::string known_presets() {
  std::string names;
  for (const auto& p : sim::builtin_presets()) {
    if (!names.empty()) names += ", ";
    names += p.name;
  }
  return names;
}

}  // namespace

std::string presets_table() {
  std::string out = fmt::format("{:<16} {:<36} {:>10} {:>6} {:>8} {:>10} {:>12}\n", "preset", "model",
                                "gpu_blocks", "block", "max_seqs", "max_batch", "max_model_len");
  for (const auto& p : sim::builtin_presets()) {
    out += fmt::format("{:<16} {:<36} {:>10} {:>6} {:>8} {:>10} {:>12}\n", p.name, p.model_name, p.num_gpu_blocks,
                       p.block_size, p.max_num_seqs, p.max_num_batched_tokens, p.max_model_len);
  }
  return out;
}

Result<SimServerOptions> parse_options(int argc, const char* const* argv) {
  CLI::App app{"kvroute-sim: simulated OpenAI-compatible inference servers (a mock vLLM). One process hosts "
               "--instances servers on consecutive ports, each with its own engine.",
               "kvroute-sim"};
  // A repeated option takes its last value (scripts can append overrides to a base command line).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  std::uint32_t instances = 1;
  std::string host = "127.0.0.1";
  std::uint32_t port = 8000;
  std::string preset = "L8B-H100";
  std::string speed_factor = "1";
  double speedup = 1.0;
  std::string model;
  std::uint32_t threads = 0;
  std::uint64_t seed = 1;
  std::string log_level = "info";
  std::uint64_t max_body_bytes = 16u << 20;
  bool calibrate = false;
  bool list_presets = false;
  double fail_error_rate = 0;
  int fail_error_status = 500;
  bool fail_hang = false;
  std::uint32_t fail_close_after = 0;
  std::uint32_t fail_slow_ms = 0;
  bool fail_refuse = false;
  std::uint32_t fail_queue_limit = 0;
  std::string fail_instances;

  app.add_option("--instances", instances, "Number of simulated servers (default 1)");
  app.add_option("--port", port,
                 "Port of instance 0; instance i listens on port+i. 0: every instance takes a free port (default 8000)");
  app.add_option("--host", host, "Address to listen on (default 127.0.0.1)");
  app.add_option("--preset", preset,
                 "Timing/capacity preset, or a comma list with one per instance (default L8B-H100; see --list-presets)");
  app.add_option("--speed-factor", speed_factor,
                 "Per-instance speed factor (all model times divided by it), one value or one per instance (default 1)");
  app.add_option("--speedup", speedup, "Divide every model time by this too, to run tests fast (default 1)");
  app.add_option("--model", model, "Served model name, one or one per instance (default: the preset's model)");
  app.add_option("--threads", threads, "I/O threads; instance i runs on thread i % T (default min(instances, cores))");
  app.add_option("--seed", seed, "Seed for fault draws and response ids (default 1)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off (default info)");
  app.add_option("--max-body-bytes", max_body_bytes, "Largest request body accepted; larger gets 413 (default 16 MiB)");
  app.add_flag("--calibrate", calibrate, "Print the presets' calibration table (Markdown) and exit");
  app.add_flag("--list-presets", list_presets, "Print the built-in presets and exit");
  app.add_option("--fail-error-rate", fail_error_rate, "Fault: answer this fraction of requests with an error");
  app.add_option("--fail-error-status", fail_error_status, "Fault: HTTP status of injected errors (default 500)");
  app.add_flag("--fail-hang", fail_hang, "Fault: read requests and never answer");
  app.add_option("--fail-close-after-tokens", fail_close_after, "Fault: close the connection after K tokens");
  app.add_option("--fail-slow-ms", fail_slow_ms, "Fault: wait this many ms before each token");
  app.add_flag("--fail-refuse", fail_refuse, "Fault: keep the listening socket closed (connections refused)");
  app.add_option("--fail-queue-limit", fail_queue_limit,
                 "Fault: answer 503 while this many requests already wait in the engine queue");
  app.add_option("--fail-instances", fail_instances,
                 "Comma list of instance indexes the --fail-* options apply to (default: all)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return Error{0, app.help()};
  } catch (const CLI::ParseError& e) {
    return bad(e.what());
  }

  SimServerOptions out;
  out.calibrate = calibrate;
  out.list_presets = list_presets;
  out.log_level = log_level;
  if (calibrate || list_presets) return out;

  if (instances < 1 || instances > 4096) return bad("--instances must be between 1 and 4096");
  if (port > 65535) return bad("--port must be at most 65535");
  if (port != 0 && port + instances - 1 > 65535) {
    return bad(fmt::format("--port {} with {} instances runs past port 65535", port, instances));
  }
  if (!(speedup > 0)) return bad("--speedup must be greater than 0");
  if (max_body_bytes < 1) return bad("--max-body-bytes must be at least 1");
  static constexpr const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (std::find(std::begin(kLevels), std::end(kLevels), log_level) == std::end(kLevels)) {
    return bad(fmt::format("--log-level '{}' is not one of trace, debug, info, warn, error, off", log_level));
  }

  auto presets = per_instance("--preset", preset, instances);
  if (!presets) return presets.error();
  auto factors = per_instance("--speed-factor", speed_factor, instances);
  if (!factors) return factors.error();
  std::vector<std::string> models(instances);
  if (!model.empty()) {
    auto m = per_instance("--model", model, instances);
    if (!m) return m.error();
    models = *m;
  }

  sim::FaultSettings faults;
  faults.error_rate = fail_error_rate;
  faults.error_status = fail_error_status;
  faults.hang = fail_hang;
  faults.close_after_tokens = fail_close_after;
  faults.slow_ms = fail_slow_ms;
  faults.refuse_connections = fail_refuse;
  faults.queue_limit = fail_queue_limit;
  if (auto ok = sim::validate(faults); !ok) return bad("--fail-*: " + ok.error().message);
  std::vector<bool> faulty(instances, fail_instances.empty());
  if (!fail_instances.empty()) {
    for (const auto& item : split_list(fail_instances)) {
      std::uint32_t i = 0;
      const auto [p, err] = std::from_chars(item.data(), item.data() + item.size(), i);
      if (err != std::errc{} || p != item.data() + item.size() || i >= instances) {
        return bad(fmt::format("--fail-instances: '{}' is not an instance index in [0, {})", item, instances));
      }
      faulty[i] = true;
    }
  }

  for (std::uint32_t i = 0; i < instances; ++i) {
    const sim::Preset* p = sim::find_preset((*presets)[i]);
    if (p == nullptr) {
      return bad(fmt::format("--preset: unknown preset '{}' (known: {})", (*presets)[i], known_presets()));
    }
    auto factor = parse_double("--speed-factor", (*factors)[i]);
    if (!factor) return factor.error();
    if (!(*factor > 0)) return bad("--speed-factor values must be greater than 0");
    InstanceConfig c;
    c.index = i;
    c.host = host;
    c.port = port == 0 ? 0 : static_cast<std::uint16_t>(port + i);
    c.preset = *p;
    c.model = models[i].empty() ? p->model_name : models[i];
    c.speed_factor = *factor * speedup;
    c.max_body_bytes = max_body_bytes;
    c.faults = faulty[i] ? faults : sim::FaultSettings{};
    c.seed = seed;
    out.instances.push_back(std::move(c));
  }
  const std::uint32_t cores = std::max(1u, std::thread::hardware_concurrency());
  out.threads = threads == 0 ? std::min(instances, cores) : std::min(threads, instances);
  return out;
}

}  // namespace kvroute::sim_server
