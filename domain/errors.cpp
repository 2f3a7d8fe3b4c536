// tRPC error code table (docs/api.md "Errors") and the wire error shape.

#include "domain/errors.hpp"

namespace vigil {

namespace {

struct code_info {
  const char* name;
  int jsonrpc;
  int http;
};

code_info info(trpc_code c) {
  switch (c) {
  case trpc_code::parse_error: return {"PARSE_ERROR", -32700, 400};
  case trpc_code::bad_request: return {"BAD_REQUEST", -32600, 400};
  case trpc_code::unauthorized: return {"UNAUTHORIZED", -32001, 401};
  case trpc_code::forbidden: return {"FORBIDDEN", -32003, 403};
  case trpc_code::not_found: return {"NOT_FOUND", -32004, 404};
  case trpc_code::method_not_supported: return {"METHOD_NOT_SUPPORTED", -32005, 405};
  case trpc_code::conflict: return {"CONFLICT", -32009, 409};
  case trpc_code::payload_too_large: return {"PAYLOAD_TOO_LARGE", -32013, 413};
  case trpc_code::unsupported_media_type: return {"UNSUPPORTED_MEDIA_TYPE", -32015, 415};
  case trpc_code::too_many_requests: return {"TOO_MANY_REQUESTS", -32029, 429};
  case trpc_code::internal_server_error: return {"INTERNAL_SERVER_ERROR", -32603, 500};
  case trpc_code::service_unavailable: return {"SERVICE_UNAVAILABLE", -32603, 503};
  }
  // Unreachable for valid enumerators; an out-of-range value is reported as an internal error.
  return {"INTERNAL_SERVER_ERROR", -32603, 500};
}

} // namespace

const char* code_name(trpc_code c) { return info(c).name; }
std::optional<trpc_code> code_from_name(std::string_view name) {
  static const trpc_code all[] = {
      trpc_code::parse_error,          trpc_code::bad_request,
      trpc_code::unauthorized,         trpc_code::forbidden,
      trpc_code::not_found,            trpc_code::method_not_supported,
      trpc_code::conflict,             trpc_code::payload_too_large,
      trpc_code::unsupported_media_type, trpc_code::too_many_requests,
      trpc_code::internal_server_error, trpc_code::service_unavailable,
  };
  for (trpc_code c : all) {
    if (name == code_name(c)) return c;
  }
  return std::nullopt;
}

int jsonrpc_code(trpc_code c) { return info(c).jsonrpc; }
int http_status(trpc_code c) { return info(c).http; }

json::value error_shape(const call_error& e, std::string_view path) {
  json::value data = json::value::make_object();
  data.set("code", code_name(e.code));
  data.set("httpStatus", http_status(e.code));
  if (!path.empty()) data.set("path", std::string(path));
  json::value shape = json::value::make_object();
  shape.set("message", e.message);
  shape.set("code", jsonrpc_code(e.code));
  shape.set("data", std::move(data));
  return shape;
}

} // namespace vigil
