#include "support/http_client.h"

#include <algorithm>
#include <cctype>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "openai/sse.h"

namespace kvroute::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

std::string HttpResponse::header(std::string_view name) const {
  std::string key(name);
  std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
  auto it = headers.find(key);
  return it == headers.end() ? std::string{} : it->second;
}

struct HttpClient::Impl {
  std::string host;
  std::uint16_t port;
  asio::io_context ioc{1};
  tcp::socket socket{ioc};
  beast::flat_buffer buffer;
  std::optional<http::response_parser<http::buffer_body>> stream_parser;
  openai::SseParser sse;
  std::string stream_body;
  bool stream_complete = false;

  // Runs one asynchronous operation to completion or until the deadline; on the deadline the
  // socket is closed (the exchange cannot be resumed half way) and operation_aborted is waited
  // for, so no handler outlives the call.
  template <class Initiate>
  error_code run(Initiate&& initiate, milliseconds timeout) {
    error_code result = asio::error::would_block;
    bool done = false;
    initiate([&](error_code ec, auto&&...) {
      result = ec;
      done = true;
    });
    ioc.restart();
    ioc.run_for(timeout);
    if (!done) {
      error_code ignored;
      socket.close(ignored);
      ioc.restart();
      ioc.run();
      return asio::error::timed_out;
    }
    return result;
  }

  static Error to_error(const error_code& ec, std::string_view what) {
    int code = kIoError;
    if (ec == asio::error::timed_out) {
      code = kTimeout;
    } else if (ec == asio::error::eof || ec == http::error::end_of_stream || ec == http::error::partial_message ||
               ec == asio::error::connection_reset || ec == asio::error::broken_pipe) {
      code = kClosed;
    } else if (ec == asio::error::connection_refused) {
      code = kConnectFailed;
    }
    return Error{code, std::string(what) + ": " + ec.message()};
  }

  template <class Body>
  static void copy_head(const http::response<Body>& h, HttpResponse& out) {
    out.status = static_cast<int>(h.result_int());
    for (const auto& f : h) {
      std::string name(f.name_string());
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      out.headers[name] = std::string(f.value());
    }
    out.keep_alive = h.keep_alive();
    out.chunked = h.chunked();
  }

  Result<void> ensure_connected(milliseconds timeout) {
    if (socket.is_open()) return {};
    error_code ec;
    tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return Error{kConnectFailed, "resolve " + host + ": " + ec.message()};
    buffer.clear();
    ec = run([&](auto handler) { asio::async_connect(socket, endpoints, handler); }, timeout);
    if (ec) {
      error_code ignored;
      socket.close(ignored);
      Error e = to_error(ec, "connect");
      if (e.code != kTimeout) e.code = kConnectFailed;
      return e;
    }
    socket.set_option(tcp::no_delay(true), ec);
    return {};
  }

  Result<void> write_request(std::string_view method, std::string_view target, std::string_view body,
                             const std::vector<std::pair<std::string, std::string>>& headers, milliseconds timeout) {
    if (auto ok = ensure_connected(timeout); !ok) return ok;
    http::request<http::string_body> req{http::string_to_verb(method), std::string(target), 11};
    req.set(http::field::host, host + ":" + std::to_string(port));
    bool has_type = false;
    for (const auto& [k, v] : headers) {
      req.set(k, v);
      if (beast::iequals(k, "content-type")) has_type = true;
    }
    if (!body.empty() && !has_type) req.set(http::field::content_type, "application/json");
    req.body() = std::string(body);
    req.prepare_payload();
    req.keep_alive(true);
    const error_code ec = run([&](auto handler) { http::async_write(socket, req, handler); }, timeout);
    if (ec) {
      close();
      return to_error(ec, "write request");
    }
    return {};
  }

  Result<HttpResponse> read_whole(milliseconds timeout) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    const error_code ec = run([&](auto handler) { http::async_read(socket, buffer, parser, handler); }, timeout);
    if (ec) {
      close();
      return to_error(ec, "read response");
    }
    HttpResponse out;
    copy_head(parser.get(), out);
    out.body = std::move(parser.get().body());
    if (!out.keep_alive) close();
    return out;
  }

  void close() {
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    buffer.clear();
    stream_parser.reset();
  }
};

HttpClient::HttpClient(std::string host, std::uint16_t port) : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
}

HttpClient::~HttpClient() { impl_->close(); }

