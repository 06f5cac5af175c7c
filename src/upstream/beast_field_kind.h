#pragma once
// The HeaderKind of a field Beast's parser has already recognised. Beast looks every field name up
// in its table of registered names (string_to_field) before it calls on_field_impl; mapping that
// enum is a jump table, where classify_header(name) would compare the name again byte by byte.
// Networking code only (includes Beast).

#include <boost/beast/http/field.hpp>
#include <string_view>

#include "upstream/headers.h"

namespace kvroute::upstream {

/// The kind of a field called `name` that Beast classified as `known`. Names Beast does not register
/// (x-request-id, x-session-id, x-kvroute-backend, x-forwarded-for) fall back to classify_header.
inline HeaderKind header_kind_of(boost::beast::http::field known, std::string_view name) {
  using boost::beast::http::field;
  switch (known) {
    case field::host:
      return HeaderKind::kHost;
    case field::content_length:
      return HeaderKind::kContentLength;
    case field::transfer_encoding:
      return HeaderKind::kTransferEncoding;
    case field::connection:
      return HeaderKind::kConnection;
    case field::keep_alive:
      return HeaderKind::kKeepAlive;
    case field::proxy_connection:
      return HeaderKind::kProxyConnection;
    case field::te:
      return HeaderKind::kTe;
    case field::trailer:
      return HeaderKind::kTrailer;
    case field::upgrade:
      return HeaderKind::kUpgrade;
    case field::expect:
      return HeaderKind::kExpect;
    case field::content_type:
      return HeaderKind::kContentType;
    case field::unknown:
      return classify_header(name);
    default:
      return HeaderKind::kOther;
  }
}

}  // namespace kvroute::upstream
