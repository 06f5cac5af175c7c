// The metrics scraper against an in-process HTTP server on 127.0.0.1 (same io_context, one thread):
// figures stored into every state with the injected clock's time, one kept-alive connection across
// scrapes, failures that keep the old figures, timeouts, staggering, prompt stop, restart with a new
// list. Every wait runs the io_context until a condition holds, with a generous deadline.
#include "upstream/metrics_scraper.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "upstream/http_get.h"

namespace kvroute::upstream {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

/// A metrics endpoint: answers every GET with `page` and `status`, or never answers (`hang`).
/// Counts connections and requests, and when each request arrived. Its coroutines use it: it must
/// outlive every run of the io_context after its construction.
class FakeMetricsServer {
 public:
  explicit FakeMetricsServer(asio::io_context& io)
      : io_(io), acceptor_(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {
    asio::co_spawn(io_, accept_loop(), asio::detached);
  }
  ~FakeMetricsServer() { stop(); }

  void stop() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& s : sockets_) {
      if (auto p = s.lock()) p->close(ignored);
    }
  }

  BackendTarget target() const {
    BackendTarget t;
    t.port = acceptor_.local_endpoint().port();
    t.url = "http://127.0.0.1:" + std::to_string(t.port);
    t.name = "fake-" + std::to_string(t.port);
    t.host = "127.0.0.1";
    t.host_header = "127.0.0.1:" + std::to_string(t.port);
    t.addresses = {*parse_numeric_address("127.0.0.1", t.port)};
    return t;
  }

  std::string page =
      "vllm:num_requests_running{engine=\"0\"} 2.0\nvllm:num_requests_waiting{engine=\"0\"} 5.0\n"
      "vllm:kv_cache_usage_perc{engine=\"0\"} 0.25\n"
      "vllm:cache_config_info{block_size=\"16\",engine=\"0\",num_gpu_blocks=\"100\"} 1.0\n";
  int status = 200;
  bool hang = false;
  bool close_after = false;  ///< close each connection after answering, without saying so
  int connections = 0;
  int requests = 0;
  std::string last_request;
  std::vector<std::chrono::steady_clock::time_point> request_times;

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(kAwait);
      if (ec) co_return;
      ++connections;
      auto s = std::make_shared<tcp::socket>(std::move(socket));
      sockets_.push_back(s);
      asio::co_spawn(io_, serve(s), asio::detached);
    }
  }

  asio::awaitable<void> serve(std::shared_ptr<tcp::socket> socket) {
    std::string buffer;
    char chunk[4096];
    for (;;) {
      auto [ec, n] = co_await socket->async_read_some(asio::buffer(chunk), kAwait);
      if (ec) co_return;
      buffer.append(chunk, n);
      std::size_t end;
      while ((end = buffer.find("\r\n\r\n")) != std::string::npos) {
        last_request = buffer.substr(0, end + 4);
        buffer.erase(0, end + 4);
        ++requests;
        request_times.push_back(std::chrono::steady_clock::now());
        if (hang) continue;
        const std::string response =
            "HTTP/1.1 " + std::to_string(status) +
            " X\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " + std::to_string(page.size()) +
            "\r\n\r\n" + page;
        auto [wec, wn] = co_await asio::async_write(*socket, asio::buffer(response), kAwait);
        if (wec) co_return;
        if (close_after) {
          boost::system::error_code ignored;
          socket->close(ignored);
          co_return;
        }
      }
    }
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  std::vector<std::weak_ptr<tcp::socket>> sockets_;
};

/// Runs io until cond holds; false after `timeout` (generous: the machine is shared).
bool run_io_until(asio::io_context& io, const std::function<bool()>& cond, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.run_for(2ms);
    if (io.stopped()) io.restart();
  }
  return true;
}

class MetricsScraperTest : public ::testing::Test {
 protected:
  bool run_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 10s) {
    return run_io_until(io_, cond, timeout);
  }

  ScrapeTarget target(const FakeMetricsServer& server, std::vector<std::shared_ptr<routing::BackendState>> states,
                      Nanos interval = 10 * kNanosPerMilli, Nanos timeout = kNanosPerSecond) {
    ScrapeTarget t;
    t.backend = server.target();
    t.path = "/metrics";
    t.interval = interval;
    t.timeout = timeout;
    t.states = std::move(states);
    return t;
  }

  asio::io_context io_;
  VirtualClock clock_{1000};
};

