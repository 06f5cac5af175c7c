// Cross-field rules of GatewayConfig (declared in config.h). Each field's own syntax and range are
// checked where it is read (load_config.cc, config_from_flags.cc); this file checks what only
// the whole configuration can tell, and reports every violation, not just the first.

#include <algorithm>
#include <cerrno>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "config/values.h"

namespace kvroute::config {
namespace {

class Validator {
 public:
  explicit Validator(const GatewayConfig& config) : config_(config) {}

  Result<void> run() {
    check_listeners();
    check_pools();
    if (errors_.empty()) return {};
    std::string message;
    for (const auto& e : errors_) {
      if (!message.empty()) message += '\n';
      message += e;
    }
    return Error{EINVAL, std::move(message)};
  }

 private:
  void fail(const std::string& path, const std::string& reason) {
    errors_.push_back(format_config_error(config_.sources.at(path), reason));
  }

  // " (line N)" when the path was written in a file, to point at the other half of a conflict.
  std::string line_of(const std::string& path) const {
    const auto at = config_.sources.at(path);
    return at.line > 0 ? " (" + path + ", line " + std::to_string(at.line) + ")" : " (" + path + ")";
  }

  void check_listeners() {
    if (config_.listeners.empty()) fail("listeners", "at least one listener is required");
    std::unordered_map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < config_.listeners.size(); ++i) {
      const auto& address = config_.listeners[i].address;
      if (address.port == 0) continue;  // every port-0 socket gets its own free port
      const auto [it, fresh] = seen.emplace(address.to_string(), i);
      if (!fresh) {
        fail(key_path_index("listeners", i) + ".address",
             "\"" + address.to_string() + "\" is already used" + line_of(key_path_index("listeners", it->second)));
      }
    }
    if (config_.admin.listen && config_.admin.listen->port != 0) {
      if (const auto it = seen.find(config_.admin.listen->to_string()); it != seen.end()) {
        fail("admin.listen", "\"" + config_.admin.listen->to_string() + "\" is also a listener address" +
                                 line_of(key_path_index("listeners", it->second)));
      }
    }
  }

  // Whether pool p would accept a request for `model` (exact name, glob, or being the default).
  static bool pool_serves(const PoolConfig& pool, const std::string& model) {
    if (pool.is_default) return true;
    return std::any_of(pool.models.begin(), pool.models.end(), [&](const std::string& pattern) {
      return is_glob(pattern) ? glob_match(pattern, model) : pattern == model;
    });
  }

  static bool some_backend_serves(const PoolConfig& pool, const std::string& model) {
    return std::any_of(pool.backends.begin(), pool.backends.end(), [&](const BackendConfig& b) {
      return b.models.empty() || std::find(b.models.begin(), b.models.end(), model) != b.models.end();
    });
  }

  void check_pools() {
    if (config_.pools.empty()) {
      fail("pools", "at least one pool is required");
      return;
    }
    std::unordered_map<std::string, std::size_t> names;
    std::optional<std::size_t> default_pool;
    // Model names and patterns (exact strings) and alias names, across all pools: who claimed them.
    std::unordered_map<std::string, std::string> models;  // -> key path of the first claim
    std::unordered_map<std::string, std::size_t> model_pool;
    for (std::size_t i = 0; i < config_.pools.size(); ++i) {
      const auto& pool = config_.pools[i];
      const std::string path = key_path_index("pools", i);
      if (const auto [it, fresh] = names.emplace(pool.name, i); !fresh) {
        fail(path + ".name",
             "pool \"" + pool.name + "\" is already defined" + line_of(key_path_index("pools", it->second)));
      }
      if (pool.is_default) {
        if (default_pool) {
          fail(path + ".default", "pool \"" + config_.pools[*default_pool].name +
                                      "\" is already the default pool; at most one pool may be" +
                                      line_of(key_path_index("pools", *default_pool) + ".default"));
        } else {
          default_pool = i;
        }
      }
      if (pool.models.empty() && pool.aliases.empty() && !pool.is_default) {
        fail(path, "pool \"" + pool.name + "\" matches no model: give it models, aliases or default: true");
      }
      for (std::size_t k = 0; k < pool.models.size(); ++k) {
        const std::string model_path = key_path_index(path + ".models", k);
        const auto [it, fresh] = models.emplace(pool.models[k], model_path);
        if (!fresh) {
          const std::size_t other = model_pool[pool.models[k]];
          fail(model_path,
               "\"" + pool.models[k] + "\" is " +
                   (other == i ? "listed twice" : "also claimed by pool \"" + config_.pools[other].name + "\"") +
                   line_of(it->second));
        } else {
          model_pool[pool.models[k]] = i;
        }
      }
      check_backends(pool, path);
      check_timeouts(pool.timeouts, path + ".timeouts");
      check_metrics(pool.metrics, path + ".metrics");
    }
    // Aliases after every model is known, so an alias may not shadow a model of a later pool.
    for (std::size_t i = 0; i < config_.pools.size(); ++i) {
      const auto& pool = config_.pools[i];
      const std::string path = key_path_index("pools", i);
      for (const auto& [alias, target] : pool.aliases) {
        const std::string alias_path = key_path_child(path + ".aliases", alias);
        if (is_glob(alias)) {
          fail(alias_path, "an alias is an exact model name; it may not contain '*' or '?'");
          continue;
        }
        if (const auto [it, fresh] = models.emplace(alias, alias_path); !fresh) {
          const std::size_t other = model_pool.count(alias) ? model_pool[alias] : i;
          fail(alias_path, "alias \"" + alias + "\" is already a model name or alias of pool \"" +
                               config_.pools[other].name + "\"" + line_of(it->second));
          continue;
        }
        model_pool[alias] = i;
        if (pool.aliases.count(target)) {
          fail(alias_path, "target \"" + target + "\" is itself an alias; point at the real model name");
        } else if (!pool_serves(pool, target)) {
          fail(alias_path, "target \"" + target + "\" is not a model of pool \"" + pool.name + "\" (add it to models)");
        } else if (!some_backend_serves(pool, target)) {
          fail(alias_path, "target \"" + target + "\" is served by no backend of pool \"" + pool.name + "\"");
        }
      }
      for (std::size_t k = 0; k < pool.models.size(); ++k) {
        const auto& model = pool.models[k];
        if (!is_glob(model) && !some_backend_serves(pool, model)) {
          fail(key_path_index(path + ".models", k), "\"" + model + "\" is served by no backend of pool \"" + pool.name +
                                                        "\" (every backend lists models, none this one)");
        }
      }
    }
  }

