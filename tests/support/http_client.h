#pragma once
// A small synchronous HTTP/1.1 client for integration tests, over Beast: one connection with
// keep-alive (several requests on the same socket, so a test can check a server keeps a
// connection usable after an error), a deadline on every call, raw writes for malformed
// requests, and incremental reading of an SSE response with a timestamp per event.
// Not thread-safe: one client per thread.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace kvroute::test {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// Error codes of HttpClient calls (Error::code).
enum HttpErrorCode : int {
  kConnectFailed = 1,  ///< connect refused or failed
  kTimeout = 2,        ///< the deadline passed (the connection is closed afterwards)
  kClosed = 3,         ///< the server closed the connection (EOF, also mid-message)
  kIoError = 4,        ///< any other socket or parse error
  kStreamEnd = 5,      ///< next_event: the response body is complete, no more events
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  ///< lower-case names
  std::string body;
  bool keep_alive = true;
  bool chunked = false;
  /// Header value ("" when absent); name in any case.
  std::string header(std::string_view name) const;
};

struct SseEvent {
  std::string data;      ///< the data field ("[DONE]" for the terminator)
  Clock::time_point at;  ///< when the bytes completing this event were read
};

class HttpClient {
 public:
  HttpClient(std::string host, std::uint16_t port);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Opens the connection (closing any open one).
  Result<void> connect(milliseconds timeout = milliseconds(5000));
  bool connected() const;
  void close();
  /// Local port of the connection (to tell connections apart); 0 when closed.
  std::uint16_t local_port() const;

  /// Sends one request on the open connection (connecting first if there is none) and reads the
  /// whole response. JSON content type when body is not empty and no content-type header is given.
  Result<HttpResponse> request(std::string_view method, std::string_view target, std::string_view body = {},
                               const std::vector<std::pair<std::string, std::string>>& headers = {},
                               milliseconds timeout = milliseconds(10000));
  Result<HttpResponse> get(std::string_view target, milliseconds timeout = milliseconds(10000)) {
    return request("GET", target, {}, {}, timeout);
  }
  Result<HttpResponse> post(std::string_view target, std::string_view body, milliseconds timeout = milliseconds(10000)) {
    return request("POST", target, body, {}, timeout);
  }

  /// Writes bytes as they are (connecting first if needed); then read_response() reads the answer.
  Result<void> send_raw(std::string_view bytes, milliseconds timeout = milliseconds(5000));
  Result<HttpResponse> read_response(milliseconds timeout = milliseconds(10000));

  /// Sends a request and reads only the response head; then next_event() yields the body's SSE
  /// events as they arrive. The returned response has no body.
  Result<HttpResponse> start_stream(std::string_view method, std::string_view target, std::string_view body,
                                    milliseconds timeout = milliseconds(10000));
  /// The next event of the stream started by start_stream(). kStreamEnd once the body is
  /// complete, kClosed when the server closes the connection mid-body, kTimeout at the deadline.
  Result<SseEvent> next_event(milliseconds timeout = milliseconds(10000));
  /// The de-chunked body bytes of the current stream received so far, exactly as sent.
  const std::string& stream_body() const;

  /// Waits until the server closes the connection: true on EOF/reset, false at the deadline or
  /// when data arrives instead.
  bool wait_closed(milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Reads a whole SSE stream: every event's data, in order, until the body ends. Error as
/// next_event's when the stream does not end cleanly.
Result<std::vector<SseEvent>> read_all_events(HttpClient& client, milliseconds timeout = milliseconds(10000));

}  // namespace kvroute::test
