// Scheduler behaviour (vLLM V1, SIMULATOR-FACTS.md sections 5 and 6), on the tiny preset:
// 256 blocks of 16 tokens (255 usable), max_num_seqs 16, 512 tokens per step.

#include "sim/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "engine_test_util.h"
#include "sim/kv_block_manager.h"

namespace kvroute::sim {
namespace {

using testing::Arrival;
using testing::chain;
using testing::random_workload;
using testing::run;
using testing::TimedEvent;
using testing::tiny;

constexpr std::uint32_t kTinyUsableBlocks = 255;

/// Time at which request id produced output token 0.
Nanos first_token_time(const std::vector<TimedEvent>& events, RequestId id) {
  for (const TimedEvent& e : events) {
    if (e.event.id == id && e.event.kind == EventKind::kToken && e.event.output_index == 0) return e.at;
  }
  ADD_FAILURE() << "no first token for " << id;
  return -1;
}

/// Every request produced exactly tokens 0..n-1 in order, the last one marked finished.
void expect_complete_token_streams(const std::vector<TimedEvent>& events,
                                   const std::map<RequestId, std::uint32_t>& outputs) {
  std::map<RequestId, std::uint32_t> next;
  for (const TimedEvent& e : events) {
    if (e.event.kind != EventKind::kToken) continue;
    const auto want = outputs.find(e.event.id);
    ASSERT_NE(want, outputs.end()) << "token for unknown request " << e.event.id;
    std::uint32_t& n = next[e.event.id];
    ASSERT_EQ(e.event.output_index, n) << "request " << e.event.id << " duplicated or skipped a token";
    ++n;
    EXPECT_EQ(e.event.finished, n == want->second);
  }
  for (const auto& [id, n] : outputs) EXPECT_EQ(next[id], n) << "request " << id;
}

void expect_no_leaks(const Engine& engine) {
  const EngineStats s = engine.stats();
  EXPECT_EQ(s.free_blocks, engine.config().preset.num_gpu_blocks - 1);  // all but the null block
  EXPECT_DOUBLE_EQ(s.kv_cache_usage, 0.0);
  EXPECT_EQ(s.num_running, 0u);
  EXPECT_EQ(s.num_waiting, 0u);
  for (std::uint32_t b = 1; b < engine.config().preset.num_gpu_blocks; ++b) {
    ASSERT_EQ(engine.kv_blocks().ref_count(b), 0u) << "block " << b;
  }
}

TEST(EngineTest, RejectsInvalidAndOversizedRequests) {
  Engine engine(EngineConfig{tiny()});
  EXPECT_FALSE(engine.add_request(EngineRequest{1, 0, {}, 1}));      // empty prompt
  EXPECT_FALSE(engine.add_request(EngineRequest{1, 10, {}, 0}));     // no output
  EXPECT_FALSE(engine.add_request(EngineRequest{1, 2000, {}, 49}));  // > max_model_len 2048
  EXPECT_TRUE(engine.add_request(EngineRequest{1, 2000, {}, 48}));
  EXPECT_FALSE(engine.add_request(EngineRequest{1, 10, {}, 1}));  // live id
  EXPECT_TRUE(engine.add_request(EngineRequest{2, 10, {}, 1}));

  Preset small = tiny();
  small.num_gpu_blocks = 33;  // 32 usable blocks = 512 tokens of KV
  Engine cramped(EngineConfig{small});
  EXPECT_TRUE(cramped.add_request(EngineRequest{1, 500, {}, 13}));   // 512 KV tokens: fits exactly
  EXPECT_FALSE(cramped.add_request(EngineRequest{2, 500, {}, 14}));  // 513: never fits
}

TEST(EngineTest, IdleEngineHasNoStep) {
  Engine engine(EngineConfig{tiny()});
  EXPECT_TRUE(engine.idle());
  EXPECT_FALSE(engine.step(0).has_value());
}

TEST(EngineTest, ChunkedPrefillOfALongPromptSpansSeveralSteps) {
  Engine engine(EngineConfig{tiny()});
  ASSERT_TRUE(engine.add_request(EngineRequest{7, 1300, {}, 2}));
  Nanos now = 0;
  const std::uint32_t chunks[] = {512, 512, 276};
  const std::uint32_t prefixes[] = {0, 512, 1024};
  for (int i = 0; i < 3; ++i) {
    now = *engine.step(now);
    const StepShape& s = engine.last_step_shape();
    EXPECT_EQ(s.scheduled_tokens, chunks[i]);
    EXPECT_EQ(s.num_prefills, 1u);
    EXPECT_DOUBLE_EQ(s.prefill_attention_work, chunks[i] * (prefixes[i] + chunks[i] / 2.0));
    // Blocks grow with the chunks: ceil(computed / 16).
    EXPECT_EQ(engine.stats().free_blocks, kTinyUsableBlocks - (prefixes[i] + chunks[i] + 15) / 16);
    if (i < 2) {
      EXPECT_TRUE(engine.events().empty()) << "no token before the prefill completes";
    }
  }
  ASSERT_EQ(engine.events().size(), 1u);
  EXPECT_EQ(engine.events()[0].output_index, 0u);
  EXPECT_FALSE(engine.events()[0].finished);
  EXPECT_EQ(engine.stats().prompt_tokens, 1300u);
  now = *engine.step(now);
  ASSERT_EQ(engine.events().size(), 1u);
  EXPECT_TRUE(engine.events()[0].finished);
  EXPECT_EQ(engine.stats().generation_tokens, 2u);
  expect_no_leaks(engine);
}

TEST(EngineTest, SharedPrefixGivesCachedTokensAndAShorterTimeToFirstToken) {
  Engine engine(EngineConfig{tiny()});
  // A: 200 tokens, 12 full blocks hashed from document 1.
  auto events = run(engine, {{0, EngineRequest{1, 200, chain(1, 12), 4}}});
  const Nanos ttft_a = first_token_time(events, 1);
  EXPECT_EQ(engine.stats().prefix_cache_hits, 0u);

  // B: same first 10 blocks, then its own: 10 blocks hit.
  std::vector<std::uint64_t> b_hashes = chain(1, 10);
  for (std::uint64_t h : chain(2, 2)) b_hashes.push_back(h);
  Nanos t0 = 1'000'000'000;
  std::optional<RequestInfo> info_b;
  events = run(engine, {{t0, EngineRequest{2, 200, b_hashes, 4}}}, t0, [&](Engine& e, Nanos) {
    if (auto i = e.request_info(2)) info_b = i;
  });
  ASSERT_TRUE(info_b.has_value());
  EXPECT_EQ(info_b->cached_tokens, 160u);
  EXPECT_EQ(info_b->first_scheduled, t0);
  const Nanos ttft_b = first_token_time(events, 2) - t0;
  EXPECT_LT(ttft_b, ttft_a);
  EXPECT_EQ(engine.stats().prefix_cache_queries, 400u);
  EXPECT_EQ(engine.stats().prefix_cache_hits, 160u);

  // C: the whole of A's 12 blocks, prompt exactly 192 tokens: the hit is capped at len - 1 = 191
  // tokens, i.e. 11 whole blocks; the last block is recomputed to get logits.
  t0 *= 2;
  std::optional<RequestInfo> info_c;
  run(engine, {{t0, EngineRequest{3, 192, chain(1, 12), 1}}}, t0, [&](Engine& e, Nanos) {
    if (auto i = e.request_info(3)) info_c = i;  // finishes in its first step: still answered
  });
  ASSERT_TRUE(info_c.has_value());
  EXPECT_FALSE(info_c->running);
  EXPECT_EQ(info_c->cached_tokens, 176u);

  // D: one token longer than C: all 12 blocks hit.
  t0 *= 2;
  std::optional<RequestInfo> info_d;
  run(engine, {{t0, EngineRequest{4, 193, chain(1, 12), 1}}}, t0, [&](Engine& e, Nanos) {
    if (auto i = e.request_info(4)) info_d = i;
  });
  ASSERT_TRUE(info_d.has_value());
  EXPECT_EQ(info_d->cached_tokens, 192u);
  expect_no_leaks(engine);
}

TEST(EngineTest, NoHitsWhenPrefixCachingIsDisabled) {
  Engine engine(EngineConfig{tiny(), 1.0, false});
  run(engine, {{0, EngineRequest{1, 200, chain(1, 12), 1}}});
  std::optional<RequestInfo> info;
  run(engine, {{0, EngineRequest{2, 200, chain(1, 12), 1}}}, 0, [&](Engine& e, Nanos) { info = e.request_info(2); });
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->cached_tokens, 0u);
  EXPECT_EQ(engine.stats().cached_blocks, 0u);
}

TEST(EngineTest, RequestsInTheSameStepShareBlocksRegisteredAtScheduling) {
  // vLLM registers a block as soon as it is scheduled full, so the second of two identical
  // prompts admitted in the same step already hits the first one's blocks.
  Engine engine(EngineConfig{tiny()});
  ASSERT_TRUE(engine.add_request(EngineRequest{1, 200, chain(5, 12), 1}));
  ASSERT_TRUE(engine.add_request(EngineRequest{2, 200, chain(5, 12), 1}));
  engine.step(0);
  EXPECT_EQ(engine.last_step_shape().scheduled_tokens, 200u + 8u);
  EXPECT_EQ(engine.request_info(2)->cached_tokens, 192u);
  EXPECT_EQ(engine.stats().cached_blocks, 12u);  // B's partial last block is its own, not cached
}

TEST(EngineTest, EvictionTakesTheLeastRecentlyFreedAndARequestsLastBlocksFirst) {
  Engine engine(EngineConfig{tiny()});
  // A caches 100 blocks (1600 tokens) and finishes. Free queue: 155 never-used blocks, then A's
  // blocks from last to first.
  run(engine, {{0, EngineRequest{1, 1600, chain(1, 100), 1}}});
  EXPECT_EQ(engine.stats().cached_blocks, 100u);
  // B and C need 93 + 92 = 185 blocks: the 155 fresh ones plus 30 of A's, which must be A's LAST
  // 30 blocks (B's blocks, freed while C still prefills, queue behind A's).
  run(engine, {{0, EngineRequest{2, 1488, {}, 1}}, {0, EngineRequest{3, 1472, {}, 1}}});
  // A again: its first 70 blocks are still cached.
  std::optional<RequestInfo> info;
  run(engine, {{0, EngineRequest{4, 1600, chain(1, 100), 1}}}, 0,
      [&](Engine& e, Nanos) { info = info ? info : e.request_info(4); });
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->cached_tokens, 70u * 16);
}

