#pragma once
// Keep-alive connection pool of one worker to one backend: the bookkeeping only (sans-IO), so the
// rules can be tested without sockets. The worker's I/O code owns the sockets (Conn) and asks the
// pool what to do:
//
//   acquire()  -> kIdle: here is an idle connection (most recently used first: the warmest, and the
//                        least likely to have been closed by the backend's keep-alive timeout);
//                 kOpen: you may open a new connection; it already counts against the limit;
//                 kWait: the limit is reached; enqueue() a Waiter and sleep until woken.
//   release()  -> the exchange finished cleanly; the connection is handed to the first waiter, if
//                 any, else kept idle.
//   discard()  -> a connection that counted against the limit (taken idle or being opened) is gone;
//                 its slot is handed to the first waiter as permission to open, if any.
//
// A worker never shares a connection with another worker: each worker has its own pools, so none
// of this is synchronised. The limit is the backend's max_connections (per worker).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "common/time_source.h"

namespace kvroute::upstream {

template <class Conn>
class ConnectionPool {
 public:
  /// A request waiting for a connection. Lives in the waiting request's frame; the pool links it
  /// into a FIFO queue without allocating. When woken, exactly one of `connection` (an idle
  /// connection handed over) or `may_open` (a slot to open a new one) is set.
  struct Waiter {
    std::optional<Conn> connection;
    bool may_open = false;
    void* user = nullptr;  ///< for the I/O code: what to wake (a timer)
    bool woken() const { return connection.has_value() || may_open; }

   private:
    friend class ConnectionPool;
    Waiter* prev_ = nullptr;
    Waiter* next_ = nullptr;
    bool queued_ = false;
  };

  enum class Grant : std::uint8_t { kIdle, kOpen, kWait };

  explicit ConnectionPool(std::uint32_t max_connections) : max_(max_connections == 0 ? 1 : max_connections) {}
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  /// Takes an idle connection (into `out`), or a slot to open one, or says to wait. Requests that
  /// arrive while others wait queue behind them (kWait), so waiting is first come, first served.
  Grant acquire(std::optional<Conn>& out) {
    if (head_ != nullptr) return Grant::kWait;
    if (!idle_.empty()) {
      out.emplace(std::move(idle_.back().connection));
      idle_.pop_back();
      ++reused_total_;
      return Grant::kIdle;
    }
    if (open_ < max_) {
      ++open_;
      ++opened_total_;
      return Grant::kOpen;
    }
    return Grant::kWait;
  }

  /// Like acquire(), but never returns an idle connection: for the one retry on a fresh connection
  /// after a reused one turned out to be stale.
  Grant acquire_fresh() {
    if (head_ == nullptr && open_ < max_) {
      ++open_;
      ++opened_total_;
      return Grant::kOpen;
    }
    return Grant::kWait;
  }

  /// Queues w (FIFO). w must stay alive until it is woken or cancel()ed.
  void enqueue(Waiter& w) {
    w.prev_ = tail_;
    w.next_ = nullptr;
    if (tail_ != nullptr) {
      tail_->next_ = &w;
    } else {
      head_ = &w;
    }
    tail_ = &w;
    w.queued_ = true;
  }

  /// Takes w out of the queue (its request gave up). A connection or slot it was granted but did not
  /// use comes back to the pool (and may wake the next waiter, which is returned).
  Waiter* cancel(Waiter& w, Nanos now) {
    if (w.queued_) {
      unlink(w);
      return nullptr;
    }
    if (w.connection) {
      Conn c = std::move(*w.connection);
      w.connection.reset();
      return release(std::move(c), now);
    }
    if (w.may_open) {
      w.may_open = false;
      return discard();
    }
    return nullptr;
  }

  /// A connection finished an exchange and may serve another. Returns the waiter it was handed
  /// to (wake it), or null when it went idle.
  Waiter* release(Conn conn, Nanos now) {
    if (head_ != nullptr) {
      Waiter* w = head_;
      unlink(*w);
      w->connection.emplace(std::move(conn));
      ++reused_total_;
      return w;
    }
    idle_.push_back(Idle{std::move(conn), now});
    return nullptr;
  }

  /// A connection that counted against the limit is closed (failed, not reusable, evicted). Returns
  /// the waiter given its slot (wake it: it may open a connection), or null.
  Waiter* discard() {
    if (head_ != nullptr) {
      Waiter* w = head_;
      unlink(*w);
      w->may_open = true;
      ++opened_total_;
      return w;
    }
    if (open_ > 0) --open_;
    return nullptr;
  }

  /// Closes idle connections for which keep(conn, idle_since) is false (the backend closed them,
  /// they idled too long). close(conn) is called for each before it is dropped. Returns how many.
  template <class Keep, class Close>
  std::size_t evict_idle(Keep&& keep, Close&& close) {
    std::size_t evicted = 0;
    std::size_t out = 0;
    for (std::size_t i = 0; i < idle_.size(); ++i) {
      if (keep(idle_[i].connection, idle_[i].since)) {
        if (out != i) idle_[out] = std::move(idle_[i]);
        ++out;
      } else {
        close(idle_[i].connection);
        ++evicted;
      }
    }
    idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(out), idle_.end());
    open_ -= static_cast<std::uint32_t>(evicted);
    return evicted;
  }

  /// Connections counted against the limit: idle, in use, or being opened.
  std::uint32_t open_count() const { return open_; }
  std::size_t idle_count() const { return idle_.size(); }
  std::uint32_t max_connections() const { return max_; }
  bool has_waiters() const { return head_ != nullptr; }
  /// New connections allowed so far (acquire kOpen, slots handed to waiters).
  std::uint64_t opened_total() const { return opened_total_; }
  /// Times a kept-alive connection was used again.
  std::uint64_t reused_total() const { return reused_total_; }

 private:
  struct Idle {
    Conn connection;
    Nanos since = 0;
  };

  void unlink(Waiter& w) {
    if (w.prev_ != nullptr) {
      w.prev_->next_ = w.next_;
    } else {
      head_ = w.next_;
    }
    if (w.next_ != nullptr) {
      w.next_->prev_ = w.prev_;
    } else {
      tail_ = w.prev_;
    }
    w.prev_ = w.next_ = nullptr;
    w.queued_ = false;
  }

  std::uint32_t max_;
  std::uint32_t open_ = 0;
  std::vector<Idle> idle_;
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  std::uint64_t opened_total_ = 0;
  std::uint64_t reused_total_ = 0;
};

}  // namespace kvroute::upstream
