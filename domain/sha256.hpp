#pragma once
// SHA-256 for the audit trail's hash chain (domain/audit.hpp), through OpenSSL's libcrypto
// (already linked for TLS): it uses the CPU's SHA extensions where present, about 5x faster than
// portable code on the storage thread, which computes one hash per audit record serially.

#include <string>
#include <string_view>

namespace vigil {

/// Lower-case hex SHA-256 of `bytes` (64 characters).
std::string sha256_hex(std::string_view bytes);

} // namespace vigil
