// SSE chunks and response bodies, byte for byte as vLLM writes them.
#include "sim_server/chunks.h"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "common/random.h"
#include "sim_server/generation.h"

namespace kvroute::sim_server {
namespace {

std::string payload(const std::string& event) {
  EXPECT_TRUE(event.starts_with("data: ")) << event;
  EXPECT_TRUE(event.ends_with("\n\n")) << event;
  return event.substr(6, event.size() - 8);
}

TEST(ChunkFormatterTest, ChatRoleChunkThenTokensThenFinish) {
  ChunkFormatter f;
  f.reset(Api::kChat, "chatcmpl-abc", 1700000000, "org/m");
  std::string out;
  f.append_role_event(out, nullptr);
  EXPECT_EQ(out,
            "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
            "\"model\":\"org/m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
            "\"logprobs\":null,\"finish_reason\":null}]}\n\n");
  out.clear();
  f.append_token_event(out, " word", {}, nullptr);
  EXPECT_EQ(out,
            "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
            "\"model\":\"org/m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" word\"},"
            "\"logprobs\":null,\"finish_reason\":null}]}\n\n");
  out.clear();
  f.append_token_event(out, " end", "length", nullptr);
  const auto j = nlohmann::json::parse(payload(out));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(j["choices"][0]["stop_reason"].is_null());
  EXPECT_EQ(j["choices"][0]["delta"]["content"], " end");
  EXPECT_FALSE(j.contains("usage"));
}

TEST(ChunkFormatterTest, UsageChunkHasEmptyChoicesAndCachedTokens) {
  ChunkFormatter f;
  f.reset(Api::kChat, "chatcmpl-1", 1, "m");
  std::string out;
  f.append_usage_event(out, UsageCounts{100, 7, 64});
  const auto j = nlohmann::json::parse(payload(out));
  EXPECT_TRUE(j["choices"].is_array());
  EXPECT_TRUE(j["choices"].empty());
  EXPECT_EQ(j["usage"]["prompt_tokens"], 100);
  EXPECT_EQ(j["usage"]["completion_tokens"], 7);
  EXPECT_EQ(j["usage"]["total_tokens"], 107);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 64);
}

TEST(ChunkFormatterTest, ContinuousUsageRidesOnEveryChunk) {
  ChunkFormatter f;
  f.reset(Api::kChat, "chatcmpl-1", 1, "m");
  std::string out;
  const UsageCounts u{10, 3, 0};
  f.append_token_event(out, "x", {}, &u);
  const auto j = nlohmann::json::parse(payload(out));
  EXPECT_EQ(j["usage"]["completion_tokens"], 3);
  EXPECT_EQ(j["usage"]["total_tokens"], 13);
}

TEST(ChunkFormatterTest, CompletionChunksCarryText) {
  ChunkFormatter f;
  f.reset(Api::kCompletion, "cmpl-9", 5, "m");
  std::string out;
  f.append_token_event(out, " tok", {}, nullptr);
  auto j = nlohmann::json::parse(payload(out));
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], " tok");
  EXPECT_TRUE(j["choices"][0]["finish_reason"].is_null());
  out.clear();
  f.append_token_event(out, " last", "stop", nullptr);
  j = nlohmann::json::parse(payload(out));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
}

TEST(ChunkFormatterTest, ModelNameIsEscapedAndResetReplacesThePrefix) {
  ChunkFormatter f;
  f.reset(Api::kChat, "a", 1, "quote\"d");
  std::string out;
  f.append_token_event(out, "x", {}, nullptr);
  EXPECT_EQ(nlohmann::json::parse(payload(out))["model"], "quote\"d");
  f.reset(Api::kCompletion, "b", 2, "plain");
  out.clear();
  f.append_token_event(out, "x", {}, nullptr);
  const auto j = nlohmann::json::parse(payload(out));
  EXPECT_EQ(j["id"], "b");
  EXPECT_EQ(j["model"], "plain");
}

TEST(ChunkFormatterTest, AppendingTokensDoesNotAllocateOnceWarm) {
  ChunkFormatter f;
  f.reset(Api::kChat, "chatcmpl-0123456789abcdef0123456789abcdef", 1, "meta-llama/Llama-3.1-8B-Instruct");
  std::string out;
  f.append_token_event(out, " warm", {}, nullptr);
  const auto capacity = out.capacity();
  const char* data = out.data();
  for (int i = 0; i < 100; ++i) {
    out.clear();
    f.append_token_event(out, Filler::token(7, static_cast<std::uint32_t>(i)), {}, nullptr);
  }
  EXPECT_EQ(out.capacity(), capacity);
  EXPECT_EQ(out.data(), data);
}

TEST(ResponseBodyTest, ChatBodyHasMessageFinishAndUsage) {
  std::string out;
  append_response_body(out, Api::kChat, "chatcmpl-x", 3, "m", 11, 4, "stop", UsageCounts{20, 4, 16});
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  std::string text;
  Filler::append_text(text, 11, 4);
  EXPECT_EQ(j["choices"][0]["message"]["content"], text);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 16);
  EXPECT_EQ(j["usage"]["total_tokens"], 24);
}

TEST(ResponseBodyTest, CompletionBodyHasText) {
  std::string out;
  append_response_body(out, Api::kCompletion, "cmpl-x", 3, "m", 11, 2, "length", UsageCounts{5, 2, 0});
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], std::string(Filler::token(11, 0)) + std::string(Filler::token(11, 1)));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
}

TEST(ResponseIdTest, PrefixAndLength) {
  SeededRandom r(1);
  const std::string chat = make_response_id(Api::kChat, r);
  const std::string cmpl = make_response_id(Api::kCompletion, r);
  EXPECT_TRUE(chat.starts_with("chatcmpl-"));
  EXPECT_EQ(chat.size(), 9u + 32u);
  EXPECT_TRUE(cmpl.starts_with("cmpl-"));
  EXPECT_NE(chat.substr(9), cmpl.substr(5));
}

}  // namespace
}  // namespace kvroute::sim_server
