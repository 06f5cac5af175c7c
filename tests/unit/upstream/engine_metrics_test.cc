// The figures the scraper takes from a backend's page: vLLM V1 (as kvroute-sim renders it, and with
// two engines), vLLM before 0.9 (deprecated names), SGLang, and pages that must not pass for a server.
#include "upstream/engine_metrics.h"

#include <gtest/gtest.h>

#include <string>

#include "sim/preset.h"
#include "sim_server/metrics.h"

namespace kvroute::upstream {
namespace {

TEST(EngineMetricsTest, ReadsEveryFigureOfTheSimulatorsVllmPage) {
  const sim::Preset& preset = *sim::find_preset("tiny");
  sim_server::InstanceMetrics metrics("kvroute/tiny-sim", preset);
  metrics.ttft.observe(0.02);  // histograms on the page are many lines the extractor must pass over
  sim::EngineStats stats;
  stats.num_running = 7;
  stats.num_waiting = 3;
  stats.kv_cache_usage = 0.4375;
  stats.prefix_cache_queries = 12345;
  stats.prefix_cache_hits = 678;
  stats.num_preemptions = 9;
  std::string page;
  metrics.render(page, stats);

  const EngineMetrics m = extract_engine_metrics(page);
  EXPECT_EQ(m.running, 7u);
  EXPECT_EQ(m.waiting, 3u);
  ASSERT_TRUE(m.kv_usage);
  EXPECT_DOUBLE_EQ(*m.kv_usage, 0.4375);
  EXPECT_EQ(m.prefix_cache_queries, 12345u);
  EXPECT_EQ(m.prefix_cache_hits, 678u);
  EXPECT_EQ(m.preemptions, 9u);
  EXPECT_EQ(m.kv_capacity_tokens, preset.kv_capacity_tokens());
  EXPECT_TRUE(m.has_load_figures());
}

// vLLM V1 with data parallelism: one series per engine, the waiting-by-reason gauge of newer
// releases, _created series, and cache_config_info per engine (after the usage lines).
constexpr std::string_view kVllmTwoEngines =
    R"(# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 4.0
vllm:num_requests_running{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 6.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.0
vllm:num_requests_waiting{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 2.0
# HELP vllm:num_requests_waiting_by_reason Number of requests waiting, by reason.
# TYPE vllm:num_requests_waiting_by_reason gauge
vllm:num_requests_waiting_by_reason{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct",reason="capacity"} 100.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.5
vllm:kv_cache_usage_perc{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.2
# HELP vllm:prefix_cache_queries Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1000.0
vllm:prefix_cache_queries_created{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.7123456789e+09
vllm:prefix_cache_queries_total{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 500.0
# HELP vllm:prefix_cache_hits Prefix cache hits, in terms of number of cached tokens.
# TYPE vllm:prefix_cache_hits counter
vllm:prefix_cache_hits_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 320.0
vllm:prefix_cache_hits_created{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.7123456789e+09
vllm:prefix_cache_hits_total{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 16.0
# HELP vllm:num_preemptions Cumulative number of preemption from the engine.
# TYPE vllm:num_preemptions counter
vllm:num_preemptions_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 2.0
vllm:num_preemptions_total{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.001",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct"} 12.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 12.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.5
# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",engine="0",gpu_memory_utilization="0.9",num_cpu_blocks="None",num_gpu_blocks="30000",prefix_caching_hash_algo="builtin",sliding_window="None",swap_space="4"} 1.0
vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",engine="1",gpu_memory_utilization="0.9",num_cpu_blocks="None",num_gpu_blocks="10000",prefix_caching_hash_algo="builtin",sliding_window="None",swap_space="4"} 1.0
)";

TEST(EngineMetricsTest, SumsEnginesAndWeightsUsageByCapacity) {
  const EngineMetrics m = extract_engine_metrics(kVllmTwoEngines);
  EXPECT_EQ(m.running, 10u);
  EXPECT_EQ(m.waiting, 3u);  // not the 100 of waiting_by_reason
  EXPECT_EQ(m.prefix_cache_queries, 1500u);
  EXPECT_EQ(m.prefix_cache_hits, 336u);  // not the _created timestamps
  EXPECT_EQ(m.preemptions, 2u);
  EXPECT_EQ(m.kv_capacity_tokens, (30000u + 10000u) * 16u);
  ASSERT_TRUE(m.kv_usage);
  // (0.5 x 480000 + 0.2 x 160000) / 640000
  EXPECT_DOUBLE_EQ(*m.kv_usage, 0.425);
}

TEST(EngineMetricsTest, UsageIsThePlainMeanWhenACapacityIsUnknown) {
  const EngineMetrics m = extract_engine_metrics(
      "vllm:kv_cache_usage_perc{engine=\"0\"} 0.5\n"
      "vllm:kv_cache_usage_perc{engine=\"1\"} 0.2\n"
      "vllm:cache_config_info{block_size=\"16\",engine=\"0\",num_gpu_blocks=\"30000\"} 1.0\n"
      "vllm:cache_config_info{block_size=\"16\",engine=\"1\",num_gpu_blocks=\"None\"} 1.0\n");
  ASSERT_TRUE(m.kv_usage);
  EXPECT_DOUBLE_EQ(*m.kv_usage, 0.35);
  EXPECT_EQ(m.kv_capacity_tokens, 480000u);  // the engine that knows its size
}

TEST(EngineMetricsTest, PrefersKvCacheSizeTokensLabelOfNewerVllm) {
  const EngineMetrics m = extract_engine_metrics(
      "vllm:cache_config_info{block_size=\"16\",engine=\"0\",kv_cache_size_tokens=\"514464\",num_gpu_blocks=\"32154\"} "
      "1.0\n");
  EXPECT_EQ(m.kv_capacity_tokens, 514464u);
  EXPECT_FALSE(m.has_load_figures());
}

// vLLM 0.8: gpu_cache_usage_perc and the gpu_prefix_cache_* counters, no cache_config_info yet.
TEST(EngineMetricsTest, ReadsDeprecatedVllmNamesWhenTheCurrentOnesAreAbsent) {
  const EngineMetrics m = extract_engine_metrics(
      "# TYPE vllm:gpu_cache_usage_perc gauge\n"
      "vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.75\n"
      "vllm:gpu_prefix_cache_queries_total{model_name=\"m\"} 800.0\n"
      "vllm:gpu_prefix_cache_hits_total{model_name=\"m\"} 160.0\n"
      "vllm:num_requests_running{model_name=\"m\"} 2.0\n"
      "vllm:num_requests_waiting{model_name=\"m\"} 0.0\n"
      "vllm:num_requests_swapped{model_name=\"m\"} 5.0\n");
  EXPECT_DOUBLE_EQ(*m.kv_usage, 0.75);
  EXPECT_EQ(m.prefix_cache_queries, 800u);
  EXPECT_EQ(m.prefix_cache_hits, 160u);
  EXPECT_EQ(m.running, 2u);
  EXPECT_EQ(m.waiting, 0u);
  EXPECT_FALSE(m.kv_capacity_tokens);
  EXPECT_FALSE(m.preemptions);
}

// vLLM 0.9 exports both names with equal values: they must not be added up.
TEST(EngineMetricsTest, CurrentNamesWinOverTheirDeprecatedAliases) {
  const EngineMetrics m = extract_engine_metrics(
      "vllm:kv_cache_usage_perc{engine=\"0\"} 0.3\n"
      "vllm:gpu_cache_usage_perc{engine=\"0\"} 0.9\n"
      "vllm:prefix_cache_hits_total{engine=\"0\"} 10.0\n"
      "vllm:gpu_prefix_cache_hits_total{engine=\"0\"} 10.0\n"
      "vllm:prefix_cache_queries_total{engine=\"0\"} 20.0\n"
      "vllm:gpu_prefix_cache_queries_total{engine=\"0\"} 20.0\n");
  EXPECT_DOUBLE_EQ(*m.kv_usage, 0.3);
  EXPECT_EQ(m.prefix_cache_hits, 10u);
  EXPECT_EQ(m.prefix_cache_queries, 20u);
}

constexpr std::string_view kSglang = R"(# HELP sglang:num_running_reqs The number of running requests.
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="Qwen/Qwen2.5-7B-Instruct",tp_rank="0"} 12.0
# HELP sglang:num_used_tokens The number of used tokens.
# TYPE sglang:num_used_tokens gauge
sglang:num_used_tokens{model_name="Qwen/Qwen2.5-7B-Instruct",tp_rank="0"} 123456.0
# HELP sglang:token_usage The token usage.
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="Qwen/Qwen2.5-7B-Instruct",tp_rank="0"} 0.28
# HELP sglang:cache_hit_rate The prefix cache hit rate.
# TYPE sglang:cache_hit_rate gauge
sglang:cache_hit_rate{model_name="Qwen/Qwen2.5-7B-Instruct",tp_rank="0"} 0.61
# HELP sglang:num_queue_reqs The number of requests in the waiting queue.
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="Qwen/Qwen2.5-7B-Instruct",tp_rank="0"} 4.0
# HELP sglang:max_total_num_tokens Maximum total number of tokens in the KV cache pool.
# TYPE sglang:max_total_num_tokens gauge
sglang:max_total_num_tokens{model_name="Qwen/Qwen2.5-7B-Instruct",tp_rank="0"} 440000.0
# HELP sglang:gen_throughput The generation throughput (token/s).
# TYPE sglang:gen_throughput gauge
sglang:gen_throughput{model_name="Qwen/Qwen2.5-7B-Instruct",tp_rank="0"} 812.5
)";

TEST(EngineMetricsTest, ReadsSglangAndLeavesPrefixCountersAbsent) {
  const EngineMetrics m = extract_engine_metrics(kSglang);
  EXPECT_EQ(m.running, 12u);
  EXPECT_EQ(m.waiting, 4u);
  EXPECT_DOUBLE_EQ(*m.kv_usage, 0.28);
  EXPECT_EQ(m.kv_capacity_tokens, 440000u);
  EXPECT_FALSE(m.prefix_cache_hits);
  EXPECT_FALSE(m.prefix_cache_queries);
  EXPECT_FALSE(m.preemptions);
}

TEST(EngineMetricsTest, SglangUsagePairsWithCapacityByLabelSet) {
  const EngineMetrics m = extract_engine_metrics(
      "sglang:token_usage{model_name=\"a\"} 0.9\n"
      "sglang:token_usage{model_name=\"b\"} 0.1\n"
      "sglang:max_total_num_tokens{model_name=\"a\"} 100000.0\n"
      "sglang:max_total_num_tokens{model_name=\"b\"} 300000.0\n");
  EXPECT_DOUBLE_EQ(*m.kv_usage, (0.9 * 100000 + 0.1 * 300000) / 400000);
  EXPECT_EQ(m.kv_capacity_tokens, 400000u);
}

TEST(EngineMetricsTest, IgnoresBadValuesAndMalformedLinesButKeepsTheRest) {
  const EngineMetrics m = extract_engine_metrics(
      "vllm:num_requests_running{engine=\"0\"} NaN\n"
      "vllm:num_requests_running{engine=\"1\" 3\n"  // malformed: no closing brace
      "vllm:num_requests_running{engine=\"2\"} 2.0\n"
      "vllm:num_requests_waiting{engine=\"0\"} -1\n"
      "vllm:num_requests_waiting{engine=\"1\"} +Inf\n"
      "vllm:kv_cache_usage_perc{engine=\"0\"} 1.7\n"
      "garbage line here\n"
      "\x01\xff\n");
  EXPECT_EQ(m.running, 2u);
  EXPECT_FALSE(m.waiting);             // every waiting sample was unusable
  EXPECT_DOUBLE_EQ(*m.kv_usage, 1.0);  // clamped to [0, 1]
}

TEST(EngineMetricsTest, NamesMatchExactlyNotByPrefix) {
  const EngineMetrics m = extract_engine_metrics(
      "vllm:num_requests_running_total 5\n"
      "vllm:num_requests_waiting_by_reason{reason=\"x\"} 5\n"
      "vllm:kv_cache_usage_perc_max 0.9\n"
      "xvllm:num_requests_running 5\n"
      "vllm:num_requests_runnin 5\n");
  EXPECT_FALSE(m.running);
  EXPECT_FALSE(m.waiting);
  EXPECT_FALSE(m.kv_usage);
  EXPECT_FALSE(m.has_load_figures());
}

TEST(EngineMetricsTest, APageOfAnotherExporterHasNoLoadFigures) {
  const EngineMetrics m = extract_engine_metrics(
      "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
      "# TYPE process_cpu_seconds_total counter\n"
      "process_cpu_seconds_total 12.5\n"
      "<html><body>Not Found</body></html>\n");
  EXPECT_FALSE(m.has_load_figures());
  EXPECT_FALSE(m.kv_capacity_tokens);
}

}  // namespace
}  // namespace kvroute::upstream
