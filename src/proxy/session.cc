#include "proxy/session.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <limits>
#include <utility>

#include "common/hash.h"
#include "openai/errors.h"
#include "openai/sse.h"
#include "proxy/prompt_usage.h"
#include "proxy/request_parser.h"
#include "proxy/response_head.h"
#include "proxy/worker_hold_queue.h"
#include "routing/candidates.h"
#include "routing/prompt_features.h"

namespace kvroute::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using upstream::HeaderKind;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
/// An oversized body declared by Content-Length is read and discarded (so the connection stays
/// usable after the 413) up to this many bytes beyond the limit; past that the connection closes.
constexpr std::uint64_t kMaxDrainBytes = 64u << 20;
/// A pooled connection idle longer than this is checked (one recv(MSG_PEEK)) before it is reused:
/// backends close idle connections after a few seconds (vLLM's server after 5 s). A hotter one is
/// used unchecked; if it was closed after all, the request fails before any response byte and is
/// retried once on a fresh connection.
constexpr Nanos kCheckIdleAfter = kNanosPerSecond;
/// Non-streamed answers are kept (for their usage) up to this size; larger ones are only relayed.
constexpr std::size_t kMaxCapturedBody = 1u << 20;
/// Per-request buffers keep their capacity from request to request (no heap traffic per request),
/// except one grown past this by an unusually large request or answer: it is freed once the request
/// is done, so an idle connection does not keep the largest message it ever carried.
constexpr std::size_t kKeptRequestCapacity = 64 * 1024;
/// Collects the canonical prompt the JSON parser streams out, so it can be hashed once the model
/// (which seeds the hashes, and may come after the prompt in the body) is known.
class PromptCollector final : public openai::PromptSink {
 public:
  explicit PromptCollector(std::string& out) : out_(out) { out_.clear(); }
  void append(std::string_view piece) override { out_.append(piece); }

 private:
  std::string& out_;
};

bool is_client_gone(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
         ec == asio::error::operation_aborted || ec == asio::error::broken_pipe || ec == asio::error::bad_descriptor ||
         ec == http::error::partial_message;
}

/// The origin-form part of a request target: an absolute-form target ("http://host/path") loses its
/// scheme and authority.
std::string_view origin_form(std::string_view target) {
  if (target.starts_with('/')) return target;
  const auto scheme = target.find("://");
  if (scheme == std::string_view::npos) return target;
  const auto slash = target.find('/', scheme + 3);
  return slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && upstream::iequals(s.substr(0, prefix.size()), prefix);
}

}  // namespace

struct Session::Request {
  std::shared_ptr<Worker::LocalSnapshot> local;
  const PoolRuntime* pool = nullptr;
  Worker::LocalPool* local_pool = nullptr;
  routing::RequestFeatures features;
  std::string_view target;  ///< origin-form target sent upstream (into target_)
  bool stream = false;
  bool head_method = false;
  bool rewrite_model = false;
  std::size_t model_offset = 0;
  std::size_t model_length = 0;
  std::uint64_t upstream_body_size = 0;
  Nanos sent_at = 0;
  Nanos last_event_at = 0;
  Nanos hold_deadline = 0;  ///< set when first held: first hold + queue.max_wait (retries held again keep it)
  Nanos held = 0;           ///< time spent in the hold queue so far
};

struct Session::Attempt {
  AttemptError error = AttemptError::kNone;
  int status = 0;
  bool response_started = false;
};

Session::Session(Worker& worker, tcp::socket socket)
    : worker_(worker),
      client_(std::move(socket)),
      in_(worker.buffers()),
      body_(openai::required_padding()),
      up_buf_(worker.buffers()),
      wait_timer_(worker.io()),
      watchdog_(worker.io()) {
  held_.user = &wait_timer_;
  boost::system::error_code ec;
  const auto remote = client_.remote_endpoint(ec);
  if (!ec) client_address_ = remote.address().to_string();
}

Session::~Session() {
  worker_.idle_reads().remove(*this);
  if (body_.readable() != 0 && body_.readable() <= kKeptRequestCapacity) worker_.bodies().release(std::move(body_));
}

void Session::close_if_idle() {
  if (idle_ && !closed_) {
    closing_ = true;
    closed_ = true;
    upstream::close_quietly(client_);
  }
  if (held_.queued()) wait_timer_.cancel();  // hold() sees the drain and answers 503
}

void Session::force_close() {
  closing_ = true;
  keep_alive_ = false;
  if (!closed_) {
    closed_ = true;
    upstream::close_quietly(client_);
  }
  client_went_away();
}

// ---------------------------------------------------------------------------------------------
// The connection loop

asio::awaitable<void> Session::run() {
  auto self = shared_from_this();  // alive for as long as the connection
  worker_.session_started(this);
  while (!closing_ && !closed_) {
    idle_ = true;
    if (worker_.draining()) break;
    if (!co_await read_request()) break;
    idle_ = false;
    if (!method_.empty()) co_await handle_request();
    finish_request();
    if (!keep_alive_) break;
  }
  idle_ = false;
  if (linger_ && !closed_) co_await linger_close();
  if (!closed_) {
    closed_ = true;
    upstream::close_quietly(client_);
  }
  watchdog_.cancel();
  wait_timer_.cancel();
  worker_.session_ended(this);
}

// Reads one request into req_headers_/method_/target_/body_. Returns false when the connection is
// to close. Requests answered here (413, 431) leave method_ empty. The answers to requests that
// cannot be served are coroutines of their own (refuse_unreadable, refuse_oversized_body), so that
// this frame, allocated for every request, stays small.
asio::awaitable<bool> Session::read_request() {
  // Copied: the snapshot may change while the request is read.
  const config::LimitsConfig limits = worker_.current()->snapshot->limits;
  request_id_.clear();
  ClientRequestParser parser(req_headers_, method_, target_, body_);
  parser.header_limit(static_cast<std::uint32_t>(std::min<std::uint64_t>(limits.max_header_bytes, UINT32_MAX)));
  parser.body_limit(boost::none);  // checked below, so an oversized body can be answered properly
  parser.eager(false);             // stop after the head: the body limit is decided from it
  beast::error_code ec = co_await parse_client(parser, /*head_only=*/true);
  if (ec) co_return co_await refuse_unreadable(parser, ec, limits);
  worker_.stats().requests.add();
  idle_ = false;
  version_ = parser.version();
  keep_alive_ = parser.keep_alive();
  const auto expect = req_headers_.get(HeaderKind::kExpect);
  const bool expect_continue = expect && upstream::iequals(*expect, "100-continue");
  if (const auto length = parser.content_length(); length && *length > limits.max_body_bytes) {
    co_return co_await refuse_oversized_body(*length, limits.max_body_bytes, expect_continue);
  }
  if (expect_continue && !parser.is_done()) {
    if (!co_await write_client("HTTP/1.1 100 Continue\r\n\r\n")) co_return false;
  }
  parser.body_limit(limits.max_body_bytes);
  parser.eager(true);
  // The body usually came with the head: what is buffered is parsed first, and only a body still
  // incomplete after that costs the coroutine that reads more.
  ec = feed_parser(parser, /*head_only=*/false);
  if (!ec && !parser.is_done()) ec = co_await parse_client(parser, /*head_only=*/false);
  if (ec) co_return co_await refuse_unreadable(parser, ec, limits);
  co_return true;
}

