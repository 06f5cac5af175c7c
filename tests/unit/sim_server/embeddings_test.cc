// /v1/embeddings without sockets: the request parse and its 400s, the vector, the float and
// base64 encodings, and the response body.
#include "sim_server/embeddings.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "common/random.h"
#include "sim/tokenizer.h"

namespace kvroute::sim_server {
namespace {

using json = nlohmann::json;
constexpr std::uint32_t kBlock = 16;

EmbeddingsRequest parse_ok(const std::string& body) {
  EmbeddingsRequest r;
  auto err = parse_embeddings_request(body, kBlock, r);
  EXPECT_FALSE(err.has_value()) << body << " -> " << (err ? err->message : "");
  return r;
}

RequestError parse_error(const std::string& body) {
  EmbeddingsRequest r;
  auto err = parse_embeddings_request(body, kBlock, r);
  EXPECT_TRUE(err.has_value()) << body << " parsed";
  return err.value_or(RequestError{0, "", ""});
}

std::string body_with(json input, json extra = json::object()) {
  json j = {{"model", "m"}, {"input", std::move(input)}};
  j.update(extra);
  return j.dump();
}

double norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

/// Test-local base64 decoder (standard alphabet, padded), independent of the encoder under test.
std::vector<unsigned char> decode_base64(const std::string& s) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::vector<unsigned char> out;
  EXPECT_EQ(s.size() % 4, 0u) << "padded to a multiple of 4";
  for (std::size_t i = 0; i + 4 <= s.size(); i += 4) {
    std::uint32_t w = 0;
    int pad = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      w <<= 6;
      if (s[i + k] == '=') {
        ++pad;
      } else {
        EXPECT_GE(value(s[i + k]), 0) << "bad character " << s[i + k];
        w |= static_cast<std::uint32_t>(value(s[i + k]));
      }
    }
    out.push_back(static_cast<unsigned char>(w >> 16));
    if (pad < 2) out.push_back(static_cast<unsigned char>(w >> 8));
    if (pad < 1) out.push_back(static_cast<unsigned char>(w));
  }
  return out;
}

