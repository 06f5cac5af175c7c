// sim_capacity: can one kvroute-sim process serve a fleet's worth of streams on time?
//
// Starts kvroute-sim (or attaches to running instances), keeps C streaming chat completions open
// round robin over the instances for a measured window, and reports how late the server put each
// token on the wire relative to when its engine scheduled it (the server's /sim/stats lateness
// histograms, merged), next to what the client saw. Live benchmarks of the gateway are only
// meaningful while this lateness stays small compared with the latencies they measure.

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/time_source.h"
#include "histogram.h"
#include "load.h"
#include "sim_process.h"

#ifndef KVROUTE_SIM_DEFAULT_BIN
#define KVROUTE_SIM_DEFAULT_BIN "kvroute-sim"
#endif

namespace kb = kvroute::bench;
using nlohmann::json;

namespace {

struct Options {
  std::string sim_bin = KVROUTE_SIM_DEFAULT_BIN;
  std::vector<std::string> urls;
  int instances = 8;
  std::string preset = "L8B-H100";
  double speedup = 1;
  int sim_threads = 0;
  std::vector<std::string> sim_args;
  std::string model;
  double ready_timeout_s = 30;
  kb::LoadConfig load;
  std::string json_out;
  std::uint64_t min_completed = 0;
};

json summary_json(const kb::Summary& s) {
  return {{"count", s.count}, {"mean", s.mean}, {"p50", s.p50}, {"p90", s.p90},
          {"p99", s.p99},     {"p999", s.p999}, {"max", s.max}};
}

// Numbers in /sim/stats may come as integers or doubles; an overflow bucket's bound may be null,
// a string such as "inf", or a very large number.
double as_double(const json& v, double fallback) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s == "inf" || s == "+inf" || s == "Infinity" || s == "+Inf") return std::numeric_limits<double>::infinity();
  }
  if (v.is_null()) return std::numeric_limits<double>::infinity();
  return fallback;
}

kb::BucketHistogram lateness_histogram(const json& stats) {
  kb::BucketHistogram h;
  const json& lat = stats.value("token_lateness", json::object());
  if (lat.contains("max_us")) h.note_max(as_double(lat["max_us"], 0));
  if (lat.contains("buckets") && lat["buckets"].is_array()) {
    for (const json& b : lat["buckets"]) {
      if (!b.is_array() || b.size() < 2) continue;
      const double count = as_double(b[1], 0);
      if (count > 0) h.add(as_double(b[0], std::numeric_limits<double>::infinity()), static_cast<std::uint64_t>(count));
    }
  }
  return h;
}

std::string fmt_us(double us) {
  if (us >= 1e6) return fmt::format("{:.2f} s", us / 1e6);
  if (us >= 1e3) return fmt::format("{:.2f} ms", us / 1e3);
  return fmt::format("{:.0f} us", us);
}

std::string summary_row(const std::string& label, const kb::Summary& s) {
  return fmt::format("  {:<28} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n", label, s.count, fmt_us(s.p50),
                     fmt_us(s.p90), fmt_us(s.p99), fmt_us(s.p999), fmt_us(s.max));
}

