#include "bench/workload.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "bench/synthetic_text.h"
#include "common/hash.h"
#include "routing/prompt_features.h"
#include "sim/engine.h"
#include "sim/tokenizer.h"

namespace kvroute::bench {
namespace {

constexpr int kInvalidArgument = 22;

/// Open-addressing set of 64-bit block identities (linear probing, grows at 50 % load). A node-based
/// std::unordered_set would need ~5x the memory for the ~6 M distinct blocks of the Mooncake trace.
class BlockSet {
 public:
  bool contains(std::uint64_t key) const {
    if (key == 0) return has_zero_;
    if (slots_.empty()) return false;
    for (std::size_t i = mix(key) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i] == key) return true;
      if (slots_[i] == 0) return false;
    }
  }
  void insert(std::uint64_t key) {
    if (key == 0) {
      has_zero_ = true;
      return;
    }
    if ((size_ + 1) * 2 > slots_.size()) grow();
    if (place(slots_, mask_, key)) ++size_;
  }

 private:
  static std::size_t mix(std::uint64_t k) { return static_cast<std::size_t>(k ^ (k >> 29) ^ (k >> 47)); }
  static bool place(std::vector<std::uint64_t>& slots, std::size_t mask, std::uint64_t key) {
    for (std::size_t i = mix(key) & mask;; i = (i + 1) & mask) {
      if (slots[i] == key) return false;
      if (slots[i] == 0) {
        slots[i] = key;
        return true;
      }
    }
  }
  void grow() {
    std::vector<std::uint64_t> bigger(slots_.empty() ? 1024 : slots_.size() * 2, 0);
    const std::size_t mask = bigger.size() - 1;
    for (const auto k : slots_) {
      if (k != 0) place(bigger, mask, k);
    }
    slots_ = std::move(bigger);
    mask_ = mask;
  }

  std::vector<std::uint64_t> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  bool has_zero_ = false;
};

std::uint32_t intern(std::vector<std::string>& models, std::string_view name) {
  for (std::size_t i = 0; i < models.size(); ++i) {
    if (models[i] == name) return static_cast<std::uint32_t>(i);
  }
  models.emplace_back(name);
  return static_cast<std::uint32_t>(models.size() - 1);
}

}  // namespace

Result<Workload> Workload::build(const Trace& trace, std::string_view default_model,
                                 std::uint32_t engine_block_tokens) {
  const std::uint64_t block_bytes = std::uint64_t{engine_block_tokens} * sim::kBytesPerToken;
  if (engine_block_tokens == 0 || block_bytes > ChainedBlockHasher::kMaxBlockBytes) {
    return Error{kInvalidArgument, fmt::format("unsupported KV block size {} tokens", engine_block_tokens)};
  }
  Workload w;
  w.engine_block_tokens_ = engine_block_tokens;
  w.models_.emplace_back(default_model);
  w.requests_.reserve(trace.records.size());

  // Size both arenas exactly first: doubling vectors of ~70 MB would transiently need twice that.
  std::uint64_t feature_total = 0;
  std::uint64_t engine_total = 0;
  for (const auto& rec : trace.records) {
    const std::uint64_t bytes =
        rec.prompt.empty() ? std::uint64_t{rec.input_tokens} * sim::kBytesPerToken : rec.prompt.size();
    feature_total += bytes / routing::kPrefixBlockBytes;
    engine_total += bytes / block_bytes;
  }
  w.feature_hashes_.reserve(feature_total);
  w.engine_hashes_.reserve(engine_total);

  routing::PromptFeatureBuilder features;
  BlockSet seen;
  for (std::size_t index = 0; index < trace.records.size(); ++index) {
    const TraceRecord& rec = trace.records[index];
    WorkloadRequest r;
    r.arrival = rec.arrival;
    r.output_tokens = rec.output_tokens;
    r.line = rec.line;
    r.model = rec.model.empty() ? 0 : intern(w.models_, rec.model);
    if (!rec.user.empty()) r.routing_key = routing::RoutingKey::of(hash_string(rec.user));

    features.reset(w.models_[r.model]);
    sim::PromptTokenizer tokenizer(engine_block_tokens);
    const auto feed = [&](std::string_view piece) {
      features.append(piece);
      tokenizer.append(piece);
    };
    if (!rec.prompt.empty()) {
      feed(rec.prompt);
    } else {
      for_each_prompt_piece(SyntheticPrompt{rec.hash_ids, index, rec.input_tokens}, feed);
    }
    r.prompt_tokens = tokenizer.tokens();
    r.estimated_tokens = features.estimated_tokens();
    r.feature_begin = w.feature_hashes_.size();
    r.feature_count = static_cast<std::uint32_t>(features.block_hashes().size());
    w.feature_hashes_.insert(w.feature_hashes_.end(), features.block_hashes().begin(), features.block_hashes().end());
    const auto& blocks = tokenizer.block_hashes();
    r.engine_begin = w.engine_hashes_.size();
    r.engine_count = static_cast<std::uint32_t>(blocks.size());
    w.engine_hashes_.insert(w.engine_hashes_.end(), blocks.begin(), blocks.end());

    // Sharing with everything earlier: identities are chained, so a block seen before implies its
    // whole prefix was seen before too, and the leading run of seen blocks is what a cache serves.
    const std::uint32_t max_blocks = r.prompt_tokens == 0 ? 0 : (r.prompt_tokens - 1) / engine_block_tokens;
    std::uint32_t hit = 0;
    while (hit < max_blocks && hit < blocks.size() && seen.contains(blocks[hit])) ++hit;
    r.shared_tokens = hit * engine_block_tokens;
    for (const auto h : blocks) seen.insert(h);

    w.total_prompt_tokens_ += r.prompt_tokens;
    w.total_shared_tokens_ += r.shared_tokens;
    w.requests_.push_back(r);
  }
  return w;
}

double Workload::achievable_hit_rate() const {
  return total_prompt_tokens_ == 0
             ? 0.0
             : static_cast<double>(total_shared_tokens_) / static_cast<double>(total_prompt_tokens_);
}

Nanos idle_prefill_time(const sim::Preset& preset, double speed_factor, std::uint32_t prompt_tokens,
                        std::uint32_t cached_tokens) {
  if (prompt_tokens == 0) return 0;
  const std::uint32_t bs = preset.block_size;
  const std::uint32_t max_hit_blocks = (prompt_tokens - 1) / bs;
  const std::uint32_t hit = std::min(cached_tokens / bs, max_hit_blocks) * bs;
  std::uint64_t computed = hit;
  Nanos total = 0;
  while (computed < prompt_tokens) {
    const std::uint32_t n =
        static_cast<std::uint32_t>(std::min<std::uint64_t>(prompt_tokens - computed, preset.max_num_batched_tokens));
    sim::StepShape shape;
    shape.scheduled_tokens = n;
    shape.num_prefills = 1;
    shape.prefill_attention_work =
        static_cast<double>(n) * (static_cast<double>(computed) + static_cast<double>(n) / 2.0);
    // The engine ends a step at now + seconds_to_nanos(seconds / speed_factor); summing the same
    // rounded durations makes this equal to the engine's TTFT for a request alone.
    total += seconds_to_nanos(sim::step_seconds(preset, shape) / speed_factor);
    computed += n;
  }
  return total;
}

}  // namespace kvroute::bench
