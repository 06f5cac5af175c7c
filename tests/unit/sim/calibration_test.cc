#include "sim/calibration.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>

namespace kvroute::sim {
namespace {

// Acceptance check: for every preset, everything the engine measures in virtual time is within
// 10 % of the closed-form value of the section 7.2 formula.
TEST(CalibrationTest, EngineMatchesTheClosedFormWithinTenPercentForEveryPreset) {
  for (const Preset& p : builtin_presets()) {
    const auto rows = calibrate(p);
    int measured = 0;
    for (const CalibrationRow& r : rows) {
      if (!r.measured) continue;
      ++measured;
      ASSERT_TRUE(r.closed_form.has_value()) << p.name << ": " << r.quantity;
      EXPECT_NEAR(*r.measured / *r.closed_form, 1.0, 0.10) << p.name << ": " << r.quantity;
    }
    EXPECT_GE(measured, 3) << p.name;  // tiny fits only the 1k TTFT, batch-1 decode and KV rows
  }
}

TEST(CalibrationTest, RealPresetsMeasureEveryRowAndHaveFactsFigures) {
  for (const Preset& p : builtin_presets()) {
    if (p.name == "tiny") continue;
    int facts = 0;
    for (const CalibrationRow& r : calibrate(p)) {
      EXPECT_TRUE(r.measured.has_value()) << p.name << ": " << r.quantity;
      if (r.facts_value) ++facts;
    }
    EXPECT_GE(facts, 3) << p.name;  // 4k prefill, low-batch ITL, KV capacity
  }
}

TEST(CalibrationTest, LowBatchItlAndFourKPrefillAreInTheFactsRangesOnL8BH100) {
  for (const CalibrationRow& r : calibrate(*find_preset("L8B-H100"))) {
    if (r.quantity.starts_with("decode step (ITL), batch 1 ")) {
      EXPECT_GE(*r.measured, 7.5);
      EXPECT_LE(*r.measured, 8.5);
    }
    if (r.quantity.starts_with("TTFT, 4k")) {
      EXPECT_NEAR(*r.measured, 97, 97 * 0.05);
    }
    if (r.quantity == "KV capacity") {
      EXPECT_NEAR(*r.measured, 440000, 1000);
    }
  }
}

// Prints the table (docs/calibration.md is this output); KVROUTE_PRINT_CALIBRATION=1 to see it.
TEST(CalibrationTest, MarkdownHasOneLinePerRow) {
  const std::string md = calibration_markdown(builtin_presets());
  std::size_t rows = 0;
  for (const Preset& p : builtin_presets()) rows += calibrate(p).size();
  std::size_t lines = 0;
  for (char c : md) lines += c == '\n' ? 1 : 0;
  EXPECT_EQ(lines, rows + 5);  // legend (2 lines + blank) + header + separator
  if (std::getenv("KVROUTE_PRINT_CALIBRATION")) std::cout << md;
}

}  // namespace
}  // namespace kvroute::sim
