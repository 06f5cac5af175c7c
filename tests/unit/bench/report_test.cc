#include "bench/report.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "bench/metrics.h"

namespace kvroute::bench {
namespace {

TEST(MetricsTest, QuantilesInterpolateBetweenOrderStatistics) {
  const std::vector<double> v{1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(quantile(v, 0.0), 1);
  EXPECT_DOUBLE_EQ(quantile(v, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(quantile(v, 1.0), 4);
  EXPECT_DOUBLE_EQ(quantile(v, 0.9), 3.7);
  EXPECT_DOUBLE_EQ(quantile(std::vector<double>{}, 0.5), 0);
  std::vector<double> u{5, 1, 3};
  const LatencySummary s = summarize(u);
  EXPECT_DOUBLE_EQ(s.mean, 3);
  EXPECT_DOUBLE_EQ(s.p50, 3);
}

RequestRecord completed(Nanos arrival, Nanos first, Nanos finished, std::uint32_t tokens, std::uint32_t backend) {
  RequestRecord r;
  r.arrival = arrival;
  r.dispatched = arrival;
  r.first_token = first;
  r.finished = finished;
  r.output_tokens = tokens;
  r.backend = backend;
  r.status = RequestStatus::kCompleted;
  return r;
}

TEST(MetricsTest, ComputesEveryFigureFromTheRecords) {
  RunResult run;
  const Nanos ms = kNanosPerMilli;
  run.requests.push_back(completed(0, 100 * ms, 1100 * ms, 11, 0));          // TTFT 100, TPOT 100, meets both
  run.requests.push_back(completed(0, 3000 * ms, 3500 * ms, 6, 1));          // TTFT 3000: misses the TTFT SLO
  run.requests.push_back(completed(1000 * ms, 1500 * ms, 1500 * ms, 1, 0));  // one token: no TPOT
  RequestRecord t;
  t.arrival = 2000 * ms;
  t.finished = 7000 * ms;
  t.status = RequestStatus::kTimedOut;
  run.requests.push_back(t);
  RequestRecord rejected;
  rejected.status = RequestStatus::kRejected;
  run.requests.push_back(rejected);
  run.start = 0;
  run.end = 10'000 * ms;
  run.dispatched_per_backend = {3, 1};
  run.prefix_cache_hits = 25;
  run.prefix_cache_queries = 100;
  run.kv_usage_mean = 0.5;

  const PolicyMetrics m = compute_metrics(run, SloOptions{2000, 100}, 5 * kNanosPerSecond, "p");
  EXPECT_EQ(m.requests, 5u);
  EXPECT_EQ(m.completed, 3u);
  EXPECT_EQ(m.timeouts, 1u);
  EXPECT_EQ(m.rejected, 1u);
  EXPECT_DOUBLE_EQ(m.ttft_ms.mean, (100.0 + 3000 + 500 + 5000) / 4);  // the timeout counts at 5 s
  EXPECT_DOUBLE_EQ(m.tpot_ms.mean, (100.0 + 100) / 2);
  EXPECT_DOUBLE_EQ(m.e2e_ms.p50, 1100);
  EXPECT_DOUBLE_EQ(m.makespan_s, 10);
  EXPECT_DOUBLE_EQ(m.throughput_rps, 0.3);
  EXPECT_DOUBLE_EQ(m.output_tokens_per_s, 1.8);
  EXPECT_DOUBLE_EQ(m.goodput_rps, 0.2);
  EXPECT_DOUBLE_EQ(m.prefix_hit_rate, 0.25);
  EXPECT_DOUBLE_EQ(m.imbalance, 1.5);
}

TEST(ReportTest, JsonHasTheDocumentedFields) {
  SimReport r;
  r.trace = "t.jsonl";
  r.format = "mooncake";
  r.backends = 8;
  r.preset = "L8B-H100";
  r.fleet = {FleetEntry{"L8B-H100", 1.0, 8, 1}};
  r.model = "m";
  r.time_scale = 0.5;
  r.seed = 3;
  r.requests = 10;
  r.lower_bound_ttft_ms = {123.45678, 100, 200, 300};
  r.achievable_hit_rate = 0.3741234567;
  PolicyMetrics m;
  m.policy = "round_robin";
  m.requests = 10;
  m.completed = 9;
  m.timeouts = 1;
  m.ttft_ms = {1.23456, 2, 3, 4};
  r.results.push_back(m);
  m.policy = "least_request";
  r.results.push_back(m);

  const auto j = nlohmann::json::parse(report_json(r));
  for (const char* key :
       {"trace", "backends", "preset", "time_scale", "seed", "lower_bound", "achievable_hit_rate", "results"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["lower_bound"]["ttft_ms_mean"], 123.457);
  EXPECT_EQ(j["achievable_hit_rate"], 0.374123);
  EXPECT_EQ(j["time_scale"], 0.5);
  ASSERT_EQ(j["results"].size(), 2u);
  const auto& p = j["results"][0];
  for (const char* key :
       {"policy", "requests", "completed", "timeouts", "ttft_ms", "tpot_ms", "e2e_ms", "throughput_rps",
        "output_tokens_per_s", "goodput_rps", "prefix_hit_rate", "kv_usage_mean", "imbalance"}) {
    EXPECT_TRUE(p.contains(key)) << key;
  }
  for (const char* key : {"mean", "p50", "p90", "p99"}) EXPECT_TRUE(p["ttft_ms"].contains(key)) << key;
  EXPECT_EQ(p["ttft_ms"]["mean"], 1.235);
  EXPECT_EQ(p["tpot_ms"].size(), 2u);
  EXPECT_TRUE(p["tpot_ms"].contains("mean"));
  EXPECT_TRUE(p["tpot_ms"].contains("p99"));
  EXPECT_EQ(p["e2e_ms"].size(), 2u);
  EXPECT_TRUE(p["e2e_ms"].contains("p50"));
  EXPECT_TRUE(p["e2e_ms"].contains("p99"));
  EXPECT_EQ(j["results"][1]["policy"], "least_request");

  const std::string table = format_table(r);
  EXPECT_NE(table.find("round_robin"), std::string::npos);
  EXPECT_NE(table.find("mean/rr"), std::string::npos);  // ratio columns when round_robin ran

  const std::string md = format_markdown(r);
  EXPECT_EQ(md.rfind("| policy |", 0), 0u);
  EXPECT_NE(md.find("| *lower bound* | | | 0.12 | 0.10 | 0.20 | 0.30 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| round_robin | 9 | 1 | 0.00 |"), std::string::npos) << md;
  EXPECT_EQ(format_markdown(r, false).rfind("| round_robin", 0), 0u);
}

}  // namespace
}  // namespace kvroute::bench