std::vector<float> floats_of(const std::vector<unsigned char>& bytes) {
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

TEST(EmbeddingsParseTest, AStringIsOneInputCountedByTheSimTokenizer) {
  const std::string text(70, 'x');  // 70 bytes: 18 tokens, one full 64-byte block
  const auto r = parse_ok(body_with(text));
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_EQ(r.inputs[0].tokens, 18u);
  sim::PromptTokenizer tokenizer(kBlock);
  tokenizer.append(text);
  EXPECT_EQ(r.inputs[0].block_hashes, tokenizer.block_hashes()) << "the same blocks as a completions prompt";
  EXPECT_EQ(r.encoding, EmbeddingEncoding::kFloat);
  EXPECT_FALSE(r.has_dimensions);
}

TEST(EmbeddingsParseTest, ArraysOfStringsAndOfTokenIdArraysAreOneInputPerElement) {
  const auto strings = parse_ok(body_with({"a", "bbbbb", "cccccccc"}));
  ASSERT_EQ(strings.inputs.size(), 3u);
  EXPECT_EQ(strings.inputs[0].tokens, 1u);
  EXPECT_EQ(strings.inputs[1].tokens, 2u);
  EXPECT_EQ(strings.inputs[2].tokens, 2u);

  const auto ids = parse_ok(body_with(json::array({1, 2, 3, 4, 5})));
  ASSERT_EQ(ids.inputs.size(), 1u) << "a flat id array is one input";
  EXPECT_EQ(ids.inputs[0].tokens, 5u) << "token ids count as given";

  json many = json::array({json::array({7, 8}), json::array({9}), json::array()});
  for (int i = 0; i < 40; ++i) many[2].push_back(i);
  const auto nested = parse_ok(body_with(many));
  ASSERT_EQ(nested.inputs.size(), 3u);
  EXPECT_EQ(nested.inputs[0].tokens, 2u);
  EXPECT_EQ(nested.inputs[1].tokens, 1u);
  EXPECT_EQ(nested.inputs[2].tokens, 40u);
  EXPECT_EQ(nested.inputs[2].block_hashes.size(), 2u) << "40 ids: two full 16-token blocks";
  EXPECT_TRUE(nested.inputs[0].block_hashes.empty());
}

TEST(EmbeddingsParseTest, SameInputSameSeedAndDifferentInputsDiffer) {
  const auto a = parse_ok(body_with({"alpha", "beta", "alpha"}));
  EXPECT_EQ(a.inputs[0].seed, a.inputs[2].seed);
  EXPECT_NE(a.inputs[0].seed, a.inputs[1].seed);
  const auto ids = parse_ok(body_with(json::array({json::array({1, 2}), json::array({2, 1}), json::array({1, 2})})));
  EXPECT_EQ(ids.inputs[0].seed, ids.inputs[2].seed);
  EXPECT_NE(ids.inputs[0].seed, ids.inputs[1].seed) << "order of ids matters";
  // The same bytes as text and the same numbers as ids are different inputs.
  const auto text = parse_ok(body_with("1 2"));
  EXPECT_NE(text.inputs[0].seed, ids.inputs[0].seed);
}

TEST(EmbeddingsParseTest, OptionalFieldsNullsAndUnknownFields) {
  EXPECT_EQ(parse_ok(body_with("x", {{"encoding_format", "base64"}})).encoding, EmbeddingEncoding::kBase64);
  EXPECT_EQ(parse_ok(body_with("x", {{"encoding_format", "float"}})).encoding, EmbeddingEncoding::kFloat);
  EXPECT_EQ(parse_ok(body_with("x", {{"encoding_format", nullptr}})).encoding, EmbeddingEncoding::kFloat);
  EXPECT_FALSE(parse_ok(body_with("x", {{"dimensions", nullptr}})).has_dimensions);
  EXPECT_TRUE(parse_ok(body_with("x", {{"dimensions", 8}})).has_dimensions);
  parse_ok(body_with("x", {{"user", "someone"}}));
  parse_ok(body_with("x", {{"user", nullptr}}));
  parse_ok(body_with("x", {{"truncate_prompt_tokens", 5}, {"extra", {{"nested", json::array({1, "a"})}}}}));
  // A repeated key: the last value counts, as with Python's json.
  const auto r = parse_ok(R"({"model":"m","input":"first","input":["a","b"]})");
  EXPECT_EQ(r.inputs.size(), 2u);
}

TEST(EmbeddingsParseTest, EveryMalformedRequestIsA400NamingItsField) {
  struct Case {
    std::string body;
    std::string param;
    std::string message;  // a part of the message
  };
  const std::vector<Case> cases = {
      {"{\"model\": ", "", "Invalid JSON in request body"},
      {"[1,2]", "", "expected an object"},
      {R"({"input":"x"})", "model", "Missing required parameter: 'model'."},
      {R"({"model":7,"input":"x"})", "model", "Invalid type for 'model': expected a string, but got a number"},
      {R"({"model":"m"})", "input", "Missing required parameter: 'input'."},
      {R"({"model":"m","input":null})", "input", "Missing required parameter: 'input'."},
      {body_with(""), "input", "Invalid value for 'input': expected a non-empty string."},
      {body_with(json::array()), "input", "Invalid value for 'input': expected a non-empty array."},
      {body_with(5), "input",
       "Invalid type for 'input': expected a string, an array of strings or an array of token ids, but got a number"},
      {body_with(json::object()), "input", "but got an object instead."},
      {body_with(true), "input", "but got a boolean instead."},
      {body_with({"a", ""}), "input", "Invalid value for 'input[1]': expected a non-empty string."},
      {body_with(json::array({"a", 1})), "input", "Invalid type for 'input[1]': expected a string, but got a number"},
      {body_with(json::array({1, "a"})), "input", "Invalid type for 'input[1]': expected an integer, but got a string"},
      {body_with(json::array({1.5})), "input", "Invalid type for 'input[0]': expected an integer, but got a number"},
      {body_with(json::array({3, -1})), "input", "Invalid value for 'input[1]': token ids must be non-negative"},
      {body_with(json::array({json::array()})), "input",
       "Invalid value for 'input[0]': expected a non-empty array of token ids."},
      {body_with(json::array({json::array({1}), json::array({2, "x"})})), "input", "Invalid type for 'input[1][1]'"},
      {body_with(json::array({json::array({1}), "x"})), "input", "Invalid type for 'input[1]': expected an array"},
      {body_with(json::array({true})), "input", "Invalid type for 'input[0]'"},
      {body_with(json::array({nullptr})), "input", "Invalid type for 'input[0]'"},
      {body_with("x", {{"encoding_format", "hex"}}), "encoding_format", "expected 'float' or 'base64', got 'hex'."},
      {body_with("x", {{"encoding_format", 1}}), "encoding_format", "Invalid type for 'encoding_format'"},
      {body_with("x", {{"dimensions", "8"}}), "dimensions", "Invalid type for 'dimensions'"},
      {body_with("x", {{"user", 5}}), "user", "Invalid type for 'user'"},
  };
  for (const Case& c : cases) {
    const RequestError e = parse_error(c.body);
    EXPECT_EQ(e.status, 400) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body;
    EXPECT_NE(e.message.find(c.message), std::string::npos) << c.body << " -> " << e.message;
  }
}

TEST(EmbeddingsCheckTest, DimensionsAreRefusedAsVllmDoesWithoutMatryoshka) {
  auto r = parse_ok(body_with("x", {{"dimensions", 32}}));
  const auto e = check_embeddings_request(r, "served/model", 2048);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, 400);
  EXPECT_EQ(e->message,
            "Model \"served/model\" does not support matryoshka representation, changing output dimensions will "
            "lead to poor results.");
  EXPECT_TRUE(e->param.empty());
}

