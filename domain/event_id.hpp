#pragma once
// Event ids `<epoch>-<seq>` (docs/api.md "Event ids and resume"): the one parser and formatter,
// used by storage (replay --verify), the hospital actor (lastEventId) and vigilctl.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vigil {

/// Characters in a database epoch: [a-z0-9].
constexpr size_t event_epoch_length = 8;

/// A parsed event id.
struct event_id {
  std::string epoch;  // event_epoch_length characters [a-z0-9]
  uint64_t seq = 0;
};

/// True for a valid database epoch: exactly event_epoch_length characters [a-z0-9].
bool is_valid_epoch(std::string_view epoch);

/// Parses `<epoch>-<seq>`: a valid epoch, a dash, and a decimal seq of 1 to 19 digits (no sign,
/// so it cannot overflow). nullopt for anything else.
std::optional<event_id> parse_event_id(std::string_view text);

/// The seq of `text` when it is a valid event id of `epoch`; nullopt when it is malformed or of
/// another epoch. Allocates nothing (the hospital actor calls it for every lastEventId).
std::optional<uint64_t> event_id_seq(std::string_view text, std::string_view epoch);

/// `<epoch>-<seq>`.
std::string format_event_id(std::string_view epoch, uint64_t seq);

} // namespace vigil
