#include "support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace kvroute::test {
namespace {

constexpr std::size_t kStderrKeep = 16 * 1024;

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::unique_ptr<ChildProcess> ChildProcess::spawn(const std::string& program, const std::vector<std::string>& args,
                                                  const std::vector<std::string>& extra_env) {
  int out_pipe[2];
  int err_pipe[2];
  // Close-on-exec, so children spawned at the same time by other threads do not keep our pipes open.
  if (pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    throw std::runtime_error("pipe2 failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);

  // The child starts with default signal handling and an empty mask, whatever the test runner set.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  for (const auto& e : extra_env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  pid_t pid = -1;
  const int rc = posix_spawn(&pid, program.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    throw std::runtime_error("cannot start " + program + ": " + std::strerror(rc));
  }
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  child->pid_ = pid;
  child->name_ = program;
  ChildProcess* self = child.get();
  child->stdout_thread_ = std::thread([self, fd = out_pipe[0]] { self->read_stdout(fd); });
  child->stderr_thread_ = std::thread([self, fd = err_pipe[0]] { self->read_stderr(fd); });
  return child;
}

ChildProcess::~ChildProcess() {
  stop(std::chrono::seconds(5));
  if (stdout_thread_.joinable()) stdout_thread_.join();
  if (stderr_thread_.joinable()) stderr_thread_.join();
}

void ChildProcess::read_stdout(int fd) {
  std::string partial;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    partial.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    std::vector<std::string> complete;
    for (std::size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string line = partial.substr(start, nl - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      complete.push_back(std::move(line));
    }
    partial.erase(0, start);
    if (!complete.empty()) {
      std::lock_guard lock(mutex_);
      for (auto& l : complete) lines_.push_back(std::move(l));
      cv_.notify_all();
    }
  }
  close(fd);
  std::lock_guard lock(mutex_);
  if (!partial.empty()) lines_.push_back(partial);
  stdout_closed_ = true;
  cv_.notify_all();
}

void ChildProcess::read_stderr(int fd) {
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::lock_guard lock(mutex_);
    stderr_.append(buf, static_cast<std::size_t>(n));
    if (stderr_.size() > 2 * kStderrKeep) stderr_.erase(0, stderr_.size() - kStderrKeep);
  }
  close(fd);
  std::lock_guard lock(mutex_);
  stderr_closed_ = true;
  cv_.notify_all();
}

std::optional<std::string> ChildProcess::wait_for_line(const std::function<bool(const std::string&)>& pred,
                                                       std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  std::size_t checked = 0;
  for (;;) {
    for (; checked < lines_.size(); ++checked) {
      if (pred(lines_[checked])) return lines_[checked];
    }
    if (stdout_closed_) return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && checked == lines_.size() && !stdout_closed_) {
      return std::nullopt;
    }
  }
}

std::optional<std::string> ChildProcess::wait_for_prefix(std::string_view prefix, std::chrono::milliseconds timeout) {
  return wait_for_line([prefix](const std::string& l) { return l.starts_with(prefix); }, timeout);
}

std::vector<std::string> ChildProcess::lines() const {
  std::lock_guard lock(mutex_);
  return lines_;
}

std::string ChildProcess::stderr_tail() const {
  std::lock_guard lock(mutex_);
  return stderr_.size() > kStderrKeep ? stderr_.substr(stderr_.size() - kStderrKeep) : stderr_;
}

std::string ChildProcess::describe() const {
  std::string out = name_ + " (pid " + std::to_string(pid_) + ")\n--- stdout ---\n";
  for (const auto& l : lines()) out += l + "\n";
  out += "--- stderr ---\n" + stderr_tail();
  return out;
}

std::optional<int> ChildProcess::poll_exit() {
  if (exit_status_) return exit_status_;
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_status_ = decode_status(status);
    await_output();
  }
  return exit_status_;
}

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto s = poll_exit()) return s;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    // Polling waitpid: there is no portable way to wait for a child with a deadline.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void ChildProcess::await_output() {
  // The pipes close when the process is gone (unless it left children holding them): wait for
  // the readers to take the last bytes, so lines() and stderr_tail() are complete after exit.
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, std::chrono::seconds(2), [this] { return stdout_closed_ && stderr_closed_; });
}

void ChildProcess::signal(int sig) {
  if (!exit_status_ && pid_ > 0) kill(pid_, sig);
}

int ChildProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  if (poll_exit()) return *exit_status_;
  kill(pid_, SIGTERM);
  if (auto s = wait_exit(grace)) return *s;
  kill(pid_, SIGKILL);
  int status = 0;
  if (waitpid(pid_, &status, 0) == pid_) {
    exit_status_ = decode_status(status);
    await_output();
  }
  return exit_status_.value_or(-1);
}

std::uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error("cannot bind a free port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace kvroute::test
