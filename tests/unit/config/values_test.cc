#include "config/values.h"

#include <gtest/gtest.h>

#include <map>

namespace kvroute::config {
namespace {

TEST(ParseDurationTest, ReadsUnitsAndPlainSeconds) {
  EXPECT_EQ(*parse_duration("250ms"), 250 * kNanosPerMilli);
  EXPECT_EQ(*parse_duration("2s"), 2 * kNanosPerSecond);
  EXPECT_EQ(*parse_duration("1m"), 60 * kNanosPerSecond);
  EXPECT_EQ(*parse_duration("1h"), 3600 * kNanosPerSecond);
  EXPECT_EQ(*parse_duration("1m30s"), 90 * kNanosPerSecond);
  EXPECT_EQ(*parse_duration("1.5s"), 1500 * kNanosPerMilli);
  EXPECT_EQ(*parse_duration("90"), 90 * kNanosPerSecond);
  EXPECT_EQ(*parse_duration("0.25"), 250 * kNanosPerMilli);
  EXPECT_EQ(*parse_duration("0"), 0);
  EXPECT_EQ(*parse_duration("10us"), 10 * kNanosPerMicro);
}

TEST(ParseDurationTest, RefusesMalformedNegativeAndHugeValues) {
  for (const char* bad : {"", "abc", "s", "2 s", "1.2.3s", "5x", "1m30", "--1s"}) {
    EXPECT_FALSE(parse_duration(bad).ok()) << bad;
  }
  EXPECT_EQ(parse_duration("5d").error().message, "unknown duration unit \"d\" (use ms, s, m or h)");
  EXPECT_EQ(parse_duration("-1s").error().message, "must not be negative");
  EXPECT_FALSE(parse_duration("9000h").ok());
}

TEST(ParseDurationTest, FormatRoundTrips) {
  for (Nanos d : {Nanos{0}, 2 * kNanosPerSecond, 250 * kNanosPerMilli, 90 * kNanosPerSecond, 3723 * kNanosPerSecond + 5,
                  kNanosPerMicro * 7}) {
    EXPECT_EQ(*parse_duration(format_duration(d)), d) << format_duration(d);
  }
  EXPECT_EQ(format_duration(90 * kNanosPerSecond), "1m30s");
  EXPECT_EQ(format_duration(250 * kNanosPerMilli), "250ms");
}

TEST(ParseSizeTest, ReadsBinaryUnitsAndBytes) {
  EXPECT_EQ(*parse_size("16MiB"), 16 * kMiB);
  EXPECT_EQ(*parse_size("512KiB"), 512 * kKiB);
  EXPECT_EQ(*parse_size("1GiB"), kGiB);
  EXPECT_EQ(*parse_size("1024"), 1024u);
  EXPECT_EQ(*parse_size("1024B"), 1024u);
  EXPECT_EQ(*parse_size("16 MiB"), 16 * kMiB);
}

TEST(ParseSizeTest, RefusesAmbiguousAndMalformedSizes) {
  EXPECT_EQ(parse_size("16MB").error().message,
            "unit \"MB\" is ambiguous (1000 or 1024?): write KiB, MiB or GiB, or a number of bytes");
  EXPECT_FALSE(parse_size("16k").ok());
  EXPECT_FALSE(parse_size("abc").ok());
  EXPECT_FALSE(parse_size("1.5MiB").ok());
  EXPECT_EQ(parse_size("-1").error().message, "must not be negative");
  EXPECT_EQ(parse_size("99999999999999GiB").error().message, "is too large");
}

TEST(ParseListenAddressTest, AcceptsNamesIpv4AndBracketedIpv6) {
  EXPECT_EQ(*parse_listen_address("127.0.0.1:8080"), (HostPort{"127.0.0.1", 8080}));
  EXPECT_EQ(*parse_listen_address("localhost:0"), (HostPort{"localhost", 0}));
  EXPECT_EQ(*parse_listen_address("[::1]:9000"), (HostPort{"::1", 9000}));
  EXPECT_EQ(parse_listen_address("[::1]:9000")->to_string(), "[::1]:9000");
}

TEST(ParseListenAddressTest, ExplainsWhatIsWrong) {
  EXPECT_EQ(parse_listen_address("127.0.0.1").error().message,
            "port is missing: write HOST:PORT, such as 127.0.0.1:8080");
  EXPECT_EQ(parse_listen_address(":8080").error().message,
            "host is missing (write 0.0.0.0:PORT to listen on every interface)");
  EXPECT_EQ(parse_listen_address("::1:80").error().message, "an IPv6 address needs brackets, as in [::1]:8080");
  EXPECT_EQ(parse_listen_address("h:70000").error().message, "port out of range (0-65535)");
  EXPECT_EQ(parse_listen_address("h:http").error().message, "port must be a number");
  EXPECT_EQ(parse_listen_address("300.1.1.1:80").error().message, "\"300.1.1.1\" is not an IPv4 address");
  EXPECT_EQ(parse_listen_address("bad host:80").error().message, "\"bad host\" is not a valid host name");
}

TEST(ParseBackendUrlTest, CanonicalisesUrl) {
  auto b = parse_backend_url("http://127.0.0.1:8001");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->url, "http://127.0.0.1:8001");
  EXPECT_EQ(b->host, "127.0.0.1");
  EXPECT_EQ(b->port, 8001);
  EXPECT_EQ(b->base_path, "");
  EXPECT_EQ(b->name, "127.0.0.1:8001");

