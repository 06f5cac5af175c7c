#pragma once
// Parsers for the value syntaxes the configuration uses (durations, sizes, addresses, backend
// URLs, ${VAR} references, model globs). Shared by the YAML loader and the command-line flags so
// both accept exactly the same text. Errors carry only the reason ("port out of range
// (1-65535)"); the caller adds where the text came from. All functions are pure and thread-safe.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/time_source.h"
#include "config/config.h"

namespace kvroute::config {

/// Longest duration accepted anywhere (keeps arithmetic on Nanos far from overflow).
inline constexpr Nanos kMaxDuration = 365LL * 24 * 3600 * kNanosPerSecond;

/// "250ms", "2s", "1.5s", "1m", "1h", "1m30s", "90" (seconds), "0.25" (seconds); >= 0.
Result<Nanos> parse_duration(std::string_view text);

/// The shortest text parse_duration reads back as d: "2s", "250ms", "1m30s", "0s".
std::string format_duration(Nanos d);

/// "16MiB", "512KiB", "1GiB", "1024", "1024B" (whole numbers, binary units; "MB" is refused as
/// ambiguous).
Result<std::uint64_t> parse_size(std::string_view text);

/// A whole decimal number ("-3", "42"); nothing else.
Result<std::int64_t> parse_integer(std::string_view text);

/// A finite decimal or exponent number ("0.5", "3", "1e-3").
Result<double> parse_number(std::string_view text);

/// "true" / "false" (also "True", "TRUE", ...). YAML 1.1's yes/no/on/off are refused.
Result<bool> parse_bool(std::string_view text);

/// "host:port" or "[ipv6]:port" for sockets kvroute listens on; port 0 = any free port.
Result<HostPort> parse_listen_address(std::string_view text);

/// A backend base URL: http://host[:port][/base]. Port defaults to 80, must be 1-65535; no
/// user info, query or fragment; a trailing slash is dropped. Fills url (canonical), host, port,
/// base_path and name (host:port[/base]); other fields keep their defaults.
Result<BackendConfig> parse_backend_url(std::string_view text);

/// Looks up an environment variable; none when it is not set.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// The process environment (::getenv).
EnvLookup process_env();

/// Replaces each ${NAME} (NAME = [A-Za-z_][A-Za-z0-9_]*) with the variable's value; "$${" is a
/// literal "${"; any other '$' is kept. An unset variable is an error (a missing secret should
/// stop start-up, not send an empty Authorization header).
Result<std::string> expand_env(std::string_view text, const EnvLookup& env);

/// True when text contains a glob metacharacter ('*' or '?').
bool is_glob(std::string_view pattern);

/// Glob match over bytes: '*' matches any run (also empty), '?' exactly one byte, everything
/// else itself. Linear time for patterns with one '*', O(n*m) worst case; never allocates.
bool glob_match(std::string_view pattern, std::string_view text);

/// True for an HTTP header field name (RFC 9110 token characters).
bool is_header_name(std::string_view name);

/// "parent.key", or parent["key"] when key is not a plain identifier ([A-Za-z0-9_]+), so paths
/// stay readable for keys such as model names ("aliases[\"llama-3.1\"]").
std::string key_path_child(std::string_view parent, std::string_view key);

/// "parent[index]".
std::string key_path_index(std::string_view parent, std::size_t index);

/// Lower-case ASCII copy.
std::string to_lower(std::string_view s);

}  // namespace kvroute::config
