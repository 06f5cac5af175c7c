// Streams through the gateway: events arrive as the backend produces them, a client that leaves
// stops the generation on the backend, and SIGTERM lets a stream in flight finish.
#include <csignal>

#include "gateway/gateway_test_util.h"

namespace kvroute::test {
namespace {

class GatewayStreamTest : public ::testing::Test {
 protected:
  void start(int speedup = 50, const std::string& pool_extra = {}) {
    sim_ = start_fleet(1, speedup);
    model_ = sim_->instance(0).model;
    gw_ = GatewayProcess::start_yaml(one_pool_yaml(model_, backend_list(*sim_), "round_robin", pool_extra));
  }
  double sim_metric(const std::string& series, const std::string& filter = {}) {
    HttpClient m(sim_->instance(0).host, sim_->instance(0).port);
    return metric(metrics_page(m), series, filter);
  }
  std::unique_ptr<SimProcess> sim_;
  std::unique_ptr<GatewayProcess> gw_;
  std::string model_;
};

TEST_F(GatewayStreamTest, EventsArriveIncrementallyNotAtTheEnd) {
  start();
  set_sim_faults(*sim_, 0, {{"slow_ms", 25}});  // 20 tokens at >= 25 ms each: half a second of stream
  HttpClient c = gw_->client();
  auto head = c.start_stream("POST", "/v1/chat/completions", stream_chat(model_, "stream slowly", 20));
  ASSERT_TRUE(head.ok()) << head.error().message;
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->chunked);
  EXPECT_TRUE(head->header("content-type").starts_with("text/event-stream"));
  auto events = read_all_events(c);
  ASSERT_TRUE(events.ok()) << events.error().message;
  ASSERT_EQ(events->size(), 22u) << "role chunk with the first token, 20 tokens, [DONE]";
  EXPECT_EQ(events->back().data, "[DONE]");
  const auto spread = events->back().at - events->front().at;
  EXPECT_GE(spread, std::chrono::milliseconds(300))
      << "the first event reached the client well before the last: the gateway relays, it does not buffer";
  // The bytes are exactly what the backend framed: "data: ...\n\n" events.
  EXPECT_TRUE(c.stream_body().starts_with("data: {"));
  EXPECT_TRUE(c.stream_body().ends_with("data: [DONE]\n\n"));
  // The connection is still usable.
  auto after = c.post("/v1/completions", completion_body(model_, "after the stream", {{"max_tokens", 1}}));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->status, 200);
}

TEST_F(GatewayStreamTest, UsageChunkPassesThrough) {
  start();
  HttpClient c = gw_->client();
  auto head = c.start_stream("POST", "/v1/chat/completions",
                             stream_chat(model_, "usage", 5, {{"stream_options", {{"include_usage", true}}}}));
  ASSERT_TRUE(head.ok());
  auto events = read_all_events(c);
  ASSERT_TRUE(events.ok());
  ASSERT_GE(events->size(), 3u);
  const json usage = parse_json((*events)[events->size() - 2].data);
  EXPECT_EQ(usage["usage"]["completion_tokens"], 5);
}

TEST_F(GatewayStreamTest, ClientDisconnectAbortsTheBackendRequest) {
  start(/*speedup=*/1);  // real-time engine: 1500 tokens take seconds
  {
    HttpClient c = gw_->client();
    auto head = c.start_stream("POST", "/v1/chat/completions", stream_chat(model_, "leave early", 1500));
    ASSERT_TRUE(head.ok()) << head.error().message;
    ASSERT_EQ(head->status, 200);
    ASSERT_TRUE(c.next_event().ok());
    ASSERT_TRUE(c.next_event().ok());
    EXPECT_EQ(sim_metric("vllm:num_requests_running{"), 1.0);
    c.close();
  }
  EXPECT_TRUE(eventually(
      [&] {
        return sim_metric("vllm:request_success_total{", "finished_reason=\"abort\"") == 1.0 &&
               sim_metric("vllm:num_requests_running{") == 0.0;
      },
      std::chrono::seconds(5)))
      << "closing the backend connection made the backend abort the request";
  EXPECT_LT(sim_metric("vllm:generation_tokens_total{"), 1500.0) << "the engine stopped generating";
  EXPECT_EQ(sim_metric("vllm:request_success_total{", "finished_reason=\"length\""), 0.0);
}

