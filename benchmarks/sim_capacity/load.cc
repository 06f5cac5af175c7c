#include "load.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <optional>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include "common/random.h"
#include "event_scanner.h"

namespace kvroute::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Every network operation reports errors as values; a benchmark stream that fails is counted,
// not thrown.
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr Nanos kNever = std::numeric_limits<Nanos>::max();

constexpr std::string_view kWords[] = {
    "alpha",   "bravo",  "cache",   "delta",  "engine",  "fleet",   "gateway", "harbor",  "index",
    "kernel",  "lambda", "matrix",  "node",   "orbit",   "prefix",  "queue",   "router",  "stream",
    "token",   "upper",  "vector",  "window", "yield",   "zenith",  "batch",   "decode",  "prefill",
    "latency", "block",  "replica", "shard",  "tensor",  "weight",  "budget",  "signal",  "thread"};

// Plain lowercase words: nothing in the prompt needs JSON escaping.
std::string random_text(Random& rng, std::size_t bytes) {
  std::string s;
  s.reserve(bytes + 16);
  while (s.size() < bytes) {
    s += kWords[rng.uniform(std::size(kWords))];
    s += ' ';
  }
  s.resize(bytes);
  return s;
}

std::string json_string(std::string_view s) { return nlohmann::json(std::string(s)).dump(); }

struct Worker;

// One of the C concurrent streams: a keep-alive connection to one instance and the buffers it
// reuses for every request it sends.
struct Slot {
  Slot(asio::io_context& ctx, int slot_id, const Target& tgt, Worker& w, std::uint64_t seed)
      : id(slot_id), target(&tgt), worker(&w), socket(ctx), start_timer(ctx), rng(seed) {}
  int id;
  const Target* target;
  Worker* worker;
  tcp::socket socket;
  asio::steady_timer start_timer;
  beast::flat_buffer read_buf;
  EventScanner scanner;
  std::string request;
  std::string prompt_tail;  // this slot's own text; a per-request header in front makes each prompt distinct
  SeededRandom rng;
  std::uint64_t seq = 0;
  Nanos last_activity = 0;
  bool busy = false;  // a request is outstanding (the stall watchdog only looks at busy slots)
};

struct Worker {
  asio::io_context ctx{1};
  ClientStats stats;
  std::vector<Slot*> slots;
};

class Driver {
 public:
  Driver(const LoadConfig& cfg, const TimeSource& clock) : cfg_(cfg), clock_(clock) {}

  Result<LoadResult> run();

 private:
  bool in_window(Nanos t) const {
    return t >= window_start_.load(std::memory_order_relaxed) && t < window_end_.load(std::memory_order_relaxed);
  }
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }

  void build_request(Slot& s);
  asio::awaitable<void> run_slot(Slot& s, Nanos start_delay);
  asio::awaitable<bool> one_stream(Slot& s, ClientStats& st);
  asio::awaitable<void> watchdog(Worker& w);
  asio::awaitable<void> loop_lag_probe(Worker& w);
  asio::awaitable<void> controller();
  asio::awaitable<void> sleep_for(Nanos d);

  const LoadConfig& cfg_;
  const TimeSource& clock_;
  std::atomic<Nanos> window_start_{kNever};
  std::atomic<Nanos> window_end_{kNever};
  std::atomic<bool> stopping_{false};
  LoadResult result_;
  // Declared before the slots so that the contexts outlive the sockets and timers bound to them.
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Slot>> slots_;
};

void Driver::build_request(Slot& s) {
  const int span_tokens = cfg_.output_max_tokens - cfg_.output_min_tokens + 1;
  const int out_tokens = cfg_.output_min_tokens + static_cast<int>(s.rng.uniform(static_cast<std::uint64_t>(span_tokens)));
  std::string body;
  body.reserve(s.prompt_tail.size() + 256);
  body += R"({"model":)";
  body += json_string(cfg_.model);
  body += R"(,"messages":[{"role":"user","content":")";
  body += fmt::format("Request {} of stream {}. ", s.seq, s.id);
  body += s.prompt_tail;
  body += fmt::format(R"("}}],"stream":true,"max_tokens":{0},"sim_output_tokens":{0},"ignore_eos":true}})", out_tokens);
  s.request.clear();
  s.request += "POST /v1/chat/completions HTTP/1.1\r\nHost: ";
  s.request += s.target->host_port;
  s.request += "\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: ";
  s.request += std::to_string(body.size());
  s.request += "\r\n\r\n";
  s.request += body;
}

