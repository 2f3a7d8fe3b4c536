#include "domain/sha256.hpp"

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace vigil {

namespace {

/// The SHA-256 implementation, fetched once: fetching by name on every hash (what EVP_sha256()
/// does implicitly in OpenSSL 3) costs more than hashing an audit record.
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

/// Hashing cannot fail short of a broken libcrypto; an audit chain with a wrong hash would be
/// worse than stopping, so stop with a message.
void check(int ok, const char* what) {
  if (ok == 1)
    return;
  std::fprintf(stderr, "vigil: libcrypto SHA-256 failed in %s\n", what);
  std::abort();
}

} // namespace

std::string sha256_hex(std::string_view bytes) {
  // One context per thread, re-initialised per hash: no allocation per audit record.
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                           &EVP_MD_CTX_free);
  check(ctx != nullptr && sha256_md() != nullptr ? 1 : 0, "EVP_MD_fetch");
  check(EVP_DigestInit_ex2(ctx.get(), sha256_md(), nullptr), "EVP_DigestInit_ex2");
  check(EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size()), "EVP_DigestUpdate");
  std::array<uint8_t, 32> d{};
  unsigned int n = 0;
  check(EVP_DigestFinal_ex(ctx.get(), d.data(), &n), "EVP_DigestFinal_ex");
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(64);
  for (uint8_t b : d) {
    hex += digits[b >> 4];
    hex += digits[b & 15];
  }
  return hex;
}

} // namespace vigil
