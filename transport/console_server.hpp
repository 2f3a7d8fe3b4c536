#pragma once
// The console listener: vigild's end of `vigilctl console`, on 127.0.0.1:admin.port. A small
// protocol of our own on plain threads, bounded before authentication, so that a local user
// without the admin token can neither make vigild allocate nor reach the inspector:
//
//   server: "vigil-console 1 ready\n"      (or "vigil-console 1 busy\n" and close: too many sockets)
//   client: "AUTH <token>\n"                within auth_timeout and auth_line_max bytes, else the
//                                           socket is closed (and the attempt logged)
//   server: reply                           ok: data = the server identity; refused: then closed
//   client: <JSON array of strings>\n       ["command", "arg", ...], at most request_line_max bytes
//   server: reply                           the inspector's answer
//   ...
//
// A reply is "<decimal byte length>\n" followed by that many bytes of JSON:
// {"ok":true,"data":...} or {"ok":false,"error":"..."} (the inspector's own format). The client
// never sends anything before the greeting, so its token does not go to a port that is not a
// vigild console.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "delivery/console_handler.hpp"
#include "domain/console_protocol.hpp"

namespace vigil {

struct console_limits {
  std::chrono::milliseconds auth_timeout{5000};
  size_t auth_line_max = console_protocol::auth_line_max;       // "AUTH <token>\n"
  size_t request_line_max = console_protocol::request_line_max; // newline included
  size_t max_sockets = 8;             // open console sockets, authenticated or not
  size_t max_sessions = 4;            // authenticated sessions
  std::chrono::seconds reply_timeout{10}; // how long a session waits for the inspector
};

/// Listens on 127.0.0.1 and serves console sessions on their own threads until stop().
class console_server {
public:
  /// Binds 127.0.0.1:port and starts accepting. nullptr with *error on failure; a port in use
  /// reads "admin.port N on 127.0.0.1 is in use (another vigild?)".
  /// Commands go to `handler`, which must outlive the server.
  static std::unique_ptr<console_server> start(console_handler& handler,
                                               uint16_t port, std::string token,
                                               std::string identity_json, console_limits limits,
                                               std::string* error);
  ~console_server();

  /// Closes the listener and every session and waits for their threads (a session waiting for
  /// the inspector finishes that request first, at most reply_timeout).
  void stop();
  uint16_t port() const { return port_; }

  struct session;

private:
  explicit console_server(console_handler& handler);
  void accept_loop();
  void serve(session& s);
  void reap(bool all);

  console_handler& handler_;
  std::string token_;
  std::string identity_json_;
  console_limits limits_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  int stop_fd_ = -1; // an eventfd: readable once stop() was called
  std::thread acceptor_;
  std::mutex mu_;
  std::list<std::unique_ptr<session>> sessions_;
  std::atomic<size_t> authenticated_{0};
};

} // namespace vigil
