#pragma once
// Child processes for integration tests: start a program with posix_spawn, collect its stdout
// line by line (and the tail of its stderr), wait for a line with a deadline (never a fixed sleep),
// and stop it by PID: SIGTERM, then SIGKILL after a grace period.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace kvroute::test {

class ChildProcess {
 public:
  /// Starts program (a path) with args (argv[1..]); stdin is /dev/null. extra_env entries
  /// ("NAME=value") are added to the environment. Throws std::runtime_error if it cannot start.
  static std::unique_ptr<ChildProcess> spawn(const std::string& program, const std::vector<std::string>& args,
                                             const std::vector<std::string>& extra_env = {});
  /// Stops the process if it still runs.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  /// Waits until some stdout line (seen before or after the call) satisfies pred, and returns the
  /// first such line; nullopt when the deadline passes or stdout closes (the process exited) first.
  std::optional<std::string> wait_for_line(const std::function<bool(const std::string&)>& pred,
                                           std::chrono::milliseconds timeout);
  /// wait_for_line for the first line starting with prefix.
  std::optional<std::string> wait_for_prefix(std::string_view prefix, std::chrono::milliseconds timeout);

  /// Every stdout line so far, without line ends.
  std::vector<std::string> lines() const;
  /// The last few KiB of stderr.
  std::string stderr_tail() const;
  /// stdout lines and stderr tail, for failure messages.
  std::string describe() const;

  /// Exit status if the process has ended (exit code, or 128 + signal), else nullopt. Reaps it;
  /// once it returns a status, lines() and stderr_tail() hold everything the process wrote.
  std::optional<int> poll_exit();
  /// Waits up to timeout for the process to end on its own.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  /// Sends SIGTERM, waits up to grace, then SIGKILL. Returns the exit status (see poll_exit).
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  /// Sends a signal (e.g. SIGSTOP in a test of a stuck peer).
  void signal(int sig);

 private:
  ChildProcess() = default;
  void read_stdout(int fd);
  void read_stderr(int fd);
  void await_output();

  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  std::string stderr_;
  bool stdout_closed_ = false;
  bool stderr_closed_ = false;
  std::thread stdout_thread_;
  std::thread stderr_thread_;
  std::string name_;
};

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released). Prefer
/// letting the server bind port 0 and reading the port back; this is for programs that cannot.
std::uint16_t free_port();

}  // namespace kvroute::test
