#include "upstream/upstream_connection.h"

#include <sys/socket.h>

#include <cerrno>

namespace kvroute::upstream {

bool idle_connection_usable(boost::asio::ip::tcp::socket& socket) {
  if (!socket.is_open()) return false;
  char byte;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
  return false;  // 0: the backend closed it; > 0: bytes nobody asked for
}

boost::asio::ip::tcp::endpoint to_endpoint(const ResolvedAddress& address) {
  namespace ip = boost::asio::ip;
  if (address.v6) {
    ip::address_v6::bytes_type b;
    for (std::size_t i = 0; i < 16; ++i) b[i] = address.bytes[i];
    return {ip::address_v6(b), address.port};
  }
  ip::address_v4::bytes_type b;
  for (std::size_t i = 0; i < 4; ++i) b[i] = address.bytes[i];
  return {ip::address_v4(b), address.port};
}

void close_quietly(boost::asio::ip::tcp::socket& socket) {
  boost::system::error_code ec;
  socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

}  // namespace kvroute::upstream
