#pragma once
// A tRPC HTTP request as the network thread read it, and the response written back to it.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "domain/rate_limiter.hpp"

namespace vigil {

/// An HTTP request on /api/trpc, as the lws thread read it.
struct http_request {
  uint64_t conn_id = 0;
  std::string peer;                          // the client's IP:port (for the log)
  bool post = false;
  std::string path;                          // after /api/trpc/ (URL-decoded), e.g. "healthcare.a,healthcare.b"
  bool batch = false;
  bool has_input = false;
  std::string input;                         // ?input= (URL-decoded) for GET
  std::string body;                          // POST body
  std::string authorization;
  std::string content_type;
  std::string trpc_accept;
  std::string origin;
  std::shared_ptr<rate_limiter> rate;        // the keep-alive connection's request rate limit
};
using http_request_ptr = std::shared_ptr<const http_request>;

/// A complete HTTP response.
struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

} // namespace vigil
