#include "config/load_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>

namespace kvroute::config {
namespace {

LoadOptions env_options(std::map<std::string, std::string> vars = {}) {
  LoadOptions options;
  options.env = [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  return options;
}

// The error message of loading text (empty when it loaded).
std::string error_of(std::string_view text, std::map<std::string, std::string> vars = {}) {
  auto result = load_config_string(text, "test.yaml", env_options(std::move(vars)));
  return result.ok() ? std::string() : result.error().message;
}

// A valid minimal pool, to append things to.
constexpr std::string_view kMinimal = R"(pools:
  - name: chat
    models: [m]
    backends: [http://127.0.0.1:8001]
)";

constexpr std::string_view kFull = R"(# every key, none at its default
listeners:
  - address: 127.0.0.1:9000
    workers: 4
  - "[::1]:9001"
limits:
  max_body_bytes: 8MiB
  max_header_bytes: 32KiB
  max_connections: 500
server:
  shutdown_grace: 5s
  backend_header: true
  request_id: false
admin:
  listen: 127.0.0.1:9100
  token: ${ADMIN_TOKEN}
pools:
  - name: llama
    models: [meta-llama/Llama-3.1-8B-Instruct, "meta-llama/*"]
    aliases:
      llama: meta-llama/Llama-3.1-8B-Instruct
    backends:
      - url: http://10.0.0.1:8000/v1base/
        weight: 3
        name: gpu-a
        labels: {zone: a, gpu: H100}
        max_connections: 16
        kv_capacity_tokens: 500000
        max_concurrency: 128
        models: [meta-llama/Llama-3.1-8B-Instruct]
      - http://10.0.0.2:8000
      - url: http://10.0.0.3:8000
        weight: 0
    policy:
      name: cache_aware
      params:
        balance_abs_threshold: 32
        eviction_interval: 60s
        enabled: true
    timeouts:
      connect: 500ms
      first_token: 2m
      stream_idle: 15s
      total: 1h
    headers:
      add:
        Authorization: Bearer ${API_KEY}
        x-team: infra
      strip: [Cookie, X-Debug]
    routing_key:
      from: header
      header: X-Session-Id
    retries:
      attempts: 2
      statuses: [503, 429]
  - name: rest
    default: true
    policy: round_robin
    backends: [http://10.0.1.1:8000]
    routing_key: {from: user}
    retries: {statuses: []}
)";

TEST(LoadConfigTest, ReadsEveryField) {
  auto loaded = load_config_string(kFull, "full.yaml", env_options({{"ADMIN_TOKEN", "adm"}, {"API_KEY", "k1"}}));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const GatewayConfig& c = *loaded;

  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].address, (HostPort{"127.0.0.1", 9000}));
  EXPECT_EQ(c.listeners[0].workers, 4);
  EXPECT_EQ(c.listeners[1].address, (HostPort{"::1", 9001}));
  EXPECT_EQ(c.listeners[1].workers, 0);
  EXPECT_EQ(c.limits.max_body_bytes, 8 * kMiB);
  EXPECT_EQ(c.limits.max_header_bytes, 32 * kKiB);
  EXPECT_EQ(c.limits.max_connections, 500u);
  EXPECT_EQ(c.server.shutdown_grace, 5 * kNanosPerSecond);
  EXPECT_TRUE(c.server.backend_header);
  EXPECT_FALSE(c.server.request_id);
  EXPECT_EQ(c.admin.listen, (HostPort{"127.0.0.1", 9100}));
  EXPECT_EQ(c.admin.token, "adm");

  ASSERT_EQ(c.pools.size(), 2u);
  const PoolConfig& p = c.pools[0];
  EXPECT_EQ(p.name, "llama");
  EXPECT_EQ(p.models, (std::vector<std::string>{"meta-llama/Llama-3.1-8B-Instruct", "meta-llama/*"}));
  EXPECT_EQ(p.aliases, (std::map<std::string, std::string>{{"llama", "meta-llama/Llama-3.1-8B-Instruct"}}));
  EXPECT_FALSE(p.is_default);
  ASSERT_EQ(p.backends.size(), 3u);
  const BackendConfig& a = p.backends[0];
  EXPECT_EQ(a.url, "http://10.0.0.1:8000/v1base");
  EXPECT_EQ(a.host, "10.0.0.1");
  EXPECT_EQ(a.port, 8000);
  EXPECT_EQ(a.base_path, "/v1base");
  EXPECT_EQ(a.name, "gpu-a");
  EXPECT_EQ(a.weight, 3u);
  EXPECT_EQ(a.labels, (std::map<std::string, std::string>{{"gpu", "H100"}, {"zone", "a"}}));
  EXPECT_EQ(a.max_connections, 16u);
  EXPECT_EQ(a.kv_capacity_tokens, 500000u);
  EXPECT_EQ(a.max_concurrency, 128u);
  EXPECT_EQ(a.models, (std::vector<std::string>{"meta-llama/Llama-3.1-8B-Instruct"}));
  EXPECT_EQ(p.backends[1].url, "http://10.0.0.2:8000");
  EXPECT_EQ(p.backends[1].name, "10.0.0.2:8000");
  EXPECT_EQ(p.backends[1].weight, 1u);
  EXPECT_EQ(p.backends[2].weight, 0u);

