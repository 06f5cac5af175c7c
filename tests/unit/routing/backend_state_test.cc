#include "routing/backend_state.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

namespace kvroute::routing {
namespace {

constexpr Nanos kTau = 10 * kNanosPerSecond;

TEST(PeakEwmaTest, HasNoValueBeforeTheFirstSample) {
  PeakEwma e;
  EXPECT_FALSE(e.value().has_value());
  EXPECT_FALSE(e.value_aged(100, kTau, true).has_value());
  EXPECT_EQ(e.last_sample_at(), kNever);
}

TEST(PeakEwmaTest, FirstSampleIsTakenAsIs) {
  PeakEwma e;
  e.observe(250.0, 1000, kTau);
  EXPECT_DOUBLE_EQ(*e.value(), 250.0);
  EXPECT_EQ(e.last_sample_at(), 1000);
}

TEST(PeakEwmaTest, JumpsToAHigherSampleAtOnce) {
  PeakEwma e;
  e.observe(100.0, 0, kTau);
  e.observe(900.0, 1, kTau);
  EXPECT_DOUBLE_EQ(*e.value(), 900.0);
}

TEST(PeakEwmaTest, DecaysTowardALowerSampleByElapsedTime) {
  PeakEwma e;
  e.observe(1000.0, 0, kTau);
  // One time constant later: w = e^-1, value = w * 1000 + (1 - w) * 100.
  e.observe(100.0, kTau, kTau);
  const double w = std::exp(-1.0);
  EXPECT_NEAR(*e.value(), w * 1000.0 + (1 - w) * 100.0, 1e-6);
  // A sample at the same instant barely moves it: recent history dominates.
  const double before = *e.value();
  e.observe(100.0, kTau, kTau);
  EXPECT_DOUBLE_EQ(*e.value(), before);
}

TEST(PeakEwmaTest, ManyLowSamplesConvergeToThem) {
  PeakEwma e;
  e.observe(5000.0, 0, kTau);
  for (int i = 1; i <= 100; ++i) e.observe(100.0, i * kNanosPerSecond, kTau);
  EXPECT_NEAR(*e.value(), 100.0, 1.0);
}

TEST(PeakEwmaTest, IdleAgeingDecaysTowardZeroOnlyWhenIdle) {
  PeakEwma e;
  e.observe(1000.0, 0, kTau);
  EXPECT_NEAR(*e.value_aged(2 * kTau, kTau, /*idle=*/true), 1000.0 * std::exp(-2.0), 1e-6);
  EXPECT_DOUBLE_EQ(*e.value_aged(2 * kTau, kTau, /*idle=*/false), 1000.0);
  EXPECT_DOUBLE_EQ(*e.value(), 1000.0);  // reading does not write
}

TEST(PeakEwmaTest, LowerBoundOnlyRaises) {
  PeakEwma e;
  e.observe_at_least(700.0, 0, kTau);  // nothing known yet: ignored
  EXPECT_FALSE(e.value().has_value());
  e.observe(300.0, 0, kTau);
  e.observe_at_least(100.0, kTau, kTau);  // a fast failure says nothing
  EXPECT_DOUBLE_EQ(*e.value(), 300.0);
  e.observe_at_least(800.0, kTau, kTau);  // it took at least 800: raise
  EXPECT_DOUBLE_EQ(*e.value(), 800.0);
}

TEST(PeakEwmaTest, ConcurrentObservationsStayWithinTheSampleRange) {
  PeakEwma e;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&e, t] {
      for (int i = 0; i < 20000; ++i) e.observe(100.0 + 100.0 * t, i, kTau);
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(e.value().has_value());
  EXPECT_GE(*e.value(), 100.0);
  EXPECT_LE(*e.value(), 400.0);
  EXPECT_EQ(e.last_sample_at(), 19999);
}

TEST(BackendStateTest, HealthFlagsDecideTiers) {
  BackendState s;
  EXPECT_TRUE(s.healthy());
  EXPECT_TRUE(s.usable_in_panic());
  s.set_health_flag(kEjected, true);
  EXPECT_FALSE(s.healthy());
  EXPECT_TRUE(s.usable_in_panic());
  s.set_health_flag(kHealthCheckFailed, true);
  s.set_health_flag(kEjected, false);
  EXPECT_FALSE(s.healthy());
  EXPECT_TRUE(s.usable_in_panic());
  s.set_health_flag(kDraining, true);
  EXPECT_FALSE(s.usable_in_panic());
  s.set_health_flag(kHealthCheckFailed, false);
  s.set_health_flag(kDraining, false);
  EXPECT_TRUE(s.healthy());
}

TEST(BackendStateTest, GroupsLiveOnSeparateCacheLines) {
  BackendState s;
  const auto addr = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p); };
  EXPECT_EQ(addr(&s) % kCacheLineBytes, 0u);
  EXPECT_GE(addr(&s.estimates) - addr(&s.accounting), kCacheLineBytes);
  EXPECT_GE(addr(&s.scraped) - addr(&s.estimates), kCacheLineBytes);
  EXPECT_GE(addr(&s.health) - addr(&s.scraped), kCacheLineBytes);
}

TEST(BackendStateTest, InFlightNeverReadsNegative) {
  BackendState s;
  s.accounting.in_flight.store(-3);
  EXPECT_EQ(s.in_flight(), 0);
}

}  // namespace
}  // namespace kvroute::routing
