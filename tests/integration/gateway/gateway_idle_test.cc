// Idle client connections hold no read or body buffer of their own: the worker's read blocks and
// body buffers pass from connection to connection, and a connection idle while more than
// IdleReadList::kMaxIdleReads others went idle after it waits for readiness without one ("parked";
// src/proxy/buffer_pool.h). What must not change with that: every answer matches its own request
// however the buffers changed hands (requests of many sizes on hundreds of connections, parked or
// not, one at a time and all at once), pipelined requests are answered in order, a parked
// connection whose client leaves mid-stream still cancels the backend request, and parked
// connections that close or reset are let go while the others keep being served.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include "gateway/fake_backend.h"
#include "gateway/gateway_test_util.h"
#include "proxy/buffer_pool.h"

namespace kvroute::test {
namespace {

using namespace std::chrono_literals;
using proxy::IdleReadList;

const std::string kModel = "echo-model";
/// The fake backend is no inference server: no metrics scraping (it would add requests).
const std::string kNoScrape = "    metrics: {enabled: false}\n";

/// The backend answers every request with the body it received, so a client can tell whether what
/// came back is its own request, byte for byte. With `x-echo-chunked: 1` the answer is a chunked
/// event stream cut into 1000-byte chunks (several backend reads, relayed as they come).
FakeAction echo(const FakeRequest& r) {
  if (r.header("x-echo-chunked") != "1") return FakeAction{FakeBackend::json_response(r.body), false, false};
  std::string out = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (std::size_t at = 0; at < r.body.size(); at += 1000) {
    const std::string piece = r.body.substr(at, 1000);
    out += fmt::format("{:x}\r\n{}\r\n", piece.size(), piece);
  }
  out += "0\r\n\r\n";
  return FakeAction{out, false, false};
}

/// Request body sizes around the buffers' sizes: below a 16 KiB read block, about one, several
/// (a body read in pieces), and past the 64 KiB a body buffer may keep.
constexpr std::size_t kSizes[] = {40, 900, 3000, 15000, 17000, 40000, 70000};

/// A chat body of about `size` bytes whose content names the connection and round.
std::string body_for(std::size_t connection, int round, std::size_t size) {
  const std::string tag = fmt::format("[connection {} round {}]", connection, round);
  std::string content;
  while (content.size() < size) content += tag;
  return chat_body(kModel, content);
}

std::string raw_post(const std::string& body, bool chunked_answer) {
  return fmt::format(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{}Content-Length: "
      "{}\r\n\r\n{}",
      chunked_answer ? "x-echo-chunked: 1\r\n" : "", body.size(), body);
}

/// Checks an echoed answer without printing kilobytes when it differs.
void expect_echo(const Result<HttpResponse>& r, const std::string& body, const std::string& what) {
  ASSERT_TRUE(r.ok()) << what << ": " << r.error().message;
  ASSERT_EQ(r->status, 200) << what << ": " << r->body.substr(0, 300);
  if (r->body == body) return;
  std::size_t at = 0;
  while (at < r->body.size() && at < body.size() && r->body[at] == body[at]) ++at;
  ADD_FAILURE() << what << ": the answer is not this request's body (" << r->body.size() << " bytes for " << body.size()
                << ", first difference at byte " << at << ": \"" << r->body.substr(at, 60) << "\" instead of \""
                << body.substr(at, 60) << "\")";
}

std::unique_ptr<GatewayProcess> start_echo_gateway(const FakeBackend& backend,
                                                   std::vector<std::string> extra = {"--log-level", "warn"}) {
  return GatewayProcess::start_yaml(
      one_pool_yaml(kModel, "[" + backend.url() + "]", "round_robin", kNoScrape, "admin:\n  listen: 127.0.0.1:0\n"),
      std::move(extra));
}

/// A figure of the gateway's admin /metrics page.
double gateway_metric(GatewayProcess& gw, const std::string& series) { return metric(gateway_admin_page(gw), series); }

/// n connections, each having had one GET /health answered: accepted by the gateway and waiting
/// for their next request, the last one the most recently idle.
std::vector<std::unique_ptr<HttpClient>> idle_clients(const GatewayProcess& gw, std::size_t n) {
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (std::size_t i = 0; i < n; ++i) {
    clients.push_back(std::make_unique<HttpClient>("127.0.0.1", gw.port()));
    auto r = clients.back()->get("/health");
    EXPECT_TRUE(r.ok() && r->status == 200) << "connection " << i << ": " << (r.ok() ? "" : r.error().message);
  }
  return clients;
}

/// Whether the gateway logged (at trace level) that the connection from local port `port` was parked.
bool parked(GatewayProcess& gw, std::uint16_t port) {
  return gw.process().stderr_tail().find(fmt::format("127.0.0.1:{}: idle read parked", port)) != std::string::npos;
}

TEST(GatewayIdleTest, EveryAnswerMatchesItsRequestAcrossHundredsOfIdleConnections) {
  FakeBackend backend(echo);
  auto gw = start_echo_gateway(backend);
  // Twice as many connections as may wait with a block: most of them are parked between rounds.
  const std::size_t n = IdleReadList::kMaxIdleReads * 2 + 16;
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (std::size_t i = 0; i < n; ++i) {
    clients.push_back(std::make_unique<HttpClient>("127.0.0.1", gw->port()));
    ASSERT_TRUE(clients.back()->connect().ok()) << "connection " << i;
  }
  const auto one = [&](std::size_t i, int round) {
    const std::string body = body_for(i, round, kSizes[(i + static_cast<std::size_t>(round)) % std::size(kSizes)]);
    const bool chunked = (i + static_cast<std::size_t>(round)) % 3 == 0;
    std::vector<std::pair<std::string, std::string>> headers;
    if (chunked) headers.emplace_back("x-echo-chunked", "1");
    expect_echo(clients[i]->request("POST", "/v1/chat/completions", body, headers), body,
                fmt::format("connection {} round {}", i, round));
  };
  // Round 0: connections never used before (all but the last ones parked), in the order they opened.
  for (std::size_t i = 0; i < n; ++i) one(i, 0);
  // Round 1: the least recently used first, so every request but the last ones comes on a parked one.
  for (std::size_t i = 0; i < n; ++i) one(i, 1);
  // Round 2: the other way round.
  for (std::size_t i = n; i-- > 0;) one(i, 2);
  // Round 3: every connection's request written before any answer is read: hundreds of exchanges at
  // once, each with blocks and a body buffer of its own from the worker's free lists at the same time.
  std::vector<std::string> bodies(n);
  for (std::size_t i = 0; i < n; ++i) {
    bodies[i] = body_for(i, 3, kSizes[(i * 5) % std::size(kSizes)]);
    ASSERT_TRUE(clients[i]->send_raw(raw_post(bodies[i], i % 2 == 0)).ok()) << "connection " << i;
  }
  for (std::size_t i = 0; i < n; ++i) {
    expect_echo(clients[i]->read_response(30s), bodies[i], fmt::format("connection {} round 3", i));
  }
  EXPECT_EQ(backend.requests().size(), 4 * n) << "every request reached the backend once";
}

TEST(GatewayIdleTest, PipelinedRequestsAreAnsweredInOrderAlsoOnAParkedConnection) {
  FakeBackend backend(echo);
  auto gw = start_echo_gateway(backend, {"--log-level", "trace"});
  // Requests of different sizes (one spans two read blocks) and a request the gateway answers
  // itself, all written at once: 9 answers, in order, each to its own request.
  const auto pipeline = [&](HttpClient& c, const std::string& what, std::size_t piece) {
    const std::size_t sizes[] = {40, 17000, 900, 0, 3000, 15000, 40, 900, 20000};
    std::vector<std::string> bodies;
    std::string raw;
    for (std::size_t i = 0; i < std::size(sizes); ++i) {
      if (sizes[i] == 0) {
        bodies.emplace_back();
        raw += "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        continue;
      }
      bodies.push_back(body_for(i, 0, sizes[i]));
      raw += raw_post(bodies.back(), i % 2 == 1);
    }
    // Written in pieces of `piece` bytes: requests cut anywhere, heads included.
    for (std::size_t at = 0; at < raw.size(); at += piece) {
      ASSERT_TRUE(c.send_raw(std::string_view(raw).substr(at, piece)).ok()) << what;
    }
    for (std::size_t i = 0; i < bodies.size(); ++i) {
      expect_echo(c.read_response(), bodies[i], fmt::format("{}: answer {}", what, i));
    }
    // And the connection is still good for one more.
    const std::string last = body_for(99, 0, 500);
    expect_echo(c.request("POST", "/v1/chat/completions", last), last, what + ": after the pipeline");
  };
  HttpClient fresh = gw->client();
  pipeline(fresh, "one write", std::numeric_limits<std::size_t>::max());
  pipeline(fresh, "pieces of 4093 bytes", 4093);
  pipeline(fresh, "pieces of 97 bytes", 97);

  // A connection parked while others went idle after it.
  auto clients = idle_clients(*gw, 1);
  const std::uint16_t port = clients[0]->local_port();
  auto others = idle_clients(*gw, IdleReadList::kMaxIdleReads + 8);
  ASSERT_TRUE(eventually([&] { return parked(*gw, port); }, 5s)) << "the first connection was parked";
  pipeline(*clients[0], "parked, one write", std::numeric_limits<std::size_t>::max());
  // Parked again (others go idle after it), then pipelined in small pieces.
  for (auto& o : others) ASSERT_TRUE(o->get("/health").ok());
  pipeline(*clients[0], "parked again, pieces of 1000 bytes", 1000);
}

TEST(GatewayIdleTest, AParkedConnectionWhoseClientLeavesCancelsTheBackendRequest) {
  auto sim = start_fleet(1, /*speedup=*/1);  // real time: 1500 tokens take seconds
  const std::string model = sim->instance(0).model;
  auto gw =
      GatewayProcess::start_yaml(one_pool_yaml(model, backend_list(*sim), "round_robin"), {"--log-level", "trace"});
  auto first = idle_clients(*gw, 2);
  auto others = idle_clients(*gw, IdleReadList::kMaxIdleReads + 8);
  for (const auto& c : first) {
    const std::uint16_t port = c->local_port();
    ASSERT_TRUE(eventually([&] { return parked(*gw, port); }, 5s)) << "connection from port " << port << " parked";
  }
  HttpClient m(sim->instance(0).host, sim->instance(0).port);
  const auto aborted = [&](double n) {
    return eventually(
        [&] {
          const std::string page = metrics_page(m);
          return metric(page, "vllm:request_success_total{", "finished_reason=\"abort\"") == n &&
                 metric(page, "vllm:num_requests_running{") == 0.0;
        },
        5s);
  };

  // A non-streamed answer: nothing is written to the client until the end, so only the read kept
  // pending on its connection can tell that it left.
  auto r = first[0]->post("/v1/completions",
                          completion_body(model, "wait", {{"max_tokens", 1500}, {"ignore_eos", true}}), 300ms);
  ASSERT_FALSE(r.ok()) << "the answer takes seconds";  // the client closed its connection at the deadline
  EXPECT_TRUE(aborted(1.0)) << "closing the backend connection made the backend abort the request";

  // A stream the client leaves after two events.
  HttpClient& c = *first[1];
  auto head = c.start_stream("POST", "/v1/chat/completions", stream_chat(model, "leave early", 1500));
  ASSERT_TRUE(head.ok()) << head.error().message;
  ASSERT_EQ(head->status, 200);
  ASSERT_TRUE(c.next_event().ok());
  ASSERT_TRUE(c.next_event().ok());
  EXPECT_EQ(metric(metrics_page(m), "vllm:num_requests_running{"), 1.0);
  c.close();
  EXPECT_TRUE(aborted(2.0));
  EXPECT_LT(metric(metrics_page(m), "vllm:generation_tokens_total{"), 1500.0) << "the engine stopped generating";

  // The other connections, parked or not, are still served.
  for (std::size_t i = 0; i < others.size(); i += 17) {
    auto ok = others[i]->post("/v1/completions", completion_body(model, "still here", {{"max_tokens", 1}}));
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    EXPECT_EQ(ok->status, 200) << ok->body;
  }
}

/// A raw connection that has had one GET /health answered; closing it after SO_LINGER {1, 0} sends
/// a reset instead of a FIN.
int raw_idle_connection(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
  const std::string_view req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return -1;
  std::string got;
  char buf[512];
  while (got.find("\r\n\r\n") == std::string::npos) {
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return -1;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return fd;
}

void reset(int fd) {
  const linger hard{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  ::close(fd);
}

TEST(GatewayIdleTest, ParkedConnectionsThatCloseOrResetAreLetGoAndTheOthersServed) {
  FakeBackend backend(echo);
  auto gw = start_echo_gateway(backend, {"--log-level", "trace"});
  // The oldest idle connections are parked: 10 raw ones (to be reset) and 10 clients (to be closed).
  std::vector<int> raw;
  for (int i = 0; i < 10; ++i) {
    raw.push_back(raw_idle_connection(gw->port()));
    ASSERT_GE(raw.back(), 0);
  }
  auto closing = idle_clients(*gw, 10);
  const std::uint16_t closing_port = closing[0]->local_port();
  auto staying = idle_clients(*gw, IdleReadList::kMaxIdleReads + 20);
  const double open = static_cast<double>(raw.size() + closing.size() + staying.size());
  ASSERT_TRUE(eventually([&] { return parked(*gw, closing_port); }, 5s));
  ASSERT_TRUE(eventually([&] { return gateway_metric(*gw, "kvroute_client_connections ") == open; }, 5s));

  for (int fd : raw) reset(fd);
  for (auto& c : closing) c->close();
  EXPECT_TRUE(eventually([&] { return gateway_metric(*gw, "kvroute_client_connections ") == open - 20; }, 5s))
      << "the gateway let the closed and reset connections go";

  for (std::size_t i = 0; i < staying.size(); ++i) {
    const std::string body = body_for(i, 0, kSizes[i % std::size(kSizes)]);
    expect_echo(staying[i]->request("POST", "/v1/chat/completions", body), body, fmt::format("connection {}", i));
  }
  // A drain closes every idle connection, parked or not, and the gateway exits at once.
  gw->process().signal(SIGTERM);
  const auto status = gw->process().wait_exit(5s);
  ASSERT_TRUE(status.has_value()) << "the gateway did not exit after SIGTERM";
  EXPECT_EQ(*status, 0);
  for (std::size_t i = 0; i < staying.size(); ++i) {
    EXPECT_TRUE(staying[i]->wait_closed(2s)) << "connection " << i << " was closed by the drain";
  }
}

}  // namespace
}  // namespace kvroute::test
