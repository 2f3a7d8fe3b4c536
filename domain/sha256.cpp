#include "domain/sha256.hpp"

#include <openssl/evp.h>

#include <cstdlib>
#include <cstdio>

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

void init(EVP_MD_CTX* ctx) {
  check(ctx != nullptr && sha256_md() != nullptr ? 1 : 0, "EVP_MD_fetch");
  check(EVP_DigestInit_ex2(ctx, sha256_md(), nullptr), "EVP_DigestInit_ex2");
}

} // namespace

sha256::sha256() : ctx_(EVP_MD_CTX_new()) { init(ctx_); }

sha256::~sha256() { EVP_MD_CTX_free(ctx_); }

void sha256::update(std::string_view bytes) {
  check(EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()), "EVP_DigestUpdate");
}

std::array<uint8_t, 32> sha256::digest() {
  std::array<uint8_t, 32> out{};
  unsigned int n = 0;
  check(EVP_DigestFinal_ex(ctx_, out.data(), &n), "EVP_DigestFinal_ex");
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  // One context per thread, re-initialised per hash: no allocation per audit record.
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                           &EVP_MD_CTX_free);
  init(ctx.get());
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
