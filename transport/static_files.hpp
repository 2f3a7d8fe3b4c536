#pragma once
// The web dashboard: files under http.static-dir served to GET requests.

#include <optional>
#include <string>

#include "delivery/http_request.hpp"

namespace vigil {

/// The web dashboard: a GET for `uri` under http.static-dir (`/` serves index.html). Paths with
/// `..`, hidden files and anything that is not a regular file are not served.
std::optional<http_response> static_file(const std::string& dir, const std::string& uri);

} // namespace vigil
