#include "sim_server/session.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

#include "openai/errors.h"
#include "openai/sse.h"
#include "sim_server/embeddings.h"

namespace kvroute::sim_server {
namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kHeaderLimit = 64 * 1024;
constexpr std::size_t kWatchBytes = 4096;
/// An oversized body is read and discarded (so the connection stays usable) up to this many
/// bytes beyond the limit; past that the connection is closed instead.
constexpr std::uint64_t kMaxDrainBytes = 64u << 20;

struct Target {
  std::string_view path;
  std::string_view query;
};

Target split_target(std::string_view target) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

/// Value of `key` in a query string, or nullopt.
std::optional<std::string_view> query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

bool is_client_gone(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
         ec == asio::error::operation_aborted || ec == asio::error::broken_pipe ||
         ec == asio::error::bad_descriptor || ec == http::error::partial_message;
}

}  // namespace

Session::Session(Instance& instance, tcp::socket socket)
    : inst_(instance), socket_(std::move(socket)), wake_(socket_.get_executor()), delay_(socket_.get_executor()) {
  // For the direct sends of the streaming pump; asynchronous operations are unaffected.
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
}

Session::~Session() = default;

void Session::wake() { wake_.cancel(); }

template <class Pred>
asio::awaitable<void> Session::wait_until(Pred pred) {
  // Single-threaded: state changes and wake() happen between our checks, never during one.
  while (!pred()) {
    wake_.expires_at(std::chrono::steady_clock::time_point::max());
    co_await wake_.async_wait(kAwait);
  }
}

void Session::shutdown() {
  stopping_ = true;
  closing_ = true;
  close_socket();
  wake();
}

void Session::close_socket() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  delay_.cancel();
}

asio::awaitable<void> Session::run() {
  auto self = shared_from_this();  // alive for as long as the connection
  inst_.session_started(this);
  const std::uint64_t max_body = inst_.config().max_body_bytes;
  while (!closing_ && !stopping_) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(boost::none);  // checked by hand below, so an oversized body can be drained
    auto [ec, n] = co_await http::async_read_header(socket_, buffer_, parser, kAwait);
    if (ec) {
      if (!is_client_gone(ec) && !closed_) {
        closing_ = true;
        keep_alive_ = false;
        co_await write_error(400, fmt::format("Malformed HTTP request: {}.", ec.message()));
      }
      break;
    }
    const auto& head = parser.get();
    version_ = head.version();
    keep_alive_ = head.keep_alive();
    const bool expect_continue = beast::iequals(head[http::field::expect], "100-continue");
    if (const auto length = parser.content_length(); length && *length > max_body) {
      const std::string message =
          fmt::format("Request body too large: {} bytes (limit {} bytes, --max-body-bytes).", *length, max_body);
      if (expect_continue || *length - max_body > kMaxDrainBytes) {
        closing_ = true;  // the client may not send the body at all, or it is too big to read through
      } else if (!co_await drain_body(*length)) {
        break;
      }
      co_await write_error(413, message);
      continue;
    }
    if (expect_continue && !parser.is_done()) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [wec, wn] = co_await asio::async_write(socket_, asio::buffer(kContinue), kAwait);
      if (wec) break;
    }
    parser.body_limit(max_body);
    if (!parser.is_done()) {
      std::tie(ec, n) = co_await http::async_read(socket_, buffer_, parser, kAwait);
      if (ec == http::error::body_limit) {
        // A chunked body over the limit: what is left of it cannot be skipped cheaply.
        closing_ = true;
        co_await write_error(413, fmt::format("Request body too large (limit {} bytes, --max-body-bytes).", max_body));
        break;
      }
      if (ec) {
        if (!is_client_gone(ec) && !closed_) {
          closing_ = true;
          co_await write_error(400, fmt::format("Malformed HTTP request: {}.", ec.message()));
        }
        break;
      }
    }
    Request req = parser.release();
    co_await handle(req);
  }
  close_socket();
  inst_.session_ended(this);
}

asio::awaitable<bool> Session::drain_body(std::uint64_t bytes) {
  const std::uint64_t buffered = std::min<std::uint64_t>(buffer_.size(), bytes);
  buffer_.consume(static_cast<std::size_t>(buffered));
  bytes -= buffered;
  std::array<char, 16384> sink;
  while (bytes > 0) {
    auto [ec, n] = co_await socket_.async_read_some(
        asio::buffer(sink.data(), static_cast<std::size_t>(std::min<std::uint64_t>(sink.size(), bytes))), kAwait);
    if (ec) co_return false;
    bytes -= n;
  }
  co_return true;
}

