#pragma once
// A small, single-threaded WebSocket client for vigilctl, on libwebsockets: connect to
// ws://host:port/path (optionally with an Authorization header), send text frames, and receive
// text frames with a timeout. Every call drives the lws event loop on the calling thread, so no
// thread is started and nothing happens between calls (a server PING waits for the next call).
//
// On top of that, the few tRPC v11 helpers that `vigilctl watch` and `vigilctl replay` share:
// building request frames and classifying server frames (docs/api.md "WebSocket").

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "domain/json.hpp"

namespace vigil::ctl {

/// The parts of a `ws://host[:port][/path]` or `wss://…` URL.
struct ws_endpoint {
  bool tls = false;          // wss://: TLS, verified against VIGIL_CA_FILE or the system's CAs
  std::string host;          // without brackets for IPv6 literals
  int port = 3001;           // docs/api.md "Transports": the default port
  std::string path = "/api/trpc";  // path plus query, always starting with '/'
};

/// Parses `ws://host[:port][/path[?query]]` or `wss://…` (TLS). A missing or bare "/" path
/// becomes `/api/trpc`; the port defaults to 3001 for both. Other schemes are refused. nullopt
/// with *error set on failure.
std::optional<ws_endpoint> parse_ws_url(std::string_view url, std::string* error);

/// Splits a comma-separated --url value (the nodes of a cluster) into its URLs; an empty part
/// stays (the caller reports it).
std::vector<std::string> split_url_list(std::string_view text);

/// True when every address `host` resolves to is a loopback address (127.0.0.0/8 or ::1).
/// False when it does not resolve.
bool resolves_to_loopback(const std::string& host);

/// One WebSocket connection with its own lws context. Not thread-safe; use from one thread.
class ws_client {
public:
  struct options {
    ws_endpoint endpoint;
    /// Sent as the upgrade request's `Authorization` header when not empty.
    std::string authorization;
    int connect_timeout_ms = 5000;
    /// Refuse hosts that do not resolve to loopback only (load generators must not hit remote
    /// servers by accident).
    bool require_loopback = false;
    /// Largest inbound message accepted; a bigger one closes the connection.
    size_t max_message_bytes = 16u * 1024 * 1024;
  };

  enum class receive_status { frame, timeout, closed };

  /// Connects and completes the WebSocket handshake. nullptr with *error set on failure
  /// (refused connection, HTTP status other than 101, timeout, …).
  static std::unique_ptr<ws_client> connect(const options& opts, std::string* error);
  ~ws_client();
  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  /// Queues a text frame. False when the connection is closed.
  bool send_text(std::string text);
  /// Waits up to `timeout_ms` (0: just look) for the next text frame. A server `PING` frame is
  /// answered with `PONG` and never returned. After `closed`, close_reason() says why.
  receive_status receive(std::string* frame, int timeout_ms);
  /// Drives the loop until every queued frame is written (or `timeout_ms` passes).
  bool flush(int timeout_ms);
  /// Sends a normal close (1000) and waits up to `timeout_ms` for the connection to end.
  void close(int timeout_ms = 1000);

  bool is_open() const;
  /// Why the connection ended: "closed by the server (code 1001 server shutdown)", a connection
  /// error, …; empty while open.
  const std::string& close_reason() const;
  /// The close code the server sent (0 when none).
  int close_code() const;
  /// monotonic_ms() when the last complete message (PING and PONG included) arrived, or when the
  /// connection was established: how long the server has been silent.
  int64_t last_receive_ms() const;

  struct state;  // lws callback state, defined in ws_client.cpp

private:
  ws_client();
  /// Runs the event loop until `done()` or `timeout_ms` passes; returns done().
  template <typename Done>
  bool service_until(Done done, int timeout_ms);

