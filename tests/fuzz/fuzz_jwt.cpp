// libFuzzer harness: JWT verification (domain/auth.* verify_token) with the HS256 configuration,
// and the `Bearer` header reader. Invariant: nothing crashes; a token accepted carries a non-empty
// `sub` (the input cannot carry a valid signature unless it was seeded with one).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "domain/auth.hpp"

using namespace vigil;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  jwt_config cfg; // HS256 with the built-in development secret (the seeds are signed with it)
  auth_reason reason = auth_reason::none;
  auto r = verify_token(text, cfg, 1767600000, &reason);
  if (auto* who = std::get_if<identity>(&r)) {
    if (who->sub.empty() || reason != auth_reason::none)
      std::abort();
    (void)expiry_ms(*who);
    (void)ms_until_expiry(*who, 1767600000000, 60000);
  } else if (reason == auth_reason::none) {
    std::abort();
  }
  if (auto t = bearer_token(text))
    (void)verify_token(*t, cfg, 1767600000, nullptr);
  return 0;
}
