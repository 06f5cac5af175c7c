// What scraping costs the gateway's control thread: extracting the routing figures from a vLLM
// /metrics page (kvroute-sim's renderer: vLLM V1's names, labels and histogram buckets), for one
// engine and for eight engines on one server, reported in page bytes per second; and rendering the
// admin /metrics page for 64 backends.

#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "admin/gateway_metrics.h"
#include "sim/preset.h"
#include "sim_server/metrics.h"
#include "upstream/engine_metrics.h"

namespace {

using namespace kvroute;

std::string vllm_page(int engines) {
  std::string page;
  for (int e = 0; e < engines; ++e) {
    sim_server::InstanceMetrics metrics("meta-llama/Llama-3.1-8B-Instruct", *sim::find_preset("L8B-H100"));
    for (int i = 0; i < 1000; ++i) metrics.ttft.observe(0.01 * i);
    sim::EngineStats stats;
    stats.num_running = 40;
    stats.num_waiting = 3;
    stats.kv_cache_usage = 0.6;
    std::string one;
    metrics.render(one, stats);
    if (engines > 1) {  // each engine its own label value, as vLLM's data-parallel servers write them
      const std::string from = "engine=\"0\"";
      const std::string to = "engine=\"" + std::to_string(e) + "\"";
      for (auto p = one.find(from); p != std::string::npos; p = one.find(from, p + to.size()))
        one.replace(p, from.size(), to);
    }
    page += one;
  }
  return page;
}

void BM_ExtractEngineMetrics(benchmark::State& state) {
  const std::string page = vllm_page(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto m = upstream::extract_engine_metrics(page);
    benchmark::DoNotOptimize(m);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * page.size()));
  state.counters["page_bytes"] = static_cast<double>(page.size());
}
BENCHMARK(BM_ExtractEngineMetrics)->Arg(1)->Arg(8);

void BM_RenderAdminMetrics(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<std::unique_ptr<routing::BackendState>> states;
  std::vector<std::string> names;
  std::vector<upstream::ScrapeStatus> statuses(n);
  for (std::size_t i = 0; i < n; ++i) {
    states.push_back(std::make_unique<routing::BackendState>());
    states.back()->scraped.scraped_at.store(1);
    names.push_back("10.0.0." + std::to_string(i) + ":8000");
  }
  std::vector<admin::BackendFigures> backends;
  for (std::size_t i = 0; i < n; ++i) backends.push_back({"main", names[i], states[i].get(), 1, &statuses[i]});
  const admin::GatewayStat stats[] = {{"kvroute_requests_total", "Requests.", admin::StatKind::kCounter, {}, 1}};
  const admin::PoolFigures pools[] = {{"main", routing::PrefixIndexStats{}}};
  admin::MetricsView view;
  view.gateway = stats;
  view.pools = pools;
  view.backends = backends;
  view.now = 2;
  std::string out;
  for (auto _ : state) {
    out.clear();
    admin::render_metrics(view, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["page_bytes"] = static_cast<double>(out.size());
}
BENCHMARK(BM_RenderAdminMetrics)->Arg(64);

}  // namespace
