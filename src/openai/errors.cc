#include "openai/errors.h"

#include <charconv>

namespace kvroute::openai {

std::string_view error_type_for_status(int status) {
  switch (status) {
    case 400: return "BadRequestError";
    case 401: return "AuthenticationError";
    case 403: return "PermissionDeniedError";
    case 404: return "NotFoundError";
    case 405: return "MethodNotAllowedError";
    case 408: return "TimeoutError";
    case 409: return "ConflictError";
    case 413: return "RequestEntityTooLargeError";
    case 422: return "UnprocessableEntityError";
    case 429: return "RateLimitError";
    case 500: return "InternalServerError";
    case 502: return "BadGatewayError";
    case 503: return "ServiceUnavailableError";
    case 504: return "GatewayTimeoutError";
    default: break;
  }
  return status >= 500 ? "InternalServerError" : "BadRequestError";
}

void append_json_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t run_start = 0;  // copy unescaped runs in one go
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run_start, i - run_start);
    run_start = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
        out.append(u, sizeof u);
      }
    }
  }
  out.append(s.data() + run_start, s.size() - run_start);
}

std::string error_body(int status, std::string_view message, std::string_view param) {
  const std::string_view type = error_type_for_status(status);
  std::string out;
  out.reserve(64 + message.size() + type.size() + param.size());
  out += R"({"error":{"message":")";
  append_json_escaped(out, message);
  out += R"(","type":")";
  out += type;
  out += R"(","param":)";
  if (param.empty()) {
    out += "null";
  } else {
    out += '"';
    append_json_escaped(out, param);
    out += '"';
  }
  out += R"(,"code":)";
  char digits[16];
  const auto end = std::to_chars(digits, digits + sizeof digits, status).ptr;
  out.append(digits, end);
  out += "}}";
  return out;
}

std::string coded_error_body(std::string_view message, std::string_view type, std::string_view code) {
  std::string out;
  out.reserve(64 + message.size() + type.size() + code.size());
  out += R"({"error":{"message":")";
  append_json_escaped(out, message);
  out += R"(","type":")";
  out += type;
  out += R"(","param":null,"code":")";
  out += code;
  out += R"("}})";
  return out;
}

}  // namespace kvroute::openai
