// Where requests go: each policy's distribution over a kvroute-sim fleet (counted by the
// x-sim-instance header every sim response carries), aliases, failover, /v1/models.
#include <map>
#include <set>

#include "gateway/fake_backend.h"
#include "gateway/gateway_test_util.h"

namespace kvroute::test {
namespace {

/// Sends n chat requests on one keep-alive connection; counts answers per instance.
std::map<std::string, int> distribution(HttpClient& c, const std::string& model, int n,
                                        const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  std::map<std::string, int> count;
  for (int i = 0; i < n; ++i) {
    auto r = c.request("POST", "/v1/chat/completions",
                       chat_body(model, "route me " + std::to_string(i), {{"max_tokens", 1}}), headers);
    EXPECT_TRUE(r.ok()) << r.error().message;
    if (!r.ok()) break;
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->header("x-kvroute-backend"), r->header("x-sim-instance"));
    ++count[r->header("x-sim-instance")];
  }
  return count;
}

TEST(GatewayRoutingTest, RoundRobinIsExactlyEven) {
  auto sim = start_fleet(3);
  const std::string model = sim->instance(0).model;
  auto gw = GatewayProcess::start_yaml(one_pool_yaml(model, backend_list(*sim), "round_robin"));
  HttpClient c = gw->client();
  const auto count = distribution(c, model, 30);
  ASSERT_EQ(count.size(), 3u);
  for (const auto& inst : sim->instances()) EXPECT_EQ(count.at(inst.authority()), 10) << inst.authority();
}

TEST(GatewayRoutingTest, WeightedRoundRobinFollowsWeights) {
  auto sim = start_fleet(3);
  const std::string model = sim->instance(0).model;
  const std::string backends = fmt::format(R"(
      - {{url: "{}", weight: 1}}
      - {{url: "{}", weight: 2}}
      - {{url: "{}", weight: 3}})",
                                           sim->instance(0).url, sim->instance(1).url, sim->instance(2).url);
  auto gw = GatewayProcess::start_yaml(one_pool_yaml(model, backends, "weighted_round_robin"));
  HttpClient c = gw->client();
  const auto count = distribution(c, model, 60);
  EXPECT_EQ(count.at(sim->instance(0).authority()), 10);
  EXPECT_EQ(count.at(sim->instance(1).authority()), 20);
  EXPECT_EQ(count.at(sim->instance(2).authority()), 30);
}

TEST(GatewayRoutingTest, DrainedBackendGetsNothing) {
  auto sim = start_fleet(2);
  const std::string model = sim->instance(0).model;
  const std::string backends = fmt::format(R"(
      - {{url: "{}", weight: 0}}
      - {{url: "{}"}})",
                                           sim->instance(0).url, sim->instance(1).url);
  auto gw = GatewayProcess::start_yaml(one_pool_yaml(model, backends, "round_robin"));
  HttpClient c = gw->client();
  const auto count = distribution(c, model, 10);
  EXPECT_EQ(count.size(), 1u);
  EXPECT_EQ(count.at(sim->instance(1).authority()), 10);
}

TEST(GatewayRoutingTest, ConsistentHashKeepsEachKeyOnOneBackend) {
  auto sim = start_fleet(4);
  const std::string model = sim->instance(0).model;
  auto gw = GatewayProcess::start_yaml(
      one_pool_yaml(model, backend_list(*sim), "consistent_hash", "    routing_key: {from: header, header: x-user}\n"));
  HttpClient c = gw->client();
  std::set<std::string> used;
  for (int key = 0; key < 12; ++key) {
    const auto count = distribution(c, model, 5, {{"x-user", "user-" + std::to_string(key)}});
    EXPECT_EQ(count.size(), 1u) << "key " << key << " moved between backends";
    if (!count.empty()) used.insert(count.begin()->first);
  }
  EXPECT_GE(used.size(), 2u) << "12 keys should not all hash to one of 4 backends";
}

TEST(GatewayRoutingTest, SessionKeyFromTheUserField) {
  auto sim = start_fleet(4);
  const std::string model = sim->instance(0).model;
  auto gw = GatewayProcess::start_yaml(
      one_pool_yaml(model, backend_list(*sim), "consistent_hash", "    routing_key: {from: session}\n"));
  HttpClient c = gw->client();
  for (int key = 0; key < 6; ++key) {
    std::set<std::string> where;
    for (int i = 0; i < 4; ++i) {
      auto r = c.post("/v1/chat/completions", chat_body(model, "q" + std::to_string(i),
                                                        {{"max_tokens", 1}, {"user", "u" + std::to_string(key)}}));
      ASSERT_TRUE(r.ok());
      where.insert(r->header("x-sim-instance"));
    }
    EXPECT_EQ(where.size(), 1u) << "user u" << key;
  }
}

