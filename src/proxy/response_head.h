#pragma once
// The head of the response the gateway writes to its client: either a backend's response head,
// rewritten for this hop, or one the gateway makes itself (errors, /v1/models, /health).
// Pure code; appends to a reused string.

#include <cstdint>
#include <string>
#include <string_view>

#include "upstream/headers.h"

namespace kvroute::proxy {

/// How the body that follows the head is delimited on the client connection.
enum class Framing : std::uint8_t {
  kContentLength,  ///< Content-Length: content_length
  kChunked,        ///< Transfer-Encoding: chunked
  kClose,          ///< neither; the body ends when the connection closes (HTTP/1.0 clients)
  kNoBody,         ///< 1xx/204/304 or a HEAD request: no framing field at all
};

struct ClientResponseHead {
  int status = 200;
  int version = 11;  ///< the client's HTTP version (10 or 11)
  /// A backend's fields to forward (end-to-end ones only), or null for a gateway response.
  const upstream::HeaderBlock* upstream = nullptr;
  Framing framing = Framing::kContentLength;
  std::uint64_t content_length = 0;
  bool keep_alive = true;         ///< the client connection stays open after this response
  std::string_view content_type;  ///< gateway responses: Content-Type; empty = none
  std::string_view backend_name;  ///< x-kvroute-backend value; empty = no such field
  std::string_view request_id;    ///< x-request-id value; empty = no such field
  std::string_view allow;         ///< Allow value (405); empty = none
  std::string_view retry_after;   ///< Retry-After value (503 from the hold queue); empty = none
  /// x-kvroute-queued-ms value: how long the request was held in the gateway's queue (debug field,
  /// with backend_name); negative = no such field.
  std::int64_t queued_ms = -1;
};

/// The standard reason phrase of a status ("OK", "Bad Gateway"), or "Unknown".
std::string_view reason_phrase(int status);

/// Appends "HTTP/1.x status reason\r\n", the fields and the blank line. From a backend's fields it
/// drops the hop-by-hop ones (and those its Connection field names), its framing fields
/// (Content-Length, Transfer-Encoding: set here from `framing`), and x-request-id /
/// x-kvroute-backend when the gateway sets its own.
void append_client_response_head(const ClientResponseHead& head, std::string& out);

}  // namespace kvroute::proxy
