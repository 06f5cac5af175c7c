// A pool's metrics section: defaults, and the limits --check-config refuses with FILE:LINE:COLUMN.
#include <gtest/gtest.h>

#include "config/load_config.h"

namespace kvroute::config {
namespace {

std::string error_of(std::string_view text) {
  auto result = load_config_string(text, "test.yaml");
  return result.ok() ? std::string() : result.error().message;
}

TEST(MetricsConfigTest, DefaultsScrapeMetricsEvery50msWithA1sTimeout) {
  auto c =
      load_config_string("pools:\n  - name: p\n    models: [m]\n    backends: [http://127.0.0.1:8001]\n", "test.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  const MetricsScrapeConfig& m = c->pools[0].metrics;
  EXPECT_EQ(m.enabled, std::nullopt);  // auto: as the policy needs
  EXPECT_EQ(m.path, "/metrics");
  EXPECT_EQ(m.interval, 50 * kNanosPerMilli);
  EXPECT_EQ(m.timeout, kNanosPerSecond);
}

TEST(MetricsConfigTest, ReadsEveryKey) {
  auto c = load_config_string(R"(pools:
  - name: p
    models: [m]
    backends: [http://127.0.0.1:8001]
    metrics: {enabled: false, path: /prom/metrics, interval: 250ms, timeout: 3s}
)",
                              "test.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  const MetricsScrapeConfig& m = c->pools[0].metrics;
  EXPECT_EQ(m.enabled, false);
  EXPECT_EQ(m.path, "/prom/metrics");
  EXPECT_EQ(m.interval, 250 * kNanosPerMilli);
  EXPECT_EQ(m.timeout, 3 * kNanosPerSecond);
}

TEST(MetricsConfigTest, EnabledIsAutoTrueOrFalse) {
  for (const auto& [text, want] :
       {std::pair<std::string, std::optional<bool>>{"auto", std::nullopt}, {"true", true}, {"false", false}}) {
    auto c = load_config_string(
        "pools:\n  - name: p\n    models: [m]\n    backends: [http://127.0.0.1:8001]\n    metrics: {enabled: " + text +
            "}\n",
        "test.yaml");
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->pools[0].metrics.enabled, want) << text;
  }
  EXPECT_EQ(error_of("pools:\n  - name: p\n    models: [m]\n    backends: [http://127.0.0.1:8001]\n    metrics: "
                     "{enabled: sometimes}\n")
                .rfind("test.yaml:5:24: pools[0].metrics.enabled: must be auto, true or false", 0),
            0u);
}

TEST(MetricsConfigTest, RefusesAnIntervalUnder10msAtItsLine) {
  const std::string e = error_of(R"(pools:
  - name: p
    models: [m]
    backends: [http://127.0.0.1:8001]
    metrics:
      interval: 5ms
)");
  EXPECT_EQ(e.rfind("test.yaml:6:17: pools[0].metrics.interval: 5ms is too short: at least 10ms", 0), 0u) << e;
}

TEST(MetricsConfigTest, RefusesATimeoutOverAHundredIntervals) {
  const std::string e = error_of(R"(pools:
  - name: p
    models: [m]
    backends: [http://127.0.0.1:8001]
    metrics: {interval: 10ms, timeout: 2s}
)");
  EXPECT_EQ(e.rfind("test.yaml:5:40: pools[0].metrics.timeout: 2s is longer than 100 x interval", 0), 0u) << e;
}

TEST(MetricsConfigTest, RefusesAPathWithoutLeadingSlash) {
  const std::string e = error_of(R"(pools:
  - name: p
    models: [m]
    backends: [http://127.0.0.1:8001]
    metrics: {path: metrics}
)");
  EXPECT_NE(e.find("test.yaml:5:21: pools[0].metrics.path"), std::string::npos) << e;
}

TEST(MetricsConfigTest, ADisabledSectionIsNotCheckedForItsInterval) {
  EXPECT_EQ(error_of(R"(pools:
  - name: p
    models: [m]
    backends: [http://127.0.0.1:8001]
    metrics: {enabled: false, interval: 1ms}
)"),
            "");
}

}  // namespace
}  // namespace kvroute::config
