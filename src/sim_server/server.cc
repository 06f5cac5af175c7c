#include "sim_server/server.h"

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/logging.h"
#include "sim/calibration.h"

namespace kvroute::sim_server {
namespace {

void print_line(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// Threads that have returned from io_context::run(), for a bounded wait at shutdown.
std::mutex g_done_mutex;
std::condition_variable g_done_cv;
std::size_t g_done_threads = 0;

}  // namespace

SimServer::SimServer(const SimServerOptions& options) {
  for (std::uint32_t t = 0; t < options.threads; ++t) workers_.push_back(std::make_unique<Worker>());
  for (const InstanceConfig& c : options.instances) {
    Worker& w = *workers_[c.index % workers_.size()];
    instances_.push_back(std::make_unique<Instance>(c, w, clock_));
    peers_.push_back(instances_.back().get());
  }
  for (auto& inst : instances_) {
    inst->set_peers(peers_);
    inst->open();
  }
}

SimServer::~SimServer() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void SimServer::start() {
  for (const auto& inst : instances_) {
    print_line(fmt::format("listening instance={} url=http://{} preset={} model={}", inst->index(), inst->authority(),
                           inst->preset().name, inst->model()));
    inst->start();
  }
  for (auto& w : workers_) {
    threads_.emplace_back([worker = w.get()] {
      worker->ioc.run();
      std::lock_guard lock(g_done_mutex);
      ++g_done_threads;
      g_done_cv.notify_all();
    });
  }
  print_line(fmt::format("ready instances={}", instances_.size()));
}

bool SimServer::stop(std::chrono::milliseconds grace) {
  for (auto& inst : instances_) inst->request_stop();
  std::unique_lock lock(g_done_mutex);
  const bool done = g_done_cv.wait_for(lock, grace, [&] { return g_done_threads == threads_.size(); });
  lock.unlock();
  if (!done) return false;
  for (auto& t : threads_) t.join();
  return true;
}

int sim_main(int argc, char** argv) {
  auto parsed = parse_options(argc, argv);
  if (!parsed) {
    if (parsed.error().code == 0) {
      std::fputs(parsed.error().message.c_str(), stdout);
      return 0;
    }
    std::fprintf(stderr, "kvroute-sim: %s\nRun 'kvroute-sim --help' for the options.\n",
                 parsed.error().message.c_str());
    return 2;
  }
  const SimServerOptions& options = *parsed;
  if (options.list_presets) {
    std::fputs(presets_table().c_str(), stdout);
    return 0;
  }
  if (options.calibrate) {
    std::fputs(sim::calibration_markdown(sim::builtin_presets()).c_str(), stdout);
    return 0;
  }
  setup_logging("kvroute-sim", options.log_level);

  // SIGTERM/SIGINT are taken by sigwait on this thread only: block them before any thread starts
  // so every thread inherits the mask. Writes to a closed socket must not kill the process.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<SimServer> server;
  try {
    server = std::make_unique<SimServer>(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvroute-sim: cannot listen: %s\n", e.what());
    return 1;
  }
  server->start();
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: shutting down", sig);
  if (!server->stop(std::chrono::seconds(3))) {
    spdlog::warn("connections did not close within 3 s; exiting anyway");
    std::fflush(stdout);
    std::_Exit(0);
  }
  server.reset();
  return 0;
}

}  // namespace kvroute::sim_server
