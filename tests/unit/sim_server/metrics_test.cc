// The /metrics page: vLLM names and types, exact bucket boundaries, cumulative counts, Go floats.
#include "sim_server/metrics.h"

#include <sstream>

#include <gtest/gtest.h>

#include "sim/preset.h"

namespace kvroute::sim_server {
namespace {

const sim::Preset& tiny() { return *sim::find_preset("tiny"); }

std::string render(const InstanceMetrics& m, const sim::EngineStats& s = {}) {
  std::string out;
  m.render(out, s);
  return out;
}

/// Every line of the page that starts with prefix.
std::vector<std::string> lines_starting(const std::string& page, std::string_view prefix) {
  std::vector<std::string> out;
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(prefix)) out.push_back(line);
  }
  return out;
}

TEST(GoFloatTest, FormatsLikePrometheusClient) {
  auto f = [](double v) {
    std::string s;
    append_go_float(s, v);
    return s;
  };
  EXPECT_EQ(f(1.0), "1.0");
  EXPECT_EQ(f(0.0), "0.0");
  EXPECT_EQ(f(2560.0), "2560.0");
  EXPECT_EQ(f(0.001), "0.001");
  EXPECT_EQ(f(0.075), "0.075");
  EXPECT_EQ(f(5e-05), "5e-05");
  EXPECT_EQ(f(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(f(12345678.0), "12345678.0");
}

TEST(PromHistogramTest, CountsInTheFirstBucketNotBelowTheValueAndRendersCumulatively) {
  static constexpr double kBounds[] = {0.1, 0.5, 1.0};
  PromHistogram h{kBounds};
  h.observe(0.1);   // le=0.1 (inclusive upper bound)
  h.observe(0.2);   // le=0.5
  h.observe(0.7);   // le=1.0
  h.observe(30.0);  // +Inf
  EXPECT_EQ(h.bucket(0), 1u);
  EXPECT_EQ(h.bucket(1), 1u);
  EXPECT_EQ(h.bucket(2), 1u);
  EXPECT_EQ(h.bucket(3), 1u);
  std::string out;
  h.render(out, "x_seconds", "model_name=\"m\",engine=\"0\"");
  EXPECT_EQ(out,
            "x_seconds_bucket{model_name=\"m\",engine=\"0\",le=\"0.1\"} 1.0\n"
            "x_seconds_bucket{model_name=\"m\",engine=\"0\",le=\"0.5\"} 2.0\n"
            "x_seconds_bucket{model_name=\"m\",engine=\"0\",le=\"1.0\"} 3.0\n"
            "x_seconds_bucket{model_name=\"m\",engine=\"0\",le=\"+Inf\"} 4.0\n"
            "x_seconds_count{model_name=\"m\",engine=\"0\"} 4.0\n"
            "x_seconds_sum{model_name=\"m\",engine=\"0\"} 31.0\n");
}

TEST(InstanceMetricsTest, OneTwoFiveBucketsStopAtMaxModelLen) {
  EXPECT_EQ(InstanceMetrics::buckets_1_2_5(2048),
            (std::vector<double>{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000}));
  EXPECT_EQ(InstanceMetrics::buckets_1_2_5(1000), (std::vector<double>{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}));
}

TEST(InstanceMetricsTest, EveryVllmMetricHasHelpAndTheRightType) {
  InstanceMetrics m("served/model", tiny());
  const std::string page = render(m);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"vllm:num_requests_running", "gauge"},
      {"vllm:num_requests_waiting", "gauge"},
      {"vllm:kv_cache_usage_perc", "gauge"},
      {"vllm:prefix_cache_queries_total", "counter"},
      {"vllm:prefix_cache_hits_total", "counter"},
      {"vllm:num_preemptions_total", "counter"},
      {"vllm:prompt_tokens_total", "counter"},
      {"vllm:generation_tokens_total", "counter"},
      {"vllm:request_success_total", "counter"},
      {"vllm:time_to_first_token_seconds", "histogram"},
      {"vllm:time_per_output_token_seconds", "histogram"},
      {"vllm:inter_token_latency_seconds", "histogram"},
      {"vllm:e2e_request_latency_seconds", "histogram"},
      {"vllm:request_queue_time_seconds", "histogram"},
      {"vllm:request_prefill_time_seconds", "histogram"},
      {"vllm:request_decode_time_seconds", "histogram"},
      {"vllm:request_inference_time_seconds", "histogram"},
      {"vllm:iteration_tokens_total", "histogram"},
      {"vllm:request_prompt_tokens", "histogram"},
      {"vllm:request_generation_tokens", "histogram"},
      {"vllm:cache_config_info", "gauge"},
      {"kvroute_sim_token_lateness_seconds", "histogram"},
  };
  for (const auto& [name, type] : expected) {
    EXPECT_EQ(lines_starting(page, "# TYPE " + name + " ").size(), 1u) << name;
    EXPECT_NE(page.find("# TYPE " + name + " " + type + "\n"), std::string::npos) << name;
    EXPECT_NE(page.find("# HELP " + name + " "), std::string::npos) << name;
  }
}

