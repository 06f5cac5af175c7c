// Header classification, hop-by-hop handling and the request head sent to backends.
#include "upstream/headers.h"

#include <gtest/gtest.h>

#include "upstream/beast_field_kind.h"

namespace kvroute::upstream {
namespace {

TEST(HeaderKindTest, ClassifiesCaseInsensitively) {
  EXPECT_EQ(classify_header("Host"), HeaderKind::kHost);
  EXPECT_EQ(classify_header("CONTENT-LENGTH"), HeaderKind::kContentLength);
  EXPECT_EQ(classify_header("transfer-encoding"), HeaderKind::kTransferEncoding);
  EXPECT_EQ(classify_header("Connection"), HeaderKind::kConnection);
  EXPECT_EQ(classify_header("Keep-Alive"), HeaderKind::kKeepAlive);
  EXPECT_EQ(classify_header("Proxy-Connection"), HeaderKind::kProxyConnection);
  EXPECT_EQ(classify_header("TE"), HeaderKind::kTe);
  EXPECT_EQ(classify_header("Trailer"), HeaderKind::kTrailer);
  EXPECT_EQ(classify_header("Upgrade"), HeaderKind::kUpgrade);
  EXPECT_EQ(classify_header("Expect"), HeaderKind::kExpect);
  EXPECT_EQ(classify_header("X-Forwarded-For"), HeaderKind::kXForwardedFor);
  EXPECT_EQ(classify_header("X-Request-ID"), HeaderKind::kXRequestId);
  EXPECT_EQ(classify_header("x-session-id"), HeaderKind::kXSessionId);
  EXPECT_EQ(classify_header("Content-Type"), HeaderKind::kContentType);
  EXPECT_EQ(classify_header("Authorization"), HeaderKind::kOther);
  EXPECT_EQ(classify_header("Hostx"), HeaderKind::kOther);
  EXPECT_EQ(classify_header(""), HeaderKind::kOther);
}

TEST(HeaderKindTest, HopByHopAreTheConnectionFields) {
  for (auto k : {HeaderKind::kConnection, HeaderKind::kKeepAlive, HeaderKind::kProxyConnection, HeaderKind::kTe,
                 HeaderKind::kTrailer, HeaderKind::kTransferEncoding, HeaderKind::kUpgrade}) {
    EXPECT_TRUE(is_hop_by_hop(k));
  }
  for (auto k : {HeaderKind::kHost, HeaderKind::kContentLength, HeaderKind::kOther, HeaderKind::kXForwardedFor,
                 HeaderKind::kContentType}) {
    EXPECT_FALSE(is_hop_by_hop(k));
  }
}

TEST(HeaderBlockTest, TokenListsAreMatchedWholeAndTrimmed) {
  EXPECT_TRUE(token_list_contains("close", "close"));
  EXPECT_TRUE(token_list_contains("keep-alive , X-Foo", "x-foo"));
  EXPECT_FALSE(token_list_contains("x-foobar", "x-foo"));
  EXPECT_FALSE(token_list_contains("", "x"));
}

TEST(HeaderBlockTest, FieldsNamedByConnectionAreHopByHop) {
  HeaderBlock h;
  h.add("Connection", "keep-alive, X-Secret");
  h.add("X-Secret", "1");
  h.add("X-Public", "2");
  ASSERT_EQ(h.size(), 3u);
  EXPECT_TRUE(h.is_hop_field(0));
  EXPECT_TRUE(h.is_hop_field(1));
  EXPECT_FALSE(h.is_hop_field(2));
  EXPECT_EQ(h.get("x-public"), "2");
  EXPECT_EQ(h.get(HeaderKind::kConnection), "keep-alive, X-Secret");
  EXPECT_FALSE(h.get("absent").has_value());
}

TEST(HeaderBlockTest, ClearKeepsNothingButCapacity) {
  HeaderBlock h;
  h.add("A", std::string(1000, 'a'));
  h.clear();
  EXPECT_TRUE(h.empty());
  h.add("B", "b");
  EXPECT_EQ(h[0].name, "B");
  EXPECT_EQ(h[0].value, "b");
}

class UpstreamHeadTest : public ::testing::Test {
 protected:
  std::string build(std::string_view client_address = "10.0.0.9", std::string_view request_id = {}) {
    UpstreamRequestHead head;
    head.method = "POST";
    head.base_path = base_;
    head.target = "/v1/chat/completions?x=1";
    head.host = "10.0.0.1:8000";
    head.client_headers = &client_;
    head.rules = &rules_;
    head.client_address = client_address;
    head.request_id = request_id;
    head.content_length = 42;
    std::string out;
    append_upstream_request_head(head, out);
    return out;
  }
  HeaderBlock client_;
  config::HeaderRules rules_;
  std::string base_;
};

TEST_F(UpstreamHeadTest, RequestLineCarriesBasePathAndHostIsTheBackends) {
  base_ = "/llama";
  client_.add("Host", "gateway.example:8080");
  const std::string head = build();
  EXPECT_TRUE(head.starts_with("POST /llama/v1/chat/completions?x=1 HTTP/1.1\r\nHost: 10.0.0.1:8000\r\n")) << head;
  EXPECT_EQ(head.find("gateway.example"), std::string::npos) << head;
  EXPECT_TRUE(head.ends_with("Content-Length: 42\r\n\r\n")) << head;
}

TEST_F(UpstreamHeadTest, HopByHopFramingAndExpectAreNotForwarded) {
  client_.add("Connection", "keep-alive, X-Hop");
  client_.add("Keep-Alive", "timeout=5");
  client_.add("X-Hop", "secret");
  client_.add("TE", "trailers");
  client_.add("Transfer-Encoding", "chunked");
  client_.add("Upgrade", "h2c");
  client_.add("Proxy-Connection", "keep-alive");
  client_.add("Trailer", "x");
  client_.add("Expect", "100-continue");
  client_.add("Content-Length", "99");
  client_.add("Authorization", "Bearer abc");
  client_.add("Content-Type", "application/json");
  const std::string head = build();
  for (const char* gone : {"Connection", "Keep-Alive", "X-Hop", "TE:", "Transfer-Encoding", "Upgrade",
                           "Proxy-Connection", "Trailer", "Expect", "Content-Length: 99"}) {
    EXPECT_EQ(head.find(gone), std::string::npos) << gone << " in\n" << head;
  }
  EXPECT_NE(head.find("Authorization: Bearer abc\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Type: application/json\r\n"), std::string::npos) << head;
}

TEST_F(UpstreamHeadTest, XForwardedForAppendsTheClientToTheChain) {
  client_.add("X-Forwarded-For", "1.1.1.1");
  client_.add("x-forwarded-for", " 2.2.2.2 ");
  const std::string head = build("10.0.0.9");
  EXPECT_NE(head.find("X-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.0.0.9\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("x-forwarded-for"), std::string::npos) << "the client's fields are joined into one";
}

TEST_F(UpstreamHeadTest, XForwardedForIsCreatedWhenAbsent) {
  const std::string head = build("127.0.0.1");
  EXPECT_NE(head.find("X-Forwarded-For: 127.0.0.1\r\n"), std::string::npos) << head;
}

TEST_F(UpstreamHeadTest, PoolRulesStripAndReplace) {
  client_.add("Cookie", "session=1");
  client_.add("Authorization", "Bearer client-key");
  client_.add("X-Keep", "yes");
  rules_.strip = {"cookie"};
  rules_.add = {{"Authorization", "Bearer pool-key"}, {"x-team", "search"}};
  const std::string head = build();
  EXPECT_EQ(head.find("Cookie"), std::string::npos) << head;
  EXPECT_EQ(head.find("client-key"), std::string::npos) << head;
  EXPECT_NE(head.find("Authorization: Bearer pool-key\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("x-team: search\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("X-Keep: yes\r\n"), std::string::npos) << head;
}

TEST_F(UpstreamHeadTest, RequestIdReplacesTheClientsOnce) {
  client_.add("X-Request-Id", "client-id");
  const std::string with_id = build("", "gw-id");
  EXPECT_NE(with_id.find("x-request-id: gw-id\r\n"), std::string::npos) << with_id;
  EXPECT_EQ(with_id.find("client-id"), std::string::npos) << with_id;
  const std::string without = build("", "");
  EXPECT_NE(without.find("X-Request-Id: client-id\r\n"), std::string::npos) << without;
}

TEST(UpstreamTargetTest, BasePathIsPrefixed) {
  std::string out;
  append_upstream_target("", "/v1/models", out);
  EXPECT_EQ(out, "/v1/models");
  out.clear();
  append_upstream_target("/openai", "/v1/models?a=b", out);
  EXPECT_EQ(out, "/openai/v1/models?a=b");
  out.clear();
  append_upstream_target("/x", "", out);
  EXPECT_EQ(out, "/x/");
}

// The parsers classify fields from Beast's enum; it must agree with classify_header for every name,
// including the ones Beast does not register (they come as field::unknown).
TEST(HeaderKindOfBeastFieldTest, AgreesWithClassifyHeader) {
  const char* names[] = {"Host",
                         "content-length",
                         "Transfer-Encoding",
                         "CONNECTION",
                         "keep-alive",
                         "Proxy-Connection",
                         "TE",
                         "trailer",
                         "Upgrade",
                         "Expect",
                         "x-forwarded-for",
                         "X-Request-Id",
                         "x-session-id",
                         "X-Kvroute-Backend",
                         "Content-Type",
                         "accept",
                         "User-Agent",
                         "date",
                         "server",
                         "authorization",
                         "cookie",
                         "x-custom",
                         "te2",
                         "hostx",
                         "content-lengths"};
  for (const char* n : names) {
    const std::string_view name(n);
    EXPECT_EQ(header_kind_of(boost::beast::http::string_to_field(name), name), classify_header(name)) << name;
  }
  EXPECT_EQ(header_kind_of(boost::beast::http::field::host, "Host"), HeaderKind::kHost);
  EXPECT_EQ(header_kind_of(boost::beast::http::field::unknown, "x-session-id"), HeaderKind::kXSessionId);
}

}  // namespace
}  // namespace kvroute::upstream
