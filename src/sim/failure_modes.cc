#include "sim/failure_modes.h"

namespace kvroute::sim {

Result<void> validate(const FaultSettings& settings) {
  if (!(settings.error_rate >= 0.0 && settings.error_rate <= 1.0)) {  // also refuses NaN
    return Error{400, "error_rate must be in [0, 1]"};
  }
  if (settings.error_status < 400 || settings.error_status > 599) {
    return Error{400, "error_status must be an HTTP error status in [400, 599]"};
  }
  return {};
}

Result<void> FaultPolicy::set(const FaultSettings& settings) {
  if (auto ok = validate(settings); !ok) return ok;
  settings_ = settings;
  return {};
}

Result<void> FaultPolicy::apply(const FaultSettingsPatch& patch) {
  FaultSettings next = settings_;
  if (patch.error_rate) next.error_rate = *patch.error_rate;
  if (patch.error_status) next.error_status = *patch.error_status;
  if (patch.hang) next.hang = *patch.hang;
  if (patch.close_after_tokens) next.close_after_tokens = *patch.close_after_tokens;
  if (patch.slow_ms) next.slow_ms = *patch.slow_ms;
  if (patch.refuse_connections) next.refuse_connections = *patch.refuse_connections;
  if (patch.queue_limit) next.queue_limit = *patch.queue_limit;
  return set(next);
}

RequestFault FaultPolicy::decide_request(Random& random, std::uint32_t waiting_requests) const {
  RequestFault out;
  if (settings_.hang) {
    out.kind = RequestFault::Kind::kHang;
    return out;
  }
  const double rate = settings_.error_rate;
  // Rates 0 and 1 are decided without a draw, so turning errors fully on or off does not shift
  // the random stream that later decisions see.
  const bool error = rate >= 1.0 || (rate > 0.0 && random.uniform01() < rate);
  if (error) {
    out.kind = RequestFault::Kind::kError;
    out.status = settings_.error_status;
    return out;
  }
  if (settings_.queue_limit > 0 && waiting_requests >= settings_.queue_limit) {
    out.kind = RequestFault::Kind::kQueueFull;
    out.status = 503;
    return out;
  }
  out.close_after_tokens = settings_.close_after_tokens;
  out.token_delay_ms = settings_.slow_ms;
  return out;
}

}  // namespace kvroute::sim
