// The head of what the client receives: the backend's fields minus the hop-by-hop ones, framing set
// by the gateway, and the gateway's own fields.
#include "proxy/response_head.h"

#include <gtest/gtest.h>

namespace kvroute::proxy {
namespace {

TEST(ResponseHeadTest, BackendFieldsAreForwardedExceptHopByHopAndFraming) {
  upstream::HeaderBlock h;
  h.add("Content-Type", "text/event-stream");
  h.add("Transfer-Encoding", "chunked");
  h.add("Connection", "keep-alive, X-Internal");
  h.add("X-Internal", "1");
  h.add("Keep-Alive", "timeout=5");
  h.add("Content-Length", "10");
  h.add("x-sim-instance", "127.0.0.1:1");
  h.add("x-request-id", "backend-id");
  ClientResponseHead head;
  head.status = 200;
  head.upstream = &h;
  head.framing = Framing::kChunked;
  head.backend_name = "gpu-a";
  head.request_id = "gw-id";
  std::string out;
  append_client_response_head(head, out);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200 OK\r\n")) << out;
  EXPECT_NE(out.find("Content-Type: text/event-stream\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x-sim-instance: 127.0.0.1:1\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x-kvroute-backend: gpu-a\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x-request-id: gw-id\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << out;
  for (const char* gone : {"Connection", "X-Internal", "Keep-Alive", "Content-Length", "backend-id"}) {
    EXPECT_EQ(out.find(gone), std::string::npos) << gone << " in\n" << out;
  }
  EXPECT_TRUE(out.ends_with("\r\n\r\n"));
}

TEST(ResponseHeadTest, GatewayResponseWithContentLengthAndClose) {
  ClientResponseHead head;
  head.status = 413;
  head.content_type = "application/json";
  head.content_length = 12;
  head.keep_alive = false;
  std::string out;
  append_client_response_head(head, out);
  EXPECT_EQ(out,
            "HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\nContent-Length: 12\r\n"
            "Connection: close\r\n\r\n");
}

TEST(ResponseHeadTest, Http10ClientsGetKeepAliveSpelledOut) {
  ClientResponseHead head;
  head.version = 10;
  head.content_length = 0;
  std::string out;
  append_client_response_head(head, out);
  EXPECT_EQ(out, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
  out.clear();
  head.framing = Framing::kClose;
  append_client_response_head(head, out);
  EXPECT_EQ(out, "HTTP/1.0 200 OK\r\n\r\n") << "a close-delimited body ends the connection";
}

TEST(ResponseHeadTest, AllowAndReasonPhrases) {
  ClientResponseHead head;
  head.status = 405;
  head.allow = "POST";
  std::string out;
  append_client_response_head(head, out);
  EXPECT_NE(out.find("HTTP/1.1 405 Method Not Allowed\r\n"), std::string::npos);
  EXPECT_NE(out.find("Allow: POST\r\n"), std::string::npos);
  EXPECT_EQ(reason_phrase(504), "Gateway Timeout");
  EXPECT_EQ(reason_phrase(799), "Unknown");
}

TEST(ResponseHeadTest, RetryAfterAndQueuedTimeOnlyWhenSet) {
  ClientResponseHead head;
  head.status = 503;
  head.content_type = "application/json";
  head.retry_after = "1";
  std::string out;
  append_client_response_head(head, out);
  EXPECT_EQ(out,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
            "Content-Length: 0\r\n\r\n");
  head = ClientResponseHead{};
  head.backend_name = "gpu-a";
  head.queued_ms = 0;  // held, bound within the millisecond: still said
  out.clear();
  append_client_response_head(head, out);
  EXPECT_NE(out.find("x-kvroute-queued-ms: 0\r\n"), std::string::npos) << out;
  head.queued_ms = 1234;
  out.clear();
  append_client_response_head(head, out);
  EXPECT_NE(out.find("x-kvroute-queued-ms: 1234\r\n"), std::string::npos) << out;
  head.queued_ms = -1;
  out.clear();
  append_client_response_head(head, out);
  EXPECT_EQ(out.find("queued"), std::string::npos) << out;
  EXPECT_EQ(out.find("Retry-After"), std::string::npos) << out;
}

}  // namespace
}  // namespace kvroute::proxy
