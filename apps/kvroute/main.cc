// kvroute: the gateway. Reads the configuration (a YAML file or quick-start flags), checks it,
// starts the listeners and serves until SIGTERM/SIGINT. docs/gateway.md and docs/configuration.md.
//
//   kvroute --config FILE
//   kvroute --check-config FILE
//   kvroute --listen HOST:PORT --backend URL[=WEIGHT] [--backend ...] [--policy NAME] [--admin HOST:PORT]
//
// Exit codes: 0 after a clean shutdown (or a config that checks out), 1 for a configuration that is
// refused or a listener that cannot be bound, 2 for bad command-line usage.

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "common/logging.h"
#include "config/config_from_flags.h"
#include "config/load_config.h"
#include "proxy/gateway.h"

namespace {

int fail(const std::string& message, int code) {
  std::cerr << message << '\n';
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvroute: an LLM-aware, OpenAI-compatible load-balancing gateway.", "kvroute"};
  std::string config_file;
  std::string check_file;
  std::string log_level = "info";
  kvroute::config::QuickStartFlags quick;
  app.add_option("--config", config_file, "Run with this YAML configuration file");
  app.add_option("--check-config", check_file, "Check this configuration file and exit (0: valid, 1: refused)");
  app.add_option("--listen", quick.listen, "Quick start: address to listen on, HOST:PORT (default 0.0.0.0:8080)");
  app.add_option("--backend", quick.backends, "Quick start: backend URL[=WEIGHT]; repeat for several");
  app.add_option("--policy", quick.policy, "Quick start: routing policy (default least_request)");
  app.add_option("--admin", quick.admin, "Quick start: admin API address, HOST:PORT");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off (logs go to stderr)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  const bool quick_start =
      !quick.backends.empty() || !quick.listen.empty() || !quick.policy.empty() || !quick.admin.empty();
  const int modes = (config_file.empty() ? 0 : 1) + (check_file.empty() ? 0 : 1) + (quick_start ? 1 : 0);
  if (modes != 1) {
    return fail(
        "kvroute: give exactly one of --config FILE, --check-config FILE, or the quick-start flags "
        "(--listen, --backend, --policy, --admin); see --help",
        2);
  }
  if (quick_start && quick.backends.empty()) return fail("kvroute: quick start needs at least one --backend URL", 2);

  try {
    kvroute::setup_logging("kvroute", log_level);
  } catch (const std::exception& e) {
    return fail(std::string("kvroute: --log-level: ") + e.what(), 2);
  }

  if (!check_file.empty()) {
    auto checked = kvroute::proxy::check_config_file(check_file);
    if (!checked) return fail(checked.error().message, 1);
    std::size_t backends = 0;
    for (const auto& pool : checked->pools) backends += pool.backends.size();
    std::cout << check_file << ": ok (" << checked->pools.size() << " pool(s), " << backends << " backend(s))"
              << std::endl;
    return 0;
  }

  auto config =
      quick_start ? kvroute::config::config_from_flags(quick) : kvroute::proxy::check_config_file(config_file);
  if (!config) return fail(config.error().message, 1);

  std::signal(SIGPIPE, SIG_IGN);  // a client that went away must be a write error, not a dead process
  kvroute::proxy::GatewayOptions options;
  options.announce = &std::cout;
  auto gateway = kvroute::proxy::Gateway::create(std::move(*config), options);
  if (!gateway) return fail(gateway.error().message, 1);
  if (auto started = (*gateway)->start(); !started) return fail("kvroute: " + started.error().message, 1);
  return (*gateway)->run();
}
