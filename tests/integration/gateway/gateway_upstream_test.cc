// What the gateway sends to backends and how it treats their connections, seen from a scriptable
// fake backend: keep-alive reuse (TCP connections counted), the stale keep-alive retry, the request
// head (Host, base path, X-Forwarded-For, hop-by-hop fields, pool header rules, x-request-id), the
// body byte for byte (alias splice), and responses framed in every HTTP/1.1 way.
#include <condition_variable>
#include <mutex>
#include <thread>

#include "gateway/fake_backend.h"
#include "gateway/gateway_test_util.h"

namespace kvroute::test {
namespace {

using namespace std::chrono_literals;

const std::string kAnswer =
    R"({"id":"x","object":"chat.completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}})";

FakeAction ok_json(const FakeRequest&) { return FakeAction{FakeBackend::json_response(kAnswer), false, false}; }

/// Pool YAML that turns metrics scraping off: the fake backend is no inference server, and the
/// scraper's GET /metrics (on a connection of its own) would add to the requests and connections
/// these tests count.
const std::string kNoScrape = "    metrics: {enabled: false}\n";

TEST(GatewayUpstreamTest, KeepAliveConnectionsToBackendsAreReused) {
  FakeBackend backend(ok_json);
  auto gw = GatewayProcess::start_yaml(one_pool_yaml("m", "[" + backend.url() + "]", "round_robin", kNoScrape));
  {
    HttpClient c = gw->client();
    for (int i = 0; i < 20; ++i) {
      auto r = c.post("/v1/chat/completions", chat_body("m", "reuse"));
      ASSERT_TRUE(r.ok()) << r.error().message;
      ASSERT_EQ(r->status, 200);
      EXPECT_EQ(r->body, kAnswer);
    }
  }
  // A second client connection (same worker) uses the same pooled connection.
  HttpClient c2 = gw->client();
  for (int i = 0; i < 5; ++i) {
    auto r = c2.post("/v1/chat/completions", chat_body("m", "reuse"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(backend.requests().size(), 25u);
  EXPECT_EQ(backend.connections_accepted(), 1u) << "25 requests, one TCP connection";
}

TEST(GatewayUpstreamTest, ConcurrentRequestsOpenUpToMaxConnections) {
  // The backend answers only when two requests are waiting, so two connections must be open at once;
  // max_connections 2 caps them, and later requests reuse those two.
  std::mutex m;
  std::condition_variable cv;
  int waiting = 0;
  FakeBackend backend([&](const FakeRequest&) {
    std::unique_lock lock(m);
    if (++waiting % 2 == 0) {
      cv.notify_all();
    } else {
      cv.wait_for(lock, 5s, [&] { return waiting % 2 == 0; });
    }
    return FakeAction{FakeBackend::json_response(kAnswer), false, false};
  });
  auto gw = GatewayProcess::start_yaml(one_pool_yaml(
      "m", fmt::format("[{{url: \"{}\", max_connections: 2}}]", backend.url()), "round_robin", kNoScrape));
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread> clients;
    for (int i = 0; i < 2; ++i) {
      clients.emplace_back([&] {
        HttpClient c = gw->client();
        auto r = c.post("/v1/chat/completions", chat_body("m", "pair"));
        EXPECT_TRUE(r.ok() && r->status == 200);
      });
    }
    for (auto& t : clients) t.join();
  }
  EXPECT_EQ(backend.requests().size(), 6u);
  EXPECT_EQ(backend.connections_accepted(), 2u);
}

TEST(GatewayUpstreamTest, AStaleKeepAliveConnectionIsRetriedOnAFreshOne) {
  // The second request on every connection is read and then the connection is closed unanswered:
  // the gateway sees its kept-alive connection die before any response byte and retries once on a
  // new connection, invisibly to the client.
  FakeBackend backend([](const FakeRequest& r) {
    if (r.index_on_connection == 1) return FakeAction{{}, false, true};
    return FakeAction{FakeBackend::json_response(kAnswer), false, false};
  });
  auto gw = GatewayProcess::start_yaml(
      one_pool_yaml("m", "[" + backend.url() + "]", "round_robin", kNoScrape + "    retries: {attempts: 0}\n"));
  HttpClient c = gw->client();
  for (int i = 0; i < 3; ++i) {
    auto r = c.post("/v1/chat/completions", chat_body("m", "stale"));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200) << "request " << i << ": " << r->body;
  }
  // Request 0 on connection 1; request 1 dies on connection 1 and succeeds on connection 2;
  // request 2 dies on connection 2 and succeeds on connection 3.
  EXPECT_EQ(backend.connections_accepted(), 3u);
  EXPECT_EQ(backend.requests().size(), 5u);
}

TEST(GatewayUpstreamTest, AFreshConnectionThatDiesIsABadGatewayWithoutRetries) {
  FakeBackend backend([](const FakeRequest&) { return FakeAction{{}, false, true}; });
  auto gw = GatewayProcess::start_yaml(
      one_pool_yaml("m", "[" + backend.url() + "]", "round_robin", kNoScrape + "    retries: {attempts: 0}\n"));
  HttpClient c = gw->client();
  auto r = c.post("/v1/chat/completions", chat_body("m", "dies"));
  ASSERT_TRUE(r.ok());
  expect_error_body(*r, 502);
  EXPECT_EQ(backend.requests().size(), 1u) << "no stale retry on a connection that never served";
}

TEST(GatewayUpstreamTest, RequestHeadSentUpstream) {
  FakeBackend backend(ok_json);
  auto gw = GatewayProcess::start_yaml(
      one_pool_yaml("m", "[" + backend.url() + "/base]", "round_robin",
                    kNoScrape + "    headers:\n"
                                "      add: {Authorization: \"Bearer pool-key\", x-team: search}\n"
                                "      strip: [cookie]\n"));
  HttpClient c = gw->client();
  const std::string body = chat_body("m", "headers");
  auto r = c.request("POST", "/v1/chat/completions?trace=1", body,
                     {{"Authorization", "Bearer client-key"},
                      {"Cookie", "secret=1"},
                      {"X-Forwarded-For", "203.0.113.7"},
                      {"Connection", "keep-alive, X-Hop"},
                      {"X-Hop", "do-not-forward"},
                      {"Keep-Alive", "timeout=5"},
                      {"TE", "trailers"},
                      {"X-Custom", "kept"},
                      {"x-request-id", "rid-42"}});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200);
  ASSERT_EQ(backend.requests().size(), 1u);
  const FakeRequest got = backend.requests()[0];
  EXPECT_TRUE(got.head.starts_with("POST /base/v1/chat/completions?trace=1 HTTP/1.1\r\n")) << got.head;
  EXPECT_EQ(got.header("host"), "127.0.0.1:" + std::to_string(backend.port()));
  EXPECT_EQ(got.header("x-forwarded-for"), "203.0.113.7, 127.0.0.1");
  EXPECT_EQ(got.header("authorization"), "Bearer pool-key");
  EXPECT_EQ(got.header("x-team"), "search");
  EXPECT_EQ(got.header("cookie"), "");
  EXPECT_EQ(got.header("x-hop"), "");
  EXPECT_EQ(got.header("connection"), "");
  EXPECT_EQ(got.header("keep-alive"), "");
  EXPECT_EQ(got.header("te"), "");
  EXPECT_EQ(got.header("x-custom"), "kept");
  EXPECT_EQ(got.header("x-request-id"), "rid-42");
  EXPECT_EQ(got.header("content-length"), std::to_string(body.size()));
  EXPECT_EQ(got.body, body) << "forwarded byte for byte";
  EXPECT_EQ(r->header("x-request-id"), "rid-42");
  EXPECT_EQ(r->header("x-kvroute-backend"), "127.0.0.1:" + std::to_string(backend.port()) + "/base");
}