  void check_backends(const PoolConfig& pool, const std::string& path) {
    if (pool.backends.empty()) {
      fail(path + ".backends", "at least one backend is required");
      return;
    }
    std::unordered_map<std::string, std::size_t> urls;
    std::unordered_map<std::string, std::size_t> names;
    bool any_weight = false;
    for (std::size_t j = 0; j < pool.backends.size(); ++j) {
      const auto& backend = pool.backends[j];
      const std::string backend_path = key_path_index(path + ".backends", j);
      any_weight = any_weight || backend.weight > 0;
      if (const auto [it, fresh] = urls.emplace(backend.url, j); !fresh) {
        fail(backend_path + ".url", "\"" + backend.url + "\" is listed twice in this pool" +
                                        line_of(key_path_index(path + ".backends", it->second)));
      } else if (const auto [it2, fresh2] = names.emplace(backend.name, j); !fresh2) {
        fail(backend_path + ".name", "name \"" + backend.name + "\" is already used in this pool" +
                                         line_of(key_path_index(path + ".backends", it2->second)));
      }
      for (std::size_t k = 0; k < backend.models.size(); ++k) {
        const auto& model = backend.models[k];
        const std::string model_path = key_path_index(backend_path + ".models", k);
        if (is_glob(model)) {
          fail(model_path, "a backend lists exact model names; \"" + model + "\" contains '*' or '?'");
        } else if (!pool_serves(pool, model)) {
          fail(model_path, "\"" + model + "\" is not a model of pool \"" + pool.name + "\"");
        }
      }
    }
    if (!any_weight) {
      fail(path + ".backends", "every backend has weight 0 (drained); at least one needs a weight >= 1");
    }
  }

  void check_timeouts(const TimeoutsConfig& t, const std::string& path) {
    const std::pair<const char*, Nanos> fields[] = {
        {"connect", t.connect}, {"first_token", t.first_token}, {"stream_idle", t.stream_idle}, {"total", t.total}};
    for (const auto& [name, value] : fields) {
      if (value <= 0) {
        fail(path + "." + name, "must be longer than 0s");
      } else if (value > t.total && t.total > 0) {
        fail(path + "." + name, format_duration(value) + " is longer than timeouts.total (" + format_duration(t.total) +
                                    "), which would cut it short");
      }
    }
  }

  void check_metrics(const MetricsScrapeConfig& m, const std::string& path) {
    if (m.enabled == false) return;
    if (m.interval < 10 * kNanosPerMilli) {
      fail(path + ".interval",
           format_duration(m.interval) + " is too short: at least 10ms (every scrape costs the backend CPU)");
    }
    if (m.timeout > 100 * m.interval) {
      fail(path + ".timeout",
           format_duration(m.timeout) + " is longer than 100 x interval; figures that old are useless");
    }
  }

  const GatewayConfig& config_;
  std::vector<std::string> errors_;
};

}  // namespace

Result<void> validate_config(const GatewayConfig& config) { return Validator(config).run(); }

}  // namespace kvroute::config
