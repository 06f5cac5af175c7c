#include "routing/policy_registry.h"

#include <gtest/gtest.h>

#include <string>

#include "routing/policies/builtin_policies.h"

namespace kvroute::routing {
namespace {

const PolicyRegistry& registry() {
  static const PolicyRegistry r = PolicyRegistry::with_builtin_policies();
  return r;
}

/// The error message of create(name, params); fails the test if it succeeded.
std::string error_of(std::string_view name, const PolicyParams& params = {}) {
  auto r = registry().create(name, params);
  EXPECT_FALSE(r.ok()) << name << " unexpectedly accepted";
  if (r.ok()) return "";
  EXPECT_EQ(r.error().code, 22);
  return r.error().message;
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(PolicyRegistryTest, HasTheClassicAndTheLlmAwarePolicies) {
  const auto names = registry().names();
  const std::vector<std::string_view> expected = {
      "round_robin",  "weighted_round_robin", "random",       "least_request",
      "power_of_two", "consistent_hash",      "ewma",         "prefix",
      "kv_aware",     "sglang_cache_aware",   "llmd_default", "cost"};
  EXPECT_EQ(names, expected);
  for (auto name : names) {
    auto f = registry().create(name);
    ASSERT_TRUE(f.ok()) << name << ": " << f.error().message;
    EXPECT_EQ((*f)->name(), name);
    auto p = (*f)->create();
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->name(), name);
    EXPECT_FALSE(registry().find(name)->summary.empty());
  }
}

TEST(PolicyRegistryTest, UnknownPolicyListsKnownOnes) {
  const auto msg = error_of("fastest");
  EXPECT_TRUE(contains(msg, "unknown policy 'fastest'")) << msg;
  EXPECT_TRUE(contains(msg, "least_request")) << msg;
}

TEST(PolicyRegistryTest, UnknownParameterNamesPolicyParameterAndKnownOnes) {
  auto msg = error_of("ewma", {{"decay", "10s"}});
  EXPECT_TRUE(contains(msg, "policy 'ewma'")) << msg;
  EXPECT_TRUE(contains(msg, "'decay'")) << msg;
  EXPECT_TRUE(contains(msg, "decay_time")) << msg;
  msg = error_of("round_robin", {{"weighted", "true"}});
  EXPECT_TRUE(contains(msg, "takes none")) << msg;
}

TEST(PolicyRegistryTest, RefusesBadValues) {
  EXPECT_TRUE(contains(error_of("least_request", {{"choice_count", "two"}}), "integer"));
  EXPECT_TRUE(contains(error_of("least_request", {{"choice_count", "0"}}), "[1, 64]"));
  EXPECT_TRUE(contains(error_of("least_request", {{"choice_count", "65"}}), "[1, 64]"));
  EXPECT_TRUE(contains(error_of("least_request", {{"choice_count", "2.5"}}), "integer"));
  EXPECT_TRUE(contains(error_of("least_request", {{"active_request_bias", "-1"}}), "active_request_bias"));
  EXPECT_TRUE(contains(error_of("least_request", {{"selection", "best"}}), "n_choices, full_scan"));
  EXPECT_TRUE(contains(error_of("random", {{"weighted", "maybe"}}), "true or false"));
  EXPECT_TRUE(contains(error_of("ewma", {{"decay_time", "10 parsecs"}}), "unit"));
  EXPECT_TRUE(contains(error_of("ewma", {{"decay_time", "0s"}}), "decay_time"));
  EXPECT_TRUE(contains(error_of("ewma", {{"initial_ttft", "-5ms"}}), "initial_ttft"));
  EXPECT_TRUE(contains(error_of("consistent_hash", {{"balance_factor", "0.5"}}), ">= 1"));
  EXPECT_TRUE(contains(error_of("consistent_hash", {{"vnodes_per_weight", "0"}}), "vnodes_per_weight"));
  EXPECT_TRUE(contains(error_of("weighted_round_robin", {{"error_weight_drop", "1.5"}}), "error_weight_drop"));
}

TEST(PolicyRegistryTest, AcceptsGoodValuesInTheirUsualSpellings) {
  EXPECT_TRUE(registry().create("least_request", {{"choice_count", " 3 "}, {"selection", "full_scan"}}).ok());
  EXPECT_TRUE(registry().create("random", {{"weighted", "Yes"}}).ok());
  EXPECT_TRUE(registry().create("consistent_hash", {{"balance_factor", "0"}}).ok());
  EXPECT_TRUE(registry().create("consistent_hash", {{"balance_factor", "1"}}).ok());
  EXPECT_TRUE(registry().create("ewma", {{"decay_time", "1m"}, {"initial_ttft", "0.2"}}).ok());
}

TEST(PolicyRegistryTest, RefusesDuplicateRegistration) {
  PolicyRegistry r;
  r.add(round_robin_policy());
  EXPECT_THROW(r.add(round_robin_policy()), std::invalid_argument);
  PolicyDescriptor nameless;
  EXPECT_THROW(r.add(nameless), std::invalid_argument);
}

TEST(PolicyRegistryTest, DefaultsParseAndAreDocumented) {
  for (auto name : registry().names()) {
    const auto* d = registry().find(name);
    for (const auto& spec : d->params) {
      EXPECT_FALSE(spec.help.empty()) << name << "." << spec.name;
      EXPECT_TRUE(registry().create(name, {{spec.name, spec.default_value}}).ok()) << name << "." << spec.name;
    }
  }
}

TEST(PolicyParamsTest, ParsesDurations) {
  EXPECT_EQ(*parse_duration("10s"), 10 * kNanosPerSecond);
  EXPECT_EQ(*parse_duration("250ms"), 250 * kNanosPerMilli);
  EXPECT_EQ(*parse_duration("1.5 s"), 1500 * kNanosPerMilli);
  EXPECT_EQ(*parse_duration("20us"), 20 * kNanosPerMicro);
  EXPECT_EQ(*parse_duration("7ns"), 7);
  EXPECT_EQ(*parse_duration("2m"), 120 * kNanosPerSecond);
  EXPECT_EQ(*parse_duration("3"), 3 * kNanosPerSecond);
  EXPECT_FALSE(parse_duration("").ok());
  EXPECT_FALSE(parse_duration("s").ok());
  EXPECT_FALSE(parse_duration("5h").ok());
  EXPECT_FALSE(parse_duration("1e300s").ok());
}

TEST(PolicyParamsTest, ParsesScalars) {
  EXPECT_EQ(*parse_int("-42"), -42);
  EXPECT_FALSE(parse_int("4x").ok());
  EXPECT_DOUBLE_EQ(*parse_double("1.25"), 1.25);
  EXPECT_FALSE(parse_double("nan").ok());
  EXPECT_FALSE(parse_double("1.2.3").ok());
  EXPECT_TRUE(*parse_bool("on"));
  EXPECT_FALSE(*parse_bool("0"));
  EXPECT_FALSE(parse_bool("2").ok());
}

TEST(PolicyParamsTest, FillsDefaultsAndTypes) {
  const std::vector<ParamSpec> specs = {int_param("n", "2", "count", 1, 9), duration_param("t", "1s", "time", 0, 10),
                                        choice_param("mode", "a", "mode", {"a", "b"})};
  auto p = parse_params("demo", specs, {{"n", "5"}});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->get_int("n"), 5);
  EXPECT_EQ(p->get_duration("t"), kNanosPerSecond);
  EXPECT_EQ(p->get_choice("mode"), "a");
  EXPECT_THROW((void)p->get_double("n"), std::logic_error);
  EXPECT_THROW((void)p->get_int("missing"), std::logic_error);
}

}  // namespace
}  // namespace kvroute::routing
