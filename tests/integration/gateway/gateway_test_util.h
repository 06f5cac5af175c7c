#pragma once
// Helpers of the gateway's integration tests: kvroute started from a YAML config (written to a
// temporary file) or from quick-start flags, on 127.0.0.1 port 0, ready when it prints "ready";
// kvroute-sim fleets; small request builders. Every wait is on a condition, never a fixed sleep.

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "integration/sim_test_util.h"
#include "support/http_client.h"
#include "support/process.h"
#include "support/sim_process.h"

namespace kvroute::test {

/// A running kvroute.
class GatewayProcess {
 public:
  /// Starts kvroute with args and waits for "ready"; the first "listening url=" line gives the port.
  /// Throws std::runtime_error with the process output when it does not get ready.
  static std::unique_ptr<GatewayProcess> start(const std::vector<std::string>& args,
                                               std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
    auto g = std::unique_ptr<GatewayProcess>(new GatewayProcess());
    g->process_ = ChildProcess::spawn(KVROUTE_BIN, args);
    if (!g->process_->wait_for_line([](const std::string& l) { return l == "ready"; }, timeout)) {
      throw std::runtime_error("kvroute did not get ready:\n" + g->process_->describe());
    }
    for (const auto& line : g->process_->lines()) {
      static constexpr std::string_view kPrefix = "listening url=http://";
      if (!line.starts_with(kPrefix)) continue;
      const std::string hostport = line.substr(kPrefix.size());
      const auto colon = hostport.rfind(':');
      g->urls_.push_back(line.substr(std::string_view("listening url=").size()));
      if (g->port_ == 0) {
        g->host_ = hostport.substr(0, colon);
        g->port_ = static_cast<std::uint16_t>(std::stoi(hostport.substr(colon + 1)));
      }
    }
    if (g->port_ == 0) throw std::runtime_error("kvroute printed no listening line:\n" + g->process_->describe());
    return g;
  }

  /// Writes yaml to a temporary file and starts kvroute --config on it.
  static std::unique_ptr<GatewayProcess> start_yaml(const std::string& yaml,
                                                    std::vector<std::string> extra = {"--log-level", "warn"}) {
    const std::string path = write_temp_config(yaml);
    std::vector<std::string> args = {"--config", path};
    args.insert(args.end(), extra.begin(), extra.end());
    auto g = start(args);
    g->config_path_ = path;
    return g;
  }

  static std::string write_temp_config(const std::string& yaml) {
    static std::atomic<int> counter{0};
    const std::string path =
        ::testing::TempDir() + "kvroute-gw-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".yaml";
    std::ofstream(path) << yaml;
    return path;
  }

  ~GatewayProcess() {
    if (!config_path_.empty()) ::unlink(config_path_.c_str());
  }

  HttpClient client() const { return HttpClient(host_, port_); }
  std::uint16_t port() const { return port_; }
  const std::vector<std::string>& urls() const { return urls_; }
  ChildProcess& process() { return *process_; }
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10)) { return process_->stop(grace); }

 private:
  GatewayProcess() = default;
  std::unique_ptr<ChildProcess> process_;
  std::string host_ = "127.0.0.1";
  std::uint16_t port_ = 0;
  std::vector<std::string> urls_;
  std::string config_path_;
};

/// kvroute-sim with n tiny instances at the given speedup; extra args come last.
inline std::unique_ptr<SimProcess> start_fleet(int n, int speedup = 50, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"--port",          "0",        "--host", "127.0.0.1", "--instances",
                                   std::to_string(n), "--preset", "tiny",   "--speedup", std::to_string(speedup),
                                   "--log-level",     "warn"};
  args.insert(args.end(), extra.begin(), extra.end());
  return SimProcess::start(KVROUTE_SIM_BIN, args);
}

/// A YAML list of backend URLs: "[http://a, http://b]".
inline std::string backend_list(const SimProcess& sim) {
  std::string out = "[";
  for (const auto& inst : sim.instances()) {
    if (out.size() > 1) out += ", ";
    out += inst.url;
  }
  return out + "]";
}

/// A one-pool config on 127.0.0.1:0 with one worker (so per-worker policies see every request),
/// backend_header on. `pool_extra` is YAML appended to the pool (indented by 4 spaces).
inline std::string one_pool_yaml(const std::string& model, const std::string& backends, const std::string& policy,
                                 const std::string& pool_extra = {}, const std::string& top_extra = {}) {
  return fmt::format(R"(listeners:
  - address: 127.0.0.1:0
    workers: 1
server:
  backend_header: true
  shutdown_grace: 10s
{}pools:
  - name: main
    models: ["{}"]
    policy: {}
    backends: {}
{})",
                     top_extra, model, policy, backends, pool_extra);
}

/// POSTs to /sim/faults of instance i (through instance 0's control endpoint).
inline void set_sim_faults(const SimProcess& sim, std::size_t i, const json& faults) {
  HttpClient c(sim.instance(0).host, sim.instance(0).port);
  auto r = c.post("/sim/faults?instance=" + std::to_string(i), faults.dump());
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->status, 200) << r->body;
}

/// A streamed chat request body.
inline std::string stream_chat(const std::string& model, const std::string& content, int tokens,
                               json extra = json::object()) {
  json e = {{"stream", true}, {"max_tokens", tokens}, {"ignore_eos", true}};
  e.update(extra);
  return chat_body(model, content, e);
}

/// The gateway's admin /metrics page, at the address it announced ("admin url=http://HOST:PORT");
/// empty, with a test failure, when it announced none.
inline std::string gateway_admin_page(GatewayProcess& gw) {
  static constexpr std::string_view kPrefix = "admin url=http://";
  for (const auto& line : gw.process().lines()) {
    if (!line.starts_with(kPrefix)) continue;
    const std::string hostport = line.substr(kPrefix.size());
    const auto colon = hostport.rfind(':');
    HttpClient c(hostport.substr(0, colon), static_cast<std::uint16_t>(std::stoi(hostport.substr(colon + 1))));
    return metrics_page(c);
  }
  ADD_FAILURE() << "no admin url line:\n" << gw.process().describe();
  return {};
}

}  // namespace kvroute::test