  std::unique_ptr<state> state_;
};

// ---- tRPC v11 over the WebSocket --------------------------------------------------------------

/// Connects to `endpoint` with `?connectionParams=1` (or `&…`) added to the path and sends the
/// connectionParams frame `{"method":"connectionParams","data":{"authorization":"Bearer <token>"}}`
/// (`data` null without a token). nullptr with *error set on failure.
std::unique_ptr<ws_client> open_trpc_connection(const ws_endpoint& endpoint,
                                                const std::string& token, int connect_timeout_ms,
                                                std::string* error);

/// `{"id":<id>,"method":"subscription","params":{"path":<path>,"input":<input>[,"lastEventId":…]}}`.
/// With `superjson` the input is sent as the envelope `{"json":<input>}`.
std::string subscription_frame(int64_t id, std::string_view path, const json::value& input,
                               const std::optional<std::string>& last_event_id, bool superjson);
/// `{"id":<id>,"method":"subscription.stop"}`.
std::string stop_frame(int64_t id);

/// A server frame as a subscriber sees it.
struct server_frame {
  enum class kind { started, data, stopped, error, reconnect, other };
  kind type = kind::other;
  /// The request id: set for numeric ids, nullopt for `id: null` and string ids.
  std::optional<int64_t> id;
  /// `result.id` of a data frame (the event id of an alert stream), empty when absent.
  std::string event_id;
  /// The item of a data frame, superjson envelope removed.
  json::value data;
  /// Error frames: `error.data.code` ("UNAUTHORIZED", …), `error.code` (-32001) and the message.
  std::string error_code;
  int64_t error_number = 0;
  std::string error_message;
};

/// Parses a server text frame. nullopt with *error set when it is not JSON or not an object.
std::optional<server_frame> parse_server_frame(std::string_view text, std::string* error);

/// True when `event` (an AlertEvent object) is a resync event (`data.resync == true`).
bool is_resync_event(const json::value& event);

/// True when the server refused the token of this connection: an UNAUTHORIZED error frame
/// ("Token expired", "Invalid token", ...). Close code 4003 (token expired) is checked with
/// `ws_client::close_code()`.
bool is_token_rejection(const server_frame& f);

/// WebSocket close code for "token expired" (docs/operations.md, close codes).
constexpr int close_token_expired = 4003;

// ---- Tokens ------------------------------------------------------------------------------------------

/// Where `watch` and `replay` get their JWT: a fixed value (--token, VIGIL_TOKEN), or a file
/// (--token-file) that is read again before every (re)connect, so that a service keeps running
/// while its token is rotated. The token itself is never printed.
class token_source {
public:
  token_source() = default;
  static token_source fixed(std::string token);
  static token_source file(std::string path);

  /// True with --token-file: a refused token is worth reading the file again for.
  bool from_file() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  /// The current token; nullopt with *error when the file cannot be read or holds no token.
  std::optional<std::string> load(std::string* error) const;

private:
  std::string token_;
  std::string path_;
};

/// Resolves --token, --token-file and the VIGIL_TOKEN environment variable (in that order; the
/// two options exclude each other). On a usage error returns its message. A --token-file is read
/// once here, so that a missing or empty file is reported at start.
std::variant<token_source, std::string> resolve_token_options(
    const std::optional<std::string>& token, const std::optional<std::string>& token_file);

/// The usage text lines for --token and --token-file, shared by watch and replay.
extern const char* const token_options_usage;

// ---- Keep-alive --------------------------------------------------------------------------------------

/// Client-side keep-alive for connections that may stay quiet for a long time (watch, replay
/// --follow). After `idle_ms` without any message from the server it sends a text `PING` (the
/// server answers `PONG`); when nothing at all arrives within `answer_ms` after that, the server
/// is gone without closing (power loss, a network partition, a frozen process) and the caller
/// reconnects. Without it a silent TCP connection could be waited on forever.
class keepalive {
public:
  explicit keepalive(int idle_ms = 30000, int answer_ms = 10000)
      : idle_ms_(idle_ms), answer_ms_(answer_ms) {}
  /// The longest wait (ms) before check() is due; use it to bound receive().
  int wait_ms(const ws_client& client) const;
  /// Call after each receive() that timed out. False, with *why set, when the server did not
  /// answer the PING in time.
  bool check(ws_client& client, std::string* why);

private:
  int idle_ms_;
  int answer_ms_;
  int64_t ping_sent_ms_ = 0;  // 0: no PING outstanding
};

/// Reconnect back-off: 0.5 s, 1 s, 2 s, … capped at 10 s; reset() after a working connection.
class backoff {
public:
  /// The delay before the next attempt, in ms; each call doubles the following one.
  int next_ms();
  void reset() { next_ms_ = first_ms; }

private:
  static constexpr int first_ms = 500;
  static constexpr int max_ms = 10000;
  int next_ms_ = first_ms;
};

/// Makes SIGINT and SIGTERM set a flag instead of killing the process, so that a long-running
/// command can finish cleanly (replay --follow prints its summary). Once the flag is set,
/// ws_client waits and sleep_ms() return early (a wait reports `timeout`); stop_requested()
/// tells.
void catch_stop_signals();
bool stop_requested();

/// Milliseconds on a monotonic clock (deadlines and timeouts).
int64_t monotonic_ms();
/// Sleeps `ms` milliseconds (reconnect back-off); returns early on stop_requested().
void sleep_ms(int64_t ms);

} // namespace vigil::ctl
