// Bad input gets its status and an OpenAI-style JSON error, and the client connection stays usable;
// --check-config exit codes and messages.
#include "gateway/gateway_test_util.h"

namespace kvroute::test {
namespace {

using namespace std::chrono_literals;

class GatewayErrorsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sim_ = start_fleet(1).release();
    model_ = sim_->instance(0).model;
    gw_ = GatewayProcess::start_yaml(one_pool_yaml(model_, backend_list(*sim_), "round_robin", {},
                                                   "limits: {max_body_bytes: 4KiB, max_header_bytes: 2KiB}\n"))
              .release();
  }
  static void TearDownTestSuite() {
    delete gw_;
    delete sim_;
  }
  /// The connection still serves a normal request after the error.
  static void expect_usable(HttpClient& c) {
    auto r = c.post("/v1/completions", completion_body(model_, "still here", {{"max_tokens", 1}}));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200) << r->body;
  }
  static SimProcess* sim_;
  static GatewayProcess* gw_;
  static std::string model_;
};
SimProcess* GatewayErrorsTest::sim_ = nullptr;
GatewayProcess* GatewayErrorsTest::gw_ = nullptr;
std::string GatewayErrorsTest::model_;

TEST_F(GatewayErrorsTest, MalformedJsonIs400) {
  HttpClient c = gw_->client();
  auto r = c.post("/v1/chat/completions", "{\"model\": ");
  ASSERT_TRUE(r.ok());
  expect_error_body(*r, 400);
  EXPECT_NE(r->body.find("Invalid JSON"), std::string::npos) << r->body;
  EXPECT_EQ(r->header("x-kvroute-backend"), "") << "answered by the gateway";
  expect_usable(c);
}

TEST_F(GatewayErrorsTest, MissingModelIs400) {
  HttpClient c = gw_->client();
  auto r = c.post("/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}]})");
  ASSERT_TRUE(r.ok());
  expect_error_body(*r, 400);
  EXPECT_NE(r->body.find("'model'"), std::string::npos) << r->body;
  expect_usable(c);
}

TEST_F(GatewayErrorsTest, WrongTypeIs400) {
  HttpClient c = gw_->client();
  auto r = c.post("/v1/chat/completions", chat_body(model_, "x", {{"stream", "yes"}}));
  ASSERT_TRUE(r.ok());
  expect_error_body(*r, 400);
  EXPECT_NE(r->body.find("'stream'"), std::string::npos) << r->body;
  auto r2 = c.post("/v1/completions", R"({"model":"x","prompt":"p","max_tokens":0})");
  ASSERT_TRUE(r2.ok());
  expect_error_body(*r2, 400);
  expect_usable(c);
}

TEST_F(GatewayErrorsTest, UnknownModelIs404) {
  HttpClient c = gw_->client();
  auto r = c.post("/v1/chat/completions", chat_body("no-such-model", "x"));
  ASSERT_TRUE(r.ok());
  expect_error_body(*r, 404);
  EXPECT_EQ(parse_json(r->body)["error"]["message"], "The model `no-such-model` does not exist.");
  expect_usable(c);
}

TEST_F(GatewayErrorsTest, UnknownPathsAre404AndWrongMethods405) {
  HttpClient c = gw_->client();
  auto r = c.get("/nowhere");
  ASSERT_TRUE(r.ok());
  expect_error_body(*r, 404);
  auto v1 = c.post("/v1/unknown", R"({"x":1})");
  ASSERT_TRUE(v1.ok());
  expect_error_body(*v1, 404);
  auto m = c.get("/v1/chat/completions");
  ASSERT_TRUE(m.ok());
  expect_error_body(*m, 405);
  EXPECT_EQ(m->header("allow"), "POST");
  expect_usable(c);
}

TEST_F(GatewayErrorsTest, OtherV1PathsWithAModelAreRoutedToItsPool) {
  HttpClient c = gw_->client();
  // kvroute-sim does not serve /v1/tokenize: its own 404 comes back through the gateway.
  auto r = c.post("/v1/tokenize", json{{"model", model_}, {"prompt", "hi"}}.dump());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->header("x-sim-instance"), sim_->instance(0).authority()) << "the backend answered";
  expect_usable(c);
}

TEST_F(GatewayErrorsTest, OversizedBodyIs413AndTheConnectionSurvives) {
  HttpClient c = gw_->client();
  auto r = c.post("/v1/chat/completions", chat_body(model_, std::string(8000, 'a')));
  ASSERT_TRUE(r.ok()) << r.error().message;
  expect_error_body(*r, 413);
  expect_usable(c);
}

TEST_F(GatewayErrorsTest, OversizedChunkedBodyIs413) {
  HttpClient c = gw_->client();
  const std::string body = chat_body(model_, std::string(8000, 'a'));
  ASSERT_TRUE(c.send_raw(fmt::format("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                                     "chunked\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
                                     body.size(), body))
                  .ok());
  auto r = c.read_response();
  ASSERT_TRUE(r.ok()) << r.error().message;
  expect_error_body(*r, 413);
}

TEST_F(GatewayErrorsTest, ChunkedRequestBodyIsAccepted) {
  HttpClient c = gw_->client();
  const std::string body = completion_body(model_, "chunked", {{"max_tokens", 1}});
  const std::string half1 = body.substr(0, 10), half2 = body.substr(10);
  ASSERT_TRUE(c.send_raw(fmt::format("POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                     "Content-Type: application/json\r\n\r\n{:x}\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
                                     half1.size(), half1, half2.size(), half2))
                  .ok());
  auto r = c.read_response();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200) << r->body;
  expect_usable(c);
}