// A request that cannot be read to its end: its client is answered when it is still there (431 for
// a head over limits.max_header_bytes, 413 for a chunked body over limits.max_body_bytes, 400 for
// malformed HTTP) and the connection closes (false, after lingering: linger_close).
asio::awaitable<bool> Session::refuse_unreadable(const ClientRequestParser& parser, beast::error_code ec,
                                                 const config::LimitsConfig& limits) {
  keep_alive_ = false;
  if (ec == http::error::body_limit) {
    // A chunked body over the limit: what is left of it cannot be skipped cheaply.
    linger_ = true;
    method_.clear();
    co_await write_error(
        413, fmt::format("Request body too large (limit {} bytes, limits.max_body_bytes).", limits.max_body_bytes));
    co_return false;
  }
  if (closed_ || is_client_gone(ec)) co_return false;
  method_.clear();
  linger_ = true;
  if (ec == http::error::header_limit) {
    co_await write_error(431, fmt::format("Request header fields too large (limit {} bytes, limits.max_header_bytes).",
                                          limits.max_header_bytes));
  } else if (parser.got_some()) {
    co_await write_error(400, fmt::format("Malformed HTTP request: {}.", ec.message()));
  }
  co_return false;
}

// A body declared (Content-Length) over limits.max_body_bytes: read and discarded when that is
// cheap, so the connection stays usable after the 413; else the connection closes after it (and
// after `Expect: 100-continue` the client may never send the body at all).
asio::awaitable<bool> Session::refuse_oversized_body(std::uint64_t length, std::uint64_t max_body,
                                                     bool expect_continue) {
  if (expect_continue || length - max_body > kMaxDrainBytes) {
    keep_alive_ = false;
    linger_ = !expect_continue;
  } else {
    // Not `else if (!co_await ...)`: GCC 12.2 miscompiled that form here (the coroutine resumed
    // into an invalid state: SIGILL).
    const bool drained = co_await drain_body(length);
    if (!drained) co_return false;
  }
  method_.clear();
  co_await write_error(
      413, fmt::format("Request body too large: {} bytes (limit {} bytes, limits.max_body_bytes).", length, max_body));
  co_return keep_alive_;
}

// Feeds the parser what in_ holds. Returns its error, or none when the head (or the whole request) is
// parsed or more bytes are needed.
beast::error_code Session::feed_parser(ClientRequestParser& parser, bool head_only) {
  // Bytes past a complete request (or head) are the next request's: they stay in in_.
  while (in_.size() > 0 && !(head_only ? parser.is_header_done() : parser.is_done())) {
    // The body buffer comes from the worker when a request's bytes do (given back by
    // finish_request), before the head is parsed: the parser sizes the body buffer from the head.
    if (body_.readable() == 0) take_body_buffer();
    beast::error_code ec;
    const std::size_t used = parser.put(in_.data(), ec);
    in_.consume(used);
    if (ec && ec != http::error::need_more) return ec;
    if (used == 0) break;  // more bytes needed
  }
  return {};
}

// Feeds the parser from in_, reading more from the client as needed, until the head (or the whole
// request) is parsed. Reads go through the prefetch when one is pending (see start_prefetch). With
// nothing of a request yet, the read is started as a prefetch too, so that the wait for the next
// request is one the worker can park (join_idle_reads).
asio::awaitable<beast::error_code> Session::parse_client(ClientRequestParser& parser, bool head_only) {
  for (;;) {
    // in_ is off limits while a read fills it. Waiting with nothing of a request yet is the idle wait.
    if (prefetch_pending_) {
      if (in_.size() == 0 && !parser.got_some()) join_idle_reads();
      co_await wait_prefetch();
    }
    if (const beast::error_code ec = feed_parser(parser, head_only)) co_return ec;
    if (head_only ? parser.is_header_done() : parser.is_done()) co_return beast::error_code{};
    beast::error_code rec = prefetch_ec_;
    prefetch_ec_ = {};
    if (!rec && read_parked_) {
      // Parked (park_read): no block until the socket is readable (end of file and errors included).
      auto [wec] = co_await client_.async_wait(tcp::socket::wait_read, kAwait);
      rec = wec ? wec : read_ready_bytes();
      if (!rec) continue;  // bytes in in_, or a wake-up with nothing to read (still parked)
    } else if (!rec) {
      if (in_.size() == 0 && !parser.got_some()) {
        start_prefetch();
        if (prefetch_pending_) continue;
      }
      auto [e, n] = co_await client_.async_read_some(in_.prepare(), kAwait);
      rec = e;
      if (!rec) in_.commit(n);
    }
    if (rec == asio::error::eof)
      co_return parser.got_some() ? http::error::partial_message : http::error::end_of_stream;
    if (rec) co_return rec;
  }
}

// While a request is with a backend, one read is kept pending on the client connection. It is how
// the gateway learns that the client went away (end of file or reset: the backend request is then
// cancelled), and it is also the read of the client's next request, so watching costs no system call
// of its own: the bytes it brings are parsed by the next read_request. It stays pending after the
// answer, as the wait for the next request, for as long as the connection is among the worker's
// most recently idle ones (join_idle_reads); past that it is parked (park_read).
void Session::start_prefetch() {
  // Bytes already buffered are a pipelined request (the client is there, and waits for this answer
  // before it sends more); in_ must not be touched while a read fills it, so no prefetch then. A
  // parked session's next read waits for readiness first (parse_client, read_ready_bytes).
  if (prefetch_pending_ || prefetch_ec_ || closed_ || client_gone_ || read_parked_ || in_.size() > 0) return;
  prefetch_pending_ = true;
  client_.async_read_some(in_.prepare(), [self = shared_from_this()](const boost::system::error_code& ec,
                                                                     std::size_t n) { self->on_prefetch(ec, n); });
}

void Session::on_prefetch(const boost::system::error_code& ec, std::size_t n) {
  prefetch_pending_ = false;
  worker_.idle_reads().remove(*this);
  const bool parked = std::exchange(park_requested_, false);
  if (parked && ec == asio::error::operation_aborted && !closed_) {
    // park_read() cancelled it before anything was read: the block goes back to the worker, and the
    // next read waits for readiness without one.
    in_.release();
    read_parked_ = true;
  } else if (ec) {
    prefetch_ec_ = ec;
    if (exchange_active_ && !closed_) client_went_away();
  } else {
    in_.commit(n);  // the client's next (pipelined) request, or the start of it
  }
  if (prefetch_waiter_) {
    auto waiter = std::move(*prefetch_waiter_);
    prefetch_waiter_.reset();
    std::move(waiter)();
  }
}

// Completes when the pending prefetch does (call it only with one pending). Not a coroutine itself:
// the wait is the initiation's own awaitable, which saves a coroutine frame per request.
asio::awaitable<void> Session::wait_prefetch() {
  return asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [this](auto handler) { prefetch_waiter_.emplace(std::move(handler)); }, asio::use_awaitable);
}

