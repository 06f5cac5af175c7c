#pragma once
// Where and how to reach one backend: its resolved addresses, the Host value and base path the
// request head needs, its name for x-kvroute-backend, and its connection limit. Built on the
// control thread from the backend's config (names are resolved there, once, never on the request
// path) and then only read by workers.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"

namespace kvroute::upstream {

/// An IPv4 or IPv6 address and port, without a socket library's types.
struct ResolvedAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  ///< 4 bytes used for IPv4
  std::uint16_t port = 0;
  bool operator==(const ResolvedAddress&) const = default;
};

struct BackendTarget {
  std::string url;   ///< canonical url (identity)
  std::string name;  ///< for x-kvroute-backend and logs
  std::string host;  ///< host as configured (IPv6 without brackets)
  std::uint16_t port = 80;
  std::string host_header;  ///< "host:port" ("[v6]:port"), the Host value sent upstream
  std::string base_path;    ///< "" or "/base"
  std::uint32_t max_connections = 64;
  std::vector<std::string> models;         ///< models it serves; empty = all of its pool's
  std::vector<ResolvedAddress> addresses;  ///< tried in order when connecting
};

/// Builds the target for a configured backend and resolves its host (getaddrinfo, blocking: start-up
/// and reload only). Error (code EHOSTUNREACH-like, 113) when the name does not resolve.
Result<BackendTarget> make_backend_target(const config::BackendConfig& backend);

/// Parses a numeric IPv4/IPv6 address without resolving; nullopt for a name.
std::optional<ResolvedAddress> parse_numeric_address(const std::string& host, std::uint16_t port);

}  // namespace kvroute::upstream
