#include "upstream/http_get.h"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <chrono>

#include "upstream/headers.h"
#include "upstream/response_parser.h"
#include "upstream/upstream_connection.h"

namespace kvroute::upstream {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

class AppendSink final : public BodySink {
 public:
  explicit AppendSink(std::string& out) : out_(out) {}
  void on_body(std::string_view bytes) override { out_.append(bytes); }

 private:
  std::string& out_;
};

}  // namespace

struct detail::HttpGetState {
  HttpGetState(asio::any_io_executor ex, BackendTarget t) : socket(ex), deadline(ex), target(std::move(t)) {}

  tcp::socket socket;
  asio::steady_timer deadline;
  BackendTarget target;
  /// Numbers the calls, so that a deadline handler left over from an earlier call does nothing.
  std::uint64_t call = 0;
  bool timed_out = false;
  bool cancelled = false;
  bool kept = false;  ///< the socket holds a connection kept alive by the previous call
  std::string request;
  std::string pending;  ///< bytes read but not yet consumed by the parser
  std::array<char, 16384> chunk{};
  HeaderBlock headers;

  void drop_connection() {
    kept = false;
    close_quietly(socket);
  }

  // The error of an operation that failed, telling our own deadline and close() apart.
  Error failure(int code, std::string message) const {
    if (timed_out) return Error{kHttpGetTimeout, "timed out"};
    if (cancelled) return Error{kHttpGetCancelled, "cancelled"};
    return Error{code, std::move(message)};
  }
};

HttpGetClient::HttpGetClient(asio::any_io_executor executor, BackendTarget target)
    : state_(std::make_shared<detail::HttpGetState>(std::move(executor), std::move(target))) {}

HttpGetClient::~HttpGetClient() { close(); }

void HttpGetClient::close() {
  state_->cancelled = true;
  state_->deadline.cancel();
  state_->drop_connection();
}

void HttpGetClient::set_target(BackendTarget target) {
  if (target.addresses != state_->target.addresses) state_->drop_connection();
  state_->target = std::move(target);
}

const BackendTarget& HttpGetClient::target() const { return state_->target; }

bool HttpGetClient::has_connection() const { return state_->kept && state_->socket.is_open(); }

namespace {

// Opens a connection to the first address that accepts one.
asio::awaitable<Result<void>> connect(detail::HttpGetState& st);

// Sends the request and reads the answer on the open connection. got_bytes: some of the answer
// arrived (a failure after that is not a stale connection, and is not retried).
asio::awaitable<Result<int>> exchange(detail::HttpGetState& st, const HttpGetOptions& options, std::string& body,
                                      bool& got_bytes);

}  // namespace

asio::awaitable<Result<int>> HttpGetClient::get(std::string_view path, const HttpGetOptions& options,
                                                std::string& body) {
  const std::shared_ptr<detail::HttpGetState> st = state_;  // the client may be destroyed while we are suspended
  const std::uint64_t call = ++st->call;
  st->timed_out = false;
  st->cancelled = false;
  st->deadline.expires_after(std::chrono::nanoseconds(options.timeout));
  st->deadline.async_wait([weak = std::weak_ptr<detail::HttpGetState>(st), call](const boost::system::error_code& ec) {
    const auto s = weak.lock();
    if (ec || !s || s->call != call) return;
    // Closing the socket makes the pending connect, write or read fail at once.
    s->timed_out = true;
    s->drop_connection();
  });

  st->request.clear();
  st->request += "GET ";
  append_upstream_target(st->target.base_path, path, st->request);
  st->request += " HTTP/1.1\r\nHost: ";
  st->request += st->target.host_header;
  st->request += "\r\nAccept: ";
  st->request += options.accept;
  st->request += "\r\nUser-Agent: kvroute\r\n";
  if (!options.keep_alive) st->request += "Connection: close\r\n";
  st->request += "\r\n";

  Result<int> result = Error{kHttpGetIo, "not attempted"};
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = st->kept && idle_connection_usable(st->socket);
    if (!reused) {
      st->drop_connection();
      if (auto c = co_await connect(*st); !c) {
        result = c.error();
        break;
      }
    }
    st->kept = false;  // until this exchange ends cleanly with keep-alive
    bool got_bytes = false;
    result = co_await exchange(*st, options, body, got_bytes);
    if (result || !reused || got_bytes || st->timed_out || st->cancelled) break;
    // The kept connection failed before any byte of the answer: the backend closed it as we sent.
  }
  st->deadline.cancel();  // calls never overlap: this deadline is this call's
  if (!result) st->drop_connection();
  co_return result;
}

namespace {

asio::awaitable<Result<void>> connect(detail::HttpGetState& st) {
  std::string last = "no address";
  for (const auto& address : st.target.addresses) {
    if (st.timed_out || st.cancelled) break;
    boost::system::error_code ignored;
    if (st.socket.is_open()) st.socket.close(ignored);
    auto [ec] = co_await st.socket.async_connect(to_endpoint(address), kAwait);
    if (!ec) {
      st.socket.set_option(tcp::no_delay(true), ignored);
      co_return Result<void>{};
    }
    last = ec.message();
  }
  co_return st.failure(kHttpGetRefused, "connect to " + st.target.host_header + " failed: " + last);
}

asio::awaitable<Result<int>> exchange(detail::HttpGetState& st, const HttpGetOptions& options, std::string& body,
                                      bool& got_bytes) {
  auto [wec, wn] = co_await asio::async_write(st.socket, asio::buffer(st.request), kAwait);
  if (wec) co_return st.failure(kHttpGetIo, "send failed: " + wec.message());

  body.clear();
  AppendSink sink(body);
  UpstreamResponseParser parser(st.headers, &sink);
  parser.eager(true);
  parser.body_limit(options.max_body);
  st.pending.clear();
  while (!parser.is_done()) {
    auto [rec, rn] = co_await st.socket.async_read_some(asio::buffer(st.chunk), kAwait);
    if (rn > 0) got_bytes = true;
    if (rec == asio::error::eof && parser.got_some()) {
      boost::beast::error_code eec;
      parser.put_eof(eec);  // a body delimited by the end of the connection
      if (eec) co_return st.failure(kHttpGetIo, "connection closed mid-answer");
      break;
    }
    if (rec) co_return st.failure(kHttpGetIo, "read failed: " + rec.message());
    st.pending.append(st.chunk.data(), rn);
    boost::beast::error_code pec;
    const std::size_t used = parser.put(asio::buffer(st.pending), pec);
    st.pending.erase(0, used);
    if (pec == boost::beast::http::error::need_more) continue;
    if (pec == boost::beast::http::error::body_limit) {
      co_return Error{kHttpGetTooLarge, "answer larger than " + std::to_string(options.max_body) + " bytes"};
    }
    if (pec) co_return Error{kHttpGetProtocol, "bad answer: " + pec.message()};
  }
  // Kept only when both sides agree and nothing unexpected follows the answer.
  st.kept = options.keep_alive && parser.keep_alive() && st.pending.empty() && st.socket.is_open();
  if (!st.kept) close_quietly(st.socket);
  co_return parser.status();
}

}  // namespace

}  // namespace kvroute::upstream
