#pragma once
// kvroute-sim under test: start it (normally with --port 0 on 127.0.0.1), wait for its
// "ready instances=N" line, and learn each instance's address from its "listening" lines.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/process.h"

namespace kvroute::test {

/// One instance as announced: "listening instance=<i> url=http://<host>:<port> preset=<p> model=<m>".
struct SimInstanceInfo {
  std::uint32_t index = 0;
  std::string url;
  std::string host;
  std::uint16_t port = 0;
  std::string preset;
  std::string model;
  /// "host:port", what the instance puts in x-sim-instance.
  std::string authority() const { return host + ":" + std::to_string(port); }
};

/// Parses a listening line; false for any other line.
bool parse_listening_line(const std::string& line, SimInstanceInfo& out);

class SimProcess {
 public:
  /// Starts binary with args and waits for the ready line. Throws std::runtime_error (with the
  /// process output) if it exits or the deadline passes first.
  static std::unique_ptr<SimProcess> start(const std::string& binary, const std::vector<std::string>& args,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(15));

  const std::vector<SimInstanceInfo>& instances() const { return instances_; }
  const SimInstanceInfo& instance(std::size_t i) const { return instances_.at(i); }
  ChildProcess& process() { return *process_; }
  /// SIGTERM, then SIGKILL after grace; the exit status.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5)) { return process_->stop(grace); }

 private:
  std::unique_ptr<ChildProcess> process_;
  std::vector<SimInstanceInfo> instances_;
};

}  // namespace kvroute::test
