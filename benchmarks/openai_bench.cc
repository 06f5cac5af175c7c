// Request parsing as the gateway does it per request: one pass over the body with the canonical
// prompt streamed into 64-byte chained block hashing. Reported as body bytes per second.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <optional>
#include <string>

#include "common/hash.h"
#include "openai/request_view.h"
#include "openai/sse.h"

namespace {

using kvroute::ChainedBlockHasher;
using namespace kvroute::openai;

constexpr std::uint64_t kSeed = 0x6b76726f75746531ULL;

class HashingSink : public PromptSink {
 public:
  /// A fresh chain per request, as the gateway does (emplace: no copy of the 4 KiB block buffer).
  void reset() {
    hasher_.emplace(64, kSeed);
    blocks_ = 0;
  }
  void append(std::string_view piece) override {
    hasher_->update(piece, [this](std::uint64_t) { ++blocks_; });
  }
  std::uint64_t last_hash() const { return hasher_->last_hash(); }
  std::size_t blocks() const { return blocks_; }

 private:
  std::optional<ChainedBlockHasher> hasher_{std::in_place, 64, kSeed};
  std::size_t blocks_ = 0;
};

/// A realistic chat body of about target_bytes: a system prompt, alternating turns with some
/// escapes, the usual sampling parameters around them.
std::string chat_body(std::size_t target_bytes) {
  std::string body =
      R"({"model":"meta-llama/Llama-3.1-8B-Instruct","temperature":0.7,"top_p":0.95,"stream":true,)"
      R"("stream_options":{"include_usage":true},"max_tokens":256,"user":"session-1234","messages":[)"
      R"({"role":"system","content":"You are a helpful assistant. Answer \"briefly\" and cite sources.\n"})";
  const std::string turn =
      "Explain how paged attention stores the KV cache in fixed-size blocks, and why prefix caching "
      "lets requests that share a system prompt skip part of their prefill.\\n";
  int i = 0;
  while (body.size() + turn.size() + 64 < target_bytes) {
    body += R"(,{"role":")";
    body += (i++ % 2 == 0) ? "user" : "assistant";
    body += R"(","content":")";
    body += turn;
    body += "\"}";
  }
  // A last user turn fills the body to exactly target_bytes.
  const std::string head = R"(,{"role":"user","content":")";
  const std::size_t fill = target_bytes > body.size() + head.size() + 4 ? target_bytes - body.size() - head.size() - 4 : 0;
  body += head;
  body.append(fill, 'q');
  body += "\"}]}";
  return body;
}

void parse_chat(benchmark::State& state, bool in_place, bool hash = true) {
  const std::string body = chat_body(static_cast<std::size_t>(state.range(0)));
  std::string padded = body + std::string(required_padding(), '\0');
  RequestParser parser;
  HashingSink sink;
  for (auto _ : state) {
    sink.reset();
    auto r = in_place ? parser.parse(Endpoint::kChatCompletions, std::string_view(padded.data(), body.size()),
                                     padded.size(), hash ? &sink : nullptr)
                      : parser.parse(Endpoint::kChatCompletions, body, body.size(), hash ? &sink : nullptr);
    if (!r.ok()) {
      state.SkipWithError(r.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(r->prompt_bytes);
    benchmark::DoNotOptimize(sink.last_hash());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(body.size()));
  state.counters["body_bytes"] = static_cast<double>(body.size());
  state.counters["blocks"] = static_cast<double>(sink.blocks());
}

void BM_ParseChatInPlace(benchmark::State& state) { parse_chat(state, true); }
void BM_ParseChatCopied(benchmark::State& state) { parse_chat(state, false); }
BENCHMARK(BM_ParseChatInPlace)->Arg(1 << 10)->Arg(32 << 10);
BENCHMARK(BM_ParseChatCopied)->Arg(1 << 10)->Arg(32 << 10);
/// The parse alone (no sink): what the prompt hashing costs on top is the difference.
void BM_ParseChatNoSink(benchmark::State& state) { parse_chat(state, true, false); }
BENCHMARK(BM_ParseChatNoSink)->Arg(1 << 10)->Arg(32 << 10);

/// Usage extraction on stream chunks: most carry no usage (fast reject), the last one does.
void BM_ParseUsageChunk(benchmark::State& state) {
  const bool with_usage = state.range(0) != 0;
  const std::string chunk =
      with_usage ? R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],)"
                   R"("usage":{"prompt_tokens":1000,"completion_tokens":20,"total_tokens":1020,)"
                   R"("prompt_tokens_details":{"cached_tokens":768}}})"
                 : R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[)"
                   R"({"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}]})";
  for (auto _ : state) benchmark::DoNotOptimize(parse_usage(chunk));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(chunk.size()));
}
BENCHMARK(BM_ParseUsageChunk)->Arg(0)->Arg(1);

}  // namespace
