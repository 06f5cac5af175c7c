#pragma once
// A small HTTP/1.1 GET client for the control thread's own requests to backends: the model list
// (/v1/models) and the metrics scrape (/metrics). Not the data path: requests from clients go through
// the workers' connection pools (session.cc).
//
// One client talks to one backend over at most one connection, which it keeps alive between calls
// when the backend allows it (a scrape every 50 ms must not cost a TCP handshake each time). A kept
// connection is checked before reuse (nothing to read on it), and a request on a reused connection
// that fails before any byte of the answer arrived is retried once on a fresh one, as the data path
// does: the backend may have closed it just as we sent. One deadline covers the whole call, the
// connect included.
//
// Networking code only (includes Asio). One executor (thread); calls must not overlap.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/time_source.h"
#include "upstream/backend_target.h"

namespace kvroute::upstream {

struct HttpGetOptions {
  Nanos timeout = kNanosPerSecond;  ///< the whole call, connect included
  std::size_t max_body = 8u << 20;  ///< a larger answer fails (and the connection is closed)
  std::string_view accept = "*/*";  ///< the Accept field
  bool keep_alive = true;           ///< false: "Connection: close", the connection is not kept
};

/// Error codes of HttpGetClient::get (Error::code), errno values.
enum HttpGetErrorCode : int {
  kHttpGetRefused = 111,    ///< ECONNREFUSED: no address of the backend accepted the connection
  kHttpGetTimeout = 110,    ///< ETIMEDOUT: the deadline passed
  kHttpGetTooLarge = 90,    ///< EMSGSIZE: the body is larger than max_body
  kHttpGetProtocol = 71,    ///< EPROTO: the answer is not HTTP/1.x
  kHttpGetIo = 5,           ///< EIO: the connection failed mid-exchange
  kHttpGetCancelled = 125,  ///< ECANCELED: close() was called during the call
};

namespace detail {
struct HttpGetState;
}

class HttpGetClient {
 public:
  /// The target is copied (addresses, Host value, base path).
  HttpGetClient(boost::asio::any_io_executor executor, BackendTarget target);
  ~HttpGetClient();
  HttpGetClient(const HttpGetClient&) = delete;
  HttpGetClient& operator=(const HttpGetClient&) = delete;

  /// Executor's thread. GETs base_path + path; on success the response's status, with its body
  /// (de-chunked) in `body` (replaced; its capacity is reused from call to call). Any status counts
  /// as success: the caller judges it.
  boost::asio::awaitable<Result<int>> get(std::string_view path, const HttpGetOptions& options, std::string& body);

  /// Executor's thread. Closes the connection; a get() in progress ends with kHttpGetCancelled.
  void close();

  /// Replaces the target (a reload re-resolved the backend); the kept connection is closed when the
  /// addresses changed.
  void set_target(BackendTarget target);
  const BackendTarget& target() const;

  /// Whether a kept-alive connection is open (tests).
  bool has_connection() const;

 private:
  std::shared_ptr<detail::HttpGetState> state_;
};

}  // namespace kvroute::upstream