  EXPECT_EQ(p.policy.name, "cache_aware");
  EXPECT_EQ(p.policy.where.line, 35);
  EXPECT_EQ(p.policy.where.column, 13);
  ASSERT_EQ(p.policy.params.size(), 3u);
  const PolicyParam* threshold = p.policy.param("balance_abs_threshold");
  ASSERT_NE(threshold, nullptr);
  EXPECT_EQ(threshold->value, "32");
  EXPECT_EQ(threshold->where.line, 37);
  EXPECT_EQ(threshold->where.column, 32);
  EXPECT_EQ(threshold->where.key_path, "pools[0].policy.params.balance_abs_threshold");
  EXPECT_EQ(*threshold->as_integer(0), 32);
  EXPECT_EQ(*p.policy.param("eviction_interval")->as_duration(), 60 * kNanosPerSecond);
  EXPECT_TRUE(*p.policy.param("enabled")->as_bool());
  EXPECT_EQ(p.policy.values(),
            (std::map<std::string, std::string, std::less<>>{
                {"balance_abs_threshold", "32"}, {"enabled", "true"}, {"eviction_interval", "60s"}}));

  EXPECT_EQ(p.timeouts.connect, 500 * kNanosPerMilli);
  EXPECT_EQ(p.timeouts.first_token, 120 * kNanosPerSecond);
  EXPECT_EQ(p.timeouts.stream_idle, 15 * kNanosPerSecond);
  EXPECT_EQ(p.timeouts.total, 3600 * kNanosPerSecond);
  EXPECT_EQ(p.headers.add, (std::vector<HeaderValue>{{"Authorization", "Bearer k1"}, {"x-team", "infra"}}));
  EXPECT_EQ(p.headers.strip, (std::vector<std::string>{"cookie", "x-debug"}));
  EXPECT_EQ(p.routing_key.from, RoutingKeySource::kHeader);
  EXPECT_EQ(p.routing_key.header, "x-session-id");
  EXPECT_EQ(p.retries.attempts, 2);
  EXPECT_EQ(p.retries.statuses, (std::vector<int>{503, 429}));

