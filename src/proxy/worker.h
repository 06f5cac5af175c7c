#pragma once
// One worker thread of the gateway: its own io_context, its own SO_REUSEPORT acceptors, and
// everything a request needs that is not shared: sessions, upstream connection pools, policy
// instances, the JSON parser, a random source, a stats shard, and the free lists of the buffers only
// an exchange needs (so an idle client connection holds none, see buffer_pool.h). Nothing here is
// locked; the only shared state a request touches is the published snapshot (read through a
// generation check, see current()) and the per-backend atomics of routing::BackendState.
//
// Networking code only (includes Asio). Internal to the proxy library.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/random.h"
#include "common/time_source.h"
#include "openai/request_view.h"
#include "proxy/buffer_pool.h"
#include "proxy/routing_snapshot.h"
#include "proxy/stats.h"
#include "proxy/worker_hold_queue.h"
#include "routing/policy.h"
#include "routing/prompt_features.h"
#include "upstream/upstream_connection.h"

namespace kvroute::proxy {

class Session;

/// State the control thread publishes and every worker reads.
struct SharedState {
  RealClock clock;
  /// Bumped (release) after `snapshot` is stored: a worker compares it with the generation it holds,
  /// a relaxed-cost check per request, and loads the shared pointer only when it changed.
  std::atomic<std::uint64_t> snapshot_generation{0};
  std::atomic<std::shared_ptr<const RoutingSnapshot>> snapshot;
  /// The /v1/models body (not on the hot path: loaded per /v1/models request).
  std::atomic<std::shared_ptr<const std::string>> models_body;
  /// Open client connections, whole process (limits.max_connections); touched once per connection.
  std::atomic<std::uint32_t> client_connections{0};

  void publish(RoutingSnapshotPtr snap) {
    const auto gen = snap->generation;
    snapshot.store(std::move(snap));
    snapshot_generation.store(gen, std::memory_order_release);
  }
};

class Worker {
 public:
  /// A pool's per-worker part: the policy instance, the connection pool of each backend, and the
  /// queue of requests the policy holds.
  struct LocalPool {
    std::unique_ptr<routing::Policy> policy;
    std::vector<upstream::UpstreamPool*> connections;  ///< [i] for backend i of the pool's set
    WorkerHoldQueue* hold = nullptr;                   ///< never null (see hold_queue())
  };
  /// The worker's view of one snapshot. Sessions hold it (shared_ptr, this worker's control block
  /// only) for the duration of a request, so a snapshot change never pulls state from under them.
  struct LocalSnapshot {
    RoutingSnapshotPtr snapshot;
    std::vector<LocalPool> pools;
  };

  Worker(SharedState& shared, unsigned index, std::uint64_t seed);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Control thread, before run(): opens an acceptor on `endpoint` (SO_REUSEPORT, so every worker
  /// can bind the same address). Throws boost::system::system_error on failure. Returns the bound
  /// endpoint (the real port when the port was 0).
  boost::asio::ip::tcp::endpoint listen(const boost::asio::ip::tcp::endpoint& endpoint);

  /// The worker thread's body: serves until drained and every session has ended.
  void run();
  /// Any thread: stop accepting, close idle client connections, let requests in flight finish.
  void begin_drain();
  /// Any thread: close everything now (the grace period is over).
  void force_close();

  // ---- Worker thread only, for sessions ----
  boost::asio::io_context& io() { return io_; }
  unsigned index() const { return index_; }
  const SharedState& shared() const { return shared_; }
  SharedState& shared() { return shared_; }
  const TimeSource& clock() const { return shared_.clock; }
  Random& random() { return random_; }
  WorkerStats& stats() { return stats_; }
  const WorkerStats& stats() const { return stats_; }
  openai::RequestParser& json_parser() { return json_parser_; }
  /// Read blocks shared by this worker's sessions (client and upstream reads).
  BufferPool& buffers() { return buffers_; }
  /// Request body buffers shared by this worker's sessions.
  BodyBufferPool& bodies() { return bodies_; }
  /// This worker's sessions waiting for a request with a read (and a block) pending.
  IdleReadList& idle_reads() { return idle_reads_; }
  /// Scratch for the canonical prompt between parse and hashing (used synchronously only).
  std::string& prompt_scratch() { return prompt_scratch_; }
  /// Prefix hashes and token estimate of a prompt (used synchronously only).
  routing::PromptFeatureBuilder& prompt_features() { return prompt_features_; }
  bool draining() const { return draining_; }
  /// The current snapshot, refreshed when the control thread published a new one.
  const std::shared_ptr<LocalSnapshot>& current();
  /// Fills `out` with a fresh request id (32 hex digits, unique per process run).
  void next_request_id(std::string& out);

  void session_started(Session* s);
  void session_ended(Session* s);

  /// This worker's hold queue for the pool named `pool`, made on first use. Keyed by name, like the
  /// connection pools by backend, so held requests keep their places across reloads.
  WorkerHoldQueue& hold_queue(const std::string& pool) {
    auto& q = hold_queues_[pool];
    if (!q) q = std::make_unique<WorkerHoldQueue>(io_);
    return *q;
  }

 private:
  boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor);
  boost::asio::awaitable<void> sweep_loop();
  upstream::UpstreamPool& connection_pool(const routing::Backend& backend, std::uint32_t max_connections);
  void close_idle_connections(bool all);

  /// The worker's free lists keep what concurrent exchanges gave back, up to these many entries,
  /// and give back half of what a period of exchanges did not need down to the floors
  /// (FreeListDecay): 16 blocks (256 KiB) and 16 body buffers at rest, at most 1024 of each (16 MiB
  /// of blocks), enough for 1024 exchanges at once with no allocation per exchange.
  static constexpr std::size_t kKeepFreeBlocks = 16;
  static constexpr std::size_t kMaxFreeBlocks = 1024;
  static constexpr std::size_t kKeepFreeBodies = 16;
  static constexpr std::size_t kMaxFreeBodies = 1024;

  SharedState& shared_;
  unsigned index_;
  /// Declared before io_: sessions, destroyed with the io_context's pending handlers, give their
  /// blocks back and leave the idle list on the way.
  BufferPool buffers_{kKeepFreeBlocks, kMaxFreeBlocks};
  BodyBufferPool bodies_{openai::required_padding(), kKeepFreeBodies, kMaxFreeBodies};
  IdleReadList idle_reads_;
  boost::asio::io_context io_;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  boost::asio::steady_timer sweep_timer_;
  SeededRandom random_;
  WorkerStats stats_;
  openai::RequestParser json_parser_;
  std::string prompt_scratch_;
  routing::PromptFeatureBuilder prompt_features_;
  std::shared_ptr<LocalSnapshot> local_;
  std::uint64_t local_generation_ = 0;
  /// Connection pools by backend identity (its shared state lives as long as some snapshot names the
  /// url, and keeps its address), so pools survive snapshot changes.
  struct PoolEntry {
    std::shared_ptr<routing::BackendState> state;  ///< keeps the key's address from being reused
    std::unique_ptr<upstream::UpstreamPool> pool;
  };
  std::unordered_map<const routing::BackendState*, PoolEntry> pools_;
  /// Declared after io_: destroyed first, while the io_context their timers belong to still exists.
  std::unordered_map<std::string, std::unique_ptr<WorkerHoldQueue>> hold_queues_;
  Session* sessions_ = nullptr;  ///< intrusive list of live sessions
  std::uint64_t request_id_prefix_;
  std::uint64_t request_id_counter_ = 0;
  bool draining_ = false;
};

}  // namespace kvroute::proxy
