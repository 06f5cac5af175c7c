#pragma once
// The gateway's configuration as plain, copyable values. Every field carries its default here, so
// a default-constructed struct is exactly what an omitted YAML key means (docs/configuration.md
// lists the same defaults; keep the two in step).
//
// Built by load_config_file / load_config_string (YAML) or config_from_flags (quick start), then
// checked by validate_config. Nothing in this module knows about routing, upstreams or sockets:
// policy names and parameters are kept as written, with their source locations, and the gateway
// checks them against the routing registry (PolicyParam::error formats its FILE:LINE message).

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/time_source.h"

namespace kvroute::config {

/// Where a value was written: FILE:LINE:COLUMN (1-based) and its key path
/// ("pools[0].backends[1].weight"). line == 0 means "not from a file" (flags, defaults).
struct ConfigLocation {
  std::string file;
  int line = 0;
  int column = 0;
  std::string key_path;

  /// Locations say where a value was written, not what it means: two configurations that differ
  /// only in layout compare equal (so a reload that only moved lines is not a change).
  bool operator==(const ConfigLocation&) const { return true; }
};

/// "FILE:LINE:COLUMN: KEY_PATH: REASON" (or "FILE: KEY_PATH: REASON" when line is 0; parts that
/// are empty are left out).
std::string format_config_error(const ConfigLocation& at, std::string_view reason);

/// An Error (code EINVAL) whose message is format_config_error(at, reason).
Error config_error(const ConfigLocation& at, std::string_view reason);

/// Key path -> location of every value read from a file, so checks that run after parsing
/// (validate_config, the gateway's policy checks) can still point at a line.
struct SourceMap {
  std::string file;  ///< the name errors print: the path given to the loader, or "command line"
  std::unordered_map<std::string, ConfigLocation> entries;

  /// The location of key_path; for a key that was not written (a default) the nearest written
  /// ancestor's line and column, else none. The result's key_path is always key_path itself.
  ConfigLocation at(std::string_view key_path) const;

  bool operator==(const SourceMap&) const { return true; }  // see ConfigLocation::operator==
};

/// host:port. host is a name, an IPv4 address or an IPv6 address (stored without brackets).
struct HostPort {
  std::string host;
  std::uint16_t port = 0;

  /// "host:port", with brackets around an IPv6 host.
  std::string to_string() const;
  bool operator==(const HostPort&) const = default;
};

struct ListenerConfig {
  HostPort address{"0.0.0.0", 8080};
  /// Worker threads (each with its own event loop and SO_REUSEPORT socket); 0 = number of cores.
  int workers = 0;
  bool operator==(const ListenerConfig&) const = default;
};

inline constexpr std::uint64_t kKiB = 1024;
inline constexpr std::uint64_t kMiB = 1024 * kKiB;
inline constexpr std::uint64_t kGiB = 1024 * kMiB;

struct LimitsConfig {
  std::uint64_t max_body_bytes = 16 * kMiB;    ///< larger request bodies get 413
  std::uint64_t max_header_bytes = 64 * kKiB;  ///< request line + headers; larger get 431
  std::uint32_t max_connections = 10'000;      ///< client connections, whole process
  bool operator==(const LimitsConfig&) const = default;
};

struct ServerConfig {
  Nanos shutdown_grace = 30 * kNanosPerSecond;  ///< on SIGTERM: time in-flight requests get to finish
  bool backend_header = false;                  ///< add `x-kvroute-backend: <backend name>` to responses
  bool request_id = true;  ///< keep the client's `x-request-id` or make one; send it upstream and back
  bool operator==(const ServerConfig&) const = default;
};

struct AdminConfig {
  std::optional<HostPort> listen;    ///< none: no admin API
  std::optional<std::string> token;  ///< none: no authentication (`Authorization: Bearer <token>` otherwise)
  bool operator==(const AdminConfig&) const = default;
};

struct BackendConfig {
  std::string url;   ///< canonical form: http://host:port[/base]
  std::string host;  ///< as in url, IPv6 without brackets
  std::uint16_t port = 80;
  std::string base_path;  ///< "" or "/base" (no trailing slash): prefixed to every request path
  std::string name;       ///< shown in logs, metrics and x-kvroute-backend; default host:port[/base]
  /// Share of traffic relative to the pool's other backends. 0 = drained: kept (health checks,
  /// admin API) but sent no new requests.
  std::uint32_t weight = 1;
  std::map<std::string, std::string> labels;
  std::uint32_t max_connections = 64;               ///< open connections to this backend, per worker
  std::optional<std::uint64_t> kv_capacity_tokens;  ///< KV-cache size hint for prefix-aware policies
  std::optional<std::uint32_t> max_concurrency;     ///< hint: requests it can batch at once
  std::vector<std::string> models;                  ///< models it serves; empty = every model of its pool
  bool operator==(const BackendConfig&) const = default;
};

/// One policy parameter: a YAML scalar kept as written, with where it was written, so that the
/// routing registry can check it and still report FILE:LINE.
struct PolicyParam {
  std::string value;
  ConfigLocation where;

