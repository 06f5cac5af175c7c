#pragma once
// The gateway's Prometheus page (GET /metrics on the admin listener), rendered from plain views of
// what the gateway holds: its request statistics as rows the gateway lists (one table in the proxy,
// so a new statistic is one line there), and per pool and backend the live routing state
// (routing::BackendState atomics), the scraper's status and the prefix index's size.
//
// Every family is prefixed kvroute_; per-backend ones carry the labels pool and backend (the
// backend's configured name). docs/gateway.md ("Admin listener") lists each with its meaning; keep
// the two in step.
//
// Rendering reads relaxed atomics and the views only: it never waits on a worker. (The prefix index
// figures in PoolFigures are the caller's; PrefixIndex::stats() takes each of its stripe locks for a
// moment.) Pure: any thread; no sockets, so tests render hand-built state and compare lines.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "admin/prom_writer.h"
#include "common/time_source.h"
#include "routing/backend_state.h"
#include "routing/prefix_index.h"
#include "upstream/metrics_scraper.h"

namespace kvroute::admin {

/// How a gateway statistic is exposed.
enum class StatKind : std::uint8_t {
  kCounter,          ///< a counter: the row's family name is the sample name (ends in _total)
  kCounterNanos,     ///< a counter held in nanoseconds, exposed in seconds (a total of time spent)
  kGauge,            ///< a gauge, as is
  kGaugeNanos,       ///< a gauge held in nanoseconds, exposed in seconds
  kSummarySumNanos,  ///< the _sum sample of a summary, held in nanoseconds, exposed in seconds
  kSummaryCount,     ///< the _count sample of a summary
};

/// One figure of the gateway itself. Rows of one family are adjacent, the first one's help counts.
struct GatewayStat {
  std::string_view family;
  std::string_view help;
  StatKind kind = StatKind::kCounter;
  PromLabel label;  ///< one optional label (empty value: none), to split a family (responses by class)
  std::uint64_t value = 0;
};

struct PoolFigures {
  std::string_view name;
  /// The pool's prefix index, for the policies that keep one through the pool's accounting.
  std::optional<routing::PrefixIndexStats> prefix_index;
};

struct BackendFigures {
  std::string_view pool;
  std::string_view name;
  const routing::BackendState* state = nullptr;  ///< never null
  std::uint32_t weight = 1;
  const upstream::ScrapeStatus* scrape = nullptr;  ///< null: not scraped (the pool's metrics are off)
};

struct MetricsView {
  std::span<const GatewayStat> gateway;
  std::span<const PoolFigures> pools;
  std::span<const BackendFigures> backends;  ///< pools' backends, pool by pool
  Nanos now = 0;                             ///< the TimeSource's now, for the scrape ages
};

/// Appends the whole page to out.
void render_metrics(const MetricsView& view, std::string& out);

}  // namespace kvroute::admin
