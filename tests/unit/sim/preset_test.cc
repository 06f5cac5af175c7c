#include "sim/preset.h"

#include <gtest/gtest.h>

#include <string>

namespace kvroute::sim {
namespace {

TEST(PresetTest, BuiltinsHaveTheVllmDefaultsForH100AndH200) {
  for (const char* name : {"L8B-H100", "L8B-H200", "L70B-H100-TP4", "L70B-H100-TP8", "L70B-H200-TP4"}) {
    const Preset* p = find_preset(name);
    ASSERT_NE(p, nullptr) << name;
    EXPECT_EQ(p->block_size, 16u);
    EXPECT_EQ(p->max_num_batched_tokens, 8192u);
    EXPECT_EQ(p->max_num_seqs, 1024u);
    EXPECT_EQ(p->max_model_len, 131072u);
    EXPECT_DOUBLE_EQ(p->t_overhead, 1.5e-3);
    const bool is70b = std::string(name).starts_with("L70B");
    EXPECT_EQ(p->model_name, is70b ? "meta-llama/Llama-3.1-70B-Instruct" : "meta-llama/Llama-3.1-8B-Instruct");
  }
  EXPECT_EQ(find_preset("no-such-preset"), nullptr);
}

TEST(PresetTest, ConstantsMatchTheSection7Table) {
  const Preset& h100 = *find_preset("L8B-H100");
  EXPECT_EQ(h100.num_gpu_blocks, 27500u);
  EXPECT_EQ(h100.kv_capacity_tokens(), 440000u);
  EXPECT_NEAR(h100.c_kv * 1000, 0.049e-3, 0.0005e-3);           // 0.049 ms per 1k context tokens
  EXPECT_NEAR(h100.c_attention * 4096 * 2048, 8.9e-3, 0.1e-3);  // 4k prompt: ~9 ms of attention
  EXPECT_EQ(h100.tensor_parallel, 1u);

  const Preset& h200 = *find_preset("L8B-H200");
  EXPECT_NEAR(h200.t_weights, 4.2e-3, 0.05e-3);
  EXPECT_NEAR(h200.c_kv * 1000, 0.034e-3, 0.0005e-3);

  const Preset& tp4 = *find_preset("L70B-H100-TP4");
  EXPECT_EQ(tp4.tensor_parallel, 4u);
  EXPECT_EQ(tp4.layers, 80u);
  EXPECT_NEAR(tp4.c_kv * 1000, 0.031e-3, 0.0005e-3);
  EXPECT_DOUBLE_EQ(tp4.allreduce_bytes_per_token, 16384.0);
  // t_TP: ~6.5 ms at small n, ~60 ms at n = 4096.
  const auto t_tp = [&](double n) {
    return 2.0 * tp4.layers * (tp4.allreduce_latency + n * tp4.allreduce_bytes_per_token / tp4.allreduce_bandwidth);
  };
  EXPECT_NEAR(t_tp(1), 6.4e-3, 0.1e-3);
  EXPECT_NEAR(t_tp(4096), 60e-3, 1e-3);

  EXPECT_EQ(find_preset("L70B-H100-TP8")->num_gpu_blocks, 84000u);
  EXPECT_EQ(find_preset("L70B-H200-TP4")->num_gpu_blocks, 73000u);
}

TEST(PresetTest, TinyPresetIsSmallAndFast) {
  const Preset* p = find_preset("tiny");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->model_name, "kvroute/tiny-sim");
  EXPECT_LE(p->num_gpu_blocks, 512u);
  EXPECT_EQ(p->max_num_seqs, 16u);
  EXPECT_EQ(p->max_num_batched_tokens, 512u);
}

}  // namespace
}  // namespace kvroute::sim