Result<void> HttpClient::connect(milliseconds timeout) {
  impl_->close();
  return impl_->ensure_connected(timeout);
}

bool HttpClient::connected() const { return impl_->socket.is_open(); }

void HttpClient::close() { impl_->close(); }

std::uint16_t HttpClient::local_port() const {
  error_code ec;
  auto ep = impl_->socket.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

Result<HttpResponse> HttpClient::request(std::string_view method, std::string_view target, std::string_view body,
                                         const std::vector<std::pair<std::string, std::string>>& headers,
                                         milliseconds timeout) {
  if (auto ok = impl_->write_request(method, target, body, headers, timeout); !ok) return ok.error();
  return impl_->read_whole(timeout);
}

Result<void> HttpClient::send_raw(std::string_view bytes, milliseconds timeout) {
  if (auto ok = impl_->ensure_connected(timeout); !ok) return ok;
  const error_code ec =
      impl_->run([&](auto handler) { asio::async_write(impl_->socket, asio::buffer(bytes), handler); }, timeout);
  if (ec) {
    impl_->close();
    return Impl::to_error(ec, "write");
  }
  return {};
}

Result<HttpResponse> HttpClient::read_response(milliseconds timeout) { return impl_->read_whole(timeout); }

Result<HttpResponse> HttpClient::start_stream(std::string_view method, std::string_view target,
                                              std::string_view body, milliseconds timeout) {
  if (auto ok = impl_->write_request(method, target, body, {}, timeout); !ok) return ok.error();
  impl_->stream_parser.emplace();
  impl_->stream_parser->body_limit(boost::none);
  impl_->sse = openai::SseParser{};
  impl_->stream_body.clear();
  impl_->stream_complete = false;
  auto& parser = *impl_->stream_parser;
  const error_code ec = impl_->run(
      [&](auto handler) { http::async_read_header(impl_->socket, impl_->buffer, parser, handler); }, timeout);
  if (ec) {
    impl_->close();
    return Impl::to_error(ec, "read response head");
  }
  HttpResponse out;
  Impl::copy_head(parser.get(), out);
  return out;
}

Result<SseEvent> HttpClient::next_event(milliseconds timeout) {
  Impl& m = *impl_;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto data = m.sse.next()) return SseEvent{std::string(*data), Clock::now()};
    if (!m.stream_parser || m.stream_complete) return Error{kStreamEnd, "the stream has ended"};
    auto& parser = *m.stream_parser;
    if (parser.is_done()) {
      m.stream_complete = true;
      if (!parser.get().keep_alive()) m.close();
      else m.stream_parser.reset();
      return Error{kStreamEnd, "the stream has ended"};
    }
    char chunk[8192];
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      m.close();
      return Error{kTimeout, "no event before the deadline"};
    }
    error_code ec = m.run([&](auto handler) { http::async_read_some(m.socket, m.buffer, parser, handler); }, left);
    const auto at = Clock::now();
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t got = sizeof chunk - parser.get().body().size;
    if (got > 0) {
      m.stream_body.append(chunk, got);
      m.sse.feed(std::string_view(chunk, got));
      if (auto data = m.sse.next()) {
        if (ec) m.close();
        return SseEvent{std::string(*data), at};
      }
    }
    if (ec) {
      m.close();
      return Impl::to_error(ec, "read stream");
    }
  }
}

const std::string& HttpClient::stream_body() const { return impl_->stream_body; }

bool HttpClient::wait_closed(milliseconds timeout) {
  Impl& m = *impl_;
  if (!m.socket.is_open()) return true;
  if (m.buffer.size() > 0) return false;
  char byte;
  std::size_t n = 0;
  const error_code ec = m.run(
      [&](auto handler) {
        m.socket.async_read_some(asio::buffer(&byte, 1), [&n, handler](error_code e, std::size_t k) mutable {
          n = k;
          handler(e);
        });
      },
      timeout);
  if (ec == asio::error::timed_out) return false;
  if (!ec && n > 0) return false;
  m.close();
  return true;
}

Result<std::vector<SseEvent>> read_all_events(HttpClient& client, milliseconds timeout) {
  std::vector<SseEvent> events;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    auto e = client.next_event(std::max(left, milliseconds(1)));
    if (!e) {
      if (e.error().code == kStreamEnd) return events;
      return e.error();
    }
    events.push_back(std::move(*e));
  }
}

}  // namespace kvroute::test
