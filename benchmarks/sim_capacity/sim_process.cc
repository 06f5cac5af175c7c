#include "sim_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include <fmt/format.h>

extern char** environ;

namespace kvroute::bench {

bool parse_listening_line(const std::string& line, SimInstance& out) {
  if (!line.starts_with("listening ")) return false;
  std::istringstream in(line.substr(10));
  std::string field;
  bool have_url = false;
  bool have_index = false;
  while (in >> field) {
    const auto eq = field.find('=');
    if (eq == std::string::npos) continue;
    const std::string_view key(field.data(), eq);
    std::string value = field.substr(eq + 1);
    if (key == "instance") {
      out.index = std::atoi(value.c_str());
      have_index = true;
    } else if (key == "url") {
      out.url = std::move(value);
      have_url = true;
    } else if (key == "preset") {
      out.preset = std::move(value);
    } else if (key == "model") {
      out.model = std::move(value);
    }
  }
  return have_url && have_index;
}

Result<std::unique_ptr<SimProcess>> SimProcess::start(const std::string& bin, const std::vector<std::string>& args,
                                      std::chrono::milliseconds deadline) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Error{errno, fmt::format("pipe: {}", std::strerror(errno))};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(bin.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, bin.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return Error{rc, fmt::format("cannot start {}: {}", bin, std::strerror(rc))};
  }
  std::unique_ptr<SimProcess> proc(new SimProcess());
  proc->pid_ = pid;
  proc->stdout_fd_ = fds[0];

  // Read lines until "ready", polling so that the deadline holds even if the child hangs silently.
  const auto until = std::chrono::steady_clock::now() + deadline;
  std::string pending;
  std::string transcript;
  int expected = -1;
  auto fail = [&](std::string why) -> Result<std::unique_ptr<SimProcess>> {
    proc->stop(std::chrono::milliseconds(500));
    return Error{1, fmt::format("kvroute-sim: {}\n--- its stdout ---\n{}", why, transcript)};
  };
  while (expected < 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return fail(fmt::format("not ready within {} ms", deadline.count()));
    pollfd p{proc->stdout_fd_, POLLIN, 0};
    const int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char chunk[4096];
    const ssize_t got = read(proc->stdout_fd_, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return fail("exited (closed stdout) before it was ready");
    pending.append(chunk, static_cast<std::size_t>(got));
    for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      transcript += line + "\n";
      SimInstance inst;
      if (parse_listening_line(line, inst)) {
        proc->instances_.push_back(std::move(inst));
      } else if (line.starts_with("ready instances=")) {
        expected = std::atoi(line.c_str() + 16);
        break;
      }
    }
  }
  if (static_cast<int>(proc->instances_.size()) != expected) {
    return fail(fmt::format("announced {} instances but {} listening lines", expected, proc->instances_.size()));
  }
  std::sort(proc->instances_.begin(), proc->instances_.end(),
            [](const SimInstance& a, const SimInstance& b) { return a.index < b.index; });
  const int fd = proc->stdout_fd_;
  proc->drain_ = std::thread([fd] {
    char sink[4096];
    while (true) {
      const ssize_t got = read(fd, sink, sizeof sink);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return;
    }
  });
  return proc;
}

int SimProcess::stop(std::chrono::milliseconds grace) {
  int status = -1;
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    const auto until = std::chrono::steady_clock::now() + grace;
    bool reaped = false;
    // Short polling interval: this is waiting for a process to exit, which has no fd to wait on
    // without pidfd; 5 ms keeps the stop latency small and the cost negligible.
    while (std::chrono::steady_clock::now() < until) {
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) {
        reaped = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!reaped) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }
  if (drain_.joinable()) drain_.join();  // the pipe closed with the child
  if (stdout_fd_ >= 0) {
    close(stdout_fd_);
    stdout_fd_ = -1;
  }
  return status;
}

SimProcess::~SimProcess() { stop(std::chrono::milliseconds(2000)); }

namespace {

// utime + stime (fields 14 and 15 of /proc/.../stat), in seconds; the name is field 2 in parens.
bool read_stat(const std::filesystem::path& path, std::string& name, double& seconds) {
  std::ifstream in(path);
  std::string text;
  if (!std::getline(in, text)) return false;
  const auto open = text.find('(');
  const auto close_paren = text.rfind(')');
  if (open == std::string::npos || close_paren == std::string::npos) return false;
  name = text.substr(open + 1, close_paren - open - 1);
  std::istringstream rest(text.substr(close_paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // Fields after the name start at field 3 (state); utime is field 14.
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  seconds = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return true;
}

}  // namespace

CpuSample sample_cpu(pid_t pid) {
  CpuSample s;
  const std::filesystem::path dir = fmt::format("/proc/{}", pid);
  std::string name;
  if (!read_stat(dir / "stat", name, s.total_s)) return s;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "task", ec)) {
    double secs = 0;
    if (read_stat(entry.path() / "stat", name, secs)) {
      s.threads.emplace_back(fmt::format("{}/{}", name, entry.path().filename().string()), secs);
    }
  }
  std::sort(s.threads.begin(), s.threads.end());
  return s;
}

MachineCpu sample_machine_cpu() {
  MachineCpu m;
  std::ifstream in("/proc/stat");
  std::string line;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  while (std::getline(in, line)) {
    if (line.starts_with("cpu ")) {
      std::istringstream f(line.substr(4));
      // user nice system idle iowait irq softirq steal (guest time is already in user)
      unsigned long long v[8] = {};
      for (auto& x : v) f >> x;
      const unsigned long long idle = v[3] + v[4];
      unsigned long long total = 0;
      for (auto x : v) total += x;
      m.busy_s = static_cast<double>(total - idle) / tick;
      m.total_s = static_cast<double>(total) / tick;
    } else if (line.starts_with("cpu")) {
      ++m.cores;
    }
  }
  return m;
}

}  // namespace kvroute::bench
