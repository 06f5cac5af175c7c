#pragma once
// Timing and capacity presets for simulated inference servers (SIMULATOR-FACTS.md section 7.3).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace kvroute::sim {

/// Everything that makes one simulated server (model on GPU type) fast or slow, big or small.
/// Times in seconds. The step-time formula that uses them is step_seconds() (engine.h, cost_model.cc).
struct Preset {
  std::string name;        ///< e.g. "L8B-H100"
  std::string model_name;  ///< default served model name, e.g. "meta-llama/Llama-3.1-8B-Instruct"

  // Capacity (vLLM V1 defaults for the GPU class; section 5.1 and 7.3).
  std::uint32_t num_gpu_blocks = 0;          ///< KV blocks of block_size tokens
  std::uint32_t block_size = 16;             ///< tokens per KV block
  std::uint32_t max_num_seqs = 0;            ///< running-sequence limit
  std::uint32_t max_num_batched_tokens = 0;  ///< per-step token budget
  std::uint32_t max_model_len = 0;           ///< longest prompt + output accepted
  /// The model's hidden size: the width of the vectors kvroute-sim's /v1/embeddings returns
  /// (an embedding model pools the last hidden states). 0 in a preset that does not set it.
  std::uint32_t hidden_size = 0;

  // Cost model (section 7.2).
  double t_overhead = 0;   ///< fixed CPU/launch cost per step
  double t_weights = 0;    ///< weight-read floor per step (memory bound)
  double c_token = 0;      ///< GEMM cost per scheduled token once compute bound
  double c_kv = 0;         ///< KV read cost per context token of each decoding sequence
  double c_attention = 0;  ///< prefill attention: seconds per unit of n_c * (p_c + n_c / 2)

  // Tensor parallelism: two all-reduces per layer per step (t_TP).
  std::uint32_t tensor_parallel = 1;
  std::uint32_t layers = 0;
  double allreduce_latency = 0;          ///< alpha per all-reduce
  double allreduce_bytes_per_token = 0;  ///< hidden * 2 bytes
  double allreduce_bandwidth = 0;        ///< bytes per second

  std::uint64_t kv_capacity_tokens() const { return std::uint64_t{num_gpu_blocks} * block_size; }
};

/// All built-in presets, in a stable order.
std::span<const Preset> builtin_presets();
/// The preset called name (case-sensitive), or nullptr.
const Preset* find_preset(std::string_view name);

}  // namespace kvroute::sim
