#pragma once
// The libwebsockets client plumbing of vigilctl, in one place: the context, the connect call,
// reassembling received messages, writing queued frames, close codes and a deadline-bounded
// service loop. Used by ws_client (watch, replay), the bench loop's publishers and the durable
// benchmarks' connection pool (vigilctl bench durable). Each of them keeps its own connection
// state and lws callback; they share how they talk to lws.

#include <libwebsockets.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::ctl {
/// Milliseconds on a monotonic clock (ws_client.hpp; declared here for service_until).
int64_t monotonic_ms();
} // namespace vigil::ctl

namespace vigil::ctl::lwsc {

/// What a client context needs. Zero leaves lws' default.
struct context_options {
  const lws_protocols* protocols = nullptr;
  void* user = nullptr;            // lws_context_user(): the owner the callback finds
  unsigned fd_limit = 0;           // fd_limit_per_thread
  unsigned service_buffer = 0;     // pt_serv_buf_size: the most one read() takes
  unsigned timeout_secs = 0;       // connect / handshake timeout
  /// Initialise TLS for wss:// connections: the server is verified against VIGIL_CA_FILE (a PEM
  /// CA file) when that is set, else against the system's trusted CAs.
  bool tls = false;
};

/// Creates a client-only context (no listener). nullptr with *error set on failure.
lws_context* make_context(const context_options& opts, std::string* error);

/// `host:port`, IPv6 literals in brackets: the Host header.
std::string host_header(const std::string& host, int port);

/// One client connection to open. `address`, `path` and `iface` are not copied: they must stay
/// valid until the connection is established or fails (lws keeps the pointers for its
/// asynchronous DNS and connect; only the Host header is copied at once).
struct connect_options {
  lws_context* context = nullptr;
  const char* address = nullptr;       // host name or address literal (no brackets)
  int port = 0;
  const char* path = "";               // WebSocket: the upgrade path; ignored for raw
  const char* local_protocol = nullptr;  // the name in the context's protocol table
  void* userdata = nullptr;            // the callback's `user`
  lws** pwsi = nullptr;                // set by lws as soon as the wsi exists
  const char* iface = nullptr;         // source address, or nullptr
  bool raw = false;                    // a RAW socket (the caller speaks HTTP itself)
  bool tls = false;                    // wss:// (the context needs context_options::tls)
  /// Without lws' validity (ping/hang-up) timers: each is an entry in a sorted list every new
  /// connection walks (quadratic when connecting thousands); the server's text PING is
  /// answered instead.
  bool no_validity_checks = false;
};

/// Starts connecting; nullptr when it failed at once (lws may have called back already).
lws* connect(const connect_options& opts);

/// The close code of a LWS_CALLBACK_WS_PEER_INITIATED_CLOSE payload; 1005 when it has none.
int peer_close_code(const void* in, size_t len);

/// Feeds one LWS_CALLBACK_CLIENT_RECEIVE chunk; `on_message(std::string_view)` gets each
/// complete message (an unfragmented one without a copy). `partial` holds a message being
/// reassembled. False when the message would exceed `max_bytes` (close the connection).
template <typename OnMessage>
bool receive(std::string& partial, lws* wsi, const void* in, size_t len, size_t max_bytes,
             OnMessage&& on_message) {
  const bool final = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
  const char* bytes = static_cast<const char*>(in);
  if (partial.empty() && final) {
    if (len > max_bytes) return false;
    on_message(std::string_view(bytes, len));
    return true;
  }
  if (partial.size() + len > max_bytes) return false;
  partial.append(bytes, len);
  if (!final) return true;
  std::string message;
  message.swap(partial);
  on_message(std::string_view(message));
  return true;
}

/// On a WRITEABLE callback: writes the first queued frame (one lws_write per callback; ask for
/// another callback while frames remain). `buffer` is reused for the LWS_PRE room lws needs.
/// False when the write failed (close the connection); true when the outbox was empty.
bool write_front(lws* wsi, std::deque<std::string>& outbox, std::vector<unsigned char>& buffer,
                 lws_write_protocol mode);

/// A timer that wakes the poll() inside lws_service() at a deadline, so a service loop ends on
/// time even when lws has nothing scheduled. `sul` stays the first member: the callback casts
/// back from it. Cancel (or let service_until cancel) before the context is destroyed.
struct deadline_timer {
  lws_sorted_usec_list_t sul{};
  lws_context* context = nullptr;
  bool fired = false;
  void arm(lws_context* ctx, int64_t timeout_ms);
  void cancel() { lws_sul_cancel(&sul); }
};

/// Services `ctx` until `done()` or `timeout_ms` passes (or `stop()` holds: a signal); returns
/// done(). *failed is set when lws_service() fails.
template <typename Done, typename Stop>
bool service_until(lws_context* ctx, deadline_timer& timer, Done done, int64_t timeout_ms,
                   Stop stop, bool* failed) {
  if (done()) return true;
  timeout_ms = std::max<int64_t>(timeout_ms, 0);
  timer.arm(ctx, timeout_ms);
  const int64_t deadline = monotonic_ms() + timeout_ms;
  while (!done() && !timer.fired && monotonic_ms() < deadline && !stop()) {
    if (lws_service(ctx, 0) < 0) {
      if (failed != nullptr) *failed = true;
      break;
    }
  }
  timer.cancel();
  return done();
}

} // namespace vigil::ctl::lwsc
