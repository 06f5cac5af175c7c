// The engine: vLLM V1's Scheduler.schedule() over the KV block manager, with the step cost model.
//
// One step (SIMULATOR-FACTS.md section 5.2), with a token budget of max_num_batched_tokens:
//  1. Running requests, oldest first. Each asks for (prompt + generated) - computed tokens, i.e. its
//     next prefill chunk or 1 when decoding, capped by the remaining budget, and gets blocks for
//     them. When the pool is short, the NEWEST running request is preempted (section 5.3: blocks
//     freed but kept hash-cached, computed tokens reset to 0, pushed to the FRONT of the waiting
//     queue) and the allocation retried, until it fits or the victim is the request itself.
//  2. Only if nobody was preempted: waiting requests, FCFS, while fewer than max_num_seqs run and
//     budget remains. At a request's first schedule (new, or resumed after preemption) its prefix
//     hit is looked up (section 6): the longest chain of cached block identities, capped at
//     prompt_len_with_outputs - 1 and whole blocks. The hit blocks are touched and the first chunk
//     allocated; if the pool cannot hold it, admission stops (the request stays at the head).
//  3. The pass runs: a request whose computed tokens reach its full length samples one token
//     (output 0 ends its prefill), decoders sample one each; a request with all its output tokens
//     finishes and frees its blocks (reverse order).
// Full blocks are registered in the prefix cache at scheduling time, as vLLM's allocate_slots does,
// so a request admitted later in the same step can already hit them. The duration of the pass is
// step_seconds() of its shape (cost_model.cc), divided by speed_factor.
//
// Block identities: the caller's block_hashes for the prompt's blocks; every other block (a prompt
// tail the caller did not hash, generated output) gets hash_combine(previous identity, salt + index)
// with a salt unique to the request, so nobody else can hit it but the request itself can after a
// preemption. Identities are computed when blocks fill, never stored per request.
//
// Cost: a step is O(running + scheduled blocks + blocks freed); steady state allocates nothing
// (scratch vectors and request slots are reused; the identity map never rehashes).
// Deviation, on purpose: vLLM counts prefix-cache queries each time it tries a waiting request,
// also when the allocation then fails; we count them once per successful first schedule, so a
// long queue under KV pressure does not inflate the counters.

#include "sim/engine.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "common/hash.h"
#include "sim/kv_block_manager.h"
#include "sim/tokenizer.h"

namespace kvroute::sim {
namespace {

constexpr std::uint64_t kRequestSaltSeed = 0x73616c7470657271ULL;

std::uint32_t ceil_div(std::uint64_t a, std::uint32_t b) { return static_cast<std::uint32_t>((a + b - 1) / b); }

struct Request {
  RequestId id = 0;
  std::uint32_t prompt_tokens = 0;
  std::uint32_t output_tokens = 0;
  std::vector<std::uint64_t> block_hashes;  // prompt blocks with caller-given identities
  std::uint64_t salt = 0;                   // for identities of all other blocks

  std::uint32_t num_computed = 0;                // tokens whose KV is in blocks (or scheduled this step)
  std::vector<std::uint32_t> blocks;             // block table
  std::uint32_t num_settled = 0;                 // leading full blocks whose identity was registered or tried
  std::uint64_t last_identity = kBlockHashSeed;  // identity of block num_settled - 1
  RequestInfo info;
  bool live = false;

  std::uint32_t num_tokens() const { return prompt_tokens + info.output_generated; }
  /// Identity of block i given the identity of block i - 1.
  std::uint64_t identity(std::uint32_t i, std::uint64_t previous) const {
    return i < block_hashes.size() ? block_hashes[i] : hash_combine(previous, salt + i);
  }
};

struct Scheduled {
  std::uint32_t slot;
  std::uint32_t num_new;
  std::uint32_t computed_before;
};

}  // namespace

class Engine::Impl {
 public:
  explicit Impl(EngineConfig config)
      : config_(std::move(config)),
        preset_(config_.preset),
        kv_(preset_.num_gpu_blocks, config_.enable_prefix_caching) {
    if (preset_.block_size == 0 || preset_.max_num_seqs == 0 || preset_.max_num_batched_tokens == 0) {
      throw std::invalid_argument("Engine: preset " + preset_.name + " has a zero size or limit");
    }
    if (!(config_.speed_factor > 0)) throw std::invalid_argument("Engine: speed_factor must be > 0");
    scheduled_.reserve(preset_.max_num_seqs);
    running_.reserve(preset_.max_num_seqs);
  }