  const PoolConfig& rest = c.pools[1];
  EXPECT_TRUE(rest.is_default);
  EXPECT_TRUE(rest.models.empty());
  EXPECT_EQ(rest.policy.name, "round_robin");
  EXPECT_EQ(rest.policy.where.line, 58);
  EXPECT_EQ(rest.routing_key.from, RoutingKeySource::kUser);
  EXPECT_TRUE(rest.retries.statuses.empty());
  EXPECT_EQ(rest.retries.attempts, 1);
}

TEST(LoadConfigTest, OmittedFieldsTakeDocumentedDefaults) {
  auto loaded = load_config_string(kMinimal, "min.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const GatewayConfig& c = *loaded;
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].address, (HostPort{"0.0.0.0", 8080}));
  EXPECT_EQ(c.listeners[0].workers, 0);
  EXPECT_EQ(c.limits.max_body_bytes, 16 * kMiB);
  EXPECT_EQ(c.limits.max_header_bytes, 64 * kKiB);
  EXPECT_EQ(c.limits.max_connections, 10'000u);
  EXPECT_EQ(c.server.shutdown_grace, 30 * kNanosPerSecond);
  EXPECT_FALSE(c.server.backend_header);
  EXPECT_TRUE(c.server.request_id);
  EXPECT_FALSE(c.admin.listen.has_value());
  EXPECT_FALSE(c.admin.token.has_value());

  const PoolConfig& p = c.pools.at(0);
  EXPECT_FALSE(p.is_default);
  EXPECT_TRUE(p.aliases.empty());
  EXPECT_EQ(p.policy.name, "least_request");
  EXPECT_TRUE(p.policy.params.empty());
  EXPECT_EQ(p.policy.where.key_path, "pools[0].policy.name");
  EXPECT_EQ(p.policy.where.line, 2);  // the pool's own line: nothing more precise was written
  EXPECT_EQ(p.timeouts.connect, 2 * kNanosPerSecond);
  EXPECT_EQ(p.timeouts.first_token, 60 * kNanosPerSecond);
  EXPECT_EQ(p.timeouts.stream_idle, 30 * kNanosPerSecond);
  EXPECT_EQ(p.timeouts.total, 600 * kNanosPerSecond);
  EXPECT_TRUE(p.headers.add.empty());
  EXPECT_TRUE(p.headers.strip.empty());
  EXPECT_EQ(p.routing_key.from, RoutingKeySource::kNone);
  EXPECT_EQ(p.retries.attempts, 1);
  EXPECT_EQ(p.retries.statuses, (std::vector<int>{502, 503, 504}));
  const BackendConfig& b = p.backends.at(0);
  EXPECT_EQ(b.weight, 1u);
  EXPECT_EQ(b.max_connections, 64u);
  EXPECT_FALSE(b.kv_capacity_tokens.has_value());
  EXPECT_FALSE(b.max_concurrency.has_value());
  EXPECT_TRUE(b.models.empty());
  EXPECT_TRUE(b.labels.empty());

  // Defaults in the struct and defaults from an omitted key are the same thing.
  GatewayConfig expected;
  PoolConfig pool;
  pool.name = "chat";
  pool.models = {"m"};
  pool.backends.push_back(*parse_backend_url("http://127.0.0.1:8001"));
  expected.pools.push_back(pool);
  EXPECT_EQ(c, expected);
}

TEST(LoadConfigTest, EmptySectionsMeanDefaults) {
  auto loaded = load_config_string(std::string(kMinimal) + "limits:\nserver: {}\nadmin:\n", "t.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->limits, LimitsConfig{});
  EXPECT_FALSE(loaded->admin.listen.has_value());
}

TEST(LoadConfigTest, EqualityIgnoresLayout) {
  auto a = load_config_string(kMinimal, "a.yaml");
  auto b =
      load_config_string("\n\npools: [{name: chat, models: [m], backends: ['http://127.0.0.1:8001']}]\n", "b.yaml");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

// ---- errors: each names FILE:LINE:COLUMN and the key path ----

TEST(LoadConfigErrorTest, UnknownTopLevelKey) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "listners: []\n"),
            R"(test.yaml:5:1: listners: unknown key (did you mean "listeners"?))");
  EXPECT_EQ(error_of(std::string(kMinimal) + "cache: {}\n"),
            "test.yaml:5:1: cache: unknown key; expected one of: listeners, limits, server, admin, pools");
}

TEST(LoadConfigErrorTest, UnknownNestedKey) {
  EXPECT_EQ(error_of(R"(pools:
  - name: chat
    models: [m]
    backends:
      - url: http://127.0.0.1:8001
        wieght: 2
)"),
            R"(test.yaml:6:9: pools[0].backends[0].wieght: unknown key (did you mean "weight"?))");
}

TEST(LoadConfigErrorTest, WrongType) {
  EXPECT_EQ(error_of("pools:\n  name: chat\n"), "test.yaml:2:3: pools: must be a list, got a mapping");
  EXPECT_EQ(error_of(std::string(kMinimal) + "server:\n  backend_header: [1]\n"),
            "test.yaml:6:19: server.backend_header: must be true or false, got a list");
  EXPECT_EQ(error_of(std::string(kMinimal) + "server:\n  backend_header: yes\n"),
            "test.yaml:6:19: server.backend_header: must be true or false (YAML 1.1 yes/no/on/off are not accepted), "
            "got \"yes\"");
  EXPECT_EQ(error_of(std::string(kMinimal) + "limits: 5\n"), "test.yaml:5:9: limits: must be a mapping, got \"5\"");
  EXPECT_EQ(error_of("- a\n- b\n"), "test.yaml:1:1: must be a mapping, got a list");
}