// Called before waiting for a request of which nothing has arrived yet, with the prefetch pending
// (in_ empty): the session is then one of the worker's idle reads, each holding a block. There are
// at most IdleReadList::kMaxIdleReads, so joining them may park the least recently idle one. A
// connection that keeps sending requests stays among them and keeps its pending read (no system
// call added per request); one left idle while others come and go gives its block back.
void Session::join_idle_reads() {
  IdleReadList& idle_reads = worker_.idle_reads();
  idle_reads.push_front(*this);
  if (idle_reads.size() > IdleReadList::kMaxIdleReads) static_cast<Session*>(idle_reads.oldest())->park_read();
}

// Worker thread, on a session that joined the idle reads and waits in wait_prefetch (in_ empty):
// cancels its pending read (on_prefetch then gives the block back). A read that completed meanwhile
// (its completion not run yet) is not affected, and is parsed as usual.
void Session::park_read() {
  worker_.idle_reads().remove(*this);
  park_requested_ = true;
  boost::system::error_code ec;
  client_.cancel(ec);
  if (spdlog::should_log(spdlog::level::trace)) {
    const auto remote = client_.remote_endpoint(ec);
    spdlog::trace("client {}:{}: idle read parked", client_address_, ec ? 0 : remote.port());
  }
}

// A parked session's read once its socket is readable: takes a block and reads what is there
// without blocking, as nginx reads a kept-alive connection. A wake-up with nothing to read gives the
// block back and leaves the session parked.
boost::system::error_code Session::read_ready_bytes() {
  const asio::mutable_buffer room = in_.prepare();
  for (;;) {
    const ssize_t n = ::recv(client_.native_handle(), room.data(), room.size(), MSG_DONTWAIT);
    if (n > 0) {
      in_.commit(static_cast<std::size_t>(n));
      read_parked_ = false;
      return {};
    }
    if (n == 0) {
      read_parked_ = false;
      return asio::error::eof;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      in_.release();
      return {};
    }
    read_parked_ = false;
    return {err, asio::error::get_system_category()};
  }
}

asio::awaitable<bool> Session::drain_body(std::uint64_t bytes) {
  const std::uint64_t buffered = std::min<std::uint64_t>(in_.size(), bytes);
  in_.consume(static_cast<std::size_t>(buffered));
  bytes -= buffered;
  std::array<char, 16384> sink;
  while (bytes > 0) {
    auto [ec, n] = co_await client_.async_read_some(
        asio::buffer(sink.data(), static_cast<std::size_t>(std::min<std::uint64_t>(sink.size(), bytes))), kAwait);
    if (ec) co_return false;
    bytes -= n;
  }
  co_return true;
}

// Closing right after an error answer while the client is still sending (an oversized head or body)
// would make the kernel reset the connection, and a reset can destroy the answer before the client
// reads it. So: stop sending, read and discard what still comes for a moment, then close.
asio::awaitable<void> Session::linger_close() {
  if (prefetch_pending_) co_await wait_prefetch();
  boost::system::error_code ec;
  client_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  wait_timer_.expires_after(std::chrono::seconds(2));
  wait_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& e) {
    if (e || self->closed_) return;
    boost::system::error_code ignored;
    self->client_.cancel(ignored);
  });
  std::array<char, 4096> sink;
  std::size_t total = 0;
  while (total < (1u << 20)) {
    auto [rec, n] = co_await client_.async_read_some(asio::buffer(sink), kAwait);
    if (rec) break;
    total += n;
  }
  wait_timer_.cancel();
}

void Session::take_body_buffer() { body_ = worker_.bodies().acquire(); }

// After each request: the body buffer goes back to the worker (the next request may come from any
// of its connections), and a per-request buffer that an unusually large message grew past
// kKeptRequestCapacity is freed (the next such message allocates again, a small cost next to reading,
// parsing and relaying it); the others keep their capacity (no heap traffic per request).
void Session::finish_request() {
  const auto trim = [](std::string& s) {
    if (s.capacity() > kKeptRequestCapacity) std::string().swap(s);
  };
  trim(captured_body_);
  trim(out_body_);
  trim(out_);
  if (body_.readable() != 0) {
    PaddedBuffer body = std::exchange(body_, PaddedBuffer(openai::required_padding()));
    if (body.readable() <= kKeptRequestCapacity) worker_.bodies().release(std::move(body));
  }
}

// ---------------------------------------------------------------------------------------------
// One request: answer it here or route it

asio::awaitable<void> Session::handle_request() {
  Request rq;
  rq.local = worker_.current();
  const RoutingSnapshot& snap = *rq.local->snapshot;
  rq.target = origin_form(target_);
  const std::string_view path = path_of(rq.target);
  rq.head_method = method_ == "HEAD";
  const bool get_like = method_ == "GET" || rq.head_method;

  if (snap.server.request_id) {
    const auto given = req_headers_.get(HeaderKind::kXRequestId);
    if (given && !given->empty() && given->size() <= 200) {
      request_id_.assign(*given);
    } else {
      worker_.next_request_id(request_id_);
    }
  }

  if (path == "/health") {
    if (!get_like) co_return co_await write_error(405, "Method Not Allowed: use GET for /health.");
    co_return co_await write_gateway_response(200, {}, {});
  }
  if (path == "/v1/models") {
    if (!get_like) {
      co_return co_await write_gateway_response(
          405, "application/json", openai::error_body(405, "Method Not Allowed: use GET for /v1/models."), "GET");
    }
    const auto body = worker_.shared().models_body.load();
    co_return co_await write_gateway_response(200, "application/json", body ? std::string_view(*body) : "");
  }
  const openai::Endpoint endpoint = openai::endpoint_for_path(path);
  const auto invalid_url = [&]() { return fmt::format("Invalid URL ({} {}).", method_, path); };
  if (endpoint != openai::Endpoint::kOther) {
    if (method_ != "POST") {
      co_return co_await write_gateway_response(
          405, "application/json", openai::error_body(405, fmt::format("Method Not Allowed: use POST for {}.", path)),
          "POST");
    }
  } else if (!path.starts_with("/v1/") || body_.size() == 0) {
    co_return co_await write_error(404, invalid_url());
  }

  // One parse of the body: the fields routing needs, the canonical prompt for prefix hashing, and
  // where the model string sits (for an alias rewrite). The views it returns die at the next parse
  // (the parser is the worker's), so everything needed later is copied before any co_await.
  body_.reserve(body_.size());  // makes sure the padding exists even for an empty body
  PromptCollector prompt(worker_.prompt_scratch());
  auto parsed = worker_.json_parser().parse(endpoint, body_.view(), body_.readable(), &prompt);
  if (!parsed) {
    if (endpoint == openai::Endpoint::kOther) co_return co_await write_error(404, invalid_url());
    co_return co_await write_error(parsed.error().code, parsed.error().message);
  }
  const openai::RequestFields& f = *parsed;
  if (endpoint == openai::Endpoint::kOther && f.model.empty()) co_return co_await write_error(404, invalid_url());
  model_.assign(f.model);
  const auto route = snap.router.route(model_);
  if (!route) {
    co_return co_await write_error(404, fmt::format("The model `{}` does not exist.", model_), "model");
  }
  rq.pool = &snap.pools[route->pool];
  rq.local_pool = &rq.local->pools[route->pool];
  const PoolRuntime& pool = *rq.pool;

  std::string_view upstream_model = model_;
  rq.upstream_body_size = body_.size();
  if (route->rewritten_model && f.model_value_length > 0) {
    model_json_.assign("\"");
    openai::append_json_escaped(model_json_, *route->rewritten_model);
    model_json_.push_back('"');
    rq.rewrite_model = true;
    rq.model_offset = f.model_value_offset;
    rq.model_length = f.model_value_length;
    rq.upstream_body_size = body_.size() - f.model_value_length + model_json_.size();
    upstream_model = *route->rewritten_model;
  }

  // Features. Prefix hashes are seeded by the model the backend serves (an alias and its target
  // share cache), over 64-byte blocks of the canonical prompt.
  rq.stream = f.stream;
  routing::RequestFeatures& feat = rq.features;
  feat.model = model_;
  feat.stream = f.stream;
  feat.max_tokens = f.max_tokens ? static_cast<std::uint32_t>(std::min<std::int64_t>(*f.max_tokens, UINT32_MAX)) : 0;
  routing::PromptFeatureBuilder& prompt_features = worker_.prompt_features();
  prompt_features.reset(upstream_model);
  prompt_features.append(worker_.prompt_scratch());
  feat.prompt_tokens = prompt_features.estimated_tokens();
  // Copied: the builder is the worker's, and a retry picks again after other requests ran.
  block_hashes_.assign(prompt_features.block_hashes().begin(), prompt_features.block_hashes().end());
  feat.block_hashes = block_hashes_;
  switch (pool.config.routing_key.from) {
    case config::RoutingKeySource::kNone:
      break;
    case config::RoutingKeySource::kHeader:
      if (auto v = req_headers_.get(pool.config.routing_key.header); v && !v->empty()) {
        feat.routing_key = routing::RoutingKey::of(hash_string(*v));
      }
      break;
    case config::RoutingKeySource::kUser:
      if (!f.user.empty()) feat.routing_key = routing::RoutingKey::of(hash_string(f.user));
      break;
    case config::RoutingKeySource::kSession:
      if (auto v = req_headers_.get(HeaderKind::kXSessionId); v && !v->empty()) {
        feat.routing_key = routing::RoutingKey::of(hash_string(*v));
      } else if (!f.user.empty()) {
        feat.routing_key = routing::RoutingKey::of(hash_string(f.user));
      }
      break;
  }
  feat.arrival = worker_.clock().now();
  co_await proxy_request(rq);
}

