// A single-threaded libwebsockets client for vigilctl. See ws_client.hpp.
//
// Each ws_client owns one lws context with one client connection. All lws calls happen inside
// the public member functions, on the caller's thread: they run lws_service() until the awaited
// condition holds or a deadline passes (lwsc::service_until, tools/lws_client.hpp).

#include "tools/ws_client.hpp"

#include <libwebsockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "domain/trpc.hpp"
#include "tools/lws_client.hpp"

namespace vigil::ctl {

namespace {

constexpr const char* protocol_name = "vigilctl-client";
constexpr size_t rx_buffer_bytes = 65536;

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  return true;
}

bool fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

/// Parses a decimal port 1..65535.
std::optional<int> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  int port = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) return std::nullopt;
  return port;
}

int lws_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len);

const lws_protocols protocols[] = {
    {protocol_name, lws_callback, 0, rx_buffer_bytes, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

} // namespace

// ---- URL ----------------------------------------------------------------------------------------

std::vector<std::string> split_url_list(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    out.emplace_back(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

std::optional<ws_endpoint> parse_ws_url(std::string_view url, std::string* error) {
  const bool tls = starts_with_ci(url, "wss://");
  if (!tls && !starts_with_ci(url, "ws://")) {
    fail(error, "the URL must start with ws:// or wss:// (ws://HOST:PORT[/api/trpc])");
    return std::nullopt;
  }
  std::string_view rest = url.substr(tls ? 6 : 5);
  const size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view tail = authority_end == std::string_view::npos ? "" : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    fail(error, "user information in the URL is not supported");
    return std::nullopt;
  }
  if (tail.find('#') != std::string_view::npos) tail = tail.substr(0, tail.find('#'));

  ws_endpoint ep;
  ep.tls = tls;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      fail(error, "unterminated IPv6 address in the URL");
      return std::nullopt;
    }
    ep.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        fail(error, "unexpected text after the IPv6 address in the URL");
        return std::nullopt;
      }
      port_text = after.substr(1);
      if (port_text.empty()) port_text = "-";  // "[::1]:" has an empty, invalid port
    }
  } else {
    const size_t colon = authority.find(':');
    ep.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) port_text = "-";
    }
  }
  if (ep.host.empty()) {
    fail(error, "the URL has no host");
    return std::nullopt;
  }
  if (!port_text.empty()) {
    auto port = parse_port(port_text);
    if (!port) {
      fail(error, "invalid port \"" + std::string(port_text) + "\" in the URL (1..65535)");
      return std::nullopt;
    }
    ep.port = *port;
  }
  if (tail.empty() || tail == "/") ep.path = "/api/trpc";
  else if (tail.front() == '?') ep.path = "/api/trpc" + std::string(tail);
  else ep.path = std::string(tail);
  return ep;
}

bool resolves_to_loopback(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) return false;
  bool all_loopback = true;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      all_loopback &= (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    } else if (a->ai_family == AF_INET6) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      all_loopback &= IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) != 0;
    } else {
      all_loopback = false;
    }
  }
  freeaddrinfo(found);
  return all_loopback;
}

// ---- The connection -------------------------------------------------------------------------------

struct ws_client::state {
  lws_context* context = nullptr;
  lws* wsi = nullptr;
  bool established = false;
  bool closed = false;
  bool close_requested = false;
  std::string close_reason;
  int close_code = 0;
  std::string authorization;
  size_t max_message_bytes = 0;
  std::string partial;                 // a message being reassembled from fragments
  std::deque<std::string> inbox;       // complete text messages, oldest first
  std::deque<std::string> outbox;      // frames waiting for a WRITEABLE callback
  std::vector<unsigned char> write_buffer;
  lwsc::deadline_timer timer;
  int64_t last_rx_ms = 0;

  void mark_closed(std::string reason) {
    if (!closed && close_reason.empty()) close_reason = std::move(reason);
    closed = true;
  }
};