std::string summary_header(const std::string& what) {
  return fmt::format("  {:<28} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n", what, "count", "p50", "p90", "p99",
                     "p99.9", "max");
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  CLI::App app{"sim_capacity: token lateness of kvroute-sim under many concurrent streams"};
  app.add_option("--sim-bin", opt.sim_bin, "kvroute-sim binary to start")->capture_default_str();
  app.add_option("--url", opt.urls, "attach to running instances instead of starting kvroute-sim (repeatable)");
  app.add_option("--instances", opt.instances, "instances to start")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--preset", opt.preset, "kvroute-sim preset")->capture_default_str();
  app.add_option("--speedup", opt.speedup, "kvroute-sim clock speed-up")->capture_default_str();
  app.add_option("--sim-threads", opt.sim_threads, "kvroute-sim --threads (0: its default)")->capture_default_str();
  app.add_option("--sim-arg", opt.sim_args, "extra argument passed to kvroute-sim (repeatable)");
  app.add_option("--model", opt.model, "model name to request (default: the one the server announces)");
  app.add_option("--ready-timeout", opt.ready_timeout_s, "seconds to wait for kvroute-sim to be ready")
      ->capture_default_str();
  app.add_option("--streams,-c", opt.load.streams, "concurrent streams")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--duration", opt.load.duration_s, "measured window, seconds")->capture_default_str();
  app.add_option("--warmup", opt.load.warmup_s, "seconds of load before the window (after the ramp)")
      ->capture_default_str();
  app.add_option("--ramp", opt.load.ramp_s, "stream starts are spread over this many seconds")->capture_default_str();
  app.add_option("--prompt-min-bytes", opt.load.prompt_min_bytes)->capture_default_str();
  app.add_option("--prompt-max-bytes", opt.load.prompt_max_bytes)->capture_default_str();
  app.add_option("--output-min-tokens", opt.load.output_min_tokens, "sim_output_tokens, lower bound")
      ->capture_default_str();
  app.add_option("--output-max-tokens", opt.load.output_max_tokens, "sim_output_tokens, upper bound")
      ->capture_default_str();
  app.add_option("--client-threads", opt.load.client_threads, "client io_context threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--stall-timeout", opt.load.stall_timeout_s, "abort a stream silent this many seconds")
      ->capture_default_str();
  app.add_option("--seed", opt.load.seed, "seed for prompts and output lengths")->capture_default_str();
  app.add_option("--json", opt.json_out, "also write the results as JSON to this file");
  app.add_option("--min-completed", opt.min_completed, "exit 1 if fewer streams completed in the window")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (opt.load.prompt_max_bytes < opt.load.prompt_min_bytes || opt.load.prompt_min_bytes < 0 ||
      opt.load.output_max_tokens < opt.load.output_min_tokens || opt.load.output_min_tokens < 1 ||
      opt.load.duration_s <= 0) {
    fmt::print(stderr, "sim_capacity: inconsistent prompt/output/duration options\n");
    return 2;
  }

  // Start kvroute-sim or attach.
  std::unique_ptr<kb::SimProcess> sim;
  std::vector<std::string> urls = opt.urls;
  std::string announced_model;
  if (urls.empty()) {
    std::vector<std::string> args = {"--instances", std::to_string(opt.instances), "--port",  "0",
                                     "--host",      "127.0.0.1",                  "--preset", opt.preset,
                                     "--speedup",   fmt::format("{}", opt.speedup)};
    if (opt.sim_threads > 0) args.insert(args.end(), {"--threads", std::to_string(opt.sim_threads)});
    if (!opt.model.empty()) args.insert(args.end(), {"--model", opt.model});
    args.insert(args.end(), opt.sim_args.begin(), opt.sim_args.end());
    auto started = kb::SimProcess::start(opt.sim_bin, args, std::chrono::milliseconds(
                                                                static_cast<long>(opt.ready_timeout_s * 1000)));
    if (!started.ok()) {
      fmt::print(stderr, "sim_capacity: {}\n", started.error().message);
      return 1;
    }
    sim = std::move(started.value());
    for (const auto& inst : sim->instances()) urls.push_back(inst.url);
    announced_model = sim->instances().front().model;
  }
  for (const auto& u : urls) {
    auto t = kb::resolve_target(u);
    if (!t.ok()) {
      fmt::print(stderr, "sim_capacity: {}\n", t.error().message);
      return 2;
    }
    opt.load.targets.push_back(std::move(t.value()));
  }
  opt.load.model = !opt.model.empty() ? opt.model : announced_model;
  if (opt.load.model.empty()) {
    // Attached without --model: ask the first instance what it serves.
    auto r = kb::http_fetch(opt.load.targets.front(), "GET", "/v1/models");
    if (r.ok() && r->status == 200) {
      const json models = json::parse(r->body, nullptr, false);
      if (!models.is_discarded() && models.contains("data") && !models["data"].empty()) {
        opt.load.model = models["data"][0].value("id", "");
      }
    }
    if (opt.load.model.empty()) {
      fmt::print(stderr, "sim_capacity: cannot learn the model from {}; pass --model\n", urls.front());
      return 1;
    }
  }

  // CPU time of both sides over exactly the window.
  const pid_t sim_pid = sim ? sim->pid() : -1;
  kb::CpuSample client_cpu0, client_cpu1, sim_cpu0, sim_cpu1;
  kb::MachineCpu machine0, machine1;
  kvroute::RealClock clock;
  kvroute::Nanos cpu_t0 = 0, cpu_t1 = 0;
  opt.load.on_window_start = [&] {
    cpu_t0 = clock.now();
    machine0 = kb::sample_machine_cpu();
    client_cpu0 = kb::sample_cpu(getpid());
    if (sim_pid > 0) sim_cpu0 = kb::sample_cpu(sim_pid);
  };
  opt.load.on_window_end = [&] {
    cpu_t1 = clock.now();
    machine1 = kb::sample_machine_cpu();
    client_cpu1 = kb::sample_cpu(getpid());
    if (sim_pid > 0) sim_cpu1 = kb::sample_cpu(sim_pid);
  };

  fmt::print(stderr, "sim_capacity: {} streams over {} instances ({}), ramp {} s + warm-up {} s, window {} s\n",
             opt.load.streams, opt.load.targets.size(), opt.load.model, opt.load.ramp_s, opt.load.warmup_s,
             opt.load.duration_s);
  auto ran = kb::run_load(opt.load, clock);
  int sim_status = -1;
  if (sim) sim_status = sim->stop();
  if (!ran.ok()) {
    fmt::print(stderr, "sim_capacity: {}\n", ran.error().message);
    return 1;
  }
  const kb::LoadResult& res = ran.value();
  const kb::ClientStats& c = res.client;
  const double w = res.window_s > 0 ? res.window_s : 1;

  // Server side: merge every instance's buckets.
  kb::BucketHistogram merged;
  json instances_json = json::array();
  std::string per_instance;
  bool stats_ok = true;
  for (const auto& inst : res.servers) {
    json ij = {{"url", inst.url}};
    if (!inst.ok) {
      stats_ok = false;
      ij["error"] = inst.error;
      instances_json.push_back(ij);
      per_instance += fmt::format("  {:<28} /sim/stats failed: {}\n", inst.url, inst.error);
      continue;
    }
    const kb::BucketHistogram h = lateness_histogram(inst.body);
    merged.merge(h);
    const kb::Summary from_buckets = h.summarize();
    // The server's own percentiles are exact where the buckets are coarse; show those per instance.
    kb::Summary reported = from_buckets;
    const json lat = inst.body.value("token_lateness", json::object());
    reported.count = static_cast<std::uint64_t>(as_double(lat.value("count", json(from_buckets.count)), 0));
    reported.p50 = as_double(lat.value("p50_us", json(from_buckets.p50)), from_buckets.p50);
    reported.p90 = as_double(lat.value("p90_us", json(from_buckets.p90)), from_buckets.p90);
    reported.p99 = as_double(lat.value("p99_us", json(from_buckets.p99)), from_buckets.p99);
    reported.p999 = as_double(lat.value("p999_us", json(from_buckets.p999)), from_buckets.p999);
    reported.max = as_double(lat.value("max_us", json(from_buckets.max)), from_buckets.max);
    ij["token_lateness_us"] = summary_json(reported);
    ij["token_lateness_from_buckets_us"] = summary_json(from_buckets);
    ij["instance"] = inst.body.value("instance", json());
    ij["engine"] = inst.body.value("engine", json());
    instances_json.push_back(ij);
    per_instance += summary_row(inst.url, reported);
  }
  const kb::Summary lat = merged.summarize();
  const kb::Summary gap = c.gap_us.summarize();
  const kb::Summary ttft = c.ttft_us.summarize();
  const kb::Summary lag = c.loop_lag_us.summarize();

  // CPU over the window, as a percentage of one core.
  const double cpu_window = kvroute::nanos_to_seconds(cpu_t1 - cpu_t0);
  auto pct = [&](double a, double b) { return cpu_window > 0 ? 100.0 * (b - a) / cpu_window : 0.0; };
  json sim_threads = json::array();
  std::string sim_thread_text;
  for (const auto& [name, secs] : sim_cpu1.threads) {
    double before = 0;
    for (const auto& [n0, s0] : sim_cpu0.threads) {
      if (n0 == name) before = s0;
    }
    const double p = pct(before, secs);
    sim_threads.push_back({{"thread", name}, {"cpu_percent", p}});
    sim_thread_text += fmt::format(" {}={:.0f}%", name, p);
  }

  const double client_pct = pct(client_cpu0.total_s, client_cpu1.total_s);
  const double sim_pct = sim_pid > 0 ? pct(sim_cpu0.total_s, sim_cpu1.total_s) : 0.0;
  const double machine_pct = pct(machine0.busy_s, machine1.busy_s);
  const double others_pct = std::max(0.0, machine_pct - client_pct - sim_pct);

  std::string out;
  out += fmt::format("sim_capacity: {} instances, {} streams, model {}, window {:.1f} s\n", opt.load.targets.size(),
                     opt.load.streams, opt.load.model, res.window_s);
  if (sim) out += fmt::format("  kvroute-sim --preset {} --speedup {}\n", opt.preset, opt.speedup);
  out += fmt::format("streams completed: {} ({:.1f}/s); requests sent {}; errors: stream {} http {} connect {} stalled {}\n",
                     c.streams_completed, static_cast<double>(c.streams_completed) / w, c.requests_sent,
                     c.stream_errors, c.http_errors, c.connect_errors, c.stalls);
  out += fmt::format("tokens received: {} ({:.0f}/s); events {}; {:.2f} events per read; {:.1f} MB/s\n", c.tokens,
                     static_cast<double>(c.tokens) / w, c.events,
                     c.reads ? static_cast<double>(c.events) / static_cast<double>(c.reads) : 0.0,
                     static_cast<double>(c.body_bytes) / w / 1e6);
  out += "server token lateness (socket hand-off minus engine schedule):\n";
  out += summary_header("");
  out += summary_row("merged (from buckets)", lat);
  out += per_instance;
  out += "client side:\n";
  out += summary_header("");
  out += summary_row("receive gap per token", gap);
  out += summary_row("time to first token", ttft);
  out += summary_row("client 1 ms timer lateness", lag);
  out += fmt::format("cpu over the window (100% = one core; {} cores): client {:.0f}%", machine1.cores, client_pct);
  if (sim_pid > 0) out += fmt::format(", kvroute-sim {:.0f}%", sim_pct);
  out += fmt::format(", other processes {:.0f}%, machine {:.0f}% of {}%\n", others_pct, machine_pct, machine1.cores * 100);
  if (sim_pid > 0) out += fmt::format("  kvroute-sim threads:{}\n", sim_thread_text);
  for (const auto& warn : res.warnings) out += fmt::format("warning: {}\n", warn);
  fmt::print("{}", out);
  std::fflush(stdout);

  if (!opt.json_out.empty()) {
    json j;
    j["config"] = {{"instances", opt.load.targets.size()},
                   {"preset", sim ? json(opt.preset) : json()},
                   {"speedup", sim ? json(opt.speedup) : json()},
                   {"model", opt.load.model},
                   {"streams", opt.load.streams},
                   {"client_threads", opt.load.client_threads},
                   {"ramp_s", opt.load.ramp_s},
                   {"warmup_s", opt.load.warmup_s},
                   {"duration_s", opt.load.duration_s},
                   {"prompt_bytes", {opt.load.prompt_min_bytes, opt.load.prompt_max_bytes}},
                   {"output_tokens", {opt.load.output_min_tokens, opt.load.output_max_tokens}},
                   {"urls", urls}};
    j["window_s"] = res.window_s;
    j["client"] = {{"requests_sent", c.requests_sent},
                   {"streams_completed", c.streams_completed},
                   {"streams_per_s", static_cast<double>(c.streams_completed) / w},
                   {"tokens", c.tokens},
                   {"tokens_per_s", static_cast<double>(c.tokens) / w},
                   {"events", c.events},
                   {"reads", c.reads},
                   {"body_bytes", c.body_bytes},
                   {"errors",
                    {{"stream", c.stream_errors},
                     {"http", c.http_errors},
                     {"connect", c.connect_errors},
                     {"stalled", c.stalls}}},
                   {"receive_gap_us", summary_json(gap)},
                   {"ttft_us", summary_json(ttft)},
                   {"timer_lateness_us", summary_json(lag)}};
    json merged_buckets = json::array();
    for (const auto& [upper, count] : merged.buckets()) {
      merged_buckets.push_back({std::isfinite(upper) ? json(upper) : json(), count});
    }
    j["server"] = {{"token_lateness_us", summary_json(lat)},
                   {"token_lateness_buckets", merged_buckets},
                   {"instances", instances_json}};
    j["cpu"] = {{"window_s", cpu_window},
                {"cores", machine1.cores},
                {"client_percent", client_pct},
                {"sim_percent", sim_pid > 0 ? json(sim_pct) : json()},
                {"other_processes_percent", others_pct},
                {"machine_busy_percent", machine_pct},
                {"sim_threads", sim_threads}};
    j["warnings"] = res.warnings;
    std::ofstream f(opt.json_out);
    f << j.dump(2) << "\n";
    if (!f) {
      fmt::print(stderr, "sim_capacity: cannot write {}\n", opt.json_out);
      return 1;
    }
  }

  int rc = 0;
  if (!stats_ok) {
    fmt::print(stderr, "sim_capacity: FAILED: /sim/stats could not be read from every instance\n");
    rc = 1;
  }
  if (c.streams_completed < opt.min_completed) {
    fmt::print(stderr, "sim_capacity: FAILED: {} streams completed, fewer than --min-completed {}\n",
               c.streams_completed, opt.min_completed);
    rc = 1;
  }
  if (sim && !(WIFEXITED(sim_status) && WEXITSTATUS(sim_status) == 0) &&
      !(WIFSIGNALED(sim_status) && WTERMSIG(sim_status) == SIGTERM)) {
    fmt::print(stderr, "sim_capacity: warning: kvroute-sim did not exit cleanly on SIGTERM (status {})\n", sim_status);
  }
  return rc;
}
