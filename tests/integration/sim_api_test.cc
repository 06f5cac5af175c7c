// kvroute-sim's OpenAI API as a client sees it: SSE framing byte by byte, incremental delivery,
// response shapes, prefix-cache accounting, error bodies and keep-alive, instance identity, and
// /v1/embeddings (float and base64 answers, batches, engine load, aborts, errors, faults).
#include <cmath>
#include <cstring>
#include <set>

#include "sim_test_util.h"

namespace kvroute::test {
namespace {

class SimApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = start_sim();
    inst_ = sim_->instance(0);
    model_ = inst_.model;
  }
  void TearDown() override {
    if (sim_) {
      EXPECT_EQ(sim_->stop(), 0) << "kvroute-sim exits 0 on SIGTERM";
    }
  }
  std::unique_ptr<SimProcess> sim_;
  SimInstanceInfo inst_;
  std::string model_;
};

TEST_F(SimApiTest, ChatStreamFramingIsExactlyVllms) {
  HttpClient c = client_for(inst_);
  auto head = c.start_stream("POST", "/v1/chat/completions",
                             chat_body(model_, "hello framing",
                                       {{"stream", true},
                                        {"max_tokens", 8},
                                        {"ignore_eos", true},
                                        {"stream_options", {{"include_usage", true}}}}));
  ASSERT_TRUE(head.ok()) << head.error().message;
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->header("content-type").starts_with("text/event-stream"));
  EXPECT_TRUE(head->chunked) << "streams use chunked transfer encoding";
  EXPECT_EQ(head->header("x-sim-instance"), inst_.authority());
  auto events = read_all_events(c);
  ASSERT_TRUE(events.ok()) << events.error().message;

  // Byte structure: nothing but "data: <one line>\n\n" events, [DONE] last.
  const std::string& raw = c.stream_body();
  ASSERT_TRUE(raw.ends_with("data: [DONE]\n\n")) << raw;
  std::size_t pos = 0;
  int framed = 0;
  while (pos < raw.size()) {
    ASSERT_EQ(raw.compare(pos, 6, "data: "), 0) << "at byte " << pos << ": " << raw.substr(pos, 40);
    const auto end = raw.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos);
    EXPECT_EQ(raw.substr(pos, end - pos).find('\n'), std::string::npos) << "one line per event";
    pos = end + 2;
    ++framed;
  }

  // role chunk + 8 token chunks + usage chunk + [DONE]
  ASSERT_EQ(events->size(), 11u);
  EXPECT_EQ(framed, 11);
  const json role = parse_json((*events)[0].data);
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["delta"], (json{{"role", "assistant"}, {"content", ""}}));
  EXPECT_TRUE(role["choices"][0]["finish_reason"].is_null());
  const std::string id = role["id"];
  EXPECT_TRUE(id.starts_with("chatcmpl-"));
  for (int i = 1; i <= 8; ++i) {
    const json chunk = parse_json((*events)[i].data);
    EXPECT_EQ(chunk["id"], id);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_EQ(chunk["model"], model_);
    ASSERT_EQ(chunk["choices"].size(), 1u);
    EXPECT_FALSE(chunk["choices"][0]["delta"]["content"].get<std::string>().empty());
    EXPECT_FALSE(chunk["choices"][0]["delta"].contains("role"));
    if (i < 8) {
      EXPECT_TRUE(chunk["choices"][0]["finish_reason"].is_null());
    } else {
      EXPECT_EQ(chunk["choices"][0]["finish_reason"], "length");
    }
    EXPECT_FALSE(chunk.contains("usage"));
  }
  const json usage_chunk = parse_json((*events)[9].data);
  EXPECT_TRUE(usage_chunk["choices"].is_array() && usage_chunk["choices"].empty());
  const json& usage = usage_chunk["usage"];
  // Canonical prompt "user\nhello framing\n\n": 20 bytes, 5 tokens.
  EXPECT_EQ(usage["prompt_tokens"], 5);
  EXPECT_EQ(usage["completion_tokens"], 8);
  EXPECT_EQ(usage["total_tokens"], 13);
  EXPECT_TRUE(usage["prompt_tokens_details"]["cached_tokens"].is_number_integer());
  EXPECT_EQ((*events)[10].data, "[DONE]");

  // The connection is reusable after a stream.
  const auto port = c.local_port();
  auto health = c.get("/health");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(c.local_port(), port);
}

