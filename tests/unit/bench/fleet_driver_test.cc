#include "bench/fleet_driver.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/metrics.h"
#include "bench/report.h"
#include "bench/sim_command.h"
#include "common/random.h"
#include "routing/policy_registry.h"

namespace kvroute::bench {
namespace {

/// A Mooncake-like trace for the "tiny" preset: `n` requests, one every `gap`, five sessions whose
/// requests share a growing prefix, prompts of 100-1500 tokens and 4-40 output tokens.
Trace synthetic_trace(std::size_t n, Nanos gap, std::uint64_t seed = 7) {
  SeededRandom rng(seed);
  Trace t;
  t.source = "synthetic";
  t.format = TraceFormat::kMooncake;
  for (std::size_t i = 0; i < n; ++i) {
    TraceRecord r;
    r.arrival = static_cast<Nanos>(i) * gap;
    r.input_tokens = 100 + static_cast<std::uint32_t>(rng.uniform(1400));
    r.output_tokens = 4 + static_cast<std::uint32_t>(rng.uniform(37));
    const std::uint64_t session = i % 5;
    const std::uint32_t blocks = (r.input_tokens + 511) / 512;
    for (std::uint32_t b = 0; b < blocks; ++b) {
      // Sessions share their first block; later blocks are shared by half the session's requests.
      r.hash_ids.push_back(b == 0 ? session * 1000 : session * 1000 + b * 10 + (i / 5) % 2 + (b > 1 ? i * 100000 : 0));
    }
    r.line = static_cast<std::uint32_t>(i + 1);
    t.records.push_back(std::move(r));
  }
  return t;
}

Workload tiny_workload(const Trace& t) {
  auto w = Workload::build(t, "kvroute/tiny-sim");
  EXPECT_TRUE(w.ok());
  return std::move(*w);
}

Fleet tiny_fleet(std::uint32_t n) {
  auto f = fleet_from_presets("tiny", n);
  EXPECT_TRUE(f.ok());
  return std::move(*f);
}

routing::PolicyFactoryPtr factory(std::string_view name) {
  static const auto registry = routing::PolicyRegistry::with_builtin_policies();
  auto f = registry.create(name);
  EXPECT_TRUE(f.ok()) << name;
  return *f;
}

void expect_fleet_quiescent(const FleetSimulation& sim) {
  for (std::uint32_t b = 0; b < sim.backends().size(); ++b) {
    const auto& acc = sim.backends()[b].state().accounting;
    EXPECT_EQ(acc.in_flight.load(), 0) << "backend " << b;
    EXPECT_EQ(acc.outstanding_prefill_tokens.load(), 0) << "backend " << b;
    EXPECT_EQ(acc.active_decodes.load(), 0) << "backend " << b;
    EXPECT_TRUE(sim.engine(b).idle()) << "backend " << b;
  }
}

TEST(FleetDriverTest, EveryRequestCompletesWithConsistentTimes) {
  const Trace t = synthetic_trace(80, 3 * kNanosPerMilli);
  const Workload w = tiny_workload(t);
  const Fleet f = tiny_fleet(3);
  const auto rr = factory("round_robin");
  FleetSimulation sim(w, f, *rr, SimOptions{});
  const RunResult run = sim.run();

  ASSERT_EQ(run.requests.size(), 80u);
  std::uint64_t dispatched = 0;
  for (std::size_t i = 0; i < run.requests.size(); ++i) {
    const RequestRecord& r = run.requests[i];
    EXPECT_EQ(r.status, RequestStatus::kCompleted) << i;
    EXPECT_EQ(r.arrival, t.records[i].arrival);
    EXPECT_GE(r.dispatched, r.arrival);
    EXPECT_GT(r.first_token, r.dispatched);
    EXPECT_GT(r.finished, r.first_token);                     // >= 4 output tokens
    EXPECT_EQ(r.backend, (run.requests[0].backend + i) % 3);  // round robin, nothing held
    EXPECT_LE(r.cached_tokens, r.prompt_tokens);
  }
  for (const auto d : run.dispatched_per_backend) dispatched += d;
  EXPECT_EQ(dispatched, 80u);
  EXPECT_GT(run.prefix_cache_hits, 0u);  // sessions share prefixes
  EXPECT_GT(run.kv_usage_mean, 0.0);
  EXPECT_LT(run.kv_usage_mean, 1.0);
  EXPECT_EQ(run.max_queued, 0u);
  expect_fleet_quiescent(sim);

  // Every backend's accounting saw each of its requests complete successfully, and got the
  // engine's cached_tokens for each of them.
  std::vector<std::uint64_t> cached(3, 0);
  for (const RequestRecord& r : run.requests) cached[r.backend] += r.cached_tokens;
  for (std::uint32_t b = 0; b < 3; ++b) {
    const auto& state = sim.backends()[b].state();
    EXPECT_EQ(state.accounting.ok_total.load(), run.dispatched_per_backend[b]);
    EXPECT_EQ(state.prefix.reports_total.load(), run.dispatched_per_backend[b]);
    EXPECT_EQ(state.prefix.reported_cached_tokens_total.load(), cached[b]);
  }
  const PolicyMetrics m = compute_metrics(run, SloOptions{}, SimOptions{}.timeout, "round_robin");
  EXPECT_EQ(m.completed, 80u);
  EXPECT_EQ(m.timeouts, 0u);
  EXPECT_GT(m.ttft_ms.mean, 0.0);
  EXPECT_GT(m.prefix_hit_rate, 0.0);
  EXPECT_DOUBLE_EQ(m.imbalance, 27.0 / (80.0 / 3));
}

TEST(FleetDriverTest, TimeScaleMultipliesArrivalTimes) {
  const Trace t = synthetic_trace(40, 7 * kNanosPerMilli);
  const Workload w = tiny_workload(t);
  const Fleet f = tiny_fleet(2);
  const auto lr = factory("least_request");
  for (const double scale : {0.5, 1.0, 2.5}) {
    SimOptions o;
    o.time_scale = scale;
    FleetSimulation sim(w, f, *lr, o);
    const RunResult run = sim.run();
    for (std::size_t i = 0; i < t.records.size(); ++i) {
      EXPECT_EQ(run.requests[i].arrival, std::llround(static_cast<double>(t.records[i].arrival) * scale));
      EXPECT_GE(run.requests[i].dispatched, run.requests[i].arrival);
    }
    EXPECT_EQ(run.start, 0);
    EXPECT_GE(run.end, run.requests.back().arrival);
  }
}

TEST(FleetDriverTest, DenserArrivalsQueueLonger) {
  const Trace t = synthetic_trace(120, 4 * kNanosPerMilli);
  const Workload w = tiny_workload(t);
  const Fleet f = tiny_fleet(2);
  const auto rr = factory("round_robin");
  const auto mean_ttft = [&](double scale) {
    SimOptions o;
    o.time_scale = scale;
    FleetSimulation sim(w, f, *rr, o);
    return compute_metrics(sim.run(), SloOptions{}, o.timeout, "rr").ttft_ms.mean;
  };
  EXPECT_GT(mean_ttft(0.1), mean_ttft(10.0));
}

TEST(FleetDriverTest, FirstTokensLaterThanTheTimeoutAreCountedAndAborted) {
  // 60 long prompts at once on one small server: most cannot start within 30 ms.
  Trace t = synthetic_trace(60, 0);
  for (auto& r : t.records) r.input_tokens = 1400;
  const Workload w = tiny_workload(t);
  const Fleet f = tiny_fleet(1);
  const auto rr = factory("round_robin");
  SimOptions o;
  o.timeout = 30 * kNanosPerMilli;
  FleetSimulation sim(w, f, *rr, o);
  const RunResult run = sim.run();

  std::size_t completed = 0;
  std::size_t timeouts = 0;
  for (const RequestRecord& r : run.requests) {
    if (r.status == RequestStatus::kCompleted) {
      ++completed;
      EXPECT_LE(r.first_token - r.arrival, o.timeout);
    } else {
      ASSERT_EQ(r.status, RequestStatus::kTimedOut);
      ++timeouts;
      EXPECT_EQ(r.first_token, routing::kNever);
      EXPECT_EQ(r.finished, r.arrival + o.timeout);
    }
  }
  EXPECT_GT(completed, 0u);
  EXPECT_GT(timeouts, 30u);
  EXPECT_EQ(completed + timeouts, 60u);
  expect_fleet_quiescent(sim);  // aborted requests left neither engine work nor accounting behind
  EXPECT_EQ(sim.backends()[0].state().accounting.error_total.load(), timeouts);

  const PolicyMetrics m = compute_metrics(run, SloOptions{}, o.timeout, "round_robin");
  EXPECT_EQ(m.timeouts, timeouts);
  EXPECT_EQ(m.completed, completed);
  EXPECT_DOUBLE_EQ(m.ttft_ms.p99, 30.0);  // timeouts count at the timeout
}

TEST(FleetDriverTest, RequestsTheEngineCannotHoldAreRejected) {
  Trace t = synthetic_trace(10, kNanosPerMilli);
  t.records[3].input_tokens = 3000;  // beyond tiny's max_model_len (2048)
  t.records[3].hash_ids.clear();
  const Workload w = tiny_workload(t);
  const Fleet f = tiny_fleet(2);
  const auto rr = factory("round_robin");
  FleetSimulation sim(w, f, *rr, SimOptions{});
  const RunResult run = sim.run();
  EXPECT_EQ(run.requests[3].status, RequestStatus::kRejected);
  const PolicyMetrics m = compute_metrics(run, SloOptions{}, SimOptions{}.timeout, "round_robin");
  EXPECT_EQ(m.rejected, 1u);
  EXPECT_EQ(m.completed, 9u);
  expect_fleet_quiescent(sim);
}

/// Sends one request at a time to the whole fleet: nullopt ("hold it") while anything is in flight.
class OneAtATimePolicy final : public routing::Policy {
 public:
  std::string_view name() const override { return "one_at_a_time"; }
  std::optional<std::uint32_t> pick(const routing::RequestFeatures&, const routing::BackendSet& set,
                                    routing::PickContext&) override {
    for (const auto& b : set.backends()) {
      if (b.state().in_flight() > 0) return std::nullopt;
    }
    return next_++ % set.size();
  }

