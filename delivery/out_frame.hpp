#pragma once
// What the outbox queues for a WebSocket: one text frame, written by the network thread.

#include <memory>
#include <string>
#include <utility>

#include "delivery/encoded_event.hpp"

namespace vigil {

/// One outbound WebSocket text frame: a head, then optionally a shared event tail. The head is
/// either the frame's own text (replies, control frames) or a subscription's prefix shared by
/// every frame of that subscription, so a fan-out allocates nothing per frame.
struct out_frame {
  std::string head;
  std::shared_ptr<const std::string> shared_head; // when set, used instead of `head`
  encoded_event_ptr event;     // when set, the frame continues with the event's tail
  bool superjson = false;      // which tail

  /// A frame of its own text.
  static out_frame text(std::string t) {
    out_frame f;
    f.head = std::move(t);
    return f;
  }
  /// An event frame of a subscription: its shared prefix, then the event's tail.
  static out_frame event_frame(std::shared_ptr<const std::string> prefix, encoded_event_ptr ev,
                               bool superjson) {
    out_frame f;
    f.shared_head = std::move(prefix);
    f.event = std::move(ev);
    f.superjson = superjson;
    return f;
  }
  const std::string& head_text() const { return shared_head ? *shared_head : head; }
  size_t size() const {
    return head_text().size()
           + (event ? (superjson ? event->superjson_tail.size() : event->plain_tail.size()) : 0);
  }
  void append_to(std::string& out) const {
    out += head_text();
    if (event)
      out += superjson ? event->superjson_tail : event->plain_tail;
  }
};

} // namespace vigil