// ---------------------------------------------------------------------------------------------
// Attempts on backends

asio::awaitable<void> Session::proxy_request(Request& rq) {
  const PoolRuntime& pool = *rq.pool;
  Worker::LocalPool& local = *rq.local_pool;
  excluded_.clear();
  if (pool.any_backend_model_list) {
    // Backends that list their models and not this one are never candidates.
    const std::string_view wanted =
        rq.rewrite_model ? std::string_view(model_json_).substr(1, model_json_.size() - 2) : std::string_view(model_);
    for (std::uint32_t i = 0; i < pool.targets.size(); ++i) {
      const auto& models = pool.targets[i].models;
      if (!models.empty() && std::find(models.begin(), models.end(), wanted) == models.end()) excluded_.push_back(i);
    }
  }
  worker_.stats().proxied.add();
  const int max_attempts = 1 + pool.config.retries.attempts;
  const std::size_t base_excluded = excluded_.size();
  int made = 0;
  Attempt last;
  for (;;) {
    routing::PickContext ctx{worker_.clock(), worker_.random(), excluded_};
    // Behind requests held on this worker, a request joins them without picking: no overtaking.
    std::optional<std::uint32_t> picked;
    if (local.hold->empty()) picked = local.policy->pick(rq.features, *pool.set, ctx);
    if (!picked) {
      // No pick with candidates left is the policy holding the request (late binding).
      if (!routing::has_candidate(*pool.set, ctx)) break;
      if (!co_await hold(rq, picked)) co_return;  // answered 503, or the client left
      if (!picked) break;                         // every candidate went while it was held
    }
    routing::DispatchTicket ticket =
        pool.accounting.dispatch(pool.set, *picked, rq.features, worker_.clock().now(), local.policy.get());
    ++made;
    // The last attempt relays whatever status it gets: with no other backend left, or no attempts
    // left, a retryable status is the best answer there is.
    const bool last_attempt = made >= max_attempts || excluded_.size() + 1 >= pool.set->size();
    last = co_await attempt(rq, *picked, ticket, last_attempt);
    if (last.error == AttemptError::kNone) co_return;
    if (last.error == AttemptError::kClientGone || last.response_started || closed_) {
      keep_alive_ = false;
      co_return;
    }
    excluded_.push_back(*picked);
    if (!should_retry(pool.config.retries, made, last.error, false)) break;
    worker_.stats().retries.add();
    spdlog::debug("retrying {} on another backend after: {}", model_, message_for_failure(last.error));
  }
  if (made == 0) {
    const bool none_serves = base_excluded > 0 && base_excluded >= pool.set->size();
    co_return co_await write_error(503, none_serves ? fmt::format("No backend serves model `{}`.", model_)
                                                    : fmt::format("No backend is available for model `{}`.", model_));
  }
  if (last.error == AttemptError::kRetryableStatus) {
    co_return co_await write_error(last.status, fmt::format("The backend answered {} {}; no other backend was left to "
                                                            "try.",
                                                            last.status, reason_phrase(last.status)));
  }
  co_await write_error(status_for_failure(last.error), message_for_failure(last.error));
}

