// Which failures go to another backend, which go to a fresh connection, and what the client gets.
#include "proxy/retry.h"

#include <gtest/gtest.h>

namespace kvroute::proxy {
namespace {

TEST(RetryTest, ConnectionFailuresAreRetriedWhileAttemptsRemain) {
  config::RetryConfig r;  // attempts 1
  for (auto e : {AttemptError::kConnectFailed, AttemptError::kConnectTimeout, AttemptError::kNoResponse}) {
    EXPECT_TRUE(should_retry(r, 1, e, false));
    EXPECT_FALSE(should_retry(r, 2, e, false)) << "1 + attempts in all";
  }
  r.attempts = 3;
  EXPECT_TRUE(should_retry(r, 3, AttemptError::kConnectFailed, false));
  EXPECT_FALSE(should_retry(r, 4, AttemptError::kConnectFailed, false));
}

TEST(RetryTest, ZeroAttemptsNeverRetries) {
  config::RetryConfig r;
  r.attempts = 0;
  EXPECT_FALSE(should_retry(r, 1, AttemptError::kConnectFailed, false));
}

TEST(RetryTest, NothingIsRetriedOnceTheResponseStarted) {
  config::RetryConfig r;
  r.attempts = 5;
  EXPECT_FALSE(should_retry(r, 1, AttemptError::kNoResponse, true));
  EXPECT_FALSE(should_retry(r, 1, AttemptError::kRetryableStatus, true));
}

TEST(RetryTest, TimeoutsAfterSendingAndBadResponsesAreNotRetried) {
  config::RetryConfig r;
  r.attempts = 5;
  for (auto e : {AttemptError::kFirstTokenTimeout, AttemptError::kIdleTimeout, AttemptError::kTotalTimeout,
                 AttemptError::kBadResponse, AttemptError::kClientGone, AttemptError::kPoolTimeout}) {
    EXPECT_FALSE(should_retry(r, 1, e, false));
  }
}

TEST(RetryTest, StatusesComeFromTheConfig) {
  config::RetryConfig r;
  EXPECT_TRUE(is_retryable_status(r, 502));
  EXPECT_TRUE(is_retryable_status(r, 503));
  EXPECT_TRUE(is_retryable_status(r, 504));
  EXPECT_FALSE(is_retryable_status(r, 500));
  EXPECT_FALSE(is_retryable_status(r, 429));
  r.statuses = {429};
  EXPECT_TRUE(is_retryable_status(r, 429));
  EXPECT_FALSE(is_retryable_status(r, 503));
  r.statuses = {};
  EXPECT_FALSE(is_retryable_status(r, 503));
  EXPECT_TRUE(should_retry(r, 1, AttemptError::kRetryableStatus, false));
}

TEST(RetryTest, StaleKeepAliveIsRetriedOnceOnAFreshConnection) {
  EXPECT_TRUE(should_retry_fresh_connection(true, AttemptError::kNoResponse, false));
  EXPECT_FALSE(should_retry_fresh_connection(true, AttemptError::kNoResponse, true)) << "once";
  EXPECT_FALSE(should_retry_fresh_connection(false, AttemptError::kNoResponse, false)) << "fresh connections fail "
                                                                                          "for real";
  EXPECT_FALSE(should_retry_fresh_connection(true, AttemptError::kBadResponse, false));
  EXPECT_FALSE(should_retry_fresh_connection(true, AttemptError::kTotalTimeout, false));
}

TEST(RetryTest, ClientStatusForFailures) {
  EXPECT_EQ(status_for_failure(AttemptError::kConnectFailed), 502);
  EXPECT_EQ(status_for_failure(AttemptError::kNoResponse), 502);
  EXPECT_EQ(status_for_failure(AttemptError::kBadResponse), 502);
  EXPECT_EQ(status_for_failure(AttemptError::kConnectTimeout), 504);
  EXPECT_EQ(status_for_failure(AttemptError::kFirstTokenTimeout), 504);
  EXPECT_EQ(status_for_failure(AttemptError::kIdleTimeout), 504);
  EXPECT_EQ(status_for_failure(AttemptError::kTotalTimeout), 504);
  EXPECT_EQ(status_for_failure(AttemptError::kClientGone), 0);
  EXPECT_STRNE(message_for_failure(AttemptError::kFirstTokenTimeout), "");
}

}  // namespace
}  // namespace kvroute::proxy
