#include "bench/fleet.h"

#include <gtest/gtest.h>

namespace kvroute::bench {
namespace {

TEST(FleetTest, OnePresetForEveryBackend) {
  auto f = fleet_from_presets("L8B-H100", 3);
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->backends.size(), 3u);
  for (const auto& b : f->backends) {
    EXPECT_EQ(b.preset->name, "L8B-H100");
    EXPECT_EQ(b.speed_factor, 1.0);
  }
  ASSERT_EQ(f->entries.size(), 1u);
  EXPECT_EQ(f->entries[0].count, 3u);
  EXPECT_EQ(f->preset_label(), "L8B-H100");
}

TEST(FleetTest, CommaListIsAssignedRoundRobin) {
  auto f = fleet_from_presets("L8B-H100,L8B-H200", 5);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->backends[0].preset->name, "L8B-H100");
  EXPECT_EQ(f->backends[1].preset->name, "L8B-H200");
  EXPECT_EQ(f->backends[4].preset->name, "L8B-H100");
  ASSERT_EQ(f->entries.size(), 2u);
  EXPECT_EQ(f->entries[0].count, 3u);
  EXPECT_EQ(f->entries[1].count, 2u);
  EXPECT_EQ(f->preset_label(), "L8B-H100,L8B-H200");
}

TEST(FleetTest, UnknownPresetOrNoBackendsIsAnError) {
  auto f = fleet_from_presets("L8B-H100,B200", 2);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("unknown preset 'B200' (known: L8B-H100, "), std::string::npos);
  EXPECT_FALSE(fleet_from_presets("tiny", 0).ok());
}

TEST(FleetTest, YamlFleetFileExpandsInOrder) {
  auto f = parse_fleet(
      "- preset: L8B-H100\n"
      "  count: 2\n"
      "- preset: L8B-H200\n"
      "  speed_factor: 1.5\n"
      "  weight: 3\n",
      "fleet.yaml");
  ASSERT_TRUE(f.ok()) << f.error().message;
  ASSERT_EQ(f->backends.size(), 3u);
  EXPECT_EQ(f->backends[1].preset->name, "L8B-H100");
  EXPECT_EQ(f->backends[2].preset->name, "L8B-H200");
  EXPECT_EQ(f->backends[2].speed_factor, 1.5);
  EXPECT_EQ(f->backends[2].weight, 3u);
  EXPECT_EQ(f->entries.size(), 2u);
}

TEST(FleetTest, JsonFleetFileIsAccepted) {
  auto f = parse_fleet(R"([{"preset": "tiny", "count": 4, "speed_factor": 2}])", "fleet.json");
  ASSERT_TRUE(f.ok()) << f.error().message;
  ASSERT_EQ(f->backends.size(), 4u);
  EXPECT_EQ(f->backends[3].speed_factor, 2.0);
}

TEST(FleetTest, BadFleetFilesNameTheLine) {
  auto unknown_key = parse_fleet("- preset: tiny\n  cuont: 2\n", "f.yaml");
  ASSERT_FALSE(unknown_key.ok());
  EXPECT_EQ(unknown_key.error().message,
            "f.yaml:2:3: unknown key 'cuont' (known: preset, count, speed_factor, weight)");
  auto zero = parse_fleet("- preset: tiny\n- preset: tiny\n  count: 0\n", "f.yaml");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().message, "f.yaml:3:10: count must be in [1, 100000]");
  auto bad_preset = parse_fleet("- preset: nope\n", "f.yaml");
  ASSERT_FALSE(bad_preset.ok());
  EXPECT_EQ(bad_preset.error().message.rfind("f.yaml:1:3: unknown preset 'nope'", 0), 0u) << bad_preset.error().message;
  EXPECT_FALSE(parse_fleet("preset: tiny\n", "f.yaml").ok());
  EXPECT_FALSE(parse_fleet("- preset: tiny\n  speed_factor: 0\n", "f.yaml").ok());
  EXPECT_FALSE(parse_fleet("- count: 2\n", "f.yaml").ok());
  EXPECT_FALSE(read_fleet("/nonexistent/fleet.yaml").ok());
}

}  // namespace
}  // namespace kvroute::bench
