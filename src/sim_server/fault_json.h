#pragma once
// JSON for the /sim/faults control endpoint: the settings as an object, and a partial update
// read from a request body (fields error_rate, error_status, hang, close_after_tokens, slow_ms,
// refuse_connections, queue_limit; missing fields keep their value; unknown fields are refused so
// a typo does not silently do nothing).

#include <string>
#include <string_view>

#include "common/result.h"
#include "sim/failure_modes.h"

namespace kvroute::sim_server {

/// {"error_rate":..,"error_status":..,"hang":..,"close_after_tokens":..,"slow_ms":..,
///  "refuse_connections":..,"queue_limit":..}
std::string fault_settings_json(const sim::FaultSettings& settings);

/// Parses a JSON object into a patch. Error::code 400 with a message naming the field.
Result<sim::FaultSettingsPatch> parse_fault_patch(std::string_view body);

}  // namespace kvroute::sim_server
