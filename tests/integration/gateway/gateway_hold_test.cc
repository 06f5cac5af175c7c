// The hold queue (late binding) through the real gateway: kvroute with the `cost` policy in front of
// a slowed-down kvroute-sim, so that every backend is busy prefilling and the policy holds requests.
// Cost holds while every backend's predicted wait (outstanding prefill work over the prefill rate)
// exceeds its hold_queue; a backend with nothing in flight never holds. With initial_prefill_rate 1000
// tokens/s and prompts of hundreds of tokens, a backend that prefills one prompt is "saturated" for a
// hold_queue of 50 ms, until that prompt's first token.
//
// What happens inside the gateway is read from its debug log (stderr): "request ID held", "request ID
// bound after N ms held", "request ID left the queue", waited on as conditions (never fixed sleeps);
// the sim's own metrics say what reached a backend. Generous timeouts: the machine may be loaded.
#include <csignal>
#include <limits>
#include <optional>
#include <thread>

#include "gateway/gateway_test_util.h"

namespace kvroute::test {
namespace {

using namespace std::chrono_literals;

/// Model times x 200: a 400-token prefill takes ~0.4 s, a 1500-token one ~1.3 s, a decode step ~0.2 s.
std::unique_ptr<SimProcess> start_slow_fleet(int n) {
  return SimProcess::start(KVROUTE_SIM_BIN, {"--port", "0", "--host", "127.0.0.1", "--instances", std::to_string(n),
                                             "--preset", "tiny", "--speed-factor", "0.005", "--log-level", "warn"});
}

constexpr const char* kCostHolding = "{name: cost, params: {hold_queue: 50ms, initial_prefill_rate: 1000}}";

std::unique_ptr<GatewayProcess> start_gateway(const SimProcess& sim, const std::string& queue) {
  return GatewayProcess::start_yaml(one_pool_yaml(sim.instance(0).model, backend_list(sim), kCostHolding,
                                                  "    queue: " + queue + "\n", "admin:\n  listen: 127.0.0.1:0\n"),
                                    {"--log-level", "debug"});
}

/// A figure of the gateway's admin /metrics page (listener announced as "admin url=http://HOST:PORT"):
/// the first sample of `series` whose line contains `filter`; NaN when absent.
double gateway_metric(GatewayProcess& gw, const std::string& series, const std::string& filter = {}) {
  return metric(gateway_admin_page(gw), series, filter);
}

double left_queue(GatewayProcess& gw, const std::string& reason) {
  return gateway_metric(gw, "kvroute_hold_queue_left_total{", "reason=\"" + reason + "\"");
}

/// A prompt of about `tokens` tokens, different for every `tag` (no prefix shared with another).
std::string prompt(const std::string& tag, int tokens) {
  std::string out;
  while (static_cast<int>(out.size()) < tokens * 4) out += tag + " says hello to the world. ";
  return out;
}

/// Whether the gateway logged a line containing `text`, within the timeout.
bool logged(GatewayProcess& gw, const std::string& text, std::chrono::milliseconds timeout = 30s) {
  return eventually([&] { return gw.process().stderr_tail().find(text) != std::string::npos; }, timeout);
}

/// Requests the sim took into its engine and finished or aborted, over every finish reason.
double sim_requests(const SimProcess& sim, std::size_t i) {
  HttpClient c(sim.instance(i).host, sim.instance(i).port);
  const std::string page = metrics_page(c);
  double total = 0;
  for (const char* reason : {"stop", "length", "abort", "error"}) {
    total += metric(page, "vllm:request_success_total{", std::string("finished_reason=\"") + reason + "\"");
  }
  return total;
}

/// Whether instance i is running a request now (so the gateway has dispatched one there).
bool sim_busy(const SimProcess& sim, std::size_t i) {
  HttpClient c(sim.instance(i).host, sim.instance(i).port);
  const std::string page = metrics_page(c);
  return metric(page, "vllm:num_requests_running{") + metric(page, "vllm:num_requests_waiting{") >= 1;
}

/// A request sent from its own thread; the response is read there.
class Call {
 public:
  Call(const GatewayProcess& gw, std::string id, std::string body)
      : thread_([this, port = gw.port(), id = std::move(id), body = std::move(body)] {
          HttpClient c("127.0.0.1", port);
          auto r = c.request("POST", "/v1/chat/completions", body, {{"x-request-id", id}}, 60s);
          if (r.ok()) {
            response_ = std::move(*r);
          } else {
            error_ = r.error().message;
          }
        }) {}
  ~Call() {
    if (thread_.joinable()) thread_.join();
  }
  /// Waits for the answer.
  const HttpResponse& get() {
    thread_.join();
    EXPECT_TRUE(response_.has_value()) << error_;
    if (!response_) response_.emplace();
    return *response_;
  }

