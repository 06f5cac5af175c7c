#pragma once
// kvroute-sim's command line (CLI11): how many instances, where they listen, what each simulates,
// and the faults they start with. Parsing is separate from running so tests can check it.

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "sim_server/instance.h"

namespace kvroute::sim_server {

struct SimServerOptions {
  std::vector<InstanceConfig> instances;  ///< resolved, one per instance, ports filled in
  std::uint32_t threads = 1;              ///< resolved: --threads or min(instances, cores)
  std::string log_level = "info";
  bool calibrate = false;     ///< print the calibration table and exit
  bool list_presets = false;  ///< print the presets and exit
};

/// Parses argv (argv[0] is the program). On --help, Error::code is 0 and the message is the help
/// text (print it, exit 0); on a bad option Error::code is 2 and the message says what is wrong.
Result<SimServerOptions> parse_options(int argc, const char* const* argv);

/// A table of the built-in presets (name, model, blocks, limits) for --list-presets.
std::string presets_table();

}  // namespace kvroute::sim_server
