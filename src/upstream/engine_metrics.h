#pragma once
// The figures an inference server's /metrics page gives the routing policies, read from vLLM's or
// SGLang's metric names (SIMULATOR-FACTS.md sections 1-3), as the metrics scraper stores them into
// routing::ScrapedMetrics.
//
//   figure           vLLM (V1; deprecated aliases used only when the new name is absent)     SGLang
//   running          vllm:num_requests_running                                               sglang:num_running_reqs
//   waiting          vllm:num_requests_waiting                                               sglang:num_queue_reqs
//   KV usage (0-1)   vllm:kv_cache_usage_perc, else vllm:gpu_cache_usage_perc                sglang:token_usage
//   prefix hits      vllm:prefix_cache_hits_total, else vllm:gpu_prefix_cache_hits_total    (none)
//   prefix queries   vllm:prefix_cache_queries_total, else vllm:gpu_prefix_cache_queries_total (none)
//   KV capacity      vllm:cache_config_info labels: kv_cache_size_tokens, else sglang:max_total_num_tokens
//                    num_gpu_blocks x block_size
//   preemptions      vllm:num_preemptions_total                                              (none)
//
// Names are matched exactly: vllm:num_requests_waiting_by_reason, the _created series of counters and
// histogram parts never count. A server with several models or engines (labels model_name, engine)
// exposes one series per engine: counts and counters are summed, capacities summed, and KV usage is
// the capacity-weighted mean of the engines' usages when every engine's capacity is known (joined on
// the engine label, else on the whole label list, which is how SGLang's token_usage and
// max_total_num_tokens pair up), else their plain mean. Negative, NaN or infinite values are ignored.
// A figure the page does not have stays absent (SGLang has no prefix-cache counters).
//
// Pure: any thread; no allocation.

#include <cstdint>
#include <optional>
#include <string_view>

namespace kvroute::upstream {

struct EngineMetrics {
  std::optional<std::uint64_t> running;               ///< requests in the running batch
  std::optional<std::uint64_t> waiting;               ///< requests queued, preempted ones included
  std::optional<double> kv_usage;                     ///< fraction of the KV cache in use, [0, 1]
  std::optional<std::uint64_t> prefix_cache_hits;     ///< cumulative tokens served from the prefix cache
  std::optional<std::uint64_t> prefix_cache_queries;  ///< cumulative tokens looked up in it
  std::optional<std::uint64_t> kv_capacity_tokens;    ///< KV cache size in tokens
  std::optional<std::uint64_t> preemptions;           ///< cumulative preemptions

  /// Whether the page had any of the load figures (running, waiting, KV usage): a page without
  /// them is not an inference server's, and must not pass for one that is idle.
  bool has_load_figures() const { return running || waiting || kv_usage; }
};

/// Reads the figures from a Prometheus text page. Malformed lines are skipped (see prometheus_text.h).
EngineMetrics extract_engine_metrics(std::string_view page);

}  // namespace kvroute::upstream
