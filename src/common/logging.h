#pragma once
// Process-wide logging setup (spdlog). Call once from main(); libraries just use spdlog::info etc.

#include <string_view>

namespace kvroute {

/// level: trace, debug, info, warn, error, off. Throws std::invalid_argument on an unknown level.
void setup_logging(std::string_view program, std::string_view level);

}  // namespace kvroute