TEST(LoadConfigErrorTest, MissingValuePointsAtItsKey) {
  EXPECT_EQ(error_of(R"(pools:
  - name:
    models: [m]
    backends: [http://127.0.0.1:8001]
)"),
            "test.yaml:2:5: pools[0].name: must be a non-empty string, got nothing");
}

TEST(LoadConfigErrorTest, MissingRequiredKey) {
  EXPECT_EQ(error_of("pools:\n  - models: [m]\n    backends: [http://h:1]\n"),
            R"(test.yaml:2:5: pools[0]: missing required key "name")");
  EXPECT_EQ(error_of("pools:\n  - name: p\n    models: [m]\n"),
            "test.yaml:2:5: pools[0]: missing required key \"backends\"");
}

TEST(LoadConfigErrorTest, BadDuration) {
  EXPECT_EQ(
      error_of(std::string(kMinimal) + "    timeouts:\n      connect: 2 seconds\n"),
      R"(test.yaml:6:16: pools[0].timeouts.connect: must be a duration such as "250ms", "2s", "1m30s" or a number of seconds, got "2 seconds")");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    timeouts:\n      total: 0s\n"),
            R"(test.yaml:6:14: pools[0].timeouts.total: must be longer than 0s, got "0s")");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    timeouts: {first_token: 10m}\n"), "");  // equal to total is fine
  EXPECT_EQ(
      error_of(std::string(kMinimal) + "    timeouts: {first_token: 11m}\n"),
      "test.yaml:5:29: pools[0].timeouts.first_token: 11m is longer than timeouts.total (10m), which would cut it "
      "short");
}

TEST(LoadConfigErrorTest, BadSize) {
  EXPECT_EQ(
      error_of(std::string(kMinimal) + "limits:\n  max_body_bytes: 16MB\n"),
      R"(test.yaml:6:19: limits.max_body_bytes: unit "MB" is ambiguous (1000 or 1024?): write KiB, MiB or GiB, or a number of bytes, got "16MB")");
  EXPECT_EQ(error_of(std::string(kMinimal) + "limits:\n  max_body_bytes: 2GiB\n"),
            R"(test.yaml:6:19: limits.max_body_bytes: must be from 1 bytes to 1024MiB, got "2GiB")");
}

TEST(LoadConfigErrorTest, BadUrl) {
  EXPECT_EQ(error_of("pools:\n  - name: p\n    models: [m]\n    backends:\n      - url: http://x:99999\n"),
            R"(test.yaml:5:14: pools[0].backends[0].url: port out of range (1-65535), got "http://x:99999")");
  EXPECT_EQ(error_of("pools:\n  - name: p\n    models: [m]\n    backends: [https://x]\n"),
            R"(test.yaml:4:16: pools[0].backends[0].url: https is not supported yet; use http://, got "https://x")");
}

TEST(LoadConfigErrorTest, BadAddress) {
  EXPECT_EQ(
      error_of(std::string(kMinimal) + "listeners: [8080]\n"),
      R"(test.yaml:5:13: listeners[0].address: port is missing: write HOST:PORT, such as 127.0.0.1:8080, got "8080")");
}

TEST(LoadConfigErrorTest, BadWeight) {
  EXPECT_EQ(error_of(R"(pools:
  - name: p
    models: [m]
    backends:
      - url: http://127.0.0.1:8001
      - url: http://127.0.0.1:8002
        weight: abc
)"),
            R"(test.yaml:7:17: pools[0].backends[1].weight: must be an integer from 0 to 10000, got "abc")");
  EXPECT_EQ(error_of("pools:\n  - name: p\n    models: [m]\n    backends: [{url: 'http://h:1', weight: -1}]\n"),
            R"(test.yaml:4:44: pools[0].backends[0].weight: must be an integer from 0 to 10000, got "-1")");
  EXPECT_EQ(
      error_of("pools:\n  - name: p\n    models: [m]\n    backends: [{url: 'http://h:1', weight: 0}]\n"),
      "test.yaml:4:15: pools[0].backends: every backend has weight 0 (drained); at least one needs a weight >= 1");
}

TEST(LoadConfigErrorTest, DuplicatePoolName) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "  - name: chat\n    models: [n]\n    backends: [http://h:2]\n"),
            R"(test.yaml:5:11: pools[1].name: pool "chat" is already defined (pools[0], line 2))");
}

