#pragma once
// What GET /v1/models answers. The gateway answers it itself, from the configuration: every pool's
// exact model names and aliases. A pool that names its models only by patterns (`*`, `gpt-*`) or is
// the default pool cannot list them from the configuration, so the control thread asks its backends
// (GET <base>/v1/models, at start-up and then periodically) and adds each reported model that the
// model router would send to that pool. Pure code: building and parsing bodies; the fetching is in
// gateway.cc.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/model_router.h"

namespace kvroute::proxy {

struct DiscoveredModel {
  std::size_t pool = 0;  ///< the pool whose backend reported it
  std::string id;
};

/// Indices of the pools whose backends should be asked for their models (patterns or default).
std::vector<std::size_t> pools_to_discover(const config::GatewayConfig& config);

/// The model ids in a backend's /v1/models body ({"data":[{"id":..},..]}); empty when it does not parse.
std::vector<std::string> parse_model_ids(std::string_view body);

/// The /v1/models body: {"object":"list","data":[{"id","object":"model","created","owned_by"},..]},
/// configured names first (pool order), then aliases, then discovered models that `router` routes to
/// the pool that reported them; no id twice. `created` is a Unix time.
std::string render_models_body(const config::GatewayConfig& config, const config::ModelRouter& router,
                               const std::vector<DiscoveredModel>& discovered, std::int64_t created);

}  // namespace kvroute::proxy
