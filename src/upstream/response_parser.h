#pragma once
// The parser of a backend's response: Beast's HTTP/1.1 parser (status line, fields, content-length,
// chunked and close-delimited bodies) with the fields collected into a reusable HeaderBlock and the
// de-chunked body handed to a sink piece by piece, as it arrives. The relay forwards the raw bytes
// the parser consumed (no re-encoding) and uses the sink only to watch the body (SSE events, usage).
//
// Networking code only (this header includes Beast). One parser per response: Beast's parsers
// cannot be reset, but constructing one costs nothing (no allocation; fields go to the HeaderBlock).

#include <boost/beast/http/basic_parser.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "upstream/headers.h"

namespace kvroute::upstream {

/// Receives the body of a response, de-chunked, in arrival order.
class BodySink {
 public:
  virtual ~BodySink() = default;
  /// Called from UpstreamResponseParser::put on the parsing thread; bytes valid during the call only.
  virtual void on_body(std::string_view bytes) = 0;
};

class UpstreamResponseParser final : public boost::beast::http::basic_parser<false> {
 public:
  /// headers is cleared and receives the response's fields; sink (may be null) the body.
  UpstreamResponseParser(HeaderBlock& headers, BodySink* sink);

  int status() const { return status_; }
  int version() const { return version_; }
  /// Body bytes delivered so far (de-chunked).
  std::uint64_t body_bytes() const { return body_bytes_; }

 private:
  void on_request_impl(boost::beast::http::verb, boost::beast::string_view, boost::beast::string_view, int,
                       boost::beast::error_code&) override {}
  void on_response_impl(int code, boost::beast::string_view reason, int version, boost::beast::error_code& ec) override;
  void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, boost::beast::error_code& ec) override;
  void on_header_impl(boost::beast::error_code& ec) override;
  void on_body_init_impl(boost::optional<std::uint64_t> const& content_length, boost::beast::error_code& ec) override;
  std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t size, boost::beast::string_view extensions,
                            boost::beast::error_code& ec) override;
  std::size_t on_chunk_body_impl(std::uint64_t remain, boost::beast::string_view body,
                                 boost::beast::error_code& ec) override;
  void on_finish_impl(boost::beast::error_code& ec) override;

  HeaderBlock& headers_;
  BodySink* sink_;
  int status_ = 0;
  int version_ = 11;
  std::uint64_t body_bytes_ = 0;
};

}  // namespace kvroute::upstream