TEST(GatewayRoutingTest, AliasReachesTheBackendWithTheRealModelName) {
  auto sim = start_fleet(1);
  const std::string model = sim->instance(0).model;
  auto gw = GatewayProcess::start_yaml(
      one_pool_yaml(model, backend_list(*sim), "round_robin", fmt::format("    aliases: {{tiny: \"{}\"}}\n", model)));
  HttpClient c = gw->client();
  // kvroute-sim answers 404 for any model but its own: a 200 shows the backend got the real name.
  auto r = c.post("/v1/chat/completions", chat_body("tiny", "alias please", {{"max_tokens", 2}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(parse_json(r->body)["model"], model);
  auto s = c.start_stream("POST", "/v1/chat/completions", stream_chat("tiny", "alias stream", 3));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->status, 200);
  auto events = read_all_events(c);
  ASSERT_TRUE(events.ok()) << events.error().message;
  EXPECT_EQ(parse_json(events->front().data)["model"], model);
}

TEST(GatewayRoutingTest, ModelsListsConfiguredNamesAndAliases) {
  auto sim = start_fleet(1);
  const std::string model = sim->instance(0).model;
  auto gw = GatewayProcess::start_yaml(
      one_pool_yaml(model, backend_list(*sim), "round_robin", fmt::format("    aliases: {{tiny: \"{}\"}}\n", model)));
  HttpClient c = gw->client();
  auto r = c.get("/v1/models");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  const json j = parse_json(r->body);
  EXPECT_EQ(j["object"], "list");
  std::set<std::string> ids;
  for (const auto& m : j["data"]) ids.insert(m["id"].get<std::string>());
  EXPECT_EQ(ids, (std::set<std::string>{model, "tiny"}));
  auto h = c.get("/health");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->status, 200);
}

TEST(GatewayRoutingTest, QuickStartListsTheBackendsModels) {
  auto sim = start_fleet(2);
  auto gw = GatewayProcess::start({"--listen", "127.0.0.1:0", "--backend", sim->instance(0).url, "--backend",
                                   sim->instance(1).url + "=2", "--policy", "round_robin", "--log-level", "warn"});
  HttpClient c = gw->client();
  auto r = c.get("/v1/models");
  ASSERT_TRUE(r.ok());
  const json j = parse_json(r->body);
  ASSERT_EQ(j["data"].size(), 1u) << r->body;
  EXPECT_EQ(j["data"][0]["id"], sim->instance(0).model);
  auto p = c.post("/v1/completions", completion_body(sim->instance(0).model, "quick", {{"max_tokens", 1}}));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->status, 200);
  EXPECT_FALSE(p->header("x-kvroute-backend").empty()) << "quick start turns backend_header on";
}

TEST(GatewayRoutingTest, FailoverWhenABackendRefusesConnections) {
  auto sim = start_fleet(1);
  const std::string model = sim->instance(0).model;
  const std::string dead = "http://127.0.0.1:" + std::to_string(closed_port());
  auto gw =
      GatewayProcess::start_yaml(one_pool_yaml(model, "[" + dead + ", " + sim->instance(0).url + "]", "round_robin"));
  HttpClient c = gw->client();
  for (int i = 0; i < 10; ++i) {
    auto r = c.post("/v1/chat/completions", chat_body(model, "failover " + std::to_string(i), {{"max_tokens", 1}}));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->header("x-sim-instance"), sim->instance(0).authority());
  }
}

TEST(GatewayRoutingTest, WithoutRetriesARefusedBackendIsA502) {
  auto sim = start_fleet(1);
  const std::string model = sim->instance(0).model;
  const std::string dead = "http://127.0.0.1:" + std::to_string(closed_port());
  auto gw = GatewayProcess::start_yaml(one_pool_yaml(model, "[" + dead + ", " + sim->instance(0).url + "]",
                                                     "round_robin", "    retries: {attempts: 0}\n"));
  HttpClient c = gw->client();
  int bad_gateway = 0;
  for (int i = 0; i < 4; ++i) {
    auto r = c.post("/v1/chat/completions", chat_body(model, "no retry", {{"max_tokens", 1}}));
    ASSERT_TRUE(r.ok()) << r.error().message;
    if (r->status == 502) {
      ++bad_gateway;
      expect_error_body(*r, 502);
    } else {
      EXPECT_EQ(r->status, 200);
    }
  }
  EXPECT_EQ(bad_gateway, 2) << "round robin sends every other request to the dead backend";
}

TEST(GatewayRoutingTest, RetryableStatusGoesToAnotherBackend) {
  auto sim = start_fleet(2);
  const std::string model = sim->instance(0).model;
  set_sim_faults(*sim, 0, {{"error_rate", 1.0}, {"error_status", 503}});
  auto gw = GatewayProcess::start_yaml(one_pool_yaml(model, backend_list(*sim), "round_robin"));
  HttpClient c = gw->client();
  for (int i = 0; i < 6; ++i) {
    auto r = c.post("/v1/chat/completions", chat_body(model, "retry status", {{"max_tokens", 1}}));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->header("x-sim-instance"), sim->instance(1).authority());
  }
  // A status that is not in retries.statuses is relayed as the backend sent it.
  set_sim_faults(*sim, 0, {{"error_status", 500}});
  set_sim_faults(*sim, 1, {{"error_rate", 1.0}, {"error_status", 500}});
  auto r = c.post("/v1/chat/completions", chat_body(model, "plain 500", {{"max_tokens", 1}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("Injected failure"), std::string::npos) << r->body;
}

TEST(GatewayRoutingTest, LastAttemptRelaysTheRetryableStatus) {
  auto sim = start_fleet(2);
  const std::string model = sim->instance(0).model;
  set_sim_faults(*sim, 0, {{"error_rate", 1.0}, {"error_status", 503}});
  set_sim_faults(*sim, 1, {{"error_rate", 1.0}, {"error_status", 503}});
  auto gw = GatewayProcess::start_yaml(one_pool_yaml(model, backend_list(*sim), "round_robin"));
  HttpClient c = gw->client();
  auto r = c.post("/v1/chat/completions", chat_body(model, "all down", {{"max_tokens", 1}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("Injected failure"), std::string::npos) << "the backend's own answer: " << r->body;
}

}  // namespace
}  // namespace kvroute::test
