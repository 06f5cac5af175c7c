#include "sim_server/metrics.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace kvroute::sim_server {
namespace {

void append_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void append_u64(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = fmt::format_to_n(buf, sizeof buf, "{}", v);
  out.append(buf, r.out);
}

// A count or other integer as prometheus_client prints it (a float: "3.0").
void append_count(std::string& out, std::uint64_t v) {
  append_u64(out, v);
  out += ".0";
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample_prefix(std::string& out, std::string_view name, std::string_view labels) {
  out += name;
  out += '{';
  out += labels;
  out += "} ";
}

void gauge(std::string& out, std::string_view name, std::string_view help, std::string_view labels, double v) {
  header(out, name, "gauge", help);
  sample_prefix(out, name, labels);
  append_go_float(out, v);
  out += '\n';
}

void counter(std::string& out, std::string_view name, std::string_view help, std::string_view labels,
             std::uint64_t v) {
  header(out, name, "counter", help);
  sample_prefix(out, name, labels);
  append_count(out, v);
  out += '\n';
}

void histogram(std::string& out, const PromHistogram& h, std::string_view name, std::string_view help,
               std::string_view labels) {
  header(out, name, "histogram", help);
  h.render(out, name, labels);
}

}  // namespace

void append_go_float(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    // Python's repr of an integral float keeps ".0".
    auto r = fmt::format_to_n(buf, sizeof buf, "{:.1f}", v);
    out.append(buf, r.out);
    return;
  }
  // Shortest round-trip form, like Python's repr (fmt switches to exponent form for tiny values).
  auto r = fmt::format_to_n(buf, sizeof buf, "{}", v);
  out.append(buf, r.out);
}

PromHistogram::PromHistogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()), counts_(bounds.size() + 1, 0) {
  le_.reserve(bounds_.size() + 1);
  for (double b : bounds_) {
    std::string s = ",le=\"";
    append_go_float(s, b);
    s += "\"} ";
    le_.push_back(std::move(s));
  }
  le_.emplace_back(",le=\"+Inf\"} ");
}

void PromHistogram::observe(double v) {
  // Bucket i counts values <= bounds_[i]; the first bound not below v.
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  ++counts_[static_cast<std::size_t>(it - bounds_.begin())];
  ++count_;
  sum_ += v;
}

void PromHistogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  sum_ = 0;
}

void PromHistogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    cumulative += counts_[i];
    out += name;
    out += "_bucket{";
    out += labels;
    out += le_[i];
    append_count(out, cumulative);
    out += '\n';
  }
  out += name;
  out += "_count{";
  out += labels;
  out += "} ";
  append_count(out, count_);
  out += '\n';
  out += name;
  out += "_sum{";
  out += labels;
  out += "} ";
  append_go_float(out, sum_);
  out += '\n';
}

std::string_view finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kAbort: return "abort";
    case FinishReason::kError: return "error";
  }
  return "stop";
}

std::vector<double> InstanceMetrics::buckets_1_2_5(std::uint32_t max_value) {
  std::vector<double> out;
  for (std::uint64_t exponent = 1;; exponent *= 10) {
    for (std::uint64_t m : {1, 2, 5}) {
      const std::uint64_t v = m * exponent;
      if (v > max_value) return out;
      out.push_back(static_cast<double>(v));
    }
  }
}

InstanceMetrics::InstanceMetrics(std::string_view served_model, const sim::Preset& preset)
    : prompt_tokens(buckets_1_2_5(preset.max_model_len)),
      generation_tokens(buckets_1_2_5(preset.max_model_len)),
      max_tokens_param(buckets_1_2_5(preset.max_model_len)) {
  labels_ = "model_name=\"";
  append_label_value(labels_, served_model);
  labels_ += "\",engine=\"0\"";

  // vLLM logs CacheConfig as an info gauge (labels are the config fields, plus engine; no model_name).
  std::string& c = cache_config_;
  header(c, "vllm:cache_config_info", "gauge", "Information of the LLMEngine CacheConfig");
  fmt::format_to(std::back_inserter(c),
                 "vllm:cache_config_info{{block_size=\"{}\",cache_dtype=\"auto\",enable_prefix_caching=\"True\","
                 "engine=\"0\",gpu_memory_utilization=\"0.9\",num_cpu_blocks=\"None\",num_gpu_blocks=\"{}\","
                 "prefix_caching_hash_algo=\"builtin\",sliding_window=\"None\",swap_space=\"4\"}} 1.0\n",
                 preset.block_size, preset.num_gpu_blocks);
}

void InstanceMetrics::render(std::string& out, const sim::EngineStats& s) const {
  out.clear();
  const std::string_view l = labels_;
  gauge(out, "vllm:num_requests_running", "Number of requests in model execution batches.", l, s.num_running);
  gauge(out, "vllm:num_requests_waiting", "Number of requests waiting to be processed.", l, s.num_waiting);
  gauge(out, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", l, s.kv_cache_usage);
  counter(out, "vllm:num_preemptions_total", "Cumulative number of preemption from the engine.", l,
          s.num_preemptions);
  counter(out, "vllm:prefix_cache_queries_total", "Prefix cache queries, in terms of number of queried tokens.",
          l, s.prefix_cache_queries);
  counter(out, "vllm:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens.", l,
          s.prefix_cache_hits);
  counter(out, "vllm:prompt_tokens_total", "Number of prefill tokens processed.", l, s.prompt_tokens);
  counter(out, "vllm:generation_tokens_total", "Number of generation tokens processed.", l, s.generation_tokens);

  header(out, "vllm:request_success_total", "counter", "Count of successfully processed requests.");
  for (FinishReason r : {FinishReason::kStop, FinishReason::kLength, FinishReason::kAbort, FinishReason::kError}) {
    out += "vllm:request_success_total{";
    out += l;
    out += ",finished_reason=\"";
    out += finish_reason_name(r);
    out += "\"} ";
    append_count(out, success(r));
    out += '\n';
  }

  histogram(out, iteration_tokens, "vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.",
            l);
  histogram(out, prompt_tokens, "vllm:request_prompt_tokens", "Number of prefill tokens processed.", l);
  histogram(out, generation_tokens, "vllm:request_generation_tokens", "Number of generation tokens processed.", l);
  histogram(out, max_tokens_param, "vllm:request_params_max_tokens",
            "Histogram of the max_tokens request parameter.", l);
  histogram(out, ttft, "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", l);
  histogram(out, tpot, "vllm:time_per_output_token_seconds", "Histogram of time per output token in seconds.", l);
  histogram(out, itl, "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", l);
  histogram(out, e2e, "vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", l);
  histogram(out, queue_time, "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.", l);
  histogram(out, inference_time, "vllm:request_inference_time_seconds",
            "Histogram of time spent in RUNNING phase for request.", l);
  histogram(out, prefill_time, "vllm:request_prefill_time_seconds",
            "Histogram of time spent in PREFILL phase for request.", l);
  histogram(out, decode_time, "vllm:request_decode_time_seconds",
            "Histogram of time spent in DECODE phase for request.", l);
  out += cache_config_;
  histogram(out, token_lateness, "kvroute_sim_token_lateness_seconds",
            "kvroute-sim only: time from a token's scheduled step end to its SSE event being handed to the socket.",
            l);
}

}  // namespace kvroute::sim_server
