#include "openai/errors.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace kvroute::openai {
namespace {

TEST(ErrorTypeTest, NamesForKnownStatuses) {
  EXPECT_EQ(error_type_for_status(400), "BadRequestError");
  EXPECT_EQ(error_type_for_status(401), "AuthenticationError");
  EXPECT_EQ(error_type_for_status(403), "PermissionDeniedError");
  EXPECT_EQ(error_type_for_status(404), "NotFoundError");
  EXPECT_EQ(error_type_for_status(405), "MethodNotAllowedError");
  EXPECT_EQ(error_type_for_status(408), "TimeoutError");
  EXPECT_EQ(error_type_for_status(409), "ConflictError");
  EXPECT_EQ(error_type_for_status(413), "RequestEntityTooLargeError");
  EXPECT_EQ(error_type_for_status(422), "UnprocessableEntityError");
  EXPECT_EQ(error_type_for_status(429), "RateLimitError");
  EXPECT_EQ(error_type_for_status(500), "InternalServerError");
  EXPECT_EQ(error_type_for_status(502), "BadGatewayError");
  EXPECT_EQ(error_type_for_status(503), "ServiceUnavailableError");
  EXPECT_EQ(error_type_for_status(504), "GatewayTimeoutError");
}

TEST(ErrorTypeTest, OtherStatusesFallBackByClass) {
  EXPECT_EQ(error_type_for_status(402), "BadRequestError");
  EXPECT_EQ(error_type_for_status(418), "BadRequestError");
  EXPECT_EQ(error_type_for_status(451), "BadRequestError");
  EXPECT_EQ(error_type_for_status(501), "InternalServerError");
  EXPECT_EQ(error_type_for_status(507), "InternalServerError");
  EXPECT_EQ(error_type_for_status(599), "InternalServerError");
}

TEST(ErrorBodyTest, ExactVllmShapeWithNullParam) {
  EXPECT_EQ(error_body(400, "Missing required parameter: 'model'."),
            R"({"error":{"message":"Missing required parameter: 'model'.","type":"BadRequestError","param":null,"code":400}})");
}

TEST(ErrorBodyTest, ParamIsAJsonStringWhenGiven) {
  EXPECT_EQ(error_body(429, "slow down", "user"),
            R"({"error":{"message":"slow down","type":"RateLimitError","param":"user","code":429}})");
}

TEST(ErrorBodyTest, IsValidJsonWithTypeAndIntegerCode) {
  for (const int status : {400, 401, 404, 413, 429, 500, 502, 503, 504, 418, 599}) {
    const auto j = nlohmann::json::parse(error_body(status, "something \"odd\"\n happened", "messages[0].role"));
    ASSERT_TRUE(j.contains("error"));
    const auto& e = j["error"];
    EXPECT_EQ(e["message"], "something \"odd\"\n happened");
    EXPECT_EQ(e["type"], std::string(error_type_for_status(status)));
    EXPECT_EQ(e["param"], "messages[0].role");
    ASSERT_TRUE(e["code"].is_number_integer());
    EXPECT_EQ(e["code"].get<int>(), status);
  }
  const auto j = nlohmann::json::parse(error_body(503, "down"));
  EXPECT_TRUE(j["error"]["param"].is_null());
}

TEST(ErrorBodyTest, RoundTripsHostileMessages) {
  std::string message = "quote \" backslash \\ slash / newline \n return \r tab \t bs \b ff \f nul ";
  message += '\0';
  message += " ctl \x01\x1f del \x7f utf8 \xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80";
  const std::string body = error_body(400, message, "p\"q");
  const auto j = nlohmann::json::parse(body);
  EXPECT_EQ(j["error"]["message"].get<std::string>(), message);
  EXPECT_EQ(j["error"]["param"].get<std::string>(), "p\"q");
  for (const char c : body) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << "raw control character in body";
}

TEST(CodedErrorBodyTest, OpenAiShapeWithSymbolicCode) {
  EXPECT_EQ(coded_error_body("Held too long.", "server_error", "queue_timeout"),
            R"({"error":{"message":"Held too long.","type":"server_error","param":null,"code":"queue_timeout"}})");
  const auto j = nlohmann::json::parse(coded_error_body("a \"quoted\"\nline", "server_error", "queue_full"));
  EXPECT_EQ(j["error"]["message"], "a \"quoted\"\nline");
  EXPECT_EQ(j["error"]["code"], "queue_full");
  EXPECT_TRUE(j["error"]["param"].is_null());
}

TEST(JsonEscapeTest, ExactEscapes) {
  const auto escaped = [](std::string_view s) {
    std::string out = "prefix:";
    append_json_escaped(out, s);
    return out;
  };
  EXPECT_EQ(escaped(""), "prefix:");
  EXPECT_EQ(escaped("plain text"), "prefix:plain text");
  EXPECT_EQ(escaped("a\"b"), R"(prefix:a\"b)");
  EXPECT_EQ(escaped("a\\b"), R"(prefix:a\\b)");
  EXPECT_EQ(escaped("\n\r\t\b\f"), R"(prefix:\n\r\t\b\f)");
  EXPECT_EQ(escaped(std::string_view("\x00\x01\x1f", 3)), R"(prefix:\u0000\u0001\u001f)");
  EXPECT_EQ(escaped("\x7f"), "prefix:\x7f");
  EXPECT_EQ(escaped("caf\xc3\xa9 \xf0\x9f\x98\x80"), "prefix:caf\xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(escaped("/"), "prefix:/");
}

}  // namespace
}  // namespace kvroute::openai