  /// A finite number ("0.5", "3", "1e-3"), or an error naming this parameter's location.
  Result<double> as_number() const;
  /// A whole number in [min, max].
  Result<std::int64_t> as_integer(std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                                  std::int64_t max = std::numeric_limits<std::int64_t>::max()) const;
  /// true / false.
  Result<bool> as_bool() const;
  /// A duration ("250ms", "2s", a number of seconds).
  Result<Nanos> as_duration() const;
  /// An Error located at this parameter: "FILE:LINE:COL: pools[0].policy.params.NAME: reason".
  Error error(std::string_view reason) const;

  bool operator==(const PolicyParam&) const = default;
};

struct PolicyConfig {
  std::string name = "least_request";
  ConfigLocation where;  ///< of the name (or of the pool when the name was left to its default)
  std::map<std::string, PolicyParam> params;

  /// The parameter called key, or null.
  const PolicyParam* param(std::string_view key) const;
  /// An Error located at the policy name ("unknown policy ...").
  Error error(std::string_view reason) const;
  /// The parameters as name -> text, the form the routing registry parses.
  std::map<std::string, std::string, std::less<>> values() const;
  /// Locates an error that a parameter parser reported without a location: at the parameter
  /// whose name the message quotes ('name' or "name"), else at the policy name. The message is
  /// kept; the code too.
  Error locate(const Error& error) const;

