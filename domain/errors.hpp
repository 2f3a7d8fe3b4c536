#pragma once
// tRPC error codes and the error shape sent on the wire.

#include <optional>
#include <string>
#include <string_view>

#include "domain/json.hpp"

namespace vigil {

enum class trpc_code {
  parse_error,            // -32700 400
  bad_request,            // -32600 400
  unauthorized,           // -32001 401
  forbidden,              // -32003 403
  not_found,              // -32004 404
  method_not_supported,   // -32005 405
  conflict,               // -32009 409
  payload_too_large,      // -32013 413
  unsupported_media_type, // -32015 415
  too_many_requests,      // -32029 429
  internal_server_error,  // -32603 500
  service_unavailable,    // -32603 503
};

/// "PARSE_ERROR", "BAD_REQUEST", …
const char* code_name(trpc_code c);
/// Inverse of code_name ("BAD_REQUEST" -> bad_request); nullopt for names Vigil does not use.
std::optional<trpc_code> code_from_name(std::string_view name);
/// JSON-RPC number, e.g. -32600.
int jsonrpc_code(trpc_code c);
/// HTTP status, e.g. 400.
int http_status(trpc_code c);

/// A failed call: the code and the client-visible message (never internals, tokens or free text).
struct call_error {
  trpc_code code = trpc_code::internal_server_error;
  std::string message;
};

/// `{"message":…,"code":-32xxx,"data":{"code":"…","httpStatus":…[,"path":"…"]}}`; `path` is left
/// out when empty.
json::value error_shape(const call_error& e, std::string_view path);

} // namespace vigil