asio::awaitable<void> Driver::sleep_for(Nanos d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(std::chrono::nanoseconds(d));
  co_await t.async_wait(kNoThrow);
}

// One request/response on the slot's connection. Returns false when the connection is no longer
// usable (it has been closed).
asio::awaitable<bool> Driver::one_stream(Slot& s, ClientStats& st) {
  build_request(s);
  ++s.seq;
  s.busy = true;
  s.last_activity = clock_.now();
  const Nanos sent_at = clock_.now();
  if (in_window(sent_at)) ++st.requests_sent;
  auto [wec, written] = co_await asio::async_write(s.socket, asio::buffer(s.request), kNoThrow);
  (void)written;
  if (wec) {
    if (!stopping() && in_window(clock_.now())) ++st.stream_errors;
    co_return false;
  }
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  auto [hec, hn] = co_await http::async_read_header(s.socket, s.read_buf, parser, kNoThrow);
  (void)hn;
  if (hec) {
    if (!stopping() && in_window(clock_.now())) ++st.stream_errors;
    co_return false;
  }
  if (parser.get().result_int() != 200) {
    if (in_window(clock_.now())) ++st.http_errors;
    co_return false;  // the caller closes the connection; cheaper than draining an error body
  }
  s.scanner.reset();
  Nanos last_token = 0;
  bool done = false;
  bool errored = false;
  while (!parser.is_done()) {
    auto space = s.scanner.prepare(8192);
    auto& body = parser.get().body();
    body.data = space.data();
    body.size = space.size();
    body.more = true;
    auto [rec, rn] = co_await http::async_read_some(s.socket, s.read_buf, parser, kNoThrow);
    (void)rn;
    if (rec == http::error::need_buffer) rec = {};
    if (rec) {
      errored = true;
      break;
    }
    const std::size_t got = space.size() - body.size;
    if (got == 0) continue;
    s.scanner.commit(got);
    const Nanos now = clock_.now();
    s.last_activity = now;
    const ScanResult r = s.scanner.scan();
    done = done || r.done;
    errored = errored || r.error;
    if (!in_window(now)) {
      if (r.tokens > 0) last_token = now;
      continue;
    }
    ++st.reads;
    st.body_bytes += got;
    st.events += r.events;
    st.tokens += r.tokens;
    if (r.tokens > 0) {
      // Tokens that arrive in the same read arrived together: the first one waited since the
      // previous read, the others waited nothing.
      if (last_token == 0) {
        st.ttft_us.record((now - sent_at) / kNanosPerMicro);
      } else {
        st.gap_us.record((now - last_token) / kNanosPerMicro);
      }
      for (std::size_t i = 1; i < r.tokens; ++i) st.gap_us.record(0);
    }
    if (r.tokens > 0) last_token = now;
  }
  s.busy = false;
  const Nanos end = clock_.now();
  if (!done || errored) {
    if (!stopping() && in_window(end)) ++st.stream_errors;
    co_return false;
  }
  if (in_window(end)) ++st.streams_completed;
  co_return parser.keep_alive();
}

asio::awaitable<void> Driver::run_slot(Slot& s, Nanos start_delay) {
  ClientStats& st = s.worker->stats;
  s.start_timer.expires_after(std::chrono::nanoseconds(start_delay));
  co_await s.start_timer.async_wait(kNoThrow);
  while (!stopping()) {
    if (!s.socket.is_open()) {
      s.read_buf.clear();
      auto [ec] = co_await s.socket.async_connect(s.target->endpoint, kNoThrow);
      if (ec) {
        if (!stopping() && in_window(clock_.now())) ++st.connect_errors;
        boost::system::error_code ignored;
        s.socket.close(ignored);
        co_await sleep_for(50 * kNanosPerMilli);  // the server is not accepting: do not spin
        continue;
      }
      boost::system::error_code opt_ec;
      s.socket.set_option(tcp::no_delay(true), opt_ec);  // best effort: latency, not correctness
    }
    const bool reusable = co_await one_stream(s, st);
    s.busy = false;
    if (!reusable) {
      boost::system::error_code ignored;
      s.socket.close(ignored);
    }
  }
}

