#pragma once
// Maps a request's model name to the pool that serves it, once per request.
//
// Order (docs/configuration.md, "Which pool gets a request"):
//   1. an exact model name listed by a pool;
//   2. an alias (the request is sent on with the alias's target as its model);
//   3. the first glob pattern that matches, in file order (pools in order, patterns in order);
//   4. the default pool, if there is one;
//   otherwise none, and the caller answers 404 (model not found).
// validate_config guarantees that exact names and aliases are unique across pools, so steps 1
// and 2 share one hash map. Built once per configuration snapshot (control thread), then only
// read: route() is const, lock-free and allocation-free, callable from any worker thread.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"

namespace kvroute::config {

struct ModelRoute {
  std::size_t pool = 0;  ///< index into GatewayConfig::pools
  /// The model name to send upstream when an alias rewrote it; none = send the request's own.
  /// Points into the ModelRouter, valid as long as it lives.
  std::optional<std::string_view> rewritten_model;
  bool operator==(const ModelRoute&) const = default;
};

class ModelRouter {
 public:
  /// Copies what it needs from config (it does not keep a reference). Meant for a config that
  /// passed validate_config; on one that did not, the first claim of a name wins.
  explicit ModelRouter(const GatewayConfig& config);

  /// The pool for `model`, or none. Any thread; no locks, no allocation.
  std::optional<ModelRoute> route(std::string_view model) const;

 private:
  // Transparent hashing so a string_view finds a std::string key without building one.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept;
  };
  struct Entry {
    std::size_t pool = 0;
    std::optional<std::string> target;  ///< set for aliases
  };
  struct Glob {
    std::string pattern;
    std::size_t pool = 0;
  };

  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> exact_;
  std::vector<Glob> globs_;
  std::optional<std::size_t> default_pool_;
};

}  // namespace kvroute::config
