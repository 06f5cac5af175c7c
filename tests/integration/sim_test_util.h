#pragma once
// Shared helpers of the kvroute-sim integration tests.

#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "support/http_client.h"
#include "support/sim_process.h"

namespace kvroute::test {

using json = nlohmann::json;
using namespace std::chrono_literals;

/// Starts kvroute-sim on 127.0.0.1 with free ports; extra args come last (and win).
inline std::unique_ptr<SimProcess> start_sim(const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"--port", "0", "--host", "127.0.0.1", "--instances", "1",
                                   "--preset", "tiny", "--speedup", "50", "--log-level", "warn"};
  args.insert(args.end(), extra.begin(), extra.end());
  return SimProcess::start(KVROUTE_SIM_BIN, args);
}

inline HttpClient client_for(const SimInstanceInfo& inst) { return HttpClient(inst.host, inst.port); }

/// A chat request body; extra fields are merged in.
inline std::string chat_body(const std::string& model, const std::string& content, json extra = json::object()) {
  json j = {{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", content}}})}};
  j.update(extra);
  return j.dump();
}

inline std::string completion_body(const std::string& model, const std::string& prompt, json extra = json::object()) {
  json j = {{"model", model}, {"prompt", prompt}};
  j.update(extra);
  return j.dump();
}

/// The value of the first sample whose line starts with `series` (name plus the start of the
/// label list, e.g. "vllm:num_requests_running{") and contains `filter`; NaN when absent.
inline double metric(const std::string& page, const std::string& series, const std::string& filter = {}) {
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(series) || line.find(filter) == std::string::npos) continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return std::numeric_limits<double>::quiet_NaN();
}

/// Polls cond (a few ms apart) until it holds or the deadline passes: waiting on a condition,
/// not sleeping and hoping.
template <class Cond>
bool eventually(Cond cond, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

inline std::string metrics_page(HttpClient& c) {
  auto r = c.get("/metrics");
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? r->body : std::string{};
}

/// Parses a JSON body, failing the test (and returning null) when it does not parse.
inline json parse_json(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << text;
  return j;
}

/// Checks the OpenAI/vLLM error shape {"error":{"message","type","param","code"}}.
inline void expect_error_body(const HttpResponse& r, int status) {
  EXPECT_EQ(r.status, status) << r.body;
  const json j = parse_json(r.body);
  ASSERT_TRUE(j.contains("error")) << r.body;
  EXPECT_TRUE(j["error"]["message"].is_string()) << r.body;
  EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
  EXPECT_TRUE(j["error"]["type"].is_string()) << r.body;
  EXPECT_TRUE(j["error"].contains("param")) << r.body;
  EXPECT_EQ(j["error"]["code"], status) << r.body;
  EXPECT_NE(r.header("content-type").find("application/json"), std::string::npos);
}

}  // namespace kvroute::test
