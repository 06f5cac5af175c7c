// Live backend metrics and the admin listener: kvroute in front of kvroute-sim instances with an
// admin port. The gateway's /metrics page shows what each simulator reports about itself (its KV
// size, a request it runs for someone else), kv_aware routes away from a backend that other
// clients have queued up, a backend without a metrics page is still routed to, the admin token,
// /health while draining, and the config limit on the scrape interval.
#include <csignal>
#include <regex>

#include "gateway/fake_backend.h"
#include "gateway/gateway_test_util.h"

namespace kvroute::test {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kAdminYaml = "admin:\n  listen: 127.0.0.1:0\n";

/// Where the gateway's admin listener is, from its "admin url=http://HOST:PORT" line.
struct AdminAddress {
  std::string host;
  std::uint16_t port = 0;
};

AdminAddress admin_of(GatewayProcess& gw) {
  static constexpr std::string_view kPrefix = "admin url=http://";
  for (const auto& line : gw.process().lines()) {
    if (!line.starts_with(kPrefix)) continue;
    const std::string hostport = line.substr(kPrefix.size());
    const auto colon = hostport.rfind(':');
    return {hostport.substr(0, colon), static_cast<std::uint16_t>(std::stoi(hostport.substr(colon + 1)))};
  }
  ADD_FAILURE() << "no admin url line:\n" << gw.process().describe();
  return {};
}

/// A per-backend figure of the admin page: the sample of `family` whose backend label is `backend`
/// (extra: more of the label list, e.g. `,result="ok"`); NaN when absent.
double backend_figure(const std::string& page, const std::string& family, const std::string& backend,
                      const std::string& extra = {}) {
  return metric(page, family + "{", "backend=\"" + backend + "\"" + extra);
}

/// KV capacity in tokens the simulator instance reports on its own /metrics page
/// (vllm:cache_config_info num_gpu_blocks x block_size), read without the gateway's code.
double sim_kv_capacity(const SimInstanceInfo& inst) {
  HttpClient c = client_for(inst);
  const std::string page = metrics_page(c);
  std::smatch blocks, size;
  static const std::regex kBlocks(R"re(vllm:cache_config_info\{[^\n]*num_gpu_blocks="(\d+)")re");
  static const std::regex kSize(R"re(vllm:cache_config_info\{[^\n]*block_size="(\d+)")re");
  if (!std::regex_search(page, blocks, kBlocks) || !std::regex_search(page, size, kSize)) return -1;
  return std::stod(blocks[1]) * std::stod(size[1]);
}

/// The raw bytes of a streamed chat request, to queue work on a simulator without waiting for its
/// answer (a request that waits in the engine queue gets its response head only when it starts).
std::string raw_stream_request(const SimInstanceInfo& inst, const std::string& body) {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: " + inst.authority() +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(GatewayScrapeTest, AdminMetricsShowWhatEachSimulatorReportsAboutItself) {
  // Instance 0 runs 10x slower, so one long stream keeps running while the test looks.
  auto sim = start_fleet(2, 1, {"--speed-factor", "0.1,1"});
  const SimInstanceInfo& a = sim->instance(0);
  const SimInstanceInfo& b = sim->instance(1);
  auto gw =
      GatewayProcess::start_yaml(one_pool_yaml(a.model, backend_list(*sim), "kv_aware", "", std::string(kAdminYaml)));
  const AdminAddress admin = admin_of(*gw);
  HttpClient ac(admin.host, admin.port);

  const double capacity_a = sim_kv_capacity(a);
  const double capacity_b = sim_kv_capacity(b);
  ASSERT_GT(capacity_a, 0);
  std::string page;
  ASSERT_TRUE(eventually(
      [&] {
        page = metrics_page(ac);
        return backend_figure(page, "kvroute_backend_scraped_kv_capacity_tokens", a.authority()) == capacity_a &&
               backend_figure(page, "kvroute_backend_scraped_kv_capacity_tokens", b.authority()) == capacity_b;
      },
      15s))
      << page;
  EXPECT_EQ(backend_figure(page, "kvroute_backend_scraped_running", a.authority()), 0);
  EXPECT_EQ(backend_figure(page, "kvroute_backend_scraped_waiting", b.authority()), 0);

  // Scraping goes on (every 50 ms by default): the success count grows and the figures stay young.
  const double ok_before = backend_figure(page, "kvroute_backend_scrapes_total", a.authority(), ",result=\"ok\"");
  ASSERT_TRUE(eventually(
      [&] {
        page = metrics_page(ac);
        return backend_figure(page, "kvroute_backend_scrapes_total", a.authority(), ",result=\"ok\"") >= ok_before + 5;
      },
      15s))
      << page;
  EXPECT_LT(backend_figure(page, "kvroute_backend_scrape_age_seconds", a.authority()), 1.0) << page;
  EXPECT_LT(backend_figure(page, "kvroute_backend_scrape_age_seconds", b.authority()), 1.0) << page;
  EXPECT_EQ(backend_figure(page, "kvroute_backend_scrapes_total", b.authority(), ",result=\"error\""), 0);

  // A request the gateway never saw, sent straight to instance A, shows up as A's running count.
  HttpClient direct = client_for(a);
  auto head = direct.start_stream("POST", "/v1/chat/completions", stream_chat(a.model, "direct to A", 1500));
  ASSERT_TRUE(head.ok()) << head.error().message;
  ASSERT_EQ(head->status, 200);
  ASSERT_TRUE(eventually(
      [&] {
        page = metrics_page(ac);
        return backend_figure(page, "kvroute_backend_scraped_running", a.authority()) == 1 &&
               backend_figure(page, "kvroute_backend_scraped_running", b.authority()) == 0;
      },
      15s))
      << page;
  EXPECT_GT(backend_figure(page, "kvroute_backend_scraped_kv_usage_ratio", a.authority()), 0);
  EXPECT_EQ(backend_figure(page, "kvroute_backend_in_flight", a.authority()), 0);  // not the gateway's
  // The simulator agrees with what the gateway scraped.
  HttpClient sim_a = client_for(a);
  EXPECT_EQ(metric(metrics_page(sim_a), "vllm:num_requests_running{"), 1);
  direct.close();
}

TEST(GatewayScrapeTest, KvAwareRoutesAwayFromABackendOtherClientsHaveQueuedUp) {
  // Instance A is 20x slower; 20 long streams sent to it directly (not through the gateway) fill its
  // 16 running slots and queue the rest for several seconds.
  auto sim = start_fleet(2, 1, {"--speed-factor", "0.05,1"});
  const SimInstanceInfo& a = sim->instance(0);
  const SimInstanceInfo& b = sim->instance(1);
  auto gw =
      GatewayProcess::start_yaml(one_pool_yaml(a.model, backend_list(*sim), "kv_aware", "", std::string(kAdminYaml)));
  const AdminAddress admin = admin_of(*gw);
  HttpClient ac(admin.host, admin.port);

  std::vector<std::unique_ptr<HttpClient>> load;
  for (int i = 0; i < 20; ++i) {
    auto c = std::make_unique<HttpClient>(a.host, a.port);
    auto sent = c->send_raw(raw_stream_request(a, stream_chat(a.model, "load " + std::to_string(i), 300)));
    ASSERT_TRUE(sent.ok()) << sent.error().message;
    load.push_back(std::move(c));
  }
  std::string page;
  ASSERT_TRUE(eventually(
      [&] {
        page = metrics_page(ac);
        return backend_figure(page, "kvroute_backend_scraped_waiting", a.authority()) >= 1;
      },
      15s))
      << page;

  // Without the scraped queue both backends look idle to kv_aware (no request of the gateway's own
  // is in flight) and ties are broken at random: 11 or more of 12 on B would then happen with
  // probability 13/4096. With it, A's queue makes B the choice every time.
  HttpClient c = gw->client();
  constexpr int kRequests = 12;
  int to_b = 0;
  for (int i = 0; i < kRequests; ++i) {
    auto r = c.request("POST", "/v1/chat/completions",
                       chat_body(a.model, "through the gateway " + std::to_string(i), {{"max_tokens", 1}}), {}, 60s);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->status, 200) << r->body;
    if (r->header("x-kvroute-backend") == b.authority()) ++to_b;
  }
  EXPECT_GE(to_b, kRequests - 1);
}