asio::awaitable<void> Driver::watchdog(Worker& w) {
  const Nanos limit = seconds_to_nanos(cfg_.stall_timeout_s);
  while (!stopping()) {
    co_await sleep_for(std::min<Nanos>(kNanosPerSecond, limit / 2 + 1));
    const Nanos now = clock_.now();
    for (Slot* s : w.slots) {
      if (s->busy && now - s->last_activity > limit) {
        boost::system::error_code ignored;
        s->socket.close(ignored);  // the pending read completes with operation_aborted
        ++w.stats.stalls;
      }
    }
  }
}

// A 1 ms periodic timer on each client thread: when the client cannot keep up with the bytes
// arriving, its timers fire late, and that shows here rather than being mistaken for server delay.
asio::awaitable<void> Driver::loop_lag_probe(Worker& w) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  auto next = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
  while (!stopping()) {
    t.expires_at(next);
    co_await t.async_wait(kNoThrow);
    const auto now = std::chrono::steady_clock::now();
    if (in_window(clock_.now())) {
      w.stats.loop_lag_us.record(std::chrono::duration_cast<std::chrono::microseconds>(now - next).count());
    }
    next += std::chrono::milliseconds(1);
    if (next < now) next = now + std::chrono::milliseconds(1);
  }
}

// Control requests go through their own short-lived connections (the sim serves them on the same
// port as the streams, so they also see how responsive the instance is under load).
asio::awaitable<Result<HttpReply>> http_call(const Target& target, std::string_view method, std::string_view path,
                                             std::string_view body, std::chrono::milliseconds timeout) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(timeout);
  auto [cec] = co_await stream.async_connect(target.endpoint, kNoThrow);
  if (cec) co_return Error{cec.value(), fmt::format("connect {}: {}", target.url, cec.message())};
  http::request<http::string_body> req{http::string_to_verb(method), std::string(path), 11};
  req.set(http::field::host, target.host_port);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = std::string(body);
  req.prepare_payload();
  auto [wec, wn] = co_await http::async_write(stream, req, kNoThrow);
  (void)wn;
  if (wec) co_return Error{wec.value(), fmt::format("{} {}{}: {}", method, target.url, path, wec.message())};
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  auto [rec, rn] = co_await http::async_read(stream, buf, res, kNoThrow);
  (void)rn;
  if (rec) co_return Error{rec.value(), fmt::format("{} {}{}: {}", method, target.url, path, rec.message())};
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return HttpReply{static_cast<int>(res.result_int()), std::move(res.body())};
}

asio::awaitable<void> Driver::controller() {
  co_await sleep_for(seconds_to_nanos(cfg_.ramp_s + cfg_.warmup_s));
  for (const Target& t : cfg_.targets) {
    auto r = co_await http_call(t, "POST", "/sim/stats/reset", "", std::chrono::seconds(10));
    if (!r.ok()) {
      result_.warnings.push_back(fmt::format("reset {}: {}", t.url, r.error().message));
    } else if (r->status / 100 != 2) {
      result_.warnings.push_back(fmt::format("reset {}: HTTP {}", t.url, r->status));
    }
  }
  const Nanos start = clock_.now();
  window_start_.store(start);
  if (cfg_.on_window_start) cfg_.on_window_start();
  co_await sleep_for(seconds_to_nanos(cfg_.duration_s));
  const Nanos end = clock_.now();
  window_end_.store(end);
  if (cfg_.on_window_end) cfg_.on_window_end();
  result_.window_s = nanos_to_seconds(end - start);
  for (const Target& t : cfg_.targets) {
    InstanceStats is;
    is.url = t.url;
    auto r = co_await http_call(t, "GET", "/sim/stats", "", std::chrono::seconds(10));
    if (!r.ok()) {
      is.error = r.error().message;
    } else if (r->status != 200) {
      is.error = fmt::format("HTTP {}: {}", r->status, r->body.substr(0, 200));
    } else {
      is.body = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
      if (is.body.is_discarded()) {
        is.error = "response is not JSON";
      } else {
        is.ok = true;
      }
    }
    result_.servers.push_back(std::move(is));
  }
  // Wind down: every coroutine checks stopping() after each wait; closing the sockets and
  // cancelling the start timers wakes the ones that are waiting on the network.
  stopping_.store(true);
  for (auto& w : workers_) {
    asio::post(w->ctx, [wp = w.get()] {
      for (Slot* s : wp->slots) {
        boost::system::error_code ignored;
        s->socket.close(ignored);
        s->start_timer.cancel();
      }
    });
  }
}