asio::awaitable<void> Session::write_response(int status, std::string_view content_type, std::string body,
                                              std::string_view allow) {
  if (closed_) co_return;
  http::response<http::string_body> res{static_cast<http::status>(status), version_};
  if (!content_type.empty()) res.set(http::field::content_type, content_type);
  res.set("x-sim-instance", inst_.authority());
  if (!allow.empty()) res.set(http::field::allow, allow);
  res.keep_alive(keep_alive_ && !closing_);
  res.body() = std::move(body);
  res.prepare_payload();
  auto [ec, n] = co_await http::async_write(socket_, res, kAwait);
  if (ec) closing_ = true;
  scratch_ = std::move(res.body());  // keep the capacity for the next page
  scratch_.clear();
}

asio::awaitable<void> Session::write_error(int status, std::string_view message, std::string_view param) {
  co_await write_response(status, "application/json", openai::error_body(status, message, param));
}

asio::awaitable<void> Session::handle(Request& req) {
  const Target t = split_target(req.target());
  const http::verb method = req.method();
  const openai::Endpoint endpoint = openai::endpoint_for_path(t.path);
  if (endpoint == openai::Endpoint::kChatCompletions || endpoint == openai::Endpoint::kCompletions) {
    if (method != http::verb::post) {
      co_await write_response(405, "application/json",
                              openai::error_body(405, fmt::format("Method Not Allowed: use POST for {}.", t.path)),
                              "POST");
      co_return;
    }
    co_await serve_generation(req, endpoint);
    co_return;
  }
  if (endpoint == openai::Endpoint::kEmbeddings) {
    if (method != http::verb::post) {
      co_await write_response(405, "application/json",
                              openai::error_body(405, fmt::format("Method Not Allowed: use POST for {}.", t.path)),
                              "POST");
      co_return;
    }
    co_await serve_embeddings(req);
    co_return;
  }
  if (t.path == "/v1/models" || t.path == "/health" || t.path == "/metrics") {
    if (method != http::verb::get) {
      co_await write_response(405, "application/json",
                              openai::error_body(405, fmt::format("Method Not Allowed: use GET for {}.", t.path)),
                              "GET");
      co_return;
    }
    if (t.path == "/health") {
      co_await write_response(200, {}, {});
    } else if (t.path == "/metrics") {
      std::string page = std::move(scratch_);
      inst_.render_metrics(page);
      co_await write_response(200, "text/plain; version=0.0.4; charset=utf-8", std::move(page));
    } else {
      const auto created = static_cast<std::int64_t>(std::time(nullptr));
      std::string body = "{\"object\":\"list\",\"data\":[{\"id\":\"";
      openai::append_json_escaped(body, inst_.model());
      body += "\",\"object\":\"model\",\"created\":";
      body += std::to_string(created);
      body += ",\"owned_by\":\"vllm\",\"root\":\"";
      openai::append_json_escaped(body, inst_.preset().model_name);
      body += "\",\"parent\":null,\"max_model_len\":";
      body += std::to_string(inst_.preset().max_model_len);
      body += ",\"permission\":[]}]}";
      co_await write_response(200, "application/json", std::move(body));
    }
    co_return;
  }
  if (t.path.starts_with("/sim/")) {
    co_await serve_control(req, t.path, t.query);
    co_return;
  }
  co_await write_error(404, fmt::format("Not Found: {}", t.path));
}

asio::awaitable<void> Session::serve_control(Request& req, std::string_view path, std::string_view query) {
  Instance* target = &inst_;
  if (auto which = query_param(query, "instance")) {
    std::uint32_t i = 0;
    const auto [p, err] = std::from_chars(which->data(), which->data() + which->size(), i);
    if (err != std::errc{} || p != which->data() + which->size()) {
      co_await write_error(400, fmt::format("Invalid instance '{}': expected an instance index.", *which));
      co_return;
    }
    target = inst_.peer(i);
    if (target == nullptr) {
      co_await write_error(404, fmt::format("No instance {} in this process.", i));
      co_return;
    }
  }
  ControlReply reply;
  if (target == &inst_) {
    reply = inst_.control(std::string_view(req.method_string()), path, req.body());
  } else {
    // The target lives on another thread: run the call there, post the answer back here. (Plain
    // handlers rather than co_spawn of a capturing lambda, which GCC 12 miscompiles.)
    struct Shared {
      ControlReply reply;
      bool done = false;
    };
    auto shared = std::make_shared<Shared>();
    asio::post(target->executor(), [target, shared, self = shared_from_this(), home = socket_.get_executor(),
                                    method = std::string(req.method_string()), p = std::string(path),
                                    body = std::move(req.body())]() mutable {
      ControlReply r = target->control(method, p, body);
      asio::post(home, [shared, self = std::move(self), r = std::move(r)]() mutable {
        shared->reply = std::move(r);
        shared->done = true;
        self->wake();
      });
    });
    co_await wait_until([&shared] { return shared->done; });
    reply = std::move(shared->reply);
  }
  co_await write_response(reply.status, "application/json", std::move(reply.body));
}

