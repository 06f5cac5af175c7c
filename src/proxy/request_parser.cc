#include "proxy/request_parser.h"

#include "upstream/beast_field_kind.h"

namespace kvroute::proxy {

namespace beast = boost::beast;

ClientRequestParser::ClientRequestParser(upstream::HeaderBlock& headers, std::string& method, std::string& target,
                                         PaddedBuffer& body)
    : headers_(headers), method_(method), target_(target), body_(body) {
  headers_.clear();
  method_.clear();
  target_.clear();
  body_.clear();
}

void ClientRequestParser::on_request_impl(beast::http::verb method, beast::string_view method_str,
                                          beast::string_view target, int version, beast::error_code& /*ec*/) {
  verb_ = method;
  method_.assign(method_str.data(), method_str.size());
  target_.assign(target.data(), target.size());
  version_ = version;
}

void ClientRequestParser::on_field_impl(beast::http::field name, beast::string_view name_string,
                                        beast::string_view value, beast::error_code& /*ec*/) {
  const std::string_view field_name(name_string.data(), name_string.size());
  headers_.add(field_name, std::string_view(value.data(), value.size()), upstream::header_kind_of(name, field_name));
}

void ClientRequestParser::on_header_impl(beast::error_code& /*ec*/) {}

void ClientRequestParser::on_body_init_impl(boost::optional<std::uint64_t> const& content_length,
                                            beast::error_code& /*ec*/) {
  // The limit was checked against Content-Length before the body is read (session.cc).
  if (content_length) body_.reserve(static_cast<std::size_t>(*content_length));
}

std::size_t ClientRequestParser::on_body_impl(beast::string_view body, beast::error_code& /*ec*/) {
  body_.append(std::string_view(body.data(), body.size()));
  return body.size();
}

void ClientRequestParser::on_chunk_header_impl(std::uint64_t /*size*/, beast::string_view /*extensions*/,
                                               beast::error_code& /*ec*/) {}

std::size_t ClientRequestParser::on_chunk_body_impl(std::uint64_t /*remain*/, beast::string_view body,
                                                    beast::error_code& /*ec*/) {
  body_.append(std::string_view(body.data(), body.size()));
  return body.size();
}

void ClientRequestParser::on_finish_impl(beast::error_code& /*ec*/) {}

}  // namespace kvroute::proxy