TEST_F(SimApiTest, CompletionStreamCarriesTextAndNoRoleOrUsageChunk) {
  HttpClient c = client_for(inst_);
  auto head = c.start_stream("POST", "/v1/completions",
                             completion_body(model_, "Once upon", {{"stream", true}, {"sim_output_tokens", 5}}));
  ASSERT_TRUE(head.ok());
  ASSERT_EQ(head->status, 200);
  auto events = read_all_events(c);
  ASSERT_TRUE(events.ok()) << events.error().message;
  ASSERT_EQ(events->size(), 6u);  // 5 tokens + [DONE]
  std::string text;
  for (int i = 0; i < 5; ++i) {
    const json chunk = parse_json((*events)[i].data);
    EXPECT_EQ(chunk["object"], "text_completion");
    EXPECT_TRUE(chunk["id"].get<std::string>().starts_with("cmpl-"));
    EXPECT_FALSE(chunk.contains("usage"));
    text += chunk["choices"][0]["text"].get<std::string>();
    EXPECT_EQ(chunk["choices"][0]["finish_reason"].is_null(), i < 4);
  }
  EXPECT_FALSE(text.empty());
  EXPECT_EQ((*events)[5].data, "[DONE]");
}

TEST_F(SimApiTest, ContinuousUsageStatsPutUsageOnEveryChunk) {
  HttpClient c = client_for(inst_);
  auto head = c.start_stream(
      "POST", "/v1/chat/completions",
      chat_body(model_, "count with me",
                {{"stream", true},
                 {"sim_output_tokens", 4},
                 {"stream_options", {{"include_usage", true}, {"continuous_usage_stats", true}}}}));
  ASSERT_TRUE(head.ok());
  auto events = read_all_events(c);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 7u);  // role, 4 tokens, usage, [DONE]
  for (int i = 0; i <= 4; ++i) {
    const json chunk = parse_json((*events)[i].data);
    ASSERT_TRUE(chunk.contains("usage")) << (*events)[i].data;
    EXPECT_EQ(chunk["usage"]["completion_tokens"], i) << "role chunk 0, then one more per token";
  }
  EXPECT_EQ(parse_json((*events)[5].data)["usage"]["completion_tokens"], 4);
}

TEST_F(SimApiTest, NonStreamingChatHasMessageFinishReasonAndUsage) {
  HttpClient c = client_for(inst_);
  const std::string body = chat_body(model_, "What is two plus two?", {{"max_tokens", 12}, {"ignore_eos", true}});
  auto r = c.post("/v1/chat/completions", body);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->header("content-type").find("application/json"), std::string::npos);
  const json j = parse_json(r->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_TRUE(j["id"].get<std::string>().starts_with("chatcmpl-"));
  EXPECT_EQ(j["model"], model_);
  EXPECT_TRUE(j["created"].is_number_integer());
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  const std::string content = j["choices"][0]["message"]["content"];
  EXPECT_EQ(std::count(content.begin(), content.end(), ' '), 11) << "12 word tokens: " << content;
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 12);
  EXPECT_EQ(j["usage"]["total_tokens"], j["usage"]["prompt_tokens"].get<int>() + 12);
  EXPECT_TRUE(j["usage"]["prompt_tokens_details"]["cached_tokens"].is_number_integer());

  // The same request gives the same text (deterministic filler), under a new id.
  auto again = c.post("/v1/chat/completions", body);
  ASSERT_TRUE(again.ok());
  const json k = parse_json(again->body);
  EXPECT_EQ(k["choices"][0]["message"]["content"], content);
  EXPECT_NE(k["id"], j["id"]);
}

