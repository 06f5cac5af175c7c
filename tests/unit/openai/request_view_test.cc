#include "openai/request_view.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "request_test_util.h"

namespace kvroute::openai {
namespace {

using testing::parse_both;
using testing::Snapshot;
using testing::StringSink;

Snapshot chat(std::string_view body) { return parse_both(Endpoint::kChatCompletions, body); }
Snapshot completion(std::string_view body) { return parse_both(Endpoint::kCompletions, body); }
Snapshot embedding(std::string_view body) { return parse_both(Endpoint::kEmbeddings, body); }

/// Expects a 400 whose message contains every fragment (typically the field's name in quotes).
void expect_400(const Snapshot& s, std::initializer_list<std::string_view> fragments) {
  ASSERT_FALSE(s.ok) << s;
  EXPECT_EQ(s.code, 400);
  for (const auto fragment : fragments) {
    EXPECT_NE(s.message.find(fragment), std::string::npos) << "\"" << fragment << "\" not in: " << s.message;
  }
}

// ---------------------------------------------------------------- endpoints

TEST(EndpointForPathTest, MapsTheThreeExactPaths) {
  EXPECT_EQ(endpoint_for_path("/v1/chat/completions"), Endpoint::kChatCompletions);
  EXPECT_EQ(endpoint_for_path("/v1/completions"), Endpoint::kCompletions);
  EXPECT_EQ(endpoint_for_path("/v1/embeddings"), Endpoint::kEmbeddings);
}

TEST(EndpointForPathTest, IgnoresQueryString) {
  EXPECT_EQ(endpoint_for_path("/v1/chat/completions?api-version=1"), Endpoint::kChatCompletions);
  EXPECT_EQ(endpoint_for_path("/v1/completions?"), Endpoint::kCompletions);
}

TEST(EndpointForPathTest, EverythingElseIsOther) {
  for (const auto path : {"", "/", "/v1/models", "/v1/chat/completions/", "/v1/chat/completion", "v1/completions",
                          "/V1/completions", "/v1/embeddings/x", "/health"}) {
    EXPECT_EQ(endpoint_for_path(path), Endpoint::kOther) << path;
  }
}

// ---------------------------------------------------------------- fields

TEST(RequestParserTest, ReadsEveryField) {
  const auto s = chat(R"({"model":"llama-3-8b","stream":true,
      "stream_options":{"include_usage":true,"continuous_usage_stats":true},
      "max_tokens":128,"user":"alice","ignore_eos":true,"min_tokens":4,"sim_output_tokens":77,
      "messages":[{"role":"user","content":"Hi"}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.model, "llama-3-8b");
  EXPECT_TRUE(s.stream);
  EXPECT_TRUE(s.include_usage);
  EXPECT_TRUE(s.continuous_usage_stats);
  EXPECT_EQ(s.max_tokens, 128);
  EXPECT_EQ(s.user, "alice");
  EXPECT_TRUE(s.ignore_eos);
  EXPECT_EQ(s.min_tokens, 4);
  EXPECT_EQ(s.sim_output_tokens, 77);
  EXPECT_TRUE(s.has_prompt);
  EXPECT_EQ(s.prompt, "user\nHi\n\n");
}

TEST(RequestParserTest, DefaultsWhenOptionalFieldsAreAbsent) {
  const auto s = chat(R"({"model":"m","messages":[{"role":"user","content":"x"}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_FALSE(s.stream);
  EXPECT_FALSE(s.include_usage);
  EXPECT_FALSE(s.continuous_usage_stats);
  EXPECT_EQ(s.max_tokens, std::nullopt);
  EXPECT_EQ(s.user, "");
  EXPECT_FALSE(s.ignore_eos);
  EXPECT_EQ(s.min_tokens, std::nullopt);
  EXPECT_EQ(s.sim_output_tokens, std::nullopt);
}

TEST(RequestParserTest, NullMeansAbsentForOptionalFields) {
  const auto s = chat(R"({"model":"m","stream":null,"stream_options":null,"max_tokens":null,
      "max_completion_tokens":null,"user":null,"ignore_eos":null,"min_tokens":null,"sim_output_tokens":null,
      "messages":[{"role":"user","content":"x"}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_FALSE(s.stream);
  EXPECT_EQ(s.max_tokens, std::nullopt);
  EXPECT_EQ(s.user, "");
  EXPECT_EQ(s.min_tokens, std::nullopt);
  EXPECT_EQ(s.sim_output_tokens, std::nullopt);
  const auto opts = chat(R"({"model":"m","stream_options":{"include_usage":null,"continuous_usage_stats":null},
      "messages":[{"role":"user","content":"x"}]})");
  ASSERT_TRUE(opts.ok) << opts;
  EXPECT_FALSE(opts.include_usage);
  EXPECT_FALSE(opts.continuous_usage_stats);
}

TEST(RequestParserTest, StreamOptionsIgnoresUnknownKeysAndReadsFalse) {
  const auto s = chat(R"({"model":"m","stream":false,"stream_options":{"x":{"y":[1,2]},"include_usage":false,
      "continuous_usage_stats":true},"messages":[{"role":"user","content":"x"}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_FALSE(s.stream);
  EXPECT_FALSE(s.include_usage);
  EXPECT_TRUE(s.continuous_usage_stats);
}

TEST(RequestParserTest, MaxCompletionTokensWinsInEitherOrder) {
  auto s = chat(R"({"model":"m","max_tokens":10,"max_completion_tokens":20,"messages":[{"role":"user","content":""}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.max_tokens, 20);
  s = chat(R"({"model":"m","max_completion_tokens":20,"max_tokens":10,"messages":[{"role":"user","content":""}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.max_tokens, 20);
  s = chat(R"({"model":"m","max_completion_tokens":5,"messages":[{"role":"user","content":""}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.max_tokens, 5);
  s = chat(R"({"model":"m","max_completion_tokens":null,"max_tokens":7,"messages":[{"role":"user","content":""}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.max_tokens, 7);
}

TEST(RequestParserTest, MaxTokensMustBeAnIntegerOfAtLeastOne) {
  for (const std::string field : {"max_tokens", "max_completion_tokens"}) {
    const auto body = [&](std::string_view value) {
      return R"({"model":"m","messages":[{"role":"user","content":"x"}],")" + field + "\":" + std::string(value) + "}";
    };
    const std::string quoted = "'" + field + "'";
    expect_400(chat(body("0")), {quoted, "expected an integer >= 1, got 0."});
    expect_400(chat(body("-3")), {quoted, ">= 1"});
    expect_400(chat(body("\"16\"")), {quoted, "expected an integer", "got a string"});
    expect_400(chat(body("1.5")), {quoted, "expected an integer", "got a number"});
    expect_400(chat(body("1e3")), {quoted, "expected an integer"});
    expect_400(chat(body("1e400")), {quoted, "expected an integer"});
    expect_400(chat(body("-2.0E-3")), {quoted, "expected an integer"});
    expect_400(chat(body("true")), {quoted, "expected an integer", "got a boolean"});
    expect_400(chat(body("[1]")), {quoted, "expected an integer", "got an array"});
    expect_400(chat(body("{}")), {quoted, "expected an integer", "got an object"});
    expect_400(chat(body("123456789012345678901234567890")), {quoted, "out of range"});
    const auto big = chat(body("9223372036854775807"));
    ASSERT_TRUE(big.ok) << big;
    EXPECT_EQ(big.max_tokens, 9223372036854775807LL);
  }
}

TEST(RequestParserTest, MinTokensMayBeZeroButNotNegative) {
  auto s = chat(R"({"model":"m","min_tokens":0,"messages":[{"role":"user","content":"x"}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.min_tokens, 0);
  expect_400(chat(R"({"model":"m","min_tokens":-1,"messages":[{"role":"user","content":"x"}]})"), {"'min_tokens'"});
  expect_400(chat(R"({"model":"m","min_tokens":"2","messages":[{"role":"user","content":"x"}]})"),
             {"'min_tokens'", "expected an integer"});
}

TEST(RequestParserTest, SimOutputTokensMustBePositive) {
  expect_400(chat(R"({"model":"m","sim_output_tokens":0,"messages":[{"role":"user","content":"x"}]})"),
             {"'sim_output_tokens'", ">= 1"});
  expect_400(chat(R"({"model":"m","sim_output_tokens":2.5,"messages":[{"role":"user","content":"x"}]})"),
             {"'sim_output_tokens'", "expected an integer"});
  const auto s = chat(R"({"model":"m","sim_output_tokens":1,"messages":[{"role":"user","content":"x"}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.sim_output_tokens, 1);
}

TEST(RequestParserTest, WrongTypesNameTheField) {
  const std::string msgs = R"("messages":[{"role":"user","content":"x"}])";
  expect_400(chat(R"({"model":12,)" + msgs + "}"),
             {"Invalid type for 'model': expected a string, but got a number instead."});
  expect_400(chat(R"({"model":["m"],)" + msgs + "}"), {"'model'", "got an array"});
  expect_400(chat(R"({"model":"m","stream":"yes",)" + msgs + "}"),
             {"Invalid type for 'stream': expected a boolean, but got a string instead."});
  expect_400(chat(R"({"model":"m","stream":1,)" + msgs + "}"), {"'stream'", "expected a boolean"});
  expect_400(chat(R"({"model":"m","stream_options":true,)" + msgs + "}"),
             {"'stream_options'", "expected an object"});
  expect_400(chat(R"({"model":"m","stream_options":{"include_usage":"true"},)" + msgs + "}"),
             {"'stream_options.include_usage'", "expected a boolean"});
  expect_400(chat(R"({"model":"m","stream_options":{"continuous_usage_stats":1},)" + msgs + "}"),
             {"'stream_options.continuous_usage_stats'", "expected a boolean"});
  expect_400(chat(R"({"model":"m","user":42,)" + msgs + "}"), {"'user'", "expected a string"});
  expect_400(chat(R"({"model":"m","ignore_eos":"no",)" + msgs + "}"), {"'ignore_eos'", "expected a boolean"});
}

TEST(RequestParserTest, ModelIsRequiredOnEveryEndpoint) {
  const std::string exact = "Missing required parameter: 'model'.";
  auto s = chat(R"({"messages":[{"role":"user","content":"x"}]})");
  expect_400(s, {});
  EXPECT_EQ(s.message, exact);
  s = completion(R"({"prompt":"x"})");
  expect_400(s, {});
  EXPECT_EQ(s.message, exact);
  s = embedding(R"({"input":"x"})");
  expect_400(s, {});
  EXPECT_EQ(s.message, exact);
  s = chat(R"({"model":null,"messages":[{"role":"user","content":"x"}]})");
  expect_400(s, {});
  EXPECT_EQ(s.message, exact);
}

TEST(RequestParserTest, OtherEndpointsNeedNoModelAndReadNoPrompt) {
  const auto s = parse_both(Endpoint::kOther, R"({"messages":[{"role":"user","content":"x"}],"prompt":"p","stream":true})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.model, "");
  EXPECT_TRUE(s.stream);
  EXPECT_FALSE(s.has_prompt);
  EXPECT_EQ(s.prompt_bytes, 0u);
  EXPECT_EQ(s.prompt, "");
}

TEST(RequestParserTest, UnknownFieldsAreSkippedEvenWhenTheyNestKnownNames) {
  const auto s = chat(R"({"tools":[{"type":"function","function":{"name":"f","parameters":{"model":"no",
      "messages":[1,2,{"role":"x"}]}}}],"temperature":0.7,"logit_bias":{"50256":-100},"n":1,
      "metadata":{"model":"nope","stream":"bad"},"response_format":null,"stop":["\n"],
      "model":"yes","messages":[{"role":"user","content":"x","name":"bob","extra":{"content":"no"}}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.model, "yes");
  EXPECT_FALSE(s.stream);
  EXPECT_EQ(s.prompt, "user\nx\n\n");
}

TEST(RequestParserTest, EachEndpointReadsOnlyItsOwnPromptField) {
  auto s = chat(R"({"model":"m","prompt":"not me","input":"nor me","messages":[{"role":"user","content":"me"}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "user\nme\n\n");
  s = completion(R"({"model":"m","messages":[{"role":"user","content":"not me"}],"input":"no","prompt":"me"})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "me");
  s = embedding(R"({"model":"m","prompt":"no","messages":"whatever","input":"me"})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "me");
}

TEST(RequestParserTest, EscapedKeysAreRecognised) {
  const auto s = chat(R"({"mod\u0065l":"m","str\u0065am":true,"messages":[{"r\u006fle":"user","content":"x"}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.model, "m");
  EXPECT_TRUE(s.stream);
  EXPECT_EQ(s.prompt, "user\nx\n\n");
}

TEST(RequestParserTest, RepeatedScalarFieldsKeepTheLastValue) {
  const auto s = chat(R"({"model":"a","stream":true,"stream":false,"model":"b","messages":[{"role":"user","content":"x"}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.model, "b");
  EXPECT_FALSE(s.stream);
}

TEST(RequestParserTest, RepeatedPromptFieldIsRefused) {
  expect_400(chat(R"({"model":"m","messages":[{"role":"user","content":"x"}],"messages":[{"role":"user","content":"y"}]})"),
             {"duplicate", "'messages'"});
  expect_400(completion(R"({"model":"m","prompt":"a","prompt":"b"})"), {"duplicate", "'prompt'"});
}

// ---------------------------------------------------------------- chat messages

TEST(ChatPromptTest, TwoStringMessages) {
  const auto s = chat(R"({"model":"m","messages":[{"role":"system","content":"You are a helpful assistant."},
      {"role":"user","content":"Hi"}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "system\nYou are a helpful assistant.\n\nuser\nHi\n\n");
  EXPECT_EQ(s.prompt_bytes, s.prompt.size());
  EXPECT_TRUE(s.has_prompt);
}

TEST(ChatPromptTest, MultiPartContentConcatenatesTextPartsOnly) {
  const auto s = chat(R"({"model":"m","messages":[{"role":"user","content":[
      {"type":"text","text":"Describe "},
      {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},
      {"type":"text","text":"this image."},
      {"type":"input_audio","input_audio":{"data":"xx","format":"wav"}}]},
      {"role":"assistant","content":"A cat."}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "user\nDescribe this image.\n\nassistant\nA cat.\n\n");
}

TEST(ChatPromptTest, NullOrMissingContentIsEmptyText) {
  const auto s = chat(R"({"model":"m","messages":[{"role":"user","content":"Call f"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"1"}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "user\nCall f\n\nassistant\n\n\ntool\n\n\n");
}

TEST(ChatPromptTest, ContentBeforeRoleStillPutsRoleFirst) {
  const auto s = chat(R"({"messages":[{"content":"Hello","role":"user"},
      {"content":[{"text":"b","type":"text"},{"type":"text","text":"c"}],"role":"assistant"}],"model":"m"})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "user\nHello\n\nassistant\nbc\n\n");
  EXPECT_EQ(s.model, "m");
}

TEST(ChatPromptTest, StringsAreUnescaped) {
  const auto s = chat(R"({"model":"m","messages":[{"role":"user","content":"line\nbreak \"q\" \\ \u00e9 \ud83d\ude00 \t"}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "user\nline\nbreak \"q\" \\ \xc3\xa9 \xf0\x9f\x98\x80 \t\n\n");
}

TEST(ChatPromptTest, EmptyArrayOfPartsIsEmptyText) {
  const auto s = chat(R"({"model":"m","messages":[{"role":"user","content":[]}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "user\n\n\n");
}

TEST(ChatPromptTest, MessageErrorsNameTheElement) {
  expect_400(chat(R"({"model":"m"})"), {"Missing required parameter: 'messages'."});
  expect_400(chat(R"({"model":"m","messages":null})"), {"Missing required parameter: 'messages'."});
  expect_400(chat(R"({"model":"m","messages":"hi"})"), {"'messages'", "expected an array", "got a string"});
  expect_400(chat(R"({"model":"m","messages":{}})"), {"'messages'", "expected an array"});
  expect_400(chat(R"({"model":"m","messages":[]})"), {"'messages'", "non-empty"});
  expect_400(chat(R"({"model":"m","messages":[{"role":"user","content":"x"},"hi"]})"),
             {"'messages[1]'", "expected an object", "got a string"});
  expect_400(chat(R"({"model":"m","messages":[{"content":"x"}]})"),
             {"Missing required parameter: 'messages[0].role'."});
  expect_400(chat(R"({"model":"m","messages":[{"role":null,"content":"x"}]})"), {"'messages[0].role'"});
  expect_400(chat(R"({"model":"m","messages":[{"role":1,"content":"x"}]})"),
             {"'messages[0].role'", "expected a string", "got a number"});
  expect_400(chat(R"({"model":"m","messages":[{"role":"user","content":"x"},{"role":"user","content":7}]})"),
             {"'messages[1].content'", "got a number"});
  expect_400(chat(R"({"model":"m","messages":[{"role":"user","content":{"type":"text"}}]})"),
             {"'messages[0].content'", "got an object"});
  expect_400(chat(R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},"b"]}]})"),
             {"'messages[0].content[1]'", "expected an object", "got a string"});
  expect_400(chat(R"({"model":"m","messages":[{"role":"user","content":[{"text":"a"}]}]})"),
             {"Missing required parameter: 'messages[0].content[0].type'."});
  expect_400(chat(R"({"model":"m","messages":[{"role":"user","content":[{"type":3,"text":"a"}]}]})"),
             {"'messages[0].content[0].type'", "expected a string"});
  expect_400(chat(R"({"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]})"),
             {"Missing required parameter: 'messages[0].content[0].text'."});
  expect_400(chat(R"({"model":"m","messages":[{"role":"user","content":[{"text":5,"type":"text"}]}]})"),
             {"'messages[0].content[0].text'", "expected a string", "got a number"});
}

TEST(ChatPromptTest, NonTextPartsMayOmitText) {
  const auto s = chat(R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","text":5}]}]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "user\n\n\n");
}

// ---------------------------------------------------------------- completions and embeddings

TEST(CompletionPromptTest, String) {
  const auto s = completion(R"({"model":"m","prompt":"Once upon a time\n"})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "Once upon a time\n");
  EXPECT_TRUE(s.has_prompt);
}

TEST(CompletionPromptTest, ArrayOfStringsJoinedWithNewline) {
  const auto s = completion(R"({"model":"m","prompt":["a","bc","","d"]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "a\nbc\n\nd");
}

TEST(CompletionPromptTest, TokenIdsAsSpaceSeparatedDecimals) {
  const auto s = completion(R"({"model":"m","prompt":[1, 22,333 ,0,9223372036854775807]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "1 22 333 0 9223372036854775807");
}

TEST(CompletionPromptTest, ArrayOfTokenArraysJoinedWithNewline) {
  const auto s = completion(R"({"model":"m","prompt":[[1,2],[3],[4,5,6]]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "1 2\n3\n4 5 6");
}

TEST(CompletionPromptTest, EmptyStringIsAPrompt) {
  const auto s = completion(R"({"model":"m","prompt":""})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_TRUE(s.has_prompt);
  EXPECT_EQ(s.prompt_bytes, 0u);
}

TEST(CompletionPromptTest, ErrorsNameThePromptElement) {
  expect_400(completion(R"({"model":"m"})"), {"Missing required parameter: 'prompt'."});
  expect_400(completion(R"({"model":"m","prompt":null})"), {"Missing required parameter: 'prompt'."});
  expect_400(completion(R"({"model":"m","prompt":12})"), {"'prompt'", "got a number"});
  expect_400(completion(R"({"model":"m","prompt":{}})"), {"'prompt'", "got an object"});
  expect_400(completion(R"({"model":"m","prompt":[]})"), {"'prompt'", "non-empty"});
  expect_400(completion(R"({"model":"m","prompt":["a",1]})"), {"'prompt[1]'", "expected a string", "got a number"});
  expect_400(completion(R"({"model":"m","prompt":[1,"a"]})"), {"'prompt[1]'", "expected an integer", "got a string"});
  expect_400(completion(R"({"model":"m","prompt":[[1],2]})"), {"'prompt[1]'", "expected an array"});
  expect_400(completion(R"({"model":"m","prompt":[true]})"), {"'prompt[0]'", "got a boolean"});
  expect_400(completion(R"({"model":"m","prompt":[1,2.5]})"), {"'prompt[1]'", "expected an integer"});
  expect_400(completion(R"({"model":"m","prompt":[1,-2]})"), {"'prompt[1]'", "non-negative"});
  expect_400(completion(R"({"model":"m","prompt":[[1],[2,"x"]]})"), {"'prompt[1][1]'", "expected an integer"});
  expect_400(completion(R"({"model":"m","prompt":[[1],[]]})"), {"'prompt[1]'", "non-empty"});
  const auto malformed = completion(R"({"model":"m","prompt":[1,2e]})");
  expect_400(malformed, {});
  EXPECT_EQ(malformed.message.rfind("Invalid JSON", 0), 0u) << malformed.message;
}

TEST(EmbeddingPromptTest, InputFollowsThePromptRules) {
  auto s = embedding(R"({"model":"e5","input":"The food was delicious"})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "The food was delicious");
  s = embedding(R"({"model":"e5","input":["first","second"],"encoding_format":"float"})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "first\nsecond");
  s = embedding(R"({"model":"e5","input":[101,2023,102]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "101 2023 102");
  s = embedding(R"({"model":"e5","input":[[101],[102,103]]})");
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, "101\n102 103");
}

TEST(EmbeddingPromptTest, ErrorsNameInput) {
  expect_400(embedding(R"({"model":"e5"})"), {"Missing required parameter: 'input'."});
  expect_400(embedding(R"({"model":"e5","input":false})"), {"'input'", "got a boolean"});
  expect_400(embedding(R"({"model":"e5","input":["a",["b"]]})"), {"'input[1]'", "expected a string"});
}

// ---------------------------------------------------------------- malformed JSON

TEST(RequestParserTest, MalformedBodiesAreInvalidJson) {
  const std::vector<std::string> bodies = {
      "",
      "   \n",
      "{",
      "}",
      "[1]",
      R"([{"model":"m"}])",
      R"("model")",
      "42",
      "null",
      R"({"model":"m","messages":[{"role":"user","content":"x"}]} x)",
      R"({"model":"m","messages":[{"role":"user","content":"x"}]}})",
      R"({"model":"m","messages":[{"role":"user","content":"x"}]} {})",
      R"({"model":"m","messages":[{"role":"user","content":"x"}],})",
      R"({"model":"m" "messages":[]})",
      R"({"model":"m","messages":[{"role":"user","content":"x"})",
      R"({"model":"m","messages":[{"role":"user","content":"x}]})",
      R"({"model":"m","stream":tru,"messages":[{"role":"user","content":"x"}]})",
      R"({"model":"m","max_tokens":1.2.3,"messages":[{"role":"user","content":"x"}]})",
      R"({"model":"m","max_tokens":-,"messages":[{"role":"user","content":"x"}]})",
      R"({"model":"m","max_tokens":01,"messages":[{"role":"user","content":"x"}]})",
      R"({"model":"m","max_tokens":1.,"messages":[{"role":"user","content":"x"}]})",
      "{\"model\":\"m\xff\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
      "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\x01" "b\"}]}",
      R"({"model":"m","messages":[{"role":"user","content":"bad \q escape"}]})",
      R"({model:"m"})",
  };
  for (const auto& body : bodies) {
    const auto s = chat(body);
    ASSERT_FALSE(s.ok) << body;
    EXPECT_EQ(s.code, 400) << body;
    EXPECT_EQ(s.message.rfind("Invalid JSON", 0), 0u) << body << " -> " << s.message;
  }
}

// ---------------------------------------------------------------- model location

TEST(ModelLocationTest, CoversTheQuotedTokenAmidWhitespaceAndEscapes) {
  const std::string body =
      "{ \"stream\" : true ,\n\t\"model\"  :  \"my\\\"org/m\\u00e9del\\\\x\"  \r\n, \"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
  const auto s = chat(body);
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.model, "my\"org/m\xc3\xa9" "del\\x");
  EXPECT_EQ(body.substr(s.model_value_offset, s.model_value_length), "\"my\\\"org/m\\u00e9del\\\\x\"");
}

TEST(ModelLocationTest, ModelAsLastField) {
  const std::string body = R"({"messages":[{"role":"user","content":"x"}],"model":"tail"})";
  const auto s = chat(body);
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(body.substr(s.model_value_offset, s.model_value_length), "\"tail\"");
  EXPECT_EQ(s.model_value_offset + s.model_value_length + 1, body.size());
}

TEST(ModelLocationTest, RepeatedModelPointsAtTheLastOne) {
  const std::string body = R"({"model":"first","messages":[{"role":"user","content":"x"}],"model":"second"})";
  const auto s = chat(body);
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.model, "second");
  EXPECT_EQ(body.substr(s.model_value_offset, s.model_value_length), "\"second\"");
}

TEST(ModelLocationTest, RewritingTheSpanSwapsTheModel) {
  std::string body = R"({"model" : "alias" , "messages":[{"role":"user","content":"x"}],"max_tokens":3})";
  auto s = chat(body);
  ASSERT_TRUE(s.ok) << s;
  body.replace(s.model_value_offset, s.model_value_length, "\"meta-llama/Llama-3.1-8B-Instruct\"");
  s = chat(body);
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.model, "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ(s.max_tokens, 3);
  EXPECT_EQ(s.prompt, "user\nx\n\n");
}

// ---------------------------------------------------------------- parser reuse and padding

TEST(RequestParserReuseTest, ViewsFromTheLatestParseAreRight) {
  RequestParser parser;
  for (int i = 0; i < 300; ++i) {
    const std::string model = "model-" + std::to_string(i) + (i % 3 == 0 ? "\\n" : "");
    const std::string expected_model = "model-" + std::to_string(i) + (i % 3 == 0 ? "\n" : "");
    const std::string user = "user-" + std::string(static_cast<std::size_t>(i % 50), 'u');
    const std::string text(static_cast<std::size_t>((i * 37) % 5000), static_cast<char>('a' + i % 26));
    const std::string body = R"({"model":")" + model + R"(","user":")" + user +
                             R"(","messages":[{"role":"user","content":")" + text + R"("}],"max_tokens":)" +
                             std::to_string(i + 1) + "}";
    // Odd rounds parse in place; the padded buffer outlives the checks below.
    const std::string padded = body + std::string(required_padding(), 'x');
    StringSink sink;
    const Result<RequestFields> r =
        i % 2 == 0 ? parser.parse(Endpoint::kChatCompletions, body, body.size(), &sink)
                   : parser.parse(Endpoint::kChatCompletions, std::string_view(padded.data(), body.size()),
                                  padded.size(), &sink);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->model, expected_model);
    EXPECT_EQ(r->user, user);
    EXPECT_EQ(r->max_tokens, i + 1);
    EXPECT_EQ(sink.text, "user\n" + text + "\n\n");
    EXPECT_EQ(r->prompt_bytes, sink.text.size());
  }
}

TEST(RequestParserReuseTest, ErrorThenSuccessLeavesNoState) {
  RequestParser parser;
  StringSink sink;
  const std::string bad = R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0})";
  auto r = parser.parse(Endpoint::kChatCompletions, bad, bad.size(), &sink);
  ASSERT_FALSE(r.ok());
  const std::string good = R"({"model":"n","messages":[{"role":"user","content":"y"}]})";
  StringSink sink2;
  r = parser.parse(Endpoint::kChatCompletions, good, good.size(), &sink2);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "n");
  EXPECT_EQ(r->max_tokens, std::nullopt);
  EXPECT_EQ(sink2.text, "user\ny\n\n");
  EXPECT_EQ(r->prompt_bytes, sink2.text.size());
}

