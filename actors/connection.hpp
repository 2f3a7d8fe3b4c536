#pragma once
// The connection actor: one per WebSocket. Parses tRPC frames, authenticates the connection,
// runs the call pipeline, rate-limits, keeps the connection's subscriptions, and writes replies
// into the outbox. Subscription frames are written by the hospital actors themselves.

#include <caf/actor_system.hpp>

#include <string>

#include "actors/runtime.hpp"
#include "delivery/outbox.hpp"

namespace vigil {

struct connection_args {
  uint64_t conn_id = 0;
  std::string peer;                   // the client's IP:port (for the log and the console)
  bool expects_params = false;        // the upgrade URL carried connectionParams=1
  std::string header_authorization;   // the upgrade request's Authorization header, if any
  inbound_gauge_ptr gauge;            // inbound bytes not yet processed (shared with lws)
};

/// Interface: connection_actor in actors/interfaces.hpp.
connection_actor spawn_connection(caf::actor_system& sys, runtime_ptr rt, connection_args args);

} // namespace vigil