TEST_F(SimApiTest, WithoutIgnoreEosAnswersStopAtTheirNaturalLength) {
  HttpClient c = client_for(inst_);
  auto r = c.post("/v1/completions", completion_body(model_, "tell me a story", {{"max_tokens", 1000}}));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = parse_json(r->body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  const int n = j["usage"]["completion_tokens"];
  EXPECT_GE(n, 16);
  EXPECT_LE(n, 255);
  auto same = c.post("/v1/completions", completion_body(model_, "tell me a story", {{"max_tokens", 1000}}));
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(parse_json(same->body)["usage"]["completion_tokens"], n) << "natural length depends on the prompt only";

  auto exact = c.post("/v1/completions", completion_body(model_, "trace replay", {{"sim_output_tokens", 33}}));
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(parse_json(exact->body)["usage"]["completion_tokens"], 33);
}

TEST_F(SimApiTest, SecondRequestSharingALongPrefixReportsWholeCachedBlocks) {
  HttpClient c = client_for(inst_);
  // 1024 bytes = 256 tokens = 16 full blocks of 64 bytes. The hit is capped at prompt - 1 token,
  // in whole blocks: 15 blocks = 240 tokens.
  std::string prompt;
  for (int i = 0; prompt.size() < 1024; ++i) {
    prompt += 'w';
    prompt += static_cast<char>('0' + i % 10);
    prompt += ' ';
  }
  prompt.resize(1024);
  auto ask = [&](const std::string& p) {
    auto r = c.post("/v1/completions", completion_body(model_, p, {{"max_tokens", 2}, {"ignore_eos", true}}));
    EXPECT_TRUE(r.ok() && r->status == 200);
    return r.ok() ? parse_json(r->body)["usage"] : json{};
  };
  const json first = ask(prompt);
  EXPECT_EQ(first["prompt_tokens"], 256);
  EXPECT_EQ(first["prompt_tokens_details"]["cached_tokens"], 0);
  const json second = ask(prompt);
  EXPECT_EQ(second["prompt_tokens_details"]["cached_tokens"], 240);

  // Sharing only the first 640 bytes (10 blocks) hits exactly those.
  std::string other = prompt.substr(0, 640) + std::string(384, 'z');
  const json third = ask(other);
  EXPECT_EQ(third["prompt_tokens"], 256);
  EXPECT_EQ(third["prompt_tokens_details"]["cached_tokens"], 160);

  const std::string page = metrics_page(c);
  EXPECT_EQ(metric(page, "vllm:prefix_cache_hits_total{"), 400.0);
  EXPECT_EQ(metric(page, "vllm:prefix_cache_queries_total{"), 768.0);
}

TEST_F(SimApiTest, ErrorsAreOpenAiBodiesAndKeepTheConnectionUsable) {
  sim_->stop();
  sim_ = start_sim({"--max-body-bytes", "4096"});
  inst_ = sim_->instance(0);
  HttpClient c = client_for(inst_);
  ASSERT_TRUE(c.connect().ok());
  const auto port = c.local_port();
  auto still_usable = [&](const std::string& after) {
    auto ok = c.post("/v1/chat/completions", chat_body(model_, "still there?", {{"sim_output_tokens", 2}}));
    ASSERT_TRUE(ok.ok()) << "after " << after << ": " << ok.error().message;
    EXPECT_EQ(ok->status, 200) << "after " << after;
    EXPECT_EQ(c.local_port(), port) << "after " << after << " the same connection serves the next request";
  };
  struct Case {
    std::string name;
    std::string method;
    std::string target;
    std::string body;
    int status;
  };
  const std::vector<Case> cases = {
      {"malformed JSON", "POST", "/v1/chat/completions", "{\"model\": ", 400},
      {"missing model", "POST", "/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}]})", 400},
      {"unknown model", "POST", "/v1/chat/completions", chat_body("no-such-model", "x"), 404},
      {"negative max_tokens", "POST", "/v1/chat/completions", chat_body(model_, "x", {{"max_tokens", -1}}), 400},
      {"zero max_tokens", "POST", "/v1/completions", completion_body(model_, "x", {{"max_tokens", 0}}), 400},
      {"string max_tokens", "POST", "/v1/completions", completion_body(model_, "x", {{"max_tokens", "ten"}}), 400},
      {"context overflow", "POST", "/v1/completions", completion_body(model_, "x", {{"max_tokens", 5000}}), 400},
      {"oversized body", "POST", "/v1/completions", completion_body(model_, std::string(8000, 'a')), 413},
      {"wrong path", "GET", "/v2/nothing", "", 404},
      {"wrong method", "GET", "/v1/chat/completions", "", 405},
      {"wrong method on models", "POST", "/v1/models", "{}", 405},
  };
  for (const auto& k : cases) {
    auto r = c.request(k.method, k.target, k.body);
    ASSERT_TRUE(r.ok()) << k.name << ": " << r.error().message;
    expect_error_body(*r, k.status);
    if (k.name == "unknown model") {
      EXPECT_EQ(parse_json(r->body)["error"]["message"], "The model `no-such-model` does not exist.");
      EXPECT_EQ(parse_json(r->body)["error"]["type"], "NotFoundError");
    }
    if (k.status == 405) {
      EXPECT_FALSE(r->header("allow").empty()) << k.name;
    }
    EXPECT_TRUE(r->keep_alive) << k.name;
    still_usable(k.name);
  }
}

TEST_F(SimApiTest, ChunkedAndPipelinedRequestsWork) {
  HttpClient c = client_for(inst_);
  const std::string body = completion_body(model_, "chunked body", {{"sim_output_tokens", 3}});
  const std::string half1 = body.substr(0, body.size() / 2);
  const std::string half2 = body.substr(body.size() / 2);
  std::ostringstream raw;
  raw << "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      << "Transfer-Encoding: chunked\r\n\r\n"
      << std::hex << half1.size() << "\r\n" << half1 << "\r\n" << half2.size() << "\r\n" << half2 << "\r\n0\r\n\r\n";
  ASSERT_TRUE(c.send_raw(raw.str()).ok());
  auto r = c.read_response();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(parse_json(r->body)["usage"]["completion_tokens"], 3);

  // Two requests in one write: both answered, in order, on the same connection.
  auto req = [&](int n) {
    const std::string b = completion_body(model_, "pipelined " + std::to_string(n), {{"sim_output_tokens", n}});
    return "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(b.size()) + "\r\n\r\n" + b;
  };
  ASSERT_TRUE(c.send_raw(req(2) + req(4)).ok());
  auto a = c.read_response();
  auto b = c.read_response();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(parse_json(a->body)["usage"]["completion_tokens"], 2);
  EXPECT_EQ(parse_json(b->body)["usage"]["completion_tokens"], 4);
}

TEST_F(SimApiTest, ModelsHealthAndIdentityHeader) {
  HttpClient c = client_for(inst_);
  auto models = c.get("/v1/models");
  ASSERT_TRUE(models.ok());
  ASSERT_EQ(models->status, 200);
  const json j = parse_json(models->body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  const json& card = j["data"][0];
  EXPECT_EQ(card["id"], model_);
  EXPECT_EQ(card["object"], "model");
  EXPECT_EQ(card["owned_by"], "vllm");
  EXPECT_EQ(card["root"], "kvroute/tiny-sim");
  EXPECT_TRUE(card["parent"].is_null());
  EXPECT_EQ(card["max_model_len"], 2048);
  EXPECT_TRUE(card["permission"].is_array());
  EXPECT_TRUE(card["created"].is_number_integer());
  auto health = c.get("/health");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
  EXPECT_TRUE(health->body.empty());
  for (const auto* r : {&*models, &*health}) EXPECT_EQ(r->header("x-sim-instance"), inst_.authority());
}

// ---- POST /v1/embeddings -------------------------------------------------------------------

std::string embeddings_body(const std::string& model, json input, json extra = json::object()) {
  json j = {{"model", model}, {"input", std::move(input)}};
  j.update(extra);
  return j.dump();
}

/// Standard padded base64 to float32 values (little-endian), written here independently of the sim.
std::vector<float> decode_floats(const std::string& s) {
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<unsigned char> bytes;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char ch : s) {
    if (ch == '=') break;
    acc = (acc << 6) | static_cast<std::uint32_t>(kAlphabet.find(ch));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<unsigned char>(acc >> bits));
    }
  }
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

