#include "upstream/response_parser.h"

#include "upstream/beast_field_kind.h"

namespace kvroute::upstream {

namespace beast = boost::beast;

UpstreamResponseParser::UpstreamResponseParser(HeaderBlock& headers, BodySink* sink) : headers_(headers), sink_(sink) {
  headers_.clear();
  // Backends' answers are bounded by the total timeout, not by size (a long completion is large).
  body_limit(boost::none);
  header_limit(64 * 1024);
}

void UpstreamResponseParser::on_response_impl(int code, beast::string_view /*reason*/, int version,
                                              beast::error_code& /*ec*/) {
  status_ = code;
  version_ = version;
}

void UpstreamResponseParser::on_field_impl(beast::http::field name, beast::string_view name_string,
                                           beast::string_view value, beast::error_code& /*ec*/) {
  const std::string_view field_name(name_string.data(), name_string.size());
  headers_.add(field_name, std::string_view(value.data(), value.size()), header_kind_of(name, field_name));
}

void UpstreamResponseParser::on_header_impl(beast::error_code& /*ec*/) {}

void UpstreamResponseParser::on_body_init_impl(boost::optional<std::uint64_t> const& /*content_length*/,
                                               beast::error_code& /*ec*/) {}

std::size_t UpstreamResponseParser::on_body_impl(beast::string_view body, beast::error_code& /*ec*/) {
  body_bytes_ += body.size();
  if (sink_ != nullptr) sink_->on_body(std::string_view(body.data(), body.size()));
  return body.size();
}

void UpstreamResponseParser::on_chunk_header_impl(std::uint64_t /*size*/, beast::string_view /*extensions*/,
                                                  beast::error_code& /*ec*/) {}

std::size_t UpstreamResponseParser::on_chunk_body_impl(std::uint64_t /*remain*/, beast::string_view body,
                                                       beast::error_code& /*ec*/) {
  body_bytes_ += body.size();
  if (sink_ != nullptr) sink_->on_body(std::string_view(body.data(), body.size()));
  return body.size();
}

void UpstreamResponseParser::on_finish_impl(beast::error_code& /*ec*/) {}

}  // namespace kvroute::upstream
