#pragma once
// The gateway's side of the admin /metrics page: its request statistics (StatsTotals) as exposition
// rows through one table, and the views of pools and backends that admin/gateway_metrics.h renders.
//
// Adding a statistic to WorkerStats/StatsTotals: add one row to kStatsFields in admin_metrics.cc
// (a static_assert there fails the build until every StatsTotals field has a row) and a line to
// docs/gateway.md.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "admin/gateway_metrics.h"
#include "proxy/routing_snapshot.h"
#include "proxy/stats.h"
#include "upstream/metrics_scraper.h"

namespace kvroute::proxy {

/// How one StatsTotals field is exposed.
struct StatsField {
  std::uint64_t StatsTotals::*field;
  std::string_view family;  ///< metric name; rows of one family are adjacent in the table
  std::string_view help;    ///< the first row of a family carries it
  admin::StatKind kind;
  admin::PromLabel label;  ///< splits a family (responses by class, timeouts by phase); empty: none
};

/// The table, in exposition order: every field of StatsTotals exactly once.
std::span<const StatsField> stats_fields();

/// Appends the whole admin /metrics page to out: the gateway's statistics and open client
/// connections, every pool's backends (state, scrape status from `scraper`, which may be null) and
/// prefix index. `now` is the gateway's TimeSource time. Control thread (reads atomics only, and
/// each prefix index's stripe locks for a moment).
void render_admin_metrics(const RoutingSnapshot& snapshot, const StatsTotals& totals, std::uint64_t client_connections,
                          const upstream::MetricsScraper* scraper, Nanos now, std::string& out);

}  // namespace kvroute::proxy
