#include "bench/fleet.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace kvroute::bench {
namespace {

constexpr int kInvalidArgument = 22;

std::string known_presets() {
  std::string out;
  for (const auto& p : sim::builtin_presets()) {
    if (!out.empty()) out += ", ";
    out += p.name;
  }
  return out;
}

Result<const sim::Preset*> lookup(std::string_view name) {
  const sim::Preset* p = sim::find_preset(name);
  if (p == nullptr) {
    return Error{kInvalidArgument, fmt::format("unknown preset '{}' (known: {})", name, known_presets())};
  }
  return p;
}

void expand(Fleet& fleet, const FleetEntry& e, const sim::Preset* preset) {
  for (std::uint32_t i = 0; i < e.count; ++i) fleet.backends.push_back(FleetBackend{preset, e.speed_factor, e.weight});
}

std::string where(std::string_view source, const YAML::Node& node) {
  const auto m = node.Mark();
  return fmt::format("{}:{}:{}", source, m.line + 1, m.column + 1);
}

}  // namespace

std::string Fleet::preset_label() const {
  std::vector<std::string_view> seen;
  std::string out;
  for (const auto& b : backends) {
    const std::string_view name = b.preset->name;
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
    seen.push_back(name);
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

Result<Fleet> fleet_from_presets(std::string_view preset_list, std::uint32_t backends) {
  if (backends == 0) return Error{kInvalidArgument, "--backends must be at least 1"};
  std::vector<const sim::Preset*> presets;
  while (true) {
    const std::size_t comma = preset_list.find(',');
    auto p = lookup(preset_list.substr(0, comma));
    if (!p) return p.error();
    presets.push_back(*p);
    if (comma == std::string_view::npos) break;
    preset_list.remove_prefix(comma + 1);
  }
  Fleet fleet;
  for (std::uint32_t i = 0; i < backends; ++i) {
    const sim::Preset* p = presets[i % presets.size()];
    fleet.backends.push_back(FleetBackend{p, 1.0, 1});
  }
  // Entries summarise the expansion: one per distinct preset, with its backend count.
  for (std::size_t k = 0; k < presets.size() && k < backends; ++k) {
    bool merged = false;
    for (auto& e : fleet.entries) {
      if (e.preset == presets[k]->name) merged = true;
    }
    if (merged) continue;
    FleetEntry e;
    e.preset = presets[k]->name;
    e.count = 0;
    for (const auto& b : fleet.backends) e.count += b.preset == presets[k] ? 1 : 0;
    fleet.entries.push_back(e);
  }
  return fleet;
}

Result<Fleet> parse_fleet(std::string_view text, std::string_view source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return Error{kInvalidArgument, fmt::format("{}:{}:{}: {}", source, e.mark.line + 1, e.mark.column + 1, e.msg)};
  }
  if (!root.IsSequence() || root.size() == 0) {
    return Error{kInvalidArgument,
                 fmt::format("{}: expected a non-empty list of {{preset, count, speed_factor, weight}}", source)};
  }
  Fleet fleet;
  try {
    for (const auto& item : root) {
      if (!item.IsMap()) return Error{kInvalidArgument, where(source, item) + ": expected a map with 'preset'"};
      FleetEntry e;
      bool has_preset = false;
      for (const auto& kv : item) {
        const auto key = kv.first.as<std::string>();
        const YAML::Node& v = kv.second;
        if (key == "preset") {
          e.preset = v.as<std::string>();
          has_preset = true;
        } else if (key == "count") {
          const auto c = v.as<long long>();
          if (c < 1 || c > 100000) return Error{kInvalidArgument, where(source, v) + ": count must be in [1, 100000]"};
          e.count = static_cast<std::uint32_t>(c);
        } else if (key == "speed_factor") {
          e.speed_factor = v.as<double>();
          if (!(e.speed_factor > 0) || !std::isfinite(e.speed_factor)) {
            return Error{kInvalidArgument, where(source, v) + ": speed_factor must be > 0"};
          }
        } else if (key == "weight") {
          const auto w = v.as<long long>();
          if (w < 1 || w > 1000000)
            return Error{kInvalidArgument, where(source, v) + ": weight must be in [1, 1000000]"};
          e.weight = static_cast<std::uint32_t>(w);
        } else {
          return Error{kInvalidArgument, where(source, kv.first) + ": unknown key '" + key +
                                             "' (known: preset, count, speed_factor, weight)"};
        }
      }
      if (!has_preset) return Error{kInvalidArgument, where(source, item) + ": missing 'preset'"};
      auto p = lookup(e.preset);
      if (!p) return Error{kInvalidArgument, where(source, item) + ": " + p.error().message};
      expand(fleet, e, *p);
      fleet.entries.push_back(std::move(e));
    }
  } catch (const YAML::Exception& e) {
    return Error{kInvalidArgument, fmt::format("{}:{}:{}: {}", source, e.mark.line + 1, e.mark.column + 1, e.msg)};
  }
  return fleet;
}

Result<Fleet> read_fleet(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{kInvalidArgument, fmt::format("{}: cannot open the fleet file", path)};
  std::ostringstream buf;
  buf << in.rdbuf();
  return parse_fleet(buf.str(), path);
}

}  // namespace kvroute::bench
