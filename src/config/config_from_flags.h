#pragma once
// The quick-start configuration: one pool from command-line flags, no YAML file.
//   kvroute --listen HOST:PORT --backend URL[=WEIGHT] [--backend ...] --policy NAME [--admin HOST:PORT]
// The pool is called "default", is the default pool, matches every model ("*"), and turns the
// x-kvroute-backend response header on so a first run shows where each request went. Every
// other field keeps its documented default.

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"

namespace kvroute::config {

/// The flags exactly as given; an empty string means the flag was absent.
struct QuickStartFlags {
  std::string listen;                 ///< --listen; empty: 0.0.0.0:8080
  std::vector<std::string> backends;  ///< --backend, each URL or URL=WEIGHT; at least one
  std::string policy;                 ///< --policy; empty: least_request
  std::string admin;                  ///< --admin; empty: no admin API
};

/// Builds and validates the one-pool configuration. Errors name the flag and its value, e.g.
/// `--backend http://x:99999: port out of range (1-65535)`. Start-up only; any thread.
Result<GatewayConfig> config_from_flags(const QuickStartFlags& flags);

}  // namespace kvroute::config
