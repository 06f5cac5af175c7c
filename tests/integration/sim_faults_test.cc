// Failure injection, end to end: every mode through the control endpoint (or the command line),
// seen from a client.
#include "sim_test_util.h"

namespace kvroute::test {
namespace {

class SimFaultsTest : public ::testing::Test {
 protected:
  void start(const std::vector<std::string>& extra = {}) {
    sim_ = start_sim(extra);
    inst_ = sim_->instance(0);
    model_ = inst_.model;
  }
  void TearDown() override {
    if (sim_) {
      EXPECT_EQ(sim_->stop(), 0);
    }
  }
  /// POSTs settings to /sim/faults on the instance (through `via` if given) and returns the reply.
  json set_faults(const json& settings, const std::string& target = "/sim/faults") {
    HttpClient c = client_for(inst_);
    auto r = c.post(target, settings.dump());
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return {};
    EXPECT_EQ(r->status, 200) << r->body;
    return parse_json(r->body);
  }
  std::string stream_body(int tokens) {
    return chat_body(model_, "stream me", {{"stream", true}, {"max_tokens", tokens}, {"ignore_eos", true}});
  }

  std::unique_ptr<SimProcess> sim_;
  SimInstanceInfo inst_;
  std::string model_;
};

TEST_F(SimFaultsTest, ControlEndpointReportsSetsAndClearsSettings) {
  start();
  HttpClient c = client_for(inst_);
  auto initial = c.get("/sim/faults");
  ASSERT_TRUE(initial.ok());
  EXPECT_EQ(parse_json(initial->body),
            (json{{"error_rate", 0}, {"error_status", 500}, {"hang", false}, {"close_after_tokens", 0},
                  {"slow_ms", 0}, {"refuse_connections", false}, {"queue_limit", 0}}));
  json after = set_faults({{"slow_ms", 5}, {"queue_limit", 7}});
  EXPECT_EQ(after["slow_ms"], 5);
  EXPECT_EQ(after["queue_limit"], 7);
  after = set_faults({{"error_status", 503}});
  EXPECT_EQ(after["slow_ms"], 5) << "fields not named keep their value";
  EXPECT_EQ(after["error_status"], 503);
  auto cleared = c.post("/sim/faults/clear", "");
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(parse_json(cleared->body)["slow_ms"], 0);
  EXPECT_EQ(parse_json(cleared->body)["error_status"], 500);

  auto typo = c.post("/sim/faults", R"({"slow_msec": 5})");
  ASSERT_TRUE(typo.ok());
  expect_error_body(*typo, 400);
  auto range = c.post("/sim/faults", R"({"error_rate": 2})");
  ASSERT_TRUE(range.ok());
  expect_error_body(*range, 400);
  auto no_instance = c.get("/sim/faults?instance=9");
  ASSERT_TRUE(no_instance.ok());
  expect_error_body(*no_instance, 404);
  auto wrong_method = c.get("/sim/faults/clear");
  ASSERT_TRUE(wrong_method.ok());
  expect_error_body(*wrong_method, 405);
}

TEST_F(SimFaultsTest, ErrorRateOneAnswersTheInjectedStatus) {
  start();
  HttpClient c = client_for(inst_);
  for (int status : {500, 429}) {
    set_faults({{"error_rate", 1.0}, {"error_status", status}});
    for (const char* path : {"/v1/chat/completions", "/v1/completions"}) {
      const std::string body = std::string(path) == "/v1/completions" ? completion_body(model_, "x")
                                                                       : chat_body(model_, "x", {{"stream", true}});
      auto r = c.post(path, body);
      ASSERT_TRUE(r.ok());
      expect_error_body(*r, status);
      EXPECT_EQ(r->header("x-sim-instance"), inst_.authority());
    }
  }
  auto page = metrics_page(c);
  EXPECT_EQ(metric(page, "vllm:prompt_tokens_total{"), 0.0) << "failed requests never reach the engine";
  set_faults({{"error_rate", 0}});
  auto ok = c.post("/v1/completions", completion_body(model_, "x", {{"sim_output_tokens", 1}}));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
}

TEST_F(SimFaultsTest, HangIsOnlyDetectedByTheClientsTimeout) {
  start({"--fail-hang"});  // from the command line this time
  HttpClient c = client_for(inst_);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = c.post("/v1/chat/completions", chat_body(model_, "anyone?", {{"sim_output_tokens", 1}}), 300ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);

  HttpClient control = client_for(inst_);
  auto cleared = control.post("/sim/faults/clear", "");
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(cleared->status, 200) << "control requests are not hung";
  auto ok = c.post("/v1/chat/completions", chat_body(model_, "anyone?", {{"sim_output_tokens", 1}}));
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->status, 200);
}

TEST_F(SimFaultsTest, CloseAfterKTokensGivesExactlyKContentEventsThenEof) {
  start();
  set_faults({{"close_after_tokens", 3}});
  HttpClient c = client_for(inst_);
  auto head = c.start_stream("POST", "/v1/chat/completions", stream_body(10));
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->status, 200);
  int content = 0;
  int role = 0;
  Result<SseEvent> e = c.next_event();
  for (; e.ok(); e = c.next_event()) {
    const json chunk = parse_json(e->data);
    ASSERT_FALSE(e->data == "[DONE]");
    if (chunk["choices"][0]["delta"].contains("role")) {
      ++role;
    } else {
      ++content;
    }
  }
  EXPECT_EQ(e.error().code, kClosed) << e.error().message;
  EXPECT_EQ(role, 1);
  EXPECT_EQ(content, 3);