  b = parse_backend_url("HTTP://Gpu-Node.local/vllm/");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->url, "http://gpu-node.local:80/vllm");
  EXPECT_EQ(b->port, 80);
  EXPECT_EQ(b->base_path, "/vllm");
  EXPECT_EQ(b->name, "gpu-node.local:80/vllm");

  b = parse_backend_url("http://[fd00::5]:8000/");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->url, "http://[fd00::5]:8000");
  EXPECT_EQ(b->host, "fd00::5");
}

TEST(ParseBackendUrlTest, RefusesWhatTheGatewayCannotReach) {
  EXPECT_EQ(parse_backend_url("http://x:99999").error().message, "port out of range (1-65535)");
  EXPECT_EQ(parse_backend_url("http://x:0").error().message, "port out of range (1-65535)");
  EXPECT_EQ(parse_backend_url("https://x:443").error().message, "https is not supported yet; use http://");
  EXPECT_EQ(parse_backend_url("grpc://x:1").error().message, "scheme must be http");
  EXPECT_EQ(parse_backend_url("127.0.0.1:8000").error().message, "must be a URL such as http://10.0.0.5:8000");
  EXPECT_EQ(parse_backend_url("http://:8000").error().message, "host is missing");
  EXPECT_EQ(parse_backend_url("http://u:p@x:1").error().message,
            "user info is not supported (send credentials with headers.add)");
  EXPECT_EQ(parse_backend_url("http://x:1/a?b=c").error().message, "must not contain a query or fragment");
}

TEST(ExpandEnvTest, ReplacesReferencesAndKeepsOtherDollars) {
  const std::map<std::string, std::string> vars = {{"TOKEN", "s3cret"}, {"EMPTY", ""}};
  const EnvLookup env = [&](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  EXPECT_EQ(*expand_env("Bearer ${TOKEN}", env), "Bearer s3cret");
  EXPECT_EQ(*expand_env("${TOKEN}${TOKEN}", env), "s3crets3cret");
  EXPECT_EQ(*expand_env("a$b $ c", env), "a$b $ c");
  EXPECT_EQ(*expand_env("$${TOKEN}", env), "${TOKEN}");
  EXPECT_EQ(*expand_env("x${EMPTY}y", env), "xy");
  EXPECT_EQ(expand_env("${MISSING}", env).error().message, "environment variable \"MISSING\" is not set");
  EXPECT_EQ(expand_env("${TOKEN", env).error().message, R"(unterminated "${" (write "$${" for a literal "${"))");
  EXPECT_EQ(expand_env("${1A}", env).error().message, "\"${1A}\" is not a valid environment variable reference");
}

TEST(GlobMatchTest, StarAndQuestionMark) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("meta-llama/*", "meta-llama/Llama-3.1-8B-Instruct"));
  EXPECT_FALSE(glob_match("meta-llama/*", "Qwen/Qwen2.5-7B"));
  EXPECT_TRUE(glob_match("*-8B-*", "meta-llama/Llama-3.1-8B-Instruct"));
  EXPECT_TRUE(glob_match("llama-?b", "llama-7b"));
  EXPECT_FALSE(glob_match("llama-?b", "llama-70b"));
  EXPECT_TRUE(glob_match("a*b*c", "axxbyyc"));
  EXPECT_FALSE(glob_match("a*b*c", "axxbyy"));
  EXPECT_TRUE(glob_match("a**", "a"));
  EXPECT_FALSE(glob_match("abc", "abcd"));
  EXPECT_TRUE(glob_match("*abab", "ababab"));  // needs the star to back off and retry
}

TEST(KeyPathTest, QuotesKeysThatAreNotIdentifiers) {
  EXPECT_EQ(key_path_child("", "pools"), "pools");
  EXPECT_EQ(key_path_child("pools[0]", "name"), "pools[0].name");
  EXPECT_EQ(key_path_child("pools[0].aliases", "llama-3.1"), "pools[0].aliases[\"llama-3.1\"]");
  EXPECT_EQ(key_path_index("pools", 3), "pools[3]");
}

}  // namespace
}  // namespace kvroute::config
