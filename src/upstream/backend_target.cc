#include "upstream/backend_target.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <optional>

namespace kvroute::upstream {

std::optional<ResolvedAddress> parse_numeric_address(const std::string& host, std::uint16_t port) {
  ResolvedAddress a;
  a.port = port;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    std::memcpy(a.bytes.data(), &v4, 4);
    return a;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    a.v6 = true;
    std::memcpy(a.bytes.data(), &v6, 16);
    return a;
  }
  return std::nullopt;
}

Result<BackendTarget> make_backend_target(const config::BackendConfig& backend) {
  BackendTarget t;
  t.url = backend.url;
  t.name = backend.name.empty() ? backend.url : backend.name;
  t.host = backend.host;
  t.port = backend.port;
  const bool v6_literal = backend.host.find(':') != std::string::npos;
  t.host_header = (v6_literal ? "[" + backend.host + "]" : backend.host) + ":" + std::to_string(backend.port);
  t.base_path = backend.base_path;
  t.max_connections = backend.max_connections;
  t.models = backend.models;

  if (auto numeric = parse_numeric_address(backend.host, backend.port)) {
    t.addresses.push_back(*numeric);
    return t;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(backend.host.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    return Error{113,
                 "backend " + backend.url + ": cannot resolve host \"" + backend.host + "\": " + ::gai_strerror(rc)};
  }
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    ResolvedAddress a;
    a.port = backend.port;
    if (ai->ai_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
      std::memcpy(a.bytes.data(), &sin->sin_addr, 4);
    } else if (ai->ai_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
      a.v6 = true;
      std::memcpy(a.bytes.data(), &sin6->sin6_addr, 16);
    } else {
      continue;
    }
    bool seen = false;
    for (const auto& b : t.addresses) seen = seen || b == a;
    if (!seen) t.addresses.push_back(a);
  }
  ::freeaddrinfo(found);
  if (t.addresses.empty()) {
    return Error{113, "backend " + backend.url + ": host \"" + backend.host + "\" has no IPv4 or IPv6 address"};
  }
  return t;
}

}  // namespace kvroute::upstream
