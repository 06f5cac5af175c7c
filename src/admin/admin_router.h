#pragma once
// What the admin listener answers, without sockets: one request in (method, target, Authorization),
// one reply out. The server (admin_server.h) does the HTTP; this decides.
//
//   GET /health    200 {"status":"ok"}, or 503 {"status":"draining"} once the gateway shuts down
//                  (so a load balancer in front stops sending it traffic); never needs the token
//   GET /metrics   200, Prometheus text format 0.0.4 (gateway_metrics.h)
//   other paths    404; other methods on these paths 405 (Allow: GET)
// With a token configured, every request but /health needs `Authorization: Bearer <token>`; without
// it the answer is 401 (with WWW-Authenticate: Bearer) whatever the path, so the paths that exist are
// not revealed. Errors are JSON bodies as the gateway's own: {"error":{"message",...,"code":<status>}}.
//
// Control thread (the handlers run there).

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace kvroute::admin {

/// The content behind the paths, supplied by the gateway.
struct AdminRoutes {
  /// Appends the Prometheus page to out (given empty).
  std::function<void(std::string& out)> metrics;
  /// false once the gateway is shutting down: /health then answers 503.
  std::function<bool()> serving;
};

struct AdminRequest {
  std::string_view method;                        ///< "GET"
  std::string_view target;                        ///< "/metrics?x=1" (the query is ignored)
  std::optional<std::string_view> authorization;  ///< the Authorization field, if any
};

struct AdminReply {
  int status = 200;
  std::string_view content_type;
  std::string body;
  bool auth_challenge = false;  ///< send WWW-Authenticate: Bearer (a 401)
  bool allow_get = false;       ///< send Allow: GET (a 405)
};

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

class AdminRouter {
 public:
  /// token: none = no authentication.
  AdminRouter(AdminRoutes routes, std::optional<std::string> token);

  /// Control thread. Answers `request` into `reply` (every field set; the body's capacity is reused).
  void handle(const AdminRequest& request, AdminReply& reply) const;

  /// Whether an Authorization value carries the token (scheme case-insensitive; constant time in the
  /// token's length, so the comparison does not leak how much of a guess was right).
  bool authorized(std::optional<std::string_view> authorization) const;

 private:
  AdminRoutes routes_;
  std::optional<std::string> token_;
};

}  // namespace kvroute::admin
