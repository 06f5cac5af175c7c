#include "config/model_router.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "config/load_config.h"

// Counts heap allocations in this test binary, to hold route() to its no-allocation promise.
namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace kvroute::config {
namespace {

GatewayConfig load(std::string_view text) {
  auto loaded = load_config_string(text, "router.yaml");
  EXPECT_TRUE(loaded.ok()) << loaded.error().message;
  return loaded.ok() ? *loaded : GatewayConfig{};
}

constexpr std::string_view kPools = R"(pools:
  - name: llama
    models: [meta-llama/Llama-3.1-8B-Instruct, "meta-llama/*"]
    aliases: {llama: meta-llama/Llama-3.1-8B-Instruct, llama-big: meta-llama/Llama-3.1-70B}
    backends: [http://h:1]
  - name: qwen
    models: ["Qwen/*", "*-8B-*"]
    backends: [http://h:2]
  - name: exact-beats-glob
    models: [meta-llama/Special]
    backends: [http://h:3]
)";

TEST(ModelRouterTest, ExactNameSelectsItsPoolWithoutRewrite) {
  const ModelRouter router(load(kPools));
  EXPECT_EQ(router.route("meta-llama/Llama-3.1-8B-Instruct"), (ModelRoute{0, std::nullopt}));
}

TEST(ModelRouterTest, AliasRewritesTheModel) {
  const ModelRouter router(load(kPools));
  const auto route = router.route("llama-big");
  ASSERT_TRUE(route.has_value());
  EXPECT_EQ(route->pool, 0u);
  EXPECT_EQ(route->rewritten_model, "meta-llama/Llama-3.1-70B");
}

TEST(ModelRouterTest, GlobsMatchInFileOrderAfterExactNames) {
  const ModelRouter router(load(kPools));
  EXPECT_EQ(router.route("Qwen/Qwen2.5-7B-Instruct"), (ModelRoute{1, std::nullopt}));
  // Matches "meta-llama/*" (pool 0) and "*-8B-*" (pool 1): the earlier pattern wins.
  EXPECT_EQ(router.route("meta-llama/Other-8B-x"), (ModelRoute{0, std::nullopt}));
  EXPECT_EQ(router.route("mistral/Mistral-8B-v1"), (ModelRoute{1, std::nullopt}));
  // An exact name in a later pool beats an earlier pool's glob.
  EXPECT_EQ(router.route("meta-llama/Special"), (ModelRoute{2, std::nullopt}));
}

TEST(ModelRouterTest, NoMatchWithoutDefaultPool) {
  const ModelRouter router(load(kPools));
  EXPECT_EQ(router.route("gpt-4o"), std::nullopt);
  EXPECT_EQ(router.route(""), std::nullopt);
  EXPECT_EQ(router.route("meta-llama"), std::nullopt);  // "meta-llama/*" needs the slash
}

TEST(ModelRouterTest, DefaultPoolTakesEverythingElse) {
  const ModelRouter router(
      load(std::string(kPools) + "  - name: rest\n    default: true\n    backends: [http://h:4]\n"));
  EXPECT_EQ(router.route("gpt-4o"), (ModelRoute{3, std::nullopt}));
  EXPECT_EQ(router.route("llama"), (ModelRoute{0, std::string_view("meta-llama/Llama-3.1-8B-Instruct")}));
}

TEST(ModelRouterTest, DefaultPoolsOwnNamesStillMatchFirst) {
  const ModelRouter router(load(R"(pools:
  - name: rest
    default: true
    models: [a]
    aliases: {b: a}
    backends: [http://h:1]
  - name: other
    models: ["*"]
    backends: [http://h:2]
)"));
  EXPECT_EQ(router.route("a"), (ModelRoute{0, std::nullopt}));
  EXPECT_EQ(router.route("b"), (ModelRoute{0, std::string_view("a")}));
  EXPECT_EQ(router.route("zzz"), (ModelRoute{1, std::nullopt}));  // a glob beats the default
}

TEST(ModelRouterTest, RouteDoesNotAllocate) {
  const ModelRouter router(
      load(std::string(kPools) + "  - name: rest\n    default: true\n    backends: [http://h:4]\n"));
  const std::string long_name(300, 'x');  // longer than any small-string buffer
  const long before = g_allocations.load();
  std::size_t sum = 0;
  for (std::string_view model : {std::string_view("meta-llama/Llama-3.1-8B-Instruct"), std::string_view("llama"),
                                 std::string_view("Qwen/Qwen2.5-7B"), std::string_view(long_name)}) {
    sum += router.route(model)->pool;
  }
  EXPECT_EQ(g_allocations.load() - before, 0);
  EXPECT_EQ(sum, 0u + 0u + 1u + 3u);
}

TEST(ModelRouterTest, OutlivesTheConfigItWasBuiltFrom) {
  std::optional<ModelRouter> router;
  {
    const GatewayConfig config = load(kPools);
    router.emplace(config);
  }
  EXPECT_EQ(router->route("llama")->rewritten_model, "meta-llama/Llama-3.1-8B-Instruct");
}

}  // namespace
}  // namespace kvroute::config
