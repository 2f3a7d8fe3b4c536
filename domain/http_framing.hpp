#pragma once
// How an HTTP/1.1 request says where its body ends (RFC 9112 §6), checked before the body is
// read. libwebsockets 4.1.6 only knows Content-Length: without one it waits for a 100 MiB body,
// it passes a chunked body through undecoded, and it reads Content-Length with atoll (so "-1"
// or "abc" slip through). vigild therefore refuses every other framing at once, before a byte
// of the body is taken, and closes the connection (where the next request would start is
// unknown).

#include <optional>
#include <string>
#include <vector>

namespace vigil {

/// Why a request's framing is refused: the HTTP status (400 or 411) and a message for the body.
struct framing_error {
  int status = 400;
  std::string message;
};

/// Checks a request's framing. `content_length` holds every Content-Length header line's value
/// (a repeated header gives several); `transfer_encoding` is the Transfer-Encoding value, if
/// any. Refused: Transfer-Encoding (any, chunked included) with Content-Length (400); any
/// Transfer-Encoding (411: chunked request bodies are not supported); a Content-Length that is
/// not 1 to 19 decimal digits (400); several differing Content-Length values (400); a POST
/// without Content-Length (411). Identical repeated values are accepted (RFC 9110 §8.6).
std::optional<framing_error> check_framing(bool post, const std::vector<std::string>& content_length,
                                           const std::optional<std::string>& transfer_encoding);

} // namespace vigil
