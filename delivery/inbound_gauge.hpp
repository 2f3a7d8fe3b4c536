#pragma once
// Inbound back-pressure shared by the network thread and a connection's session.

#include <atomic>
#include <cstdint>
#include <memory>

namespace vigil {

/// Inbound back-pressure for one WebSocket: bytes handed to the connection actor and not yet
/// processed. The lws thread stops reading the socket (lws_rx_flow_control) above the high mark;
/// the actor asks for reading to resume (outbox::wake) once it is below the low mark. So neither
/// the actor's mailbox nor its list of deferred frames can grow without bound.
struct inbound_gauge {
  std::atomic<int64_t> bytes{0};
  std::atomic<bool> paused{false};
  static constexpr int64_t high_mark = 256 * 1024;
  static constexpr int64_t low_mark = 64 * 1024;
};
using inbound_gauge_ptr = std::shared_ptr<inbound_gauge>;

} // namespace vigil
