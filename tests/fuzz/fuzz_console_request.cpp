// libFuzzer harness: request lines of the operator console (domain/console_protocol.*), read from
// a local socket before authentication. Invariant: nothing crashes; an accepted line is a
// non-empty list whose re-encoding decodes to the same words.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "domain/console_protocol.hpp"

using namespace vigil;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  (void)console_protocol::parse_reply_length(text);
  std::string error;
  auto words = console_protocol::decode_request(text, &error);
  if (!words)
    return 0;
  if (words->empty())
    std::abort();
  auto back = console_protocol::decode_request(console_protocol::encode_request(*words), &error);
  if (!back || *back != *words)
    std::abort();
  return 0;
}