TEST(GatewayScrapeTest, ABackendWithoutAMetricsPageIsStillRoutedToAndOthersKeepUpdating) {
  auto sim = start_fleet(1);
  const SimInstanceInfo& s = sim->instance(0);
  const std::string answer =
      R"({"id":"x","object":"chat.completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})";
  FakeBackend fake([&](const FakeRequest& r) {
    if (r.target() == "/metrics") return FakeAction{"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
    return FakeAction{FakeBackend::json_response(answer)};
  });
  const std::string fake_name = "127.0.0.1:" + std::to_string(fake.port());
  auto gw = GatewayProcess::start_yaml(one_pool_yaml(s.model, "[" + s.url + ", " + fake.url() + "]", "round_robin",
                                                     "    metrics: {enabled: true}\n", std::string(kAdminYaml)));
  const AdminAddress admin = admin_of(*gw);
  HttpClient ac(admin.host, admin.port);

  std::string page;
  ASSERT_TRUE(eventually(
      [&] {
        page = metrics_page(ac);
        return backend_figure(page, "kvroute_backend_scrapes_total", fake_name, ",result=\"error\"") >= 3 &&
               backend_figure(page, "kvroute_backend_scrapes_total", s.authority(), ",result=\"ok\"") >= 1;
      },
      15s))
      << page;
  EXPECT_TRUE(std::isnan(backend_figure(page, "kvroute_backend_scraped_running", fake_name))) << page;
  EXPECT_EQ(backend_figure(page, "kvroute_backend_scrapes_total", fake_name, ",result=\"ok\""), 0);

  HttpClient c = gw->client();
  for (int i = 0; i < 10; ++i) {
    auto r = c.post("/v1/chat/completions", chat_body(s.model, "hello " + std::to_string(i), {{"max_tokens", 1}}));
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->status, 200) << r->body;
  }
  int fake_chats = 0;
  for (const auto& r : fake.requests()) fake_chats += r.target() == "/v1/chat/completions" ? 1 : 0;
  EXPECT_EQ(fake_chats, 5);

  const double sim_ok = backend_figure(page, "kvroute_backend_scrapes_total", s.authority(), ",result=\"ok\"");
  ASSERT_TRUE(eventually(
      [&] {
        page = metrics_page(ac);
        return backend_figure(page, "kvroute_backend_scrapes_total", s.authority(), ",result=\"ok\"") >= sim_ok + 5;
      },
      15s))
      << page;
  EXPECT_LT(backend_figure(page, "kvroute_backend_scrape_age_seconds", s.authority()), 1.0) << page;
  EXPECT_EQ(backend_figure(page, "kvroute_backend_completed_total", fake_name, ",outcome=\"ok\""), 5) << page;
}

