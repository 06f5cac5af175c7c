#pragma once
// A scriptable HTTP/1.1 backend for the gateway's integration tests, on plain POSIX sockets (one
// thread per connection): it records every request exactly as it arrived (head and body), counts
// the TCP connections it accepted (kvroute-sim has no such counter), and answers with whatever
// bytes the test's handler returns, or closes the connection without answering. Bound to
// 127.0.0.1 on a port chosen by the kernel; stopped by its destructor.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kvroute::test {

struct FakeRequest {
  std::string head;                       ///< request line and fields, up to and including the blank line
  std::string body;                       ///< exactly Content-Length bytes
  std::uint64_t connection = 0;           ///< which accepted connection it came on (1, 2, ...)
  std::uint64_t index_on_connection = 0;  ///< 0 for the first request of that connection
  /// The value of a field (case-insensitive name), "" when absent; the first one if repeated.
  std::string header(const std::string& name) const;
  /// The request line's target ("/v1/chat/completions").
  std::string target() const;
};

struct FakeAction {
  std::string response;        ///< raw bytes to write ("HTTP/1.1 200 OK\r\n...")
  bool close_after = false;    ///< close the connection after writing
  bool close_instead = false;  ///< close without writing anything
};

class FakeBackend {
 public:
  using Handler = std::function<FakeAction(const FakeRequest&)>;

  explicit FakeBackend(Handler handler);
  ~FakeBackend();
  FakeBackend(const FakeBackend&) = delete;
  FakeBackend& operator=(const FakeBackend&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::uint64_t connections_accepted() const { return accepted_.load(); }
  std::vector<FakeRequest> requests() const;

  /// A JSON 200 response with Content-Length (keep-alive).
  static std::string json_response(const std::string& body, const std::string& extra_headers = {});

 private:
  void accept_loop();
  void serve(int fd, std::uint64_t connection);

  Handler handler_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> accepted_{0};
  mutable std::mutex mutex_;
  std::vector<FakeRequest> requests_;
  std::vector<int> open_fds_;
  std::thread acceptor_;
  std::vector<std::thread> threads_;
};

/// A TCP port on 127.0.0.1 that accepts no connection and never answers a SYN: a listening socket
/// whose accept queue is full (backlog 0, filled by connections this object holds). Connecting to
/// it hangs until the connector gives up: a connect timeout without relying on unroutable
/// addresses.
class BlackholePort {
 public:
  BlackholePort();
  ~BlackholePort();
  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int listen_fd_ = -1;
  std::vector<int> fillers_;
  std::uint16_t port_ = 0;
};

/// A port on 127.0.0.1 with nothing listening (connections are refused).
std::uint16_t closed_port();

}  // namespace kvroute::test
