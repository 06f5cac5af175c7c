#pragma once
// One client connection: read a request (Beast parser into reusable buffers), answer it or route it
// (one JSON parse, prompt hashing, model router, policy pick), forward it on a pooled keep-alive
// connection and relay the answer as it arrives; repeat while the connection is kept alive.
// docs/gateway.md describes the request path; this is its code. Networking code only; internal.

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "openai/request_view.h"
#include "proxy/buffer_pool.h"
#include "proxy/hold_queue.h"
#include "proxy/padded_buffer.h"
#include "proxy/retry.h"
#include "proxy/sse_tracker.h"
#include "proxy/worker.h"
#include "routing/dispatch_accounting.h"
#include "upstream/headers.h"
#include "upstream/response_parser.h"

namespace kvroute::proxy {

class ClientRequestParser;

class Session : public std::enable_shared_from_this<Session>, private upstream::BodySink, private IdleReadList::Hook {
 public:
  Session(Worker& worker, boost::asio::ip::tcp::socket socket);
  ~Session() override;

  /// Worker thread. Serves the connection until it closes.
  boost::asio::awaitable<void> run();
  /// Worker thread. Drain: closes the connection if it is between requests; a request held in the
  /// gateway's queue (sent nowhere yet) is answered 503 at once, so its client can retry on another
  /// replica; otherwise the current request finishes and the connection closes after it.
  void close_if_idle();
  /// Worker thread. Closes the client connection and any upstream connection now.
  void force_close();

  Session* prev_ = nullptr;  ///< Worker's intrusive list
  Session* next_ = nullptr;

 private:
  struct Request;  // what one request needs across suspension points
  struct Attempt;  // the result of one attempt on one backend

  boost::asio::awaitable<bool> read_request();
  boost::asio::awaitable<bool> refuse_unreadable(const ClientRequestParser& parser, boost::beast::error_code ec,
                                                 const config::LimitsConfig& limits);
  boost::asio::awaitable<bool> refuse_oversized_body(std::uint64_t length, std::uint64_t max_body,
                                                     bool expect_continue);
  boost::asio::awaitable<void> handle_request();
  boost::asio::awaitable<void> proxy_request(Request& rq);
  boost::asio::awaitable<bool> hold(Request& rq, std::optional<std::uint32_t>& picked);
  boost::asio::awaitable<Attempt> attempt(Request& rq, std::uint32_t backend, routing::DispatchTicket& ticket,
                                          bool last_attempt);
  AttemptError take_pooled_connection(upstream::UpstreamPool& pool, bool fresh, bool& reused,
                                      upstream::UpstreamPool::Grant& grant);
  boost::asio::awaitable<AttemptError> acquire_connection(upstream::UpstreamPool& pool,
                                                          const upstream::BackendTarget& target,
                                                          upstream::UpstreamPool::Grant grant, bool fresh,
                                                          Nanos connect_timeout, Nanos total_deadline, bool& reused);
  boost::asio::awaitable<AttemptError> open_connection(const upstream::BackendTarget& target, Nanos connect_timeout,
                                                       Nanos total_deadline);
  boost::asio::awaitable<AttemptError> send_and_read_head(Request& rq, const upstream::BackendTarget& target,
                                                          Nanos total_deadline, bool& got_bytes);
  boost::asio::awaitable<Attempt> relay(Request& rq, std::uint32_t backend, routing::DispatchTicket& ticket,
                                        Nanos total_deadline);
  boost::asio::awaitable<void> write_gateway_response(int status, std::string_view content_type, std::string_view body,
                                                      std::string_view allow = {}, std::string_view retry_after = {});
  boost::asio::awaitable<void> write_error(int status, std::string message, std::string_view param = {});
  boost::asio::awaitable<void> write_hold_error(std::string_view code, std::string message);
  boost::asio::awaitable<bool> write_client(std::string_view a, std::string_view b = {});
  boost::beast::error_code feed_parser(ClientRequestParser& parser, bool head_only);
  boost::asio::awaitable<boost::beast::error_code> parse_client(ClientRequestParser& parser, bool head_only);
  boost::asio::awaitable<bool> drain_body(std::uint64_t bytes);
  boost::asio::awaitable<void> linger_close();

