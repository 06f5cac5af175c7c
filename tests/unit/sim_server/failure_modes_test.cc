// FaultPolicy, step by step: scripted randomness, no sockets.
#include "sim/failure_modes.h"

#include <deque>

#include <gtest/gtest.h>

namespace kvroute::sim {
namespace {

/// Returns the values it was given, in order; fails the test when it runs out.
class ScriptedRandom final : public Random {
 public:
  void push_uniform01(double v) { values_.push_back(static_cast<std::uint64_t>(v * 0x1.0p53) << 11); }
  std::uint64_t next_u64() override {
    if (values_.empty()) {
      ADD_FAILURE() << "unexpected random draw";
      return 0;
    }
    const auto v = values_.front();
    values_.pop_front();
    return v;
  }
  std::size_t draws_left() const { return values_.size(); }

 private:
  std::deque<std::uint64_t> values_;
};

TEST(FaultPolicyTest, NoFaultsServesEveryRequestWithoutDrawing) {
  FaultPolicy policy;
  ScriptedRandom random;  // empty: any draw fails the test
  for (std::uint32_t waiting : {0u, 5u, 100000u}) {
    const RequestFault f = policy.decide_request(random, waiting);
    EXPECT_EQ(f.kind, RequestFault::Kind::kServe);
    EXPECT_EQ(f.close_after_tokens, 0u);
    EXPECT_EQ(f.token_delay_ms, 0u);
  }
  EXPECT_TRUE(policy.listener_open());
  EXPECT_TRUE(policy.settings().none());
}

TEST(FaultPolicyTest, ErrorRateDrawsOncePerRequestAndComparesStrictly) {
  FaultPolicy policy;
  FaultSettings s;
  s.error_rate = 0.25;
  s.error_status = 429;
  ASSERT_TRUE(policy.set(s).ok());
  ScriptedRandom random;
  random.push_uniform01(0.1);    // < 0.25: error
  random.push_uniform01(0.25);   // not < 0.25: served
  random.push_uniform01(0.9);    // served
  random.push_uniform01(0.249);  // error
  const RequestFault a = policy.decide_request(random, 0);
  EXPECT_EQ(a.kind, RequestFault::Kind::kError);
  EXPECT_EQ(a.status, 429);
  EXPECT_EQ(policy.decide_request(random, 0).kind, RequestFault::Kind::kServe);
  EXPECT_EQ(policy.decide_request(random, 0).kind, RequestFault::Kind::kServe);
  EXPECT_EQ(policy.decide_request(random, 0).kind, RequestFault::Kind::kError);
  EXPECT_EQ(random.draws_left(), 0u);
}

TEST(FaultPolicyTest, ErrorRateOneFailsEverythingWithoutDrawing) {
  FaultPolicy policy;
  FaultSettings s;
  s.error_rate = 1.0;
  s.error_status = 500;
  ASSERT_TRUE(policy.set(s).ok());
  ScriptedRandom random;
  for (int i = 0; i < 3; ++i) {
    const RequestFault f = policy.decide_request(random, 0);
    EXPECT_EQ(f.kind, RequestFault::Kind::kError);
    EXPECT_EQ(f.status, 500);
  }
}

TEST(FaultPolicyTest, HangWinsOverErrorsAndQueueLimit) {
  FaultSettings s;
  s.hang = true;
  s.error_rate = 1.0;
  s.queue_limit = 1;
  FaultPolicy policy(s);
  ScriptedRandom random;
  EXPECT_EQ(policy.decide_request(random, 50).kind, RequestFault::Kind::kHang);
}

TEST(FaultPolicyTest, ErrorDrawComesBeforeTheQueueLimit) {
  FaultSettings s;
  s.error_rate = 0.5;
  s.error_status = 502;
  s.queue_limit = 2;
  FaultPolicy policy(s);
  ScriptedRandom random;
  random.push_uniform01(0.1);  // error, although the queue is also full
  random.push_uniform01(0.7);  // no error: the queue decides
  random.push_uniform01(0.7);
  EXPECT_EQ(policy.decide_request(random, 10).kind, RequestFault::Kind::kError);
  const RequestFault full = policy.decide_request(random, 10);
  EXPECT_EQ(full.kind, RequestFault::Kind::kQueueFull);
  EXPECT_EQ(full.status, 503);
  EXPECT_EQ(policy.decide_request(random, 1).kind, RequestFault::Kind::kServe);
}

TEST(FaultPolicyTest, QueueLimitRefusesOnceWaitingReachesTheLimit) {
  FaultSettings s;
  s.queue_limit = 3;
  FaultPolicy policy(s);
  ScriptedRandom random;
  EXPECT_EQ(policy.decide_request(random, 0).kind, RequestFault::Kind::kServe);
  EXPECT_EQ(policy.decide_request(random, 2).kind, RequestFault::Kind::kServe);
  EXPECT_EQ(policy.decide_request(random, 3).kind, RequestFault::Kind::kQueueFull);
  EXPECT_EQ(policy.decide_request(random, 4).kind, RequestFault::Kind::kQueueFull);
}

TEST(FaultPolicyTest, ServedRequestsCarryCloseAfterAndDelay) {
  FaultSettings s;
  s.close_after_tokens = 4;
  s.slow_ms = 25;
  FaultPolicy policy(s);
  ScriptedRandom random;
  const RequestFault f = policy.decide_request(random, 0);
  EXPECT_EQ(f.kind, RequestFault::Kind::kServe);
  EXPECT_EQ(f.close_after_tokens, 4u);
  EXPECT_EQ(f.token_delay_ms, 25u);
}

TEST(FaultPolicyTest, RefuseClosesTheListenerUntilCleared) {
  FaultPolicy policy;
  FaultSettingsPatch patch;
  patch.refuse_connections = true;
  ASSERT_TRUE(policy.apply(patch).ok());
  EXPECT_FALSE(policy.listener_open());
  policy.clear();
  EXPECT_TRUE(policy.listener_open());
}

TEST(FaultPolicyTest, PatchKeepsFieldsItDoesNotName) {
  FaultSettings s;
  s.error_rate = 0.5;
  s.error_status = 503;
  s.slow_ms = 7;
  FaultPolicy policy(s);
  FaultSettingsPatch patch;
  patch.hang = true;
  patch.slow_ms = 0;
  ASSERT_TRUE(policy.apply(patch).ok());
  EXPECT_DOUBLE_EQ(policy.settings().error_rate, 0.5);
  EXPECT_EQ(policy.settings().error_status, 503);
  EXPECT_TRUE(policy.settings().hang);
  EXPECT_EQ(policy.settings().slow_ms, 0u);
}

TEST(FaultPolicyTest, InvalidPatchChangesNothing) {
  FaultSettings s;
  s.slow_ms = 9;
  FaultPolicy policy(s);
  FaultSettingsPatch patch;
  patch.slow_ms = 100;
  patch.error_rate = 1.5;
  const auto r = policy.apply(patch);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 400);
  EXPECT_EQ(policy.settings().slow_ms, 9u);

  FaultSettingsPatch bad_status;
  bad_status.error_status = 200;
  EXPECT_FALSE(policy.apply(bad_status).ok());
  EXPECT_EQ(policy.settings().error_status, 500);
}

TEST(FaultPolicyTest, ValidateRefusesNaNRate) {
  FaultSettings s;
  s.error_rate = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(validate(s).ok());
}

}  // namespace
}  // namespace kvroute::sim