TEST(InstanceMetricsTest, TtftBucketsAreVllmsExactly) {
  InstanceMetrics m("m", tiny());
  const auto buckets = lines_starting(render(m), "vllm:time_to_first_token_seconds_bucket{");
  const std::vector<std::string> les = {"0.001", "0.005", "0.01", "0.02", "0.04", "0.06", "0.08", "0.1",
                                        "0.25",  "0.5",   "0.75", "1.0",  "2.5",  "5.0",  "7.5",  "10.0",
                                        "20.0",  "40.0",  "80.0", "160.0", "640.0", "2560.0", "+Inf"};
  ASSERT_EQ(buckets.size(), les.size());
  for (std::size_t i = 0; i < les.size(); ++i) {
    EXPECT_NE(buckets[i].find("le=\"" + les[i] + "\""), std::string::npos) << buckets[i];
  }
}

TEST(InstanceMetricsTest, EngineStatsAndObservationsShowUpWithLabels) {
  InstanceMetrics m("org/model-x", tiny());
  m.ttft.observe(0.03);
  m.ttft.observe(0.3);
  m.request_finished(FinishReason::kLength);
  m.request_finished(FinishReason::kAbort);
  m.request_finished(FinishReason::kAbort);
  sim::EngineStats s;
  s.num_running = 3;
  s.num_waiting = 2;
  s.kv_cache_usage = 0.5;
  s.prefix_cache_queries = 1000;
  s.prefix_cache_hits = 640;
  s.num_preemptions = 1;
  s.prompt_tokens = 1234;
  s.generation_tokens = 99;
  const std::string page = render(m, s);
  const std::string l = "{model_name=\"org/model-x\",engine=\"0\"}";
  EXPECT_NE(page.find("vllm:num_requests_running" + l + " 3.0\n"), std::string::npos);
  EXPECT_NE(page.find("vllm:num_requests_waiting" + l + " 2.0\n"), std::string::npos);
  EXPECT_NE(page.find("vllm:kv_cache_usage_perc" + l + " 0.5\n"), std::string::npos);
  EXPECT_NE(page.find("vllm:prefix_cache_queries_total" + l + " 1000.0\n"), std::string::npos);
  EXPECT_NE(page.find("vllm:prefix_cache_hits_total" + l + " 640.0\n"), std::string::npos);
  EXPECT_NE(page.find("vllm:num_preemptions_total" + l + " 1.0\n"), std::string::npos);
  EXPECT_NE(page.find("vllm:prompt_tokens_total" + l + " 1234.0\n"), std::string::npos);
  EXPECT_NE(page.find("vllm:generation_tokens_total" + l + " 99.0\n"), std::string::npos);
  EXPECT_NE(page.find("vllm:request_success_total{model_name=\"org/model-x\",engine=\"0\",finished_reason=\"abort\"} 2.0\n"),
            std::string::npos);
  EXPECT_NE(page.find("vllm:request_success_total{model_name=\"org/model-x\",engine=\"0\",finished_reason=\"length\"} 1.0\n"),
            std::string::npos);
  EXPECT_NE(page.find("vllm:request_success_total{model_name=\"org/model-x\",engine=\"0\",finished_reason=\"stop\"} 0.0\n"),
            std::string::npos);
  EXPECT_NE(page.find("vllm:time_to_first_token_seconds_bucket{model_name=\"org/model-x\",engine=\"0\",le=\"0.04\"} 1.0\n"),
            std::string::npos);
  EXPECT_NE(page.find("vllm:time_to_first_token_seconds_bucket{model_name=\"org/model-x\",engine=\"0\",le=\"0.5\"} 2.0\n"),
            std::string::npos);
  EXPECT_NE(page.find("vllm:time_to_first_token_seconds_count" + l + " 2.0\n"), std::string::npos);
  EXPECT_NE(page.find("num_gpu_blocks=\"256\""), std::string::npos);
  EXPECT_NE(page.find("block_size=\"16\""), std::string::npos);
}

TEST(InstanceMetricsTest, LabelValuesAreEscaped) {
  InstanceMetrics m("we\"ird\\name", tiny());
  EXPECT_NE(render(m).find("model_name=\"we\\\"ird\\\\name\""), std::string::npos);
}

TEST(InstanceMetricsTest, RenderingReusesTheBuffer) {
  InstanceMetrics m("m", tiny());
  std::string out;
  m.render(out, {});
  const std::string first = out;
  const auto capacity = out.capacity();
  m.render(out, {});
  EXPECT_EQ(out, first);  // cleared, not appended
  EXPECT_EQ(out.capacity(), capacity);
}

}  // namespace
}  // namespace kvroute::sim_server