namespace {

ws_client::state* state_of(lws* wsi) {
  return static_cast<ws_client::state*>(lws_context_user(lws_get_context(wsi)));
}

/// Appends a received chunk; a complete text message goes to the inbox (PING is answered).
int on_receive(ws_client::state& st, lws* wsi, const void* in, size_t len) {
  const bool binary = lws_frame_is_binary(wsi) != 0;
  const bool fits = lwsc::receive(st.partial, wsi, in, len, st.max_message_bytes,
                                  [&](std::string_view message) {
    st.last_rx_ms = monotonic_ms();
    if (binary) return;  // the server sends text only; ignore anything else
    if (message == "PING") {
      st.outbox.emplace_back("PONG");
      lws_callback_on_writable(wsi);
      return;
    }
    if (message == "PONG") return;
    st.inbox.emplace_back(message);
  });
  if (fits) return 0;
  st.mark_closed("a message from the server exceeds " + std::to_string(st.max_message_bytes) +
                 " bytes");
  return -1;
}

int on_writeable(ws_client::state& st, lws* wsi) {
  if (!st.outbox.empty()) {
    if (!lwsc::write_front(wsi, st.outbox, st.write_buffer, LWS_WRITE_TEXT)) {
      st.mark_closed("write to the server failed");
      return -1;
    }
    // One lws_write per WRITEABLE callback: ask again for the rest.
    if (!st.outbox.empty() || st.close_requested) lws_callback_on_writable(wsi);
    return 0;
  }
  if (st.close_requested) {
    lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, nullptr, 0);
    st.mark_closed("closed by vigilctl");
    return -1;
  }
  return 0;
}

int lws_callback(lws* wsi, lws_callback_reasons reason, void* /*user*/, void* in, size_t len) {
  ws_client::state* st = wsi != nullptr ? state_of(wsi) : nullptr;
  if (st == nullptr) return 0;
  switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
      if (st->authorization.empty()) return 0;
      auto** p = static_cast<unsigned char**>(in);
      unsigned char* end = *p + len;
      const auto* value = reinterpret_cast<const unsigned char*>(st->authorization.data());
      if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, value,
                                       static_cast<int>(st->authorization.size()), p, end) != 0)
        return -1;
      return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      st->established = true;
      st->last_rx_ms = monotonic_ms();
      if (!st->outbox.empty()) lws_callback_on_writable(wsi);
      return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      // lws passes a C string here (`len` is not always its length).
      const std::string why = in != nullptr ? static_cast<const char*>(in) : "";
      st->mark_closed(why.empty() ? "connection failed" : why);
      st->wsi = nullptr;
      return 0;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
      return on_receive(*st, wsi, in, len);
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      return on_writeable(*st, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
      if (in != nullptr && len >= 2) {
        st->close_code = lwsc::peer_close_code(in, len);
        std::string text(static_cast<const char*>(in) + 2, len - 2);
        st->mark_closed("closed by the server (code " + std::to_string(st->close_code) +
                        (text.empty() ? "" : " " + text) + ")");
      } else {
        st->mark_closed("closed by the server");
      }
      return 0;  // lws answers the close itself
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
      // Only reached without a close frame from the server (that one set the reason first).
      st->mark_closed("the connection dropped without a close frame (code 1006)");
      st->wsi = nullptr;
      return 0;
    case LWS_CALLBACK_WSI_DESTROY:
      if (st->wsi == wsi) {
        st->wsi = nullptr;
        st->mark_closed(st->established ? "connection closed" : "connection failed");
      }
      return 0;
    default:
      return 0;
  }
}

} // namespace

ws_client::ws_client() : state_(std::make_unique<state>()) {}

ws_client::~ws_client() {
  if (state_->context != nullptr) {
    state_->timer.cancel();
    lws_context_destroy(state_->context);  // callbacks may still run: state_ is alive here
  }
}

template <typename Done>
bool ws_client::service_until(Done done, int timeout_ms) {
  state& st = *state_;
  bool failed = false;
  // A signal interrupts lws's poll(); the stop flag then ends the wait.
  const bool ok = lwsc::service_until(st.context, st.timer, done, timeout_ms, stop_requested, &failed);
  if (failed) st.mark_closed("the event loop failed");
  return ok;
}

