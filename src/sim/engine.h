#pragma once
// The simulated inference engine: vLLM V1 continuous batching over a paged KV cache with
// automatic prefix caching (SIMULATOR-FACTS.md sections 5-7). No networking and no clock of its
// own: the caller passes the time in, so the same engine runs behind kvroute-sim on the wall clock
// and inside kvroute-bench on a virtual clock. Same inputs in the same order: same outputs.
//
// Driving it:
//   engine.add_request(...)            any time; the request waits for the next step
//   end = engine.step(now)             plans one forward pass starting at `now` and applies it;
//                                      returns when the pass ends (now + modelled duration), or
//                                      nullopt when there is nothing to run
//   for (e : engine.events()) ...      what the pass produced, observable at `end`
// A live server sleeps until `end`, delivers the events, and calls step(end) again.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "common/time_source.h"
#include "sim/preset.h"

namespace kvroute::sim {

using RequestId = std::uint64_t;
class KvBlockManager;

struct EngineConfig {
  Preset preset;
  /// Divides every modelled time (a faster, e.g. quantised, instance; or --speedup for tests).
  double speed_factor = 1.0;
  bool enable_prefix_caching = true;
};

/// A request as the engine sees it: a prompt length plus the identities of its full KV blocks.
struct EngineRequest {
  RequestId id = 0;                ///< caller-chosen, unique among live requests
  std::uint32_t prompt_tokens = 0; ///< >= 1
  /// Chained identities of the prompt's full blocks (block_size tokens each), in order. May be
  /// shorter than prompt_tokens / block_size: the remaining blocks are then unique to this request.
  std::vector<std::uint64_t> block_hashes;
  std::uint32_t output_tokens = 1; ///< tokens to generate before finishing (>= 1)
};

enum class EventKind : std::uint8_t {
  kToken,      ///< one output token generated (the first one ends the prefill)
  kPreempted,  ///< KV exhausted: the request lost its blocks and went back to the front of the queue
};

struct EngineEvent {
  RequestId id;
  EventKind kind;
  std::uint32_t output_index;  ///< kToken: 0-based index of this output token
  bool finished;               ///< kToken: this was the last token; the request is gone
};

/// What the engine reports, with vLLM's meaning (SIMULATOR-FACTS.md section 1).
struct EngineStats {
  std::uint32_t num_running = 0;
  std::uint32_t num_waiting = 0;          ///< includes preempted requests
  double kv_cache_usage = 0;              ///< 1 - free/(num_gpu_blocks - 1); cached idle blocks count as free
  std::uint64_t prefix_cache_queries = 0; ///< tokens looked up (at each first schedule)
  std::uint64_t prefix_cache_hits = 0;    ///< tokens found
  std::uint64_t num_preemptions = 0;
  std::uint64_t prompt_tokens = 0;        ///< prefill tokens computed (recomputation included)
  std::uint64_t generation_tokens = 0;
  std::uint64_t steps = 0;
  std::uint32_t free_blocks = 0;          ///< including cached blocks with no reference
  std::uint32_t cached_blocks = 0;        ///< blocks with a registered hash (referenced or not)
};

/// Per-request figures the server needs for its response and metrics.
struct RequestInfo {
  std::uint32_t cached_tokens = 0;  ///< prefix-cache hit at first schedule (usage.prompt_tokens_details)
  std::uint32_t output_generated = 0;
  std::uint32_t preemptions = 0;
  bool running = false;             ///< false while waiting
  std::optional<Nanos> first_scheduled;
};

/// Shape of one step, the input of the cost model.
struct StepShape {
  std::uint32_t scheduled_tokens = 0;       ///< all tokens in the pass (prefill chunks + decodes)
  std::uint64_t decode_context_tokens = 0;  ///< sum of context lengths of decoding sequences
  double prefill_attention_work = 0;        ///< sum over prefill chunks of n_c * (p_c + n_c / 2)
  std::uint32_t num_decodes = 0;
  std::uint32_t num_prefills = 0;
};

/// Modelled duration of one step, in seconds, before speed_factor is applied.
double step_seconds(const Preset& preset, const StepShape& shape);

class Engine {
 public:
  explicit Engine(EngineConfig config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Queues a request (FCFS). Rejected (returns false) if the id is live, prompt_tokens is 0, or
  /// prompt + output exceeds max_model_len or the whole KV cache.
  bool add_request(EngineRequest request);
  /// Drops a waiting or running request and frees its blocks; false if unknown.
  bool abort(RequestId id);

  /// Runs one scheduling step starting at `now` and returns its end time, or nullopt if no
  /// request is running or waiting. Events of the step are in events() until the next call.
  std::optional<Nanos> step(Nanos now);
  std::span<const EngineEvent> events() const;
  /// Shape and duration of the last step.
  const StepShape& last_step_shape() const;
  /// Modelled duration of the last step in seconds, before speed_factor (step_seconds of its shape).
  double last_step_seconds() const;

  bool idle() const;
  EngineStats stats() const;
  /// nullopt if the request is not live. A request that finished in the last step is still
  /// answered (running = false) until the next step() call, so its cached_tokens can be read.
  std::optional<RequestInfo> request_info(RequestId id) const;
  const EngineConfig& config() const;
  /// The block pool, read-only (tests, calibration, debugging).
  const KvBlockManager& kv_blocks() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvroute::sim
