#include "proxy/scrape_targets.h"

#include <algorithm>
#include <string>
#include <unordered_map>

namespace kvroute::proxy {

std::vector<upstream::ScrapeTarget> scrape_targets(const RoutingSnapshot& snapshot) {
  std::vector<upstream::ScrapeTarget> out;
  std::unordered_map<std::string, std::size_t> by_key;  // url + '\n' + path -> index in out
  for (const PoolRuntime& pool : snapshot.pools) {
    const config::MetricsScrapeConfig& m = pool.config.metrics;
    if (!m.enabled.value_or(pool.factory->reads_backend_metrics())) continue;
    for (std::uint32_t i = 0; i < pool.set->size(); ++i) {
      const routing::Backend& backend = (*pool.set)[i];
      const upstream::BackendTarget& target = pool.targets[i];
      const auto [it, fresh] = by_key.emplace(target.url + '\n' + m.path, out.size());
      if (fresh) {
        upstream::ScrapeTarget t;
        t.backend = target;
        t.path = m.path;
        t.interval = m.interval;
        t.timeout = m.timeout;
        out.push_back(std::move(t));
      }
      upstream::ScrapeTarget& t = out[it->second];
      t.interval = std::min(t.interval, m.interval);
      t.timeout = std::max(t.timeout, m.timeout);
      if (std::find(t.states.begin(), t.states.end(), backend.shared_state) == t.states.end()) {
        t.states.push_back(backend.shared_state);
      }
    }
  }
  return out;
}

}  // namespace kvroute::proxy
