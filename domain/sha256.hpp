#pragma once
// SHA-256 (FIPS 180-4), small and dependency-free, for the audit trail's hash chain
// (domain/audit.hpp). Not constant-time; it hashes records, not secrets.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace vigil {

/// Incremental SHA-256: update() any number of times, then digest() once.
class sha256 {
public:
  sha256();
  void update(std::string_view bytes);
  /// The 32-byte digest; the object must not be updated afterwards.
  std::array<uint8_t, 32> digest();

private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t used_ = 0;
  uint64_t total_ = 0;
};

/// Lower-case hex SHA-256 of `bytes` (64 characters).
std::string sha256_hex(std::string_view bytes);

} // namespace vigil
