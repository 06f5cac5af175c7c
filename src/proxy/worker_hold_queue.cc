#include "proxy/worker_hold_queue.h"

namespace kvroute::proxy {

void WorkerHoldQueue::wake(HoldEntry* e) {
  if (e != nullptr) static_cast<boost::asio::steady_timer*>(e->user)->cancel();
}

void WorkerHoldQueue::push_back(HoldEntry& e) {
  queue_.push_back(e);
  if (!armed_) arm();
}

void WorkerHoldQueue::remove(HoldEntry& e) {
  wake(queue_.remove(e));
  if (queue_.empty() && armed_) {
    armed_ = false;
    reoffer_.cancel();
  }
}

void WorkerHoldQueue::arm() {
  armed_ = true;
  // Setting the expiry cancels a wait still pending (a tick that completed just before a cancel and
  // has not run yet), so at most one tick chain runs at any time.
  reoffer_.expires_after(kReofferInterval);
  // The queue outlives every wait on its timer: it lives as long as the worker, whose io_context
  // destroys pending handlers without running them.
  reoffer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) on_tick();
  });
}

void WorkerHoldQueue::on_tick() {
  armed_ = false;
  if (queue_.empty()) return;
  wake(queue_.offer());
  arm();
}

}  // namespace kvroute::proxy
