#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <queue>
#include <vector>

#include "routing/dispatch_accounting.h"
#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::make_equal_set;
using testing::make_policy;
using testing::pick_once;
using testing::ScriptedRandom;
using testing::set_in_flight;

constexpr Nanos kMs = kNanosPerMilli;
constexpr Nanos kTau = 10 * kNanosPerSecond;

void seed_ttft(const BackendSet& set, std::uint32_t i, Nanos ttft, Nanos at) {
  set[i].state().estimates.ttft.observe(static_cast<double>(ttft), at, kTau);
}

TEST(EwmaTest, PicksTheLowerCostOfTheSampledPair) {
  auto set = make_equal_set(3);
  seed_ttft(*set, 0, 100 * kMs, 0);
  seed_ttft(*set, 1, 300 * kMs, 0);
  seed_ttft(*set, 2, 50 * kMs, 0);
  set_in_flight(*set, {0, 0, 5});  // costs: 100, 300, 50 * 6 = 300
  auto policy = make_policy("ewma");
  VirtualClock clock(0);
  ScriptedRandom r;
  r.then(0, 3).then(1, 3);
  EXPECT_EQ(*pick_once(*policy, *set, r, {}, {}, &clock), 0u);
  r.then(2, 3).then(0, 3);
  EXPECT_EQ(*pick_once(*policy, *set, r, {}, {}, &clock), 0u);
  r.then(1, 3).then(2, 3).then(0, 2);  // equal costs: the tie draw decides
  EXPECT_EQ(*pick_once(*policy, *set, r, {}, {}, &clock), 2u);
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(EwmaTest, BackendWithoutSamplesCostsTheInitialValue) {
  auto set = make_equal_set(3);
  seed_ttft(*set, 1, 300 * kMs, 0);
  VirtualClock clock(0);
  ScriptedRandom r;
  auto cautious = make_policy("ewma");  // initial 500 ms > 300 ms
  r.then(0, 3).then(1, 3);
  EXPECT_EQ(*pick_once(*cautious, *set, r, {}, {}, &clock), 1u);
  auto eager = make_policy("ewma", {{"initial_ttft", "100ms"}});
  r.then(0, 3).then(1, 3);
  EXPECT_EQ(*pick_once(*eager, *set, r, {}, {}, &clock), 0u);
}

TEST(EwmaTest, IdleBackendsAgeTowardZeroBusyOnesDoNot) {
  auto set = make_equal_set(2);
  seed_ttft(*set, 0, 1000 * kMs, 0);                    // slow, 30 s ago
  seed_ttft(*set, 1, 400 * kMs, 30 * kNanosPerSecond);  // fresh
  VirtualClock clock(30 * kNanosPerSecond);
  auto policy = make_policy("ewma");
  ScriptedRandom r;  // two backends: both compared, no draws
  // Idle: 1000 ms * e^-3 = 50 ms < 400 ms, so the slow backend is probed again.
  EXPECT_EQ(*pick_once(*policy, *set, r, {}, {}, &clock), 0u);
  // Busy: no ageing, 1000 * 2 > 400 * 1.
  set_in_flight(*set, {1, 0});
  EXPECT_EQ(*pick_once(*policy, *set, r, {}, {}, &clock), 1u);
}

TEST(EwmaTest, FactoryHandsItsDecayToTheAccounting) {
  static const PolicyRegistry registry = PolicyRegistry::with_builtin_policies();
  EXPECT_EQ((*registry.create("ewma"))->estimator_config().ttft_decay, 10 * kNanosPerSecond);
  EXPECT_EQ((*registry.create("ewma", {{"decay_time", "2.5s"}}))->estimator_config().ttft_decay, 2500 * kMs);
  EXPECT_EQ((*registry.create("round_robin"))->estimator_config().ttft_decay, 10 * kNanosPerSecond);
}

/// A tiny discrete-event fleet: requests arrive at a fixed interval, each backend's TTFT is given by
/// a function of time, decoding takes a fixed time. Everything goes through DispatchAccounting, so
/// the policy sees the same estimates the gateway would.
class Fleet {
 public:
  Fleet(std::uint32_t backends, std::unique_ptr<Policy> policy, std::uint64_t seed)
      : set_(make_equal_set(backends)), policy_(std::move(policy)), random_(seed) {}

  std::function<Nanos(std::uint32_t backend, Nanos now)> ttft;
  Nanos decode = 300 * kMs;

  /// Runs arrivals every `interval` in [from, to); returns how many each backend got.
  std::vector<int> run(Nanos from, Nanos to, Nanos interval) {
    std::vector<int> counts(set_->size());
    for (Nanos t = from; t < to; t += interval) {
      drain_until(t);
      clock_.advance_to(t);
      PickContext ctx{clock_, random_, {}};
      const auto b = policy_->pick({}, *set_, ctx);
      EXPECT_TRUE(b.has_value());
      ++counts[*b];
      tickets_.push_back(std::make_unique<DispatchTicket>(accounting_.dispatch(set_, *b, {}, t, policy_.get())));
      events_.push({t + ttft(*b, t), tickets_.size() - 1, true});
    }
    drain_until(to);
    return counts;
  }

 private:
  struct Event {
    Nanos at;
    std::size_t ticket;
    bool first_token;
    bool operator>(const Event& o) const { return at > o.at; }
  };

  void drain_until(Nanos t) {
    while (!events_.empty() && events_.top().at <= t) {
      const Event e = events_.top();
      events_.pop();
      clock_.advance_to(e.at);
      auto& ticket = *tickets_[e.ticket];
      if (e.first_token) {
        accounting_.first_token(ticket, e.at, policy_.get());
        events_.push({e.at + decode, e.ticket, false});
      } else {
        accounting_.complete(ticket, Outcome::kOk, 10, e.at, policy_.get());
      }
    }
  }

  BackendSetPtr set_;
  std::unique_ptr<Policy> policy_;
  DispatchAccounting accounting_;
  VirtualClock clock_;
  SeededRandom random_;
  std::vector<std::unique_ptr<DispatchTicket>> tickets_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
};

TEST(EwmaTest, PrefersTheFasterBackend) {
  Fleet fleet(2, make_policy("ewma"), 31);
  fleet.ttft = [](std::uint32_t b, Nanos) { return b == 0 ? 50 * kMs : 500 * kMs; };
  (void)fleet.run(0, 10 * kNanosPerSecond, 100 * kMs);
  const auto counts = fleet.run(10 * kNanosPerSecond, 130 * kNanosPerSecond, 100 * kMs);
  EXPECT_GT(counts[0] / double(counts[0] + counts[1]), 0.85);
  EXPECT_GT(counts[1], 0);  // the slow one is still probed now and then
}

TEST(EwmaTest, RecoversAfterASlowPeriodDecays) {
  Fleet fleet(2, make_policy("ewma"), 32);
  constexpr Nanos kSlowUntil = 60 * kNanosPerSecond;
  fleet.ttft = [](std::uint32_t b, Nanos now) { return b == 1 && now < kSlowUntil ? 2000 * kMs : 100 * kMs; };
  (void)fleet.run(0, 10 * kNanosPerSecond, 100 * kMs);
  const auto slow = fleet.run(10 * kNanosPerSecond, kSlowUntil, 100 * kMs);
  EXPECT_LT(slow[1] / double(slow[0] + slow[1]), 0.15);
  (void)fleet.run(kSlowUntil, 150 * kNanosPerSecond, 100 * kMs);
  const auto after = fleet.run(150 * kNanosPerSecond, 210 * kNanosPerSecond, 100 * kMs);
  EXPECT_NEAR(after[1] / double(after[0] + after[1]), 0.5, 0.1);
}

TEST(EwmaTest, ManyBackendsSpreadLoadTowardFastOnes) {
  // Eight backends, TTFT 50 ms * (i + 1): the fast half should get clearly more than half the work.
  Fleet fleet(8, make_policy("ewma"), 33);
  fleet.ttft = [](std::uint32_t b, Nanos) { return 50 * kMs * (b + 1); };
  const auto counts = fleet.run(0, 300 * kNanosPerSecond, 20 * kMs);
  int fast = 0, total = 0;
  for (std::uint32_t i = 0; i < 8; ++i) {
    total += counts[i];
    if (i < 4) fast += counts[i];
  }
  EXPECT_GT(fast / double(total), 0.6);
  EXPECT_GT(counts[0], counts[7]);
}

}  // namespace
}  // namespace kvroute::routing