// Holds the request in its pool's queue on this worker (hold_queue.h, docs/gateway.md) until the
// policy binds it to a backend (true, `picked` set), every candidate is gone (true, `picked` empty: the
// caller answers as for any request without a backend), or it leaves otherwise: queue full, max_wait,
// shutdown (answered 503 here) or its client left (false). Nothing goes upstream while it is held, and
// features.arrival stays the original arrival (cost weighs how long a request has been held).
asio::awaitable<bool> Session::hold(Request& rq, std::optional<std::uint32_t>& picked) {
  const PoolRuntime& pool = *rq.pool;
  Worker::LocalPool& local = *rq.local_pool;
  WorkerHoldQueue& queue = *local.hold;
  const config::HoldQueueConfig& limits = pool.config.queue;
  auto& stats = worker_.stats();
  if (worker_.draining()) {
    co_await write_hold_error("shutting_down", "The gateway is shutting down; retry the request.");
    co_return false;
  }
  if (!pool.held->try_acquire(limits.max_requests)) {
    stats.hold_queue_full.add();
    co_await write_hold_error("queue_full", fmt::format("Every backend for model `{}` is busy and {} requests are "
                                                        "already waiting (queue.max_requests); retry later.",
                                                        model_, limits.max_requests));
    co_return false;
  }
  const Nanos start = worker_.clock().now();
  if (rq.hold_deadline == 0) rq.hold_deadline = start + limits.max_wait;
  stats.held.add();
  queue.push_back(held_);
  spdlog::debug("request {} held (pool {}, {} ahead on this worker)", request_id_, pool.config.name, queue.size() - 1);
  // A read stays pending on the client connection while the request waits, to notice a client that
  // leaves (start_prefetch): it then leaves the queue at once.
  exchange_active_ = true;
  start_prefetch();
  enum class Exit : std::uint8_t { kBound, kNoCandidate, kTimeout, kGone, kDrained } exit;
  for (;;) {
    // Woken early (timer cancelled) by an offer, the client leaving or a drain; else at max_wait.
    wait_timer_.expires_at(worker_.shared().clock.epoch() + std::chrono::nanoseconds(rq.hold_deadline));
    co_await wait_timer_.async_wait(kAwait);
    if (client_gone_ || closed_) {
      exit = Exit::kGone;
      break;
    }
    if (worker_.draining()) {
      exit = Exit::kDrained;
      break;
    }
    if (held_.offered()) {
      routing::PickContext ctx{worker_.clock(), worker_.random(), excluded_};
      picked = local.policy->pick(rq.features, *pool.set, ctx);
      if (picked) {
        exit = Exit::kBound;
        break;
      }
      if (!routing::has_candidate(*pool.set, ctx)) {
        exit = Exit::kNoCandidate;
        break;
      }
      queue.decline(held_);  // held again: keeps its place, and everything behind it stays
    }
    if (worker_.clock().now() >= rq.hold_deadline) {
      exit = Exit::kTimeout;
      break;
    }
  }
  queue.remove(held_);  // a head that leaves offers the next one its turn
  pool.held->release();
  exchange_active_ = false;
  const Nanos held_for = worker_.clock().now() - start;
  rq.held += held_for;
  stats.held_ns_sum.add(static_cast<std::uint64_t>(held_for));
  switch (exit) {
    case Exit::kBound:
      stats.held_dispatched.add();
      spdlog::debug("request {} bound after {} ms held", request_id_, held_for / kNanosPerMilli);
      co_return true;
    case Exit::kNoCandidate:
      co_return true;
    case Exit::kGone:
      stats.hold_abandoned.add();
      spdlog::debug("request {} left the queue: the client went away", request_id_);
      co_return false;
    case Exit::kDrained:
      stats.hold_drained.add();
      co_await write_hold_error("shutting_down", "The gateway is shutting down; retry the request.");
      co_return false;
    case Exit::kTimeout:
      break;
  }
  stats.hold_timeouts.add();
  spdlog::debug("request {} timed out after {} ms held", request_id_, held_for / kNanosPerMilli);
  co_await write_hold_error("queue_timeout",
                            fmt::format("Every backend for model `{}` stayed busy for {} ms (queue.max_wait); retry "
                                        "later.",
                                        model_, limits.max_wait / kNanosPerMilli));
  co_return false;
}

asio::awaitable<Session::Attempt> Session::attempt(Request& rq, std::uint32_t backend, routing::DispatchTicket& ticket,
                                                   bool last_attempt) {
  const PoolRuntime& pool = *rq.pool;
  Worker::LocalPool& local = *rq.local_pool;
  upstream::UpstreamPool& cpool = *local.connections[backend];
  const upstream::BackendTarget& target = pool.targets[backend];
  const Nanos total_deadline = worker_.clock().now() + pool.config.timeouts.total;
  fired_ = AttemptError::kNone;
  exchange_active_ = true;
  start_prefetch();

  Attempt result;
  AttemptError err = client_gone_ ? AttemptError::kClientGone : AttemptError::kNone;
  bool stale_retried = false;
  while (err == AttemptError::kNone) {
    bool reused = false;
    upstream::UpstreamPool::Grant grant = upstream::UpstreamPool::Grant::kIdle;
    err = take_pooled_connection(cpool, stale_retried, reused, grant);
    if (err == AttemptError::kNone && grant != upstream::UpstreamPool::Grant::kIdle) {
      err = co_await acquire_connection(cpool, target, grant, stale_retried, pool.config.timeouts.connect,
                                        total_deadline, reused);
    }
    if (err != AttemptError::kNone) break;
    bool got_bytes = false;
    err = co_await send_and_read_head(rq, target, total_deadline, got_bytes);
    if (err == AttemptError::kNone) break;
    release_upstream(cpool, false);
    if (!got_bytes && !client_gone_ && should_retry_fresh_connection(reused, err, stale_retried)) {
      stale_retried = true;
      err = AttemptError::kNone;
      worker_.stats().stale_retries.add();
      continue;
    }
  }
  if (err != AttemptError::kNone) {
    clear_deadline();
    exchange_active_ = false;
    auto& stats = worker_.stats();
    if (err == AttemptError::kConnectFailed) stats.connect_failures.add();
    if (err == AttemptError::kConnectTimeout) stats.connect_timeouts.add();
    if (err == AttemptError::kFirstTokenTimeout) stats.first_token_timeouts.add();
    if (err == AttemptError::kTotalTimeout) stats.total_timeouts.add();
    if (err == AttemptError::kClientGone) stats.client_aborts.add();
    pool.accounting.complete(ticket,
                             err == AttemptError::kClientGone ? routing::Outcome::kCancelled : routing::Outcome::kError,
                             0, worker_.clock().now(), local.policy.get());
    local.hold->offer();
    if (err != AttemptError::kClientGone) {
      spdlog::debug("backend {}: {}", target.name, message_for_failure(err));
    }
    result.error = err;
    co_return result;
  }
  const int status = resp_parser_->status();
  if (!last_attempt && is_retryable_status(pool.config.retries, status)) {
    release_upstream(cpool, false);  // its body is not wanted; closing is cheaper than reading it
    clear_deadline();
    exchange_active_ = false;
    pool.accounting.complete(ticket, routing::Outcome::kError, 0, worker_.clock().now(), local.policy.get());
    local.hold->offer();
    result.error = AttemptError::kRetryableStatus;
    result.status = status;
    co_return result;
  }
  co_return co_await relay(rq, backend, ticket, total_deadline);
}

// The part of getting a backend connection that needs no waiting, so that the common case, an idle
// pooled connection, costs no coroutine: the client gone or a deadline passed (that error), an idle
// connection (none, conn_ set, `grant` kIdle), or a slot to open one or a place in the queue for one
// (none, `grant` kOpen or kWait: acquire_connection goes on from there). Idle connections found
// closed by the backend on the way are dropped.
AttemptError Session::take_pooled_connection(upstream::UpstreamPool& pool, bool fresh, bool& reused,
                                             upstream::UpstreamPool::Grant& grant) {
  using Grant = upstream::UpstreamPool::Grant;
  for (;;) {
    if (client_gone_) return AttemptError::kClientGone;
    if (fired_ != AttemptError::kNone) return fired_;
    grant = fresh ? pool.acquire_fresh() : pool.acquire(conn_);
    if (grant != Grant::kIdle) return AttemptError::kNone;
    if (worker_.clock().now() - conn_->idle_since > kCheckIdleAfter &&
        !upstream::idle_connection_usable(conn_->socket)) {
      // The backend closed it while it idled (keep-alive timeout): drop it, try the next.
      release_upstream(pool, false);
      continue;
    }
    reused = true;
    worker_.stats().upstream_reuses.add();
    return AttemptError::kNone;
  }
}