TEST(GatewayUpstreamTest, AliasIsSplicedIntoTheBodyAndNothingElseChanges) {
  FakeBackend backend(ok_json);
  auto gw = GatewayProcess::start_yaml(one_pool_yaml("real/model-name", "[" + backend.url() + "]", "round_robin",
                                                     kNoScrape + "    aliases: {short: real/model-name}\n"));
  HttpClient c = gw->client();
  // Odd but valid JSON layout: the gateway must not re-serialise it.
  const std::string body =
      "{ \"messages\" : [ {\"role\":\"user\",\"content\":\"caf\\u00e9\"} ],\n  \"model\":  \"short\" , "
      "\"temperature\": 0.50 }";
  auto r = c.post("/v1/chat/completions", body);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  ASSERT_EQ(backend.requests().size(), 1u);
  std::string expected = body;
  expected.replace(expected.find("\"short\""), 7, "\"real/model-name\"");
  EXPECT_EQ(backend.requests()[0].body, expected);
  EXPECT_EQ(backend.requests()[0].header("content-length"), std::to_string(expected.size()));
}

TEST(GatewayUpstreamTest, ChunkedRequestBodyIsSentWithContentLength) {
  FakeBackend backend(ok_json);
  auto gw = GatewayProcess::start_yaml(one_pool_yaml("m", "[" + backend.url() + "]", "round_robin", kNoScrape));
  HttpClient c = gw->client();
  const std::string body = chat_body("m", "chunks");
  ASSERT_TRUE(c.send_raw(fmt::format("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                     "\r\n5\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
                                     body.substr(0, 5), body.size() - 5, body.substr(5)))
                  .ok());
  auto r = c.read_response();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(backend.requests().size(), 1u);
  EXPECT_EQ(backend.requests()[0].body, body);
  EXPECT_EQ(backend.requests()[0].header("transfer-encoding"), "");
  EXPECT_EQ(backend.requests()[0].header("content-length"), std::to_string(body.size()));
}