TEST_F(MetricsScraperTest, StoresTheFiguresIntoEveryStateStampedWithTheInjectedClock) {
  FakeMetricsServer server(io_);
  auto a = std::make_shared<routing::BackendState>();
  auto b = std::make_shared<routing::BackendState>();
  clock_.advance_to(123456789);
  MetricsScraper scraper(io_, clock_);
  std::vector<ScrapeTarget> targets;
  targets.push_back(target(server, {a, b}));
  scraper.start(std::move(targets));
  ASSERT_TRUE(run_until([&] { return scraper.status(*a) != nullptr && scraper.status(*a)->successes >= 1; }));
  for (const auto& s : {a, b}) {
    EXPECT_EQ(s->scraped.scraped_at.load(), 123456789);
    EXPECT_EQ(s->scraped.num_running.load(), 2u);
    EXPECT_EQ(s->scraped.num_waiting.load(), 5u);
    EXPECT_EQ(s->scraped.kv_usage.load(), 0.25);
    EXPECT_EQ(s->scraped.kv_capacity_tokens.load(), 1600u);
  }
  EXPECT_EQ(scraper.status(*a), scraper.status(*b));
  EXPECT_NE(server.last_request.find("GET /metrics HTTP/1.1\r\n"), std::string::npos) << server.last_request;
  EXPECT_NE(server.last_request.find("Accept: text/plain;version=0.0.4"), std::string::npos);
  scraper.stop();
}

TEST_F(MetricsScraperTest, KeepsOneConnectionAcrossScrapes) {
  FakeMetricsServer server(io_);
  auto a = std::make_shared<routing::BackendState>();
  MetricsScraper scraper(io_, clock_);
  std::vector<ScrapeTarget> targets;
  targets.push_back(target(server, {a}));
  scraper.start(std::move(targets));
  ASSERT_TRUE(run_until([&] { return server.requests >= 6; }));
  EXPECT_EQ(server.connections, 1);
  EXPECT_EQ(scraper.status(*a)->failures, 0u);
  scraper.stop();
}

TEST_F(MetricsScraperTest, AConnectionTheBackendClosedWhileIdleIsReplacedWithoutAFailure) {
  FakeMetricsServer server(io_);
  server.close_after = true;
  auto a = std::make_shared<routing::BackendState>();
  MetricsScraper scraper(io_, clock_);
  std::vector<ScrapeTarget> targets;
  targets.push_back(target(server, {a}));
  scraper.start(std::move(targets));
  ASSERT_TRUE(run_until([&] { return scraper.status(*a)->successes >= 5; }));
  EXPECT_EQ(scraper.status(*a)->failures, 0u);
  EXPECT_GE(server.connections, 5);
  scraper.stop();
}

TEST_F(MetricsScraperTest, AFailureKeepsTheOldFiguresAndIsCountedUntilScrapesSucceedAgain) {
  FakeMetricsServer server(io_);
  auto a = std::make_shared<routing::BackendState>();
  MetricsScraper scraper(io_, clock_);
  std::vector<ScrapeTarget> targets;
  targets.push_back(target(server, {a}));
  scraper.start(std::move(targets));
  const ScrapeStatus* status = nullptr;
  ASSERT_TRUE(run_until([&] { return (status = scraper.status(*a)) != nullptr && status->successes >= 1; }));
  const Nanos first = a->scraped.scraped_at.load();

  server.status = 503;
  server.page = "vllm:num_requests_running 99\n";
  clock_.advance_by(kNanosPerSecond);
  ASSERT_TRUE(run_until([&] { return status->failures >= 3; }));
  EXPECT_TRUE(status->failing);
  EXPECT_EQ(status->last_error, "HTTP status 503");
  EXPECT_EQ(a->scraped.scraped_at.load(), first);  // the figures age
  EXPECT_EQ(a->scraped.num_running.load(), 2u);

  server.status = 200;
  const auto successes = status->successes;
  ASSERT_TRUE(run_until([&] { return status->successes > successes; }));
  EXPECT_FALSE(status->failing);
  EXPECT_EQ(a->scraped.num_running.load(), 99u);
  EXPECT_EQ(a->scraped.scraped_at.load(), first + kNanosPerSecond);
  EXPECT_EQ(a->scraped.num_waiting.load(), 5u);  // not on the new page: kept
  scraper.stop();
}

