#pragma once
// Reads the gateway's YAML configuration (docs/configuration.md is the reference).
//
// Strict by design: an unknown key, a value of the wrong type or out of range, a YAML syntax
// error, or a broken cross-field rule (validate_config) refuses the whole file. Every problem
// found is reported, one per line, as
//   FILE:LINE:COLUMN: KEY_PATH: REASON
// e.g. `demo.yaml:12:7: pools[0].backends[1].weight: must be an integer from 0 to 10000, got "abc"`.
// Start-up and reload only (it allocates freely); any thread; no global state except the
// process environment, read through LoadOptions::env.

#include <string>
#include <string_view>

#include "common/result.h"
#include "config/config.h"
#include "config/values.h"

namespace kvroute::config {

struct LoadOptions {
  /// Resolves ${VAR} in header values and the admin token; empty = the process environment.
  EnvLookup env;
  /// At most this many errors are listed; the rest are counted in a last line.
  std::size_t max_errors = 20;
};

/// Reads and checks the file at path; error messages name the file as `path` was written.
/// Error::code is errno when the file cannot be read, EINVAL when its content is refused.
Result<GatewayConfig> load_config_file(const std::string& path, const LoadOptions& options = {});

/// Same for YAML text already in memory; `name` stands for the file name in messages.
Result<GatewayConfig> load_config_string(std::string_view text, std::string_view name, const LoadOptions& options = {});

}  // namespace kvroute::config
