// Not a libFuzzer target (GCC has none): seeded random mutations of valid bodies. The parser
// must never crash, must answer either a value or a 400, and must answer the same whether the
// body is parsed in place or copied (parse_both checks that). Run under the asan preset too.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "openai/request_view.h"
#include "openai/sse.h"
#include "request_test_util.h"

namespace kvroute::openai {
namespace {

struct Seed {
  Endpoint endpoint;
  std::string body;
};

const std::vector<Seed> kSeeds = {
    {Endpoint::kChatCompletions,
     R"({"model":"llama","stream":true,"stream_options":{"include_usage":true},"max_tokens":16,)"
     R"("messages":[{"role":"system","content":"You are \"helpful\".\n"},{"role":"user","content":[)"
     R"({"type":"text","text":"Hi \u00e9"},{"type":"image_url","image_url":{"url":"x"}}]},)"
     R"({"role":"assistant","content":null}],"user":"u","min_tokens":1,"sim_output_tokens":3,"ignore_eos":false})"},
    {Endpoint::kCompletions, R"({"model":"m","prompt":["a","b"],"max_completion_tokens":4,"temperature":0.5})"},
    {Endpoint::kCompletions, R"({"model":"m","prompt":[[1,2,3],[4]],"max_tokens":null})"},
    {Endpoint::kEmbeddings, R"({"model":"e","input":[101,102,103],"encoding_format":"float"})"},
    {Endpoint::kOther, R"({"model":"x","anything":[{"deep":{"er":[1,2,{"x":null}]}}]})"},
};

constexpr std::string_view kInteresting = "{}[]\",:\\ \n0123456789-+.eEtrufalsn\x01\x7f\xc3\xa9\xff";

std::string mutate(std::string body, std::mt19937_64& rng) {
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits && !body.empty(); ++e) {
    const std::size_t at = rng() % body.size();
    switch (rng() % 6) {
      case 0: body[at] = kInteresting[rng() % kInteresting.size()]; break;  // replace
      case 1: body.insert(at, 1, kInteresting[rng() % kInteresting.size()]); break;
      case 2: body.erase(at, 1 + rng() % 8); break;
      case 3: body.resize(at); break;  // truncate
      case 4: body.insert(at, body.substr(rng() % body.size(), 1 + rng() % 16)); break;  // duplicate
      default: body[at] = static_cast<char>(rng() % 256); break;
    }
  }
  return body;
}

TEST(RequestFuzzTest, MutatedBodiesGiveAValueOrA400) {
  std::mt19937_64 rng(20261121);
  int ok = 0;
  for (int i = 0; i < 10000; ++i) {
    const Seed& seed = kSeeds[static_cast<std::size_t>(i) % kSeeds.size()];
    const std::string body = mutate(seed.body, rng);
    const auto s = testing::parse_both(seed.endpoint, body);
    if (s.ok) {
      ++ok;
      EXPECT_EQ(s.prompt_bytes, s.prompt.size());
      if (s.model_value_length > 0) {
        ASSERT_LE(s.model_value_offset + s.model_value_length, body.size());
        EXPECT_EQ(body[s.model_value_offset], '"');
        EXPECT_EQ(body[s.model_value_offset + s.model_value_length - 1], '"');
      }
    } else {
      ASSERT_EQ(s.code, 400) << body;
      ASSERT_FALSE(s.message.empty());
    }
  }
  // The mutations are small: a good share still parses, so the value paths were exercised too.
  EXPECT_GT(ok, 500);
}

TEST(RequestFuzzTest, MutatedSseAndUsageNeverCrash) {
  std::mt19937_64 rng(7);
  const std::string seed =
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4,"
      "\"prompt_tokens_details\":{\"cached_tokens\":2}}}\r\n\r\n: c\n\ndata: [DONE]\n\n";
  for (int i = 0; i < 5000; ++i) {
    const std::string stream = mutate(seed, rng);
    SseParser parser;
    std::size_t at = 0;
    while (at < stream.size()) {
      const std::size_t n = std::min<std::size_t>(stream.size() - at, 1 + rng() % 9);
      parser.feed(std::string_view(stream).substr(at, n));
      at += n;
      while (auto event = parser.next()) (void)parse_usage(*event);
    }
    EXPECT_LE(parser.pending_bytes(), stream.size());
  }
}

}  // namespace
}  // namespace kvroute::openai
