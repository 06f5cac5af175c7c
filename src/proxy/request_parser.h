#pragma once
// The parser of a client's request: Beast's HTTP/1.1 parser with the request line and fields copied
// into reusable per-connection storage (a HeaderBlock, a target string) and the body, de-chunked,
// appended to a PaddedBuffer so the JSON parser can read it in place. Nothing is allocated per
// request once the connection's buffers have grown. Networking code only (includes Beast).

#include <boost/beast/http/basic_parser.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/padded_buffer.h"
#include "upstream/headers.h"

namespace kvroute::proxy {

class ClientRequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  /// Clears headers, target and body and fills them as the request arrives.
  ClientRequestParser(upstream::HeaderBlock& headers, std::string& method, std::string& target, PaddedBuffer& body);

  boost::beast::http::verb method() const { return verb_; }
  int version() const { return version_; }

 private:
  void on_request_impl(boost::beast::http::verb method, boost::beast::string_view method_str,
                       boost::beast::string_view target, int version, boost::beast::error_code& ec) override;
  void on_response_impl(int, boost::beast::string_view, int, boost::beast::error_code&) override {}
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

  upstream::HeaderBlock& headers_;
  std::string& method_;
  std::string& target_;
  PaddedBuffer& body_;
  boost::beast::http::verb verb_ = boost::beast::http::verb::unknown;
  int version_ = 11;
};

}  // namespace kvroute::proxy