// Goes on from take_pooled_connection's grant: opens a connection (kOpen), or waits for one
// (kWait, first come, first served) within the total deadline.
asio::awaitable<AttemptError> Session::acquire_connection(upstream::UpstreamPool& pool,
                                                          const upstream::BackendTarget& target,
                                                          upstream::UpstreamPool::Grant grant, bool fresh,
                                                          Nanos connect_timeout, Nanos total_deadline, bool& reused) {
  using Grant = upstream::UpstreamPool::Grant;
  for (;;) {
    if (grant == Grant::kOpen) {
      reused = false;
      const AttemptError e = co_await open_connection(target, connect_timeout, total_deadline);
      if (e != AttemptError::kNone) release_upstream(pool, false);
      co_return e;
    }
    // Every connection to this backend is busy: wait for one (first come, first served).
    upstream::UpstreamPool::Waiter w;
    w.user = &wait_timer_;
    pool.enqueue(w);
    waiter_ = &w;
    set_deadline(total_deadline, AttemptError::kPoolTimeout);
    wait_timer_.expires_at(std::chrono::steady_clock::time_point::max());
    co_await wait_timer_.async_wait(kAwait);
    waiter_ = nullptr;
    if (w.connection) {
      conn_.emplace(std::move(*w.connection));
      w.connection.reset();
      if (!upstream::idle_connection_usable(conn_->socket)) {
        release_upstream(pool, false);
        const AttemptError e = take_pooled_connection(pool, fresh, reused, grant);
        if (e != AttemptError::kNone || grant == Grant::kIdle) co_return e;
        continue;
      }
      reused = true;
      worker_.stats().upstream_reuses.add();
      co_return AttemptError::kNone;
    }
    if (w.may_open) {
      w.may_open = false;
      reused = false;
      const AttemptError e = co_await open_connection(target, connect_timeout, total_deadline);
      if (e != AttemptError::kNone) release_upstream(pool, false);
      co_return e;
    }
    wake(pool.cancel(w, worker_.clock().now()));
    if (client_gone_) co_return AttemptError::kClientGone;
    co_return fired_ != AttemptError::kNone ? fired_ : AttemptError::kPoolTimeout;
  }
}

asio::awaitable<AttemptError> Session::open_connection(const upstream::BackendTarget& target, Nanos connect_timeout,
                                                       Nanos total_deadline) {
  const Nanos connect_deadline = worker_.clock().now() + connect_timeout;
  if (connect_deadline < total_deadline) {
    set_deadline(connect_deadline, AttemptError::kConnectTimeout);
  } else {
    set_deadline(total_deadline, AttemptError::kTotalTimeout);
  }
  conn_.emplace(upstream::UpstreamConnection{tcp::socket(worker_.io()), 0, 0});
  bool connected = false;
  for (const auto& address : target.addresses) {
    if (client_gone_ || fired_ != AttemptError::kNone) break;
    const tcp::endpoint ep = upstream::to_endpoint(address);
    boost::system::error_code ec;
    if (conn_->socket.is_open()) conn_->socket.close(ec);
    conn_->socket.open(ep.protocol(), ec);
    if (ec) continue;
    auto [cec] = co_await conn_->socket.async_connect(ep, kAwait);
    if (!cec) {
      connected = true;
      break;
    }
  }
  if (connected && !client_gone_ && fired_ == AttemptError::kNone) {
    boost::system::error_code ec;
    conn_->socket.set_option(tcp::no_delay(true), ec);
    worker_.stats().upstream_connects.add();
    co_return AttemptError::kNone;
  }
  if (client_gone_) co_return AttemptError::kClientGone;
  if (fired_ != AttemptError::kNone) co_return fired_;
  co_return AttemptError::kConnectFailed;
}

asio::awaitable<AttemptError> Session::send_and_read_head(Request& rq, const upstream::BackendTarget& target,
                                                          Nanos total_deadline, bool& got_bytes) {
  const PoolRuntime& pool = *rq.pool;
  up_head_.clear();
  upstream::UpstreamRequestHead head;
  head.method = method_;
  head.base_path = target.base_path;
  head.target = rq.target;
  head.host = target.host_header;
  head.client_headers = &req_headers_;
  head.rules = &pool.config.headers;
  head.client_address = client_address_;
  head.request_id = request_id_;
  head.content_length = rq.upstream_body_size;
  upstream::append_upstream_request_head(head, up_head_);

  std::array<asio::const_buffer, 4> bufs;
  std::size_t nbufs = 0;
  bufs[nbufs++] = asio::buffer(up_head_);
  const std::string_view body = body_.view();
  if (rq.rewrite_model) {
    bufs[nbufs++] = asio::buffer(body.data(), rq.model_offset);
    bufs[nbufs++] = asio::buffer(model_json_);
    const std::size_t tail = rq.model_offset + rq.model_length;
    bufs[nbufs++] = asio::buffer(body.data() + tail, body.size() - tail);
  } else if (!body.empty()) {
    bufs[nbufs++] = asio::buffer(body.data(), body.size());
  }

  rq.sent_at = worker_.clock().now();
  if (rq.stream && rq.sent_at + pool.config.timeouts.first_token < total_deadline) {
    set_deadline(rq.sent_at + pool.config.timeouts.first_token, AttemptError::kFirstTokenTimeout);
  } else {
    set_deadline(total_deadline, AttemptError::kTotalTimeout);
  }
  auto [wec, wn] = co_await asio::async_write(conn_->socket, std::span(bufs.data(), nbufs), kAwait);
  if (client_gone_) co_return AttemptError::kClientGone;
  if (fired_ != AttemptError::kNone) co_return fired_;
  if (wec) co_return AttemptError::kNoResponse;

  up_buf_.clear();
  for (;;) {
    resp_parser_.emplace(resp_headers_, static_cast<upstream::BodySink*>(this));
    if (rq.head_method) resp_parser_->skip(true);
    while (!resp_parser_->is_header_done()) {
      if (up_buf_.size() > 0) {
        beast::error_code pec;
        const std::size_t used = resp_parser_->put(up_buf_.data(), pec);
        up_buf_.consume(used);
        if (pec && pec != http::error::need_more) co_return AttemptError::kBadResponse;
        if (resp_parser_->is_header_done()) break;
      }
      auto [rec, rn] = co_await conn_->socket.async_read_some(up_buf_.prepare(), kAwait);
      if (client_gone_) co_return AttemptError::kClientGone;
      if (fired_ != AttemptError::kNone) co_return fired_;
      if (rec) co_return got_bytes ? AttemptError::kBadResponse : AttemptError::kNoResponse;
      up_buf_.commit(rn);
      got_bytes = true;
    }
    const int status = resp_parser_->status();
    if (status >= 100 && status < 200) {
      if (status == 101) co_return AttemptError::kBadResponse;  // no upgrades through the gateway
      continue;  // an interim response (100 Continue, 103 Early Hints): the real one follows
    }
    co_return AttemptError::kNone;
  }
}

// ---------------------------------------------------------------------------------------------
// The relay: the backend's response to the client, as it arrives

void Session::on_body(std::string_view bytes) {
  if (body_is_sse_) sse_.feed(bytes);
  if (capture_body_) {
    if (captured_body_.size() + bytes.size() <= kMaxCapturedBody) {
      captured_body_.append(bytes);
    } else {
      capture_body_ = false;
      captured_body_.clear();
    }
  }
  switch (body_mode_) {
    case BodyMode::kWatch:
      break;  // the raw bytes are forwarded as they are
    case BodyMode::kRechunk: {
      char size[20];
      const int n = std::snprintf(size, sizeof size, "%zx\r\n", bytes.size());
      out_body_.append(size, static_cast<std::size_t>(n));
      out_body_.append(bytes);
      out_body_.append("\r\n", 2);
      break;
    }
    case BodyMode::kRaw:
      out_body_.append(bytes);
      break;
  }
}