TEST_F(MetricsScraperTest, APageWithoutLoadFiguresIsAFailure) {
  FakeMetricsServer server(io_);
  server.page = "process_cpu_seconds_total 3\n";
  auto a = std::make_shared<routing::BackendState>();
  MetricsScraper scraper(io_, clock_);
  std::vector<ScrapeTarget> targets;
  targets.push_back(target(server, {a}));
  scraper.start(std::move(targets));
  ASSERT_TRUE(run_until([&] { return scraper.status(*a)->failures >= 1; }));
  EXPECT_EQ(scraper.status(*a)->successes, 0u);
  EXPECT_EQ(a->scraped.scraped_at.load(), routing::kNever);
  scraper.stop();
}

TEST_F(MetricsScraperTest, AStuckBackendTimesOutAndTheOthersKeepUpdating) {
  FakeMetricsServer stuck(io_);
  stuck.hang = true;
  FakeMetricsServer fine(io_);
  auto a = std::make_shared<routing::BackendState>();
  auto b = std::make_shared<routing::BackendState>();
  MetricsScraper scraper(io_, clock_);
  std::vector<ScrapeTarget> targets;
  targets.push_back(target(stuck, {a}, 10 * kNanosPerMilli, 100 * kNanosPerMilli));
  targets.push_back(target(fine, {b}));
  scraper.start(std::move(targets));
  ASSERT_TRUE(run_until([&] { return scraper.status(*a)->failures >= 2; }));
  EXPECT_EQ(scraper.status(*a)->last_error, "timed out");
  EXPECT_GE(scraper.status(*b)->successes, 5u);  // 10 ms apart while the other waited 2 x 100 ms
  scraper.stop();
}

