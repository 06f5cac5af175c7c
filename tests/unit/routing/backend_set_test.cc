#include "routing/backend_set.h"

#include <gtest/gtest.h>

#include "routing_test_support.h"

namespace kvroute::routing {
namespace {

using testing::make_set;
using testing::url_of;

TEST(BackendSetTest, BuildsBackendsInOrderWithIndicesAndDefaults) {
  std::vector<BackendSpec> specs(2);
  specs[0].url = "http://a:1";
  specs[0].weight = 3;
  specs[0].labels = {{"zone", "a"}};
  specs[0].capacity.kv_capacity_tokens = 100000;
  specs[1].id = "beta";
  specs[1].url = "http://b:1";
  auto set = BackendSet::build(std::move(specs));
  ASSERT_TRUE(set.ok());
  const BackendSet& s = **set;
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].index, 0u);
  EXPECT_EQ(s[0].id, "http://a:1");  // id defaults to the url
  EXPECT_EQ(s[0].weight, 3u);
  EXPECT_EQ(s[0].labels.at(0).second, "a");
  EXPECT_EQ(*s[0].capacity.kv_capacity_tokens, 100000u);
  EXPECT_EQ(s[1].index, 1u);
  EXPECT_EQ(s[1].id, "beta");
  EXPECT_EQ(s.total_weight(), 4u);
  EXPECT_FALSE(s.weights_equal());
  EXPECT_EQ(s.find_url("http://b:1"), &s[1]);
  EXPECT_EQ(s.find_url("http://c:1"), nullptr);
}

TEST(BackendSetTest, RefusesBadSpecs) {
  std::vector<BackendSpec> empty_url(1);
  EXPECT_FALSE(BackendSet::build(empty_url).ok());

  std::vector<BackendSpec> zero_weight(1);
  zero_weight[0].url = "http://a";
  zero_weight[0].weight = 0;
  auto r = BackendSet::build(zero_weight);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("weight"), std::string::npos);

  std::vector<BackendSpec> dup(2);
  dup[0].url = dup[1].url = "http://a";
  r = BackendSet::build(dup);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("duplicate"), std::string::npos);
}

TEST(BackendSetTest, EmptySetIsValid) {
  auto set = BackendSet::build({});
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE((*set)->empty());
}

TEST(BackendSetTest, ReloadKeepsStateByUrl) {
  auto v1 = make_set({1, 1, 1});
  (*v1)[1].state().accounting.in_flight.store(7);
  // v2 drops backend 0, keeps 1 and 2 (in a different order) and adds a new one.
  std::vector<BackendSpec> specs(3);
  specs[0].url = url_of(2);
  specs[1].url = url_of(1);
  specs[2].url = "http://new:1";
  auto v2 = BackendSet::build(std::move(specs), v1.get());
  ASSERT_TRUE(v2.ok());
  const BackendSet& s2 = **v2;
  EXPECT_EQ(s2[1].shared_state, (*v1)[1].shared_state);
  EXPECT_EQ(s2[1].state().in_flight(), 7);
  EXPECT_EQ(s2[0].shared_state, (*v1)[2].shared_state);
  EXPECT_NE(s2[2].shared_state, (*v1)[0].shared_state);
  EXPECT_EQ(s2[2].state().in_flight(), 0);
}

TEST(BackendSetTest, GenerationsAreUniqueAndIncreasing) {
  auto a = make_set({1});
  auto b = make_set({1}, a.get());
  auto c = make_set({1, 2});
  EXPECT_LT(a->generation(), b->generation());
  EXPECT_LT(b->generation(), c->generation());
  EXPECT_GT(a->generation(), 0u);
}

}  // namespace
}  // namespace kvroute::routing
