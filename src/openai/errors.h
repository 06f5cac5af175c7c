#pragma once
// OpenAI/vLLM-style JSON error bodies: {"error":{"message":..,"type":..,"param":..,"code":<status>}}
// (current vLLM; the HTTP status is repeated as an integer code).

#include <string>
#include <string_view>

namespace kvroute::openai {

/// The error type name vLLM uses for a status (400 BadRequestError, 404 NotFoundError, 413, 429,
/// 500 InternalServerError, 503 ServiceUnavailableError ...).
std::string_view error_type_for_status(int status);

/// Serialises an error body; message and param are JSON-escaped; an empty param becomes null.
std::string error_body(int status, std::string_view message, std::string_view param = {});

/// Serialises an error body in OpenAI's own shape, for errors the gateway makes that carry a symbolic
/// code clients can act on: {"error":{"message":..,"type":<type>,"param":null,"code":<code>}}, e.g.
/// type "server_error", code "queue_timeout". message is JSON-escaped; type and code are written as
/// given (plain identifiers).
std::string coded_error_body(std::string_view message, std::string_view type, std::string_view code);

/// Appends s to out with JSON string escaping (no surrounding quotes).
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace kvroute::openai
