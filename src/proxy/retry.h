#pragma once
// When a request goes to another backend. Pure decisions, unit tested without sockets.
//
// docs/configuration.md, `retries`: a retry happens only before any byte of the response has reached
// the client, so a streamed answer is never spliced from two backends; connection failures (refused,
// reset before a response, connect timeout) are always retried while attempts remain; a response
// whose status is in `retries.statuses` is retried too. Timeouts after the request was sent (first
// token, stream idle, total) are not retried: the backend may be working on it, and a retry would
// double the wait the client already suffered.
//
// Separately, a kept-alive connection that fails before any response byte is "stale" (the backend
// closed it while it idled, racing with our request): that is retried once on a fresh connection to
// the same backend, without using up a retry attempt.

#include <cstdint>

#include "config/config.h"

namespace kvroute::proxy {

/// How one attempt on one backend ended.
enum class AttemptError : std::uint8_t {
  kNone,               ///< a response was relayed to the client (whatever its status)
  kConnectFailed,      ///< connect refused or failed
  kConnectTimeout,     ///< connect did not finish within timeouts.connect
  kNoResponse,         ///< the connection failed (write error, reset, EOF) before any response byte
  kRetryableStatus,    ///< the backend answered a status in retries.statuses (not relayed)
  kBadResponse,        ///< the response could not be parsed, or broke off mid-body
  kFirstTokenTimeout,  ///< no first event within timeouts.first_token
  kIdleTimeout,        ///< no event within timeouts.stream_idle
  kTotalTimeout,       ///< the whole exchange exceeded timeouts.total
  kPoolTimeout,        ///< no connection slot became free before the total timeout
  kClientGone,         ///< the client disconnected; the upstream request was cancelled
};

/// Whether status is one the pool retries.
bool is_retryable_status(const config::RetryConfig& retries, int status);

/// Whether a failed attempt is sent to another backend. attempts_made counts attempts so far
/// (1 after the first). Only failures before anything reached the client qualify.
bool should_retry(const config::RetryConfig& retries, int attempts_made, AttemptError error, bool response_started);

/// Whether a failure on a connection is retried once on a fresh connection to the same backend:
/// the connection had served an earlier exchange, nothing of the response arrived, and this request
/// has not used its one stale-connection retry yet.
bool should_retry_fresh_connection(bool connection_was_reused, AttemptError error, bool already_retried);

/// The status the client gets when the last attempt failed this way before anything was sent:
/// 502 (connection failures, bad responses), 504 (timeouts), 499-like cancellations get none (0).
int status_for_failure(AttemptError error);

/// A short message for the client's error body.
const char* message_for_failure(AttemptError error);

}  // namespace kvroute::proxy
