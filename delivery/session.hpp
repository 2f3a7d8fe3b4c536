#pragma once
// What the network thread (transport/) asks of the rest of the server, as an interface it can
// call without knowing CAF: the transport reads sockets and writes what the outbox holds; a
// session_factory, implemented in actors/sessions.cpp and handed to the transport by vigild,
// turns what it read into work for the actors. Every call below is made on the network thread
// and must not block it.

#include <cstdint>
#include <memory>
#include <string>

#include "delivery/http_request.hpp"
#include "delivery/inbound_gauge.hpp"

namespace vigil {

/// A WebSocket just accepted (upgrade completed).
struct ws_upgrade {
  uint64_t conn_id = 0;
  std::string peer;                   // the client's IP:port (for the log and the console)
  bool expects_params = false;        // the upgrade URL carried connectionParams=1
  std::string header_authorization;   // the upgrade request's Authorization header, if any
  inbound_gauge_ptr gauge;            // inbound bytes not yet processed (shared with transport)
};

/// One open WebSocket's handler on the server side. Replies go through the outbox.
class ws_session {
public:
  virtual ~ws_session() = default;
  /// A complete message (fragments already joined; PING/PONG text frames are not passed on).
  /// Its size has been added to the upgrade's gauge; the handler subtracts it once processed.
  virtual void on_frame(std::string text, bool binary) = 0;
  /// The socket closed with `code` (ours, the peer's, or 1006). Called once, last.
  virtual void on_closed(uint16_t code) = 0;
};

/// Numbers of the process for /health and /metrics.
struct process_status {
  int64_t started_ms = 0;             // wall clock at start-up
  size_t alert_index_size = 0;        // alerts known to the routing index
};

class session_factory {
public:
  virtual ~session_factory() = default;
  /// Starts the handler of a new WebSocket and registers it for operator commands.
  virtual std::unique_ptr<ws_session> open_websocket(ws_upgrade upgrade) = 0;
  /// Runs one tRPC HTTP request; its response arrives through outbox::respond(req->conn_id).
  virtual void handle_http(http_request_ptr req) = 0;
  /// Probes the delivery path for /ready; answers HTTP connection `conn_id` through
  /// outbox::respond with 200 ready or 503 not_ready. Creates nothing a client can see.
  virtual void probe_ready(uint64_t conn_id) = 0;
  virtual process_status status() const = 0;
};

} // namespace vigil
