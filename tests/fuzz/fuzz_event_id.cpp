// libFuzzer harness: event ids as a client sends them in `lastEventId` (storage/replay_verify.*
// parse_event_id, used by the hospital actor to resume a subscription). Invariant: nothing
// crashes; an accepted id formats to text that parses back to the same id (leading zeros of the
// sequence number are accepted, so the text itself need not come back unchanged).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "storage/replay_verify.hpp"

using namespace vigil;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto id = storage::parse_event_id(text);
  if (!id)
    return 0;
  auto back = storage::parse_event_id(storage::format_event_id(id->epoch, id->seq));
  if (!back || back->epoch != id->epoch || back->seq != id->seq)
    std::abort();
  return 0;
}
