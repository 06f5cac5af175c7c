#include "proxy/models_catalog.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "config/load_config.h"

namespace kvroute::proxy {
namespace {

config::GatewayConfig load(std::string_view yaml) {
  auto c = config::load_config_string(yaml, "test.yaml");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : config::GatewayConfig{};
}

std::vector<std::string> ids(const std::string& body) {
  std::vector<std::string> out;
  const auto j = nlohmann::json::parse(body);
  EXPECT_EQ(j["object"], "list");
  for (const auto& e : j["data"]) {
    EXPECT_EQ(e["object"], "model");
    EXPECT_TRUE(e["created"].is_number());
    out.push_back(e["id"]);
  }
  return out;
}

constexpr std::string_view kYaml = R"(
pools:
  - name: llama
    models: [meta-llama/Llama-3.1-8B-Instruct, "meta-llama/*"]
    aliases: {llama: meta-llama/Llama-3.1-8B-Instruct}
    backends: [http://127.0.0.1:8001]
  - name: rest
    default: true
    backends: [http://127.0.0.1:8002]
)";

TEST(ModelsCatalogTest, ExactNamesAndAliasesFromTheConfig) {
  const auto c = load(kYaml);
  const config::ModelRouter router(c);
  EXPECT_EQ(ids(render_models_body(c, router, {}, 1)),
            (std::vector<std::string>{"meta-llama/Llama-3.1-8B-Instruct", "llama"}));
}

TEST(ModelsCatalogTest, DiscoveredModelsAreListedWhenRoutedToTheirPool) {
  const auto c = load(kYaml);
  const config::ModelRouter router(c);
  EXPECT_EQ(pools_to_discover(c), (std::vector<std::size_t>{0, 1}));
  const std::vector<DiscoveredModel> found = {
      {0, "meta-llama/Llama-3.1-70B"},          // matches pool 0's pattern
      {1, "qwen"},                              // default pool
      {1, "meta-llama/Other"},                  // reported by pool 1 but routed to pool 0: left out
      {0, "meta-llama/Llama-3.1-8B-Instruct"},  // already listed
  };
  EXPECT_EQ(
      ids(render_models_body(c, router, found, 1)),
      (std::vector<std::string>{"meta-llama/Llama-3.1-8B-Instruct", "llama", "meta-llama/Llama-3.1-70B", "qwen"}));
}

TEST(ModelsCatalogTest, ParsesABackendsModelList) {
  EXPECT_EQ(parse_model_ids(R"({"object":"list","data":[{"id":"a","object":"model"},{"id":"b"},{"x":1}]})"),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(parse_model_ids("not json").empty());
  EXPECT_TRUE(parse_model_ids(R"({"data":3})").empty());
}

}  // namespace
}  // namespace kvroute::proxy
