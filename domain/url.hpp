#pragma once
// URL decoding (pure; the network thread uses it for request paths and static file names).

#include <string>
#include <string_view>

namespace vigil {

/// Decodes %XX escapes (either case); a `%` not followed by two hex digits stays as it is. `+`
/// is not a space (tRPC paths and inputs are encoded with encodeURIComponent).
std::string url_decode(std::string_view s);

} // namespace vigil