asio::awaitable<void> Session::serve_generation(Request& req, openai::Endpoint endpoint) {
  std::string& body = req.body();
  TextSeedSink sink(inst_.preset().block_size);
  auto parsed = inst_.parser().parse(endpoint, body, body.capacity(), &sink);
  if (!parsed) {
    co_await write_error(parsed.error().code, parsed.error().message);
    co_return;
  }
  // The parse result points into the thread's parser: read everything needed before any co_await.
  const openai::RequestFields& f = *parsed;
  if (f.model != inst_.model()) {
    co_await write_error(404, fmt::format("The model `{}` does not exist.", f.model), "model");
    co_return;
  }
  if (sink.tokens() == 0) {
    co_await write_error(400, "The prompt is empty: at least one token is needed.", "prompt");
    co_return;
  }
  auto plan = plan_output(f, sink.tokens(), inst_.preset().max_model_len, sink.seed());
  if (!plan) {
    co_await write_error(plan.error().code, plan.error().message);
    co_return;
  }
  Submission sub;
  sub.api = endpoint == openai::Endpoint::kChatCompletions ? Api::kChat : Api::kCompletion;
  sub.stream = f.stream;
  sub.include_usage = f.include_usage;
  sub.continuous_usage = f.continuous_usage_stats;
  sub.prompt_tokens = sink.tokens();
  sub.block_hashes = std::move(sink.block_hashes());
  sub.plan = *plan;
  sub.text_seed = sink.seed();
  sub.fault = inst_.faults().decide_request(inst_.fault_random(), inst_.waiting_requests());
  if (co_await answer_fault(sub.fault)) co_return;

  RequestState* st = inst_.submit(std::move(sub), *this);
  if (st == nullptr) {
    co_await write_error(400, "The request does not fit in this server's KV cache.");
    co_return;
  }
  req_ = st;
  cut_ = false;
  start_watch();
  if (st->stream) {
    chunked_ = version_ >= 11;
    if (!chunked_) closing_ = true;  // HTTP/1.0: the end of the stream is the end of the connection
    sent_ = 0;
    stream_done_ = false;
    delay_done_ = false;
    headers_pending_ = true;
    pump();
    co_await wait_until([this] { return stream_done_ || cut_ || client_gone_ || stopping_ || closed_; });
  } else {
    co_await wait_until([this, st] { return st->finished || cut_ || client_gone_ || stopping_ || closed_; });
  }

  const bool completed = st->stream ? stream_done_ && !client_gone_ : st->finished && !client_gone_ && !closed_;
  if (!completed) {
    // Client gone, close_after_tokens reached, or shutdown: abort and drop the connection.
    inst_.abort(*st);
    closing_ = true;
    close_socket();
    co_await wait_until([this] { return !write_busy_ && !delay_busy_ && !watch_pending_; });
    inst_.release(*st);
    req_ = nullptr;
    co_return;
  }
  co_await stop_watch();
  if (!st->stream && !closed_) {
    std::string page = std::move(scratch_);
    page.clear();
    append_response_body(page, st->api, st->response_id, st->created, inst_.model(), st->text_seed,
                         st->plan.output_tokens, finish_reason_name(st->plan.finish),
                         st->usage(st->plan.output_tokens));
    inst_.release(*st);
    req_ = nullptr;
    co_await write_response(200, "application/json", std::move(page));
    co_return;
  }
  inst_.release(*st);
  req_ = nullptr;
}

asio::awaitable<bool> Session::answer_fault(const sim::RequestFault& fault) {
  switch (fault.kind) {
    case sim::RequestFault::Kind::kError:
      co_await write_error(fault.status,
                           fmt::format("Injected failure (kvroute-sim fault error_rate, status {}).", fault.status));
      co_return true;
    case sim::RequestFault::Kind::kQueueFull:
      co_await write_error(503, fmt::format("The server is overloaded: {} requests are waiting (queue_limit {}).",
                                            inst_.waiting_requests(), inst_.faults().settings().queue_limit));
      co_return true;
    case sim::RequestFault::Kind::kHang:
      // Read, never answered: only the client going away (or shutdown) ends it.
      start_watch();
      co_await wait_until([this] { return client_gone_ || stopping_ || closed_; });
      closing_ = true;
      close_socket();
      co_await wait_until([this] { return !watch_pending_; });
      co_return true;
    case sim::RequestFault::Kind::kServe:
      break;
  }
  co_return false;
}

