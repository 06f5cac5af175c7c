#pragma once
// kvroute-sim as a whole: T threads, each running one io_context, and N instances spread over
// them (instance i on thread i % T). Start-up output on stdout (one flushed line each; other
// programs' tests parse it):
//   listening instance=<i> url=http://<host>:<port> preset=<name> model=<model>    (one per instance)
//   ready instances=<N>                                                          (all listening)
// SIGTERM/SIGINT: stop accepting, abort in-flight requests, close connections, exit 0.

#include <memory>
#include <thread>
#include <vector>

#include "common/time_source.h"
#include "sim_server/instance.h"
#include "sim_server/options.h"

namespace kvroute::sim_server {

class SimServer {
 public:
  /// Builds the instances and binds every listener; throws std::system_error when one cannot bind.
  explicit SimServer(const SimServerOptions& options);
  ~SimServer();
  SimServer(const SimServer&) = delete;
  SimServer& operator=(const SimServer&) = delete;

  /// Prints the listening lines, starts the threads, prints the ready line. Main thread, once.
  void start();
  /// Stops every instance and joins the threads; returns false if they did not wind down within
  /// `grace` (the caller should then exit without waiting). Main thread, once.
  bool stop(std::chrono::milliseconds grace);

  const std::vector<std::unique_ptr<Instance>>& instances() const { return instances_; }

 private:
  RealClock clock_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Instance>> instances_;
  std::vector<Instance*> peers_;
  std::vector<std::thread> threads_;
};

/// The whole program: options, logging, signals, run until SIGTERM/SIGINT. Returns the exit code.
int sim_main(int argc, char** argv);

}  // namespace kvroute::sim_server
