// /metrics and /sim/stats on a live instance: names, types, and values that move with traffic.
#include "sim_test_util.h"

namespace kvroute::test {
namespace {

TEST(SimMetricsTest, PageHasVllmNamesTypesAndBuckets) {
  auto sim = start_sim();
  const auto& inst = sim->instance(0);
  HttpClient c = client_for(inst);
  auto r = c.get("/metrics");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->header("content-type").starts_with("text/plain"));
  const std::string& page = r->body;
  for (const auto& [name, type] : std::vector<std::pair<std::string, std::string>>{
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
           {"vllm:iteration_tokens_total", "histogram"},
           {"vllm:request_prompt_tokens", "histogram"},
           {"vllm:request_generation_tokens", "histogram"},
           {"vllm:cache_config_info", "gauge"},
           {"kvroute_sim_token_lateness_seconds", "histogram"}}) {
    EXPECT_NE(page.find("# TYPE " + name + " " + type + "\n"), std::string::npos) << name;
  }
  const std::string labels = "model_name=\"" + inst.model + "\",engine=\"0\"";
  EXPECT_NE(page.find("vllm:num_requests_running{" + labels + "} 0.0\n"), std::string::npos);
  EXPECT_NE(page.find("vllm:time_to_first_token_seconds_bucket{" + labels + ",le=\"0.001\"}"), std::string::npos);
  EXPECT_NE(page.find("vllm:time_to_first_token_seconds_bucket{" + labels + ",le=\"2560.0\"}"), std::string::npos);
  EXPECT_NE(page.find("vllm:e2e_request_latency_seconds_bucket{" + labels + ",le=\"7680.0\"}"), std::string::npos);
  EXPECT_NE(page.find("vllm:iteration_tokens_total_bucket{" + labels + ",le=\"16384.0\"}"), std::string::npos);
  EXPECT_NE(page.find("enable_prefix_caching=\"True\""), std::string::npos);
  EXPECT_EQ(metric(page, "vllm:cache_config_info{"), 1.0);
  EXPECT_EQ(sim->stop(), 0);
}

TEST(SimMetricsTest, ValuesMoveWithAStream) {
  auto sim = start_sim({"--speedup", "1"});
  const auto& inst = sim->instance(0);
  HttpClient stream = client_for(inst);
  HttpClient scrape = client_for(inst);
  const std::string prompt = std::string(200, 'p');  // 50 tokens
  auto head = stream.start_stream(
      "POST", "/v1/completions",
      completion_body(inst.model, prompt, {{"stream", true}, {"max_tokens", 150}, {"ignore_eos", true}}));
  ASSERT_TRUE(head.ok());
  ASSERT_TRUE(stream.next_event().ok());  // the first token is out: prefill done, decoding
  std::string page = metrics_page(scrape);
  EXPECT_EQ(metric(page, "vllm:num_requests_running{"), 1.0) << "running while the stream is open";
  EXPECT_EQ(metric(page, "vllm:num_requests_waiting{"), 0.0);
  EXPECT_GT(metric(page, "vllm:kv_cache_usage_perc{"), 0.0);
  EXPECT_EQ(metric(page, "vllm:time_to_first_token_seconds_count{"), 1.0);
  EXPECT_EQ(metric(page, "vllm:prefix_cache_queries_total{"), 50.0);

  auto rest = read_all_events(stream);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->size(), 150u);  // 149 more tokens + [DONE]
  page = metrics_page(scrape);
  EXPECT_EQ(metric(page, "vllm:num_requests_running{"), 0.0);
  EXPECT_EQ(metric(page, "vllm:prompt_tokens_total{"), 50.0);
  EXPECT_EQ(metric(page, "vllm:generation_tokens_total{"), 150.0);
  EXPECT_EQ(metric(page, "vllm:request_success_total{", "finished_reason=\"length\""), 1.0);
  EXPECT_EQ(metric(page, "vllm:e2e_request_latency_seconds_count{"), 1.0);
  EXPECT_EQ(metric(page, "vllm:time_per_output_token_seconds_count{"), 149.0);
  EXPECT_EQ(metric(page, "vllm:inter_token_latency_seconds_count{"), 149.0);
  EXPECT_EQ(metric(page, "vllm:request_generation_tokens_count{"), 1.0);
  EXPECT_EQ(metric(page, "vllm:request_generation_tokens_sum{"), 150.0);
  EXPECT_EQ(metric(page, "vllm:request_prompt_tokens_sum{"), 50.0);
  EXPECT_GE(metric(page, "vllm:iteration_tokens_total_count{"), 150.0);
  // Lateness is taken when each write completes, a moment after the client has the bytes.
  EXPECT_TRUE(eventually(
      [&] { return metric(metrics_page(scrape), "kvroute_sim_token_lateness_seconds_count{") == 150.0; }));
  // Real time on tiny: ~1 ms per decode step, so the mean inter-token gap is in the ms range.
  const double itl_mean =
      metric(page, "vllm:inter_token_latency_seconds_sum{") / metric(page, "vllm:inter_token_latency_seconds_count{");
  EXPECT_GT(itl_mean, 0.0005);
  EXPECT_LT(itl_mean, 0.01);

