#pragma once
// Private to transport/: the lws server's state and the session of one connection, shared by the
// files that implement it, one concern each:
//   server.cpp         context, service loop, callback dispatch, wake-ups, shutdown
//   accept.cpp         the listening socket and accepting under the descriptor limit
//   http_routing.cpp   HTTP requests: framing checks, routes, bodies, the tRPC hand-off
//   http_writer.cpp    writing HTTP responses
//   websocket.cpp      upgrades, receiving frames, closing
//   ws_framing.cpp     coalesced writes of queued frames, frame heads, the slow-consumer close
//   keepalive.cpp      the 250 ms timer: PING/PONG keep-alive, idle queue trimming
//   lws_request.cpp    reading headers and query arguments from lws
//   static_files.cpp   the web dashboard (http.static-dir)

#include <libwebsockets.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "delivery/outbox.hpp"
#include "delivery/session.hpp"
#include "domain/config.hpp"
#include "domain/rate_limiter.hpp"
#include "transport/lws_request.hpp"
#include "transport/server.hpp"
#include "transport/tls.hpp"

namespace vigil {

/// The most one write hands to the kernel: the frames queued for a WebSocket are packed into
/// one buffer of up to this size and sent with one send().
constexpr size_t ws_coalesce_bytes = 64 * 1024;

namespace net {

/// Per-connection state kept by the lws thread (held by pointer: lws zeroes, never constructs,
/// its per-session storage).
struct session {
  uint64_t id = 0;
  lws* wsi = nullptr;
  bool ws = false;
  std::unique_ptr<ws_session> handler; // WebSocket only
  inbound_gauge_ptr gauge;
  // WebSocket receive
  std::string rx;
  bool rx_binary = false;
  int64_t last_rx_ms = 0;
  bool ping_outstanding = false;
  int64_t ping_sent_ms = 0;
  bool slow_close_sent = false;   // the 4008 close frame is queued behind the data: wait
  uint16_t close_code = 0;        // the peer's close code, or ours when not in the outbox (log)
  /// HTTP state, only for HTTP connections (a WebSocket session never needs it).
  struct http_state {
    std::shared_ptr<http_request> req;
    bool body_too_large = false;
    int body_completions = 0;                // of the current request: a second one = pipelining
    bool options = false;
    bool head = false;                       // HEAD: headers as for GET, no body
    bool have_response = false;
    http_response response;
    size_t written = 0;
    bool headers_sent = false;
    std::string cors_origin;
    std::shared_ptr<rate_limiter> rate;      // HTTP keep-alive: shared by its requests
    /// Bytes read from the socket before the current request's head (socket_bytes_read at the
    /// end of the previous request, plus any of its body not read yet): where head_received
    /// starts counting. No value: unknown from here on (measure off for this connection).
    std::optional<uint64_t> head_mark = 0;
    /// The current request's body as its Content-Length declares it; no value: chunked.
    std::optional<uint64_t> body_declared = 0;
    /// socket_bytes_read when the current request's head had been read (on_http).
    uint64_t read_at_head = 0;
  };
  std::unique_ptr<http_state> http_;
  http_state& http() {
    if (!http_)
      http_ = std::make_unique<http_state>();
    return *http_;
  }
};

struct per_session {
  session* s;
};

/// Opens the listening socket (non-blocking, close-on-exec). "0.0.0.0" or empty means every
/// interface, IPv6 too where the machine has it. Returns -1 and sets *error on failure.
int open_listen_socket(const std::string& host, uint16_t port, std::string* error);

} // namespace net

struct server::impl {
  using session = net::session;
  using per_session = net::per_session;

  const config& cfg;
  /// http.cors-origins now: cfg.cors_origins until apply_reload replaced them (atomic_load /
  /// atomic_store: the lws thread reads, vigild's main thread writes on SIGHUP).
  std::shared_ptr<const std::vector<std::string>> cors_origins;
  outbox_ptr out;
  session_factory& factory;
  std::atomic<bool> stopping{false};
  uint64_t next_conn_id = 1;
  lws_context* ctx = nullptr;
  lws_vhost* vhost = nullptr;        // server.port's vhost (TLS when tls.cert-file is set)
  lws_vhost* plain_vhost = nullptr;  // tls.plain-port's vhost, or nullptr
  lws_protocols protocols[3];
  bool timer_started = false;        // PROTOCOL_INIT runs once per vhost; one timer is enough
  // TLS (tls.cpp): the main vhost's SSL_CTX (lws's own), and a reload asked for by another
  // thread (SIGHUP), done on the lws thread in on_wake.
  ssl_ctx_st* tls_ctx = nullptr;
  std::string tls_error;             // why loading the certificate at start-up failed
  std::atomic<bool> tls_reload_wanted{false};
  /// TLS sockets whose first request head has not arrived yet, with their deadline (ms). On a
  /// plain socket lws drops a head not complete within 10 s (its header-buffer idle timeout);
  /// after a TLS handshake lws only arms its 30 s negotiation timeout, which would let silent
  /// or trickling clients hold a socket three times as long. tick() closes them at the deadline.
  std::unordered_map<lws*, int64_t> awaiting_head;
  static constexpr int64_t tls_head_timeout_ms = 10000;
  /// The keep-alive timer; standard layout so lws_container_of can find the owner.
  struct timer {
    lws_sorted_usec_list_t sul;
    impl* owner;
  } timer{};
  std::unordered_map<uint64_t, session*> sessions;   // lws thread only
  size_t ws_count = 0;
  size_t max_connections = 0;
  // Accepting (see start()): our own listening sockets, watched by lws as raw descriptors. The
  // first is server.port (TLS when configured); the second, with TLS only, the plain loopback
  // port (tls.plain-port). Each hands its sockets to its own vhost.
  struct listener {
    int fd = -1;
    lws* wsi = nullptr;
    lws_vhost* vhost = nullptr;
  };
  listener listeners[2];
  bool accept_paused = false;
  bool accept_failed = false; // paused because accept() failed, not at the ceiling
  /// Accepting stops once a new socket's descriptor number reaches this: what lies above is the
  /// reserve for SQLite, logs and CAF, and lws's table ends at the descriptor limit.
  int accept_ceiling = 0;
  uint64_t ticks = 0;
  bool shutdown_started = false;
  int64_t shutdown_deadline = 0;
  bool done = false;

