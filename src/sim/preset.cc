// Built-in presets. Every constant names its source; section numbers refer to SIMULATOR-FACTS.md.
// Measured constants (t_w, c_tok, all-reduce alpha and bandwidth) come from the vidur H100 profiles
// quoted in section 7.2; bandwidth-bound constants (c_kv) and attention (c_attention) are computed
// from the hardware figures of section 7.1 with the efficiencies of section 7.3.

#include "sim/preset.h"

#include <vector>

namespace kvroute::sim {
namespace {

// Hardware (section 7.1, [H100-SPEC] [H200-SPEC]).
constexpr double kH100HbmBytesPerSecond = 3.35e12;
constexpr double kH200HbmBytesPerSecond = 4.8e12;
constexpr double kBf16DenseFlops = 989e12;  // H100 and H200: same GH100 die

// Efficiencies (section 7.3): eta_m for weight/KV reads, eta_a for prefill attention.
constexpr double kEtaMemory = 0.8;
constexpr double kEtaAttention = 0.5;

// Fixed CPU/launch cost per step; section 7.3 gives 1-2 ms for t_ovh, we take the middle.
constexpr double kStepOverheadSeconds = 1.5e-3;

// vLLM V1 API-server defaults on GPUs with >= 70 GiB that are not A100 (section 5.1, [V-ARGS]).
constexpr std::uint32_t kH100MaxNumBatchedTokens = 8192;
constexpr std::uint32_t kH100MaxNumSeqs = 1024;
constexpr std::uint32_t kBlockSize = 16;  // CUDA block size (section 5.1)
// Llama-3.1 context length (128k); vLLM uses the model's max_position_embeddings by default.
constexpr std::uint32_t kLlama31MaxModelLen = 131072;

// Model dimensions (section 7.1, [VIDUR-MODEL]).
struct ModelDims {
  std::uint32_t layers;
  std::uint32_t hidden;
  double kv_bytes_per_token;  // 2 (K,V) x layers x kv_heads x head_dim x 2 bytes
};
constexpr ModelDims kLlama8B{32, 4096, 131072.0};   // 128 KiB per token
constexpr ModelDims kLlama70B{80, 8192, 327680.0};  // 320 KiB per token

// c_kv = kv_bytes_per_token_per_gpu / (eta_m * BW)  (section 7.2).
constexpr double kv_read_seconds_per_token(const ModelDims& m, std::uint32_t tp, double bandwidth) {
  return m.kv_bytes_per_token / tp / (kEtaMemory * bandwidth);
}

// Causal prefill attention: 4 L d n_c (p_c + n_c/2) / (eta_a F tp)  (section 7.2). We store the
// coefficient of n_c (p_c + n_c/2).
constexpr double attention_seconds_per_unit(const ModelDims& m, std::uint32_t tp) {
  return 4.0 * m.layers * m.hidden / (kEtaAttention * kBf16DenseFlops * tp);
}

struct PresetSpec {
  const char* name;
  const char* model_name;
  ModelDims dims;
  std::uint32_t tensor_parallel;
  double hbm_bandwidth;
  std::uint32_t num_gpu_blocks;
  double t_weights;
  double c_token;
  double allreduce_latency;
  double allreduce_bandwidth;
};

Preset make_preset(const PresetSpec& s) {
  Preset p;
  p.name = s.name;
  p.model_name = s.model_name;
  p.num_gpu_blocks = s.num_gpu_blocks;
  p.block_size = kBlockSize;
  p.max_num_seqs = kH100MaxNumSeqs;
  p.max_num_batched_tokens = kH100MaxNumBatchedTokens;
  p.max_model_len = kLlama31MaxModelLen;
  p.hidden_size = s.dims.hidden;
  p.t_overhead = kStepOverheadSeconds;
  p.t_weights = s.t_weights;
  p.c_token = s.c_token;
  p.c_kv = kv_read_seconds_per_token(s.dims, s.tensor_parallel, s.hbm_bandwidth);
  p.c_attention = attention_seconds_per_unit(s.dims, s.tensor_parallel);
  p.tensor_parallel = s.tensor_parallel;
  p.layers = s.dims.layers;
  if (s.tensor_parallel > 1) {
    p.allreduce_latency = s.allreduce_latency;
    p.allreduce_bytes_per_token = 2.0 * s.dims.hidden;  // one BF16 hidden vector per token
    p.allreduce_bandwidth = s.allreduce_bandwidth;
  }
  return p;
}

constexpr const char* kModel8B = "meta-llama/Llama-3.1-8B-Instruct";
constexpr const char* kModel70B = "meta-llama/Llama-3.1-70B-Instruct";

// num_gpu_blocks: section 7.3 table (KV budget per GPU / (16 x KV bytes per token per GPU), rounded
// as the table gives it). t_w and c_tok: vidur H100 linear-layer profiles (section 7.2): L8B
// t_w 6.0 ms and c_tok 21.6 us/token; L70B TP4 14.3 ms at 1 token and 222.8 ms at 4096 tokens
// (54.4 us/token); TP8 8.4 ms / 121.6 ms (29.7 us/token). H200 t_w = H100 t_w x 3.35/4.8 (same die,
// faster HBM); c_tok is compute bound and unchanged. All-reduce (vidur h100_dgx all_reduce.csv,
// section 7.2): alpha 40 us and 200 GB/s at TP4, 34 us and 170 GB/s at TP8 (section 7.3 t_TP column).
std::vector<Preset> make_builtin_presets() {
  std::vector<Preset> presets;
  presets.push_back(
      make_preset({"L8B-H100", kModel8B, kLlama8B, 1, kH100HbmBytesPerSecond, 27500, 6.0e-3, 21.6e-6, 0, 0}));
  presets.push_back(make_preset(
      {"L8B-H200", kModel8B, kLlama8B, 1, kH200HbmBytesPerSecond, 55500, 6.0e-3 * 3.35 / 4.8, 21.6e-6, 0, 0}));
  presets.push_back(make_preset(
      {"L70B-H100-TP4", kModel70B, kLlama70B, 4, kH100HbmBytesPerSecond, 28500, 14.3e-3, 54.4e-6, 40e-6, 200e9}));
  presets.push_back(make_preset(
      {"L70B-H100-TP8", kModel70B, kLlama70B, 8, kH100HbmBytesPerSecond, 84000, 8.4e-3, 29.7e-6, 34e-6, 170e9}));
  presets.push_back(make_preset({"L70B-H200-TP4", kModel70B, kLlama70B, 4, kH200HbmBytesPerSecond, 73000,
                                 14.3e-3 * 3.35 / 4.8, 54.4e-6, 40e-6, 200e9}));

  // "tiny": not a real GPU. Small enough that tests reach KV pressure, chunking and the sequence
  // limit with a handful of short requests, and steps of about a millisecond.
  Preset tiny;
  tiny.name = "tiny";
  tiny.model_name = "kvroute/tiny-sim";
  tiny.num_gpu_blocks = 256;  // 4096 tokens, 255 usable blocks (block 0 is vLLM's null block)
  tiny.block_size = kBlockSize;
  tiny.max_num_seqs = 16;
  tiny.max_num_batched_tokens = 512;
  tiny.max_model_len = 2048;
  tiny.hidden_size = 64;  // small vectors keep embeddings answers short in tests
  tiny.t_overhead = 0.2e-3;
  tiny.t_weights = 0.8e-3;  // knee at 400 tokens, as the real presets' knee sits at ~250-500
  tiny.c_token = 2e-6;      // a full 512-token step: ~1.2 ms
  tiny.c_kv = 20e-9;        // 16 decoders at 1k context: +0.33 ms
  tiny.c_attention = 1e-9;  // a 512-token chunk on an empty prefix: +0.13 ms
  tiny.tensor_parallel = 1;
  tiny.layers = 4;
  presets.push_back(tiny);
  return presets;
}

}  // namespace

std::span<const Preset> builtin_presets() {
  static const std::vector<Preset> presets = make_builtin_presets();
  return presets;
}

const Preset* find_preset(std::string_view name) {
  for (const Preset& p : builtin_presets()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

}  // namespace kvroute::sim
