#pragma once
// SHA-256 for the audit trail's hash chain (domain/audit.hpp), through OpenSSL's libcrypto
// (already linked for TLS): it uses the CPU's SHA extensions where present, about 5x faster than
// portable code on the storage thread, which computes one hash per audit record serially.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace vigil {

/// Incremental SHA-256: update() any number of times, then digest() once.
class sha256 {
public:
  sha256();
  ~sha256();
  sha256(const sha256&) = delete;
  sha256& operator=(const sha256&) = delete;
  void update(std::string_view bytes);
  /// The 32-byte digest; the object must not be updated afterwards.
  std::array<uint8_t, 32> digest();

private:
  evp_md_ctx_st* ctx_;
};

/// Lower-case hex SHA-256 of `bytes` (64 characters).
std::string sha256_hex(std::string_view bytes);

} // namespace vigil
