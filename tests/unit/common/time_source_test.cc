#include "common/time_source.h"

#include <gtest/gtest.h>

namespace kvroute {
namespace {

TEST(VirtualClockTest, MovesOnlyForward) {
  VirtualClock c(100);
  EXPECT_EQ(c.now(), 100);
  c.advance_to(250);
  EXPECT_EQ(c.now(), 250);
  c.advance_to(200);
  EXPECT_EQ(c.now(), 250);
  c.advance_by(5);
  EXPECT_EQ(c.now(), 255);
}

TEST(RealClockTest, IsMonotonic) {
  RealClock c;
  Nanos prev = c.now();
  for (int i = 0; i < 1000; ++i) {
    const Nanos t = c.now();
    ASSERT_GE(t, prev);
    prev = t;
  }
}

TEST(TimeConversionTest, RoundTrips) {
  EXPECT_EQ(seconds_to_nanos(1.5), 1'500'000'000);
  EXPECT_DOUBLE_EQ(nanos_to_seconds(2'500'000), 0.0025);
}

}  // namespace
}  // namespace kvroute