TEST_F(GatewayStreamTest, ClientDisconnectDuringANonStreamedRequestAbortsToo) {
  start(/*speedup=*/1);
  {
    HttpClient c = gw_->client();
    auto r = c.post("/v1/completions", completion_body(model_, "wait", {{"max_tokens", 1500}, {"ignore_eos", true}}),
                    std::chrono::milliseconds(100));
    ASSERT_FALSE(r.ok()) << "the answer takes seconds";  // the client closed its connection at the deadline
  }
  EXPECT_TRUE(eventually(
      [&] {
        return sim_metric("vllm:request_success_total{", "finished_reason=\"abort\"") == 1.0 &&
               sim_metric("vllm:num_requests_running{") == 0.0;
      },
      std::chrono::seconds(5)));
}

TEST_F(GatewayStreamTest, SigtermLetsAStreamInFlightFinish) {
  start();
  set_sim_faults(*sim_, 0, {{"slow_ms", 30}});  // ~0.9 s of stream
  HttpClient c = gw_->client();
  auto head = c.start_stream("POST", "/v1/chat/completions", stream_chat(model_, "finish me", 30));
  ASSERT_TRUE(head.ok());
  ASSERT_TRUE(c.next_event().ok());
  gw_->process().signal(SIGTERM);
  // New connections are refused once the listeners are closed.
  EXPECT_TRUE(eventually([&] {
    HttpClient probe = gw_->client();
    return !probe.connect(std::chrono::milliseconds(200)).ok();
  }));
  int events = 1;
  bool done = false;
  for (;;) {
    auto e = c.next_event(std::chrono::seconds(5));
    if (!e.ok()) {
      EXPECT_EQ(e.error().code, kStreamEnd) << e.error().message;
      break;
    }
    ++events;
    done = done || e->data == "[DONE]";
  }
  EXPECT_TRUE(done) << "the stream completed";
  EXPECT_EQ(events, 32);
  EXPECT_EQ(head->header("connection"), "");
  const auto status = gw_->process().wait_exit(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value()) << "kvroute exits once the stream is done";
  EXPECT_EQ(*status, 0);
}

TEST_F(GatewayStreamTest, ShutdownGraceCutsWhatDoesNotFinish) {
  sim_ = start_fleet(1);
  model_ = sim_->instance(0).model;
  gw_ = GatewayProcess::start_yaml(fmt::format(R"(listeners: [{{address: "127.0.0.1:0", workers: 1}}]
server: {{shutdown_grace: 300ms}}
pools:
  - name: p
    models: ["{}"]
    backends: [{}]
)",
                                               model_, sim_->instance(0).url));
  set_sim_faults(*sim_, 0, {{"slow_ms", 100}});  // 100 tokens: 10 s
  HttpClient c = gw_->client();
  auto head = c.start_stream("POST", "/v1/chat/completions", stream_chat(model_, "too long", 100));
  ASSERT_TRUE(head.ok());
  ASSERT_TRUE(c.next_event().ok());
  const auto t0 = std::chrono::steady_clock::now();
  gw_->process().signal(SIGTERM);
  const auto status = gw_->process().wait_exit(std::chrono::seconds(5));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  Result<SseEvent> e = c.next_event(std::chrono::seconds(2));
  while (e.ok()) e = c.next_event(std::chrono::seconds(2));
  EXPECT_EQ(e.error().code, kClosed) << "the unfinished stream was cut: " << e.error().message;
}

}  // namespace
}  // namespace kvroute::test