  // Non-streaming: the connection goes before any answer.
  HttpClient d = client_for(inst_);
  auto r = d.post("/v1/completions", completion_body(model_, "x", {{"max_tokens", 10}, {"ignore_eos", true}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, kClosed);

  // A shorter answer than K is not cut.
  HttpClient f = client_for(inst_);
  auto short_one = f.post("/v1/completions", completion_body(model_, "x", {{"sim_output_tokens", 2}}));
  ASSERT_TRUE(short_one.ok());
  EXPECT_EQ(short_one->status, 200);

  HttpClient m = client_for(inst_);
  EXPECT_TRUE(eventually([&] {
    return metric(metrics_page(m), "vllm:request_success_total{", "finished_reason=\"abort\"") == 2.0;
  })) << "both cut requests count as aborted";
}

TEST_F(SimFaultsTest, SlowMsDelaysEveryToken) {
  start();
  auto timed_stream = [&] {
    HttpClient c = client_for(inst_);
    const auto t0 = std::chrono::steady_clock::now();
    auto head = c.start_stream("POST", "/v1/chat/completions", stream_body(10));
    EXPECT_TRUE(head.ok());
    auto events = read_all_events(c);
    EXPECT_TRUE(events.ok());
    EXPECT_EQ(events.ok() ? events->size() : 0u, 12u);  // role + 10 tokens + [DONE]
    return std::chrono::steady_clock::now() - t0;
  };
  const auto fast = timed_stream();
  set_faults({{"slow_ms", 30}});
  const auto slow = timed_stream();
  EXPECT_GE(slow, 300ms) << "10 tokens x 30 ms";
  EXPECT_GT(slow, fast + 200ms);
}

TEST_F(SimFaultsTest, RefuseClosesTheListenerAndAnotherInstanceCanClearIt) {
  start({"--instances", "2"});
  const auto& a = sim_->instance(0);
  const auto& b = sim_->instance(1);
  HttpClient via_a = client_for(a);
  auto r = via_a.post("/sim/faults?instance=1", R"({"refuse_connections": true})");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(parse_json(r->body)["refuse_connections"], true);

  HttpClient to_b = client_for(b);
  auto refused = to_b.connect(2s);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, kConnectFailed);

  auto seen = via_a.get("/sim/faults?instance=1");
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(parse_json(seen->body)["refuse_connections"], true);
  auto own = via_a.get("/sim/faults");
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(parse_json(own->body)["refuse_connections"], false) << "instance 0 itself is untouched";

  auto cleared = via_a.post("/sim/faults/clear?instance=1", "");
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(cleared->status, 200);
  ASSERT_TRUE(to_b.connect(2s).ok());
  auto health = to_b.get("/health");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->header("x-sim-instance"), b.authority());
}

TEST_F(SimFaultsTest, QueueLimitAnswers503UnderLoad) {
  // tiny runs at most 16 sequences. Streams of 200 tokens in real time keep 16 running for a
  // while, so once 17 are admitted one waits, and with queue_limit 1 the next request is refused.
  // (Requests arriving within one engine step also wait briefly, so a 503 may come earlier.)
  start({"--speedup", "1", "--fail-queue-limit", "1"});
  std::vector<std::unique_ptr<HttpClient>> clients;
  int admitted = 0;
  int unavailable = 0;
  for (int i = 0; i < 100 && admitted < 17; ++i) {
    clients.push_back(std::make_unique<HttpClient>(inst_.host, inst_.port));
    auto head = clients.back()->start_stream(
        "POST", "/v1/completions",
        completion_body(model_, "load " + std::to_string(i),
                        {{"stream", true}, {"max_tokens", 200}, {"ignore_eos", true}}));
    ASSERT_TRUE(head.ok()) << head.error().message;
    ASSERT_TRUE(head->status == 200 || head->status == 503) << head->status;
    admitted += head->status == 200;
    unavailable += head->status == 503;
    if (head->status == 503 && admitted < 17) {
      // Refused while an earlier arrival waited for the next engine step (a loaded machine stretches
      // steps): let that one be admitted before trying again, so the count below is exact.
      HttpClient poll = client_for(inst_);
      const auto deadline = std::chrono::steady_clock::now() + 5s;
      while (std::chrono::steady_clock::now() < deadline) {
        auto st = poll.get("/sim/stats");
        ASSERT_TRUE(st.ok());
        if (parse_json(st->body)["engine"]["waiting"].get<int>() == 0) break;
      }
    }
  }
  ASSERT_EQ(admitted, 17);
  HttpClient probe = client_for(inst_);
  auto r = probe.post("/v1/completions", completion_body(model_, "one more", {{"max_tokens", 4}}));
  ASSERT_TRUE(r.ok());
  expect_error_body(*r, 503);
  EXPECT_EQ(parse_json(r->body)["error"]["type"], "ServiceUnavailableError");
  auto stats = probe.get("/sim/stats");
  ASSERT_TRUE(stats.ok());
  EXPECT_GE(parse_json(stats->body)["engine"]["waiting"].get<int>(), 1);
}

}  // namespace
}  // namespace kvroute::test