  // The same prompt again hits the prefix cache: 3 whole blocks of the 50-token prompt.
  auto again = scrape.post("/v1/completions", completion_body(inst.model, prompt, {{"max_tokens", 1}}));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(parse_json(again->body)["usage"]["prompt_tokens_details"]["cached_tokens"], 48);
  page = metrics_page(scrape);
  EXPECT_EQ(metric(page, "vllm:prefix_cache_hits_total{"), 48.0);
  EXPECT_EQ(metric(page, "vllm:prefix_cache_queries_total{"), 100.0);
  EXPECT_EQ(sim->stop(), 0);
}

TEST(SimMetricsTest, ClientDisconnectMidStreamIsCountedAsAbort) {
  auto sim = start_sim({"--speedup", "1"});
  const auto& inst = sim->instance(0);
  HttpClient scrape = client_for(inst);
  {
    HttpClient stream = client_for(inst);
    auto head = stream.start_stream(
        "POST", "/v1/chat/completions",
        chat_body(inst.model, "go on", {{"stream", true}, {"max_tokens", 1500}, {"ignore_eos", true}}));
    ASSERT_TRUE(head.ok());
    ASSERT_TRUE(stream.next_event().ok());
    ASSERT_TRUE(stream.next_event().ok());
    EXPECT_EQ(metric(metrics_page(scrape), "vllm:num_requests_running{"), 1.0);
    stream.close();
  }
  EXPECT_TRUE(eventually([&] {
    const std::string page = metrics_page(scrape);
    return metric(page, "vllm:request_success_total{", "finished_reason=\"abort\"") == 1.0 &&
           metric(page, "vllm:num_requests_running{") == 0.0;
  }));
  const std::string page = metrics_page(scrape);
  EXPECT_LT(metric(page, "vllm:generation_tokens_total{"), 1500.0) << "the engine stopped generating";
  EXPECT_EQ(metric(page, "vllm:request_success_total{", "finished_reason=\"length\""), 0.0);

  // A non-streaming request whose client gives up is aborted too.
  {
    HttpClient impatient = client_for(inst);
    auto r = impatient.post("/v1/completions",
                            completion_body(inst.model, "wait", {{"max_tokens", 1500}, {"ignore_eos", true}}), 50ms);
    ASSERT_FALSE(r.ok());
  }
  EXPECT_TRUE(eventually([&] {
    return metric(metrics_page(scrape), "vllm:request_success_total{", "finished_reason=\"abort\"") == 2.0;
  }));
  EXPECT_EQ(sim->stop(), 0);
}

TEST(SimMetricsTest, SimStatsReportsLatenessAndResets) {
  auto sim = start_sim({"--instances", "2"});
  const auto& inst = sim->instance(0);
  HttpClient c = client_for(inst);
  auto head = c.start_stream("POST", "/v1/completions",
                             completion_body(inst.model, "measure me", {{"stream", true}, {"sim_output_tokens", 20}}));
  ASSERT_TRUE(head.ok());
  ASSERT_TRUE(read_all_events(c).ok());
  json j;
  EXPECT_TRUE(eventually([&] {
    auto r = c.get("/sim/stats");
    j = r.ok() ? parse_json(r->body) : json{};
    return r.ok() && j["token_lateness"]["count"] == 20;
  }));
  EXPECT_EQ(j["instance"], inst.authority());
  EXPECT_EQ(j["preset"], "tiny");
  for (const char* key : {"running", "waiting", "kv_cache_usage", "prefix_cache_queries", "prefix_cache_hits",
                          "preemptions", "steps"}) {
    EXPECT_TRUE(j["engine"].contains(key)) << key;
  }
  EXPECT_GE(j["engine"]["steps"].get<int>(), 20);
  const json& late = j["token_lateness"];
  EXPECT_EQ(late["count"], 20);
  for (const char* key : {"p50_us", "p90_us", "p99_us", "p999_us", "max_us"}) EXPECT_TRUE(late.contains(key)) << key;
  std::uint64_t in_buckets = 0;
  for (const auto& b : late["buckets"]) in_buckets += b[1].get<std::uint64_t>();
  EXPECT_EQ(in_buckets, 20u);
  EXPECT_LE(late["p50_us"].get<int>(), late["max_us"].get<int>());

  // The other instance saw nothing, and can be read through this one.
  auto other = c.get("/sim/stats?instance=1");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(parse_json(other->body)["instance"], sim->instance(1).authority());
  EXPECT_EQ(parse_json(other->body)["token_lateness"]["count"], 0);

  auto reset = c.post("/sim/stats/reset", "");
  ASSERT_TRUE(reset.ok());
  EXPECT_EQ(reset->status, 200);
  EXPECT_EQ(parse_json(reset->body)["token_lateness"]["count"], 0);
  EXPECT_EQ(sim->stop(), 0);
}

}  // namespace
}  // namespace kvroute::test