  bool operator==(const PolicyConfig&) const = default;
};

/// Per-pool upstream timeouts; all strictly positive.
struct TimeoutsConfig {
  Nanos connect = 2 * kNanosPerSecond;  ///< TCP connect to a backend
  /// Streamed requests: from sending the request to the first event. Generous because a long
  /// prompt on a busy server first waits in its queue, then prefills (a 100k-token prompt at a few
  /// thousand tokens/s is tens of seconds); 60s still catches a stuck server within a minute.
  /// Non-streamed requests answer only once the whole completion is done: `total` bounds them.
  Nanos first_token = 60 * kNanosPerSecond;
  Nanos stream_idle = 30 * kNanosPerSecond;  ///< streamed requests: longest silence between two events
  Nanos total = 600 * kNanosPerSecond;       ///< whole exchange with the backend
  bool operator==(const TimeoutsConfig&) const = default;
};

struct HeaderValue {
  std::string name;   ///< as written
  std::string value;  ///< ${VAR} references already expanded
  bool operator==(const HeaderValue&) const = default;
};

/// Changes to the request headers sent upstream.
struct HeaderRules {
  std::vector<HeaderValue> add;    ///< set (replacing any client value), in file order
  std::vector<std::string> strip;  ///< removed from the client's request; lower case
  bool operator==(const HeaderRules&) const = default;
};

enum class RoutingKeySource : std::uint8_t {
  kNone,     ///< no key: the policy decides from load and prompt alone
  kHeader,   ///< the value of RoutingKeyConfig::header
  kUser,     ///< the request body's "user" field
  kSession,  ///< the x-session-id header, else the body's "user" field
};

/// The key that consistent-hashing policies hash so one conversation keeps its backend.
struct RoutingKeyConfig {
  RoutingKeySource from = RoutingKeySource::kNone;
  std::string header;  ///< lower case; set iff from == kHeader
  bool operator==(const RoutingKeyConfig&) const = default;
};

/// A retry goes to another backend of the same pool, and only before any byte of the response
/// has reached the client. Connection failures (refused, reset, connect timeout) always qualify.
struct RetryConfig {
  int attempts = 1;                             ///< extra attempts after the first; 0 = never retry
  std::vector<int> statuses = {502, 503, 504};  ///< response statuses that also qualify
  bool operator==(const RetryConfig&) const = default;
};

/// Scraping of the backends' own Prometheus endpoint (vLLM and SGLang metric names), by the control
/// thread, for the policies that read queue depth and KV usage (kv_aware, llmd_default, cost).
struct MetricsScrapeConfig {
  /// true: always scrape; false: never; nullopt ("auto", the default): scrape when the pool's
  /// policy reads the figures (kv_aware, llmd_default, cost), so that a least_request pool in front
  /// of servers without a vLLM-style page (Ollama, llama.cpp, TGI) sends them nothing.
  std::optional<bool> enabled;
  std::string path = "/metrics";  ///< appended to the backend's base path
  /// Time between two scrapes of one backend. 50ms is the llm-d endpoint picker's refresh interval and
  /// the interval kvroute-bench sim uses, so live and offline policies see equally fresh figures.
  Nanos interval = 50 * kNanosPerMilli;
  Nanos timeout = 1 * kNanosPerSecond;  ///< one scrape, connect included; at most `interval` x 100
  bool operator==(const MetricsScrapeConfig&) const = default;
};

/// The gateway-side queue of a pool: requests a policy holds back (every backend saturated; the
/// `cost` policy's late binding) wait here, first in first out, and are offered to the policy again
/// whenever a backend's state changes, until one is chosen or they wait too long.
struct HoldQueueConfig {
  std::uint32_t max_requests =
      4096;  ///< held at once in this pool, whole process; beyond: 503 at once (0 = never hold)
  /// Longest a request is held; then it gets 503. Counted against nothing else: the upstream
  /// timeouts start when the request is sent.
  Nanos max_wait = 60 * kNanosPerSecond;
  bool operator==(const HoldQueueConfig&) const = default;
};

struct PoolConfig {
  std::string name;                            ///< required, unique
  std::vector<std::string> models;             ///< exact names or globs (`*` any run, `?` one byte)
  std::map<std::string, std::string> aliases;  ///< requested name -> model sent to the backend
  bool is_default = false;                     ///< receives every model no pool names (at most one pool)
  std::vector<BackendConfig> backends;
  PolicyConfig policy;
  TimeoutsConfig timeouts;
  HeaderRules headers;
  RoutingKeyConfig routing_key;
  RetryConfig retries;
  MetricsScrapeConfig metrics;
  HoldQueueConfig queue;
  bool operator==(const PoolConfig&) const = default;
};

struct GatewayConfig {
  std::vector<ListenerConfig> listeners = {ListenerConfig{}};
  LimitsConfig limits;
  ServerConfig server;
  AdminConfig admin;
  std::vector<PoolConfig> pools;
  SourceMap sources;  ///< where each value came from (not part of equality)
  bool operator==(const GatewayConfig&) const = default;
};

/// The rules that span several fields (each field is checked as it is read): at least one
/// listener and one pool, distinct listener addresses, unique pool names, at most one default
/// pool, every pool matching some model and holding a backend with weight >= 1, unique backend
/// urls and names within a pool, no model name, alias or pattern claimed twice, alias targets and
/// backend model lists served by their pool, timeouts within `total`. All violations are reported,
/// one per line, each located through config.sources. Any thread; pure.
Result<void> validate_config(const GatewayConfig& config);

}  // namespace kvroute::config
