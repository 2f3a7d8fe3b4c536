// libFuzzer harness: ISO-8601 timestamps from clients (domain/time.* parse_iso; every date input
// and the ISO form of a getActiveAlerts cursor goes through it). Invariant: nothing crashes; an
// accepted instant formats to text that parses back to the same instant.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "domain/time.hpp"

using namespace vigil;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto ms = parse_iso(text);
  if (!ms)
    return 0;
  auto back = parse_iso(format_iso(*ms));
  if (!back || *back != *ms)
    std::abort();
  return 0;
}
