#pragma once
// Calibration report: what the engine does, in virtual time, for each preset, next to an
// independent closed-form evaluation of the step formula (SIMULATOR-FACTS.md section 7.2) and the
// published or derived figure from SIMULATOR-FACTS.md section 7.3/7.4 where one exists.
// `kvroute-sim --calibrate` prints calibration_markdown(builtin_presets()); docs/calibration.md
// explains the rows.

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sim/preset.h"

namespace kvroute::sim {

struct CalibrationRow {
  std::string preset;
  std::string quantity;               ///< e.g. "TTFT, 8k-token prompt alone"
  std::string unit;                   ///< "ms" or "tokens"
  std::optional<double> measured;     ///< engine in virtual time; nullopt when it does not fit the preset
  std::optional<double> closed_form;  ///< the formula evaluated directly, without the engine
  std::string facts;                  ///< SIMULATOR-FACTS.md figure as written there ("7.5-8.5"); empty if none
  std::optional<double> facts_value;  ///< that figure as a number (midpoint of a range)
  std::string note;                   ///< why a value is missing, or where the facts figure comes from
};

/// Runs the calibration workloads for one preset on fresh engines. Deterministic; takes well under a
/// second per preset. Any thread (uses no shared state).
std::vector<CalibrationRow> calibrate(const Preset& preset);

/// The rows of every preset as one Markdown table (with a short legend above it).
std::string calibration_markdown(std::span<const Preset> presets);

}  // namespace kvroute::sim
