#pragma once
// The simulated fleet: which preset (and speed) each backend runs.
//
//   --preset NAME --backends N        N backends of one preset
//   --preset A,B --backends N         backend i runs preset i % 2 (A, B, A, B, ...)
//   --fleet FILE                      a YAML or JSON list of entries, expanded in order:
//       - preset: L8B-H100            (required) a built-in preset name
//         count: 4                    (default 1) backends of this kind
//         speed_factor: 1.0           (default 1) divides every modelled time (a faster instance)
//         weight: 1                   (default 1) the backend's configured weight (weighted policies)
// Start-up code.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "sim/preset.h"

namespace kvroute::bench {

struct FleetEntry {
  std::string preset;
  double speed_factor = 1.0;
  std::uint32_t count = 1;
  std::uint32_t weight = 1;
};

struct FleetBackend {
  const sim::Preset* preset = nullptr;  ///< a built-in preset (static storage)
  double speed_factor = 1.0;
  std::uint32_t weight = 1;
};

struct Fleet {
  std::vector<FleetEntry> entries;     ///< as configured (for reports)
  std::vector<FleetBackend> backends;  ///< one per simulated server, in backend-index order
  /// The preset names, comma-separated in order of first appearance ("L8B-H100").
  std::string preset_label() const;
};

/// N backends from a comma-separated preset list (see the file comment). Errors (22): unknown preset
/// (listing the known ones), N == 0.
Result<Fleet> fleet_from_presets(std::string_view preset_list, std::uint32_t backends);

/// Parses a fleet file's text (YAML; JSON is accepted as YAML). Errors (22) as "SOURCE:LINE:COLUMN: ...":
/// not a non-empty list, unknown key, unknown preset, count 0, speed_factor <= 0, weight 0.
Result<Fleet> parse_fleet(std::string_view text, std::string_view source);

/// Reads and parses a fleet file.
Result<Fleet> read_fleet(const std::string& path);

}  // namespace kvroute::bench
