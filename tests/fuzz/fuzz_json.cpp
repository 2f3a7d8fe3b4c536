// libFuzzer harness: JSON parsing (domain/json.*), the parser every request body and frame goes
// through. Invariants: parsing never crashes; whatever parses writes back to text that parses to
// an equal value, and writing is stable (write(parse(write(v))) == write(v)).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "domain/json.hpp"

using namespace vigil;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  std::string error;
  auto v = json::parse(text, &error);
  if (!v)
    return 0;
  std::string once = json::to_string(*v);
  std::string again_error;
  auto back = json::parse(once, &again_error);
  if (!back || !(*back == *v))
    std::abort();
  if (json::to_string(*back) != once)
    std::abort();
  std::string sj;
  json::write_superjson(sj, *v);
  if (!json::parse(sj, &again_error))
    std::abort();
  return 0;
}
