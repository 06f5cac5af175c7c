#include "config/model_router.h"

#include "common/hash.h"
#include "config/values.h"

namespace kvroute::config {

std::size_t ModelRouter::Hash::operator()(std::string_view s) const noexcept { return hash_string(s); }

ModelRouter::ModelRouter(const GatewayConfig& config) {
  for (std::size_t i = 0; i < config.pools.size(); ++i) {
    for (const auto& model : config.pools[i].models) {
      if (is_glob(model)) {
        globs_.push_back(Glob{model, i});
      } else {
        exact_.try_emplace(model, Entry{i, std::nullopt});
      }
    }
  }
  // Aliases after every exact name, so an exact name always wins over an alias of the same text.
  for (std::size_t i = 0; i < config.pools.size(); ++i) {
    for (const auto& [alias, target] : config.pools[i].aliases) {
      exact_.try_emplace(alias, Entry{i, target});
    }
    if (config.pools[i].is_default && !default_pool_) default_pool_ = i;
  }
}

std::optional<ModelRoute> ModelRouter::route(std::string_view model) const {
  if (const auto it = exact_.find(model); it != exact_.end()) {
    const Entry& entry = it->second;
    if (entry.target) return ModelRoute{entry.pool, std::string_view(*entry.target)};
    return ModelRoute{entry.pool, std::nullopt};
  }
  for (const auto& glob : globs_) {
    if (glob_match(glob.pattern, model)) return ModelRoute{glob.pool, std::nullopt};
  }
  if (default_pool_) return ModelRoute{*default_pool_, std::nullopt};
  return std::nullopt;
}

}  // namespace kvroute::config