std::unique_ptr<ws_client> ws_client::connect(const options& opts, std::string* error) {
  if (opts.require_loopback && !resolves_to_loopback(opts.endpoint.host)) {
    fail(error, "host " + opts.endpoint.host + " does not resolve to a loopback address only");
    return nullptr;
  }
  lws_set_log_level(0, nullptr);  // vigilctl reports failures itself

  std::unique_ptr<ws_client> client(new ws_client());
  state& st = *client->state_;
  st.authorization = opts.authorization;
  st.max_message_bytes = opts.max_message_bytes;

  lwsc::context_options co;
  co.protocols = protocols;
  co.user = &st;
  co.fd_limit = 16;  // one socket plus lws's own; no need for a 20000-entry table
  co.tls = opts.endpoint.tls;
  st.context = lwsc::make_context(co, nullptr);
  if (st.context == nullptr) {
    fail(error, "cannot create the WebSocket client context");
    return nullptr;
  }

  const ws_endpoint& ep = opts.endpoint;
  const std::string host_header = lwsc::host_header(ep.host, ep.port);
  lwsc::connect_options ci;
  ci.context = st.context;
  ci.address = ep.host.c_str();  // `opts` outlives the connect wait below
  ci.port = ep.port;
  ci.path = ep.path.c_str();
  ci.local_protocol = protocol_name;
  ci.pwsi = &st.wsi;
  ci.tls = ep.tls;
  if (lwsc::connect(ci) == nullptr) {
    fail(error, "cannot connect to " + host_header + ": " +
                    (st.close_reason.empty() ? "connection failed" : st.close_reason));
    return nullptr;
  }
  client->service_until([&st] { return st.established || st.closed; }, opts.connect_timeout_ms);
  if (!st.established) {
    fail(error, "cannot connect to " + host_header + ": " +
                    (st.closed ? st.close_reason
                               : "no answer within " + std::to_string(opts.connect_timeout_ms) +
                                     " ms"));
    return nullptr;
  }
  return client;
}

bool ws_client::send_text(std::string text) {
  state& st = *state_;
  if (st.closed || st.wsi == nullptr || st.close_requested) return false;
  st.outbox.push_back(std::move(text));
  lws_callback_on_writable(st.wsi);
  return true;
}

ws_client::receive_status ws_client::receive(std::string* frame, int timeout_ms) {
  state& st = *state_;
  service_until([&st] { return !st.inbox.empty() || st.closed; }, timeout_ms);
  if (!st.inbox.empty()) {
    *frame = std::move(st.inbox.front());
    st.inbox.pop_front();
    return receive_status::frame;
  }
  return st.closed ? receive_status::closed : receive_status::timeout;
}

bool ws_client::flush(int timeout_ms) {
  state& st = *state_;
  return service_until([&st] { return st.outbox.empty() || st.closed; }, timeout_ms) &&
         st.outbox.empty();
}

void ws_client::close(int timeout_ms) {
  state& st = *state_;
  if (st.closed || st.wsi == nullptr) return;
  st.close_requested = true;
  lws_callback_on_writable(st.wsi);
  service_until([&st] { return st.closed && st.wsi == nullptr; }, timeout_ms);
}

bool ws_client::is_open() const { return !state_->closed && state_->established; }
const std::string& ws_client::close_reason() const { return state_->close_reason; }
int ws_client::close_code() const { return state_->close_code; }
int64_t ws_client::last_receive_ms() const { return state_->last_rx_ms; }

// ---- tRPC helpers ---------------------------------------------------------------------------------

std::unique_ptr<ws_client> open_trpc_connection(const ws_endpoint& endpoint,
                                                const std::string& token, int connect_timeout_ms,
                                                std::string* error) {
  ws_client::options opts;
  opts.endpoint = endpoint;
  opts.endpoint.path += endpoint.path.find('?') == std::string::npos ? "?" : "&";
  opts.endpoint.path += "connectionParams=1";
  opts.connect_timeout_ms = connect_timeout_ms;
  auto client = ws_client::connect(opts, error);
  if (!client) return nullptr;
  json::value data;  // null without a token
  if (!token.empty()) data = json::value::make_object().set("authorization", "Bearer " + token);
  json::value frame = json::value::make_object();
  frame.set("method", "connectionParams");
  frame.set("data", std::move(data));
  if (!client->send_text(json::to_string(frame))) {
    fail(error, "the connection closed before the connection parameters were sent: " +
                    client->close_reason());
    return nullptr;
  }
  return client;
}

