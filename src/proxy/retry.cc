#include "proxy/retry.h"

namespace kvroute::proxy {

bool is_retryable_status(const config::RetryConfig& retries, int status) {
  for (const int s : retries.statuses) {
    if (s == status) return true;
  }
  return false;
}

bool should_retry(const config::RetryConfig& retries, int attempts_made, AttemptError error, bool response_started) {
  if (response_started) return false;
  if (attempts_made > retries.attempts) return false;  // 1 + attempts in all
  switch (error) {
    case AttemptError::kConnectFailed:
    case AttemptError::kConnectTimeout:
    case AttemptError::kNoResponse:
    case AttemptError::kRetryableStatus:
      return true;
    default:
      return false;
  }
}

bool should_retry_fresh_connection(bool connection_was_reused, AttemptError error, bool already_retried) {
  return connection_was_reused && !already_retried && error == AttemptError::kNoResponse;
}

int status_for_failure(AttemptError error) {
  switch (error) {
    case AttemptError::kNone:
    case AttemptError::kClientGone:
      return 0;
    case AttemptError::kConnectTimeout:
    case AttemptError::kFirstTokenTimeout:
    case AttemptError::kIdleTimeout:
    case AttemptError::kTotalTimeout:
    case AttemptError::kPoolTimeout:
      return 504;
    case AttemptError::kRetryableStatus:  // only reached when the response was not kept; see session
    case AttemptError::kConnectFailed:
    case AttemptError::kNoResponse:
    case AttemptError::kBadResponse:
      return 502;
  }
  return 502;
}

const char* message_for_failure(AttemptError error) {
  switch (error) {
    case AttemptError::kNone:
      return "";
    case AttemptError::kConnectFailed:
      return "Could not connect to the backend.";
    case AttemptError::kConnectTimeout:
      return "Timed out connecting to the backend (timeouts.connect).";
    case AttemptError::kNoResponse:
      return "The backend closed the connection without a response.";
    case AttemptError::kRetryableStatus:
      return "The backend answered with an error.";
    case AttemptError::kBadResponse:
      return "The backend sent a malformed or incomplete response.";
    case AttemptError::kFirstTokenTimeout:
      return "The backend did not send a first token in time (timeouts.first_token).";
    case AttemptError::kIdleTimeout:
      return "The backend stopped sending events (timeouts.stream_idle).";
    case AttemptError::kTotalTimeout:
      return "The backend did not finish in time (timeouts.total).";
    case AttemptError::kPoolTimeout:
      return "No connection to the backend became free in time (timeouts.total).";
    case AttemptError::kClientGone:
      return "The client went away.";
  }
  return "";
}

}  // namespace kvroute::proxy
