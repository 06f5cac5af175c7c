#include "routing/dispatch_accounting.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::make_equal_set;

/// Records the hooks it receives.
class RecordingPolicy final : public Policy {
 public:
  struct Event {
    char kind;  // 'd' dispatch, 'f' first token, 'c' complete
    std::uint64_t generation;
    std::uint32_t backend;
    Nanos ttft;
    Completion done;
  };
  std::string_view name() const override { return "recording"; }
  std::optional<std::uint32_t> pick(const RequestFeatures&, const BackendSet&, PickContext&) override { return 0; }
  void on_dispatch(const RequestFeatures&, const BackendSet& set, std::uint32_t b) override {
    events.push_back({'d', set.generation(), b, 0, {}});
  }
  void on_first_token(const BackendSet& set, std::uint32_t b, Nanos ttft) override {
    events.push_back({'f', set.generation(), b, ttft, {}});
  }
  void on_complete(const BackendSet& set, std::uint32_t b, const Completion& done) override {
    events.push_back({'c', set.generation(), b, 0, done});
  }
  std::vector<Event> events;
};

RequestFeatures with_prompt(std::uint32_t tokens) {
  RequestFeatures f;
  f.prompt_tokens = tokens;
  return f;
}

TEST(DispatchAccountingTest, CountsFollowARequestThroughItsLife) {
  auto set = make_equal_set(2);
  const DispatchAccounting acc;
  auto& a = (*set)[1].state().accounting;

  auto t = acc.dispatch(set, 1, with_prompt(300), 1000, nullptr);
  EXPECT_TRUE(t.active());
  EXPECT_EQ(a.in_flight.load(), 1);
  EXPECT_EQ(a.outstanding_prefill_tokens.load(), 300);
  EXPECT_EQ(a.active_decodes.load(), 0);
  EXPECT_EQ(a.dispatched_total.load(), 1u);

  acc.first_token(t, 1000 + 40 * kNanosPerMilli, nullptr);
  EXPECT_EQ(a.in_flight.load(), 1);
  EXPECT_EQ(a.outstanding_prefill_tokens.load(), 0);
  EXPECT_EQ(a.active_decodes.load(), 1);
  EXPECT_DOUBLE_EQ(*(*set)[1].state().estimates.ttft.value(), 40.0 * kNanosPerMilli);

  // 11 tokens over 100 ms after the first: 10 ms per later token.
  acc.complete(t, Outcome::kOk, 11, 1000 + 140 * kNanosPerMilli, nullptr);
  EXPECT_FALSE(t.active());
  EXPECT_EQ(a.in_flight.load(), 0);
  EXPECT_EQ(a.active_decodes.load(), 0);
  EXPECT_EQ(a.ok_total.load(), 1u);
  EXPECT_DOUBLE_EQ(*(*set)[1].state().estimates.decode_per_token.value(), 10.0 * kNanosPerMilli);
  EXPECT_EQ((*set)[0].state().accounting.dispatched_total.load(), 0u);
}

TEST(DispatchAccountingTest, FailureBeforeFirstTokenReleasesPrefillAndOnlyRaisesTtft) {
  auto set = make_equal_set(1);
  const DispatchAccounting acc;
  BackendState& s = (*set)[0].state();
  s.estimates.ttft.observe(200.0 * kNanosPerMilli, 0, acc.config().ttft_decay);

  auto fast_fail = acc.dispatch(set, 0, with_prompt(50), 0, nullptr);
  acc.complete(fast_fail, Outcome::kError, 0, 5 * kNanosPerMilli, nullptr);
  EXPECT_EQ(s.accounting.outstanding_prefill_tokens.load(), 0);
  EXPECT_EQ(s.accounting.error_total.load(), 1u);
  EXPECT_DOUBLE_EQ(*s.estimates.ttft.value(), 200.0 * kNanosPerMilli);  // not faster

  auto hung = acc.dispatch(set, 0, with_prompt(50), 0, nullptr);
  acc.complete(hung, Outcome::kCancelled, 0, 3 * kNanosPerSecond, nullptr);
  EXPECT_EQ(s.accounting.cancelled_total.load(), 1u);
  EXPECT_DOUBLE_EQ(*s.estimates.ttft.value(), 3.0 * kNanosPerSecond);  // at least that slow
  EXPECT_EQ(s.accounting.in_flight.load(), 0);
}

TEST(DispatchAccountingTest, RepeatedCallsCountOnce) {
  auto set = make_equal_set(1);
  const DispatchAccounting acc;
  auto& a = (*set)[0].state().accounting;
  auto t = acc.dispatch(set, 0, with_prompt(10), 0, nullptr);
  acc.first_token(t, 5, nullptr);
  acc.first_token(t, 9, nullptr);
  EXPECT_EQ(a.active_decodes.load(), 1);
  EXPECT_EQ(t.first_token_at(), 5);
  acc.complete(t, Outcome::kOk, 1, 10, nullptr);
  acc.complete(t, Outcome::kError, 1, 11, nullptr);
  acc.first_token(t, 12, nullptr);
  EXPECT_EQ(a.in_flight.load(), 0);
  EXPECT_EQ(a.active_decodes.load(), 0);
  EXPECT_EQ(a.ok_total.load(), 1u);
  EXPECT_EQ(a.error_total.load(), 0u);
}