 private:
  std::optional<HttpResponse> response_;
  std::string error_;
  std::thread thread_;
};

void expect_hold_error(const HttpResponse& r, const std::string& code) {
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.header("retry-after"), "1");
  EXPECT_NE(r.header("content-type").find("application/json"), std::string::npos);
  const json j = parse_json(r.body);
  ASSERT_TRUE(j.contains("error")) << r.body;
  EXPECT_EQ(j["error"]["type"], "server_error") << r.body;
  EXPECT_EQ(j["error"]["code"], code) << r.body;
  EXPECT_TRUE(j["error"]["param"].is_null()) << r.body;
  EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
}

TEST(GatewayHoldTest, RequestsBeyondCapacityAreHeldAndAllServed) {
  auto sim = start_slow_fleet(2);
  const std::string model = sim->instance(0).model;
  auto gw = start_gateway(*sim, "{max_requests: 100, max_wait: 60s}");
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < 8; ++i) {
    const std::string id = "burst-" + std::to_string(i);
    calls.push_back(std::make_unique<Call>(*gw, id, stream_chat(model, prompt(id, 400), 3)));
  }
  int held = 0;
  for (int i = 0; i < 8; ++i) {
    const HttpResponse& r = calls[static_cast<std::size_t>(i)]->get();
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("[DONE]"), std::string::npos);
    const std::string queued = r.header("x-kvroute-queued-ms");
    const bool logged_held =
        gw->process().stderr_tail().find("request burst-" + std::to_string(i) + " held") != std::string::npos;
    EXPECT_EQ(!queued.empty(), logged_held) << "burst-" << i;
    if (!queued.empty()) {
      ++held;
      EXPECT_TRUE(logged(*gw, "request burst-" + std::to_string(i) + " bound after", 1s));
    }
  }
  // Two backends take one request each at once; the others arrive while both prefill and wait in
  // the gateway, to be bound one by one as first tokens come back.
  EXPECT_GE(held, 2);
  EXPECT_EQ(gateway_metric(*gw, "kvroute_hold_queue_entered_total"), held);
  EXPECT_EQ(left_queue(*gw, "dispatched"), held);
  EXPECT_GT(gateway_metric(*gw, "kvroute_hold_queue_wait_seconds_total"), 0.0);
  EXPECT_TRUE(eventually([&] { return sim_requests(*sim, 0) + sim_requests(*sim, 1) == 8; }, 10s));
}

TEST(GatewayHoldTest, HeldRequestsAreBoundInArrivalOrder) {
  auto sim = start_slow_fleet(1);
  const std::string model = sim->instance(0).model;
  auto gw = start_gateway(*sim, "{max_requests: 100, max_wait: 60s}");
  Call first(*gw, "fifo-first", stream_chat(model, prompt("first", 1500), 2));
  ASSERT_TRUE(eventually([&] { return sim_busy(*sim, 0); }, 30s));
  // Each request is sent once the one before it is known to be held: the gateway's arrival order.
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < 5; ++i) {
    const std::string id = "fifo-" + std::to_string(i);
    calls.push_back(std::make_unique<Call>(*gw, id, stream_chat(model, prompt(id, 300), 2)));
    ASSERT_TRUE(logged(*gw, "request " + id + " held")) << gw->process().stderr_tail();
  }
  EXPECT_EQ(first.get().status, 200);
  for (auto& c : calls) {
    const HttpResponse& r = c->get();
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_FALSE(r.header("x-kvroute-queued-ms").empty());
  }
  const std::string log = gw->process().stderr_tail();
  std::size_t at = 0;
  for (int i = 0; i < 5; ++i) {
    const auto next = log.find("request fifo-" + std::to_string(i) + " bound after", at);
    ASSERT_NE(next, std::string::npos) << "fifo-" << i << " bound out of order:\n" << log;
    at = next;
  }
}

TEST(GatewayHoldTest, HeldLongerThanMaxWaitIsA503QueueTimeout) {
  auto sim = start_slow_fleet(1);
  const std::string model = sim->instance(0).model;
  auto gw = start_gateway(*sim, "{max_requests: 100, max_wait: 100ms}");
  Call first(*gw, "busy", stream_chat(model, prompt("busy", 1500), 2));
  ASSERT_TRUE(eventually([&] { return sim_busy(*sim, 0); }, 30s));
  HttpClient c = gw->client();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = c.request("POST", "/v1/chat/completions", stream_chat(model, prompt("late", 300), 2),
                     {{"x-request-id", "late"}}, 30s);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r.ok()) << r.error().message;
  expect_hold_error(*r, "queue_timeout");
  EXPECT_GE(took, 100ms);
  EXPECT_TRUE(logged(*gw, "request late timed out", 1s));
  // Nothing was sent upstream for it, and the connection stays usable.
  auto health = c.get("/health");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(first.get().status, 200);
  EXPECT_EQ(sim_requests(*sim, 0), 1);
  EXPECT_EQ(left_queue(*gw, "timeout"), 1);
  EXPECT_EQ(left_queue(*gw, "dispatched"), 0);
}

