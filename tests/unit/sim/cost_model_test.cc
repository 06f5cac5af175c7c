// Step times: step_seconds() against hand-evaluated section 7.2 formulas, and the engine's steps
// against step_seconds() of the shape they must have.

#include <gtest/gtest.h>

#include "engine_test_util.h"
#include "sim/engine.h"

namespace kvroute::sim {
namespace {

using testing::tiny;

TEST(CostModelTest, FourKPrefillOnL8BH100IsAbout97Ms) {
  const Preset& p = *find_preset("L8B-H100");
  StepShape s;
  s.scheduled_tokens = 4096;
  s.prefill_attention_work = 4096.0 * 2048.0;
  s.num_prefills = 1;
  const double attention = 4.0 * 32 * 4096 / (0.5 * 989e12) * 4096 * 2048;
  EXPECT_DOUBLE_EQ(step_seconds(p, s), 1.5e-3 + 4096 * 21.6e-6 + attention);
  EXPECT_NEAR(step_seconds(p, s), 0.097, 0.003);
}

TEST(CostModelTest, SmallBatchDecodeIsBoundByWeightReads) {
  const Preset& p = *find_preset("L8B-H100");
  StepShape s;
  s.scheduled_tokens = 64;
  s.num_decodes = 64;
  s.decode_context_tokens = 64 * 2048;
  // Section 7.3 worked example: 64 decoders at 2k context ~ 14.7 ms (with t_w 6.8 there; ours 6.0).
  EXPECT_DOUBLE_EQ(step_seconds(p, s), 1.5e-3 + 6.0e-3 + 64 * 2048 * p.c_kv);
  EXPECT_NEAR(step_seconds(p, s), 13.9e-3, 0.1e-3);
}

TEST(CostModelTest, TensorParallelAddsTwoAllReducesPerLayer) {
  const Preset& p = *find_preset("L70B-H100-TP4");
  StepShape s;
  s.scheduled_tokens = 1;
  s.num_decodes = 1;
  s.decode_context_tokens = 1000;
  const double tp = 2 * 80 * (40e-6 + 1 * 16384 / 200e9);
  EXPECT_DOUBLE_EQ(step_seconds(p, s), 1.5e-3 + 14.3e-3 + 1000 * p.c_kv + tp);
  EXPECT_NEAR(step_seconds(p, s), 22.2e-3, 0.1e-3);  // section 7.3: low-batch ITL ~22-25 ms
}

// Runs one step and returns its modelled duration in seconds (after speed_factor).
double run_step(Engine& engine, Nanos now) {
  const auto end = engine.step(now);
  EXPECT_TRUE(end.has_value());
  return end ? nanos_to_seconds(*end - now) : 0;
}

TEST(CostModelTest, EngineStepsCostPrefillOnlyDecodeOnlyAndMixedShapes) {
  const Preset& p = tiny();
  Engine engine(EngineConfig{p});
  ASSERT_TRUE(engine.add_request(EngineRequest{1, 300, {}, 3}));

  // Prefill only: one 300-token chunk on an empty prefix.
  double t = run_step(engine, 0);
  StepShape s = engine.last_step_shape();
  EXPECT_EQ(s.scheduled_tokens, 300u);
  EXPECT_EQ(s.num_prefills, 1u);
  EXPECT_EQ(s.num_decodes, 0u);
  EXPECT_DOUBLE_EQ(s.prefill_attention_work, 300.0 * 150.0);
  EXPECT_NEAR(t, p.t_overhead + std::max(p.t_weights, 300 * p.c_token) + 300.0 * 150.0 * p.c_attention, 1e-9);

  // Decode only: context = 300 prompt tokens + the token being fed.
  t = run_step(engine, 0);
  s = engine.last_step_shape();
  EXPECT_EQ(s.scheduled_tokens, 1u);
  EXPECT_EQ(s.num_decodes, 1u);
  EXPECT_EQ(s.decode_context_tokens, 301u);
  EXPECT_DOUBLE_EQ(s.prefill_attention_work, 0.0);
  EXPECT_NEAR(t, p.t_overhead + p.t_weights + 301 * p.c_kv, 1e-9);

  // Mixed: the decoder plus a new 450-token prompt (GEMM term above the weight floor).
  ASSERT_TRUE(engine.add_request(EngineRequest{2, 450, {}, 1}));
  t = run_step(engine, 0);
  s = engine.last_step_shape();
  EXPECT_EQ(s.scheduled_tokens, 451u);
  EXPECT_EQ(s.num_decodes, 1u);
  EXPECT_EQ(s.num_prefills, 1u);
  EXPECT_EQ(s.decode_context_tokens, 302u);
  EXPECT_DOUBLE_EQ(s.prefill_attention_work, 450.0 * 225.0);
  EXPECT_NEAR(t, p.t_overhead + 451 * p.c_token + 302 * p.c_kv + 450.0 * 225.0 * p.c_attention, 1e-9);
  EXPECT_DOUBLE_EQ(engine.last_step_seconds(), step_seconds(p, s));
}

TEST(CostModelTest, EngineStepsOnATensorParallelPreset) {
  const Preset& p = *find_preset("L70B-H100-TP4");
  Engine engine(EngineConfig{p});
  ASSERT_TRUE(engine.add_request(EngineRequest{1, 1000, {}, 2}));
  const auto tp = [](double n) { return 2 * 80 * (40e-6 + n * 16384 / 200e9); };
  EXPECT_NEAR(run_step(engine, 0), 1.5e-3 + 1000 * 54.4e-6 + p.c_attention * 1000 * 500 + tp(1000), 1e-9);
  EXPECT_NEAR(run_step(engine, 0), 1.5e-3 + 14.3e-3 + 1001 * p.c_kv + tp(1), 1e-9);
}

TEST(CostModelTest, SpeedFactorDividesStepTimes) {
  Engine normal(EngineConfig{tiny()});
  Engine fast(EngineConfig{tiny(), 2.0});
  ASSERT_TRUE(normal.add_request(EngineRequest{1, 400, {}, 2}));
  ASSERT_TRUE(fast.add_request(EngineRequest{1, 400, {}, 2}));
  const Nanos a = *normal.step(1000);
  const Nanos b = *fast.step(1000);
  EXPECT_NEAR(static_cast<double>(b - 1000), static_cast<double>(a - 1000) / 2, 1.0);
}

}  // namespace
}  // namespace kvroute::sim