TEST(EmbeddingsCheckTest, AnInputMayFillTheContextButNotExceedIt) {
  const auto fits = parse_ok(body_with({"a", std::string(2048 * 4, 'z')}));
  EXPECT_FALSE(check_embeddings_request(fits, "m", 2048).has_value()) << "2048 tokens fit max_model_len 2048";
  const auto over = parse_ok(body_with({"a", std::string(2048 * 4 + 1, 'z')}));
  const auto e = check_embeddings_request(over, "m", 2048);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, 400);
  EXPECT_EQ(e->message,
            "This model's maximum context length is 2048 tokens. However, you requested 2049 tokens in the input "
            "for embedding generation. Please reduce the length of the input.");
}

TEST(EmbeddingVectorTest, UnitLengthDeterministicAndDistinct) {
  std::vector<float> a, b, c;
  for (std::uint32_t dim : {1u, 3u, 64u, 4096u, 8192u}) {
    embedding_vector(42, dim, a);
    ASSERT_EQ(a.size(), dim);
    EXPECT_NEAR(norm(a), 1.0, 1e-6) << dim;
    embedding_vector(42, dim, b);
    EXPECT_EQ(a, b) << "a pure function of the seed";
  }
  embedding_vector(42, 4096, a);
  embedding_vector(43, 4096, c);
  EXPECT_NE(a, c);
  double dot = 0;
  for (std::size_t i = 0; i < a.size(); ++i) dot += static_cast<double>(a[i]) * c[i];
  EXPECT_LT(std::fabs(dot), 0.1) << "unrelated inputs give nearly orthogonal vectors";
  int negative = 0;
  for (float x : a) negative += x < 0;
  EXPECT_GT(negative, 1800);
  EXPECT_LT(negative, 2300);
  embedding_vector(42, 0, a);
  EXPECT_TRUE(a.empty());
}