TEST_F(GatewayErrorsTest, ExpectContinueIsAnswered) {
  HttpClient c = gw_->client();
  const std::string body = completion_body(model_, "expect", {{"max_tokens", 1}});
  ASSERT_TRUE(c.send_raw(fmt::format("POST /v1/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                     "Content-Length: {}\r\n\r\n",
                                     body.size()))
                  .ok());
  auto interim = c.read_response(5s);
  ASSERT_TRUE(interim.ok()) << interim.error().message;
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.send_raw(body).ok());
  auto r = c.read_response();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(GatewayErrorsTest, HugeHeaderIs431) {
  HttpClient c = gw_->client();
  auto r = c.request("POST", "/v1/completions", completion_body(model_, "x"), {{"x-big", std::string(4000, 'h')}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  expect_error_body(*r, 431);
}

TEST_F(GatewayErrorsTest, MalformedHttpIs400) {
  HttpClient c = gw_->client();
  ASSERT_TRUE(c.send_raw("THIS IS NOT HTTP\r\n\r\n").ok());
  auto r = c.read_response();
  ASSERT_TRUE(r.ok()) << r.error().message;
  expect_error_body(*r, 400);
}

TEST_F(GatewayErrorsTest, RequestIdIsKeptOrMade) {
  HttpClient c = gw_->client();
  auto mine = c.request("POST", "/v1/completions", completion_body(model_, "id", {{"max_tokens", 1}}),
                        {{"x-request-id", "my-id-1"}});
  ASSERT_TRUE(mine.ok());
  EXPECT_EQ(mine->header("x-request-id"), "my-id-1");
  auto made = c.post("/v1/completions", completion_body(model_, "id", {{"max_tokens", 1}}));
  ASSERT_TRUE(made.ok());
  EXPECT_EQ(made->header("x-request-id").size(), 32u);
  auto made2 = c.post("/v1/completions", completion_body(model_, "id", {{"max_tokens", 1}}));
  ASSERT_TRUE(made2.ok());
  EXPECT_NE(made2->header("x-request-id"), made->header("x-request-id"));
}

TEST_F(GatewayErrorsTest, PipelinedRequestsAreAnsweredInOrder) {
  HttpClient c = gw_->client();
  const std::string a = completion_body(model_, "first", {{"max_tokens", 1}});
  std::string raw;
  raw += fmt::format("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{}", a.size(), a);
  raw += "GET /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n";
  raw += "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(c.send_raw(raw).ok());
  auto r1 = c.read_response();
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1->status, 200);
  auto r2 = c.read_response();
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->status, 404);
  auto r3 = c.read_response();
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3->status, 200);
}

// ---- --check-config ----

std::pair<int, std::string> run_kvroute(const std::vector<std::string>& args) {
  auto p = ChildProcess::spawn(KVROUTE_BIN, args);
  const auto status = p->wait_exit(std::chrono::seconds(10));
  std::string out;
  for (const auto& l : p->lines()) out += l + "\n";
  return {status.value_or(-1), out + p->stderr_tail()};
}

TEST(GatewayCheckConfigTest, ValidFileExitsZero) {
  const auto [status, out] = run_kvroute({"--check-config", KVROUTE_SOURCE_DIR "/examples/demo.yaml"});
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("ok"), std::string::npos) << out;
}

TEST(GatewayCheckConfigTest, BadPolicyAndParameterAreLocated) {
  const std::string path = GatewayProcess::write_temp_config(R"(pools:
  - name: a
    models: [m]
    policy:
      name: consistent_hash
      params:
        balance_factor: 0.5
    backends: [http://127.0.0.1:9]
  - name: b
    models: [n]
    policy: fastest
    backends: [http://127.0.0.1:9]
)");
  const auto [status, out] = run_kvroute({"--check-config", path});
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find(path + ":7:"), std::string::npos) << out;
  EXPECT_NE(out.find("balance_factor"), std::string::npos) << out;
  EXPECT_NE(out.find(path + ":11:"), std::string::npos) << out;
  EXPECT_NE(out.find("unknown policy 'fastest'"), std::string::npos) << out;
  ::unlink(path.c_str());
}

TEST(GatewayCheckConfigTest, YamlErrorsAreLocatedAndNothingStarts) {
  const std::string path = GatewayProcess::write_temp_config("pools:\n  - name: a\n    modles: [m]\n");
  const auto [status, out] = run_kvroute({"--check-config", path});
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find(path + ":3:5:"), std::string::npos) << out;
  EXPECT_EQ(out.find("listening"), std::string::npos);
  const auto [status2, out2] = run_kvroute({"--config", path});
  EXPECT_EQ(status2, 1) << "--config refuses the same file: " << out2;
  ::unlink(path.c_str());
}

TEST(GatewayCheckConfigTest, MissingFileAndBadUsage) {
  const auto [status, out] = run_kvroute({"--check-config", "/nonexistent/kvroute.yaml"});
  EXPECT_EQ(status, 1);
  EXPECT_NE(out.find("cannot read"), std::string::npos) << out;
  const auto [usage, usage_out] = run_kvroute({"--frobnicate"});
  EXPECT_EQ(usage, 2) << usage_out;
  const auto [none, none_out] = run_kvroute({});
  EXPECT_EQ(none, 2) << none_out;
}

TEST(GatewayCheckConfigTest, BadQuickStartFlagIsRefused) {
  const auto [status, out] = run_kvroute({"--listen", "127.0.0.1:0", "--backend", "http://x:99999"});
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("--backend"), std::string::npos) << out;
}

}  // namespace
}  // namespace kvroute::test
