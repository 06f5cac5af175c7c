#include "admin/admin_router.h"

#include "openai/errors.h"

namespace kvroute::admin {
namespace {

constexpr std::string_view kJson = "application/json";

void error(AdminReply& reply, int status, std::string_view message) {
  reply.status = status;
  reply.content_type = kJson;
  reply.body = openai::error_body(status, message);
}

bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

AdminRouter::AdminRouter(AdminRoutes routes, std::optional<std::string> token)
    : routes_(std::move(routes)), token_(std::move(token)) {}

bool AdminRouter::authorized(std::optional<std::string_view> authorization) const {
  if (!token_) return true;
  if (!authorization) return false;
  std::string_view v = *authorization;
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  const auto space = v.find_first_of(" \t");
  if (space == std::string_view::npos || !iequals_ascii(v.substr(0, space), "bearer")) return false;
  v.remove_prefix(space);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  // Every byte of the token is compared whatever the guess, so timing tells nothing but the length.
  const std::string& t = *token_;
  unsigned diff = v.size() == t.size() ? 0u : 1u;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = i < v.size() ? v[i] : '\0';
    diff |= static_cast<unsigned>(static_cast<unsigned char>(c) ^ static_cast<unsigned char>(t[i]));
  }
  return diff == 0;
}

void AdminRouter::handle(const AdminRequest& request, AdminReply& reply) const {
  reply.status = 200;
  reply.content_type = kJson;
  reply.body.clear();
  reply.auth_challenge = false;
  reply.allow_get = false;

  std::string_view path = request.target;
  if (const auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  const bool is_get = request.method == "GET";

  if (path == "/health") {
    if (!is_get) {
      reply.allow_get = true;
      return error(reply, 405, "use GET");
    }
    const bool serving = !routes_.serving || routes_.serving();
    reply.status = serving ? 200 : 503;
    reply.body = serving ? R"({"status":"ok"})" : R"({"status":"draining"})";
    return;
  }
  if (!authorized(request.authorization)) {
    reply.auth_challenge = true;
    return error(reply, 401, "missing or wrong admin token (send Authorization: Bearer <token>)");
  }
  if (path == "/metrics") {
    if (!is_get) {
      reply.allow_get = true;
      return error(reply, 405, "use GET");
    }
    reply.content_type = kPrometheusContentType;
    if (routes_.metrics) routes_.metrics(reply.body);
    return;
  }
  error(reply, 404, "no such admin path: " + std::string(path) + " (this build serves /metrics and /health)");
}

}  // namespace kvroute::admin