double l2(const json& v) {
  double s = 0;
  for (const auto& x : v) s += x.get<double>() * x.get<double>();
  return std::sqrt(s);
}

TEST_F(SimApiTest, EmbeddingsFloatAnswerHasVllmShapeAndUnitVectorsOfTheHiddenSize) {
  HttpClient c = client_for(inst_);
  const std::string body = embeddings_body(model_, "embed me, please", {{"encoding_format", "float"}});
  auto r = c.post("/v1/embeddings", body);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->header("content-type").find("application/json"), std::string::npos);
  EXPECT_EQ(r->header("x-sim-instance"), inst_.authority());
  const json j = parse_json(r->body);
  EXPECT_TRUE(j["id"].get<std::string>().starts_with("embd-")) << j["id"];
  EXPECT_EQ(j["object"], "list");
  EXPECT_TRUE(j["created"].is_number_integer());
  EXPECT_EQ(j["model"], model_);
  ASSERT_EQ(j["data"].size(), 1u);
  const json& item = j["data"][0];
  EXPECT_EQ(item["index"], 0);
  EXPECT_EQ(item["object"], "embedding");
  ASSERT_EQ(item["embedding"].size(), 64u) << "the tiny preset's hidden size";
  EXPECT_NEAR(l2(item["embedding"]), 1.0, 1e-5);
  // "embed me, please": 16 bytes, 4 tokens; nothing generated.
  EXPECT_EQ(
      j["usage"],
      (json{{"prompt_tokens", 4}, {"total_tokens", 4}, {"completion_tokens", 0}, {"prompt_tokens_details", nullptr}}));

  auto again = c.post("/v1/embeddings", body);
  ASSERT_TRUE(again.ok());
  const json k = parse_json(again->body);
  EXPECT_EQ(k["data"][0]["embedding"], item["embedding"]) << "same input, same vector";
  EXPECT_NE(k["id"], j["id"]);
  auto other = c.post("/v1/embeddings", embeddings_body(model_, "something else", {{"encoding_format", "float"}}));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(parse_json(other->body)["data"][0]["embedding"], item["embedding"]);
}