std::string subscription_frame(int64_t id, std::string_view path, const json::value& input,
                               const std::optional<std::string>& last_event_id, bool superjson) {
  json::value params = json::value::make_object();
  params.set("path", path);
  params.set("input", superjson ? json::value::make_object().set("json", input) : input);
  if (last_event_id) params.set("lastEventId", *last_event_id);
  json::value frame = json::value::make_object();
  frame.set("id", id);
  frame.set("method", "subscription");
  frame.set("params", std::move(params));
  return json::to_string(frame);
}

std::string stop_frame(int64_t id) {
  json::value frame = json::value::make_object();
  frame.set("id", id);
  frame.set("method", "subscription.stop");
  return json::to_string(frame);
}

namespace {

/// The value inside a superjson envelope, or the value itself.
const json::value& unwrap(const json::value& v) {
  if (trpc::is_superjson_envelope(v)) return *v.find("json");
  return v;
}

std::string string_member(const json::value& v, std::string_view key) {
  const json::value* m = v.find(key);
  return m != nullptr && m->is_string() ? m->as_string() : std::string();
}

} // namespace

std::optional<server_frame> parse_server_frame(std::string_view text, std::string* error) {
  auto parsed = json::parse(text, error);
  if (!parsed) return std::nullopt;
  if (!parsed->is_object()) {
    fail(error, "the server sent a frame that is not a JSON object");
    return std::nullopt;
  }
  const json::value& v = *parsed;
  server_frame f;
  if (const json::value* id = v.find("id"); id != nullptr && id->is_int()) f.id = id->as_int();
  if (string_member(v, "method") == "reconnect") {
    f.type = server_frame::kind::reconnect;
    return f;
  }
  if (const json::value* err = v.find("error"); err != nullptr) {
    const json::value& shape = unwrap(*err);
    f.type = server_frame::kind::error;
    f.error_message = string_member(shape, "message");
    if (const json::value* code = shape.find("code"); code != nullptr && code->is_number())
      f.error_number = code->as_int();
    if (const json::value* data = shape.find("data"); data != nullptr)
      f.error_code = string_member(*data, "code");
    return f;
  }
  const json::value* result = v.find("result");
  if (result == nullptr || !result->is_object()) return f;  // kind::other
  const std::string type = string_member(*result, "type");
  if (type == "started") {
    f.type = server_frame::kind::started;
  } else if (type == "stopped") {
    f.type = server_frame::kind::stopped;
  } else if (type == "data") {
    f.type = server_frame::kind::data;
    f.event_id = string_member(*result, "id");
    if (const json::value* data = result->find("data"); data != nullptr) f.data = unwrap(*data);
  }
  return f;
}

bool is_resync_event(const json::value& event) {
  const json::value* data = event.find("data");
  if (data == nullptr) return false;
  const json::value* resync = data->find("resync");
  return resync != nullptr && resync->is_bool() && resync->as_bool();
}

bool is_token_rejection(const server_frame& f) {
  return f.type == server_frame::kind::error && f.error_code == "UNAUTHORIZED";
}

// ---- Tokens -----------------------------------------------------------------------------------------

const char* const token_options_usage =
  "  --token T            the JWT (default: the VIGIL_TOKEN environment variable; prefer it,\n"
  "                       a --token is visible in `ps`)\n"
  "  --token-file PATH    read the JWT from PATH (surrounding white space ignored) before every\n"
  "                       connect and reconnect; when the server reports the token expired or\n"
  "                       refused (close 4003, UNAUTHORIZED) it reads the file again and\n"
  "                       reconnects (back-off) instead of exiting, so a long-running consumer\n"
  "                       survives token rotation: replace the file (write a temporary file,\n"
  "                       then rename it) before the old token expires. A token refused on the\n"
  "                       very first connection is still an error (exit 1). Excludes --token.\n";

token_source token_source::fixed(std::string token) {
  token_source s;
  s.token_ = std::move(token);
  return s;
}

token_source token_source::file(std::string path) {
  token_source s;
  s.path_ = std::move(path);
  return s;
}