  impl(const config& c, outbox_ptr o, session_factory& f)
    : cfg(c), cors_origins(std::make_shared<const std::vector<std::string>>(c.cors_origins)),
      out(std::move(o)), factory(f) {}

  static impl* from(lws* wsi) {
    return static_cast<impl*>(lws_context_user(lws_get_context(wsi)));
  }

  /// The session of an HTTP connection. It hangs on the wsi itself (opaque user data), not in
  /// lws's per-session storage: lws frees and re-zeroes that storage for every request of a
  /// keep-alive connection (it re-binds the protocol), which would leak the session and give
  /// each request a fresh rate limiter.
  static session* http_session(lws* wsi) {
    return static_cast<session*>(lws_get_opaque_user_data(wsi));
  }

  std::vector<out_frame> scratch;
  /// The send buffer of every connection (LWS_PRE headroom + coalesced frames). lws copies
  /// whatever the kernel does not take into the connection's own list, so one buffer on the lws
  /// thread serves all of them, instead of up to 64 KiB of capacity kept per connection.
  std::string wbuf;

  // ---- sessions and wake-ups (server.cpp) ----------------------------------------------------

  session* new_session(lws* wsi, bool ws);
  void delete_session(session* s);
  void on_wake();
  /// Re-reads tls.cert-file and tls.key-file into the live SSL_CTX (lws thread): new handshakes
  /// get the new certificate, open connections keep theirs; on any error the old one stays.
  void reload_tls();
  void begin_shutdown();
  static int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len);

  // ---- HTTP (http_routing.cpp, http_writer.cpp) ----------------------------------------------

  std::string allowed_origin(lws* wsi);
  /// A request or upgrade whose head is over http_head_limit: answers 431 straight to the
  /// socket and returns true; the caller then has lws close the connection.
  bool head_too_large(lws* wsi, const std::string& cors_origin);
  /// The least the current request's head can have taken on the socket, counted from the bytes
  /// read since the request began: independent of which headers lws knows. 0 under TLS (the
  /// count would include handshake and record overhead) or where the kernel cannot say.
  uint64_t head_received(lws* wsi);
  /// Called as a request's transaction ends (keep-alive): the next request counts from here.
  void mark_request_end(lws* wsi, session* s);
  void respond(session* s, http_response r);
  /// Ends an HTTP connection's session (closed, or upgraded to a WebSocket).
  void drop_http_session(lws* wsi);
  int on_http(lws* wsi, const char* in);
  bool handle_operational(const std::string& uri, session* s);
  int on_http_body(session* s, const char* in, size_t len);
  int on_http_body_done(session* s);
  /// http.body-timeout passed before the whole body of a POST arrived: 408 and close.
  int on_http_timer(lws* wsi, session* s);
  int on_http_writeable(lws* wsi, session* s);

  // ---- WebSocket (websocket.cpp, ws_framing.cpp) ---------------------------------------------

  int confirm_upgrade(lws* wsi);
  void on_established(lws* wsi, per_session* pss);
  int on_receive(lws* wsi, session* s, const char* in, size_t len);
  void on_closed(session* s);

  /// How long a slow consumer's socket stays open after its 4008 close frame was queued.
  static constexpr int slow_consumer_linger_s = 60;

  /// Closes a slow consumer so that it learns why: the close frame goes behind the data already
  /// in the kernel's buffer (TCP_NOTSENT_LOWAT keeps room for it), and the socket stays open
  /// until the client reads up to it and answers, or for slow_consumer_linger_s. Closing at once
  /// would leave the client, whenever it reads again, with an abnormal close (1006) instead.
  /// Nothing else is written to it meanwhile, so it costs only the kernel's buffer.
  void send_slow_consumer_close(lws* wsi, session* s);
  /// Writes everything queued for a WebSocket in as few system calls as possible: the queued
  /// frames are framed here, back to back, into one buffer of up to 64 KiB and handed to lws as
  /// one raw write (one send() for many frames, instead of one per frame). lws keeps any part the
  /// kernel did not take and reports the pipe choked until it is flushed.
  int on_ws_writeable(lws* wsi, session* s);

  // ---- accepting (accept.cpp) ----------------------------------------------------------------

  /// Takes what waits in the listen backlog and hands each socket to lws as if its own listener
  /// had accepted it. Stops (the rest wait in the backlog, nothing spins) when descriptors run
  /// low; a freed descriptor starts it again (on_descriptor_freed).
  void on_listen_readable(listener& l);
  void pause_accepting();
  /// A socket was closed: there is room for one more, so take from the backlog again.
  void on_descriptor_freed();
  static int listen_callback(lws* wsi, lws_callback_reasons reason, void*, void*, size_t);

  // ---- keep-alive (keepalive.cpp) ------------------------------------------------------------

  static void on_timer(lws_sorted_usec_list_t* sul);
  /// Keep-alive: PING after ping-interval of silence, drop when nothing came back in pong-wait.
  void tick();
};

} // namespace vigil
