#include "proxy/response_head.h"

#include <charconv>

namespace kvroute::proxy {
namespace {

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(end - buf));
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ", 2);
  out.append(value);
  out.append("\r\n", 2);
}

}  // namespace

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

void append_client_response_head(const ClientResponseHead& head, std::string& out) {
  out.append(head.version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_number(out, static_cast<std::uint64_t>(head.status));
  out.push_back(' ');
  out.append(reason_phrase(head.status));
  out.append("\r\n", 2);

  if (head.upstream != nullptr) {
    using upstream::HeaderKind;
    const upstream::HeaderBlock& h = *head.upstream;
    for (std::size_t i = 0; i < h.size(); ++i) {
      const auto f = h[i];
      if (f.kind == HeaderKind::kContentLength) continue;
      if (f.kind == HeaderKind::kXRequestId && !head.request_id.empty()) continue;
      if (f.kind == HeaderKind::kXKvrouteBackend && !head.backend_name.empty()) continue;
      if (h.is_hop_field(i)) continue;
      append_field(out, f.name, f.value);
    }
  }
  if (!head.content_type.empty()) append_field(out, "Content-Type", head.content_type);
  if (!head.allow.empty()) append_field(out, "Allow", head.allow);
  if (!head.retry_after.empty()) append_field(out, "Retry-After", head.retry_after);
  if (!head.backend_name.empty()) append_field(out, "x-kvroute-backend", head.backend_name);
  if (head.queued_ms >= 0) {
    out.append("x-kvroute-queued-ms: ");
    append_number(out, static_cast<std::uint64_t>(head.queued_ms));
    out.append("\r\n", 2);
  }
  if (!head.request_id.empty()) append_field(out, "x-request-id", head.request_id);
  switch (head.framing) {
    case Framing::kContentLength:
      out.append("Content-Length: ", 16);
      append_number(out, head.content_length);
      out.append("\r\n", 2);
      break;
    case Framing::kChunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    case Framing::kClose:
    case Framing::kNoBody:
      break;
  }
  const bool keep_alive = head.keep_alive && head.framing != Framing::kClose;
  if (head.version == 10) {
    if (keep_alive) out.append("Connection: keep-alive\r\n");
  } else if (!keep_alive) {
    out.append("Connection: close\r\n");
  }
  out.append("\r\n", 2);
}

}  // namespace kvroute::proxy