asio::awaitable<Session::Attempt> Session::relay(Request& rq, std::uint32_t backend, routing::DispatchTicket& ticket,
                                                 Nanos total_deadline) {
  const PoolRuntime& pool = *rq.pool;
  Worker::LocalPool& local = *rq.local_pool;
  upstream::UpstreamPool& cpool = *local.connections[backend];
  const upstream::BackendTarget& target = pool.targets[backend];
  upstream::UpstreamResponseParser& p = *resp_parser_;
  auto& stats = worker_.stats();
  const int status = p.status();

  const auto content_type = resp_headers_.get(HeaderKind::kContentType);
  body_is_sse_ = content_type && starts_with_ci(*content_type, "text/event-stream");
  sse_.reset();
  captured_body_.clear();
  capture_body_ = !body_is_sse_ && !rq.head_method;
  out_body_.clear();
  if (!body_is_sse_) {
    // A non-streamed answer arrives whole: its head is the first sign of progress.
    const Nanos now = worker_.clock().now();
    pool.accounting.first_token(ticket, now, local.policy.get());
    local.hold->offer();
    stats.ttft_count.add();
    stats.ttft_sum_ns.add(static_cast<std::uint64_t>(now - ticket.dispatched_at()));
  }

  // How the body is framed towards the client. Content-length and chunked bodies go through
  // byte for byte (an HTTP/1.1 client reads the backend's own chunking); a close-delimited body is
  // chunked here; an HTTP/1.0 client gets the bare body and the connection closes after it.
  ClientResponseHead head;
  head.status = status;
  head.version = version_;
  head.upstream = &resp_headers_;
  head.request_id = request_id_;
  if (rq.local->snapshot->server.backend_header) {
    head.backend_name = target.name;
    if (rq.hold_deadline != 0) head.queued_ms = rq.held / kNanosPerMilli;
  }
  if (p.is_done()) {
    body_mode_ = BodyMode::kWatch;
    const auto cl = p.content_length();
    if (status == 204 || status == 304 || (rq.head_method && !cl)) {
      head.framing = Framing::kNoBody;
    } else {
      head.framing = Framing::kContentLength;
      head.content_length = rq.head_method ? *cl : 0;
    }
  } else if (p.chunked()) {
    body_mode_ = version_ >= 11 ? BodyMode::kWatch : BodyMode::kRaw;
    head.framing = version_ >= 11 ? Framing::kChunked : Framing::kClose;
  } else if (const auto cl = p.content_length()) {
    body_mode_ = BodyMode::kWatch;
    head.framing = Framing::kContentLength;
    head.content_length = *cl;
  } else {
    body_mode_ = version_ >= 11 ? BodyMode::kRechunk : BodyMode::kRaw;
    head.framing = version_ >= 11 ? Framing::kChunked : Framing::kClose;
  }
  head.keep_alive = keep_alive_ && !worker_.draining() && head.framing != Framing::kClose;
  if (!head.keep_alive) keep_alive_ = false;
  out_.clear();
  append_client_response_head(head, out_);

  const bool event_deadlines = rq.stream && body_is_sse_;
  auto phase_deadline = [&](Nanos& at, AttemptError& why) {
    at = total_deadline;
    why = AttemptError::kTotalTimeout;
    if (!event_deadlines) return;
    const Nanos phase = sse_.events() == 0 ? rq.sent_at + pool.config.timeouts.first_token
                                           : rq.last_event_at + pool.config.timeouts.stream_idle;
    if (phase < at) {
      at = phase;
      why = sse_.events() == 0 ? AttemptError::kFirstTokenTimeout : AttemptError::kIdleTimeout;
    }
  };

  p.eager(true);
  bool head_sent = false;
  AttemptError err = AttemptError::kNone;
  for (;;) {
    std::size_t used = 0;
    out_body_.clear();
    const std::uint64_t events_before = sse_.events();
    if (!p.is_done() && up_buf_.size() > 0) {
      beast::error_code pec;
      used = p.put(up_buf_.data(), pec);
      if (pec == http::error::need_more) pec = {};
      if (pec) {
        err = AttemptError::kBadResponse;
        break;
      }
    }
    const bool done = p.is_done();
    if (done && body_mode_ == BodyMode::kRechunk) out_body_.append("0\r\n\r\n", 5);
    const std::string_view payload = body_mode_ == BodyMode::kWatch
                                         ? std::string_view(static_cast<const char*>(up_buf_.data().data()), used)
                                         : std::string_view(out_body_);
    if (sse_.events() > events_before) {
      const Nanos now = worker_.clock().now();
      if (events_before == 0) {
        // A backend that streams usage on every chunk (vLLM continuous_usage_stats) reports the cache
        // hit with the first one; parse_usage skips a chunk without usage at the cost of a search.
        const auto first = sse_.usage_payload();
        pool.accounting.first_token(ticket, now, local.policy.get(),
                                    first ? prompt_usage_of(openai::parse_usage(*first)) : routing::PromptUsage{});
        local.hold->offer();
        stats.ttft_count.add();
        stats.ttft_sum_ns.add(static_cast<std::uint64_t>(now - ticket.dispatched_at()));
      } else {
        const auto gap = static_cast<std::uint64_t>(now - rq.last_event_at);
        stats.itl_count.add();
        stats.itl_sum_ns.add(gap);
        stats.itl_max_ns.raise_to(gap);
      }
      rq.last_event_at = now;
    }
    // The head goes out with the first body bytes (or alone when the body is complete): until then
    // nothing has reached the client, and a timeout can still be answered with a clean 504.
    if (!payload.empty() || (done && !head_sent)) {
      const bool ok = head_sent ? co_await write_client(payload) : co_await write_client(out_, payload);
      if (!ok) {
        err = AttemptError::kClientGone;
        break;
      }
      head_sent = true;
    }
    up_buf_.consume(used);
    if (done) break;
    if (used > 0 && up_buf_.size() > 0) continue;
    if (client_gone_) {
      err = AttemptError::kClientGone;
      break;
    }
    Nanos at;
    AttemptError why;
    phase_deadline(at, why);
    set_deadline(at, why);
    auto [rec, rn] = co_await conn_->socket.async_read_some(up_buf_.prepare(), kAwait);
    if (client_gone_) {
      err = AttemptError::kClientGone;
      break;
    }
    if (fired_ != AttemptError::kNone) {
      err = fired_;
      break;
    }
    if (rec == asio::error::eof && p.need_eof()) {
      beast::error_code eec;
      p.put_eof(eec);
      if (eec) {
        err = AttemptError::kBadResponse;
        break;
      }
      continue;
    }
    if (rec) {
      err = AttemptError::kBadResponse;
      break;
    }
    up_buf_.commit(rn);
  }
  clear_deadline();
  exchange_active_ = false;
  const Nanos now = worker_.clock().now();

  // Output tokens: the usage the backend reported, else the number of streamed chunks.
  std::uint32_t tokens = 0;
  std::optional<openai::Usage> usage;
  if (body_is_sse_) {
    if (const auto payload = sse_.usage_payload()) usage = openai::parse_usage(*payload);
    if (!usage) tokens = static_cast<std::uint32_t>(sse_.data_events());
  } else if (capture_body_ && !captured_body_.empty() && err == AttemptError::kNone) {
    usage = openai::parse_usage(captured_body_);
  }
  if (usage) tokens = static_cast<std::uint32_t>(std::clamp<std::int64_t>(usage->completion_tokens, 0, UINT32_MAX));

  Attempt result;
  result.status = status;
  result.response_started = head_sent;
  result.error = err;
  if (err == AttemptError::kNone) {
    release_upstream(cpool, p.keep_alive() && up_buf_.size() == 0);
    pool.accounting.complete(ticket, status >= 500 ? routing::Outcome::kError : routing::Outcome::kOk, tokens, now,
                             local.policy.get(), prompt_usage_of(usage));
    local.hold->offer();
    if (status < 300) {
      stats.responses_2xx.add();
    } else if (status >= 400 && status < 500) {
      stats.responses_4xx.add();
    } else if (status >= 500) {
      stats.responses_5xx.add();
    } else {
      stats.responses_other.add();
    }
    co_return result;
  }
  release_upstream(cpool, false);
  pool.accounting.complete(ticket,
                           err == AttemptError::kClientGone ? routing::Outcome::kCancelled : routing::Outcome::kError,
                           tokens, now, local.policy.get(), prompt_usage_of(usage));
  local.hold->offer();
  switch (err) {
    case AttemptError::kClientGone:
      stats.client_aborts.add();
      break;
    case AttemptError::kFirstTokenTimeout:
      stats.first_token_timeouts.add();
      break;
    case AttemptError::kIdleTimeout:
      stats.idle_timeouts.add();
      break;
    case AttemptError::kTotalTimeout:
      stats.total_timeouts.add();
      break;
    default:
      break;
  }
  if (err != AttemptError::kClientGone) {
    spdlog::debug("backend {}: {} ({} bytes relayed)", target.name, message_for_failure(err), p.body_bytes());
  }
  if (head_sent) {
    // A stream was under way: the client has what arrived; closing tells it the rest will not.
    keep_alive_ = false;
    closing_ = true;
  }
  co_return result;
}

