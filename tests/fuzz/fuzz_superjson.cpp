// libFuzzer harness: superjson input decoding (domain/trpc.* decode_superjson). The input is
// parsed as JSON and, when it is an envelope, its `meta.values` annotations are applied.
// Invariant: nothing crashes; a decoded value writes back (plain and superjson) to valid JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "domain/json.hpp"
#include "domain/trpc.hpp"

using namespace vigil;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  std::string error;
  auto v = json::parse(text, &error);
  if (!v)
    return 0;
  // A small annotation limit so that the "too many" path is reached too.
  auto decoded = trpc::decode_superjson(*v, 64);
  if (auto* d = std::get_if<trpc::decoded_input>(&decoded); d && d->present) {
    std::string sj;
    json::write_superjson(sj, d->value);
    if (!json::parse(sj, &error) || !json::parse(json::to_string(d->value), &error))
      std::abort();
  }
  return 0;
}