TEST(DispatchAccountingTest, DroppedTicketReleasesItsCounts) {
  auto set = make_equal_set(1);
  const DispatchAccounting acc;
  auto& a = (*set)[0].state().accounting;
  {
    auto t = acc.dispatch(set, 0, with_prompt(10), 0, nullptr);
    auto moved = std::move(t);
    EXPECT_FALSE(t.active());  // NOLINT(bugprone-use-after-move): moved-from state is specified
    EXPECT_EQ(a.in_flight.load(), 1);
  }
  EXPECT_EQ(a.in_flight.load(), 0);
  EXPECT_EQ(a.outstanding_prefill_tokens.load(), 0);
  EXPECT_EQ(a.cancelled_total.load(), 1u);

  {
    auto t = acc.dispatch(set, 0, with_prompt(10), 0, nullptr);
    acc.first_token(t, 1, nullptr);
    DispatchTicket other = acc.dispatch(set, 0, with_prompt(20), 0, nullptr);
    EXPECT_EQ(a.in_flight.load(), 2);
    other = std::move(t);  // releases what `other` held (prefill 20)
    EXPECT_EQ(a.in_flight.load(), 1);
    EXPECT_EQ(a.outstanding_prefill_tokens.load(), 0);
    EXPECT_EQ(a.active_decodes.load(), 1);
  }
  EXPECT_EQ(a.in_flight.load(), 0);
  EXPECT_EQ(a.active_decodes.load(), 0);
}

TEST(DispatchAccountingTest, TellsThePolicyInOrderWithTimings) {
  auto set = make_equal_set(3);
  const DispatchAccounting acc;
  RecordingPolicy policy;
  auto t = acc.dispatch(set, 2, with_prompt(10), 100, &policy);
  acc.first_token(t, 130, &policy);
  acc.complete(t, Outcome::kOk, 4, 190, &policy);
  ASSERT_EQ(policy.events.size(), 3u);
  EXPECT_EQ(policy.events[0].kind, 'd');
  EXPECT_EQ(policy.events[0].backend, 2u);
  EXPECT_EQ(policy.events[1].kind, 'f');
  EXPECT_EQ(policy.events[1].ttft, 30);
  EXPECT_EQ(policy.events[2].kind, 'c');
  EXPECT_EQ(policy.events[2].done.outcome, Outcome::kOk);
  EXPECT_EQ(policy.events[2].done.elapsed, 90);
  EXPECT_EQ(*policy.events[2].done.ttft, 30);
  EXPECT_EQ(policy.events[2].done.output_tokens, 4u);
  for (const auto& e : policy.events) EXPECT_EQ(e.generation, set->generation());
}

TEST(DispatchAccountingTest, TicketOutlivesAReloadThatRemovesItsBackend) {
  auto v1 = make_equal_set(2);
  const DispatchAccounting acc;
  RecordingPolicy policy;
  auto t = acc.dispatch(v1, 1, with_prompt(10), 0, &policy);
  std::weak_ptr<BackendState> state = (*v1)[1].shared_state;
  const auto gen1 = v1->generation();
  v1 = testing::make_set({1});  // the pool now has one (new) backend; the old snapshot is only in the ticket
  EXPECT_FALSE(state.expired());
  EXPECT_EQ(state.lock()->in_flight(), 1);
  acc.complete(t, Outcome::kOk, 1, 10, &policy);
  EXPECT_EQ(policy.events.back().generation, gen1);
  EXPECT_EQ(state.lock()->in_flight(), 0);
  t = DispatchTicket();
  EXPECT_TRUE(state.expired());
}

TEST(DispatchAccountingTest, UsesTheConfiguredDecay) {
  auto set = make_equal_set(1);
  EstimatorConfig c;
  c.ttft_decay = kNanosPerSecond;
  const DispatchAccounting acc(c);
  BackendState& s = (*set)[0].state();
  auto t1 = acc.dispatch(set, 0, with_prompt(1), 0, nullptr);
  acc.first_token(t1, 1000, nullptr);  // sample 1000 at t=1000
  acc.complete(t1, Outcome::kOk, 1, 1000, nullptr);
  auto t2 = acc.dispatch(set, 0, with_prompt(1), kNanosPerSecond + 1000 - 100, nullptr);
  acc.first_token(t2, kNanosPerSecond + 1000, nullptr);  // sample 100, one decay time later
  const double w = std::exp(-1.0);
  EXPECT_NEAR(*s.estimates.ttft.value(), w * 1000 + (1 - w) * 100, 1e-6);
}

}  // namespace
}  // namespace kvroute::routing