asio::awaitable<void> Session::serve_embeddings(Request& req) {
  EmbeddingsRequest request;
  std::optional<RequestError> error = parse_embeddings_request(req.body(), inst_.preset().block_size, request);
  if (!error && request.model != inst_.model()) {
    error = RequestError{404, fmt::format("The model `{}` does not exist.", request.model), "model"};
  }
  if (!error) error = check_embeddings_request(request, inst_.model(), inst_.preset().max_model_len);
  if (error) {
    co_await write_error(error->status, error->message, error->param);
    co_return;
  }
  // One fault decision per HTTP request, as for completions. close_after_tokens never fires (an
  // embedding has no output tokens); slow_ms delays the answer once, as it would one token.
  const sim::RequestFault fault = inst_.faults().decide_request(inst_.fault_random(), inst_.waiting_requests());
  if (co_await answer_fault(fault)) co_return;

  const auto created = static_cast<std::int64_t>(std::time(nullptr));
  pooled_.clear();
  pooled_finished_ = 0;
  for (EmbeddingInput& in : request.inputs) {
    Submission sub;
    sub.api = Api::kCompletion;
    sub.pooling = true;
    sub.prompt_tokens = in.tokens;
    sub.block_hashes = std::move(in.block_hashes);
    sub.plan = OutputPlan{1, FinishReason::kStop, 0};
    RequestState* st = inst_.submit(std::move(sub), *this);
    if (st == nullptr) {
      release_pooled();
      co_await write_error(400, "The request does not fit in this server's KV cache.");
      co_return;
    }
    pooled_.push_back(st);
  }

  start_watch();
  co_await wait_until([this] { return pooled_finished_ == pooled_.size() || client_gone_ || stopping_ || closed_; });
  bool completed = pooled_finished_ == pooled_.size() && !client_gone_ && !closed_;
  if (completed && fault.token_delay_ms > 0) {
    delay_done_ = false;
    delay_busy_ = true;
    delay_.expires_after(std::chrono::milliseconds(fault.token_delay_ms));
    delay_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      self->delay_busy_ = false;
      self->delay_done_ = !ec;
      self->wake();
    });
    co_await wait_until([this] { return !delay_busy_ || client_gone_ || stopping_ || closed_; });
    completed = delay_done_ && !client_gone_ && !closed_;
  }
  if (!completed) {
    // Client gone or shutdown: abort what still runs and drop the connection.
    closing_ = true;
    close_socket();
    release_pooled();
    co_await wait_until([this] { return !delay_busy_ && !watch_pending_; });
    co_return;
  }
  co_await stop_watch();
  std::string page = std::move(scratch_);
  page.clear();
  append_embeddings_body(page, make_embeddings_id(inst_.id_random()), created, inst_.model(), request,
                         inst_.preset().hidden_size, vector_);
  release_pooled();
  co_await write_response(200, "application/json", std::move(page));
}

void Session::release_pooled() {
  for (RequestState* st : pooled_) inst_.release(*st);  // release() aborts one still in the engine
  pooled_.clear();
  pooled_finished_ = 0;
}

void Session::start_watch() {
  if (watch_pending_ || closed_) return;
  watch_pending_ = true;
  socket_.async_read_some(buffer_.prepare(kWatchBytes),
                          [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                            self->watch_pending_ = false;
                            if (!ec) {
                              self->buffer_.commit(n);  // a pipelined request: parsed after this one
                            } else if (ec != asio::error::operation_aborted) {
                              self->client_gone_ = true;
                            }
                            self->wake();
                          });
}

asio::awaitable<void> Session::stop_watch() {
  if (!watch_pending_) co_return;
  boost::system::error_code ec;
  socket_.cancel(ec);  // no write is in flight here
  co_await wait_until([this] { return !watch_pending_; });
}

void Session::on_progress() {
  if (closed_) return;
  if (!pooled_.empty()) {
    // An embeddings input finished its prefill (its only event); answer when all have.
    if (++pooled_finished_ == pooled_.size()) wake();
    return;
  }
  if (req_ == nullptr) return;
  RequestState& st = *req_;
  if (st.stream) {
    pump();
    return;
  }
  if (st.finished) {
    wake();
  } else if (st.close_after_tokens > 0 && st.tokens_ready >= st.close_after_tokens) {
    cut_ = true;
    wake();
  }
}

