#include "config/config_from_flags.h"

#include <gtest/gtest.h>

namespace kvroute::config {
namespace {

TEST(ConfigFromFlagsTest, BuildsOneDefaultPoolForEveryModel) {
  QuickStartFlags flags;
  flags.listen = "127.0.0.1:8080";
  flags.backends = {"http://127.0.0.1:8001", "http://127.0.0.1:8002=3"};
  flags.policy = "round_robin";
  flags.admin = "127.0.0.1:9090";
  auto config = config_from_flags(flags);
  ASSERT_TRUE(config.ok()) << config.error().message;

  ASSERT_EQ(config->listeners.size(), 1u);
  EXPECT_EQ(config->listeners[0].address, (HostPort{"127.0.0.1", 8080}));
  EXPECT_EQ(config->admin.listen, (HostPort{"127.0.0.1", 9090}));
  EXPECT_TRUE(config->server.backend_header);
  ASSERT_EQ(config->pools.size(), 1u);
  const PoolConfig& pool = config->pools[0];
  EXPECT_EQ(pool.name, "default");
  EXPECT_TRUE(pool.is_default);
  EXPECT_EQ(pool.models, (std::vector<std::string>{"*"}));
  EXPECT_EQ(pool.policy.name, "round_robin");
  EXPECT_EQ(pool.policy.error("unknown policy").message, "command line: --policy: unknown policy");
  ASSERT_EQ(pool.backends.size(), 2u);
  EXPECT_EQ(pool.backends[0].url, "http://127.0.0.1:8001");
  EXPECT_EQ(pool.backends[0].weight, 1u);
  EXPECT_EQ(pool.backends[0].name, "127.0.0.1:8001");
  EXPECT_EQ(pool.backends[1].url, "http://127.0.0.1:8002");
  EXPECT_EQ(pool.backends[1].weight, 3u);
  // Everything else at its default.
  EXPECT_EQ(pool.timeouts, TimeoutsConfig{});
  EXPECT_EQ(config->limits, LimitsConfig{});
}

TEST(ConfigFromFlagsTest, OmittedFlagsTakeDefaults) {
  QuickStartFlags flags;
  flags.backends = {"http://10.0.0.1:8000"};
  auto config = config_from_flags(flags);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->listeners[0].address, (HostPort{"0.0.0.0", 8080}));
  EXPECT_EQ(config->pools[0].policy.name, "least_request");
  EXPECT_FALSE(config->admin.listen.has_value());
}

TEST(ConfigFromFlagsTest, ErrorsNameTheFlagAndValue) {
  auto error_of = [](QuickStartFlags flags) {
    auto config = config_from_flags(flags);
    return config.ok() ? std::string() : config.error().message;
  };
  EXPECT_EQ(error_of({"", {"http://x:99999"}, "", ""}), "--backend http://x:99999: port out of range (1-65535)");
  EXPECT_EQ(error_of({"", {"http://x:1=abc"}, "", ""}),
            "--backend http://x:1=abc: weight must be an integer from 0 to 10000, got \"abc\"");
  EXPECT_EQ(error_of({"", {"x:1"}, "", ""}), "--backend x:1: must be a URL such as http://10.0.0.5:8000");
  EXPECT_EQ(error_of({"", {"http://x:1", "http://X:1/"}, "", ""}),
            "--backend http://X:1/: the same backend is given twice");
  EXPECT_EQ(error_of({"", {"http://x:1=0"}, "", ""}),
            "--backend: every backend has weight 0 (drained); at least one needs a weight >= 1");
  EXPECT_EQ(error_of({"", {}, "", ""}),
            "--backend: at least one backend is required (--backend http://HOST:PORT[=WEIGHT])");
  EXPECT_EQ(error_of({"8080", {"http://x:1"}, "", ""}),
            "--listen 8080: port is missing: write HOST:PORT, such as 127.0.0.1:8080");
  EXPECT_EQ(error_of({"", {"http://x:1"}, "least request", ""}),
            "--policy least request: must be a policy name (letters, digits, '.', '_' or '-')");
  EXPECT_EQ(error_of({"127.0.0.1:80", {"http://x:1"}, "", "127.0.0.1:80"}),
            "--admin 127.0.0.1:80: is the same address as --listen");
}

}  // namespace
}  // namespace kvroute::config
