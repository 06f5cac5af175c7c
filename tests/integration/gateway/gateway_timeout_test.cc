// Each upstream timeout fires: connect, first token, stream idle, total. Before anything reached
// the client the answer is a 504 with a JSON error body (and the connection stays usable); once a
// stream is under way the client gets what arrived and then the connection closes.
#include "gateway/fake_backend.h"
#include "gateway/gateway_test_util.h"

namespace kvroute::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string timeouts(const std::string& connect, const std::string& first_token, const std::string& idle,
                     const std::string& total) {
  return fmt::format("    timeouts: {{connect: {}, first_token: {}, stream_idle: {}, total: {}}}\n", connect,
                     first_token, idle, total);
}

TEST(GatewayTimeoutTest, ConnectTimeoutIsA504) {
  BlackholePort hole;
  auto gw = GatewayProcess::start_yaml(
      one_pool_yaml("m", "[" + hole.url() + "]", "round_robin",
                    timeouts("300ms", "10s", "10s", "20s") + "    retries: {attempts: 0}\n"));
  HttpClient c = gw->client();
  const auto t0 = Clock::now();
  auto r = c.post("/v1/chat/completions", chat_body("m", "hello"));
  const auto took = Clock::now() - t0;
  ASSERT_TRUE(r.ok()) << r.error().message;
  expect_error_body(*r, 504);
  EXPECT_NE(r->body.find("timeouts.connect"), std::string::npos) << r->body;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
  auto again = c.get("/health");
  ASSERT_TRUE(again.ok()) << "the client connection stays usable";
  EXPECT_EQ(again->status, 200);
}

TEST(GatewayTimeoutTest, ConnectTimeoutIsRetriedOnAnotherBackend) {
  BlackholePort hole;
  auto sim = start_fleet(1);
  const std::string model = sim->instance(0).model;
  auto gw = GatewayProcess::start_yaml(one_pool_yaml(model, "[" + hole.url() + ", " + sim->instance(0).url + "]",
                                                     "round_robin", timeouts("200ms", "10s", "10s", "20s")));
  HttpClient c = gw->client();
  for (int i = 0; i < 4; ++i) {
    auto r = c.post("/v1/chat/completions", chat_body(model, "hello", {{"max_tokens", 1}}));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200) << r->body;
  }
}

TEST(GatewayTimeoutTest, FirstTokenTimeoutWithAHangingBackend) {
  auto sim = start_fleet(1);
  const std::string model = sim->instance(0).model;
  set_sim_faults(*sim, 0, {{"hang", true}});
  auto gw = GatewayProcess::start_yaml(
      one_pool_yaml(model, backend_list(*sim), "round_robin", timeouts("1s", "400ms", "10s", "20s")));
  HttpClient c = gw->client();
  const auto t0 = Clock::now();
  auto r = c.post("/v1/chat/completions", stream_chat(model, "hang", 5));
  const auto took = Clock::now() - t0;
  ASSERT_TRUE(r.ok()) << r.error().message;
  expect_error_body(*r, 504);
  EXPECT_NE(r->body.find("first_token"), std::string::npos) << r->body;
  EXPECT_GE(took, 350ms);
  EXPECT_LT(took, 3s);
  // Non-streamed requests are not bound by first_token (a whole completion takes longer): the
  // total timeout ends this one instead, so it is still waiting after first_token.
  auto nonstream = c.post("/v1/chat/completions", chat_body(model, "hang"), 800ms);
  EXPECT_FALSE(nonstream.ok()) << "still waiting at 800 ms, twice the first_token timeout";
}

TEST(GatewayTimeoutTest, TotalTimeoutBoundsANonStreamedRequest) {
  auto sim = start_fleet(1);
  const std::string model = sim->instance(0).model;
  set_sim_faults(*sim, 0, {{"hang", true}});
  auto gw = GatewayProcess::start_yaml(
      one_pool_yaml(model, backend_list(*sim), "round_robin", timeouts("300ms", "500ms", "500ms", "600ms")));
  HttpClient c = gw->client();
  const auto t0 = Clock::now();
  auto r = c.post("/v1/completions", completion_body(model, "hang"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  expect_error_body(*r, 504);
  EXPECT_NE(r->body.find("timeouts.total"), std::string::npos) << r->body;
  EXPECT_GE(Clock::now() - t0, 550ms);
  auto again = c.get("/health");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 200);
}

TEST(GatewayTimeoutTest, StreamIdleTimeoutCutsAStreamThatStalls) {
  auto sim = start_fleet(1);
  const std::string model = sim->instance(0).model;
  set_sim_faults(*sim, 0, {{"slow_ms", 600}});  // each token waits 600 ms
  auto gw = GatewayProcess::start_yaml(
      one_pool_yaml(model, backend_list(*sim), "round_robin", timeouts("1s", "5s", "300ms", "20s")));
  HttpClient c = gw->client();
  auto head = c.start_stream("POST", "/v1/chat/completions", stream_chat(model, "stall", 10), 5s);
  ASSERT_TRUE(head.ok()) << head.error().message;
  EXPECT_EQ(head->status, 200) << "the first event came within first_token";
  // The role chunk and the first token come together; the next token is 600 ms away and the idle
  // limit is 300 ms.
  int events = 0;
  auto e = c.next_event(5s);
  const auto t0 = Clock::now();
  while (e.ok()) {
    ++events;
    e = c.next_event(5s);
  }
  EXPECT_EQ(e.error().code, kClosed) << e.error().message;
  EXPECT_EQ(events, 2);
  EXPECT_LT(Clock::now() - t0, 2s);
}

TEST(GatewayTimeoutTest, TotalTimeoutCutsALongStream) {
  auto sim = start_fleet(1);
  const std::string model = sim->instance(0).model;
  set_sim_faults(*sim, 0, {{"slow_ms", 50}});  // 100 tokens: 5 s
  auto gw = GatewayProcess::start_yaml(
      one_pool_yaml(model, backend_list(*sim), "round_robin", timeouts("500ms", "700ms", "700ms", "700ms")));
  HttpClient c = gw->client();
  const auto t0 = Clock::now();
  auto head = c.start_stream("POST", "/v1/chat/completions", stream_chat(model, "long", 100));
  ASSERT_TRUE(head.ok()) << head.error().message;
  ASSERT_EQ(head->status, 200);
  int events = 0;
  Result<SseEvent> e = c.next_event(5s);
  while (e.ok()) {
    ++events;
    e = c.next_event(5s);
  }
  EXPECT_EQ(e.error().code, kClosed) << e.error().message;
  const auto took = Clock::now() - t0;
  EXPECT_GE(took, 600ms);
  EXPECT_LT(took, 3s);
  EXPECT_GT(events, 3) << "what arrived before the deadline was relayed";
  EXPECT_LT(events, 60);
}

TEST(GatewayTimeoutTest, FirstTokenTimeoutWhenTheHeadCameButNoEvent) {
  // A backend that sends the SSE head at once and then nothing: nothing has reached the client
  // (the gateway holds the head until the first event), so the client still gets a clean 504.
  FakeBackend backend([](const FakeRequest&) {
    return FakeAction{"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n", false,
                      false};
  });
  auto gw = GatewayProcess::start_yaml(
      one_pool_yaml("m", "[" + backend.url() + "]", "round_robin", timeouts("1s", "300ms", "10s", "20s")));
  HttpClient c = gw->client();
  auto r = c.post("/v1/chat/completions", stream_chat("m", "head only", 5));
  ASSERT_TRUE(r.ok()) << r.error().message;
  expect_error_body(*r, 504);
}

}  // namespace
}  // namespace kvroute::test
