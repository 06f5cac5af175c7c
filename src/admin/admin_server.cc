#include "admin/admin_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <unordered_set>

namespace kvroute::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
// Admin requests are GETs; a body (or a huge header block) is not something we need to read.
constexpr std::uint32_t kMaxHeaderBytes = 16 * 1024;
constexpr std::uint64_t kMaxBodyBytes = 64 * 1024;
}  // namespace

struct AdminServer::Impl {
  Impl(asio::io_context& i, AdminRoutes routes, AdminServerOptions o)
      : io(i), router(std::move(routes), o.token), options(std::move(o)), acceptor(i), backoff(i) {}

  asio::io_context& io;
  AdminRouter router;
  AdminServerOptions options;
  tcp::acceptor acceptor;
  asio::steady_timer backoff;
  /// Open connections, so stop() can close them (each session removes its own when it ends).
  std::unordered_set<beast::tcp_stream*> streams;
  bool stopped = false;

  // Static, with the owner as a parameter: the coroutine frame holds it from creation on, so the
  // server's state outlives every coroutine that uses it, whatever the order of destruction.
  static asio::awaitable<void> accept_loop(std::shared_ptr<Impl> self);
  static asio::awaitable<void> serve(std::shared_ptr<Impl> self, tcp::socket socket);
};

asio::awaitable<void> AdminServer::Impl::accept_loop(std::shared_ptr<Impl> self) {
  Impl& impl = *self;
  auto& acceptor = impl.acceptor;
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kAwait);
    if (impl.stopped) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of descriptors or similar: pause rather than spin on the error.
      spdlog::warn("admin: accept failed: {}", ec.message());
      impl.backoff.expires_after(std::chrono::milliseconds(50));
      co_await impl.backoff.async_wait(kAwait);
      continue;
    }
    if (impl.streams.size() >= impl.options.max_connections) {
      spdlog::debug("admin: {} connections open, refusing another", impl.streams.size());
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    asio::co_spawn(impl.io, serve(self, std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> AdminServer::Impl::serve(std::shared_ptr<Impl> self, tcp::socket socket) {
  Impl& impl = *self;
  beast::tcp_stream stream(std::move(socket));
  impl.streams.insert(&stream);
  struct Unregister {
    Impl& impl;
    beast::tcp_stream* stream;
    ~Unregister() { impl.streams.erase(stream); }
  } unregister{impl, &stream};

  const auto idle = std::chrono::nanoseconds(impl.options.idle_timeout);
  beast::flat_buffer buffer;
  AdminReply reply;
  while (!impl.stopped) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(kMaxBodyBytes);
    stream.expires_after(idle);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kAwait);
    if (ec || impl.stopped) break;  // closed, timed out, or not HTTP: nothing worth answering
    const auto& req = parser.get();
    AdminRequest request;
    request.method = std::string_view(req.method_string().data(), req.method_string().size());
    request.target = std::string_view(req.target().data(), req.target().size());
    if (const auto it = req.find(http::field::authorization); it != req.end()) {
      request.authorization = std::string_view(it->value().data(), it->value().size());
    }
    impl.router.handle(request, reply);

    http::response<http::string_body> res{static_cast<http::status>(reply.status), req.version()};
    res.set(http::field::server, "kvroute");
    res.set(http::field::content_type, reply.content_type);
    res.set(http::field::cache_control, "no-store");
    if (reply.auth_challenge) res.set(http::field::www_authenticate, "Bearer");
    if (reply.allow_get) res.set(http::field::allow, "GET");
    res.body() = std::move(reply.body);
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    stream.expires_after(idle);
    auto [wec, wn] = co_await http::async_write(stream, res, kAwait);
    reply.body = std::move(res.body());  // keeps the page's capacity for the next render
    if (wec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.close();
}

AdminServer::AdminServer(asio::io_context& io, AdminRoutes routes, AdminServerOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(routes), std::move(options))) {}

AdminServer::~AdminServer() { stop(); }

Result<std::uint16_t> AdminServer::listen(const config::HostPort& address) {
  const std::string where = address.to_string();
  try {
    tcp::resolver resolver(impl_->io);
    const auto results = resolver.resolve(address.host, std::to_string(address.port),
                                          tcp::resolver::passive | tcp::resolver::numeric_service);
    if (results.empty()) return Error{EINVAL, "cannot listen on admin address " + where + ": it does not resolve"};
    const tcp::endpoint endpoint = results.begin()->endpoint();
    tcp::acceptor& a = impl_->acceptor;
    a.open(endpoint.protocol());
    a.set_option(asio::socket_base::reuse_address(true));
    a.bind(endpoint);
    a.listen(asio::socket_base::max_listen_connections);
    return a.local_endpoint().port();
  } catch (const boost::system::system_error& e) {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    return Error{e.code().value(), "cannot listen on admin address " + where + ": " + e.code().message()};
  }
}

void AdminServer::start() {
  if (!impl_->acceptor.is_open() || impl_->stopped) return;
  asio::co_spawn(impl_->io, Impl::accept_loop(impl_), asio::detached);
}

void AdminServer::stop() {
  Impl& impl = *impl_;
  if (impl.stopped) return;
  impl.stopped = true;
  boost::system::error_code ignored;
  impl.acceptor.close(ignored);
  impl.backoff.cancel();
  for (beast::tcp_stream* s : impl.streams) {
    s->socket().shutdown(tcp::socket::shutdown_both, ignored);
    s->close();
  }
}

}  // namespace kvroute::admin