TEST(EngineTest, HitBlocksLeaveTheFreeQueueWhileInUse) {
  Engine engine(EngineConfig{tiny()});
  run(engine, {{0, EngineRequest{1, 320, chain(1, 20), 1}}});
  EXPECT_EQ(engine.stats().free_blocks, kTinyUsableBlocks);  // cached but unreferenced: free
  EXPECT_EQ(engine.stats().cached_blocks, 20u);
  ASSERT_TRUE(engine.add_request(EngineRequest{2, 330, chain(1, 20), 5}));
  engine.step(0);
  // 20 hit blocks touched plus 1 new block for the tail: 21 referenced.
  EXPECT_EQ(engine.request_info(2)->cached_tokens, 320u);
  EXPECT_EQ(engine.stats().free_blocks, kTinyUsableBlocks - 21);
  EXPECT_NEAR(engine.stats().kv_cache_usage, 21.0 / kTinyUsableBlocks, 1e-12);
}

TEST(EngineTest, KvExhaustionPreemptsTheNewestRunningRequestWhichResumesFirstAndCompletes) {
  Preset p = tiny();
  p.max_num_seqs = 4;  // request 5 waits for a sequence slot, so the waiting queue is not empty
  Engine engine(EngineConfig{p});
  // Four requests of 500-token prompts and 1000-token outputs: each ends at 94 blocks, 376 in all,
  // against 255 usable, so decoding must run out of blocks.
  std::map<RequestId, std::uint32_t> outputs;
  for (RequestId id = 1; id <= 4; ++id) {
    ASSERT_TRUE(engine.add_request(EngineRequest{id, 500, {}, 1000}));
    outputs[id] = 1000;
  }
  ASSERT_TRUE(engine.add_request(EngineRequest{5, 16, {}, 5}));
  outputs[5] = 5;

  std::vector<TimedEvent> events;
  Nanos now = 0;
  RequestId first_victim = 0;
  std::uint64_t preempted_events = 0;
  bool late_checked = false;
  while (!engine.idle()) {
    // Running requests before the step, in admission order (no preemption yet: ids 1..4 in order).
    std::vector<RequestId> running;
    for (const auto& [id, n] : outputs) {
      if (auto i = engine.request_info(id); i && i->running) running.push_back(id);
    }
    now = *engine.step(now);
    std::uint32_t victims_this_step = 0;
    for (const EngineEvent& e : engine.events()) {
      events.push_back(TimedEvent{now, e});
      if (e.kind != EventKind::kPreempted) continue;
      ++preempted_events;
      ++victims_this_step;
      // Nobody is admitted in a step that preempted: the victim is still waiting afterwards.
      const auto info = engine.request_info(e.id);
      ASSERT_TRUE(info.has_value());
      EXPECT_FALSE(info->running);
      if (first_victim == 0) {
        first_victim = e.id;
        ASSERT_EQ(running, (std::vector<RequestId>{1, 2, 3, 4}));
        EXPECT_EQ(e.id, 4u) << "the newest running request is preempted";
        EXPECT_EQ(info->preemptions, 1u);
        EXPECT_FALSE(engine.request_info(5)->running);
      }
    }
    EXPECT_GE(engine.stats().num_waiting, victims_this_step);
    // A resumed victim re-hits its own cached blocks, but its reported cached_tokens stay those of
    // its first schedule (none: its prompt was unique).
    if (first_victim != 0) {
      if (auto v = engine.request_info(first_victim); v && v->running) {
        EXPECT_EQ(v->cached_tokens, 0u);
      }
    }
    // The victim went to the FRONT of the queue: request 5, queued earlier, may not overtake it.
    // (Checked when 5 is first admitted; later the victim may legitimately be preempted again.)
    if (first_victim != 0 && !late_checked) {
      const auto late = engine.request_info(5);
      const auto victim = engine.request_info(first_victim);
      if (!late || late->running) {
        ASSERT_TRUE(!victim || victim->running) << "request 5 overtook the preempted request";
        late_checked = true;
      }
    }
  }
  ASSERT_NE(first_victim, 0u) << "expected KV exhaustion";
  EXPECT_TRUE(late_checked);
  EXPECT_EQ(engine.stats().num_preemptions, preempted_events);
  EXPECT_GT(engine.stats().prefix_cache_hits, 0u) << "resumed requests find their own blocks";
  expect_complete_token_streams(events, outputs);
  expect_no_leaks(engine);
}

