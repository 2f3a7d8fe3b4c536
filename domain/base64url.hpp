#pragma once
// Unpadded base64url (RFC 4648 section 5, as JWTs use it: RFC 7515 section 2). One implementation
// for JWT segments and the opaque getActiveAlerts cursors.

#include <optional>
#include <string>
#include <string_view>

namespace vigil {

/// Encodes without padding.
std::string base64url_encode(std::string_view in);

/// Strict decoding: nullopt on padding, any character outside the alphabet or an impossible
/// length (4n+1).
std::optional<std::string> base64url_decode(std::string_view in);

} // namespace vigil
