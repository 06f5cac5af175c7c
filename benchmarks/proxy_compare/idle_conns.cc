// proxy_compare_idle: holds many idle keep-alive client connections open against an HTTP server,
// so benchmarks/proxy_compare/memory.sh can measure what one idle connection costs the server.
//
//   proxy_compare_idle --port P [--host 127.0.0.1] --connections N
//                      [--request FILE --accept TYPE]...   (one per "request" command, in order)
//
// Driven through stdin/stdout, one line each way, so the script can measure between steps:
//   start             -> opens N connections (blocking connects), prints "connected N"
//   "request\n"       -> sends the next --request body (POST /v1/chat/completions) on every
//                        connection and reads every answer to its end (Content-Length or chunked),
//                        prints "requested N ok=K"; the connections stay open and idle afterwards
//   "close\n" or EOF  -> closes everything, prints "closed", exits 0
// Exit 1 on any connect failure or a bad answer. Plain POSIX sockets: it must build on a fresh
// machine with only the compiler (memory.sh compiles it directly when no build has it).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  int connections = 1000;
  std::vector<std::string> request_files;
  std::vector<std::string> accepts;
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "proxy_compare_idle: %s\n", message.c_str());
  std::exit(1);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "--host") {
      o.host = value();
    } else if (a == "--port") {
      o.port = std::atoi(value().c_str());
    } else if (a == "--connections") {
      o.connections = std::atoi(value().c_str());
    } else if (a == "--request") {
      o.request_files.push_back(value());
    } else if (a == "--accept") {
      o.accepts.push_back(value());
    } else {
      die("unknown argument " + std::string(a));
    }
  }
  if (o.port <= 0 || o.port > 65535) die("--port is required");
  if (o.connections <= 0) die("--connections must be positive");
  o.accepts.resize(o.request_files.size(), "application/json");
  return o;
}

void raise_fd_limit(int needed) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const rlim_t want = static_cast<rlim_t>(needed) + 64;
  if (rl.rlim_cur < want) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int connect_one(const sockaddr_in& addr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    die(std::string("connect: ") + std::strerror(errno));
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// Reads one HTTP/1.1 response to its end. Returns the status, or -1 on a broken answer.
int read_response(int fd, std::string& buf) {
  buf.clear();
  char chunk[16384];
  auto fill = [&]() -> bool {
    for (;;) {
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buf.append(chunk, static_cast<std::size_t>(n));
      return true;
    }
  };
  std::size_t head_end;
  while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) return -1;
  }
  const std::string head = buf.substr(0, head_end + 2);
  std::size_t pos = head_end + 4;
  if (head.size() < 12) return -1;
  const int status = std::atoi(head.c_str() + 9);
  std::string lower(head);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("\r\ntransfer-encoding: chunked\r\n") != std::string::npos) {
    for (;;) {
      std::size_t line_end;
      while ((line_end = buf.find("\r\n", pos)) == std::string::npos) {
        if (!fill()) return -1;
      }
      const std::size_t size = std::strtoul(buf.c_str() + pos, nullptr, 16);
      pos = line_end + 2;
      if (size == 0) {
        // No trailers expected: the last chunk is followed by an empty line.
        while (buf.size() < pos + 2) {
          if (!fill()) return -1;
        }
        return status;
      }
      while (buf.size() < pos + size + 2) {
        if (!fill()) return -1;
      }
      pos += size + 2;
    }
  }
  const auto cl = lower.find("\r\ncontent-length:");
  if (cl == std::string::npos) return -1;  // the servers measured here always frame their answers
  const std::size_t length = std::strtoul(lower.c_str() + cl + 17, nullptr, 10);
  while (buf.size() < pos + length) {
    if (!fill()) return -1;
  }
  return status;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  std::string body = s.str();
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r' || body.back() == ' ')) body.pop_back();
  return body;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_args(argc, argv);
  raise_fd_limit(opt.connections);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(opt.port));
  if (::inet_pton(AF_INET, opt.host.c_str(), &addr.sin_addr) != 1) die("bad --host " + opt.host);

  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(opt.connections));
  for (int i = 0; i < opt.connections; ++i) fds.push_back(connect_one(addr));
  std::printf("connected %d\n", opt.connections);
  std::fflush(stdout);

  std::size_t next_request = 0;
  std::string line;
  std::string buf;
  while (std::getline(std::cin, line)) {
    if (line == "close") break;
    if (line != "request") die("unknown command " + line);
    if (next_request >= opt.request_files.size()) die("no --request left for this command");
    const std::string body = read_file(opt.request_files[next_request]);
    const std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: " + opt.host + ":" +
                                std::to_string(opt.port) +
                                "\r\nContent-Type: application/json\r\nAccept: " + opt.accepts[next_request] +
                                "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    ++next_request;
    int ok = 0;
    for (const int fd : fds) {
      if (!write_all(fd, request)) die("send failed");
      const int status = read_response(fd, buf);
      if (status < 0) die("broken answer");
      if (status == 200) ++ok;
    }
    std::printf("requested %d ok=%d\n", opt.connections, ok);
    std::fflush(stdout);
  }
  for (const int fd : fds) ::close(fd);
  std::printf("closed\n");
  std::fflush(stdout);
  return 0;
}