TEST(GatewayHoldTest, NoRoomInTheQueueIsA503QueueFull) {
  auto sim = start_slow_fleet(1);
  const std::string model = sim->instance(0).model;
  auto gw = start_gateway(*sim, "{max_requests: 0, max_wait: 60s}");
  Call first(*gw, "busy", stream_chat(model, prompt("busy", 1500), 2));
  ASSERT_TRUE(eventually([&] { return sim_busy(*sim, 0); }, 30s));
  HttpClient c = gw->client();
  auto r = c.request("POST", "/v1/chat/completions", stream_chat(model, prompt("refused", 300), 2),
                     {{"x-request-id", "refused"}}, 30s);
  ASSERT_TRUE(r.ok()) << r.error().message;
  expect_hold_error(*r, "queue_full");
  EXPECT_EQ(gw->process().stderr_tail().find("request refused held"), std::string::npos);
  EXPECT_EQ(gateway_metric(*gw, "kvroute_hold_queue_full_total"), 1);
  EXPECT_EQ(gateway_metric(*gw, "kvroute_hold_queue_entered_total"), 0);
  EXPECT_EQ(first.get().status, 200);
  EXPECT_EQ(sim_requests(*sim, 0), 1);
}

TEST(GatewayHoldTest, AClientThatLeavesWhileHeldIsNeverSentUpstream) {
  auto sim = start_slow_fleet(1);
  const std::string model = sim->instance(0).model;
  auto gw = start_gateway(*sim, "{max_requests: 100, max_wait: 60s}");
  Call first(*gw, "busy", stream_chat(model, prompt("busy", 1500), 2));
  ASSERT_TRUE(eventually([&] { return sim_busy(*sim, 0); }, 30s));
  HttpClient leaver = gw->client();
  const std::string body = stream_chat(model, prompt("leaver", 300), 2);
  ASSERT_TRUE(leaver
                  .send_raw(fmt::format("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-request-id: leaver\r\n"
                                        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
                                        body.size(), body))
                  .ok());
  ASSERT_TRUE(logged(*gw, "request leaver held")) << gw->process().stderr_tail();
  Call behind(*gw, "behind", stream_chat(model, prompt("behind", 300), 2));
  ASSERT_TRUE(logged(*gw, "request behind held")) << gw->process().stderr_tail();
  leaver.close();
  EXPECT_TRUE(logged(*gw, "request leaver left the queue")) << gw->process().stderr_tail();
  // The request behind it moves up and is served; the one that left never reached the backend.
  const HttpResponse& r = behind.get();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.header("x-kvroute-queued-ms").empty());
  EXPECT_EQ(first.get().status, 200);
  EXPECT_EQ(gw->process().stderr_tail().find("request leaver bound"), std::string::npos);
  EXPECT_EQ(left_queue(*gw, "abandoned"), 1);
  EXPECT_EQ(left_queue(*gw, "dispatched"), 1);
  EXPECT_TRUE(eventually([&] { return sim_requests(*sim, 0) == 2; }, 10s)) << sim_requests(*sim, 0);
}

TEST(GatewayHoldTest, ShutdownAnswersHeldRequestsAndFinishesTheOthers) {
  auto sim = start_slow_fleet(1);
  const std::string model = sim->instance(0).model;
  auto gw = start_gateway(*sim, "{max_requests: 100, max_wait: 60s}");
  Call first(*gw, "busy", stream_chat(model, prompt("busy", 1500), 2));
  ASSERT_TRUE(eventually([&] { return sim_busy(*sim, 0); }, 30s));
  Call held(*gw, "parked", stream_chat(model, prompt("parked", 300), 2));
  ASSERT_TRUE(logged(*gw, "request parked held")) << gw->process().stderr_tail();
  gw->process().signal(SIGTERM);
  const HttpResponse& r = held.get();
  expect_hold_error(r, "shutting_down");
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_EQ(first.get().status, 200) << "a request already with a backend finishes";
  EXPECT_EQ(gw->process().wait_exit(30s), 0);
  EXPECT_EQ(sim_requests(*sim, 0), 1);
}

}  // namespace
}  // namespace kvroute::test
