#pragma once
// Failure injection for simulated inference servers, as a sans-IO policy: the server asks what to
// do with each request (and whether its listener should be open) and acts on the answer; this
// file never touches a socket or a clock, so every decision can be tested step by step.
//
// The modes (all off by default; several may be on at once):
//   error_rate / error_status   answer that fraction of requests with that status and an
//                               OpenAI error body, without running them
//   hang                        read the request and never answer (until the client gives up)
//   close_after_tokens          close the connection after K generated tokens (streamed: exactly
//                               K content events reach the client, then EOF)
//   slow_ms                     wait this long before sending each token
//   refuse_connections          close the listening socket (connect fails); reopen when cleared
//   queue_limit                 answer 503 while the engine already has this many requests waiting
// Per request the checks run in that order: hang, then the error draw, then the queue limit; the
// first that fires decides. A request that passes all three runs, with close_after_tokens and
// slow_ms applied to its answer.

#include <cstdint>
#include <optional>
#include <string>

#include "common/random.h"
#include "common/result.h"

namespace kvroute::sim {

/// Current fault settings of one simulated instance. Defaults: no faults.
struct FaultSettings {
  double error_rate = 0.0;        ///< fraction in [0, 1] of requests answered with error_status
  int error_status = 500;         ///< HTTP status in [400, 599] for injected errors
  bool hang = false;              ///< accept and read requests, never answer
  std::uint32_t close_after_tokens = 0;  ///< 0: off; else close the connection after K tokens
  std::uint32_t slow_ms = 0;      ///< delay before each token, in milliseconds
  bool refuse_connections = false;  ///< listening socket closed while set
  std::uint32_t queue_limit = 0;  ///< 0: off; else 503 when waiting requests >= queue_limit

  bool operator==(const FaultSettings&) const = default;
  /// True when no mode is active.
  bool none() const { return *this == FaultSettings{}; }
};

/// A partial update: fields left empty keep their current value.
struct FaultSettingsPatch {
  std::optional<double> error_rate;
  std::optional<int> error_status;
  std::optional<bool> hang;
  std::optional<std::uint32_t> close_after_tokens;
  std::optional<std::uint32_t> slow_ms;
  std::optional<bool> refuse_connections;
  std::optional<std::uint32_t> queue_limit;
};

/// Checks ranges: error_rate in [0, 1], error_status in [400, 599]. Error::code is 400.
Result<void> validate(const FaultSettings& settings);

/// What to do with one request, decided when it has been read.
struct RequestFault {
  enum class Kind : std::uint8_t {
    kServe,      ///< run it (close_after_tokens / token_delay_ms still apply)
    kError,      ///< answer `status` with an error body, do not run it
    kHang,       ///< never answer; wait for the client to go away
    kQueueFull,  ///< answer 503: the waiting queue is at the limit
  };
  Kind kind = Kind::kServe;
  int status = 200;                      ///< kError: error_status; kQueueFull: 503
  std::uint32_t close_after_tokens = 0;  ///< kServe: 0 or K
  std::uint32_t token_delay_ms = 0;      ///< kServe: delay before each token
};

/// The fault policy of one instance. Not thread-safe: it lives on its instance's thread.
class FaultPolicy {
 public:
  FaultPolicy() = default;
  explicit FaultPolicy(FaultSettings settings) : settings_(settings) {}

  /// Current settings. Instance thread.
  const FaultSettings& settings() const { return settings_; }
  /// Replaces the settings after validating them; on error nothing changes. Instance thread.
  Result<void> set(const FaultSettings& settings);
  /// Applies the fields present in patch (validated as a whole; on error nothing changes).
  Result<void> apply(const FaultSettingsPatch& patch);
  /// Back to no faults. Instance thread.
  void clear() { settings_ = FaultSettings{}; }

  /// Decides the fate of one request. Draws from random only when 0 < error_rate < 1, so runs
  /// with rates 0 or 1 consume no randomness. waiting_requests is the engine's waiting count
  /// before this request joins. Instance thread.
  RequestFault decide_request(Random& random, std::uint32_t waiting_requests) const;

  /// Whether the listening socket should be open now. Instance thread.
  bool listener_open() const { return !settings_.refuse_connections; }

 private:
  FaultSettings settings_;
};

}  // namespace kvroute::sim
