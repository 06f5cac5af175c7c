#include "support/sim_process.h"

#include <algorithm>
#include <charconv>
#include <sstream>
#include <stdexcept>

namespace kvroute::test {

bool parse_listening_line(const std::string& line, SimInstanceInfo& out) {
  std::istringstream in(line);
  std::string word;
  if (!(in >> word) || word != "listening") return false;
  SimInstanceInfo info;
  int seen = 0;
  while (in >> word) {
    const auto eq = word.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = word.substr(0, eq);
    const std::string value = word.substr(eq + 1);
    if (key == "instance") {
      const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), info.index);
      if (ec != std::errc{}) return false;
      ++seen;
    } else if (key == "url") {
      info.url = value;
      const std::string prefix = "http://";
      if (!value.starts_with(prefix)) return false;
      const std::string hostport = value.substr(prefix.size());
      const auto colon = hostport.rfind(':');
      if (colon == std::string::npos) return false;
      info.host = hostport.substr(0, colon);
      const std::string port = hostport.substr(colon + 1);
      const auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), info.port);
      if (ec != std::errc{}) return false;
      ++seen;
    } else if (key == "preset") {
      info.preset = value;
      ++seen;
    } else if (key == "model") {
      info.model = value;
      ++seen;
    }
  }
  if (seen != 4) return false;
  out = std::move(info);
  return true;
}

std::unique_ptr<SimProcess> SimProcess::start(const std::string& binary, const std::vector<std::string>& args,
                                              std::chrono::milliseconds timeout) {
  auto sim = std::make_unique<SimProcess>();
  sim->process_ = ChildProcess::spawn(binary, args);
  const auto ready = sim->process_->wait_for_prefix("ready instances=", timeout);
  if (!ready) {
    const std::string what = sim->process_->describe();
    sim->process_->stop(std::chrono::milliseconds(500));
    throw std::runtime_error("kvroute-sim did not become ready:\n" + what);
  }
  for (const auto& line : sim->process_->lines()) {
    SimInstanceInfo info;
    if (parse_listening_line(line, info)) sim->instances_.push_back(info);
  }
  std::sort(sim->instances_.begin(), sim->instances_.end(),
            [](const SimInstanceInfo& a, const SimInstanceInfo& b) { return a.index < b.index; });
  const std::size_t announced = std::stoul(ready->substr(std::string("ready instances=").size()));
  if (sim->instances_.size() != announced) {
    const std::string what = sim->process_->describe();
    sim->process_->stop(std::chrono::milliseconds(500));
    throw std::runtime_error("kvroute-sim announced " + std::to_string(sim->instances_.size()) +
                             " listening lines for " + std::to_string(announced) + " instances:\n" + what);
  }
  return sim;
}

}  // namespace kvroute::test