TEST(RequestParserTest, NullSinkStillCountsPromptBytes) {
  RequestParser parser;
  const std::string body = R"({"model":"m","messages":[{"role":"system","content":"abc"},{"role":"user","content":"de"}]})";
  const auto r = parser.parse(Endpoint::kChatCompletions, body, body.size(), nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->prompt_bytes, std::string("system\nabc\n\nuser\nde\n\n").size());
  EXPECT_TRUE(r->has_prompt);
}

TEST(RequestParserTest, InPlaceParsePointsIntoTheCallersBody) {
  RequestParser parser;
  std::string buffer = R"({"model":"m","messages":[{"role":"user","content":"x"}]})";
  const std::size_t size = buffer.size();
  buffer.resize(size + required_padding(), ' ');
  const auto r = parser.parse(Endpoint::kChatCompletions, std::string_view(buffer.data(), size), buffer.size(), nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(required_padding(), 64u);
  EXPECT_EQ(std::string_view(buffer).substr(r->model_value_offset, r->model_value_length), "\"m\"");
  EXPECT_EQ(buffer.substr(0, size), R"({"model":"m","messages":[{"role":"user","content":"x"}]})") << "body was modified";
}

TEST(RequestParserTest, LargeBodySurvivesBothPaths) {
  std::string body = R"({"model":"big","messages":[)";
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    const std::string text(1000, static_cast<char>('A' + i % 26));
    if (i > 0) body += ',';
    body += R"({"role":"user","content":")" + text + R"("})";
    expected += "user\n" + text + "\n\n";
  }
  body += "]}";
  const auto s = chat(body);
  ASSERT_TRUE(s.ok) << s;
  EXPECT_EQ(s.prompt, expected);
}

}  // namespace
}  // namespace kvroute::openai