void Session::release_upstream(upstream::UpstreamPool& pool, bool reusable) {
  // What is left in up_buf_ once the connection goes is of no use (bytes past a complete answer make
  // the connection unusable): the block goes back to the worker.
  up_buf_.release();
  if (!conn_) return;
  if (reusable && conn_->socket.is_open()) {
    ++conn_->exchanges;
    conn_->idle_since = worker_.clock().now();
    upstream::UpstreamConnection c = std::move(*conn_);
    conn_.reset();
    wake(pool.release(std::move(c), worker_.clock().now()));
    return;
  }
  upstream::close_quietly(conn_->socket);
  conn_.reset();
  wake(pool.discard());
}

void Session::wake(upstream::UpstreamPool::Waiter* w) {
  if (w != nullptr) static_cast<asio::steady_timer*>(w->user)->cancel();
}

// ---------------------------------------------------------------------------------------------
// Writing to the client

asio::awaitable<bool> Session::write_client(std::string_view a, std::string_view b) {
  if (closed_) co_return false;
  const std::array<asio::const_buffer, 2> bufs{asio::buffer(a.data(), a.size()), asio::buffer(b.data(), b.size())};
  client_write_pending_ = true;
  auto [ec, n] = co_await asio::async_write(client_, bufs, kAwait);
  client_write_pending_ = false;
  if (ec) {
    keep_alive_ = false;
    closing_ = true;
    co_return false;
  }
  co_return true;
}

asio::awaitable<void> Session::write_gateway_response(int status, std::string_view content_type, std::string_view body,
                                                      std::string_view allow, std::string_view retry_after) {
  auto& stats = worker_.stats();
  if (status >= 400) stats.gateway_errors.add();
  if (status < 300) {
    stats.responses_2xx.add();
  } else if (status < 500) {
    stats.responses_4xx.add();
  } else {
    stats.responses_5xx.add();
  }
  ClientResponseHead head;
  head.status = status;
  head.version = version_;
  head.framing = Framing::kContentLength;
  head.content_length = body.size();
  head.keep_alive = keep_alive_ && !closing_ && !worker_.draining();
  head.content_type = content_type;
  head.request_id = request_id_;
  head.allow = allow;
  head.retry_after = retry_after;
  if (!head.keep_alive) keep_alive_ = false;
  out_.clear();
  append_client_response_head(head, out_);
  const bool head_only = method_ == "HEAD";
  co_await write_client(out_, head_only ? std::string_view{} : body);
}

asio::awaitable<void> Session::write_error(int status, std::string message, std::string_view param) {
  const std::string body = openai::error_body(status, message, param);
  co_await write_gateway_response(status, "application/json", body);
}

// A request the hold queue gives back: OpenAI's error shape with a code clients can act on, and
// Retry-After, since the cause (a saturated fleet, a restart) passes.
asio::awaitable<void> Session::write_hold_error(std::string_view code, std::string message) {
  const std::string body = openai::coded_error_body(message, "server_error", code);
  co_await write_gateway_response(503, "application/json", body, {}, "1");
}

// ---------------------------------------------------------------------------------------------
// Deadlines and client-gone detection

void Session::set_deadline(Nanos at, AttemptError error) {
  deadline_ = at;
  deadline_error_ = error;
  deadline_set_ = true;
  // Lazy re-arming: the timer only moves when the new deadline is earlier than the one it is set
  // for; a later deadline is picked up when the timer fires (on_watchdog re-arms). In the steady
  // state of a keep-alive connection that is no timer operation per request.
  if (!watchdog_armed_ || at < watchdog_at_) arm_watchdog(at);
}

void Session::clear_deadline() { deadline_set_ = false; }

void Session::arm_watchdog(Nanos at) {
  watchdog_armed_ = true;
  watchdog_at_ = at;
  watchdog_.expires_at(worker_.shared().clock.epoch() + std::chrono::nanoseconds(at));
  watchdog_.async_wait([self = shared_from_this(), at](const boost::system::error_code& ec) {
    if (ec || self->watchdog_at_ != at) return;  // re-armed or cancelled meanwhile
    self->watchdog_armed_ = false;
    self->on_watchdog();
  });
}

void Session::on_watchdog() {
  if (!deadline_set_ || closed_) return;
  if (worker_.clock().now() < deadline_) {
    arm_watchdog(deadline_);
    return;
  }
  deadline_set_ = false;
  fired_ = deadline_error_;
  // Abort whatever the request is waiting on: the backend connection, a pooled-connection wait, or
  // (total timeout) a write to a client that stopped reading.
  if (conn_) upstream::close_quietly(conn_->socket);
  wait_timer_.cancel();
  if (client_write_pending_) {
    boost::system::error_code ec;
    client_.cancel(ec);
  }
}

void Session::client_went_away() {
  client_gone_ = true;
  keep_alive_ = false;
  closing_ = true;
  // Closing the backend connection is how the backend learns to stop generating (vLLM aborts a
  // request whose connection closed).
  if (conn_) upstream::close_quietly(conn_->socket);
  wait_timer_.cancel();
}

}  // namespace kvroute::proxy
