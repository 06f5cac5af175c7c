#pragma once
// Which backend metrics pages the control thread scrapes for a routing snapshot
// (upstream/metrics_scraper.h). Kept apart from the gateway so the rules are testable.

#include <vector>

#include "proxy/routing_snapshot.h"
#include "upstream/metrics_scraper.h"

namespace kvroute::proxy {

/// One target per routable backend of every pool whose metrics are enabled, in config order. A url
/// (with the same metrics path) listed by several pools is scraped once: its target writes into each
/// pool's BackendState, at the smallest interval of those pools and the largest of their timeouts
/// (the longest any of them is willing to wait). Drained backends (weight 0) are not in the snapshot
/// and are not scraped. Control thread.
std::vector<upstream::ScrapeTarget> scrape_targets(const RoutingSnapshot& snapshot);

}  // namespace kvroute::proxy
