#pragma once
// The gateway process: worker threads serving clients, and the control thread (the caller of run())
// that publishes snapshots, refreshes the model list, scrapes the backends' metrics, serves the
// admin listener and handles SIGTERM/SIGINT with a graceful drain. No Asio types here, so
// apps/kvroute/main.cc stays cheap to compile.

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "proxy/stats.h"

namespace kvroute::proxy {

struct GatewayOptions {
  /// Where the start-up lines go ("listening url=http://HOST:PORT" per listener, "admin
  /// url=http://HOST:PORT" when admin.listen is set, then "ready"); null = nowhere. Each line is
  /// flushed (scripts and tests read them).
  std::ostream* announce = nullptr;
  /// Seed of the workers' random sources (policies' draws, request ids); 0 = from std::random_device.
  std::uint64_t seed = 0;
  /// How often backends of pattern/default pools are asked for their models (0 = only at start-up).
  Nanos models_refresh = 30 * kNanosPerSecond;
};

class Gateway {
 public:
  /// Checks policies, resolves backends and builds the first routing snapshot. Errors are located
  /// like config errors (FILE:LINE:COL). Start-up thread.
  static Result<std::unique_ptr<Gateway>> create(config::GatewayConfig config, GatewayOptions options = {});
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  /// Binds every listener (one SO_REUSEPORT socket per worker) and the admin listener, asks pattern
  /// pools' backends for their models, starts the metrics scraper and the worker threads, and
  /// announces the listening URLs and "ready".
  Result<void> start();
  /// The bound listeners as http://HOST:PORT (the real port when the configured one was 0).
  const std::vector<std::string>& listening_urls() const;
  /// Runs the control loop on the calling thread until SIGTERM/SIGINT (or request_shutdown()),
  /// then drains: stop accepting, finish in-flight requests within server.shutdown_grace, close
  /// the rest. Returns the process exit code (0).
  int run();
  /// Any thread: starts the graceful shutdown, as SIGTERM does.
  void request_shutdown();
  /// Any thread: the workers' statistics, summed.
  StatsTotals stats() const;

 private:
  Gateway();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Validates a config file completely (YAML, cross-field rules, policy names and parameters through
/// the routing registry) without starting anything. Errors: every problem, one per line, as
/// FILE:LINE:COL: KEY_PATH: REASON.
Result<config::GatewayConfig> check_config_file(const std::string& path);

}  // namespace kvroute::proxy
