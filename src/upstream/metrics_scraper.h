#pragma once
// The metrics scraper: reads every backend's own Prometheus page (vLLM / SGLang names,
// engine_metrics.h) on the control thread and stores the figures into routing::BackendState::scraped,
// where kv_aware, llmd_default, cost and the prefix index's capacity read them.
//
// One coroutine per scrape target (a backend url and metrics path), on the control thread's
// io_context: GET base_path + path on a kept-alive connection, parse, store with relaxed atomics and
// scraped_at = the TimeSource's now. Targets are independent (a slow or dead backend delays only its
// own loop) and staggered: target i of n first fires i/n of its interval after start(), and each
// then keeps a fixed rate (the next scrape is due one interval after the previous one began, or at
// once when a scrape took longer than that), so they stay spread out instead of firing together.
//
// Failure (no connection, timeout, a status other than 200, a page with none of the load figures):
// the stored figures are kept, and age (policies ignore figures older than their metrics_max_age);
// the failure is counted. Logging is per transition, not per attempt: a warning at the first
// failure (after a success, or ever), an info line when scrapes succeed again, debug lines between.
//
// Threading: every method, and every loop, on the io_context's thread (the control thread).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/time_source.h"
#include "routing/backend_state.h"
#include "upstream/backend_target.h"

namespace boost::asio {
class io_context;
}

namespace kvroute::upstream {

/// One endpoint to scrape and where its figures go.
struct ScrapeTarget {
  BackendTarget backend;
  std::string path = "/metrics";  ///< appended to the backend's base path
  Nanos interval = 50 * kNanosPerMilli;
  Nanos timeout = kNanosPerSecond;  ///< one scrape, connect included
  /// Every state that shows this backend's figures (one per pool that lists the url).
  std::vector<std::shared_ptr<routing::BackendState>> states;
};

/// How scraping one target went, for the admin metrics.
struct ScrapeStatus {
  std::uint64_t successes = 0;
  std::uint64_t failures = 0;
  Nanos last_success_at = routing::kNever;  ///< TimeSource time
  bool failing = false;                     ///< the latest attempt failed
  std::string last_error;                   ///< of the latest failure
};

class MetricsScraper {
 public:
  /// `clock` stamps scraped_at (the gateway's TimeSource); it must outlive the scraper.
  MetricsScraper(boost::asio::io_context& io, const TimeSource& clock);
  /// Stops every loop.
  ~MetricsScraper();
  MetricsScraper(const MetricsScraper&) = delete;
  MetricsScraper& operator=(const MetricsScraper&) = delete;

  /// Control thread. Scrapes exactly `targets` from now on. A target whose url and path were already
  /// scraped keeps its loop, connection and status and takes the new states, interval and timeout
  /// (a snapshot rebuild); the others start, staggered over their interval; loops of targets no
  /// longer listed stop.
  void start(std::vector<ScrapeTarget> targets);

  /// Control thread. Stops every loop promptly: timers cancelled, connections closed (a scrape in
  /// progress is abandoned). Idempotent; start() may be called again afterwards.
  void stop();

  /// Control thread. The status of the target that writes into `state`; null when none does.
  const ScrapeStatus* status(const routing::BackendState& state) const;

  /// Control thread. Number of targets being scraped.
  std::size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvroute::upstream
