#pragma once
// The libwebsockets server: one service thread, one port, WebSocket on /api/trpc (and /), the
// tRPC HTTP endpoint /api/trpc/<path>, and /health, /ready, /metrics. The lws thread is the only
// thread that calls lws; actors reach it through the outbox (see delivery/outbox.hpp), and it
// reaches them through a session_factory (delivery/session.hpp).

#include <memory>
#include <string>
#include <thread>

#include "delivery/outbox.hpp"
#include "delivery/session.hpp"
#include "domain/config.hpp"

namespace vigil {

class server {
public:
  /// `cfg` and `sessions` must outlive the server.
  server(const config& cfg, outbox_ptr out, session_factory& sessions);
  ~server();

  /// Creates the lws context and binds the port. False with *error on failure.
  bool start(std::string* error);
  /// The port actually bound (useful with port 0).
  uint16_t port() const { return port_; }
  /// The plain loopback port beside TLS (tls.plain-port), 0 when there is none.
  uint16_t plain_port() const { return plain_port_; }
  /// Re-reads the TLS certificate and key (any thread; e.g. on SIGHUP): the lws thread swaps
  /// them in for new connections, open ones are not touched, and a bad file keeps the old
  /// certificate. Logs tls_reloaded or tls_reload_failed. Nothing without TLS.
  void request_tls_reload();
  /// Starts the service thread.
  void run();
  /// Graceful shutdown (any thread): stop accepting, send `reconnect` to every WebSocket, close
  /// them with 1001 once their pending frames are written (at most shutdown.drain-timeout).
  void request_shutdown();
  /// Waits for the service thread to finish.
  void join();
  /// The transport's part of a SIGHUP reload (vigild calls it from its main thread with the new,
  /// already validated configuration): takes what can change while connections are open:
  /// http.cors-origins (used from the next request on), and the TLS certificate and key, read
  /// again from the paths the server started with (request_tls_reload). Thread-safe. Other
  /// settings in `next` are ignored here; vigild warns that they need a restart.
  void apply_reload(const config& next);

  struct impl;

private:
  std::unique_ptr<impl> impl_;
  uint16_t port_ = 0;
  uint16_t plain_port_ = 0;
  std::thread thread_;
};

} // namespace vigil
