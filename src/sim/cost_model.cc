// The step-time model of SIMULATOR-FACTS.md section 7.2:
//   t_step = t_ovh + max(t_w, n c_tok) + sum(ctx) c_kv + sum(n_c (p_c + n_c/2)) c_attention + t_TP
//   t_TP   = 2 L (alpha + n d 2B / B_ar)          (two all-reduces per layer, only when TP > 1)
// The max() term is the roofline: a small batch is bound by reading the weights once per step, a
// large one by the GEMMs. Decode attention reads every context token's KV (bandwidth bound);
// prefill attention is compute bound and quadratic in the chunk.

#include <algorithm>

#include "sim/engine.h"

namespace kvroute::sim {

double step_seconds(const Preset& preset, const StepShape& shape) {
  const double tokens = static_cast<double>(shape.scheduled_tokens);
  double seconds = preset.t_overhead + std::max(preset.t_weights, tokens * preset.c_token) +
                   static_cast<double>(shape.decode_context_tokens) * preset.c_kv +
                   shape.prefill_attention_work * preset.c_attention;
  if (preset.tensor_parallel > 1 && preset.allreduce_bandwidth > 0) {
    seconds += 2.0 * preset.layers *
               (preset.allreduce_latency + tokens * preset.allreduce_bytes_per_token / preset.allreduce_bandwidth);
  }
  return seconds;
}

}  // namespace kvroute::sim
