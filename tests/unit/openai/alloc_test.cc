// The request path must not allocate per parse once warm. This binary replaces the global
// operator new to count allocations made while a counting window is open on this thread.

#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>

#include "common/hash.h"
#include "openai/request_view.h"
#include "openai/sse.h"

namespace {
thread_local bool g_counting = false;
thread_local long g_allocations = 0;
}  // namespace

// AddressSanitizer brings its own operator new and reports malloc/new mismatches across the
// shared-library boundary, so under it the counting is off and the tests skip.
#if defined(__SANITIZE_ADDRESS__)
#define KVROUTE_COUNT_ALLOCATIONS 0
#else
#define KVROUTE_COUNT_ALLOCATIONS 1
void* operator new(std::size_t size) {
  if (g_counting) ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace kvroute::openai {
namespace {

/// Hashes the prompt like the gateway does, without allocating.
class HashingSink : public PromptSink {
 public:
  void append(std::string_view piece) override {
    EXPECT_FALSE(piece.empty());
    hasher_.update(piece, [this](std::uint64_t h) { last_ = h; });
  }
  std::uint64_t last_ = 0;

 private:
  ChainedBlockHasher hasher_{64, 1};
};

long allocations_during(const auto& fn) {
  if (!KVROUTE_COUNT_ALLOCATIONS) return 0;
  g_allocations = 0;
  g_counting = true;
  fn();
  g_counting = false;
  return g_allocations;
}

TEST(SteadyStateTest, WarmParserDoesNotAllocate) {
  if (!KVROUTE_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
  std::string chat = R"({"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[)";
  for (int i = 0; i < 50; ++i) {
    chat += R"({"role":"user","content":[{"type":"text","text":"part \"one\"\n"},{"type":"text","text":"two"}]},)";
  }
  chat += R"({"content":"last","role":"assistant"}],"max_tokens":5,"user":"u"})";
  const std::string completion = R"({"model":"m","prompt":[[1,2,3],[4,5,6]],"max_tokens":5})";
  std::string padded = chat + std::string(required_padding(), ' ');

  RequestParser parser;
  const auto parse_all = [&] {
    HashingSink sink;
    auto a = parser.parse(Endpoint::kChatCompletions, chat, chat.size(), &sink);  // copied
    ASSERT_TRUE(a.ok());
    auto b = parser.parse(Endpoint::kChatCompletions, std::string_view(padded.data(), chat.size()), padded.size(), &sink);
    ASSERT_TRUE(b.ok());
    auto c = parser.parse(Endpoint::kCompletions, completion, completion.size(), &sink);
    ASSERT_TRUE(c.ok());
  };
  parse_all();  // warm-up: simdjson sizes its buffers, we size the padded copy
  EXPECT_EQ(allocations_during(parse_all), 0);
}

TEST(SteadyStateTest, SseParserReusesItsBuffers) {
  if (!KVROUTE_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
  std::string stream;
  for (int i = 0; i < 20; ++i) append_sse_event(stream, R"({"choices":[{"delta":{"content":"tok"}}]})");
  SseParser parser;
  const auto run = [&] {
    for (std::size_t at = 0; at < stream.size(); at += 13) {
      parser.feed(std::string_view(stream).substr(at, 13));
      while (auto event = parser.next()) EXPECT_FALSE(parse_usage(*event));
    }
  };
  run();
  EXPECT_EQ(allocations_during(run), 0);
}

}  // namespace
}  // namespace kvroute::openai
