// Every example config in examples/ must load: they are documentation users copy from.
#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "config/load_config.h"
#include "config/model_router.h"

namespace kvroute::config {
namespace {

const std::filesystem::path kExamples = std::filesystem::path(KVROUTE_SOURCE_DIR) / "examples";

LoadOptions fake_env() {
  LoadOptions options;
  options.env = [](const std::string& name) -> std::optional<std::string> { return "value-of-" + name; };
  return options;
}

TEST(ExamplesTest, EveryExampleLoads) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(kExamples)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  ASSERT_FALSE(files.empty());
  for (const auto& file : files) {
    auto loaded = load_config_file(file.string(), fake_env());
    EXPECT_TRUE(loaded.ok()) << (loaded.ok() ? "" : loaded.error().message);
  }
}

TEST(ExamplesTest, DemoConfigIsTheReadmeSetup) {
  auto loaded = load_config_file((kExamples / "demo.yaml").string());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const GatewayConfig& c = *loaded;
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].address, (HostPort{"127.0.0.1", 8080}));
  EXPECT_TRUE(c.server.backend_header);
  ASSERT_EQ(c.pools.size(), 1u);
  ASSERT_EQ(c.pools[0].backends.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(c.pools[0].backends[i].url, "http://127.0.0.1:800" + std::to_string(i + 1));
  }
  const ModelRouter router(c);
  EXPECT_EQ(router.route("meta-llama/Llama-3.1-8B-Instruct"), (ModelRoute{0, std::nullopt}));
}

}  // namespace
}  // namespace kvroute::config
