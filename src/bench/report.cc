#include "bench/report.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

namespace kvroute::bench {
namespace {

using Json = nlohmann::ordered_json;

/// Rounds to `decimals` places: figures stay readable and free of floating-point noise.
double round_to(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  const double r = std::round(v * scale) / scale;
  return r == 0 ? 0.0 : r;  // no "-0.0"
}

double ms(double v) { return round_to(v, 3); }
double rate(double v) { return round_to(v, 4); }
double fraction(double v) { return round_to(v, 6); }

Json latency(const LatencySummary& s, bool mean, bool p50, bool p90, bool p99) {
  Json j = Json::object();
  if (mean) j["mean"] = ms(s.mean);
  if (p50) j["p50"] = ms(s.p50);
  if (p90) j["p90"] = ms(s.p90);
  if (p99) j["p99"] = ms(s.p99);
  return j;
}

Json to_json(const SimReport& r) {
  Json j;
  j["trace"] = r.trace;
  j["format"] = r.format;
  j["backends"] = r.backends;
  j["preset"] = r.preset;
  Json fleet = Json::array();
  for (const auto& e : r.fleet) {
    fleet.push_back(
        Json{{"preset", e.preset}, {"count", e.count}, {"speed_factor", e.speed_factor}, {"weight", e.weight}});
  }
  j["fleet"] = std::move(fleet);
  j["model"] = r.model;
  j["time_scale"] = r.time_scale;
  j["seed"] = r.seed;
  j["requests"] = r.requests;
  j["options"] = Json{{"ttft_slo_ms", r.slo.ttft_slo_ms},
                      {"tpot_slo_ms", r.slo.tpot_slo_ms},
                      {"timeout_s", r.timeout_s},
                      {"scrape_interval_ms", r.scrape_interval_ms}};
  j["lower_bound"] = Json{{"ttft_ms_mean", ms(r.lower_bound_ttft_ms.mean)},
                          {"ttft_ms_p50", ms(r.lower_bound_ttft_ms.p50)},
                          {"ttft_ms_p90", ms(r.lower_bound_ttft_ms.p90)},
                          {"ttft_ms_p99", ms(r.lower_bound_ttft_ms.p99)}};
  j["achievable_hit_rate"] = fraction(r.achievable_hit_rate);
  Json results = Json::array();
  for (const PolicyMetrics& m : r.results) {
    Json p;
    p["policy"] = m.policy;
    p["requests"] = m.requests;
    p["completed"] = m.completed;
    p["timeouts"] = m.timeouts;
    p["rejected"] = m.rejected;
    p["ttft_ms"] = latency(m.ttft_ms, true, true, true, true);
    p["tpot_ms"] = latency(m.tpot_ms, true, false, false, true);
    p["e2e_ms"] = latency(m.e2e_ms, false, true, false, true);
    p["throughput_rps"] = rate(m.throughput_rps);
    p["output_tokens_per_s"] = rate(m.output_tokens_per_s);
    p["goodput_rps"] = rate(m.goodput_rps);
    p["prefix_hit_rate"] = fraction(m.prefix_hit_rate);
    p["kv_usage_mean"] = fraction(m.kv_usage_mean);
    p["imbalance"] = fraction(m.imbalance);
    p["makespan_s"] = ms(m.makespan_s);
    p["preemptions"] = m.preemptions;
    p["max_queued"] = m.max_queued;
    results.push_back(std::move(p));
  }
  j["results"] = std::move(results);
  return j;
}

std::string ratio(double v, double base) {
  if (!(base > 0)) return "-";
  return fmt::format("{:.2f}", v / base);
}

std::string s(double ms_value) { return fmt::format("{:.2f}", ms_value / 1000.0); }

}  // namespace

std::string report_json(const SimReport& report) { return to_json(report).dump(2) + "\n"; }

std::string sweep_json(std::span<const SimReport> reports) {
  Json a = Json::array();
  for (const auto& r : reports) a.push_back(to_json(r));
  return a.dump(2) + "\n";
}

std::string format_table(const SimReport& r) {
  std::string out;
  out += fmt::format("trace {} ({}, {} requests), {} backends of {}, time scale {}, seed {}\n", r.trace, r.format,
                     r.requests, r.backends, r.preset, r.time_scale, r.seed);
  out += fmt::format(
      "lower bound (idle server, only unshared tokens): TTFT mean {:.1f} p50 {:.1f} p90 {:.1f} p99 {:.1f} ms; "
      "achievable prefix hit rate {:.1f} %\n",
      r.lower_bound_ttft_ms.mean, r.lower_bound_ttft_ms.p50, r.lower_bound_ttft_ms.p90, r.lower_bound_ttft_ms.p99,
      100 * r.achievable_hit_rate);
  out += fmt::format("SLO: TTFT <= {} ms, TPOT <= {} ms; timeout {} s (ms columns; x/rr = ratio to round_robin)\n",
                     r.slo.ttft_slo_ms, r.slo.tpot_slo_ms, r.timeout_s);
  const PolicyMetrics* rr = nullptr;
  for (const auto& m : r.results) {
    if (m.policy == "round_robin") rr = &m;
  }
  out += fmt::format("{:<22} {:>6} {:>5} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7} {:>9} {:>7} {:>7} {:>6} {:>5} {:>5}",
                     "policy", "done", "t/o", "ttft_mean", "ttft_p50", "ttft_p90", "ttft_p99", "tpot", "tpot99",
                     "e2e_p99", "tput", "goodput", "hit%", "kv%", "imb");
  if (rr != nullptr) out += fmt::format(" {:>8} {:>7} {:>7}", "mean/rr", "p99/rr", "good/rr");
  out += "\n";
  for (const auto& m : r.results) {
    out += fmt::format(
        "{:<22} {:>6} {:>5} {:>9.1f} {:>9.1f} {:>9.1f} {:>9.1f} {:>7.1f} {:>7.1f} {:>9.1f} {:>7.3f} {:>7.3f} "
        "{:>6.1f} {:>5.1f} {:>5.2f}",
        m.policy, m.completed, m.timeouts, m.ttft_ms.mean, m.ttft_ms.p50, m.ttft_ms.p90, m.ttft_ms.p99, m.tpot_ms.mean,
        m.tpot_ms.p99, m.e2e_ms.p99, m.throughput_rps, m.goodput_rps, 100 * m.prefix_hit_rate, 100 * m.kv_usage_mean,
        m.imbalance);
    if (rr != nullptr) {
      out += fmt::format(" {:>8} {:>7} {:>7}", ratio(m.ttft_ms.mean, rr->ttft_ms.mean),
                         ratio(m.ttft_ms.p99, rr->ttft_ms.p99), ratio(m.goodput_rps, rr->goodput_rps));
    }
    out += "\n";
  }
  return out;
}

std::string format_markdown(const SimReport& r, bool with_header) {
  std::string out;
  if (with_header) {
    out +=
        "| policy | done | timeouts | TTFT mean s | TTFT p50 s | TTFT p90 s | TTFT p99 s | TPOT mean ms | TPOT p99 ms "
        "| E2E p99 s | goodput req/s | prefix hit % | KV use % | imbalance | TTFT mean / rr | TTFT p99 / rr |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    const LatencySummary& lb = r.lower_bound_ttft_ms;
    out += fmt::format("| *lower bound* | | | {} | {} | {} | {} | | | | | {:.1f} | | | | |\n", s(lb.mean), s(lb.p50),
                       s(lb.p90), s(lb.p99), 100 * r.achievable_hit_rate);
  }
  const PolicyMetrics* rr = nullptr;
  for (const auto& m : r.results) {
    if (m.policy == "round_robin") rr = &m;
  }
  for (const auto& m : r.results) {
    out += fmt::format(
        "| {} | {} | {} | {} | {} | {} | {} | {:.1f} | {:.1f} | {} | {:.3f} | {:.1f} | {:.1f} | {:.2f} | {} | {} |\n",
        m.policy, m.completed, m.timeouts, s(m.ttft_ms.mean), s(m.ttft_ms.p50), s(m.ttft_ms.p90), s(m.ttft_ms.p99),
        m.tpot_ms.mean, m.tpot_ms.p99, s(m.e2e_ms.p99), m.goodput_rps, 100 * m.prefix_hit_rate, 100 * m.kv_usage_mean,
        m.imbalance, rr != nullptr ? ratio(m.ttft_ms.mean, rr->ttft_ms.mean) : "-",
        rr != nullptr ? ratio(m.ttft_ms.p99, rr->ttft_ms.p99) : "-");
  }
  return out;
}

}  // namespace kvroute::bench
