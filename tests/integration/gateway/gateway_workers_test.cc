// Several workers and listeners, many clients at once, HTTP/1.0 clients, the connection limit.
#include <atomic>
#include <set>
#include <thread>

#include "gateway/gateway_test_util.h"

namespace kvroute::test {
namespace {

using namespace std::chrono_literals;

TEST(GatewayWorkersTest, EveryListenerIsAnnouncedAndServedByEveryWorker) {
  auto sim = start_fleet(2);
  const std::string model = sim->instance(0).model;
  auto gw = GatewayProcess::start_yaml(fmt::format(R"(listeners:
  - {{address: "127.0.0.1:0", workers: 3}}
  - {{address: "127.0.0.1:0", workers: 1}}
pools:
  - name: p
    models: ["{}"]
    backends: {}
)",
                                                   model, backend_list(*sim)));
  ASSERT_EQ(gw->urls().size(), 2u);
  EXPECT_NE(gw->urls()[0], gw->urls()[1]);
  for (const auto& url : gw->urls()) {
    const auto port = static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
    for (int i = 0; i < 6; ++i) {  // fresh connections: the kernel spreads them over the workers
      HttpClient c("127.0.0.1", port);
      auto r = c.post("/v1/completions", completion_body(model, "listener", {{"max_tokens", 1}}));
      ASSERT_TRUE(r.ok()) << url << ": " << r.error().message;
      EXPECT_EQ(r->status, 200);
    }
  }
}

TEST(GatewayWorkersTest, ManyConcurrentStreamsAllComplete) {
  auto sim = start_fleet(4);
  const std::string model = sim->instance(0).model;
  auto gw = GatewayProcess::start_yaml(fmt::format(R"(listeners: [{{address: "127.0.0.1:0", workers: 2}}]
pools:
  - name: p
    models: ["{}"]
    policy: least_request
    backends: {}
)",
                                                   model, backend_list(*sim)));
  constexpr int kClients = 24;
  constexpr int kStreamsEach = 3;
  std::atomic<int> complete{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      HttpClient c = gw->client();
      for (int i = 0; i < kStreamsEach; ++i) {
        auto head = c.start_stream("POST", "/v1/chat/completions",
                                   stream_chat(model, fmt::format("client {} stream {}", t, i), 16));
        if (!head.ok() || head->status != 200) return;
        auto events = read_all_events(c);
        if (events.ok() && events->size() == 18 && events->back().data == "[DONE]") ++complete;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(complete.load(), kClients * kStreamsEach);
}

TEST(GatewayWorkersTest, Http10ClientGetsTheBareStreamAndAClose) {
  auto sim = start_fleet(1);
  const std::string model = sim->instance(0).model;
  auto gw = GatewayProcess::start_yaml(one_pool_yaml(model, backend_list(*sim), "round_robin"));
  HttpClient c = gw->client();
  const std::string body = stream_chat(model, "old client", 4);
  ASSERT_TRUE(c.send_raw(fmt::format("POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\n"
                                     "Content-Length: {}\r\n\r\n{}",
                                     body.size(), body))
                  .ok());
  auto r = c.read_response();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->chunked) << "HTTP/1.0 has no chunked encoding";
  EXPECT_TRUE(r->body.starts_with("data: {")) << r->body;
  EXPECT_TRUE(r->body.ends_with("data: [DONE]\n\n")) << r->body;
  EXPECT_TRUE(c.wait_closed(2s));
}

TEST(GatewayWorkersTest, ConnectionsBeyondTheLimitAreClosed) {
  auto sim = start_fleet(1);
  const std::string model = sim->instance(0).model;
  auto gw = GatewayProcess::start_yaml(
      one_pool_yaml(model, backend_list(*sim), "round_robin", {}, "limits: {max_connections: 2}\n"));
  HttpClient a = gw->client(), b = gw->client(), c = gw->client();
  ASSERT_TRUE(a.get("/health").ok());
  ASSERT_TRUE(b.get("/health").ok());
  ASSERT_TRUE(c.connect().ok());
  EXPECT_TRUE(c.wait_closed(2s)) << "a third connection is closed at once";
  a.close();
  // Once a slot is free, connections are served again (the count drops when the session ends).
  EXPECT_TRUE(eventually([&] {
    HttpClient d = gw->client();
    auto r = d.get("/health", 500ms);
    return r.ok() && r->status == 200;
  }));
}

}  // namespace
}  // namespace kvroute::test