TEST(GatewayScrapeTest, AdminTokenIsRequiredForEverythingButHealth) {
  auto sim = start_fleet(1);
  const SimInstanceInfo& s = sim->instance(0);
  auto gw = GatewayProcess::start_yaml(one_pool_yaml(s.model, backend_list(*sim), "least_request", "",
                                                     "admin:\n  listen: 127.0.0.1:0\n  token: test-token-42\n"));
  const AdminAddress admin = admin_of(*gw);
  HttpClient ac(admin.host, admin.port);

  auto denied = ac.get("/metrics");
  ASSERT_TRUE(denied.ok()) << denied.error().message;
  EXPECT_EQ(denied->status, 401);
  EXPECT_EQ(denied->header("www-authenticate"), "Bearer");
  EXPECT_NE(denied->body.find("\"code\":401"), std::string::npos) << denied->body;
  auto wrong = ac.request("GET", "/metrics", {}, {{"Authorization", "Bearer test-token-43"}});
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 401);

  auto allowed = ac.request("GET", "/metrics", {}, {{"Authorization", "Bearer test-token-42"}});
  ASSERT_TRUE(allowed.ok()) << allowed.error().message;
  EXPECT_EQ(allowed->status, 200);
  EXPECT_EQ(allowed->header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(allowed->body.find("\nkvroute_requests_total 0\n"), std::string::npos) << allowed->body;
  EXPECT_TRUE(allowed->keep_alive);

  auto health = ac.get("/health");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, R"({"status":"ok"})");
  auto missing = ac.request("GET", "/nope", {}, {{"Authorization", "Bearer test-token-42"}});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
}