TEST(EngineTest, AdmissionCountsUnreferencedHitBlocksAgainstTheFreeBlocks) {
  Preset p = tiny();
  p.num_gpu_blocks = 11;  // 10 usable
  Engine engine(EngineConfig{p});
  run(engine, {{0, EngineRequest{1, 96, chain(1, 6), 1}}});  // 6 cached, unreferenced blocks
  // B takes 3 of the 4 fresh blocks: 7 free, 6 of them A's cached blocks.
  ASSERT_TRUE(engine.add_request(EngineRequest{2, 40, {}, 5}));
  // C hits A's 6 blocks and needs 2 more: 8 > 7 free (touching the hits takes them off the free
  // queue), so C must wait although its 2 new blocks alone would fit.
  std::vector<std::uint64_t> c_hashes = chain(1, 6);
  ASSERT_TRUE(engine.add_request(EngineRequest{3, 116, c_hashes, 1}));
  Nanos now = *engine.step(0);
  EXPECT_TRUE(engine.request_info(2)->running);
  EXPECT_FALSE(engine.request_info(3)->running);
  EXPECT_EQ(engine.stats().free_blocks, 7u);
  std::optional<RequestInfo> info;
  run(engine, {}, now, [&](Engine& e, Nanos) {
    if (auto i = e.request_info(3); i && i->first_scheduled && !info) info = i;
  });
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->cached_tokens, 96u);
  expect_no_leaks(engine);
}