  // Deadlines: one lazily re-armed timer per session (see set_deadline).
  void set_deadline(Nanos at, AttemptError error);
  void clear_deadline();
  void arm_watchdog(Nanos at);
  void on_watchdog();
  // The pending client read: client-gone detection during an exchange, and the next request's read.
  void start_prefetch();
  void on_prefetch(const boost::system::error_code& ec, std::size_t n);
  boost::asio::awaitable<void> wait_prefetch();
  // Idle connections beyond the worker's bound wait for readiness without a read buffer.
  void join_idle_reads();
  void park_read();
  boost::system::error_code read_ready_bytes();
  void take_body_buffer();
  void finish_request();
  void client_went_away();
  void release_upstream(upstream::UpstreamPool& pool, bool reusable);
  void wake(upstream::UpstreamPool::Waiter* w);

  void on_body(std::string_view bytes) override;  // upstream::BodySink

  Worker& worker_;
  boost::asio::ip::tcp::socket client_;
  std::string client_address_;
  ReadBuffer in_;  ///< the client's bytes not parsed yet (a pool block, or none while idle)
  upstream::HeaderBlock req_headers_;
  std::string method_;
  std::string target_;
  PaddedBuffer body_;  ///< the request body (storage from the worker while a request needs it)
  int version_ = 11;
  bool keep_alive_ = true;
  bool closing_ = false;
  bool idle_ = true;  ///< waiting for the next request (drain may close it)
  bool closed_ = false;
  bool linger_ = false;  ///< closing after an error with request bytes possibly unread

  // Per request (kept here so their capacity is reused).
  std::string model_;
  std::string request_id_;
  std::string model_json_;  ///< an alias target as a JSON string, spliced into the body
  std::vector<std::uint64_t> block_hashes_;
  std::vector<std::uint32_t> excluded_;
  std::string up_head_;
  std::string out_;            ///< client-bound head and gateway-made bodies
  std::string out_body_;       ///< client-bound body bytes built by on_body (re-framed relays)
  std::string captured_body_;  ///< a non-streamed response body, for its usage (capped)
  ReadBuffer up_buf_;          ///< the backend's bytes (a pool block while an exchange needs it)
  upstream::HeaderBlock resp_headers_;
  SseTracker sse_;

  // The upstream exchange in progress.
  std::optional<upstream::UpstreamConnection> conn_;
  std::optional<upstream::UpstreamResponseParser> resp_parser_;
  enum class BodyMode : std::uint8_t { kWatch, kRechunk, kRaw } body_mode_ = BodyMode::kWatch;
  bool body_is_sse_ = false;
  bool capture_body_ = false;
  upstream::UpstreamPool::Waiter* waiter_ = nullptr;  ///< while waiting for a pooled connection
  boost::asio::steady_timer wait_timer_;
  HoldEntry held_;  ///< place in the pool's hold queue while held (woken through wait_timer_)

  // Watchdog.
  boost::asio::steady_timer watchdog_;
  Nanos deadline_ = 0;
  AttemptError deadline_error_ = AttemptError::kNone;
  bool deadline_set_ = false;
  bool watchdog_armed_ = false;
  Nanos watchdog_at_ = 0;
  AttemptError fired_ = AttemptError::kNone;  ///< set when a deadline passed or the client left
  bool client_write_pending_ = false;

  // Client side.
  bool prefetch_pending_ = false;
  bool park_requested_ = false;            ///< park_read() cancelled the pending idle read
  bool read_parked_ = false;               ///< the next read waits for readiness first, with no block meanwhile
  boost::system::error_code prefetch_ec_;  ///< a prefetch's error, for the next read to report
  std::optional<boost::asio::any_completion_handler<void()>> prefetch_waiter_;
  bool client_gone_ = false;
  bool exchange_active_ = false;  ///< a request is with a backend (or waiting for a connection)
};

}  // namespace kvroute::proxy
