#pragma once
// The load generator of the capacity benchmark: C concurrent streaming chat completions spread
// round robin over the instances, each replaced by a new one when it ends, with a warm-up before
// and the server's /sim/stats read around the measured window.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

#include "common/result.h"
#include "common/time_source.h"
#include "histogram.h"

namespace kvroute::bench {

/// An http://host:port[/] base URL, resolved once.
struct Target {
  std::string url;
  std::string host_port;  ///< for the Host header and for matching x-sim-instance
  boost::asio::ip::tcp::endpoint endpoint;
};

/// Parses and resolves "http://host:port"; start-up only (blocks on the resolver).
Result<Target> resolve_target(const std::string& url);

struct LoadConfig {
  std::vector<Target> targets;
  std::string model;
  int streams = 1000;        ///< concurrent streams kept open
  int client_threads = 1;    ///< io_context threads; streams are split between them
  double ramp_s = 2;         ///< stream starts are spread over this long
  double warmup_s = 5;       ///< after the ramp, before the window
  double duration_s = 60;    ///< the measured window
  int prompt_min_bytes = 1024;
  int prompt_max_bytes = 2048;
  int output_min_tokens = 200;  ///< sim_output_tokens is drawn uniformly per request
  int output_max_tokens = 400;
  double stall_timeout_s = 30;  ///< a stream silent this long is aborted and counted
  std::uint64_t seed = 1;
  /// Called on the controller thread right after the window opens / closes (CPU sampling).
  std::function<void()> on_window_start;
  std::function<void()> on_window_end;
};

/// What the client saw inside the window. Counters are per thread while running, merged after.
struct ClientStats {
  std::uint64_t requests_sent = 0;
  std::uint64_t streams_completed = 0;  ///< got [DONE]
  std::uint64_t stream_errors = 0;      ///< connection reset, in-stream error, no [DONE]
  std::uint64_t http_errors = 0;        ///< status other than 200
  std::uint64_t connect_errors = 0;
  std::uint64_t stalls = 0;  ///< streams aborted by the stall timeout
  std::uint64_t tokens = 0;  ///< content events
  std::uint64_t events = 0;  ///< all SSE events
  std::uint64_t reads = 0;   ///< completed socket reads that delivered body bytes
  std::uint64_t body_bytes = 0;
  LogHistogram gap_us;       ///< per token: time since the previous token of the same stream
  LogHistogram ttft_us;      ///< request written to first content event
  LogHistogram loop_lag_us;  ///< how late a 1 ms client timer fires: is the client keeping up?
  void merge(const ClientStats& o);
};

/// /sim/stats of one instance, taken at the end of the window.
struct InstanceStats {
  std::string url;
  bool ok = false;
  std::string error;
  nlohmann::json body;
};

struct LoadResult {
  double window_s = 0;
  ClientStats client;
  std::vector<InstanceStats> servers;
  std::vector<std::string> warnings;
};

/// Runs the whole load (ramp, warm-up, reset, window, stats) and returns when every stream has
/// been closed. Blocks the calling thread; start-up errors are returned, not thrown.
Result<LoadResult> run_load(const LoadConfig& config, const TimeSource& clock);

struct HttpReply {
  int status = 0;
  std::string body;
};
/// One blocking HTTP/1.1 request on its own connection (set-up and tear-down only).
Result<HttpReply> http_fetch(const Target& target, std::string_view method, std::string_view path,
                             std::string_view body = {}, std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace kvroute::bench
