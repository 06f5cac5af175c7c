#include "sim_server/fault_json.h"

#include <cstdint>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace kvroute::sim_server {

std::string fault_settings_json(const sim::FaultSettings& s) {
  return fmt::format(
      R"({{"error_rate":{},"error_status":{},"hang":{},"close_after_tokens":{},"slow_ms":{},"refuse_connections":{},"queue_limit":{}}})",
      s.error_rate, s.error_status, s.hang, s.close_after_tokens, s.slow_ms, s.refuse_connections, s.queue_limit);
}

Result<sim::FaultSettingsPatch> parse_fault_patch(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error{400, "Invalid JSON in request body."};
  if (!j.is_object()) return Error{400, "Expected a JSON object with fault settings."};

  sim::FaultSettingsPatch patch;
  auto as_u32 = [](const nlohmann::json& v, std::string_view key) -> Result<std::uint32_t> {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 ||
        v.get<std::int64_t>() > std::numeric_limits<std::uint32_t>::max()) {
      return Error{400, fmt::format("'{}' must be a non-negative integer.", key)};
    }
    return static_cast<std::uint32_t>(v.get<std::int64_t>());
  };
  auto as_bool = [](const nlohmann::json& v, std::string_view key) -> Result<bool> {
    if (!v.is_boolean()) return Error{400, fmt::format("'{}' must be true or false.", key)};
    return v.get<bool>();
  };
  for (const auto& [key, v] : j.items()) {
    if (key == "error_rate") {
      if (!v.is_number()) return Error{400, "'error_rate' must be a number in [0, 1]."};
      patch.error_rate = v.get<double>();
    } else if (key == "error_status") {
      auto r = as_u32(v, key);
      if (!r) return r.error();
      patch.error_status = static_cast<int>(*r);
    } else if (key == "hang") {
      auto r = as_bool(v, key);
      if (!r) return r.error();
      patch.hang = *r;
    } else if (key == "close_after_tokens") {
      auto r = as_u32(v, key);
      if (!r) return r.error();
      patch.close_after_tokens = *r;
    } else if (key == "slow_ms") {
      auto r = as_u32(v, key);
      if (!r) return r.error();
      patch.slow_ms = *r;
    } else if (key == "refuse_connections") {
      auto r = as_bool(v, key);
      if (!r) return r.error();
      patch.refuse_connections = *r;
    } else if (key == "queue_limit") {
      auto r = as_u32(v, key);
      if (!r) return r.error();
      patch.queue_limit = *r;
    } else {
      return Error{400, fmt::format("Unknown fault setting '{}' (known: error_rate, error_status, hang, "
                                    "close_after_tokens, slow_ms, refuse_connections, queue_limit).",
                                    key)};
    }
  }
  return patch;
}

}  // namespace kvroute::sim_server
