// The real Mooncake conversation trace (../shared/traces, outside the repository): its first 200
// records read, prepared and replayed. Skipped when the file is not there.

#include <gtest/gtest.h>

#include <filesystem>

#include "bench/fleet_driver.h"
#include "bench/metrics.h"
#include "bench/trace.h"
#include "bench/workload.h"
#include "routing/policy_registry.h"

namespace kvroute::bench {
namespace {

const std::string kMooncakePath = std::string(KVROUTE_SHARED_TRACES_DIR) + "/mooncake_conversation_trace.jsonl";

TEST(MooncakeTraceFileTest, FirstRecordsReplayOnEightServers) {
  if (!std::filesystem::exists(kMooncakePath)) GTEST_SKIP() << kMooncakePath << " not present";
  auto trace = read_trace(kMooncakePath, TraceFormat::kAuto, 200);
  ASSERT_TRUE(trace.ok()) << trace.error().message;
  EXPECT_EQ(trace->format, TraceFormat::kMooncake);
  ASSERT_EQ(trace->records.size(), 200u);
  // The first record as published: {"timestamp": 0, "input_length": 6758, "output_length": 500, "hash_ids": [0..13]}.
  const TraceRecord& first = trace->records[0];
  EXPECT_EQ(first.arrival, 0);
  EXPECT_EQ(first.input_tokens, 6758u);
  EXPECT_EQ(first.output_tokens, 500u);
  ASSERT_EQ(first.hash_ids.size(), 14u);
  EXPECT_EQ(first.hash_ids[13], 13u);
  for (const auto& r : trace->records) EXPECT_EQ(r.hash_ids.size(), (r.input_tokens + 511) / 512u);

  auto w = Workload::build(*trace, "meta-llama/Llama-3.1-8B-Instruct");
  ASSERT_TRUE(w.ok());
  // Records 0 and 1 share exactly their first block (id 0): 32 gateway hashes, 512 tokens.
  const auto h0 = w->feature_hashes(w->requests()[0]);
  const auto h1 = w->feature_hashes(w->requests()[1]);
  for (std::size_t i = 0; i < 32; ++i) EXPECT_EQ(h0[i], h1[i]) << i;
  EXPECT_NE(h0[32], h1[32]);
  EXPECT_EQ(w->requests()[1].shared_tokens, 512u);
  EXPECT_GT(w->achievable_hit_rate(), 0.0);

  auto fleet = fleet_from_presets("L8B-H100", 8);
  ASSERT_TRUE(fleet.ok());
  const auto registry = routing::PolicyRegistry::with_builtin_policies();
  auto rr = registry.create("round_robin");
  ASSERT_TRUE(rr.ok());
  FleetSimulation sim(*w, *fleet, **rr, SimOptions{});
  const PolicyMetrics m = compute_metrics(sim.run(), SloOptions{}, SimOptions{}.timeout, "round_robin");
  EXPECT_EQ(m.completed, 200u);
  EXPECT_GT(m.prefix_hit_rate, 0.0);
  EXPECT_LE(lower_bound_ttft_ms(*w, *fleet).mean, m.ttft_ms.mean);
}

}  // namespace
}  // namespace kvroute::bench
