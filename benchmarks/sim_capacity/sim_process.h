#pragma once
// Runs kvroute-sim as a child process for the benchmark: start it, wait (with a deadline) for its
// "ready" line, learn each instance's URL from its "listening" lines, stop it by PID.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"

namespace kvroute::bench {

/// One simulated server as announced on kvroute-sim's stdout.
struct SimInstance {
  int index = 0;
  std::string url;  ///< http://host:port
  std::string preset;
  std::string model;
};

/// Parses "listening instance=<i> url=<url> preset=<p> model=<m>"; false for any other line.
bool parse_listening_line(const std::string& line, SimInstance& out);

/// A running kvroute-sim. Not copyable; the destructor stops the process if still running.
/// All methods are for the thread that started it.
class SimProcess {
 public:
  /// Spawns bin with args and waits until it prints "ready instances=N" or the deadline passes.
  /// Fails (and kills the child) if the process exits first, the deadline passes, or fewer
  /// listening lines than instances were seen.
  static Result<std::unique_ptr<SimProcess>> start(const std::string& bin, const std::vector<std::string>& args,
                                   std::chrono::milliseconds deadline);
  ~SimProcess();
  SimProcess(const SimProcess&) = delete;
  SimProcess& operator=(const SimProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::vector<SimInstance>& instances() const { return instances_; }
  /// SIGTERM, wait up to grace, then SIGKILL. Returns the exit status as waitpid reports it,
  /// or -1 when it was already reaped.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  SimProcess() = default;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::vector<SimInstance> instances_;
  std::thread drain_;  // keeps reading stdout after ready so the child never blocks on a full pipe
};

/// CPU time (user + system) in seconds of a process, and of each of its threads by name.
struct CpuSample {
  double total_s = 0;
  std::vector<std::pair<std::string, double>> threads;  ///< "name/tid", seconds
};
/// Reads /proc/<pid>/stat and /proc/<pid>/task/*/stat; empty sample if the process is gone.
CpuSample sample_cpu(pid_t pid);

/// Machine-wide CPU time from /proc/stat, in seconds summed over all cores: busy (everything but
/// idle and iowait) and total. On a shared machine, busy minus our two processes is what others
/// took while we measured.
struct MachineCpu {
  double busy_s = 0;
  double total_s = 0;
  int cores = 0;
};
MachineCpu sample_machine_cpu();

}  // namespace kvroute::bench