  bool add_request(EngineRequest r) {
    if (r.prompt_tokens == 0 || r.output_tokens == 0) return false;
    const std::uint64_t total = std::uint64_t{r.prompt_tokens} + r.output_tokens;
    if (total > preset_.max_model_len) return false;
    // The last sampled token is never fed back, so KV holds at most prompt + output - 1 tokens.
    if (ceil_div(total - 1, preset_.block_size) > kv_.usable_blocks()) return false;
    if (live_.contains(r.id)) return false;

    std::uint32_t slot;
    if (!free_slots_.empty()) {
      slot = free_slots_.back();
      free_slots_.pop_back();
    } else {
      slot = static_cast<std::uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    Request& q = slots_[slot];
    q.id = r.id;
    q.prompt_tokens = r.prompt_tokens;
    q.output_tokens = r.output_tokens;
    q.block_hashes = std::move(r.block_hashes);
    // Only whole prompt blocks can carry a caller identity.
    q.block_hashes.resize(std::min<std::size_t>(q.block_hashes.size(), r.prompt_tokens / preset_.block_size));
    q.salt = hash_combine(kRequestSaltSeed, next_request_seq_++);
    reset_progress(q);
    q.info = RequestInfo{};
    q.live = true;
    live_.emplace(r.id, slot);
    waiting_.push_back(slot);
    return true;
  }

  bool abort(RequestId id) {
    const auto it = live_.find(id);
    if (it == live_.end()) return false;
    const std::uint32_t slot = it->second;
    Request& q = slots_[slot];
    if (q.info.running) {
      running_.erase(std::find(running_.begin(), running_.end(), slot));
    } else {
      waiting_.erase(std::find(waiting_.begin(), waiting_.end(), slot));
    }
    kv_.free_blocks(q.blocks);
    release(slot);
    return true;
  }

  std::optional<Nanos> step(Nanos now) {
    events_.clear();
    finished_.clear();
    scheduled_.clear();
    shape_ = StepShape{};
    if (running_.empty() && waiting_.empty()) return std::nullopt;

    std::uint32_t budget = preset_.max_num_batched_tokens;
    const bool preempted = schedule_running(budget);
    if (!preempted) schedule_waiting(budget, now);

    for (const Scheduled& s : scheduled_) account(s);
    last_seconds_ = step_seconds(preset_, shape_);
    ++steps_;
    const Nanos end = now + seconds_to_nanos(last_seconds_ / config_.speed_factor);

    bool any_finished = false;
    for (const Scheduled& s : scheduled_) any_finished |= complete(s.slot);
    if (any_finished) {
      std::erase_if(running_, [this](std::uint32_t slot) { return !slots_[slot].live; });
    }
    return end;
  }

  std::span<const EngineEvent> events() const { return events_; }
  const StepShape& last_step_shape() const { return shape_; }
  double last_step_seconds() const { return last_seconds_; }
  bool idle() const { return running_.empty() && waiting_.empty(); }

  EngineStats stats() const {
    EngineStats s = counters_;
    s.num_running = static_cast<std::uint32_t>(running_.size());
    s.num_waiting = static_cast<std::uint32_t>(waiting_.size());
    s.kv_cache_usage = kv_.usage();
    s.steps = steps_;
    s.free_blocks = kv_.num_free_blocks();
    s.cached_blocks = kv_.num_cached_blocks();
    return s;
  }

  std::optional<RequestInfo> request_info(RequestId id) const {
    if (const auto it = live_.find(id); it != live_.end()) return slots_[it->second].info;
    for (const auto& [fid, info] : finished_) {
      if (fid == id) return info;
    }
    return std::nullopt;
  }

  const EngineConfig& config() const { return config_; }
  const KvBlockManager& kv() const { return kv_; }

 private:
  static void reset_progress(Request& q) {
    q.num_computed = 0;
    q.blocks.clear();
    q.num_settled = 0;
    q.last_identity = kBlockHashSeed;
  }

  void release(std::uint32_t slot) {
    Request& q = slots_[slot];
    live_.erase(q.id);
    q.live = false;
    q.blocks.clear();
    q.block_hashes.clear();
    free_slots_.push_back(slot);
  }

  /// Registers the identities of the blocks that are full once `tokens` tokens are computed.
  void cache_full_blocks(Request& q, std::uint32_t tokens) {
    if (!config_.enable_prefix_caching) return;
    const std::uint32_t full = tokens / preset_.block_size;
    while (q.num_settled < full) {
      const std::uint64_t identity = q.identity(q.num_settled, q.last_identity);
      kv_.cache_block(q.blocks[q.num_settled], identity);
      q.last_identity = identity;
      ++q.num_settled;
    }
  }

  /// Makes room for num_new more tokens of a running request; false if the pool is short.
  bool allocate_running(Request& q, std::uint32_t num_new) {
    const std::uint32_t needed = ceil_div(std::uint64_t{q.num_computed} + num_new, preset_.block_size);
    const std::uint32_t have = static_cast<std::uint32_t>(q.blocks.size());
    if (needed > have && !kv_.allocate(needed - have, q.blocks)) return false;
    cache_full_blocks(q, q.num_computed + num_new);
    return true;
  }

  void preempt(std::uint32_t slot) {
    Request& q = slots_[slot];
    kv_.free_blocks(q.blocks);  // blocks keep their identities until evicted
    reset_progress(q);
    q.info.running = false;
    ++q.info.preemptions;
    ++counters_.num_preemptions;
    waiting_.push_front(slot);
    events_.push_back(EngineEvent{q.id, EventKind::kPreempted, 0, false});
  }

  /// Phase 1. Returns whether any request was preempted.
  bool schedule_running(std::uint32_t& budget) {
    bool preempted = false;
    std::size_t index = 0;
    while (index < running_.size() && budget > 0) {
      const std::uint32_t slot = running_[index];
      Request& q = slots_[slot];
      const std::uint32_t num_new = std::min(q.num_tokens() - q.num_computed, budget);
      bool scheduled = true;
      while (!allocate_running(q, num_new)) {
        const std::uint32_t victim = running_.back();
        running_.pop_back();
        preempt(victim);
        preempted = true;
        if (victim == slot) {
          scheduled = false;
          break;
        }
      }
      if (!scheduled) break;
      scheduled_.push_back(Scheduled{slot, num_new, q.num_computed});
      budget -= num_new;
      ++index;
    }
    return preempted;
  }

  /// Phase 2: FCFS admission.
  void schedule_waiting(std::uint32_t& budget, Nanos now) {
    const std::uint32_t bs = preset_.block_size;
    while (!waiting_.empty() && budget > 0 && running_.size() < preset_.max_num_seqs) {
      const std::uint32_t slot = waiting_.front();
      Request& q = slots_[slot];
      const std::uint32_t num_tokens = q.num_tokens();

      // Prefix hit: longest chain of cached identities, at most num_tokens - 1 tokens.
      hit_.clear();
      std::uint64_t last_identity = kBlockHashSeed;
      if (config_.enable_prefix_caching) {
        const std::uint32_t max_blocks = (num_tokens - 1) / bs;
        for (std::uint32_t i = 0; i < max_blocks; ++i) {
          const std::uint64_t identity = q.identity(i, last_identity);
          const std::uint32_t block = kv_.lookup(identity);
          if (block == BlockHashMap::kNone) break;
          hit_.push_back(block);
          last_identity = identity;
        }
      }
      const std::uint32_t hit_blocks = static_cast<std::uint32_t>(hit_.size());
      const std::uint32_t hit_tokens = hit_blocks * bs;
      const std::uint32_t num_new = std::min(num_tokens - hit_tokens, budget);
      const std::uint32_t new_blocks = ceil_div(std::uint64_t{hit_tokens} + num_new, bs) - hit_blocks;
      // Touching an unreferenced hit block takes it out of the free queue, so it counts too.
      if (new_blocks + kv_.count_unreferenced(hit_) > kv_.num_free_blocks()) break;

      kv_.touch(hit_);
      q.blocks.assign(hit_.begin(), hit_.end());
      kv_.allocate(new_blocks, q.blocks);  // cannot fail: checked above
      q.num_computed = hit_tokens;
      q.num_settled = hit_blocks;
      q.last_identity = last_identity;
      cache_full_blocks(q, hit_tokens + num_new);

      if (config_.enable_prefix_caching) {
        counters_.prefix_cache_queries += num_tokens;
        counters_.prefix_cache_hits += hit_tokens;
      }
      if (!q.info.first_scheduled) {
        q.info.first_scheduled = now;
        q.info.cached_tokens = hit_tokens;
      }
      q.info.running = true;
      waiting_.pop_front();
      running_.push_back(slot);
      scheduled_.push_back(Scheduled{slot, num_new, hit_tokens});
      budget -= num_new;
    }
  }

  /// Adds a scheduled request to the step shape and advances its computed tokens.
  void account(const Scheduled& s) {
    Request& q = slots_[s.slot];
    shape_.scheduled_tokens += s.num_new;
    const bool decode = q.info.output_generated > 0 && s.num_new == 1 && s.computed_before + 1 == q.num_tokens();
    if (decode) {
      ++shape_.num_decodes;
      shape_.decode_context_tokens += s.computed_before + 1;
    } else {
      ++shape_.num_prefills;
      const double n = s.num_new;
      shape_.prefill_attention_work += n * (static_cast<double>(s.computed_before) + n / 2.0);
      counters_.prompt_tokens += s.num_new;
    }
    q.num_computed = s.computed_before + s.num_new;
  }

  /// Samples a token if the request computed all its tokens; returns whether it finished.
  bool complete(std::uint32_t slot) {
    Request& q = slots_[slot];
    if (q.num_computed < q.num_tokens()) return false;  // mid-prefill
    const std::uint32_t index = q.info.output_generated++;
    ++counters_.generation_tokens;
    const bool finished = q.info.output_generated >= q.output_tokens;
    events_.push_back(EngineEvent{q.id, EventKind::kToken, index, finished});
    if (!finished) return false;
    kv_.free_blocks(q.blocks);
    RequestInfo info = q.info;
    info.running = false;
    finished_.emplace_back(q.id, info);
    release(slot);
    return true;
  }

  EngineConfig config_;
  const Preset& preset_;
  KvBlockManager kv_;

  std::vector<Request> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::unordered_map<RequestId, std::uint32_t> live_;
  std::vector<std::uint32_t> running_;  // admission order: back() is the newest
  std::deque<std::uint32_t> waiting_;
  std::uint64_t next_request_seq_ = 0;

  // Per-step scratch, reused.
  std::vector<Scheduled> scheduled_;
  std::vector<std::uint32_t> hit_;
  std::vector<EngineEvent> events_;
  std::vector<std::pair<RequestId, RequestInfo>> finished_;
  StepShape shape_;
  double last_seconds_ = 0;

  EngineStats counters_;  // cumulative counters only; gauges are filled in by stats()
  std::uint64_t steps_ = 0;
};

Engine::Engine(EngineConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Engine::~Engine() = default;
bool Engine::add_request(EngineRequest request) { return impl_->add_request(std::move(request)); }
bool Engine::abort(RequestId id) { return impl_->abort(id); }
std::optional<Nanos> Engine::step(Nanos now) { return impl_->step(now); }
std::span<const EngineEvent> Engine::events() const { return impl_->events(); }
const StepShape& Engine::last_step_shape() const { return impl_->last_step_shape(); }
double Engine::last_step_seconds() const { return impl_->last_step_seconds(); }
bool Engine::idle() const { return impl_->idle(); }
EngineStats Engine::stats() const { return impl_->stats(); }
std::optional<RequestInfo> Engine::request_info(RequestId id) const { return impl_->request_info(id); }
const EngineConfig& Engine::config() const { return impl_->config(); }
const KvBlockManager& Engine::kv_blocks() const { return impl_->kv(); }

}  // namespace kvroute::sim
