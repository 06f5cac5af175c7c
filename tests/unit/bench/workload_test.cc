#include "bench/workload.h"

#include <gtest/gtest.h>

#include <vector>

#include "bench/synthetic_text.h"
#include "routing/prompt_features.h"
#include "sim/engine.h"
#include "sim/tokenizer.h"

namespace kvroute::bench {
namespace {

constexpr const char* kModel = "meta-llama/Llama-3.1-8B-Instruct";

TraceRecord mooncake(Nanos at, std::uint32_t in, std::uint32_t out, std::vector<std::uint64_t> ids) {
  TraceRecord r;
  r.arrival = at;
  r.input_tokens = in;
  r.output_tokens = out;
  r.hash_ids = std::move(ids);
  return r;
}

Workload build(std::vector<TraceRecord> records) {
  Trace t;
  t.format = TraceFormat::kMooncake;
  t.records = std::move(records);
  auto w = Workload::build(t, kModel);
  EXPECT_TRUE(w.ok());
  return std::move(*w);
}

TEST(WorkloadTest, FeaturesAndEngineBlocksAreThoseOfTheSynthesisedText) {
  const std::vector<std::uint64_t> ids{1, 2, 3};
  const Workload w = build({mooncake(5, 1100, 9, ids)});
  ASSERT_EQ(w.size(), 1u);
  const WorkloadRequest& r = w.requests()[0];
  EXPECT_EQ(r.arrival, 5);
  EXPECT_EQ(r.prompt_tokens, 1100u);
  EXPECT_EQ(r.estimated_tokens, 1100u);
  EXPECT_EQ(r.output_tokens, 9u);
  EXPECT_EQ(w.models()[r.model], kModel);

  // The same text through the gateway's builder and the simulator's tokenizer.
  const std::string text = synthetic_prompt(SyntheticPrompt{ids, 0, 1100});
  routing::PromptFeatureBuilder f;
  f.reset(kModel);
  f.append(text);
  sim::PromptTokenizer tok;
  tok.append(text);
  const auto fh = w.feature_hashes(r);
  const auto eh = w.engine_hashes(r);
  ASSERT_EQ(fh.size(), 1100u * 4 / 64);
  ASSERT_EQ(eh.size(), 1100u / 16);
  EXPECT_TRUE(std::equal(fh.begin(), fh.end(), f.block_hashes().begin(), f.block_hashes().end()));
  EXPECT_TRUE(std::equal(eh.begin(), eh.end(), tok.block_hashes().begin(), tok.block_hashes().end()));
  // Different seeds: the gateway's chain is seeded by the model, the engine's by its own constant.
  EXPECT_NE(fh[0], eh[0]);
}

TEST(WorkloadTest, SharedTokensCountLeadingBlocksSeenInEarlierRequests) {
  const Workload w = build({
      mooncake(0, 1536, 1, {10, 11, 12}), mooncake(1, 2000, 1, {10, 11, 20, 21}),  // shares two 512-token blocks
      mooncake(2, 512, 1, {30}),                                                   // shares nothing
      mooncake(3, 1536, 1, {10, 11, 12}),  // identical to the first: capped below the whole prompt
  });
  EXPECT_EQ(w.requests()[0].shared_tokens, 0u);
  EXPECT_EQ(w.requests()[1].shared_tokens, 1024u);
  EXPECT_EQ(w.requests()[2].shared_tokens, 0u);
  EXPECT_EQ(w.requests()[3].shared_tokens, 1536u - 16);  // at most prompt - 1 tokens, whole blocks
  EXPECT_EQ(w.total_prompt_tokens(), 1536u + 2000 + 512 + 1536);
  EXPECT_DOUBLE_EQ(w.achievable_hit_rate(), (1024.0 + 1520.0) / (1536 + 2000 + 512 + 1536));
}

TEST(WorkloadTest, ModelOfTheRecordSeedsItsFeatures) {
  TraceRecord a;
  a.input_tokens = 32;
  a.output_tokens = 1;
  a.prompt = std::string(128, 'x');
  TraceRecord b = a;
  b.model = "other-model";
  b.user = "alice";
  const Workload w = build({a, b});
  EXPECT_EQ(w.models().size(), 2u);
  EXPECT_EQ(w.models()[w.requests()[1].model], "other-model");
  EXPECT_NE(w.feature_hashes(w.requests()[0])[0], w.feature_hashes(w.requests()[1])[0]);
  // The engine does not care about model names: same text, same KV blocks.
  EXPECT_EQ(w.engine_hashes(w.requests()[0])[0], w.engine_hashes(w.requests()[1])[0]);
  EXPECT_FALSE(w.requests()[0].routing_key.present);
  EXPECT_TRUE(w.requests()[1].routing_key.present);
}

/// TTFT of one request alone on a fresh engine, optionally after another request warmed the cache.
Nanos engine_ttft(const sim::Preset& preset, double speed, const std::vector<sim::EngineRequest>& warmups,
                  sim::EngineRequest request) {
  sim::EngineConfig config;
  config.preset = preset;
  config.speed_factor = speed;
  sim::Engine engine(config);
  Nanos now = 0;
  for (const auto& w : warmups) {
    EXPECT_TRUE(engine.add_request(w));
    while (auto end = engine.step(now)) now = *end;
  }
  const Nanos start = now;
  EXPECT_TRUE(engine.add_request(std::move(request)));
  while (auto end = engine.step(now)) {
    now = *end;
    for (const auto& ev : engine.events()) {
      if (ev.kind == sim::EventKind::kToken && ev.output_index == 0) return now - start;
    }
  }
  return -1;
}

TEST(IdlePrefillTest, EqualsTheEngineTtftOfARequestAlone) {
  const sim::Preset& preset = *sim::find_preset("L8B-H100");
  const std::vector<std::uint64_t> ids{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
  const Workload w = build({mooncake(0, 4096, 4, {1, 2, 3, 4, 5, 6, 7, 8}), mooncake(1, 10000, 4, ids)});
  const auto request = [&](std::size_t i) {
    const WorkloadRequest& r = w.requests()[i];
    sim::EngineRequest e;
    e.id = i;
    e.prompt_tokens = r.prompt_tokens;
    e.output_tokens = r.output_tokens;
    e.block_hashes.assign(w.engine_hashes(r).begin(), w.engine_hashes(r).end());
    return e;
  };
  // Cold: 10k tokens, two chunks.
  EXPECT_EQ(idle_prefill_time(preset, 1.0, 10000, 0), engine_ttft(preset, 1.0, {}, request(1)));
  // Warm: the first 4096 tokens were cached by an earlier request.
  EXPECT_EQ(w.requests()[1].shared_tokens, 4096u);
  EXPECT_EQ(idle_prefill_time(preset, 1.0, 10000, 4096), engine_ttft(preset, 1.0, {request(0)}, request(1)));
  // A faster instance.
  EXPECT_EQ(idle_prefill_time(preset, 2.0, 10000, 0), engine_ttft(preset, 2.0, {}, request(1)));
  EXPECT_LT(idle_prefill_time(preset, 1.0, 10000, 4096), idle_prefill_time(preset, 1.0, 10000, 0));
}

}  // namespace
}  // namespace kvroute::bench
