#include "admin/gateway_metrics.h"

#include <algorithm>

namespace kvroute::admin {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

std::string_view type_of(StatKind kind) {
  switch (kind) {
    case StatKind::kCounter:
    case StatKind::kCounterNanos:
      return "counter";
    case StatKind::kGauge:
    case StatKind::kGaugeNanos:
      return "gauge";
    case StatKind::kSummarySumNanos:
    case StatKind::kSummaryCount:
      return "summary";
  }
  return "untyped";
}

void render_gateway(PromWriter& w, std::span<const GatewayStat> rows, std::string& name) {
  std::string_view family;
  for (const GatewayStat& row : rows) {
    if (row.family != family) {
      family = row.family;
      w.family(row.family, type_of(row.kind), row.help);
    }
    const PromLabel labels[] = {row.label};
    const std::span<const PromLabel> l(labels, row.label.value.empty() ? 0 : 1);
    name.assign(row.family);
    switch (row.kind) {
      case StatKind::kCounter:
      case StatKind::kGauge:
        w.sample(name, l, row.value);
        break;
      case StatKind::kCounterNanos:
      case StatKind::kGaugeNanos:
        w.sample(name, l, static_cast<double>(row.value) / 1e9);
        break;
      case StatKind::kSummarySumNanos:
        name += "_sum";
        w.sample(name, l, static_cast<double>(row.value) / 1e9);
        break;
      case StatKind::kSummaryCount:
        name += "_count";
        w.sample(name, l, row.value);
        break;
    }
  }
}

/// A per-backend family: one sample per backend (when `get` has a value), with one optional extra
/// label. Rows with the same name are one family, written under the first row's help.
struct BackendFamily {
  std::string_view name;
  std::string_view type;
  std::string_view help;
  PromLabel extra;
  std::optional<double> (*get)(const BackendFigures&, Nanos now);
};

template <class T>
std::optional<double> num(T v) {
  return static_cast<double>(v);
}

bool scraped(const BackendFigures& b) { return b.state->scraped.scraped_at.load(kRelaxed) != routing::kNever; }

// Scraped figures exist only after a first successful scrape.
template <class Atomic>
std::optional<double> scraped_value(const BackendFigures& b, const Atomic& a) {
  if (!scraped(b)) return std::nullopt;
  return static_cast<double>(a.load(kRelaxed));
}

constexpr BackendFamily kBackendFamilies[] = {
    // What the gateway itself knows (written by the workers at every dispatch and completion).
    {"kvroute_backend_in_flight",
     "gauge",
     "Requests dispatched to the backend and not completed.",
     {},
     [](const BackendFigures& b, Nanos) { return num(b.state->in_flight()); }},
    {"kvroute_backend_outstanding_prefill_tokens",
     "gauge",
     "Prompt tokens of the requests dispatched to the backend that have no first token yet.",
     {},
     [](const BackendFigures& b, Nanos) {
       return num(std::max<std::int64_t>(0, b.state->accounting.outstanding_prefill_tokens.load(kRelaxed)));
     }},
    {"kvroute_backend_active_decodes",
     "gauge",
     "Requests on the backend past their first token (decoding).",
     {},
     [](const BackendFigures& b, Nanos) {
       return num(std::max<std::int64_t>(0, b.state->accounting.active_decodes.load(kRelaxed)));
     }},
    {"kvroute_backend_dispatched_total",
     "counter",
     "Requests dispatched to the backend (retries included).",
     {},
     [](const BackendFigures& b, Nanos) { return num(b.state->accounting.dispatched_total.load(kRelaxed)); }},
    {"kvroute_backend_completed_total",
     "counter",
     "Requests the backend finished, by outcome: ok (a complete answer below 500), error (failed, timed "
     "out, or a 5xx status), cancelled (the client went away).",
     {"outcome", "ok"},
     [](const BackendFigures& b, Nanos) { return num(b.state->accounting.ok_total.load(kRelaxed)); }},
    {"kvroute_backend_completed_total",
     "counter",
     "",
     {"outcome", "error"},
     [](const BackendFigures& b, Nanos) { return num(b.state->accounting.error_total.load(kRelaxed)); }},
    {"kvroute_backend_completed_total",
     "counter",
     "",
     {"outcome", "cancelled"},
     [](const BackendFigures& b, Nanos) { return num(b.state->accounting.cancelled_total.load(kRelaxed)); }},
    {"kvroute_backend_prefill_tokens_per_second",
     "gauge",
     "Learned prefill throughput of the backend, in work tokens per second at no decode load (0 until "
     "learned; policies that read it blend it with a prior).",
     {},
     [](const BackendFigures& b, Nanos) { return num(b.state->estimates.prefill_tokens_per_second.load(kRelaxed)); }},
    {"kvroute_backend_ttft_ewma_seconds",
     "gauge",
     "Peak-EWMA of the time from dispatch to first token measured by the gateway (absent before the first "
     "sample).",
     {},
     [](const BackendFigures& b, Nanos) -> std::optional<double> {
       const auto v = b.state->estimates.ttft.value();
       if (!v) return std::nullopt;
       return *v / 1e9;
     }},
    {"kvroute_backend_healthy",
     "gauge",
     "1 when the backend takes new requests, 0 when down, ejected or drained.",
     {},
     [](const BackendFigures& b, Nanos) { return num(b.state->healthy() ? 1 : 0); }},
    {"kvroute_backend_weight",
     "gauge",
     "Configured weight of the backend in its pool.",
     {},
     [](const BackendFigures& b, Nanos) { return num(b.weight); }},

    // Scraped from the backend's own metrics page (absent until the first successful scrape).
    {"kvroute_backend_scraped_running",
     "gauge",
     "Requests running on the backend (vllm:num_requests_running, sglang:num_running_reqs), as last scraped.",
     {},
     [](const BackendFigures& b, Nanos) { return scraped_value(b, b.state->scraped.num_running); }},
    {"kvroute_backend_scraped_waiting",
     "gauge",
     "Requests waiting on the backend (vllm:num_requests_waiting, sglang:num_queue_reqs), as last scraped.",
     {},
     [](const BackendFigures& b, Nanos) { return scraped_value(b, b.state->scraped.num_waiting); }},
    {"kvroute_backend_scraped_kv_usage_ratio",
     "gauge",
     "KV-cache usage of the backend, 0-1 (vllm:kv_cache_usage_perc, sglang:token_usage), as last scraped.",
     {},
     [](const BackendFigures& b, Nanos) { return scraped_value(b, b.state->scraped.kv_usage); }},
    {"kvroute_backend_scraped_kv_capacity_tokens",
     "gauge",
     "KV-cache size of the backend in tokens (vllm:cache_config_info num_gpu_blocks x block_size, "
     "sglang:max_total_num_tokens); 0 when the backend does not say.",
     {},
     [](const BackendFigures& b, Nanos) { return scraped_value(b, b.state->scraped.kv_capacity_tokens); }},
    {"kvroute_backend_scraped_prefix_cache_hit_tokens_total",
     "counter",
     "Prompt tokens the backend served from its prefix cache (vllm:prefix_cache_hits_total), as last scraped.",
     {},
     [](const BackendFigures& b, Nanos) { return scraped_value(b, b.state->scraped.prefix_cache_hits); }},
    {"kvroute_backend_scraped_prefix_cache_query_tokens_total",
     "counter",
     "Prompt tokens the backend looked up in its prefix cache (vllm:prefix_cache_queries_total), as last "
     "scraped.",
     {},
     [](const BackendFigures& b, Nanos) { return scraped_value(b, b.state->scraped.prefix_cache_queries); }},
    {"kvroute_backend_scraped_preemptions_total",
     "counter",
     "Preemptions on the backend (vllm:num_preemptions_total), as last scraped.",
     {},
     [](const BackendFigures& b, Nanos) { return scraped_value(b, b.state->scraped.num_preemptions); }},
    {"kvroute_backend_scrape_age_seconds",
     "gauge",
     "Age of the scraped figures: seconds since the last successful scrape of the backend.",
     {},
     [](const BackendFigures& b, Nanos now) -> std::optional<double> {
       if (!scraped(b)) return std::nullopt;
       return static_cast<double>(now - b.state->scraped.scraped_at.load(kRelaxed)) / 1e9;
     }},
    {"kvroute_backend_scrapes_total",
     "counter",
     "Scrapes of the backend's metrics page, by result: ok, or error (no answer, a status other than 200, "
     "or no load figures on the page).",
     {"result", "ok"},
     [](const BackendFigures& b, Nanos) -> std::optional<double> {
       if (b.scrape == nullptr) return std::nullopt;
       return static_cast<double>(b.scrape->successes);
     }},
    {"kvroute_backend_scrapes_total",
     "counter",
     "",
     {"result", "error"},
     [](const BackendFigures& b, Nanos) -> std::optional<double> {
       if (b.scrape == nullptr) return std::nullopt;
       return static_cast<double>(b.scrape->failures);
     }},

    // The prefix index's predictions against what the backend reported (usage cached_tokens).
    {"kvroute_backend_prefix_predicted_cached_tokens_total",
     "counter",
     "Prompt tokens the prefix index predicted the backend held in its cache, at dispatch.",
     {},
     [](const BackendFigures& b, Nanos) { return num(b.state->prefix.predicted_cached_tokens_total.load(kRelaxed)); }},
    {"kvroute_backend_prefix_reported_cached_tokens_total",
     "counter",
     "Cached prompt tokens the backend reported (usage.prompt_tokens_details.cached_tokens).",
     {},
     [](const BackendFigures& b, Nanos) { return num(b.state->prefix.reported_cached_tokens_total.load(kRelaxed)); }},
    {"kvroute_backend_prefix_reported_prompt_tokens_total",
     "counter",
     "Prompt tokens of the requests whose answer reported cached tokens.",
     {},
     [](const BackendFigures& b, Nanos) { return num(b.state->prefix.reported_prompt_tokens_total.load(kRelaxed)); }},
    {"kvroute_backend_prefix_reports_total",
     "counter",
     "Answers of the backend that reported cached tokens.",
     {},
     [](const BackendFigures& b, Nanos) { return num(b.state->prefix.reports_total.load(kRelaxed)); }},
    {"kvroute_backend_prefix_overpredictions_total",
     "counter",
     "Reports of fewer cached tokens than the prefix index predicted.",
     {},
     [](const BackendFigures& b, Nanos) { return num(b.state->prefix.overpredictions_total.load(kRelaxed)); }},
};

struct PoolFamily {
  std::string_view name;
  std::string_view help;
  std::uint64_t routing::PrefixIndexStats::*field;
};

constexpr PoolFamily kPoolFamilies[] = {
    {"kvroute_prefix_index_blocks", "Distinct prompt-prefix blocks the pool's prefix index tracks.",
     &routing::PrefixIndexStats::blocks},
    {"kvroute_prefix_index_entries", "Tracked (backend, block) pairs in the pool's prefix index.",
     &routing::PrefixIndexStats::entries},
    {"kvroute_prefix_index_bytes", "Heap bytes of the pool's prefix index (bounded by the backends' KV capacities).",
     &routing::PrefixIndexStats::bytes},
};

}  // namespace

void render_metrics(const MetricsView& view, std::string& out) {
  PromWriter w(out);
  std::string name;
  render_gateway(w, view.gateway, name);

  std::string_view family;
  for (const BackendFamily& f : kBackendFamilies) {
    if (f.name != family) {
      family = f.name;
      w.family(f.name, f.type, f.help);
    }
    for (const BackendFigures& b : view.backends) {
      const auto v = f.get(b, view.now);
      if (!v) continue;
      const PromLabel labels[] = {{"pool", b.pool}, {"backend", b.name}, f.extra};
      w.sample(f.name, labels, *v);
    }
  }

  for (const PoolFamily& f : kPoolFamilies) {
    w.family(f.name, "gauge", f.help);
    for (const PoolFigures& p : view.pools) {
      if (!p.prefix_index) continue;
      w.sample(f.name, {{"pool", p.name}}, (*p.prefix_index).*f.field);
    }
  }
}

}  // namespace kvroute::admin
