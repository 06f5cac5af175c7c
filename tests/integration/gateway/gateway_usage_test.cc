// The usage a backend reports about the prompt (prompt_tokens_details.cached_tokens), which the
// gateway hands to its dispatch accounting to correct the prefix index: kvroute-sim reports it in a
// non-streamed answer and in the usage chunk of a stream that asks for one, it arrives intact through
// the gateway, and a backend that evicted a prefix the index still expects there shows as an
// overprediction on the admin /metrics page.
#include "gateway/gateway_test_util.h"

namespace kvroute::test {
namespace {

using namespace std::chrono_literals;

std::string long_prompt() {
  std::string out;
  while (out.size() < 2000) out += "the same long system prompt, shared by both requests. ";
  return out;
}

/// usage.prompt_tokens_details.cached_tokens of a usage object, or -1 when absent.
long cached_of(const json& usage) {
  if (!usage.contains("prompt_tokens_details")) return -1;
  return usage["prompt_tokens_details"].value("cached_tokens", -1L);
}

TEST(GatewayUsageTest, CachedTokensArriveInNonStreamedAnswers) {
  auto sim = start_fleet(1);
  const std::string model = sim->instance(0).model;
  auto gw = GatewayProcess::start_yaml(one_pool_yaml(model, backend_list(*sim), "cost"));
  HttpClient c = gw->client();
  long cached[2] = {0, 0};
  for (long& k : cached) {
    auto r = c.post("/v1/chat/completions", chat_body(model, long_prompt(), {{"max_tokens", 2}}));
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->status, 200) << r->body;
    const json j = parse_json(r->body);
    ASSERT_TRUE(j.contains("usage")) << r->body;
    EXPECT_GT(j["usage"]["prompt_tokens"].get<long>(), 400);
    k = cached_of(j["usage"]);
  }
  EXPECT_EQ(cached[0], 0);
  EXPECT_GT(cached[1], 400) << "the second request finds the shared prompt in the backend's prefix cache";
}

TEST(GatewayUsageTest, CachedTokensArriveInTheUsageChunkOfAStream) {
  auto sim = start_fleet(1);
  const std::string model = sim->instance(0).model;
  auto gw = GatewayProcess::start_yaml(one_pool_yaml(model, backend_list(*sim), "cost"));
  long cached[2] = {0, 0};
  for (long& k : cached) {
    HttpClient c = gw->client();
    const std::string body = stream_chat(model, long_prompt(), 2, {{"stream_options", {{"include_usage", true}}}});
    auto head = c.start_stream("POST", "/v1/chat/completions", body);
    ASSERT_TRUE(head.ok()) << head.error().message;
    ASSERT_EQ(head->status, 200);
    auto events = read_all_events(c);
    ASSERT_TRUE(events.ok()) << events.error().message;
    ASSERT_GE(events->size(), 2u);
    EXPECT_EQ(events->back().data, "[DONE]");
    const json usage_chunk = parse_json((*events)[events->size() - 2].data);
    ASSERT_TRUE(usage_chunk.contains("usage")) << usage_chunk.dump();
    k = cached_of(usage_chunk["usage"]);
  }
  EXPECT_EQ(cached[0], 0);
  EXPECT_GT(cached[1], 400);
}

TEST(GatewayUsageTest, AnEvictedPrefixIsReportedAsAnOverprediction) {
  auto sim = start_fleet(1);  // tiny: 4096 tokens of KV cache
  const std::string model = sim->instance(0).model;
  // No scraping: the prefix index does not learn the backend's small KV size, so it keeps expecting
  // a prompt there after the backend evicted it; only the backend's usage report can tell it.
  auto gw = GatewayProcess::start_yaml(one_pool_yaml(
      model, backend_list(*sim), "cost", "    metrics: {enabled: false}\n", "admin:\n  listen: 127.0.0.1:0\n"));
  HttpClient c = gw->client();
  const auto send = [&](const std::string& content) {
    auto r = c.post("/v1/chat/completions", chat_body(model, content, {{"max_tokens", 1}}));
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->status, 200) << r->body;
  };
  send(long_prompt());
  for (int i = 0; i < 4; ++i) {  // 4 x ~1500 new tokens push the first prompt out of the backend's cache
    std::string other;
    while (other.size() < 6000) other += "unrelated prompt number " + std::to_string(i) + " fills the cache. ";
    send(other);
  }
  send(long_prompt());  // the index predicts it cached; the backend reports (almost) nothing
  const std::string backend = "backend=\"" + sim->instance(0).authority() + "\"";
  // The gateway records a completion after the last byte reached the client, so the sixth report
  // can trail the response by a moment.
  std::string page;
  EXPECT_TRUE(eventually([&] {
    page = gateway_admin_page(*gw);
    return metric(page, "kvroute_backend_prefix_reports_total{", backend) >= 6;
  })) << page;
  EXPECT_EQ(metric(page, "kvroute_backend_prefix_reports_total{", backend), 6) << page;
  EXPECT_GT(metric(page, "kvroute_backend_prefix_predicted_cached_tokens_total{", backend), 300) << page;
  EXPECT_LT(metric(page, "kvroute_backend_prefix_reported_cached_tokens_total{", backend), 100) << page;
  EXPECT_EQ(metric(page, "kvroute_backend_prefix_overpredictions_total{", backend), 1) << page;
}

}  // namespace
}  // namespace kvroute::test