 private:
  std::uint32_t next_ = 0;
};

class OneAtATimeFactory final : public routing::PolicyFactory {
 public:
  std::string_view name() const override { return "one_at_a_time"; }
  std::unique_ptr<routing::Policy> create() const override { return std::make_unique<OneAtATimePolicy>(); }
};

TEST(FleetDriverTest, HeldRequestsAreDispatchedWhenStateChanges) {
  const Trace t = synthetic_trace(25, 0);  // all at once
  const Workload w = tiny_workload(t);
  const Fleet f = tiny_fleet(2);
  OneAtATimeFactory hold;
  SimOptions o;
  o.scrape_interval = 10 * kNanosPerSecond;  // only completions can release the queue here
  FleetSimulation sim(w, f, hold, o);
  const RunResult run = sim.run();
  EXPECT_EQ(run.max_queued, 24u);
  Nanos previous_finish = 0;
  for (std::size_t i = 0; i < run.requests.size(); ++i) {
    const RequestRecord& r = run.requests[i];
    ASSERT_EQ(r.status, RequestStatus::kCompleted) << i;
    // FIFO, and each dispatched exactly when the one before it completed.
    EXPECT_EQ(r.dispatched, previous_finish) << i;
    EXPECT_EQ(r.backend, i % 2);
    previous_finish = r.finished;
  }
  expect_fleet_quiescent(sim);
}

TEST(FleetDriverTest, ScrapesCopyEngineStatsIntoBackendState) {
  const Trace t = synthetic_trace(50, 2 * kNanosPerMilli);
  const Workload w = tiny_workload(t);
  const Fleet f = tiny_fleet(2);
  const auto rr = factory("round_robin");
  SimOptions o;
  o.scrape_interval = 5 * kNanosPerMilli;
  FleetSimulation sim(w, f, *rr, o);
  std::vector<Nanos> scrapes;
  bool saw_running = false;
  bool saw_hits = false;
  sim.set_scrape_observer([&](Nanos now) {
    scrapes.push_back(now);
    for (std::uint32_t b = 0; b < 2; ++b) {
      const auto& s = sim.backends()[b].state().scraped;
      const sim::EngineStats e = sim.engine(b).stats();
      EXPECT_EQ(s.scraped_at.load(), now);
      EXPECT_EQ(s.num_running.load(), e.num_running);
      EXPECT_EQ(s.num_waiting.load(), e.num_waiting);
      EXPECT_EQ(s.kv_usage.load(), e.kv_cache_usage);
      EXPECT_EQ(s.prefix_cache_hits.load(), e.prefix_cache_hits);
      EXPECT_EQ(s.prefix_cache_queries.load(), e.prefix_cache_queries);
      EXPECT_EQ(s.num_preemptions.load(), e.num_preemptions);
      EXPECT_EQ(s.kv_capacity_tokens.load(), 256u * 16);  // tiny: num_gpu_blocks x block_size
      saw_running |= s.num_running.load() > 0;
      saw_hits |= s.prefix_cache_hits.load() > 0;
    }
  });
  const RunResult run = sim.run();
  ASSERT_GE(scrapes.size(), 20u);
  for (std::size_t i = 0; i < scrapes.size(); ++i) EXPECT_EQ(scrapes[i], static_cast<Nanos>(i) * o.scrape_interval);
  EXPECT_LE(scrapes.back(), run.end);
  EXPECT_TRUE(saw_running);
  EXPECT_TRUE(saw_hits);
}

TEST(FleetDriverTest, LowerBoundIsBelowEveryPolicysMeanTtft) {
  const Trace t = synthetic_trace(100, 2 * kNanosPerMilli);
  const Workload w = tiny_workload(t);
  const Fleet f = tiny_fleet(3);
  const LatencySummary bound = lower_bound_ttft_ms(w, f);
  EXPECT_GT(bound.mean, 0.0);
  for (const char* name :
       {"round_robin", "random", "least_request", "power_of_two", "consistent_hash", "ewma", "weighted_round_robin"}) {
    const auto p = factory(name);
    FleetSimulation sim(w, f, *p, SimOptions{});
    const RunResult run = sim.run();
    for (std::size_t i = 0; i < w.size(); ++i) {
      const WorkloadRequest& r = w.requests()[i];
      EXPECT_GE(run.requests[i].first_token - run.requests[i].arrival,
                idle_prefill_time(*f.backends[0].preset, 1.0, r.prompt_tokens, r.shared_tokens))
          << name << " request " << i;
    }
    const PolicyMetrics m = compute_metrics(run, SloOptions{}, SimOptions{}.timeout, name);
    // Every request's TTFT is at least its own bound, so every order statistic is too.
    EXPECT_LE(bound.mean, m.ttft_ms.mean) << name;
    EXPECT_LE(bound.p50, m.ttft_ms.p50) << name;
    EXPECT_LE(bound.p99, m.ttft_ms.p99) << name;
    EXPECT_EQ(m.completed, 100u) << name;
  }
}

// --- the whole command: determinism and output shape ---

class SimCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kvroute_bench_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    trace_ = (dir_ / "trace.jsonl").string();
    std::ofstream out(trace_);
    const Trace t = synthetic_trace(60, 2 * kNanosPerMilli);
    for (const auto& r : t.records) {
      out << "{\"timestamp\": " << r.arrival / kNanosPerMilli << ", \"input_length\": " << r.input_tokens
          << ", \"output_length\": " << r.output_tokens << ", \"hash_ids\": [";
      for (std::size_t i = 0; i < r.hash_ids.size(); ++i) out << (i ? ", " : "") << r.hash_ids[i];
      out << "]}\n";
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  SimCommandOptions options() const {
    SimCommandOptions o;
    o.trace = trace_;
    o.backends = 3;
    o.preset = "tiny";
    o.policies = "round_robin,random,power_of_two";
    return o;
  }

  std::filesystem::path dir_;
  std::string trace_;
};

TEST_F(SimCommandTest, SameSeedGivesByteIdenticalJson) {
  auto a = run_sim(options(), nullptr);
  auto b = run_sim(options(), nullptr);
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(report_json(a->front()), report_json(b->front()));

  auto o = options();
  o.seed = 2;
  auto c = run_sim(o, nullptr);
  ASSERT_TRUE(c.ok());
  // The random policy's picks depend on the seed.
  EXPECT_NE(report_json(a->front()), report_json(c->front()));
}

TEST_F(SimCommandTest, SweepRunsEveryScale) {
  auto o = options();
  o.sweep = {1.0, 0.5};
  auto r = run_sim(o, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].time_scale, 1.0);
  EXPECT_EQ((*r)[1].time_scale, 0.5);
  EXPECT_EQ((*r)[1].results.size(), 3u);
  const std::string json = sweep_json(*r);
  EXPECT_EQ(json.front(), '[');
}

TEST_F(SimCommandTest, BadOptionsAreReported) {
  auto o = options();
  o.policies = "round_robin,nope";
  auto r = run_sim(o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("unknown policy 'nope'"), std::string::npos);

  o = options();
  o.policy_params = {"least_request.choice_count=3"};
  r = run_sim(o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not in --policies"), std::string::npos);

  o = options();
  o.policies = "least_request";
  o.policy_params = {"least_request.choice_count=0"};
  r = run_sim(o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("choice_count"), std::string::npos);

  o = options();
  o.policies = "least_request";
  o.policy_params = {"least_request.choice_count=3"};
  r = run_sim(o, nullptr);
  EXPECT_TRUE(r.ok()) << r.error().message;

  // The same policy twice needs labels; each label takes its own parameters.
  o = options();
  o.policies = "least_request,least_request";
  EXPECT_FALSE(run_sim(o, nullptr).ok());
  o.policies = "least_request,lr_scan=least_request";
  o.policy_params = {"lr_scan.selection=full_scan"};
  r = run_sim(o, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->front().results[1].policy, "lr_scan");
  o.policies = "least_request,lr_scan=nope";
  EXPECT_FALSE(run_sim(o, nullptr).ok());

  o = options();
  o.time_scale = 0;
  EXPECT_FALSE(run_sim(o, nullptr).ok());
  o = options();
  o.trace = (dir_ / "missing.jsonl").string();
  EXPECT_FALSE(run_sim(o, nullptr).ok());
}

TEST(PolicyParamsTest, SplitsPolicyKeyAndValue) {
  auto p = parse_policy_params({"least_request.choice_count=3", "ewma.decay_time=5s"});
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0].first, "least_request");
  EXPECT_EQ((*p)[0].second.first, "choice_count");
  EXPECT_EQ((*p)[0].second.second, "3");
  EXPECT_EQ((*p)[1].second.second, "5s");
  EXPECT_FALSE(parse_policy_params({"least_request=3"}).ok());
  EXPECT_FALSE(parse_policy_params({".x=3"}).ok());
  EXPECT_FALSE(parse_policy_params({"a.=3"}).ok());
}

}  // namespace
}  // namespace kvroute::bench
