#pragma once
// A kept-alive connection to a backend, as the per-worker ConnectionPool stores it, and the socket
// helpers around it. Networking code only (includes Asio).

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>

#include "common/time_source.h"
#include "upstream/backend_target.h"
#include "upstream/connection_pool.h"

namespace kvroute::upstream {

struct UpstreamConnection {
  boost::asio::ip::tcp::socket socket;
  std::uint64_t exchanges = 0;  ///< exchanges completed on it; 0 = fresh
  Nanos idle_since = 0;         ///< when it last went back to the pool
};

/// The pool type workers keep per backend.
using UpstreamPool = ConnectionPool<UpstreamConnection>;

/// Whether an idle connection may carry another request: nothing to read on it (no EOF, no reset,
/// no stray bytes). One non-blocking recv(MSG_PEEK); a connection the backend closed while idle is
/// caught here instead of failing the request that would reuse it. (A close that races with the
/// request is still possible; the request path retries that once on a fresh connection.)
bool idle_connection_usable(boost::asio::ip::tcp::socket& socket);

/// The Asio endpoint of an address.
boost::asio::ip::tcp::endpoint to_endpoint(const ResolvedAddress& address);

/// Closes a socket, ignoring errors.
void close_quietly(boost::asio::ip::tcp::socket& socket);

}  // namespace kvroute::upstream