TEST(LoadConfigErrorTest, TwoDefaultPools) {
  EXPECT_EQ(
      error_of(R"(pools:
  - name: a
    default: true
    backends: [http://h:1]
  - name: b
    default: true
    backends: [http://h:2]
)"),
      R"(test.yaml:6:14: pools[1].default: pool "a" is already the default pool; at most one pool may be (pools[0].default, line 3))");
}

TEST(LoadConfigErrorTest, ModelClaimedByTwoPools) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "  - name: other\n    models: [x, m]\n    backends: [http://h:2]\n"),
            R"(test.yaml:6:17: pools[1].models[1]: "m" is also claimed by pool "chat" (pools[0].models[0], line 3))");
  EXPECT_EQ(error_of("pools:\n  - name: p\n    models: [m, 'a*', m]\n    backends: [http://h:1]\n"),
            R"(test.yaml:3:23: pools[0].models[2]: "m" is listed twice (pools[0].models[0], line 3))");
  // The same glob in two pools is ambiguous too.
  EXPECT_EQ(error_of("pools:\n  - {name: a, models: ['q*'], backends: [http://h:1]}\n"
                     "  - {name: b, models: ['q*'], backends: [http://h:2]}\n"),
            R"(test.yaml:3:24: pools[1].models[0]: "q*" is also claimed by pool "a" (pools[0].models[0], line 2))");
}

TEST(LoadConfigErrorTest, AliasRules) {
  // Target not served by the pool.
  EXPECT_EQ(
      error_of(std::string(kMinimal) + "    aliases: {short: other}\n"),
      R"(test.yaml:5:22: pools[0].aliases.short: target "other" is not a model of pool "chat" (add it to models))");
  // Alias shadowing a model name.
  EXPECT_EQ(
      error_of(std::string(kMinimal) + "  - {name: b, models: [n], aliases: {m: n}, backends: [http://h:2]}\n"),
      R"(test.yaml:5:41: pools[1].aliases.m: alias "m" is already a model name or alias of pool "chat" (pools[0].models[0], line 3))");
  // A target matched by the pool's glob is fine.
  EXPECT_EQ(error_of("pools:\n  - {name: a, models: ['q*'], aliases: {fast: q-small}, backends: [http://h:1]}\n"), "");
}

TEST(LoadConfigErrorTest, PoolThatMatchesNothing) {
  EXPECT_EQ(error_of("pools:\n  - name: p\n    backends: [http://h:1]\n"),
            R"(test.yaml:2:5: pools[0]: pool "p" matches no model: give it models, aliases or default: true)");
}

TEST(LoadConfigErrorTest, DuplicateBackendAndDuplicateKey) {
  EXPECT_EQ(
      error_of("pools:\n  - name: p\n    models: [m]\n    backends: [http://h:1, 'http://H:1/']\n"),
      R"(test.yaml:4:28: pools[0].backends[1].url: "http://h:1" is listed twice in this pool (pools[0].backends[0], line 4))");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    name: again\n"),
            "test.yaml:5:5: pools[0].name: duplicate key (first at line 2)");
}

TEST(LoadConfigErrorTest, YamlSyntaxError) {
  EXPECT_EQ(error_of("pools:\n  - name: [a, b\n    models: [m]\n"),
            "test.yaml:3:11: invalid YAML: end of sequence flow not found");
  EXPECT_EQ(error_of("a: 1\n b: 2\n"), "test.yaml:2:3: invalid YAML: illegal map value");
  EXPECT_EQ(error_of(std::string(kMinimal) + "---\npools: []\n"), "test.yaml:6:1: only one YAML document is expected");
}

TEST(LoadConfigErrorTest, EmptyFileNeedsAPool) {
  EXPECT_EQ(error_of(""), "test.yaml: pools: at least one pool is required");
  EXPECT_EQ(error_of("# nothing\n"), "test.yaml: pools: at least one pool is required");
}

TEST(LoadConfigErrorTest, ReportsEveryFieldErrorNotJustTheFirst) {
  const std::string message = error_of(R"(listeners: [nope]
limits: {max_connections: 0}
pools:
  - name: p
    models: [m]
    backends: [http://h:1]
    policy: {name: x, params: {a: [1]}}
)");
  EXPECT_EQ(
      message,
      "test.yaml:1:13: listeners[0].address: port is missing: write HOST:PORT, such as 127.0.0.1:8080, got "
      "\"nope\"\n"
      "test.yaml:2:27: limits.max_connections: must be an integer from 1 to 10000000, got \"0\"\n"
      "test.yaml:7:35: pools[0].policy.params.a: must be a single value (number, string or true/false), got a list");
}

TEST(LoadConfigErrorTest, HeaderRules) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "    headers: {add: {Host: x}}\n"),
            R"(test.yaml:5:21: pools[0].headers.add.Host: "Host" is managed by kvroute and cannot be changed)");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    headers: {add: {'bad header': x}}\n"),
            R"(test.yaml:5:21: pools[0].headers.add["bad header"]: "bad header" is not a valid header name)");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    headers:\n      add:\n        x-a: 1\n        X-A: 2\n"),
            R"(test.yaml:8:9: pools[0].headers.add["X-A"]: header names ignore case: this repeats line 7)");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    routing_key: {from: header}\n"),
            "test.yaml:5:18: pools[0].routing_key: from: header needs the header's name: add header: NAME");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    routing_key: {from: cookie}\n"),
            R"(test.yaml:5:25: pools[0].routing_key.from: must be none, header, user or session, got "cookie")");
}