TEST(GatewayScrapeTest, QuickStartAdminFlagServesMetricsAndCountsRequests) {
  auto sim = start_fleet(1);
  const SimInstanceInfo& s = sim->instance(0);
  auto gw = GatewayProcess::start(
      {"--listen", "127.0.0.1:0", "--backend", s.url, "--admin", "127.0.0.1:0", "--log-level", "warn"});
  const AdminAddress admin = admin_of(*gw);
  HttpClient c = gw->client();
  for (int i = 0; i < 3; ++i) {
    auto r = c.post("/v1/chat/completions", chat_body(s.model, "count me", {{"max_tokens", 2}}));
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->status, 200);
  }
  HttpClient ac(admin.host, admin.port);
  std::string page;
  ASSERT_TRUE(eventually([&] {
    page = metrics_page(ac);
    return metric(page, "kvroute_requests_total ") == 3 &&
           metric(page, "kvroute_responses_total{", "class=\"2xx\"") == 3;
  })) << page;
  EXPECT_EQ(backend_figure(page, "kvroute_backend_completed_total", s.authority(), ",outcome=\"ok\""), 3) << page;
  EXPECT_EQ(metric(page, "kvroute_ttft_seconds_count "), 3) << page;
}

TEST(GatewayScrapeTest, HealthSays503WhileDrainingAndTheGatewayStillExitsPromptly) {
  auto sim = start_fleet(1, 1, {"--speed-factor", "0.1"});
  const SimInstanceInfo& s = sim->instance(0);
  auto gw = GatewayProcess::start_yaml(
      one_pool_yaml(s.model, backend_list(*sim), "least_request", "", std::string(kAdminYaml)));
  const AdminAddress admin = admin_of(*gw);
  HttpClient ac(admin.host, admin.port);
  auto before = ac.get("/health");
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->status, 200);

  // A long stream keeps the gateway draining after SIGTERM.
  HttpClient stream = gw->client();
  auto head = stream.start_stream("POST", "/v1/chat/completions", stream_chat(s.model, "keep me busy", 1500));
  ASSERT_TRUE(head.ok()) << head.error().message;
  ASSERT_EQ(head->status, 200);
  gw->process().signal(SIGTERM);
  ASSERT_TRUE(eventually(
      [&] {
        auto h = ac.get("/health");
        return h.ok() && h->status == 503 && h->body == R"({"status":"draining"})";
      },
      10s));
  // Once the stream ends, nothing (scraper, admin connection) keeps the process alive.
  stream.close();
  const auto code = gw->process().wait_exit(15s);
  ASSERT_TRUE(code.has_value()) << gw->process().describe();
  EXPECT_EQ(*code, 0);
}

TEST(GatewayScrapeTest, CheckConfigRefusesAScrapeIntervalUnder10msWithItsLine) {
  const std::string path = GatewayProcess::write_temp_config(R"(pools:
  - name: main
    models: [m]
    backends: [http://127.0.0.1:8001]
    metrics:
      interval: 5ms
)");
  auto p = ChildProcess::spawn(KVROUTE_BIN, {"--check-config", path});
  const auto code = p->wait_exit(15s);
  ::unlink(path.c_str());
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 1);
  EXPECT_NE(p->stderr_tail().find(path + ":6:17: pools[0].metrics.interval: 5ms is too short"), std::string::npos)
      << p->stderr_tail();
}

}  // namespace
}  // namespace kvroute::test
