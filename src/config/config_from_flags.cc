#include "config/config_from_flags.h"

#include <algorithm>
#include <cerrno>

#include "config/values.h"

namespace kvroute::config {
namespace {

constexpr std::string_view kCommandLine = "command line";

Error flag_error(std::string_view flag, std::string_view value, std::string_view reason) {
  return Error{EINVAL, std::string(flag) + " " + std::string(value) + ": " + std::string(reason)};
}

}  // namespace

Result<GatewayConfig> config_from_flags(const QuickStartFlags& flags) {
  GatewayConfig config;
  config.sources.file = std::string(kCommandLine);
  config.server.backend_header = true;

  if (!flags.listen.empty()) {
    auto address = parse_listen_address(flags.listen);
    if (!address) return flag_error("--listen", flags.listen, address.error().message);
    config.listeners = {ListenerConfig{std::move(*address), 0}};
  }
  if (!flags.admin.empty()) {
    auto address = parse_listen_address(flags.admin);
    if (!address) return flag_error("--admin", flags.admin, address.error().message);
    config.admin.listen = std::move(*address);
  }

  PoolConfig pool;
  pool.name = "default";
  pool.is_default = true;
  pool.models = {"*"};
  if (!flags.policy.empty()) {
    const bool valid = std::all_of(flags.policy.begin(), flags.policy.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
             c == '-';
    });
    if (!valid) return flag_error("--policy", flags.policy, "must be a policy name (letters, digits, '.', '_' or '-')");
    pool.policy.name = flags.policy;
  }
  pool.policy.where = ConfigLocation{std::string(kCommandLine), 0, 0, "--policy"};

  if (flags.backends.empty()) {
    return Error{EINVAL, "--backend: at least one backend is required (--backend http://HOST:PORT[=WEIGHT])"};
  }
  for (const auto& text : flags.backends) {
    std::string_view url = text;
    std::uint32_t weight = 1;
    // URL=WEIGHT: a URL has no '=' of its own in the parts kvroute accepts (no query string).
    if (const auto eq = url.rfind('='); eq != std::string_view::npos) {
      const auto weight_text = url.substr(eq + 1);
      auto parsed = parse_integer(weight_text);
      if (!parsed || *parsed < 0 || *parsed > 10'000) {
        return flag_error("--backend", text,
                          "weight must be an integer from 0 to 10000, got \"" + std::string(weight_text) + "\"");
      }
      weight = static_cast<std::uint32_t>(*parsed);
      url = url.substr(0, eq);
    }
    auto backend = parse_backend_url(url);
    if (!backend) return flag_error("--backend", text, backend.error().message);
    const bool duplicate = std::any_of(pool.backends.begin(), pool.backends.end(),
                                       [&](const BackendConfig& b) { return b.url == backend->url; });
    if (duplicate) return flag_error("--backend", text, "the same backend is given twice");
    backend->weight = weight;
    pool.backends.push_back(std::move(*backend));
  }
  if (std::none_of(pool.backends.begin(), pool.backends.end(), [](const BackendConfig& b) { return b.weight > 0; })) {
    return Error{EINVAL, "--backend: every backend has weight 0 (drained); at least one needs a weight >= 1"};
  }
  config.pools.push_back(std::move(pool));
  if (config.admin.listen && config.admin.listen->port != 0 && *config.admin.listen == config.listeners[0].address) {
    return flag_error("--admin", flags.admin, "is the same address as --listen");
  }

  // A backstop: the checks above already cover what one pool built from flags can get wrong.
  if (auto valid = validate_config(config); !valid) return valid.error();
  return config;
}

}  // namespace kvroute::config