TEST_F(SimApiTest, EmbeddingsBatchInBase64DecodesToTheFloatAnswer) {
  HttpClient c = client_for(inst_);
  const json inputs = {"first input", "the second input is longer", "third"};
  auto f = c.post("/v1/embeddings", embeddings_body(model_, inputs));
  auto b = c.post("/v1/embeddings", embeddings_body(model_, inputs, {{"encoding_format", "base64"}}));
  ASSERT_TRUE(f.ok() && b.ok());
  ASSERT_EQ(f->status, 200) << f->body;
  ASSERT_EQ(b->status, 200) << b->body;
  const json fj = parse_json(f->body);
  const json bj = parse_json(b->body);
  ASSERT_EQ(fj["data"].size(), 3u);
  ASSERT_EQ(bj["data"].size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(bj["data"][i]["index"], i);
    ASSERT_TRUE(bj["data"][i]["embedding"].is_string());
    const std::vector<float> decoded = decode_floats(bj["data"][i]["embedding"].get<std::string>());
    const json& floats = fj["data"][i]["embedding"];
    ASSERT_EQ(decoded.size(), 64u);
    for (std::size_t k = 0; k < decoded.size(); ++k) {
      ASSERT_EQ(static_cast<double>(decoded[k]), floats[k].get<double>()) << "input " << i << " component " << k;
    }
  }
  // 11 bytes (3 tokens) + 26 bytes (7) + 5 bytes (2).
  EXPECT_EQ(bj["usage"]["prompt_tokens"], 12);
  EXPECT_EQ(bj["usage"]["total_tokens"], 12);
  EXPECT_EQ(fj["usage"], bj["usage"]);

  // Token ids count as given; an array of id arrays is one input each.
  auto ids = c.post("/v1/embeddings", embeddings_body(model_, json::array({json::array({1, 2, 3}), json::array({4})})));
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->status, 200) << ids->body;
  const json ij = parse_json(ids->body);
  EXPECT_EQ(ij["data"].size(), 2u);
  EXPECT_EQ(ij["usage"]["prompt_tokens"], 4);
}

TEST_F(SimApiTest, EmbeddingsArePrefilledAsPromptsAndGenerateNothing) {
  HttpClient c = client_for(inst_);
  // Distinct first blocks, so no input hits another's cached prefix: 3 x 100 tokens.
  json inputs = json::array();
  for (int i = 0; i < 3; ++i) inputs.push_back(std::to_string(i) + std::string(399, 'e'));
  const std::string before = metrics_page(c);
  auto r = c.post("/v1/embeddings", embeddings_body(model_, inputs));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(parse_json(r->body)["usage"]["prompt_tokens"], 300);
  const std::string page = metrics_page(c);
  auto delta = [&](const std::string& series, const std::string& filter = {}) {
    return metric(page, series, filter) - metric(before, series, filter);
  };
  EXPECT_EQ(delta("vllm:prompt_tokens_total{"), 300.0);
  EXPECT_EQ(delta("vllm:prefix_cache_queries_total{"), 300.0);
  EXPECT_EQ(delta("vllm:generation_tokens_total{"), 0.0) << "pooling generates no tokens";
  EXPECT_EQ(delta("vllm:request_success_total{", "finished_reason=\"stop\""), 3.0) << "one engine request per input";
  EXPECT_EQ(delta("vllm:request_prompt_tokens_count{"), 3.0);
  EXPECT_EQ(delta("vllm:request_prompt_tokens_sum{"), 300.0);
  EXPECT_EQ(delta("vllm:request_generation_tokens_sum{"), 0.0);
  EXPECT_EQ(delta("vllm:request_params_max_tokens_count{"), 0.0);
  EXPECT_EQ(delta("vllm:time_to_first_token_seconds_count{"), 3.0);
  EXPECT_EQ(metric(page, "vllm:num_requests_running{"), 0.0);
  auto stats = c.get("/sim/stats");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(parse_json(stats->body)["engine"]["generation_tokens"], 0);
}