TEST(GatewayUpstreamTest, ChunkedResponseIsRelayedAsIs) {
  FakeBackend backend([](const FakeRequest&) {
    return FakeAction{
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        "Connection: keep-alive, X-Backend-Hop\r\nX-Backend-Hop: 1\r\nKeep-Alive: timeout=5\r\n"
        "X-Backend: yes\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n",
        false, false};
  });
  auto gw = GatewayProcess::start_yaml(one_pool_yaml("m", "[" + backend.url() + "]", "round_robin", kNoScrape));
  HttpClient c = gw->client();
  for (int i = 0; i < 2; ++i) {
    auto r = c.post("/v1/chat/completions", chat_body("m", "chunked answer"));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->chunked);
    EXPECT_EQ(r->body, "{\"a\":1}");
    EXPECT_EQ(r->header("x-backend"), "yes");
    EXPECT_EQ(r->header("x-backend-hop"), "") << "named by the backend's Connection field";
    EXPECT_EQ(r->header("keep-alive"), "");
    EXPECT_TRUE(r->keep_alive);
  }
  EXPECT_EQ(backend.connections_accepted(), 1u);
}

TEST(GatewayUpstreamTest, CloseDelimitedResponseIsChunkedForTheClient) {
  FakeBackend backend([](const FakeRequest&) {
    return FakeAction{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"whole\":true}",
                      true, false};
  });
  auto gw = GatewayProcess::start_yaml(one_pool_yaml("m", "[" + backend.url() + "]", "round_robin", kNoScrape));
  HttpClient c = gw->client();
  for (int i = 0; i < 2; ++i) {
    auto r = c.post("/v1/chat/completions", chat_body("m", "close delimited"));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->chunked);
    EXPECT_EQ(r->body, "{\"whole\":true}");
    EXPECT_TRUE(r->keep_alive) << "the client connection is not the backend's";
  }
  EXPECT_EQ(backend.connections_accepted(), 2u) << "a close-delimited answer ends its connection";
}

TEST(GatewayUpstreamTest, BackendErrorIsRelayedFaithfully) {
  FakeBackend backend([](const FakeRequest&) {
    const std::string err =
        R"({"error":{"message":"context too long","type":"BadRequestError","param":null,"code":400}})";
    return FakeAction{"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(err.size()) + "\r\n\r\n" + err,
                      false, false};
  });
  auto gw = GatewayProcess::start_yaml(one_pool_yaml("m", "[" + backend.url() + "]", "round_robin", kNoScrape));
  HttpClient c = gw->client();
  auto r = c.post("/v1/chat/completions", chat_body("m", "too long"));
  ASSERT_TRUE(r.ok());
  expect_error_body(*r, 400);
  EXPECT_NE(r->body.find("context too long"), std::string::npos);
  EXPECT_EQ(r->header("x-kvroute-backend"), "127.0.0.1:" + std::to_string(backend.port()));
}

TEST(GatewayUpstreamTest, BrokenStreamClosesTheClientConnection) {
  FakeBackend backend([](const FakeRequest&) {
    return FakeAction{
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        "f\r\ndata: {\"a\":1}\n\n\r\n",
        true, false};  // then the backend vanishes mid-stream
  });
  auto gw = GatewayProcess::start_yaml(one_pool_yaml("m", "[" + backend.url() + "]", "round_robin", kNoScrape));
  HttpClient c = gw->client();
  auto head = c.start_stream("POST", "/v1/chat/completions", stream_chat("m", "broken", 5));
  ASSERT_TRUE(head.ok()) << head.error().message;
  EXPECT_EQ(head->status, 200);
  auto e = c.next_event();
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->data, "{\"a\":1}");
  auto end = c.next_event();
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.error().code, kClosed) << "no terminating chunk: the client knows the answer is cut";
}

}  // namespace
}  // namespace kvroute::test
