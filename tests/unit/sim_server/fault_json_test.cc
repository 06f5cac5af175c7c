#include "sim_server/fault_json.h"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

namespace kvroute::sim_server {
namespace {

TEST(FaultJsonTest, SettingsRoundTripThroughAPatch) {
  sim::FaultSettings s;
  s.error_rate = 0.25;
  s.error_status = 429;
  s.hang = true;
  s.close_after_tokens = 3;
  s.slow_ms = 20;
  s.refuse_connections = true;
  s.queue_limit = 8;
  const std::string text = fault_settings_json(s);
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j.size(), 7u);
  auto patch = parse_fault_patch(text);
  ASSERT_TRUE(patch.ok()) << patch.error().message;
  sim::FaultPolicy policy;
  ASSERT_TRUE(policy.apply(*patch).ok());
  EXPECT_EQ(policy.settings(), s);
}

TEST(FaultJsonTest, MissingFieldsStayUnset) {
  auto patch = parse_fault_patch(R"({"slow_ms": 5})");
  ASSERT_TRUE(patch.ok());
  EXPECT_EQ(patch->slow_ms, 5u);
  EXPECT_FALSE(patch->error_rate.has_value());
  EXPECT_FALSE(patch->hang.has_value());
}

TEST(FaultJsonTest, BadInputIsA400NamingTheField) {
  for (const char* body : {"not json", "[1]", R"({"slow_ms": -1})", R"({"hang": 1})", R"({"error_rate": "x"})",
                           R"({"typo": true})", R"({"queue_limit": 1.5})"}) {
    auto patch = parse_fault_patch(body);
    ASSERT_FALSE(patch.ok()) << body;
    EXPECT_EQ(patch.error().code, 400);
  }
  EXPECT_NE(parse_fault_patch(R"({"typo": true})").error().message.find("typo"), std::string::npos);
}

}  // namespace
}  // namespace kvroute::sim_server
