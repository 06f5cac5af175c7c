#include "sim_server/options.h"

#include <gtest/gtest.h>

namespace kvroute::sim_server {
namespace {

Result<SimServerOptions> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "kvroute-sim");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_options(static_cast<int>(argv.size()), argv.data());
}

TEST(OptionsTest, DefaultsAreOneL8BH100InstanceOnPort8000) {
  auto o = parse({});
  ASSERT_TRUE(o.ok()) << o.error().message;
  ASSERT_EQ(o->instances.size(), 1u);
  EXPECT_EQ(o->instances[0].port, 8000);
  EXPECT_EQ(o->instances[0].host, "127.0.0.1");
  EXPECT_EQ(o->instances[0].preset.name, "L8B-H100");
  EXPECT_EQ(o->instances[0].model, "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ(o->instances[0].max_body_bytes, 16u << 20);
  EXPECT_TRUE(o->instances[0].faults.none());
  EXPECT_EQ(o->threads, 1u);
}

TEST(OptionsTest, InstancesTakeConsecutivePortsOrAllZero) {
  auto o = parse({"--instances", "3", "--port", "9000"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->instances[0].port, 9000);
  EXPECT_EQ(o->instances[2].port, 9002);
  o = parse({"--instances", "3", "--port", "0"});
  ASSERT_TRUE(o.ok());
  for (const auto& c : o->instances) EXPECT_EQ(c.port, 0);
  EXPECT_FALSE(parse({"--instances", "3", "--port", "65534"}).ok());
}

TEST(OptionsTest, PerInstanceListsAndSpeedup) {
  auto o = parse({"--instances", "3", "--preset", "tiny,L8B-H100,L8B-H200", "--speed-factor", "1,1,2", "--speedup",
                  "10", "--model", "a,b,c", "--threads", "2"});
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->instances[0].preset.name, "tiny");
  EXPECT_EQ(o->instances[2].preset.name, "L8B-H200");
  EXPECT_DOUBLE_EQ(o->instances[0].speed_factor, 10.0);
  EXPECT_DOUBLE_EQ(o->instances[2].speed_factor, 20.0);
  EXPECT_EQ(o->instances[1].model, "b");
  EXPECT_EQ(o->threads, 2u);
}

TEST(OptionsTest, BadValuesAreExitCode2WithAMessage) {
  const std::vector<std::vector<std::string>> bad = {
      {"--preset", "nope"},
      {"--instances", "2", "--preset", "tiny,tiny,tiny"},
      {"--speed-factor", "fast"},
      {"--speed-factor", "0"},
      {"--speedup", "0"},
      {"--instances", "0"},
      {"--fail-error-rate", "1.5"},
      {"--fail-error-status", "200"},
      {"--fail-instances", "4"},
      {"--log-level", "loud"},
      {"--no-such-option"},
      {"--instances", "many"},
  };
  for (const auto& args : bad) {
    auto o = parse(args);
    ASSERT_FALSE(o.ok()) << args[0];
    EXPECT_EQ(o.error().code, 2) << args[0];
    EXPECT_FALSE(o.error().message.empty());
  }
  auto o = parse({"--preset", "nope"});
  EXPECT_NE(o.error().message.find("L8B-H100"), std::string::npos) << "lists the known presets";
}

TEST(OptionsTest, ARepeatedOptionTakesItsLastValue) {
  auto o = parse({"--instances", "1", "--speedup", "2", "--instances", "2", "--speedup", "4"});
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->instances.size(), 2u);
  EXPECT_DOUBLE_EQ(o->instances[1].speed_factor, 4.0);
}

TEST(OptionsTest, HelpIsCodeZero) {
  auto o = parse({"--help"});
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error().code, 0);
  EXPECT_NE(o.error().message.find("--speedup"), std::string::npos);
}

TEST(OptionsTest, FaultOptionsApplyToAllOrToSelectedInstances) {
  auto o = parse({"--instances", "3", "--fail-error-rate", "0.5", "--fail-error-status", "429", "--fail-slow-ms", "5"});
  ASSERT_TRUE(o.ok());
  for (const auto& c : o->instances) {
    EXPECT_DOUBLE_EQ(c.faults.error_rate, 0.5);
    EXPECT_EQ(c.faults.error_status, 429);
    EXPECT_EQ(c.faults.slow_ms, 5u);
  }
  o = parse({"--instances", "3", "--fail-hang", "--fail-refuse", "--fail-queue-limit", "4",
             "--fail-close-after-tokens", "2", "--fail-instances", "0,2"});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->instances[0].faults.hang);
  EXPECT_TRUE(o->instances[0].faults.refuse_connections);
  EXPECT_EQ(o->instances[2].faults.queue_limit, 4u);
  EXPECT_EQ(o->instances[2].faults.close_after_tokens, 2u);
  EXPECT_TRUE(o->instances[1].faults.none());
}

}  // namespace
}  // namespace kvroute::sim_server