TEST(EmbeddingEncodingTest, Base64IsTheLittleEndianFloat32BytesExactly) {
  // Reference strings from Python: base64.b64encode(struct.pack('<3f', 1.0, -2.0, 0.5)) etc.
  std::string out;
  append_base64_floats(out, std::vector<float>{1.0f, -2.0f, 0.5f});
  EXPECT_EQ(out, "AACAPwAAAMAAAAA/");
  out.clear();
  append_base64_floats(out, std::vector<float>{1.0f});
  EXPECT_EQ(out, "AACAPw==");
  out.clear();
  append_base64_floats(out, std::vector<float>{1.0f, -2.0f});
  EXPECT_EQ(out, "AACAPwAAAMA=");

  // Round trip of real vectors with every tail length (4n bytes mod 3 = 0, 1, 2).
  std::vector<float> v;
  for (std::uint32_t dim : {63u, 64u, 65u, 4096u}) {
    embedding_vector(dim * 7, dim, v);
    out.clear();
    append_base64_floats(out, v);
    const auto bytes = decode_base64(out);
    ASSERT_EQ(bytes.size(), v.size() * 4);
    EXPECT_EQ(std::memcmp(bytes.data(), v.data(), bytes.size()), 0) << dim;
  }
}

TEST(EmbeddingEncodingTest, FloatsReadBackAsTheExactFloat32Values) {
  std::vector<float> v;
  embedding_vector(7, 4096, v);
  v[0] = 1.0f;
  v[1] = -0.5f;
  v[2] = 1e-5f;
  std::string out;
  append_float_array(out, v);
  EXPECT_TRUE(out.starts_with("[1.0,-0.5,")) << out.substr(0, 30) << ": integral values keep '.0' as Python's";
  const json j = json::parse(out);
  ASSERT_EQ(j.size(), v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double d = j[i].get<double>();
    ASSERT_EQ(d, static_cast<double>(v[i])) << i << ": the widened float32, exactly";
  }
  out.clear();
  append_float_array(out, std::vector<float>{0.1f});
  EXPECT_EQ(out, "[0.10000000149011612]") << "Python: repr(float(numpy.float32(0.1)))";
}

TEST(EmbeddingsBodyTest, ShapeUsageAndBothEncodingsCarryTheSameVectors) {
  auto request = parse_ok(body_with({"one", "two two", "one"}));
  std::vector<float> scratch;
  std::string page;
  append_embeddings_body(page, "embd-abc", 1700000000, "my/model", request, 64, scratch);
  const json f = json::parse(page);
  EXPECT_EQ(f["id"], "embd-abc");
  EXPECT_EQ(f["object"], "list");
  EXPECT_EQ(f["created"], 1700000000);
  EXPECT_EQ(f["model"], "my/model");
  ASSERT_EQ(f["data"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(f["data"][i]["index"], i);
    EXPECT_EQ(f["data"][i]["object"], "embedding");
    EXPECT_EQ(f["data"][i]["embedding"].size(), 64u);
  }
  EXPECT_EQ(f["data"][0]["embedding"], f["data"][2]["embedding"]);
  EXPECT_NE(f["data"][0]["embedding"], f["data"][1]["embedding"]);
  // "one" 1 token, "two two" 2 tokens, "one" 1 token.
  EXPECT_EQ(
      f["usage"],
      (json{{"prompt_tokens", 4}, {"total_tokens", 4}, {"completion_tokens", 0}, {"prompt_tokens_details", nullptr}}));

  request.encoding = EmbeddingEncoding::kBase64;
  page.clear();
  append_embeddings_body(page, "embd-abc", 1700000000, "my/model", request, 64, scratch);
  const json b = json::parse(page);
  for (int i = 0; i < 3; ++i) {
    const auto decoded = floats_of(decode_base64(b["data"][i]["embedding"].get<std::string>()));
    ASSERT_EQ(decoded.size(), 64u);
    for (std::size_t k = 0; k < decoded.size(); ++k) {
      ASSERT_EQ(static_cast<double>(decoded[k]), f["data"][i]["embedding"][k].get<double>()) << i << "," << k;
    }
  }
  EXPECT_EQ(b["usage"], f["usage"]);
}

TEST(EmbeddingsBodyTest, IdsAreEmbdAnd32HexDigits) {
  SeededRandom random(5);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string id = make_embeddings_id(random);
    ASSERT_EQ(id.size(), 5u + 32u);
    EXPECT_TRUE(id.starts_with("embd-"));
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 5), std::string::npos) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100u);
}

}  // namespace
}  // namespace kvroute::sim_server
