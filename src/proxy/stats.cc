#include "proxy/stats.h"

#include <algorithm>

namespace kvroute::proxy {

void StatsTotals::add(const WorkerStats& s) {
  connections_accepted += s.connections_accepted.get();
  requests += s.requests.get();
  proxied += s.proxied.get();
  responses_2xx += s.responses_2xx.get();
  responses_4xx += s.responses_4xx.get();
  responses_5xx += s.responses_5xx.get();
  responses_other += s.responses_other.get();
  gateway_errors += s.gateway_errors.get();
  retries += s.retries.get();
  stale_retries += s.stale_retries.get();
  upstream_connects += s.upstream_connects.get();
  upstream_reuses += s.upstream_reuses.get();
  connect_failures += s.connect_failures.get();
  connect_timeouts += s.connect_timeouts.get();
  first_token_timeouts += s.first_token_timeouts.get();
  idle_timeouts += s.idle_timeouts.get();
  total_timeouts += s.total_timeouts.get();
  client_aborts += s.client_aborts.get();
  ttft_count += s.ttft_count.get();
  ttft_sum_ns += s.ttft_sum_ns.get();
  itl_count += s.itl_count.get();
  itl_sum_ns += s.itl_sum_ns.get();
  itl_max_ns = std::max(itl_max_ns, s.itl_max_ns.get());
  held += s.held.get();
  held_dispatched += s.held_dispatched.get();
  hold_queue_full += s.hold_queue_full.get();
  hold_timeouts += s.hold_timeouts.get();
  hold_abandoned += s.hold_abandoned.get();
  hold_drained += s.hold_drained.get();
  held_ns_sum += s.held_ns_sum.get();
}

}  // namespace kvroute::proxy
