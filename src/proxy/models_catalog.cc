#include "proxy/models_catalog.h"

#include <nlohmann/json.hpp>
#include <set>

#include "config/values.h"

namespace kvroute::proxy {

std::vector<std::size_t> pools_to_discover(const config::GatewayConfig& config) {
  std::vector<std::size_t> out;
  for (std::size_t p = 0; p < config.pools.size(); ++p) {
    const auto& pool = config.pools[p];
    bool has_glob = pool.is_default;
    for (const auto& m : pool.models) has_glob = has_glob || config::is_glob(m);
    if (has_glob) out.push_back(p);
  }
  return out;
}

std::vector<std::string> parse_model_ids(std::string_view body) {
  std::vector<std::string> ids;
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return ids;
  const auto data = j.find("data");
  if (data == j.end() || !data->is_array()) return ids;
  for (const auto& entry : *data) {
    if (!entry.is_object()) continue;
    const auto id = entry.find("id");
    if (id != entry.end() && id->is_string()) ids.push_back(id->get<std::string>());
  }
  return ids;
}

std::string render_models_body(const config::GatewayConfig& config, const config::ModelRouter& router,
                               const std::vector<DiscoveredModel>& discovered, std::int64_t created) {
  nlohmann::json data = nlohmann::json::array();
  std::set<std::string, std::less<>> seen;
  auto add = [&](const std::string& id, const std::string& root) {
    if (!seen.insert(id).second) return;
    nlohmann::json entry = {{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "kvroute"}};
    if (!root.empty()) entry["root"] = root;
    data.push_back(std::move(entry));
  };
  for (const auto& pool : config.pools) {
    for (const auto& m : pool.models) {
      if (!config::is_glob(m)) add(m, {});
    }
  }
  for (const auto& pool : config.pools) {
    for (const auto& [alias, target] : pool.aliases) add(alias, target);
  }
  for (const auto& d : discovered) {
    const auto route = router.route(d.id);
    if (route && route->pool == d.pool && !route->rewritten_model) add(d.id, {});
  }
  const nlohmann::json body = {{"object", "list"}, {"data", std::move(data)}};
  return body.dump();
}

}  // namespace kvroute::proxy