TEST(SimEmbeddingsTest, ABigBatchOccupiesTheEngineAndAnInputMayFillTheContext) {
  // Real time on the tiny preset: 24 inputs of max_model_len (2048) tokens are 96 steps of the
  // 512-token budget, and only one or two fit the KV cache at a time: the others wait.
  auto sim = start_sim({"--speedup", "1"});
  const auto& inst = sim->instance(0);
  HttpClient c = client_for(inst);
  HttpClient scrape = client_for(inst);
  json inputs = json::array();
  for (int i = 0; i < 24; ++i) inputs.push_back(std::to_string(1000 + i) + std::string(2048 * 4 - 4, 'q'));
  const std::string body = embeddings_body(inst.model, inputs);
  ASSERT_TRUE(c.send_raw("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "Content-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n" + body)
                  .ok());
  double running = 0;
  double waiting = 0;
  EXPECT_TRUE(eventually([&] {
    const std::string page = metrics_page(scrape);
    running = metric(page, "vllm:num_requests_running{");
    waiting = metric(page, "vllm:num_requests_waiting{");
    return running >= 1 && waiting >= 1;
  })) << "running "
      << running << ", waiting " << waiting;
  auto r = c.read_response();
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->status, 200) << r->body.substr(0, 300);
  const json j = parse_json(r->body);
  EXPECT_EQ(j["data"].size(), 24u);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 24 * 2048);
  const std::string page = metrics_page(scrape);
  EXPECT_EQ(metric(page, "vllm:num_requests_running{"), 0.0);
  EXPECT_EQ(metric(page, "vllm:num_requests_waiting{"), 0.0);
  EXPECT_EQ(metric(page, "vllm:prompt_tokens_total{"), 24.0 * 2048);
  EXPECT_EQ(sim->stop(), 0);
}

TEST(SimEmbeddingsTest, AClientThatLeavesHasItsInputsAborted) {
  auto sim = start_sim({"--speedup", "1"});
  const auto& inst = sim->instance(0);
  HttpClient scrape = client_for(inst);
  json inputs = json::array();
  for (int i = 0; i < 24; ++i) inputs.push_back(std::to_string(2000 + i) + std::string(2048 * 4 - 4, 'r'));
  {
    HttpClient c = client_for(inst);
    const std::string body = embeddings_body(inst.model, inputs);
    ASSERT_TRUE(c.send_raw("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           "Content-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body)
                    .ok());
    ASSERT_TRUE(eventually([&] { return metric(metrics_page(scrape), "vllm:num_requests_running{") >= 1; }));
    c.close();
  }
  EXPECT_TRUE(eventually([&] {
    const std::string page = metrics_page(scrape);
    return metric(page, "vllm:num_requests_running{") == 0 && metric(page, "vllm:num_requests_waiting{") == 0 &&
           metric(page, "vllm:request_success_total{", "finished_reason=\"abort\"") >= 1;
  })) << "the unfinished inputs leave the engine as aborted";
  const std::string page = metrics_page(scrape);
  EXPECT_LT(metric(page, "vllm:prompt_tokens_total{"), 24.0 * 2048) << "not everything was prefilled";
  EXPECT_EQ(metric(page, "vllm:request_success_total{", "finished_reason=\"abort\"") +
                metric(page, "vllm:request_success_total{", "finished_reason=\"stop\""),
            24.0)
      << "each input ends once: finished or aborted";
  EXPECT_EQ(sim->stop(), 0);
}

