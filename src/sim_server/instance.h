#pragma once
// One simulated inference server: a listener, an engine, its metrics and its fault policy, all on
// one io_context (one thread), so nothing here is ever touched by two threads and nothing locks.
//
// The engine loop (a coroutine): while the engine has work, step(start) plans one forward pass,
// a timer sleeps until the pass's modelled end, then the pass's token events are handed to the
// sessions waiting for them; a streaming session writes each event at once (no polling: the
// engine loop calls into the session, which starts an async write). While busy, each step starts
// at the previous step's end, so the modelled schedule does not drift by the time delivery takes;
// after an idle spell (or a lag over kMaxLag) it starts at the wall clock's now. When the engine
// is idle the loop parks on its timer and a new request wakes it.
//
// Control requests for another instance (?instance=i) run on that instance's thread through
// co_spawn on its executor; that is the only way one instance's state is reached from outside.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/random.h"
#include "common/time_source.h"
#include "openai/request_view.h"
#include "sim/engine.h"
#include "sim/failure_modes.h"
#include "sim/preset.h"
#include "sim_server/chunks.h"
#include "sim_server/generation.h"
#include "sim_server/lateness.h"
#include "sim_server/metrics.h"

namespace kvroute::sim_server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class Session;

/// Everything that makes one instance.
struct InstanceConfig {
  std::uint32_t index = 0;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  ///< 0: the OS picks a free port
  sim::Preset preset;
  std::string model;          ///< served model name
  double speed_factor = 1.0;  ///< effective engine speed factor (per-instance factor x --speedup)
  std::uint64_t max_body_bytes = 16u << 20;
  sim::FaultSettings faults;
  std::uint64_t seed = 0;
};

/// State shared by the instances that live on one thread.
struct Worker {
  Worker() : ioc(1) {}
  asio::io_context ioc;
  openai::RequestParser parser;  ///< one per thread (simdjson buffers are reused)
};

/// One generation request between admission and its last byte. Pooled per instance (the strings
/// and vectors keep their capacity), identified towards the engine by slot and generation.
/// An embeddings request has one of these per input, each with `pooling` set.
struct RequestState {
  sim::RequestId engine_id = 0;
  std::uint32_t slot = 0;
  bool in_engine = false;  ///< added to the engine, neither finished nor aborted
  Session* session = nullptr;

  // What was asked.
  Api api = Api::kChat;
  /// An embeddings input: a prompt to prefill whose one engine token stands for the pooler's
  /// output; it finishes with its prefill and is counted as no generation (vLLM's pooling requests).
  bool pooling = false;
  bool stream = false;
  bool include_usage = false;
  bool continuous_usage = false;
  std::uint32_t prompt_tokens = 0;
  OutputPlan plan;
  std::uint64_t text_seed = 0;
  std::uint32_t close_after_tokens = 0;  ///< fault: 0 or K
  std::uint32_t token_delay_ms = 0;      ///< fault: delay before each token
  std::string response_id;
  std::int64_t created = 0;
  ChunkFormatter chunks;

  // What the engine did (filled by the engine loop).
  std::uint32_t tokens_ready = 0;
  std::vector<Nanos> token_end;  ///< scheduled end of the step that produced token i
  bool finished = false;
  bool info_known = false;
  std::uint32_t cached_tokens = 0;
  Nanos arrival = 0;
  Nanos first_scheduled = 0;
  Nanos first_token = 0;
  Nanos last_token = 0;

  UsageCounts usage(std::uint32_t completion_tokens) const {
    return UsageCounts{prompt_tokens, completion_tokens, cached_tokens};
  }
};

/// A request ready for the engine (built by a session from the parsed body).
struct Submission {
  Api api = Api::kChat;
  bool pooling = false;  ///< an embeddings input (RequestState::pooling); plan.output_tokens must be 1
  bool stream = false;
  bool include_usage = false;
  bool continuous_usage = false;
  std::uint32_t prompt_tokens = 0;
  std::vector<std::uint64_t> block_hashes;
  OutputPlan plan;
  std::uint64_t text_seed = 0;
  sim::RequestFault fault;
};

/// Answer of a control endpoint.
struct ControlReply {
  int status = 200;
  std::string body;  ///< JSON
};

class Instance {
 public:
  /// Beyond this lag behind the modelled schedule, a busy engine restarts from the wall clock.
  static constexpr Nanos kMaxLag = 50 * kNanosPerMilli;

