#include "proxy/admin_metrics.h"

#include <vector>

#include "routing/prefix_index.h"

namespace kvroute::proxy {
namespace {

using admin::StatKind;
using S = StatsTotals;

constexpr StatsField kStatsFields[] = {
    {&S::connections_accepted,
     "kvroute_client_connections_accepted_total",
     "Client connections accepted.",
     StatKind::kCounter,
     {}},
    {&S::requests, "kvroute_requests_total", "Requests read from clients.", StatKind::kCounter, {}},
    {&S::proxied,
     "kvroute_requests_proxied_total",
     "Requests sent to a backend (first attempts).",
     StatKind::kCounter,
     {}},
    {&S::responses_2xx,
     "kvroute_responses_total",
     "Responses to clients by status class (the gateway's own errors included).",
     StatKind::kCounter,
     {"class", "2xx"}},
    {&S::responses_4xx, "kvroute_responses_total", "", StatKind::kCounter, {"class", "4xx"}},
    {&S::responses_5xx, "kvroute_responses_total", "", StatKind::kCounter, {"class", "5xx"}},
    {&S::responses_other, "kvroute_responses_total", "", StatKind::kCounter, {"class", "other"}},
    {&S::gateway_errors,
     "kvroute_gateway_errors_total",
     "Error responses made by the gateway itself (bad requests, no backend, upstream failures).",
     StatKind::kCounter,
     {}},
    {&S::retries, "kvroute_retries_total", "Attempts on another backend after a failed one.", StatKind::kCounter, {}},
    {&S::stale_retries,
     "kvroute_stale_connection_retries_total",
     "Requests resent on a fresh connection after a kept-alive one turned out closed.",
     StatKind::kCounter,
     {}},
    {&S::upstream_connects,
     "kvroute_upstream_connections_opened_total",
     "Connections opened to backends.",
     StatKind::kCounter,
     {}},
    {&S::upstream_reuses,
     "kvroute_upstream_connection_reuses_total",
     "Requests sent on a kept-alive backend connection.",
     StatKind::kCounter,
     {}},
    {&S::connect_failures,
     "kvroute_upstream_connect_failures_total",
     "Backend connections that failed (refused, unreachable).",
     StatKind::kCounter,
     {}},
    {&S::connect_timeouts,
     "kvroute_upstream_timeouts_total",
     "Exchanges with backends cut by a timeout, by phase (timeouts.connect, first_token, stream_idle, total).",
     StatKind::kCounter,
     {"phase", "connect"}},
    {&S::first_token_timeouts, "kvroute_upstream_timeouts_total", "", StatKind::kCounter, {"phase", "first_token"}},
    {&S::idle_timeouts, "kvroute_upstream_timeouts_total", "", StatKind::kCounter, {"phase", "stream_idle"}},
    {&S::total_timeouts, "kvroute_upstream_timeouts_total", "", StatKind::kCounter, {"phase", "total"}},
    {&S::client_aborts,
     "kvroute_client_aborts_total",
     "Clients that went away mid-request (the upstream request was cancelled).",
     StatKind::kCounter,
     {}},
    {&S::ttft_sum_ns,
     "kvroute_ttft_seconds",
     "Time to first token seen by the gateway (first SSE event, or the response head when not streamed).",
     StatKind::kSummarySumNanos,
     {}},
    {&S::ttft_count, "kvroute_ttft_seconds", "", StatKind::kSummaryCount, {}},
    {&S::itl_sum_ns,
     "kvroute_itl_seconds",
     "Gaps between consecutive SSE events of streamed responses.",
     StatKind::kSummarySumNanos,
     {}},
    {&S::itl_count, "kvroute_itl_seconds", "", StatKind::kSummaryCount, {}},
    {&S::itl_max_ns,
     "kvroute_itl_max_seconds",
     "Longest gap between two SSE events of a stream since start.",
     StatKind::kGaugeNanos,
     {}},
    {&S::held,
     "kvroute_hold_queue_entered_total",
     "Requests that entered a pool's hold queue (a retry held again counts again).",
     StatKind::kCounter,
     {}},
    {&S::held_dispatched,
     "kvroute_hold_queue_left_total",
     "Requests that left a hold queue, by reason: dispatched (bound to a backend), timeout (held for "
     "queue.max_wait, answered 503), abandoned (the client went away), drained (answered 503 at shutdown).",
     StatKind::kCounter,
     {"reason", "dispatched"}},
    {&S::hold_timeouts, "kvroute_hold_queue_left_total", "", StatKind::kCounter, {"reason", "timeout"}},
    {&S::hold_abandoned, "kvroute_hold_queue_left_total", "", StatKind::kCounter, {"reason", "abandoned"}},
    {&S::hold_drained, "kvroute_hold_queue_left_total", "", StatKind::kCounter, {"reason", "drained"}},
    {&S::hold_queue_full,
     "kvroute_hold_queue_full_total",
     "Requests answered 503 at once because queue.max_requests were held already.",
     StatKind::kCounter,
     {}},
    {&S::held_ns_sum,
     "kvroute_hold_queue_wait_seconds_total",
     "Time requests spent in hold queues, all exits.",
     StatKind::kCounterNanos,
     {}},
};

// A new StatsTotals field without a row here fails this check: give it a row above (and a line in
// docs/gateway.md). The table holds only std::uint64_t fields, so the sizes must match.
static_assert(sizeof(StatsTotals) == std::size(kStatsFields) * sizeof(std::uint64_t),
              "every StatsTotals field needs a row in kStatsFields");

}  // namespace

std::span<const StatsField> stats_fields() { return kStatsFields; }

void render_admin_metrics(const RoutingSnapshot& snapshot, const StatsTotals& totals, std::uint64_t client_connections,
                          const upstream::MetricsScraper* scraper, Nanos now, std::string& out) {
  std::vector<admin::GatewayStat> rows;
  rows.reserve(std::size(kStatsFields) + 1);
  for (const StatsField& f : kStatsFields) rows.push_back({f.family, f.help, f.kind, f.label, totals.*(f.field)});
  rows.push_back(
      {"kvroute_client_connections", "Client connections open now.", StatKind::kGauge, {}, client_connections});

  std::vector<admin::PoolFigures> pools;
  std::vector<admin::BackendFigures> backends;
  pools.reserve(snapshot.pools.size());
  for (const PoolRuntime& pool : snapshot.pools) {
    admin::PoolFigures p;
    p.name = pool.config.name;
    if (const auto index = pool.factory->estimator_config().prefix_index) p.prefix_index = index->stats();
    pools.push_back(p);
    for (const routing::Backend& b : pool.set->backends()) {
      admin::BackendFigures f;
      f.pool = pool.config.name;
      f.name = b.id;
      f.state = b.shared_state.get();
      f.weight = b.weight;
      f.scrape = scraper != nullptr ? scraper->status(*b.shared_state) : nullptr;
      backends.push_back(f);
    }
  }
  admin::MetricsView view;
  view.gateway = rows;
  view.pools = pools;
  view.backends = backends;
  view.now = now;
  admin::render_metrics(view, out);
}

}  // namespace kvroute::proxy
