#pragma once
// The admin listener: HTTP/1.1 with keep-alive on the control thread's io_context (Beast,
// coroutines), answering through an AdminRouter (admin_router.h). Small by design: a handful of
// connections from Prometheus and operators, never client traffic, so one thread serves it and a
// connection limit keeps a misbehaving client from taking the control thread's descriptors.
//
// No Asio types here (forward declaration only), so the gateway's headers stay cheap.

#include <cstdint>
#include <memory>
#include <string>

#include "admin/admin_router.h"
#include "common/result.h"
#include "common/time_source.h"
#include "config/config.h"

namespace boost::asio {
class io_context;
}

namespace kvroute::admin {

struct AdminServerOptions {
  std::optional<std::string> token;           ///< none: no authentication
  std::size_t max_connections = 64;           ///< beyond: new connections are closed at once
  Nanos idle_timeout = 60 * kNanosPerSecond;  ///< a connection silent this long (or this slow) is closed
};

class AdminServer {
 public:
  AdminServer(boost::asio::io_context& io, AdminRoutes routes, AdminServerOptions options);
  /// Stops (see stop()).
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /// Control thread, before start(). Binds address (port 0: a free port) and returns the bound
  /// port; an Error (errno code, message naming the address) when it cannot.
  Result<std::uint16_t> listen(const config::HostPort& address);

  /// Control thread. Accepts and serves from now on (while the io_context runs).
  void start();

  /// Control thread. Closes the listener and every admin connection (a request being answered is
  /// abandoned), so nothing of the server keeps the io_context busy. Idempotent.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace kvroute::admin
