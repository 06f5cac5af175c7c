#pragma once
// A trace prepared for replay: for every request, what the gateway computes from its prompt (the
// routing features: PromptFeatureBuilder's 64-byte block hashes seeded by the model name, and its
// token estimate) and what a simulated server computes from the same text (PromptTokenizer's token
// count and KV block identities). Built once per run and shared, read-only, by every policy run.
//
// The prompt text itself is never kept: it is synthesised (or taken from a kvroute trace record),
// hashed on both sides and dropped, so memory is two hashes per 64 bytes of prompt (16 bytes per 16
// tokens; the 12k-request Mooncake trace, 145 M prompt tokens, needs about 145 MB).
//
// It also measures the sharing an ideal system could exploit: for each request, the prompt tokens
// whose KV blocks some earlier request (in arrival order) already had, as one infinite prefix cache
// would serve them (whole blocks, at most prompt_tokens - 1 tokens, as the engine caps a hit).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench/trace.h"
#include "common/result.h"
#include "common/time_source.h"
#include "routing/request_features.h"
#include "sim/preset.h"

namespace kvroute::bench {

struct WorkloadRequest {
  Nanos arrival = 0;                   ///< from the trace's origin, unscaled
  std::uint32_t prompt_tokens = 0;     ///< the simulated server's count (sim/tokenizer.h)
  std::uint32_t estimated_tokens = 0;  ///< the gateway's estimate (RequestFeatures::prompt_tokens)
  std::uint32_t output_tokens = 0;     ///< tokens to generate (also RequestFeatures::max_tokens)
  std::uint32_t model = 0;             ///< index into Workload::models()
  std::uint32_t shared_tokens = 0;     ///< prompt tokens an infinite cache holds from earlier requests
  routing::RoutingKey routing_key;     ///< from the record's `user`, if any
  std::uint64_t feature_begin = 0;     ///< into the feature hash arena
  std::uint64_t engine_begin = 0;      ///< into the engine hash arena
  std::uint32_t feature_count = 0;
  std::uint32_t engine_count = 0;
  std::uint32_t line = 0;  ///< source line, for messages
};

class Workload {
 public:
  /// Prepares `trace`. Requests without a model of their own use `default_model` (its name seeds
  /// the gateway's hash chain). `engine_block_tokens` is the simulated servers' KV block size (16;
  /// every preset uses it). Errors (22): a block size the tokenizer cannot hash.
  static Result<Workload> build(const Trace& trace, std::string_view default_model,
                                std::uint32_t engine_block_tokens = 16);

  std::span<const WorkloadRequest> requests() const { return requests_; }
  std::size_t size() const { return requests_.size(); }
  /// Gateway block hashes of request r (RequestFeatures::block_hashes).
  std::span<const std::uint64_t> feature_hashes(const WorkloadRequest& r) const {
    return {feature_hashes_.data() + r.feature_begin, r.feature_count};
  }
  /// Engine KV block identities of request r (EngineRequest::block_hashes).
  std::span<const std::uint64_t> engine_hashes(const WorkloadRequest& r) const {
    return {engine_hashes_.data() + r.engine_begin, r.engine_count};
  }
  const std::vector<std::string>& models() const { return models_; }
  std::uint32_t engine_block_tokens() const { return engine_block_tokens_; }

  std::uint64_t total_prompt_tokens() const { return total_prompt_tokens_; }
  std::uint64_t total_shared_tokens() const { return total_shared_tokens_; }
  /// Fraction of all prompt tokens that an infinite cache shared by everyone could serve.
  double achievable_hit_rate() const;

 private:
  std::vector<WorkloadRequest> requests_;
  std::vector<std::uint64_t> feature_hashes_;
  std::vector<std::uint64_t> engine_hashes_;
  std::vector<std::string> models_;
  std::uint32_t engine_block_tokens_ = 16;
  std::uint64_t total_prompt_tokens_ = 0;
  std::uint64_t total_shared_tokens_ = 0;
};

/// Time to first token of a request of `prompt_tokens` tokens, `cached_tokens` of which are already
/// in the prefix cache, alone on an idle server of `preset` running at `speed_factor`: the chunked
/// prefill the engine would run (chunks of max_num_batched_tokens, each step costed by
/// sim::step_seconds and rounded as the engine rounds it), no queueing. The hit is cut to whole
/// blocks and at most prompt_tokens - 1 tokens, as the engine does.
Nanos idle_prefill_time(const sim::Preset& preset, double speed_factor, std::uint32_t prompt_tokens,
                        std::uint32_t cached_tokens);

}  // namespace kvroute::bench
