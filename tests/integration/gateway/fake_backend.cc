#include "gateway/fake_backend.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace kvroute::test {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int listen_on_loopback(int backlog, std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, backlog) != 0) {
    ::close(fd);
    throw std::runtime_error("bind/listen failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

std::string FakeRequest::header(const std::string& name) const {
  const std::string want = lower(name) + ":";
  std::size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos + 2 < head.size()) {
    const std::size_t start = pos + 2;
    const std::size_t end = head.find("\r\n", start);
    if (end == std::string::npos || end == start) break;
    const std::string line = head.substr(start, end - start);
    if (lower(line.substr(0, want.size())) == want) {
      std::string v = line.substr(want.size());
      v.erase(0, v.find_first_not_of(' '));
      return v;
    }
    pos = end;
  }
  return {};
}

std::string FakeRequest::target() const {
  const auto sp1 = head.find(' ');
  const auto sp2 = head.find(' ', sp1 + 1);
  return head.substr(sp1 + 1, sp2 - sp1 - 1);
}

std::string FakeBackend::json_response(const std::string& body, const std::string& extra_headers) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n" + extra_headers + "\r\n" + body;
}

FakeBackend::FakeBackend(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = listen_on_loopback(128, port_);
  acceptor_ = std::thread([this] { accept_loop(); });
}

FakeBackend::~FakeBackend() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  {
    std::lock_guard lock(mutex_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  if (acceptor_.joinable()) acceptor_.join();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

std::vector<FakeRequest> FakeBackend::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

void FakeBackend::accept_loop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    const std::uint64_t n = ++accepted_;
    std::lock_guard lock(mutex_);
    open_fds_.push_back(fd);
    threads_.emplace_back([this, fd, n] { serve(fd, n); });
  }
}

void FakeBackend::serve(int fd, std::uint64_t connection) {
  std::string buf;
  char chunk[16384];
  std::uint64_t index = 0;
  bool open = true;
  while (open && !stopping_) {
    // Read one request: head, then Content-Length bytes of body.
    std::size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
      const auto n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) {
        open = false;
        break;
      }
      buf.append(chunk, static_cast<std::size_t>(n));
    }
    if (!open) break;
    FakeRequest req;
    req.head = buf.substr(0, head_end + 4);
    req.connection = connection;
    req.index_on_connection = index++;
    std::size_t length = 0;
    if (const std::string cl = req.header("content-length"); !cl.empty()) length = std::stoul(cl);
    while (buf.size() < head_end + 4 + length) {
      const auto n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) {
        open = false;
        break;
      }
      buf.append(chunk, static_cast<std::size_t>(n));
    }
    if (!open) break;
    req.body = buf.substr(head_end + 4, length);
    buf.erase(0, head_end + 4 + length);
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(req);
    }
    const FakeAction action = handler_(req);
    if (action.close_instead) break;
    if (!write_all(fd, action.response) || action.close_after) break;
  }
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
  std::lock_guard lock(mutex_);
  open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
}

BlackholePort::BlackholePort() {
  listen_fd_ = listen_on_loopback(0, port_);
  // Fill the accept queue: with backlog 0 Linux queues one connection; later SYNs are dropped, so a
  // connect hangs (retransmitting SYNs) instead of completing or being refused.
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port_);
  for (int i = 0; i < 8; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers_.push_back(fd);
    // A filler whose handshake does not complete shows the queue is full: later connects hang too.
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 200) == 0) break;
  }
}

BlackholePort::~BlackholePort() {
  for (int fd : fillers_) ::close(fd);
  ::close(listen_fd_);
}

std::uint16_t closed_port() {
  std::uint16_t port = 0;
  const int fd = listen_on_loopback(1, port);
  ::close(fd);
  return port;
}

}  // namespace kvroute::test
