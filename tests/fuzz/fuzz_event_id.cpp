// libFuzzer harness: event ids as a client sends them in `lastEventId` (domain/event_id.*: the
// parser vigilctl and storage use, and event_id_seq, which the hospital actor uses to resume). Invariant: nothing
// crashes; an accepted id formats to text that parses back to the same id (leading zeros of the
// sequence number are accepted, so the text itself need not come back unchanged).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "domain/event_id.hpp"

using namespace vigil;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto id = parse_event_id(text);
  // The resume path must agree with the parser on every input, for this database's epoch.
  if (auto seq = event_id_seq(text, "abcd1234"); seq && (!id || id->epoch != "abcd1234" || id->seq != *seq))
    std::abort();
  if (!id)
    return 0;
  auto back = parse_event_id(format_event_id(id->epoch, id->seq));
  if (!back || back->epoch != id->epoch || back->seq != id->seq)
    std::abort();
  return 0;
}