Result<LoadResult> Driver::run() {
  if (cfg_.targets.empty()) return Error{1, "no instances to send load to"};
  const int threads = std::max(1, cfg_.client_threads);
  for (int i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>());
  SeededRandom text_rng(cfg_.seed);
  const Nanos ramp = seconds_to_nanos(cfg_.ramp_s);
  for (int i = 0; i < cfg_.streams; ++i) {
    Worker& w = *workers_[static_cast<std::size_t>(i % threads)];
    const Target& t = cfg_.targets[static_cast<std::size_t>(i) % cfg_.targets.size()];
    auto slot = std::make_unique<Slot>(w.ctx, i, t, w, derive_seed(cfg_.seed, static_cast<std::uint64_t>(i) + 1));
    const int span = std::max(1, cfg_.prompt_max_bytes - cfg_.prompt_min_bytes + 1);
    slot->prompt_tail = random_text(text_rng, static_cast<std::size_t>(cfg_.prompt_min_bytes) +
                                                  text_rng.uniform(static_cast<std::uint64_t>(span)));
    slot->read_buf.reserve(16384);
    w.slots.push_back(slot.get());
    const Nanos delay = cfg_.streams > 1 ? ramp * i / cfg_.streams : 0;
    asio::co_spawn(w.ctx, run_slot(*slot, delay), asio::detached);
    slots_.push_back(std::move(slot));
  }
  for (auto& w : workers_) {
    asio::co_spawn(w->ctx, watchdog(*w), asio::detached);
    asio::co_spawn(w->ctx, loop_lag_probe(*w), asio::detached);
  }
  asio::co_spawn(workers_[0]->ctx, controller(), asio::detached);
  std::vector<std::thread> pool;
  for (std::size_t i = 1; i < workers_.size(); ++i) pool.emplace_back([w = workers_[i].get()] { w->ctx.run(); });
  workers_[0]->ctx.run();
  for (auto& t : pool) t.join();
  for (auto& w : workers_) result_.client.merge(w->stats);
  return std::move(result_);
}

}  // namespace

void ClientStats::merge(const ClientStats& o) {
  requests_sent += o.requests_sent;
  streams_completed += o.streams_completed;
  stream_errors += o.stream_errors;
  http_errors += o.http_errors;
  connect_errors += o.connect_errors;
  stalls += o.stalls;
  tokens += o.tokens;
  events += o.events;
  reads += o.reads;
  body_bytes += o.body_bytes;
  gap_us.merge(o.gap_us);
  ttft_us.merge(o.ttft_us);
  loop_lag_us.merge(o.loop_lag_us);
}

Result<Target> resolve_target(const std::string& url) {
  std::string_view rest = url;
  if (!rest.starts_with("http://")) return Error{1, fmt::format("'{}': only http:// URLs are supported", url)};
  rest.remove_prefix(7);
  while (rest.ends_with('/')) rest.remove_suffix(1);
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos || rest.find('/') != std::string_view::npos) {
    return Error{1, fmt::format("'{}': expected http://host:port", url)};
  }
  std::string host(rest.substr(0, colon));
  std::string port(rest.substr(colon + 1));
  asio::io_context ctx;
  tcp::resolver resolver(ctx);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, port, ec);
  if (ec || results.empty()) return Error{1, fmt::format("'{}': cannot resolve: {}", url, ec.message())};
  Target t;
  t.url = std::string("http://") + std::string(rest);
  t.host_port = std::string(rest);
  t.endpoint = results.begin()->endpoint();
  return t;
}

Result<HttpReply> http_fetch(const Target& target, std::string_view method, std::string_view path,
                             std::string_view body, std::chrono::milliseconds timeout) {
  asio::io_context ctx;
  std::optional<Result<HttpReply>> out;
  asio::co_spawn(
      ctx, [&]() -> asio::awaitable<void> { out.emplace(co_await http_call(target, method, path, body, timeout)); },
      asio::detached);
  ctx.run();
  if (!out) return Error{1, "request did not complete"};
  return std::move(*out);
}

Result<LoadResult> run_load(const LoadConfig& config, const TimeSource& clock) {
  Driver driver(config, clock);
  return driver.run();
}

}  // namespace kvroute::bench