TEST_F(SimApiTest, EmbeddingsErrorsAreOpenAiBodiesAndKeepTheConnectionUsable) {
  HttpClient c = client_for(inst_);
  ASSERT_TRUE(c.connect().ok());
  const auto port = c.local_port();
  struct Case {
    std::string name;
    std::string method;
    std::string body;
    int status;
    json param;
    std::string message;  // a part of it
  };
  const std::vector<Case> cases = {
      {"unknown model", "POST", embeddings_body("no-such-model", "x"), 404, "model",
       "The model `no-such-model` does not exist."},
      {"missing input", "POST", json{{"model", model_}}.dump(), 400, "input", "Missing required parameter: 'input'."},
      {"number input", "POST", embeddings_body(model_, 42), 400, "input", "Invalid type for 'input'"},
      {"empty string", "POST", embeddings_body(model_, ""), 400, "input", "non-empty string"},
      {"empty array", "POST", embeddings_body(model_, json::array()), 400, "input", "non-empty array"},
      {"mixed array", "POST", embeddings_body(model_, json::array({"a", 1})), 400, "input", "'input[1]'"},
      {"bad encoding", "POST", embeddings_body(model_, "x", {{"encoding_format", "int8"}}), 400, "encoding_format",
       "expected 'float' or 'base64'"},
      {"dimensions", "POST", embeddings_body(model_, "x", {{"dimensions", 16}}), 400, nullptr,
       "Model \"" + model_ + "\" does not support matryoshka representation"},
      {"too long", "POST", embeddings_body(model_, std::string(2048 * 4 + 1, 'x')), 400, nullptr,
       "This model's maximum context length is 2048 tokens. However, you requested 2049 tokens in the input for "
       "embedding generation."},
      {"malformed JSON", "POST", "{\"model\": ", 400, nullptr, "Invalid JSON"},
      {"wrong method", "GET", "", 405, nullptr, "Method Not Allowed"},
  };
  for (const auto& k : cases) {
    auto r = c.request(k.method, "/v1/embeddings", k.body);
    ASSERT_TRUE(r.ok()) << k.name << ": " << r.error().message;
    expect_error_body(*r, k.status);
    const json e = parse_json(r->body)["error"];
    EXPECT_EQ(e["param"], k.param) << k.name;
    EXPECT_NE(e["message"].get<std::string>().find(k.message), std::string::npos) << k.name << ": " << e["message"];
    if (k.status == 405) {
      EXPECT_EQ(r->header("allow"), "POST");
    }
    EXPECT_EQ(r->header("x-sim-instance"), inst_.authority()) << k.name;
    EXPECT_TRUE(r->keep_alive) << k.name;
  }
  auto ok = c.post("/v1/embeddings", embeddings_body(model_, "still there?", {{"unknown_field", true}, {"user", "u"}}));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200) << "unknown fields are ignored: " << ok->body;
  EXPECT_EQ(c.local_port(), port) << "the same connection served every request";
}

TEST_F(SimApiTest, EmbeddingsObeyInjectedFaults) {
  HttpClient c = client_for(inst_);
  const std::string body = embeddings_body(model_, "faulty");
  auto set = c.post("/sim/faults", R"({"error_rate":1,"error_status":429})");
  ASSERT_TRUE(set.ok() && set->status == 200);
  auto r = c.post("/v1/embeddings", body);
  ASSERT_TRUE(r.ok());
  expect_error_body(*r, 429);
  EXPECT_NE(r->body.find("Injected failure"), std::string::npos) << r->body;

  set = c.post("/sim/faults", R"({"error_rate":0,"slow_ms":300})");
  ASSERT_TRUE(set.ok() && set->status == 200);
  const auto t0 = std::chrono::steady_clock::now();
  r = c.post("/v1/embeddings", body);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms) << "slow_ms delays the answer once";

  set = c.post("/sim/faults", R"({"slow_ms":0,"close_after_tokens":1})");
  ASSERT_TRUE(set.ok() && set->status == 200);
  r = c.post("/v1/embeddings", body);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200) << "an embedding has no output tokens to cut";

  set = c.post("/sim/faults", R"({"close_after_tokens":0,"hang":true})");
  ASSERT_TRUE(set.ok() && set->status == 200);
  HttpClient hung = client_for(inst_);
  r = hung.post("/v1/embeddings", body, 300ms);
  EXPECT_FALSE(r.ok()) << "hang: no answer";
  ASSERT_TRUE(c.post("/sim/faults/clear", "").ok());
}