TEST(EngineTest, AbortFreesBlocksOfRunningAndWaitingRequests) {
  Engine engine(EngineConfig{tiny()});
  ASSERT_TRUE(engine.add_request(EngineRequest{1, 1000, chain(3, 62), 50}));
  Nanos now = *engine.step(0);
  EXPECT_LT(engine.stats().free_blocks, kTinyUsableBlocks);
  ASSERT_TRUE(engine.add_request(EngineRequest{2, 100, {}, 5}));
  EXPECT_TRUE(engine.abort(1));
  EXPECT_FALSE(engine.abort(1));
  EXPECT_FALSE(engine.request_info(1).has_value());
  EXPECT_EQ(engine.stats().free_blocks, kTinyUsableBlocks);
  EXPECT_DOUBLE_EQ(engine.stats().kv_cache_usage, 0.0);
  EXPECT_EQ(engine.stats().num_waiting, 1u);
  EXPECT_TRUE(engine.abort(2));  // still waiting
  EXPECT_TRUE(engine.idle());
  EXPECT_FALSE(engine.step(now).has_value());
  EXPECT_FALSE(engine.abort(12345));
  // The aborted request's blocks stay cached for others.
  ASSERT_TRUE(engine.add_request(EngineRequest{3, 1000, chain(3, 62), 1}));
  engine.step(now);
  EXPECT_EQ(engine.request_info(3)->cached_tokens, 512u);  // the first chunk had registered 32 blocks
}