std::optional<std::string> token_source::load(std::string* error) const {
  if (path_.empty()) return token_;
  constexpr std::streamsize max_bytes = 64 * 1024;  // a JWT is a few hundred bytes
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    fail(error, "cannot read the token file " + path_ + ": " + std::strerror(errno));
    return std::nullopt;
  }
  std::string text(static_cast<size_t>(max_bytes) + 1, '\0');
  in.read(text.data(), max_bytes + 1);
  if (in.bad()) {
    fail(error, "cannot read the token file " + path_);
    return std::nullopt;
  }
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > static_cast<size_t>(max_bytes)) {
    fail(error, "the token file " + path_ + " is larger than 64 KiB");
    return std::nullopt;
  }
  const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!text.empty() && space(static_cast<unsigned char>(text.back()))) text.pop_back();
  size_t start = 0;
  while (start < text.size() && space(static_cast<unsigned char>(text[start]))) ++start;
  text.erase(0, start);
  if (text.empty()) {
    fail(error, "the token file " + path_ + " is empty");
    return std::nullopt;
  }
  for (unsigned char c : text)
    if (space(c) || c < 0x20 || c >= 0x7f) {
      fail(error, "the token file " + path_ + " holds more than one token or non-ASCII text");
      return std::nullopt;
    }
  return text;
}

std::variant<token_source, std::string> resolve_token_options(
    const std::optional<std::string>& token, const std::optional<std::string>& token_file) {
  if (token && token_file) return std::string("give either --token or --token-file, not both");
  if (token_file) {
    if (token_file->empty()) return std::string("--token-file must not be empty");
    token_source s = token_source::file(*token_file);
    std::string error;
    if (!s.load(&error)) return error;
    return s;
  }
  std::string value;
  if (token) value = *token;
  else if (const char* env = std::getenv("VIGIL_TOKEN"); env != nullptr) value = env;
  if (value.empty())
    return std::string("a token is required (--token, --token-file or VIGIL_TOKEN)");
  return token_source::fixed(value);
}

// ---- Keep-alive -------------------------------------------------------------------------------------

int keepalive::wait_ms(const ws_client& client) const {
  const int64_t now = monotonic_ms();
  const int64_t due = ping_sent_ms_ != 0 ? ping_sent_ms_ + answer_ms_
                                         : client.last_receive_ms() + idle_ms_;
  return static_cast<int>(std::clamp<int64_t>(due - now, 0, idle_ms_));
}

bool keepalive::check(ws_client& client, std::string* why) {
  const int64_t now = monotonic_ms();
  if (ping_sent_ms_ != 0) {
    if (client.last_receive_ms() >= ping_sent_ms_) {
      ping_sent_ms_ = 0;  // something arrived since the PING: alive
    } else if (now - ping_sent_ms_ >= answer_ms_) {
      char text[160];
      std::snprintf(text, sizeof text,
                    "keep-alive timeout: no answer to PING within %.1f s after %.1f s of silence",
                    answer_ms_ / 1000.0, idle_ms_ / 1000.0);
      fail(why, text);
      return false;
    }
    return true;
  }
  if (now - client.last_receive_ms() >= idle_ms_) {
    if (!client.send_text("PING")) {
      fail(why, "connection lost: " + client.close_reason());
      return false;
    }
    ping_sent_ms_ = now;
  }
  return true;
}

// ---- Timing -----------------------------------------------------------------------------------------

int backoff::next_ms() {
  const int delay = next_ms_;
  next_ms_ = std::min(next_ms_ * 2, max_ms);
  return delay;
}

int64_t monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {
volatile std::sig_atomic_t stop_signal = 0;
extern "C" void on_stop_signal(int) { stop_signal = 1; }
} // namespace

void catch_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: poll() returns EINTR at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() { return stop_signal != 0; }

void sleep_ms(int64_t ms) {
  // In slices, so that a stop signal ends a long back-off within 100 ms.
  const int64_t end = monotonic_ms() + ms;
  for (int64_t left = ms; left > 0 && !stop_requested(); left = end - monotonic_ms())
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(left, 100)));
}

} // namespace vigil::ctl
