// What the admin listener answers, without sockets: paths, methods, the token, draining.
#include "admin/admin_router.h"

#include <gtest/gtest.h>

namespace kvroute::admin {
namespace {

AdminRoutes routes(bool* serving) {
  AdminRoutes r;
  r.metrics = [](std::string& out) { out += "kvroute_up 1\n"; };
  r.serving = [serving] { return *serving; };
  return r;
}

AdminReply ask(const AdminRouter& router, std::string_view method, std::string_view target,
               std::optional<std::string_view> authorization = std::nullopt) {
  AdminReply reply;
  reply.body = "left over from a previous request";
  router.handle({method, target, authorization}, reply);
  return reply;
}

TEST(AdminRouterTest, ServesMetricsAndHealthWithoutAToken) {
  bool serving = true;
  const AdminRouter router(routes(&serving), std::nullopt);
  const AdminReply m = ask(router, "GET", "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.content_type, kPrometheusContentType);
  EXPECT_EQ(m.body, "kvroute_up 1\n");
  const AdminReply q = ask(router, "GET", "/metrics?name[]=x");
  EXPECT_EQ(q.status, 200);
  const AdminReply h = ask(router, "GET", "/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.content_type, "application/json");
  EXPECT_EQ(h.body, R"({"status":"ok"})");
}

TEST(AdminRouterTest, HealthSaysDrainingOnceTheGatewayShutsDown) {
  bool serving = false;
  const AdminRouter router(routes(&serving), std::nullopt);
  const AdminReply h = ask(router, "GET", "/health");
  EXPECT_EQ(h.status, 503);
  EXPECT_EQ(h.body, R"({"status":"draining"})");
}

TEST(AdminRouterTest, UnknownPathIs404AndOtherMethods405) {
  bool serving = true;
  const AdminRouter router(routes(&serving), std::nullopt);
  const AdminReply n = ask(router, "GET", "/stats");
  EXPECT_EQ(n.status, 404);
  EXPECT_EQ(n.content_type, "application/json");
  EXPECT_NE(n.body.find("\"code\":404"), std::string::npos) << n.body;
  const AdminReply p = ask(router, "POST", "/metrics");
  EXPECT_EQ(p.status, 405);
  EXPECT_TRUE(p.allow_get);
  EXPECT_EQ(ask(router, "DELETE", "/health").status, 405);
  EXPECT_EQ(ask(router, "GET", "/metrics/").status, 404);
}

TEST(AdminRouterTest, TokenIsRequiredEverywhereButHealth) {
  bool serving = true;
  const AdminRouter router(routes(&serving), std::string("s3cret-token"));
  const AdminReply none = ask(router, "GET", "/metrics");
  EXPECT_EQ(none.status, 401);
  EXPECT_TRUE(none.auth_challenge);
  EXPECT_NE(none.body.find("\"code\":401"), std::string::npos);
  EXPECT_EQ(ask(router, "GET", "/metrics", "Bearer wrong-token!").status, 401);
  EXPECT_EQ(ask(router, "GET", "/metrics", "Bearer s3cret-toke").status, 401);
  EXPECT_EQ(ask(router, "GET", "/metrics", "Bearer s3cret-token-and-more").status, 401);
  EXPECT_EQ(ask(router, "GET", "/metrics", "Basic s3cret-token").status, 401);
  EXPECT_EQ(ask(router, "GET", "/metrics", "s3cret-token").status, 401);
  EXPECT_EQ(ask(router, "GET", "/metrics", "Bearer s3cret-token").status, 200);
  EXPECT_EQ(ask(router, "GET", "/metrics", "bearer   s3cret-token ").status, 200);
  // Unknown paths are not revealed to a caller without the token.
  EXPECT_EQ(ask(router, "GET", "/stats").status, 401);
  EXPECT_EQ(ask(router, "GET", "/stats", "Bearer s3cret-token").status, 404);
  EXPECT_EQ(ask(router, "GET", "/health").status, 200);
}

}  // namespace
}  // namespace kvroute::admin