TEST(SimInstancesTest, EachInstanceNamesItselfAndKeepsItsOwnPresetAndModel) {
  auto sim = start_sim({"--instances", "3", "--preset", "tiny,L8B-H100,L8B-H200", "--model", "sim-a,sim-b,sim-c"});
  ASSERT_EQ(sim->instances().size(), 3u);
  const std::vector<std::string> presets = {"tiny", "L8B-H100", "L8B-H200"};
  const std::vector<std::string> models = {"sim-a", "sim-b", "sim-c"};
  const std::vector<int> max_len = {2048, 131072, 131072};
  const std::vector<std::string> blocks = {"num_gpu_blocks=\"256\"", "num_gpu_blocks=\"27500\"",
                                           "num_gpu_blocks=\"55500\""};
  std::set<std::string> authorities;
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& inst = sim->instance(i);
    EXPECT_EQ(inst.index, i);
    EXPECT_EQ(inst.preset, presets[i]);
    EXPECT_EQ(inst.model, models[i]);
    authorities.insert(inst.authority());
    HttpClient c = client_for(inst);
    auto m = c.get("/v1/models");
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->header("x-sim-instance"), inst.authority());
    EXPECT_EQ(parse_json(m->body)["data"][0]["id"], models[i]);
    EXPECT_EQ(parse_json(m->body)["data"][0]["max_model_len"], max_len[i]);
    const std::string page = metrics_page(c);
    EXPECT_NE(page.find(blocks[i]), std::string::npos) << presets[i];
    EXPECT_NE(page.find("model_name=\"" + models[i] + "\""), std::string::npos);
    auto stats = c.get("/sim/stats");
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(parse_json(stats->body)["preset"], presets[i]);
    EXPECT_EQ(parse_json(stats->body)["instance"], inst.authority());
    // A served request and an error both name the instance that answered.
    auto ok = c.post("/v1/chat/completions", chat_body(models[i], "who are you", {{"sim_output_tokens", 2}}));
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok->status, 200);
    EXPECT_EQ(ok->header("x-sim-instance"), inst.authority());
    auto wrong = c.post("/v1/chat/completions", chat_body(models[(i + 1) % 3], "x"));
    ASSERT_TRUE(wrong.ok());
    EXPECT_EQ(wrong->status, 404) << "each instance serves only its own model";
    EXPECT_EQ(wrong->header("x-sim-instance"), inst.authority());
  }
  EXPECT_EQ(authorities.size(), 3u);
  EXPECT_EQ(sim->stop(), 0);
}

TEST(SimStreamingTest, EventsArriveIncrementally) {
  // Real time (no speedup) on the tiny preset: about a millisecond per decode step.
  auto sim = start_sim({"--speedup", "1"});
  const auto& inst = sim->instance(0);
  HttpClient c = client_for(inst);
  auto head = c.start_stream("POST", "/v1/completions",
                             completion_body(inst.model, "slowly", {{"stream", true}, {"sim_output_tokens", 40}}));
  ASSERT_TRUE(head.ok());
  auto events = read_all_events(c);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 41u);
  const auto spread = (*events)[39].at - (*events)[0].at;
  EXPECT_GE(spread, 15ms) << "the first token must reach the client well before the last one";
  // And not in a few bursts: most consecutive events arrive at distinct times.
  int distinct = 0;
  for (std::size_t i = 1; i < 40; ++i) distinct += (*events)[i].at != (*events)[i - 1].at;
  EXPECT_GE(distinct, 30);
  EXPECT_EQ(sim->stop(), 0);
}

TEST(SimLifecycleTest, BadOptionsExitWithCode2AndAMessage) {
  auto p = ChildProcess::spawn(KVROUTE_SIM_BIN, {"--preset", "no-such-preset"});
  auto status = p->wait_exit(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 2);
  EXPECT_NE(p->stderr_tail().find("no-such-preset"), std::string::npos) << p->stderr_tail();
}

TEST(SimLifecycleTest, SigtermWithAnOpenStreamExitsZeroPromptly) {
  auto sim = start_sim({"--speedup", "1"});
  const auto& inst = sim->instance(0);
  HttpClient c = client_for(inst);
  auto head = c.start_stream("POST", "/v1/completions",
                             completion_body(inst.model, "long", {{"stream", true}, {"sim_output_tokens", 2000}}));
  ASSERT_TRUE(head.ok());
  ASSERT_TRUE(c.next_event().ok());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(sim->stop(5s), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  auto rest = read_all_events(c, 2s);
  EXPECT_FALSE(rest.ok()) << "the stream was cut, not completed";
}

}  // namespace
}  // namespace kvroute::test