TEST(LoadConfigTest, ExpandsEnvironmentVariablesInHeaderValues) {
  const std::string text = std::string(kMinimal) +
                           "    headers:\n      add:\n        Authorization: Bearer ${OPENAI_KEY}\n"
                           "        x-literal: $${NOT_EXPANDED} costs $5\n";
  auto loaded = load_config_string(text, "t.yaml", env_options({{"OPENAI_KEY", "sk-123"}}));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->pools[0].headers.add,
            (std::vector<HeaderValue>{{"Authorization", "Bearer sk-123"}, {"x-literal", "${NOT_EXPANDED} costs $5"}}));

  EXPECT_EQ(error_of(text),
            R"(test.yaml:7:24: pools[0].headers.add.Authorization: environment variable "OPENAI_KEY" is not set)");
}

TEST(LoadConfigTest, UsesTheProcessEnvironmentByDefault) {
  ::setenv("KVROUTE_CONFIG_TEST_TOKEN", "from-env", 1);
  auto loaded = load_config_string(
      std::string(kMinimal) + "admin: {listen: '127.0.0.1:0', token: '${KVROUTE_CONFIG_TEST_TOKEN}'}\n", "t.yaml");
  ::unsetenv("KVROUTE_CONFIG_TEST_TOKEN");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->admin.token, "from-env");
}

TEST(PolicyParamTest, ErrorsCarryTheParameterLocation) {
  auto loaded = load_config_string(std::string(kMinimal) +
                                       "    policy:\n      name: power_of_two\n      params:\n"
                                       "        bias: high\n",
                                   "demo.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const PolicyConfig& policy = loaded->pools[0].policy;
  EXPECT_EQ(policy.param("bias")->as_number().error().message,
            R"(demo.yaml:8:15: pools[0].policy.params.bias: must be a number, got "high")");
  EXPECT_EQ(policy.param("bias")->as_integer(0, 4).error().message,
            R"(demo.yaml:8:15: pools[0].policy.params.bias: must be a whole number from 0 to 4, got "high")");
  EXPECT_EQ(policy.error("unknown policy \"power_of_two\"").message,
            R"(demo.yaml:6:13: pools[0].policy.name: unknown policy "power_of_two")");
  // An error from a parser that does not know locations is placed at the parameter it names.
  EXPECT_EQ(policy.locate(Error{22, "policy 'power_of_two': parameter 'bias': not a number"}).message,
            "demo.yaml:8:15: pools[0].policy.params.bias: policy 'power_of_two': parameter 'bias': not a number");
  EXPECT_EQ(policy.locate(Error{22, "policy 'power_of_two': unknown"}).message,
            "demo.yaml:6:13: pools[0].policy.name: policy 'power_of_two': unknown");
  EXPECT_EQ(policy.param("missing"), nullptr);
}

TEST(LoadConfigFileTest, NamesTheFileAsGiven) {
  const std::string path = ::testing::TempDir() + "kvroute_config_test_" + std::to_string(::getpid()) + ".yaml";
  {
    std::ofstream out(path);
    out << kMinimal << "bogus: 1\n";
  }
  auto loaded = load_config_file(path);
  std::remove(path.c_str());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().message,
            path + ":5:1: bogus: unknown key; expected one of: listeners, limits, server, admin, pools");
  EXPECT_EQ(loaded.error().code, EINVAL);
}

TEST(LoadConfigFileTest, MissingFileIsAnIoError) {
  auto loaded = load_config_file("/nonexistent/kvroute.yaml");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, ENOENT);
  EXPECT_EQ(loaded.error().message, "/nonexistent/kvroute.yaml: cannot read: No such file or directory");
}

}  // namespace
}  // namespace kvroute::config
