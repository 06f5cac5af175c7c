// The admin /metrics page rendered from hand-built state: exact lines, family grouping, what is
// left out before a first scrape or sample, and the Prometheus writer's escaping and numbers.
#include "admin/gateway_metrics.h"

#include <gtest/gtest.h>

#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "upstream/prometheus_text.h"

namespace kvroute::admin {
namespace {

std::vector<std::string> lines_of(const std::string& page) {
  std::vector<std::string> out;
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool has_line(const std::string& page, const std::string& line) {
  for (const auto& l : lines_of(page)) {
    if (l == line) return true;
  }
  return false;
}

TEST(PromWriterTest, EscapesLabelValuesAndHelpAndWritesNumbersExactly) {
  std::string out;
  PromWriter w(out);
  w.family("m", "gauge", "a \\ back\nslash");
  w.sample("m", {{"a", "q\"uote"}, {"b", "back\\slash\nnl"}, {"empty", ""}}, 0.25);
  w.sample("m", {}, std::uint64_t{18446744073709551615u});
  w.sample("m", {}, 1e6);
  w.sample("m", {}, 1e-6);
  w.sample("m", {}, std::numeric_limits<double>::quiet_NaN());
  w.sample("m", {}, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(out,
            "# HELP m a \\\\ back\\nslash\n"
            "# TYPE m gauge\n"
            "m{a=\"q\\\"uote\",b=\"back\\\\slash\\nnl\"} 0.25\n"
            "m 18446744073709551615\n"
            "m 1000000\n"
            "m 1e-06\n"
            "m NaN\n"
            "m -Inf\n");
}

class GatewayMetricsTest : public ::testing::Test {
 protected:
  GatewayMetricsTest() {
    auto& s = a_.scraped;
    s.scraped_at.store(10 * kNanosPerSecond);  // now: 12.5 s
    s.num_running.store(3);
    s.num_waiting.store(7);
    s.kv_usage.store(0.625);
    s.kv_capacity_tokens.store(4096);
    s.prefix_cache_hits.store(100);
    s.prefix_cache_queries.store(400);
    s.num_preemptions.store(2);
    a_.accounting.in_flight.store(4);
    a_.accounting.outstanding_prefill_tokens.store(1500);
    a_.accounting.active_decodes.store(2);
    a_.accounting.dispatched_total.store(40);
    a_.accounting.ok_total.store(30);
    a_.accounting.error_total.store(5);
    a_.accounting.cancelled_total.store(1);
    a_.estimates.prefill_tokens_per_second.store(12000.5);
    a_.estimates.ttft.observe(0.25e9, 5 * kNanosPerSecond, kNanosPerSecond);
    a_.prefix.predicted_cached_tokens_total.store(900);
    a_.prefix.reported_cached_tokens_total.store(800);
    a_.prefix.reported_prompt_tokens_total.store(2000);
    a_.prefix.reports_total.store(10);
    a_.prefix.overpredictions_total.store(3);
    b_.set_health_flag(routing::kEjected, true);
    a_status_.successes = 250;
    a_status_.failures = 4;
    b_status_.failures = 9;

    stats_ = {
        {"kvroute_requests_total", "Requests read.", StatKind::kCounter, {}, 42},
        {"kvroute_responses_total", "Responses by class.", StatKind::kCounter, {"class", "2xx"}, 40},
        {"kvroute_responses_total", "", StatKind::kCounter, {"class", "5xx"}, 2},
        {"kvroute_ttft_seconds", "TTFT.", StatKind::kSummarySumNanos, {}, 1'500'000'000},
        {"kvroute_ttft_seconds", "", StatKind::kSummaryCount, {}, 3},
        {"kvroute_itl_max_seconds", "Longest gap.", StatKind::kGaugeNanos, {}, 20'000'000},
        {"kvroute_hold_queue_wait_seconds_total", "Held time.", StatKind::kCounterNanos, {}, 2'000'000'000},
        {"kvroute_client_connections", "Open.", StatKind::kGauge, {}, 5},
    };
    routing::PrefixIndexStats index;
    index.blocks = 120;
    index.entries = 300;
    index.bytes = 65536;
    pools_ = {{"chat", index}, {"embed", std::nullopt}};
    backends_ = {{"chat", "gpu-a", &a_, 3, &a_status_},
                 {"chat", "gpu-b", &b_, 1, &b_status_},
                 {"embed", "gpu-c", &c_, 1, nullptr}};
  }

  std::string render() const {
    MetricsView view;
    view.gateway = stats_;
    view.pools = pools_;
    view.backends = backends_;
    view.now = 12'500'000'000;
    std::string out;
    render_metrics(view, out);
    return out;
  }

  routing::BackendState a_, b_, c_;
  upstream::ScrapeStatus a_status_, b_status_;
  std::vector<GatewayStat> stats_;
  std::vector<PoolFigures> pools_;
  std::vector<BackendFigures> backends_;
};

TEST_F(GatewayMetricsTest, GatewayStatisticsFamiliesAndTheirSamples) {
  const std::string page = render();
  const std::string expected_head =
      "# HELP kvroute_requests_total Requests read.\n"
      "# TYPE kvroute_requests_total counter\n"
      "kvroute_requests_total 42\n"
      "# HELP kvroute_responses_total Responses by class.\n"
      "# TYPE kvroute_responses_total counter\n"
      "kvroute_responses_total{class=\"2xx\"} 40\n"
      "kvroute_responses_total{class=\"5xx\"} 2\n"
      "# HELP kvroute_ttft_seconds TTFT.\n"
      "# TYPE kvroute_ttft_seconds summary\n"
      "kvroute_ttft_seconds_sum 1.5\n"
      "kvroute_ttft_seconds_count 3\n"
      "# HELP kvroute_itl_max_seconds Longest gap.\n"
      "# TYPE kvroute_itl_max_seconds gauge\n"
      "kvroute_itl_max_seconds 0.02\n"
      "# HELP kvroute_hold_queue_wait_seconds_total Held time.\n"
      "# TYPE kvroute_hold_queue_wait_seconds_total counter\n"
      "kvroute_hold_queue_wait_seconds_total 2\n"
      "# HELP kvroute_client_connections Open.\n"
      "# TYPE kvroute_client_connections gauge\n"
      "kvroute_client_connections 5\n";
  EXPECT_EQ(page.substr(0, expected_head.size()), expected_head);
}

TEST_F(GatewayMetricsTest, BackendLiveStateLines) {
  const std::string page = render();
  for (const char* line : {
           R"(kvroute_backend_in_flight{pool="chat",backend="gpu-a"} 4)",
           R"(kvroute_backend_in_flight{pool="chat",backend="gpu-b"} 0)",
           R"(kvroute_backend_in_flight{pool="embed",backend="gpu-c"} 0)",
           R"(kvroute_backend_outstanding_prefill_tokens{pool="chat",backend="gpu-a"} 1500)",
           R"(kvroute_backend_active_decodes{pool="chat",backend="gpu-a"} 2)",
           R"(kvroute_backend_dispatched_total{pool="chat",backend="gpu-a"} 40)",
           R"(kvroute_backend_completed_total{pool="chat",backend="gpu-a",outcome="ok"} 30)",
           R"(kvroute_backend_completed_total{pool="chat",backend="gpu-a",outcome="error"} 5)",
           R"(kvroute_backend_completed_total{pool="chat",backend="gpu-a",outcome="cancelled"} 1)",
           R"(kvroute_backend_prefill_tokens_per_second{pool="chat",backend="gpu-a"} 12000.5)",
           R"(kvroute_backend_ttft_ewma_seconds{pool="chat",backend="gpu-a"} 0.25)",
           R"(kvroute_backend_healthy{pool="chat",backend="gpu-a"} 1)",
           R"(kvroute_backend_healthy{pool="chat",backend="gpu-b"} 0)",
           R"(kvroute_backend_weight{pool="chat",backend="gpu-a"} 3)",
           R"(kvroute_backend_prefix_predicted_cached_tokens_total{pool="chat",backend="gpu-a"} 900)",
           R"(kvroute_backend_prefix_reported_cached_tokens_total{pool="chat",backend="gpu-a"} 800)",
           R"(kvroute_backend_prefix_reported_prompt_tokens_total{pool="chat",backend="gpu-a"} 2000)",
           R"(kvroute_backend_prefix_reports_total{pool="chat",backend="gpu-a"} 10)",
           R"(kvroute_backend_prefix_overpredictions_total{pool="chat",backend="gpu-a"} 3)",
       }) {
    EXPECT_TRUE(has_line(page, line)) << line << "\n" << page;
  }
  // No TTFT sample yet: no line rather than a made-up 0.
  EXPECT_EQ(page.find(R"(kvroute_backend_ttft_ewma_seconds{pool="chat",backend="gpu-b"})"), std::string::npos);
}

TEST_F(GatewayMetricsTest, ScrapedFiguresAgeAndScrapeCounts) {
  const std::string page = render();
  for (const char* line : {
           R"(kvroute_backend_scraped_running{pool="chat",backend="gpu-a"} 3)",
           R"(kvroute_backend_scraped_waiting{pool="chat",backend="gpu-a"} 7)",
           R"(kvroute_backend_scraped_kv_usage_ratio{pool="chat",backend="gpu-a"} 0.625)",
           R"(kvroute_backend_scraped_kv_capacity_tokens{pool="chat",backend="gpu-a"} 4096)",
           R"(kvroute_backend_scraped_prefix_cache_hit_tokens_total{pool="chat",backend="gpu-a"} 100)",
           R"(kvroute_backend_scraped_prefix_cache_query_tokens_total{pool="chat",backend="gpu-a"} 400)",
           R"(kvroute_backend_scraped_preemptions_total{pool="chat",backend="gpu-a"} 2)",
           R"(kvroute_backend_scrape_age_seconds{pool="chat",backend="gpu-a"} 2.5)",
           R"(kvroute_backend_scrapes_total{pool="chat",backend="gpu-a",result="ok"} 250)",
           R"(kvroute_backend_scrapes_total{pool="chat",backend="gpu-a",result="error"} 4)",
           R"(kvroute_backend_scrapes_total{pool="chat",backend="gpu-b",result="ok"} 0)",
           R"(kvroute_backend_scrapes_total{pool="chat",backend="gpu-b",result="error"} 9)",
       }) {
    EXPECT_TRUE(has_line(page, line)) << line << "\n" << page;
  }
  // gpu-b was never scraped successfully, gpu-c is not scraped at all: no scraped figures, no age.
  for (const char* absent : {R"(kvroute_backend_scraped_running{pool="chat",backend="gpu-b"})",
                             R"(kvroute_backend_scrape_age_seconds{pool="chat",backend="gpu-b"})",
                             R"(kvroute_backend_scraped_running{pool="embed",backend="gpu-c"})",
                             R"(kvroute_backend_scrapes_total{pool="embed",backend="gpu-c")"}) {
    EXPECT_EQ(page.find(absent), std::string::npos) << absent;
  }
}

TEST_F(GatewayMetricsTest, PrefixIndexSizePerPool) {
  const std::string page = render();
  EXPECT_TRUE(has_line(page, R"(kvroute_prefix_index_blocks{pool="chat"} 120)"));
  EXPECT_TRUE(has_line(page, R"(kvroute_prefix_index_entries{pool="chat"} 300)"));
  EXPECT_TRUE(has_line(page, R"(kvroute_prefix_index_bytes{pool="chat"} 65536)"));
  EXPECT_EQ(page.find(R"(pool="embed"} )"), std::string::npos);  // no index there
}

// What Prometheus requires of a page: it parses, every sample belongs to the family announced just
// before it (HELP then TYPE), and no family appears twice.
TEST_F(GatewayMetricsTest, PageIsValidExpositionWithEachFamilyOnce) {
  const std::string page = render();
  upstream::PromTextReader reader(page);
  upstream::PromSample s;
  std::size_t samples = 0;
  while (reader.next(s)) ++samples;
  EXPECT_EQ(reader.malformed_lines(), 0u);
  EXPECT_GT(samples, 60u);

  std::set<std::string> families;
  std::string current;
  std::string type;
  for (const auto& line : lines_of(page)) {
    if (line.starts_with("# HELP ")) {
      current = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(families.insert(current).second) << "family twice: " << current;
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      EXPECT_EQ(line.substr(7, current.size()), current);
      type = line.substr(8 + current.size());
      continue;
    }
    const std::string name = line.substr(0, line.find_first_of("{ "));
    if (type == "summary") {
      EXPECT_TRUE(name == current + "_sum" || name == current + "_count") << line;
    } else {
      EXPECT_EQ(name, current) << line;
    }
    if (type == "counter") {
      EXPECT_TRUE(name.ends_with("_total")) << line;
    }
    EXPECT_TRUE(name.starts_with("kvroute_")) << line;
  }
}

}  // namespace
}  // namespace kvroute::admin