TEST(EngineTest, RespectsMaxNumSeqsAndTheTokenBudget) {
  Engine engine(EngineConfig{tiny()});
  std::uint32_t max_running = 0;
  std::uint32_t max_tokens = 0;
  std::vector<Arrival> arrivals;
  for (std::uint32_t i = 0; i < 40; ++i) arrivals.push_back({0, EngineRequest{i, 40 + 7 * i, {}, 30}});
  run(engine, std::move(arrivals), 0, [&](Engine& e, Nanos) {
    max_running = std::max(max_running, e.stats().num_running);
    max_tokens = std::max(max_tokens, e.last_step_shape().scheduled_tokens);
    EXPECT_LE(e.last_step_shape().num_decodes + e.last_step_shape().num_prefills, 16u);
  });
  EXPECT_EQ(max_running, 16u);
  EXPECT_EQ(max_tokens, 512u);
}

TEST(EngineTest, NoBlockLeaksAfterARandomWorkloadWithAborts) {
  Engine engine(EngineConfig{tiny()});
  auto arrivals = random_workload(11, 300);
  std::map<RequestId, std::uint32_t> outputs;
  for (const Arrival& a : arrivals) outputs[a.request.id] = a.request.output_tokens;
  std::set<RequestId> aborted;
  SeededRandom rng(5);
  run(engine, std::move(arrivals), 0, [&](Engine& e, Nanos) {
    if (rng.uniform(40) == 0) {
      const RequestId id = 1000 + rng.uniform(300);
      if (e.abort(id)) aborted.insert(id);
    }
  });
  EXPECT_FALSE(aborted.empty());
  EXPECT_GT(engine.stats().num_preemptions, 0u) << "the workload should exercise preemption";
  EXPECT_GT(engine.stats().prefix_cache_hits, 0u);
  expect_no_leaks(engine);
}

TEST(EngineTest, SameInputsGiveIdenticalEventStreamsAndStats) {
  Engine a(EngineConfig{tiny()});
  Engine b(EngineConfig{tiny()});
  const auto events_a = run(a, random_workload(42, 200));
  const auto events_b = run(b, random_workload(42, 200));
  ASSERT_EQ(events_a.size(), events_b.size());
  EXPECT_TRUE(events_a == events_b);
  const EngineStats sa = a.stats();
  const EngineStats sb = b.stats();
  EXPECT_EQ(sa.steps, sb.steps);
  EXPECT_EQ(sa.num_preemptions, sb.num_preemptions);
  EXPECT_EQ(sa.prefix_cache_queries, sb.prefix_cache_queries);
  EXPECT_EQ(sa.prefix_cache_hits, sb.prefix_cache_hits);
  EXPECT_EQ(sa.prompt_tokens, sb.prompt_tokens);
  EXPECT_EQ(sa.generation_tokens, sb.generation_tokens);
  EXPECT_EQ(sa.cached_blocks, sb.cached_blocks);
  // And a different seed gives a different run (the comparison is not vacuous).
  Engine c(EngineConfig{tiny()});
  EXPECT_FALSE(run(c, random_workload(43, 200)) == events_a);
}

TEST(EngineTest, EveryRequestOfARandomWorkloadGetsAllItsTokensOnce) {
  Engine engine(EngineConfig{tiny()});
  auto arrivals = random_workload(3, 250, 1500, 300);
  std::map<RequestId, std::uint32_t> outputs;
  for (const Arrival& a : arrivals) outputs[a.request.id] = a.request.output_tokens;
  const auto events = run(engine, std::move(arrivals));
  expect_complete_token_streams(events, outputs);
  EXPECT_GT(engine.stats().num_preemptions, 0u);
  std::uint64_t total_output = 0;
  for (const auto& [id, n] : outputs) total_output += n;
  EXPECT_EQ(engine.stats().generation_tokens, total_output);
  expect_no_leaks(engine);
}

}  // namespace
}  // namespace kvroute::sim
