#include "upstream/backend_target.h"

#include <gtest/gtest.h>

#include "config/values.h"

namespace kvroute::upstream {
namespace {

TEST(BackendTargetTest, NumericHostNeedsNoResolverAndKeepsBasePath) {
  auto b = config::parse_backend_url("http://127.0.0.1:8001/llama");
  ASSERT_TRUE(b.ok()) << b.error().message;
  b->max_connections = 7;
  auto t = make_backend_target(*b);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->host_header, "127.0.0.1:8001");
  EXPECT_EQ(t->base_path, "/llama");
  EXPECT_EQ(t->name, "127.0.0.1:8001/llama");
  EXPECT_EQ(t->max_connections, 7u);
  ASSERT_EQ(t->addresses.size(), 1u);
  EXPECT_FALSE(t->addresses[0].v6);
  EXPECT_EQ(t->addresses[0].port, 8001);
  EXPECT_EQ(t->addresses[0].bytes[0], 127);
  EXPECT_EQ(t->addresses[0].bytes[3], 1);
}

TEST(BackendTargetTest, Ipv6HostIsBracketedInHostHeader) {
  auto b = config::parse_backend_url("http://[::1]:9000");
  ASSERT_TRUE(b.ok()) << b.error().message;
  auto t = make_backend_target(*b);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->host_header, "[::1]:9000");
  ASSERT_EQ(t->addresses.size(), 1u);
  EXPECT_TRUE(t->addresses[0].v6);
}

TEST(BackendTargetTest, LocalhostResolves) {
  auto b = config::parse_backend_url("http://localhost:9000");
  ASSERT_TRUE(b.ok());
  auto t = make_backend_target(*b);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_FALSE(t->addresses.empty());
}

TEST(BackendTargetTest, UnresolvableHostIsAnError) {
  auto b = config::parse_backend_url("http://no-such-host.invalid:9000");
  ASSERT_TRUE(b.ok());
  auto t = make_backend_target(*b);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("no-such-host.invalid"), std::string::npos) << t.error().message;
}

}  // namespace
}  // namespace kvroute::upstream
