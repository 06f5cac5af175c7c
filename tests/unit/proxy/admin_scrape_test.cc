// The gateway's side of scraping and of the admin page: which endpoints a snapshot scrapes (once per
// url across pools), and the StatsTotals table that feeds the page.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "config/load_config.h"
#include "proxy/admin_metrics.h"
#include "proxy/scrape_targets.h"

namespace kvroute::proxy {
namespace {

RoutingSnapshotPtr snapshot(std::string_view yaml) {
  auto c = config::load_config_string(yaml, "test.yaml");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  if (!c.ok()) return nullptr;
  const auto registry = routing::PolicyRegistry::with_builtin_policies();
  auto snap = build_routing_snapshot(*c, registry);
  EXPECT_TRUE(snap.ok()) << (snap.ok() ? "" : snap.error().message);
  return snap.ok() ? *snap : nullptr;
}

TEST(ScrapeTargetsTest, AUrlOfSeveralPoolsIsScrapedOnceIntoEachPoolsState) {
  const auto snap = snapshot(R"(
pools:
  - name: a
    models: [m1]
    metrics: {enabled: true, interval: 200ms, timeout: 2s}
    backends: [http://127.0.0.1:8001, http://127.0.0.1:8002]
  - name: b
    models: [m2]
    policy: kv_aware
    metrics: {interval: 40ms, timeout: 1s}
    backends: [http://127.0.0.1:8002/, http://127.0.0.1:8003/v1base]
  - name: off
    models: [m3]
    policy: kv_aware
    metrics: {enabled: false}
    backends: [http://127.0.0.1:8004]
  - name: drained
    models: [m4]
    policy: cost
    backends:
      - {url: "http://127.0.0.1:8005", weight: 0}
      - http://127.0.0.1:8006
  - name: auto_off
    models: [m5]
    backends: [http://127.0.0.1:8007]
)");
  ASSERT_TRUE(snap);
  const auto targets = scrape_targets(*snap);
  ASSERT_EQ(targets.size(), 4u);
  EXPECT_EQ(targets[0].backend.url, "http://127.0.0.1:8001");
  EXPECT_EQ(targets[0].interval, 200 * kNanosPerMilli);
  ASSERT_EQ(targets[0].states.size(), 1u);
  // 8002 is in pools a and b: one target, both pools' states, the shorter interval, the longer timeout.
  EXPECT_EQ(targets[1].backend.url, "http://127.0.0.1:8002");
  ASSERT_EQ(targets[1].states.size(), 2u);
  EXPECT_EQ(targets[1].states[0], (*snap->pools[0].set)[1].shared_state);
  EXPECT_EQ(targets[1].states[1], (*snap->pools[1].set)[0].shared_state);
  EXPECT_EQ(targets[1].interval, 40 * kNanosPerMilli);
  EXPECT_EQ(targets[1].timeout, 2 * kNanosPerSecond);
  EXPECT_EQ(targets[2].backend.url, "http://127.0.0.1:8003/v1base");
  EXPECT_EQ(targets[2].backend.base_path, "/v1base");
  EXPECT_EQ(targets[2].path, "/metrics");
  // Not 8004 (off), 8005 (drained) nor 8007 (auto, and least_request reads no backend metrics).
  EXPECT_EQ(targets[3].backend.url, "http://127.0.0.1:8006");
}

TEST(ScrapeTargetsTest, ADifferentPathIsAnotherTarget) {
  const auto snap = snapshot(R"(
pools:
  - name: a
    models: [m1]
    metrics: {enabled: true}
    backends: [http://127.0.0.1:8001]
  - name: b
    models: [m2]
    metrics: {enabled: true, path: /prometheus}
    backends: [http://127.0.0.1:8001]
)");
  ASSERT_TRUE(snap);
  const auto targets = scrape_targets(*snap);
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(targets[0].path, "/metrics");
  EXPECT_EQ(targets[1].path, "/prometheus");
}

TEST(StatsFieldsTest, EveryFieldHasOneRowAndFamiliesAreContiguous) {
  const auto fields = stats_fields();
  // Distinct fields (the static_assert in admin_metrics.cc checks the count).
  std::set<std::size_t> offsets;
  const StatsTotals t;
  for (const auto& f : fields) {
    offsets.insert(
        static_cast<std::size_t>(reinterpret_cast<const char*>(&(t.*(f.field))) - reinterpret_cast<const char*>(&t)));
  }
  EXPECT_EQ(offsets.size(), fields.size());
  EXPECT_EQ(fields.size() * sizeof(std::uint64_t), sizeof(StatsTotals));
  // A family's rows are adjacent, its first row has the help, and no two rows make the same sample.
  std::set<std::string_view> closed;
  std::string_view current;
  std::set<std::pair<std::string_view, admin::StatKind>> samples;  // a summary's _sum and _count differ by kind
  for (const auto& f : fields) {
    if (f.family != current) {
      EXPECT_FALSE(closed.count(f.family)) << f.family << " is split";
      closed.insert(current);
      current = f.family;
      samples.clear();
      EXPECT_FALSE(f.help.empty()) << f.family;
    }
    EXPECT_TRUE(samples.insert({f.label.value, f.kind}).second) << f.family << " " << f.label.value;
    EXPECT_TRUE(f.family.starts_with("kvroute_")) << f.family;
  }
}

TEST(AdminMetricsTest, RendersCountersAndEveryBackendOfEveryPool) {
  const auto snap = snapshot(R"(
pools:
  - name: chat
    models: [m1]
    policy: prefix
    backends: [{url: "http://127.0.0.1:8001", name: a}, {url: "http://127.0.0.1:8002", name: b}]
  - name: other
    models: [m2]
    backends: [{url: "http://127.0.0.1:8001", name: a}]
)");
  ASSERT_TRUE(snap);
  StatsTotals totals;
  totals.requests = 12;
  totals.responses_5xx = 2;
  totals.ttft_sum_ns = 3'000'000'000;
  totals.ttft_count = 4;
  std::string page;
  render_admin_metrics(*snap, totals, 7, nullptr, 0, page);
  for (const char* line : {"kvroute_requests_total 12", "kvroute_responses_total{class=\"5xx\"} 2",
                           "kvroute_ttft_seconds_sum 3", "kvroute_ttft_seconds_count 4", "kvroute_client_connections 7",
                           "kvroute_backend_in_flight{pool=\"chat\",backend=\"a\"} 0",
                           "kvroute_backend_in_flight{pool=\"chat\",backend=\"b\"} 0",
                           "kvroute_backend_in_flight{pool=\"other\",backend=\"a\"} 0",
                           // prefix keeps an index through the pool's accounting; least_request does not
                           "kvroute_prefix_index_bytes{pool=\"chat\"} "}) {
    EXPECT_NE(page.find(std::string(line)), std::string::npos) << line;
  }
  EXPECT_EQ(page.find("kvroute_prefix_index_bytes{pool=\"other\"}"), std::string::npos);
}

}  // namespace
}  // namespace kvroute::proxy