TEST_F(MetricsScraperTest, ARefusedConnectionIsAFailure) {
  auto a = std::make_shared<routing::BackendState>();
  ScrapeTarget t;
  t.states = {a};
  t.interval = 10 * kNanosPerMilli;
  {
    // A port that was free a moment ago, now closed: connections are refused.
    tcp::acceptor probe(io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    const auto port = probe.local_endpoint().port();
    t.backend.url = "http://127.0.0.1:" + std::to_string(port);
    t.backend.name = "closed";
    t.backend.host_header = "127.0.0.1:" + std::to_string(port);
    t.backend.addresses = {*parse_numeric_address("127.0.0.1", port)};
  }
  MetricsScraper scraper(io_, clock_);
  std::vector<ScrapeTarget> targets;
  targets.push_back(t);
  scraper.start(std::move(targets));
  ASSERT_TRUE(run_until([&] { return scraper.status(*a)->failures >= 2; }));
  EXPECT_NE(scraper.status(*a)->last_error.find("connect"), std::string::npos) << scraper.status(*a)->last_error;
  scraper.stop();
}

TEST_F(MetricsScraperTest, TargetsAreStaggeredOverTheInterval) {
  std::vector<std::unique_ptr<FakeMetricsServer>> servers;
  std::vector<ScrapeTarget> targets;
  for (int i = 0; i < 4; ++i) {
    servers.push_back(std::make_unique<FakeMetricsServer>(io_));
    targets.push_back(target(*servers.back(), {std::make_shared<routing::BackendState>()}, 400 * kNanosPerMilli));
  }
  MetricsScraper scraper(io_, clock_);
  const auto started = std::chrono::steady_clock::now();
  scraper.start(std::move(targets));
  ASSERT_TRUE(run_until([&] { return servers[3]->requests >= 1; }));
  // Target i first fires i/4 of the interval after start (timers never fire early: lower bounds hold
  // however loaded the machine is).
  for (int i = 1; i < 4; ++i) {
    ASSERT_FALSE(servers[i]->request_times.empty());
    EXPECT_GE(servers[i]->request_times[0] - started, std::chrono::milliseconds(100 * i)) << i;
  }
  EXPECT_LT(servers[0]->request_times[0], servers[3]->request_times[0]);
  scraper.stop();
}

TEST_F(MetricsScraperTest, StopEndsEveryLoopPromptlyEvenMidScrape) {
  FakeMetricsServer stuck(io_);
  stuck.hang = true;
  auto a = std::make_shared<routing::BackendState>();
  MetricsScraper scraper(io_, clock_);
  std::vector<ScrapeTarget> targets;
  targets.push_back(target(stuck, {a}, 10 * kNanosPerMilli, 60 * kNanosPerSecond));
  scraper.start(std::move(targets));
  ASSERT_TRUE(run_until([&] { return stuck.requests >= 1; }));
  scraper.stop();
  stuck.stop();
  // Nothing of the scraper (or the server) is left to run: the io_context runs out of work at once
  // instead of waiting for the 60 s timeout.
  const auto before = std::chrono::steady_clock::now();
  io_.run_for(10s);
  EXPECT_LT(std::chrono::steady_clock::now() - before, 5s);
  EXPECT_EQ(scraper.size(), 0u);
  EXPECT_EQ(scraper.status(*a), nullptr);
}

TEST_F(MetricsScraperTest, RestartKeepsUnchangedTargetsAndStopsRemovedOnes) {
  FakeMetricsServer one(io_);
  FakeMetricsServer two(io_);
  auto a = std::make_shared<routing::BackendState>();
  auto b = std::make_shared<routing::BackendState>();
  MetricsScraper scraper(io_, clock_);
  std::vector<ScrapeTarget> targets;
  targets.push_back(target(one, {a}));
  targets.push_back(target(two, {b}));
  scraper.start(std::move(targets));
  ASSERT_TRUE(run_until([&] { return scraper.status(*a)->successes >= 2 && scraper.status(*b)->successes >= 2; }));

  // A rebuilt snapshot: the first url is kept (with a new state next to the old), the second gone.
  auto a2 = std::make_shared<routing::BackendState>();
  const auto before = scraper.status(*a)->successes;
  std::vector<ScrapeTarget> next;
  next.push_back(target(one, {a, a2}));
  scraper.start(std::move(next));
  EXPECT_EQ(scraper.size(), 1u);
  EXPECT_EQ(scraper.status(*b), nullptr);
  ASSERT_NE(scraper.status(*a2), nullptr);
  EXPECT_GE(scraper.status(*a2)->successes, before);  // the same loop, its counts carried on
  const int two_requests = two.requests;
  ASSERT_TRUE(run_until([&] { return a2->scraped.scraped_at.load() != routing::kNever; }));
  ASSERT_TRUE(run_until([&] { return scraper.status(*a2)->successes >= before + 3; }));
  EXPECT_LE(two.requests, two_requests + 1);  // at most the scrape that was in flight
  EXPECT_EQ(one.connections, 1);
  scraper.stop();
}

TEST(HttpGetClientTest, BaseAndPathAndHostAreSentAndTheBodyReturned) {
  asio::io_context io;
  FakeMetricsServer server(io);
  server.page = "hello";
  BackendTarget t = server.target();
  t.base_path = "/base";
  HttpGetClient client(io.get_executor(), t);
  std::string body;
  std::optional<Result<int>> result;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        HttpGetOptions o;
        o.keep_alive = false;
        o.accept = "application/json";
        result = co_await client.get("/v1/models", o, body);
      },
      asio::detached);
  ASSERT_TRUE(run_io_until(io, [&] { return result.has_value(); }));
  ASSERT_TRUE(result->ok()) << result->error().message;
  EXPECT_EQ(**result, 200);
  EXPECT_EQ(body, "hello");
  EXPECT_EQ(server.last_request.rfind("GET /base/v1/models HTTP/1.1\r\n", 0), 0u) << server.last_request;
  EXPECT_NE(server.last_request.find("Host: " + t.host_header + "\r\n"), std::string::npos);
  EXPECT_NE(server.last_request.find("Connection: close\r\n"), std::string::npos);
  EXPECT_FALSE(client.has_connection());
}

TEST(HttpGetClientTest, ABodyOverTheLimitFails) {
  asio::io_context io;
  FakeMetricsServer server(io);
  server.page = std::string(5000, 'x');
  HttpGetClient client(io.get_executor(), server.target());
  std::string body;
  std::optional<Result<int>> result;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        HttpGetOptions o;
        o.max_body = 1000;
        result = co_await client.get("/metrics", o, body);
      },
      asio::detached);
  ASSERT_TRUE(run_io_until(io, [&] { return result.has_value(); }));
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(result->error().code, kHttpGetTooLarge);
  EXPECT_FALSE(client.has_connection());
}

}  // namespace
}  // namespace kvroute::upstream