  Instance(InstanceConfig config, Worker& worker, const RealClock& clock);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  /// Binds and listens (unless refuse_connections is set; then the port is reserved by a bind and
  /// released). Main thread, before start(); throws std::system_error on failure.
  void open();
  /// Starts the engine loop and the accept loop on the instance's io_context. Main thread, once.
  void start();
  /// Stops accepting, closes every connection (aborting in-flight requests) and ends the engine
  /// loop, so the io_context runs out of work. Any thread.
  void request_stop();
  /// Instances of the same process, by index, for ?instance=i. Main thread, before start().
  void set_peers(std::span<Instance* const> peers) { peers_ = peers; }

  // Read-only facts; any thread after open().
  std::uint32_t index() const { return config_.index; }
  std::uint16_t port() const { return port_; }
  /// "host:port", the value of the x-sim-instance header.
  const std::string& authority() const { return authority_; }
  const std::string& model() const { return config_.model; }
  const sim::Preset& preset() const { return config_.preset; }
  const InstanceConfig& config() const { return config_; }
  asio::io_context::executor_type executor() { return worker_.ioc.get_executor(); }

  // Everything below: instance thread only.
  openai::RequestParser& parser() { return worker_.parser; }
  const RealClock& clock() const { return clock_; }
  sim::FaultPolicy& faults() { return faults_; }
  Random& fault_random() { return fault_random_; }
  /// The stream response ids are drawn from.
  Random& id_random() { return id_random_; }
  std::uint32_t waiting_requests() const { return engine_.stats().num_waiting; }
  bool stopping() const { return stopping_; }
  /// The instance i of this process, or nullptr.
  Instance* peer(std::uint32_t i) const { return i < peers_.size() ? peers_[i] : nullptr; }

  /// Admits a request into the engine; nullptr if the engine refuses it (too big for the cache).
  RequestState* submit(Submission&& submission, Session& session);
  /// Takes a request out of the engine if it is still there (client gone, fault) and counts it
  /// as finished_reason="abort". Deferred to the end of delivery when called from inside it.
  void abort(RequestState& request);
  /// Returns a request's slot to the pool; the request must be out of the engine.
  void release(RequestState& request);
  /// One token's lateness: write completion minus its step's scheduled end.
  void record_lateness(Nanos lateness);

  /// Renders /metrics into out.
  void render_metrics(std::string& out) const;
  /// The engine's figures as vLLM reports them: the stand-in tokens of embeddings inputs are not
  /// generation tokens.
  sim::EngineStats engine_stats() const;
  /// /sim/faults, /sim/faults/clear, /sim/stats, /sim/stats/reset on this instance.
  ControlReply control(std::string_view method, std::string_view path, std::string_view body);

  void session_started(Session* s) { sessions_.insert(s); }
  void session_ended(Session* s) { sessions_.erase(s); }

 private:
  asio::awaitable<void> engine_loop();
  asio::awaitable<void> accept_loop();
  void deliver(Nanos step_end);
  void request_completed(RequestState& st, Nanos end);
  /// Counts the last step's tokens that stand for embeddings outputs (pooling_outputs_).
  void count_pooling_outputs();
  /// Marks a request out of the engine (finished or aborted).
  void leave_engine(RequestState& st);
  void wake_engine();
  void stop_now();
  void listen();
  /// Opens or closes the listener to match the fault settings; error text on failure.
  std::string sync_listener();
  RequestState* lookup(sim::RequestId id);

  InstanceConfig config_;
  Worker& worker_;
  const RealClock& clock_;
  sim::Engine engine_;
  sim::FaultPolicy faults_;
  SeededRandom fault_random_;
  SeededRandom id_random_;
  InstanceMetrics metrics_;
  LatenessHistogram lateness_;

  tcp::acceptor acceptor_;
  tcp::endpoint endpoint_;
  std::uint16_t port_ = 0;
  std::string authority_;
  asio::steady_timer engine_timer_;
  bool engine_parked_ = false;
  bool stopping_ = false;
  bool started_ = false;
  bool delivering_ = false;
  std::vector<sim::RequestId> deferred_aborts_;
  std::uint64_t pooling_outputs_ = 0;    ///< engine tokens sampled for embeddings inputs
  std::uint32_t pooling_in_engine_ = 0;  ///< embeddings inputs in the engine now

  std::vector<std::unique_ptr<RequestState>> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::uint32_t generation_ = 0;
  std::unordered_set<Session*> sessions_;
  std::span<Instance* const> peers_;
};

}  // namespace kvroute::sim_server
