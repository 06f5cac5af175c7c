#pragma once
// One HTTP/1.1 connection to a simulated instance: a coroutine that reads requests (keep-alive,
// content-length or chunked bodies, a body limit answered with 413), routes them, and answers.
//
// Generation requests are the interesting part. After admission the coroutine parks on a timer
// used as a wake-up; the instance's engine loop calls on_progress() when tokens exist:
//   - streaming: the session writes at once, from that call (a small callback state machine, the
//     "pump"): headers, then for each batch of ready tokens one HTTP chunk holding their SSE
//     events (one event per token; several only when the socket was still busy with the previous
//     write), and with the last token the usage chunk, [DONE] and the terminating chunk. The
//     bytes go out with one non-blocking send at once; only what the socket cannot take is left
//     to an asynchronous write. Each token's lateness is taken when its bytes have all been
//     handed to the socket (the send returned, or the asynchronous write completed).
//   - non-streaming: the coroutine wakes at the last token and writes one JSON body.
// Embeddings (POST /v1/embeddings) run each input as its own engine request (a prompt to prefill
// with one stand-in output token, RequestState::pooling); the coroutine wakes when the last of
// them has finished its prefill and writes one JSON body with every vector (embeddings.h).
// While a request runs, one read is kept pending on the socket so that a client that goes away is
// noticed (EOF or reset) even when nothing is being written; its request is then aborted in the
// engine. Bytes that read returns (a pipelined next request) stay in the buffer for the next parse.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "sim_server/instance.h"

namespace kvroute::sim_server {

namespace beast = boost::beast;
namespace http = beast::http;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Instance& instance, tcp::socket socket);
  ~Session();

  /// The connection's life; co_spawn it on the instance's executor.
  asio::awaitable<void> run();
  /// The current request has new tokens or finished. Instance thread (engine loop).
  void on_progress();
  /// Server shutdown: close the connection and abort what runs on it. Instance thread.
  void shutdown();

 private:
  using Request = http::request<http::string_body>;

  asio::awaitable<void> handle(Request& req);
  asio::awaitable<void> serve_generation(Request& req, openai::Endpoint endpoint);
  asio::awaitable<void> serve_embeddings(Request& req);
  /// Acts on an injected fault that replaces the answer (error, queue full, hang): true when the
  /// request is thereby done, false when it is to be served.
  asio::awaitable<bool> answer_fault(const sim::RequestFault& fault);
  /// Returns the embeddings request's engine requests to the pool (aborting unfinished ones).
  void release_pooled();
  asio::awaitable<void> serve_control(Request& req, std::string_view path, std::string_view query);
  asio::awaitable<bool> drain_body(std::uint64_t bytes);

  asio::awaitable<void> write_response(int status, std::string_view content_type, std::string body,
                                       std::string_view allow = {});
  asio::awaitable<void> write_error(int status, std::string_view message, std::string_view param = {});

  template <class Pred>
  asio::awaitable<void> wait_until(Pred pred);
  void wake();

  void start_watch();
  asio::awaitable<void> stop_watch();
  void pump();
  void on_written(boost::system::error_code ec);
  void close_socket();
  void build_stream_headers();

  Instance& inst_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  asio::steady_timer wake_;
  asio::steady_timer delay_;
  std::string scratch_;  ///< reused response body (metrics pages)

  // The request being answered.
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool closing_ = false;  ///< close the connection after the current exchange
  bool closed_ = false;   ///< socket closed
  bool stopping_ = false;
  RequestState* req_ = nullptr;
  // The embeddings request being answered: one engine request per input.
  std::vector<RequestState*> pooled_;
  std::size_t pooled_finished_ = 0;
  std::vector<float> vector_;  ///< one embedding at a time, while the answer is written

  // Watch read (client disconnect detection).
  bool watch_pending_ = false;
  bool client_gone_ = false;

  // Streaming pump.
  bool chunked_ = true;
  bool headers_pending_ = false;
  bool write_busy_ = false;
  bool delay_busy_ = false;
  bool delay_done_ = false;
  bool stream_done_ = false;
  bool cut_ = false;  ///< close_after_tokens reached
  std::uint32_t sent_ = 0;
  std::uint32_t inflight_from_ = 0;
  std::uint32_t inflight_to_ = 0;
  bool inflight_tail_ = false;
  std::string out_;
  std::string events_;
};

}  // namespace kvroute::sim_server