void Session::pump() {
  if (write_busy_ || delay_busy_ || stream_done_ || cut_ || closed_ || req_ == nullptr) return;
  RequestState& st = *req_;
  const bool cutting = st.close_after_tokens > 0 && st.close_after_tokens < st.plan.output_tokens;
  std::uint32_t limit = st.tokens_ready;
  if (cutting) {
    if (sent_ >= st.close_after_tokens) {
      cut_ = true;  // exactly K token events are out: the connection goes now
      wake();
      return;
    }
    limit = std::min(limit, st.close_after_tokens);
  }
  const bool have_tokens = sent_ < limit;
  if (!have_tokens && !headers_pending_) return;
  if (have_tokens && st.token_delay_ms > 0) {
    if (!delay_done_ && !headers_pending_) {
      delay_busy_ = true;
      delay_.expires_after(std::chrono::milliseconds(st.token_delay_ms));
      delay_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        self->delay_busy_ = false;
        if (ec || self->closed_) {
          self->wake();
          return;
        }
        self->delay_done_ = true;
        self->pump();
      });
      return;
    }
    if (delay_done_) {
      limit = sent_ + 1;  // slow: one token per delay
      delay_done_ = false;
    } else {
      limit = sent_;  // headers first, then the delay before the first token
    }
  }

  out_.clear();
  events_.clear();
  if (headers_pending_) {
    headers_pending_ = false;
    out_ += version_ >= 11 ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.0 200 OK\r\n";
    out_ += "content-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\nx-sim-instance: ";
    out_ += inst_.authority();
    out_ += "\r\n";
    if (chunked_) out_ += "transfer-encoding: chunked\r\n";
    if (!keep_alive_ || closing_) out_ += "connection: close\r\n";
    out_ += "\r\n";
  }
  const std::string_view finish = finish_reason_name(st.plan.finish);
  for (std::uint32_t i = sent_; i < limit; ++i) {
    UsageCounts usage = st.usage(i + 1);
    if (i == 0 && st.api == Api::kChat) {
      UsageCounts role_usage = st.usage(0);
      st.chunks.append_role_event(events_, st.continuous_usage ? &role_usage : nullptr);
    }
    const bool last = i + 1 == st.plan.output_tokens;
    st.chunks.append_token_event(events_, Filler::token(st.text_seed, i), last ? finish : std::string_view{},
                                 st.continuous_usage ? &usage : nullptr);
  }
  const bool tail = limit == st.plan.output_tokens && limit > sent_;
  if (tail) {
    if (st.include_usage) st.chunks.append_usage_event(events_, st.usage(st.plan.output_tokens));
    events_ += openai::kSseDone;
  }
  if (!events_.empty()) {
    if (chunked_) {
      fmt::format_to(std::back_inserter(out_), "{:x}\r\n", events_.size());
      out_ += events_;
      out_ += "\r\n";
    } else {
      out_ += events_;
    }
  }
  if (tail && chunked_) out_ += "0\r\n\r\n";
  inflight_from_ = sent_;
  inflight_to_ = limit;
  inflight_tail_ = tail;
  write_busy_ = true;
  // Fast path: the socket buffer almost always has room, so hand the bytes over now with one
  // non-blocking send and account for them at once. Only what does not fit goes through an
  // asynchronous write (whose completion then marks the hand-off).
  boost::system::error_code ec;
  std::size_t written = socket_.write_some(asio::buffer(out_), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    ec = {};
    written = 0;
  }
  if (ec || written == out_.size()) {
    on_written(ec);
    return;
  }
  asio::async_write(socket_, asio::buffer(out_) + written,
                    [self = shared_from_this()](boost::system::error_code wec, std::size_t) { self->on_written(wec); });
}

void Session::on_written(boost::system::error_code ec) {
  write_busy_ = false;
  if (ec || closed_) {
    if (ec && !closed_) client_gone_ = true;
    wake();
    return;
  }
  RequestState& st = *req_;
  if (st.token_delay_ms == 0 && inflight_to_ > inflight_from_) {
    // Injected delays are deliberate lateness; only undisturbed streams measure the server.
    const Nanos now = inst_.clock().now();
    for (std::uint32_t i = inflight_from_; i < inflight_to_; ++i) inst_.record_lateness(now - st.token_end[i]);
  }
  sent_ = inflight_to_;
  if (inflight_tail_) {
    stream_done_ = true;
    wake();
    return;
  }
  pump();
}

}  // namespace kvroute::sim_server
