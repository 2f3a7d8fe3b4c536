#pragma once
// An alert event encoded once, at commit, for every subscriber: hospital actors fan it out, the
// outbox queues it behind a subscription's shared prefix, the network thread writes it.

#include <cstdint>
#include <memory>
#include <string>

namespace vigil {

/// An event as committed and encoded once for every subscriber.
struct encoded_event {
  uint64_t seq = 0;
  std::string id;                            // "<epoch>-<seq>"
  std::string type;
  std::string alert_id;
  int urgency_level = 0;
  std::string alert_type;
  std::string plain;                         // plain JSON of the event object
  std::string meta;                          // superjson meta of the event (may be empty)
  /// `"id":"<id>","data":<plain>}}` — the tail of a plain data frame.
  std::string plain_tail;
  /// `"id":"<id>","data":{"json":<plain>,"meta":<meta>}}` — the tail of a superjson data frame.
  std::string superjson_tail;
  /// Steady-clock microseconds when the commit holding the event finished (0 for events read
  /// back from storage): the start of the publish-to-write latency.
  int64_t committed_us = 0;
};
using encoded_event_ptr = std::shared_ptr<const encoded_event>;

/// Builds an encoded_event (tails included) from stored parts.
std::shared_ptr<encoded_event> make_encoded_event(uint64_t seq, std::string id, std::string type,
                                     std::string alert_id, int urgency, std::string alert_type,
                                     std::string plain, std::string meta);

} // namespace vigil
