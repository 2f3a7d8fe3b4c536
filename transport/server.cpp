#include "transport/server.hpp"

#include <libwebsockets.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <optional>
#include <unordered_map>

#include "delivery/close_codes.hpp"
#include "delivery/counters.hpp"
#include "delivery/outbox.hpp"
#include "delivery/session.hpp"
#include "domain/http_framing.hpp"
#include "domain/json.hpp"
#include "domain/log.hpp"
#include "domain/time.hpp"
#include "domain/trpc.hpp"
#include "transport/http_endpoints.hpp"
#include "transport/peer_address.hpp"

namespace vigil {

namespace {

/// The most one write hands to the kernel: the frames queued for a WebSocket are packed into
/// one buffer of up to this size and sent with one send().
constexpr size_t ws_coalesce_bytes = 64 * 1024;

/// The request line and headers of an HTTP request, as lws stores them (the URL, header values
/// and the names of headers lws does not know), may take this much (api.md §6). lws keeps them
/// in a buffer of exactly this size; a request that does not fit is dropped by lws itself.
constexpr int http_head_limit = 16 * 1024;
/// The URL path and each query argument must be shorter than this; longer ones get 414. lws
/// truncates such a part at this length instead of failing the whole request, so a long URL
/// (a tRPC GET carries its input in the query) is answered instead of silently dropped.
constexpr int http_url_part_limit = 8 * 1024;

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
    bool options = false;
    bool have_response = false;
    http_response response;
    size_t written = 0;
    bool headers_sent = false;
    std::string cors_origin;
    std::shared_ptr<rate_limiter> rate;      // HTTP keep-alive: shared by its requests
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

std::string header(lws* wsi, lws_token_indexes token) {
  int n = lws_hdr_total_length(wsi, token);
  if (n <= 0)
    return {};
  std::string out(static_cast<size_t>(n) + 1, '\0');
  int got = lws_hdr_copy(wsi, out.data(), n + 1, token);
  if (got < 0)
    return {};
  out.resize(static_cast<size_t>(got));
  return out;
}

std::string custom_header(lws* wsi, const char* name) {
  int nlen = static_cast<int>(std::strlen(name));
  int n = lws_hdr_custom_length(wsi, name, nlen);
  if (n <= 0)
    return {};
  std::string out(static_cast<size_t>(n) + 1, '\0');
  int got = lws_hdr_custom_copy(wsi, out.data(), n + 1, name, nlen);
  if (got < 0)
    return {};
  out.resize(static_cast<size_t>(got));
  return out;
}

std::string url_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int h = hex(s[i + 1]), l = hex(s[i + 2]);
      if (h >= 0 && l >= 0) {
        out += static_cast<char>(h * 16 + l);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

/// Every value of a header that may appear more than once (lws keeps each line's value as a
/// fragment of the same token).
std::vector<std::string> header_lines(lws* wsi, lws_token_indexes token) {
  std::vector<std::string> lines;
  for (int i = 0;; ++i) {
    int n = lws_hdr_fragment_length(wsi, token, i);
    std::string v(static_cast<size_t>(std::max(n, 0)) + 1, '\0');
    int got = lws_hdr_copy_fragment(wsi, v.data(), n + 1, token, i);
    if (got < 0)
      break;
    v.resize(static_cast<size_t>(got));
    lines.push_back(std::move(v));
  }
  return lines;
}

/// True when the URL path or one of its query arguments reached http_url_part_limit (lws then
/// kept only that much of it).
bool url_too_long(lws* wsi) {
  for (auto token : {WSI_TOKEN_GET_URI, WSI_TOKEN_POST_URI, WSI_TOKEN_OPTIONS_URI})
    if (lws_hdr_total_length(wsi, token) >= http_url_part_limit)
      return true;
  for (int i = 0;; ++i) {
    int n = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n <= 0)
      return false;
    if (n >= http_url_part_limit)
      return true;
  }
}

const char* reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 411: return "Length Required";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    default: return "Error";
  }
}

/// Answers a request whose framing or size is unusable and whose connection therefore closes:
/// writes the whole (small) response straight to the socket, then reads away what the client
/// already sent, so that closing does not reset the connection (a reset can destroy the answer
/// before the client has read it). The caller returns -1 to lws, which closes the connection.
void answer_and_close(lws* wsi, int status, const std::string& message, const std::string& cors_origin) {
  std::string body = "{\"error\":";
  json::write_string(body, message);
  body += '}';
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n"
                  "content-type: application/json\r\n"
                  "content-length: " + std::to_string(body.size()) + "\r\n"
                  "connection: close\r\n";
  if (!cors_origin.empty())
    r += "access-control-allow-origin: " + cors_origin + "\r\nvary: Origin\r\n";
  r += "\r\n" + body;
  int fd = lws_get_socket_fd(wsi);
  if (fd < 0)
    return;
  (void)!::send(fd, r.data(), r.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  char sink[16384];
  for (size_t drained = 0; drained < 1024 * 1024;) {
    auto n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n <= 0)
      break;
    drained += static_cast<size_t>(n);
  }
}

/// Query arguments of the request: raw `name=value` fragments (lws URL-decodes them).
std::vector<std::string> url_args(lws* wsi) {
  std::vector<std::string> args;
  char buf[65536];
  for (int i = 0;; ++i) {
    int n = lws_hdr_copy_fragment(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n < 0)
      break;
    args.emplace_back(buf, static_cast<size_t>(n));
  }
  return args;
}

const char* mime_type(const std::string& path) {
  auto dot = path.rfind('.');
  auto ext = dot == std::string::npos ? std::string{} : path.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "json") return "application/json";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "png") return "image/png";
  if (ext == "ico") return "image/x-icon";
  if (ext == "woff2") return "font/woff2";
  return "application/octet-stream";
}

/// The web dashboard: a GET for `uri` under http.static-dir (`/` serves index.html). Paths with
/// `..`, hidden files and anything that is not a regular file are not served.
std::optional<http_response> static_file(const std::string& dir, const std::string& uri) {
  auto path = url_decode(uri.substr(0, uri.find('?')));
  if (path.empty() || path[0] != '/' || path.find("..") != std::string::npos
      || path.find("/.") != std::string::npos || path.find('\0') != std::string::npos)
    return std::nullopt;
  if (path.back() == '/')
    path += "index.html";
  auto full = dir + path;
  // Symbolic links may point anywhere: serve only what really lies inside the directory.
  char* real_dir = ::realpath(dir.c_str(), nullptr);
  char* real_file = ::realpath(full.c_str(), nullptr);
  std::string inside = real_dir ? std::string(real_dir) + "/" : std::string{};
  std::string real = real_file ? std::string(real_file) : std::string{};
  std::free(real_dir);
  std::free(real_file);
  if (inside.empty() || real.compare(0, inside.size(), inside) != 0)
    return std::nullopt;
  struct stat st{};
  if (::stat(real.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 16 * 1024 * 1024)
    return std::nullopt;
  std::ifstream in{real, std::ios::binary};
  if (!in)
    return std::nullopt;
  http_response r;
  r.content_type = mime_type(full);
  r.body.assign(std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{});
  return r;
}

} // namespace

struct server::impl {
  const config& cfg;
  outbox_ptr out;
  session_factory& factory;
  std::atomic<bool> stopping{false};
  uint64_t next_conn_id = 1;
  lws_context* ctx = nullptr;
  lws_vhost* vhost = nullptr;
  lws_protocols protocols[3];
  /// The keep-alive timer; standard layout so lws_container_of can find the owner.
  struct timer {
    lws_sorted_usec_list_t sul;
    impl* owner;
  } timer{};
  std::unordered_map<uint64_t, session*> sessions;   // lws thread only
  size_t ws_count = 0;
  size_t max_connections = 0;
  // Accepting (see start()): our own listening socket, watched by lws as a raw descriptor.
  int listen_fd = -1;
  lws* listen_wsi = nullptr;
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
    : cfg(c), out(std::move(o)), factory(f) {}

  static impl* from(lws* wsi) {
    return static_cast<impl*>(lws_context_user(lws_get_context(wsi)));
  }

  session* new_session(lws* wsi, bool ws) {
    auto* s = new session;
    s->id = next_conn_id++;
    s->wsi = wsi;
    s->ws = ws;
    s->last_rx_ms = now_ms();
    sessions[s->id] = s;
    out->open(s->id);
    return s;
  }

  void delete_session(session* s) {
    sessions.erase(s->id);
    out->forget(s->id);
    delete s;
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  std::string allowed_origin(lws* wsi) {
    auto origin = header(wsi, WSI_TOKEN_ORIGIN);
    if (origin.empty())
      return {};
    for (auto& o : cfg.cors_origins)
      if (o == "*")
        return "*";
      else if (o == origin)
        return origin;
    return {};
  }

  void respond(session* s, http_response r) {
    auto& h = s->http();
    h.response = std::move(r);
    h.have_response = true;
    h.written = 0;
    h.headers_sent = false;
    lws_callback_on_writable(s->wsi);
  }

  /// The session of an HTTP connection. It hangs on the wsi itself (opaque user data), not in
  /// lws's per-session storage: lws frees and re-zeroes that storage for every request of a
  /// keep-alive connection (it re-binds the protocol), which would leak the session and give
  /// each request a fresh rate limiter.
  static session* http_session(lws* wsi) {
    return static_cast<session*>(lws_get_opaque_user_data(wsi));
  }

  /// Ends an HTTP connection's session (closed, or upgraded to a WebSocket).
  void drop_http_session(lws* wsi) {
    auto* s = http_session(wsi);
    if (s == nullptr || s->ws)
      return;
    lws_set_opaque_user_data(wsi, nullptr);
    delete_session(s);
  }

  int on_http(lws* wsi, const char* in) {
    auto* s = http_session(wsi);
    if (s == nullptr) {
      s = new_session(wsi, false);
      lws_set_opaque_user_data(wsi, s);
    }
    auto& h = s->http();
    h.req.reset();
    h.body_too_large = false;
    h.options = false;
    h.have_response = false;
    h.cors_origin = allowed_origin(wsi);
    bool post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
    bool get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
    bool options = lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0;
    // Requests that cannot be served as sent are answered at once and the connection closed:
    // after a bad head or framing, where the next request would start is unknown.
    if (url_too_long(wsi)) {
      answer_and_close(wsi, 414, "URL too long: the path and each query argument must be under "
                                   + std::to_string(http_url_part_limit) + " bytes",
                       h.cors_origin);
      return -1;
    }
    std::optional<std::string> transfer_encoding;
    if (auto te = header_lines(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING); !te.empty())
      transfer_encoding = te.front();
    if (auto bad = check_framing(post, header_lines(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH),
                                 transfer_encoding)) {
      answer_and_close(wsi, bad->status, bad->message, h.cors_origin);
      return -1;
    }
    std::string uri = post ? header(wsi, WSI_TOKEN_POST_URI)
                      : get ? header(wsi, WSI_TOKEN_GET_URI)
                            : options ? header(wsi, WSI_TOKEN_OPTIONS_URI) : std::string{in ? in : ""};
    if (options) {
      http_response r;
      r.status = 204;
      r.content_type.clear();
      h.options = true;
      respond(s, std::move(r));
      return 0;
    }
    if (!get && !post) {
      http_response r;
      r.status = 405;
      r.body = R"({"error":"method not allowed"})";
      respond(s, std::move(r));
      return 0;
    }
    if (stopping) {
      http_response r;
      r.status = 503;
      r.headers.emplace_back("Retry-After", "5");
      r.body = R"({"status":"shutting_down"})";
      respond(s, std::move(r));
      return 0;
    }
    static constexpr std::string_view api = "/api/trpc/";
    if (uri.compare(0, api.size(), api) != 0) {
      if (get && handle_operational(uri, s))
        return 0;
      if (get && !cfg.static_dir.empty()) {
        if (auto file = static_file(cfg.static_dir, uri)) {
          respond(s, std::move(*file));
          return 0;
        }
      }
      http_response r;
      r.status = 404;
      r.body = R"({"error":"not found"})";
      respond(s, std::move(r));
      return 0;
    }
    auto req = std::make_shared<http_request>();
    req->conn_id = s->id;
    req->peer = peer_address(lws_get_socket_fd(wsi));
    req->post = post;
    req->path = url_decode(std::string_view{uri}.substr(api.size()));
    for (auto& a : url_args(wsi)) {
      if (a == "batch=1" || a == "batch=true")
        req->batch = true;
      else if (a.compare(0, 6, "input=") == 0) {
        req->has_input = true;
        req->input = a.substr(6);
      }
    }
    req->authorization = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    req->content_type = header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
    req->trpc_accept = custom_header(wsi, "trpc-accept:");
    req->origin = header(wsi, WSI_TOKEN_ORIGIN);
    if (!h.rate)
      h.rate = std::make_shared<rate_limiter>(cfg.rate, cfg.rate_burst);
    req->rate = h.rate;
    h.req = req;
    if (!post) {
      factory.handle_http(std::move(h.req));
      h.req.reset();
    }
    return 0; // POST: wait for the body
  }

  bool handle_operational(const std::string& uri, session* s) {
    auto path = uri.substr(0, uri.find('?'));
    if (path == "/health") {
      http_response r;
      r.body = health_body(factory.status());
      respond(s, std::move(r));
      return true;
    }
    if (path == "/metrics") {
      http_response r;
      r.content_type = "text/plain; version=0.0.4";
      r.body = metrics_body(factory.status(), ws_count);
      respond(s, std::move(r));
      return true;
    }
    if (path == "/ready") {
      factory.probe_ready(s->id);
      return true;
    }
    return false;
  }

  int on_http_body(session* s, const char* in, size_t len) {
    if (s == nullptr || !s->http().req)
      return 0;
    auto& h = s->http();
    if (h.req->body.size() + len > cfg.http_body) {
      h.body_too_large = true;
      return 0;
    }
    h.req->body.append(in, len);
    return 0;
  }

  int on_http_body_done(session* s) {
    if (s == nullptr || !s->http().req)
      return 0;
    auto& h = s->http();
    if (h.body_too_large) {
      h.req.reset();
      http_response r;
      r.status = 413;
      r.body = trpc::http_error(call_error{trpc_code::payload_too_large,
                                           "Request body exceeds "
                                             + std::to_string(cfg.http_body) + " bytes"},
                                "", false);
      respond(s, std::move(r));
      return 0;
    }
    factory.handle_http(std::move(h.req));
    h.req.reset();
    return 0;
  }

  int on_http_writeable(lws* wsi, session* s) {
    if (s == nullptr)
      return 0;
    auto& h = s->http();
    if (!h.have_response) {
      http_response r;
      if (!out->take_response(s->id, r))
        return 0;
      h.response = std::move(r);
      h.have_response = true;
      h.written = 0;
      h.headers_sent = false;
    }
    auto& r = h.response;
    // A client that takes nothing of its reply for http.write-timeout is dropped, with the
    // reply: lws reports the socket writable only once the previous write left its buffers,
    // so every call here is progress and restarts the clock. After the last write, lws's own
    // keep-alive timeout replaces it.
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK,
                    static_cast<int>((cfg.http_write_timeout_ms + 999) / 1000));
    if (!h.headers_sent) {
      std::vector<unsigned char> buf(LWS_PRE + 4096);
      unsigned char* start = buf.data() + LWS_PRE;
      unsigned char* p = start;
      unsigned char* end = buf.data() + buf.size();
      const char* ctype = r.content_type.empty() ? nullptr : r.content_type.c_str();
      if (lws_add_http_common_headers(wsi, static_cast<unsigned>(r.status), ctype,
                                      r.body.size(), &p, end))
        return -1;
      auto add = [&](const std::string& name, const std::string& value) {
        std::string n = name + ":";
        for (auto& c : n)
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(n.c_str()),
                                           reinterpret_cast<const unsigned char*>(value.data()),
                                           static_cast<int>(value.size()), &p, end);
      };
      for (auto& [k, v] : r.headers)
        if (add(k, v))
          return -1;
      if (!h.cors_origin.empty()) {
        if (add("Access-Control-Allow-Origin", h.cors_origin)
            || add("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
            || add("Access-Control-Allow-Headers", "Content-Type, Authorization")
            || add("Vary", "Origin"))
          return -1;
      }
      if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
      h.headers_sent = true;
      if (r.body.empty()) {
        h.have_response = false;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
      }
      lws_callback_on_writable(wsi);
      return 0;
    }
    constexpr size_t chunk = 32 * 1024;
    size_t n = std::min(chunk, r.body.size() - h.written);
    bool last = h.written + n == r.body.size();
    wbuf.resize(LWS_PRE + n);
    std::memcpy(wbuf.data() + LWS_PRE, r.body.data() + h.written, n);
    if (lws_write(wsi, reinterpret_cast<unsigned char*>(wbuf.data() + LWS_PRE), n,
                  last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < static_cast<int>(n))
      return -1;
    h.written += n;
    if (!last) {
      lws_callback_on_writable(wsi);
      return 0;
    }
    h.have_response = false;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
  }

  // ---- WebSocket -----------------------------------------------------------------------------

  int confirm_upgrade(lws* wsi) {
    auto uri = header(wsi, WSI_TOKEN_GET_URI);
    if (uri != "/" && uri != "/api/trpc" && uri != "/api/trpc/") {
      lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, nullptr);
      return 1;
    }
    if (stopping || ws_count >= max_connections) {
      unsigned char buf[LWS_PRE + 512];
      unsigned char* start = buf + LWS_PRE;
      unsigned char* p = start;
      unsigned char* end = buf + sizeof buf;
      static const char retry[] = "5";
      if (lws_add_http_header_status(wsi, 503, &p, end)
          || lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>("retry-after:"),
                                         reinterpret_cast<const unsigned char*>(retry), 1, &p, end)
          || lws_add_http_header_content_length(wsi, 0, &p, end)
          || lws_finalize_http_header(wsi, &p, end))
        return 1;
      lws_write(wsi, start, static_cast<size_t>(p - start), LWS_WRITE_HTTP_HEADERS);
      return 1;
    }
    return 0;
  }

  void on_established(lws* wsi, per_session* pss) {
    auto* s = new_session(wsi, true);
    pss->s = s;
    // Cap the kernel's send buffer (Linux grows it to megabytes): otherwise a stalled reader
    // hides megabytes in the kernel before the outbound budget sees anything.
    int fd = lws_get_socket_fd(wsi);
    int sndbuf = 256 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    // And report the socket writable only while less than one coalesced write is unsent: the
    // kernel then never holds more than two writes for a reader that stopped, so there is always
    // room left for the 4008 close frame, which the reader sees, after the data, once it reads
    // again (also after vigild gave up on it: the kernel still delivers what was queued).
    int lowat = static_cast<int>(ws_coalesce_bytes);
    setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
    ++ws_count;
    auto& c = counters::get();
    c.connections_current++;
    c.connections_opened++;
    ws_upgrade up;
    up.conn_id = s->id;
    up.peer = peer_address(fd);
    for (auto& a : url_args(wsi))
      if (a == "connectionParams=1")
        up.expects_params = true;
    up.header_authorization = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    s->gauge = std::make_shared<inbound_gauge>();
    up.gauge = s->gauge;
    s->handler = factory.open_websocket(std::move(up));
    if (shutdown_started) {
      out->push_text(s->id, trpc::ws_reconnect());
      out->close(s->id, close_code::going_away, "server shutdown", true);
    }
  }

  int on_receive(lws* wsi, session* s, const char* in, size_t len) {
    if (s == nullptr)
      return -1;
    if (s->slow_close_sent)
      return 0; // closed by us: nothing it sends counts any more
    s->last_rx_ms = now_ms();
    s->ping_outstanding = false;
    if (s->rx.empty())
      s->rx_binary = lws_frame_is_binary(wsi) != 0;
    if (s->rx.size() + len > cfg.frame_size) {
      counters::get().closed_frame_too_big++;
      s->close_code = close_code::too_big;
      static const char reason[] = "frame too big";
      lws_close_reason(wsi, static_cast<lws_close_status>(close_code::too_big),
                       reinterpret_cast<unsigned char*>(const_cast<char*>(reason)),
                       sizeof reason - 1);
      return -1;
    }
    s->rx.append(in, len);
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) != 0)
      return 0;
    std::string msg;
    msg.swap(s->rx);
    if (!s->rx_binary) {
      if (msg == "PING") {
        out->push_text(s->id, "PONG");
        return 0;
      }
      if (msg == "PONG")
        return 0;
    }
    // Back-pressure: stop reading this socket while the actor has too much unprocessed input.
    auto queued = s->gauge->bytes.fetch_add(static_cast<int64_t>(msg.size()))
                  + static_cast<int64_t>(msg.size());
    if (queued > inbound_gauge::high_mark && !s->gauge->paused.exchange(true))
      lws_rx_flow_control(wsi, 0);
    s->handler->on_frame(std::move(msg), s->rx_binary);
    return 0;
  }

  /// Appends one unmasked WebSocket text frame (server frames are never masked; no extension
  /// is negotiated, so no RSV bits).
  static void append_ws_frame(std::string& buf, const out_frame& f) {
    append_ws_header(buf, 0x81, f.size()); // FIN + text
    f.append_to(buf);
  }

  /// Appends an unmasked WebSocket frame header: FIN and opcode byte, then the payload length.
  static void append_ws_header(std::string& buf, uint8_t fin_opcode, size_t n) {
    buf += static_cast<char>(fin_opcode);
    if (n < 126) {
      buf += static_cast<char>(n);
    } else if (n < 65536) {
      buf += static_cast<char>(126);
      buf += static_cast<char>((n >> 8) & 0xff);
      buf += static_cast<char>(n & 0xff);
    } else {
      buf += static_cast<char>(127);
      for (int shift = 56; shift >= 0; shift -= 8)
        buf += static_cast<char>((static_cast<uint64_t>(n) >> shift) & 0xff);
    }
  }

  /// How long a slow consumer's socket stays open after its 4008 close frame was queued.
  static constexpr int slow_consumer_linger_s = 60;

  /// Closes a slow consumer so that it learns why: the close frame goes behind the data already
  /// in the kernel's buffer (TCP_NOTSENT_LOWAT keeps room for it), and the socket stays open
  /// until the client reads up to it and answers, or for slow_consumer_linger_s. Closing at once
  /// would leave the client, whenever it reads again, with an abnormal close (1006) instead.
  /// Nothing else is written to it meanwhile, so it costs only the kernel's buffer.
  void send_slow_consumer_close(lws* wsi, session* s) {
    static const char reason[] = "slow consumer";
    wbuf.assign(LWS_PRE, '\0');
    append_ws_header(wbuf, 0x88, 2 + sizeof reason - 1); // FIN + close: code, then reason
    wbuf += static_cast<char>(close_code::slow_consumer >> 8);
    wbuf += static_cast<char>(close_code::slow_consumer & 0xff);
    wbuf += reason;
    size_t n = wbuf.size() - LWS_PRE;
    s->slow_close_sent = true;
    if (lws_write(wsi, reinterpret_cast<unsigned char*>(wbuf.data() + LWS_PRE), n, LWS_WRITE_RAW)
        < static_cast<int>(n)) {
      lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
      return;
    }
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, slow_consumer_linger_s);
  }

  /// Writes everything queued for a WebSocket in as few system calls as possible: the queued
  /// frames are framed here, back to back, into one buffer of up to 64 KiB and handed to lws as
  /// one raw write (one send() for many frames, instead of one per frame). lws keeps any part the
  /// kernel did not take and reports the pipe choked until it is flushed.
  int on_ws_writeable(lws* wsi, session* s) {
    if (s == nullptr)
      return 0;
    if (s->slow_close_sent)
      return 0;
    auto close = out->close_state(s->id);
    if (close.requested && !close.drain && close.code == close_code::slow_consumer) {
      send_slow_consumer_close(wsi, s);
      return 0;
    }
    if (close.requested && !close.drain) {
      lws_close_reason(wsi, static_cast<lws_close_status>(close.code),
                       reinterpret_cast<unsigned char*>(close.reason.data()), close.reason.size());
      return -1;
    }
    auto& c = counters::get();
    bool more = false;
    do {
      scratch.clear();
      more = out->take_bytes(s->id, scratch, ws_coalesce_bytes);
      if (scratch.empty())
        break;
      wbuf.resize(LWS_PRE);
      int64_t now_us = 0;
      for (auto& f : scratch) {
        append_ws_frame(wbuf, f);
        if (f.event && f.event->committed_us > 0) {
          if (now_us == 0)
            now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
          c.publish_to_write.observe_us(now_us - f.event->committed_us);
        }
      }
      size_t n = wbuf.size() - LWS_PRE;
      if (lws_write(wsi, reinterpret_cast<unsigned char*>(wbuf.data() + LWS_PRE), n,
                    LWS_WRITE_RAW) < static_cast<int>(n))
        return -1;
      c.frames_out += scratch.size();
      c.ws_writes++;
    } while (more && !lws_send_pipe_choked(wsi));
    scratch.clear();
    if (more) {
      lws_callback_on_writable(wsi);
      return 0;
    }
    if (close.requested) {
      lws_close_reason(wsi, static_cast<lws_close_status>(close.code),
                       reinterpret_cast<unsigned char*>(close.reason.data()), close.reason.size());
      return -1;
    }
    return 0;
  }

  void on_closed(session* s) {
    if (s == nullptr)
      return;
    if (s->ws) {
      --ws_count;
      counters::get().connections_current--;
      // For the connection's log line: the code we asked for, else the peer's, else 1006
      // (the socket went away without a close frame).
      auto close = out->close_state(s->id);
      uint16_t code = close.requested ? close.code : s->close_code != 0 ? s->close_code : 1006;
      s->handler->on_closed(code);
    }
    delete_session(s);
  }

  std::vector<out_frame> scratch;
  /// The send buffer of every connection (LWS_PRE headroom + coalesced frames). lws copies
  /// whatever the kernel does not take into the connection's own list, so one buffer on the lws
  /// thread serves all of them, instead of up to 64 KiB of capacity kept per connection.
  std::string wbuf;

  // ---- accepting -----------------------------------------------------------------------------

  /// Takes what waits in the listen backlog and hands each socket to lws as if its own listener
  /// had accepted it. Stops (the rest wait in the backlog, nothing spins) when descriptors run
  /// low; a freed descriptor starts it again (on_descriptor_freed).
  void on_listen_readable() {
    for (int i = 0; i < 256 && !accept_paused; ++i) {
      int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED)
          continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          pause_accepting();
          accept_failed = true;
        }
        else if (errno != EAGAIN && errno != EWOULDBLOCK)
          log::warn("accept_failed", {{"errno", static_cast<int64_t>(errno)}});
        return;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      lws_sock_file_fd_type desc;
      desc.sockfd = fd;
      // On failure lws closes the socket itself.
      lws_adopt_descriptor_vhost(vhost, static_cast<lws_adoption_type>(LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP),
                                 desc, nullptr, nullptr);
      if (fd + 1 >= accept_ceiling)
        pause_accepting();
    }
  }

  void pause_accepting() {
    if (accept_paused || listen_wsi == nullptr)
      return;
    accept_paused = true;
    counters::get().accept_pauses++;
    lws_rx_flow_control(listen_wsi, 0);
  }

  /// A socket was closed: there is room for one more, so take from the backlog again.
  void on_descriptor_freed() {
    if (!accept_paused || listen_wsi == nullptr || done)
      return;
    accept_paused = false;
    accept_failed = false;
    lws_rx_flow_control(listen_wsi, 1);
  }

  static int listen_callback(lws* wsi, lws_callback_reasons reason, void*, void*, size_t) {
    switch (reason) {
      case LWS_CALLBACK_RAW_RX_FILE:
        from(wsi)->on_listen_readable();
        return 0;
      case LWS_CALLBACK_RAW_CLOSE_FILE:
        from(wsi)->listen_wsi = nullptr;
        return 0;
      default:
        return 0;
    }
  }

  // ---- wake-ups and timers -------------------------------------------------------------------

  void on_wake() {
    if (stopping && !shutdown_started)
      begin_shutdown();
    // A slow consumer's socket does not report room (its reader stopped), so its close frame is
    // written now; TCP_NOTSENT_LOWAT has kept room for it in the kernel's buffer.
    for (auto id : out->take_culled()) {
      auto i = sessions.find(id);
      if (i != sessions.end() && i->second->ws && !i->second->slow_close_sent)
        send_slow_consumer_close(i->second->wsi, i->second);
    }
    for (auto id : out->take_dirty()) {
      auto i = sessions.find(id);
      if (i == sessions.end())
        continue;
      auto* s = i->second;
      if (s->gauge && s->gauge->paused.load()
          && s->gauge->bytes.load() < inbound_gauge::low_mark) {
        s->gauge->paused = false;
        lws_rx_flow_control(s->wsi, 1);
      }
      lws_callback_on_writable(s->wsi);
    }
  }

  void begin_shutdown() {
    shutdown_started = true;
    shutdown_deadline = now_ms() + cfg.shutdown_drain_ms;
    log::info("shutdown_started", {{"connections", static_cast<uint64_t>(ws_count)}});
    for (auto& [id, s] : sessions) {
      if (!s->ws)
        continue;
      out->push_text(id, trpc::ws_reconnect());
      out->close(id, close_code::going_away, "server shutdown", true);
    }
  }

  static void on_timer(lws_sorted_usec_list_t* sul) {
    auto* self = lws_container_of(sul, struct timer, sul)->owner;
    self->tick();
    lws_sul_schedule(self->ctx, 0, &self->timer.sul, on_timer, 250 * LWS_US_PER_MS);
  }

  /// Keep-alive: PING after ping-interval of silence, drop when nothing came back in pong-wait.
  void tick() {
    auto now = now_ms();
    if (++ticks % 4 == 0) {
      out->trim_idle(); // once a second: idle connections keep no queue storage
      // After accept() itself failed, descriptors may come back from outside lws (SQLite, CAF)
      // without any socket closing: try the backlog again once a second (no spin).
      if (accept_failed)
        on_descriptor_freed();
    }
    for (auto& [id, s] : sessions) {
      if (!s->ws || s->slow_close_sent)
        continue;
      if (s->ping_outstanding) {
        if (now - s->ping_sent_ms >= cfg.pong_wait_ms) {
          counters::get().closed_keepalive++;
          lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        }
      } else if (now - s->last_rx_ms >= cfg.ping_interval_ms) {
        s->ping_outstanding = true;
        s->ping_sent_ms = now;
        out->push_text(id, "PING");
      }
    }
    if (shutdown_started && (ws_count == 0 || now >= shutdown_deadline))
      done = true;
  }

  static int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len) {
    auto* pss = static_cast<per_session*>(user);
    switch (reason) {
      case LWS_CALLBACK_PROTOCOL_INIT: {
        auto* self = from(wsi);
        self->timer.owner = self;
        lws_sul_schedule(self->ctx, 0, &self->timer.sul, on_timer, 250 * LWS_US_PER_MS);
        return 0;
      }
      case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        from(wsi)->on_wake();
        return 0;
      case LWS_CALLBACK_HTTP:
        return from(wsi)->on_http(wsi, static_cast<const char*>(in));
      case LWS_CALLBACK_HTTP_BODY:
        return from(wsi)->on_http_body(http_session(wsi), static_cast<const char*>(in), len);
      case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return from(wsi)->on_http_body_done(http_session(wsi));
      case LWS_CALLBACK_HTTP_WRITEABLE:
        return from(wsi)->on_http_writeable(wsi, http_session(wsi));
      case LWS_CALLBACK_CLOSED_HTTP:
        from(wsi)->drop_http_session(wsi);
        return 0;
      case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return from(wsi)->confirm_upgrade(wsi);
      case LWS_CALLBACK_ESTABLISHED:
        from(wsi)->drop_http_session(wsi); // the HTTP session of the upgrade request
        pss->s = nullptr;
        from(wsi)->on_established(wsi, pss);
        return 0;
      case LWS_CALLBACK_RECEIVE:
        return from(wsi)->on_receive(wsi, pss ? pss->s : nullptr, static_cast<const char*>(in), len);
      case LWS_CALLBACK_SERVER_WRITEABLE:
        return from(wsi)->on_ws_writeable(wsi, pss ? pss->s : nullptr);
      case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (pss == nullptr || pss->s == nullptr || !pss->s->slow_close_sent)
          counters::get().closed_by_peer++;
        if (pss != nullptr && pss->s != nullptr && pss->s->close_code == 0) {
          const auto* payload = static_cast<const unsigned char*>(in);
          pss->s->close_code = len >= 2 && payload != nullptr
                                 ? static_cast<uint16_t>(payload[0] << 8 | payload[1])
                                 : 1005; // a close frame without a code
        }
        return 0;
      case LWS_CALLBACK_CLOSED:
        if (pss != nullptr) {
          from(wsi)->on_closed(pss->s);
          pss->s = nullptr;
        }
        return 0;
      case LWS_CALLBACK_WSI_DESTROY:
        from(wsi)->drop_http_session(wsi); // closed without CLOSED_HTTP
        from(wsi)->on_descriptor_freed();
        return 0;
      default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
  }
};

namespace {

void lws_log(int level, const char* line) {
  std::string text{line};
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  if (level & LLL_ERR)
    log::error("lws", {{"message", text}});
  else
    log::warn("lws", {{"message", text}});
}

} // namespace

server::server(const config& cfg, outbox_ptr out, session_factory& sessions)
  : impl_(std::make_unique<impl>(cfg, std::move(out), sessions)) {
}

server::~server() {
  if (thread_.joinable())
    thread_.join();
  if (impl_->ctx != nullptr)
    lws_context_destroy(impl_->ctx);
}

namespace {

/// Binds and listens on `node`:`port`; -1 with *error set on failure.
int bind_listen(const char* node, const std::string& service, bool dual_stack, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(node, service.c_str(), &hints, &found); rc != 0) {
    *error = gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (auto* ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      *error = std::strerror(errno);
      continue;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6 && dual_stack)
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      *error = std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  return fd;
}

/// Opens the listening socket (non-blocking, close-on-exec). "0.0.0.0" or empty means every
/// interface, IPv6 too where the machine has it. Returns -1 and sets *error on failure.
int open_listen_socket(const std::string& host, uint16_t port, std::string* error) {
  auto service = std::to_string(port);
  std::string why;
  bool any = host.empty() || host == "0.0.0.0";
  int fd = any ? bind_listen("::", service, true, &why) : bind_listen(host.c_str(), service, false, &why);
  if (fd < 0 && any)
    fd = bind_listen("0.0.0.0", service, false, &why);
  if (fd < 0)
    *error = "cannot listen on " + (host.empty() ? std::string("0.0.0.0") : host) + ":" + service
             + " (" + why + ")";
  return fd;
}

} // namespace

bool server::start(std::string* error) {
  auto& im = *impl_;
  auto& cfg = im.cfg;
  lws_set_log_level(LLL_ERR, lws_log);
  // Use every descriptor we may.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rl.rlim_max || rl.rlim_cur == RLIM_INFINITY) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  size_t fd_limit = rl.rlim_cur == RLIM_INFINITY ? 1048576 : static_cast<size_t>(rl.rlim_cur);
  // Descriptors are shared out as follows: upgrades beyond max_connections get 503 (with
  // Retry-After); accepting stops at accept_ceiling, so sockets that got no descriptor wait in
  // the listen backlog and nothing spins; the last reserve/2 stay for SQLite, logs and CAF.
  size_t reserve = std::min<size_t>(64, fd_limit / 4);
  im.max_connections = cfg.max_connections > 0 ? cfg.max_connections
                                               : (fd_limit > 2 * reserve ? fd_limit - 2 * reserve : 1);
  im.accept_ceiling = static_cast<int>(fd_limit - reserve / 2);
  im.listen_fd = open_listen_socket(cfg.host, cfg.port, error);
  if (im.listen_fd < 0)
    return false;
  std::memset(im.protocols, 0, sizeof im.protocols);
  im.protocols[0].name = "vigil";
  im.protocols[0].callback = &impl::callback;
  im.protocols[0].per_session_data_size = sizeof(per_session);
  // Per-connection receive buffer, allocated for every WebSocket for its lifetime: it is the
  // largest single item of an idle connection's memory (about 1 byte of RSS per byte). Longer
  // messages arrive in pieces that on_receive reassembles; the price is that lws reads at most
  // this much per socket per poll round, which slows a client streaming large requests (load a's
  // publishers: 1.9M -> 1.7M events/s delivered at 512 against 4096), not subscribers.
  im.protocols[0].rx_buffer_size = 512;
  // The most lws hands to one send(): without it lws caps every write at rx_buffer_size and
  // copies the rest of a coalesced write into its own list, to send 4 KiB per poll round.
  im.protocols[0].tx_packet_size = ws_coalesce_bytes;
  im.protocols[1].name = "vigil-listen";
  im.protocols[1].callback = &impl::listen_callback;
  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  // vigild accepts itself (on_listen_readable) and hands sockets to lws.
  info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
  info.protocols = im.protocols;
  info.user = &im;
  info.max_http_header_data = http_head_limit;
  // Per-token limits: the URL parts get http_url_part_limit (see url_too_long); every other
  // token the whole head, which leaves the head limit to decide.
  static lws_token_limits token_limits;
  for (auto& l : token_limits.token_limit)
    l = static_cast<unsigned short>(http_head_limit);
  for (auto t : {WSI_TOKEN_GET_URI, WSI_TOKEN_POST_URI, WSI_TOKEN_OPTIONS_URI, WSI_TOKEN_PUT_URI,
                 WSI_TOKEN_PATCH_URI, WSI_TOKEN_DELETE_URI, WSI_TOKEN_HEAD_URI,
                 WSI_TOKEN_HTTP_URI_ARGS})
    token_limits.token_limit[t] = static_cast<unsigned short>(http_url_part_limit);
  info.token_limits = &token_limits;
  info.max_http_header_pool = 256;
  // lws finds a socket's connection by indexing its table with the descriptor only when its
  // table spans the whole soft limit; any smaller fd_limit_per_thread makes it scan the table
  // on every socket event (lib/plat/unix/unix-fds.c in lws 4.1). Its own accept modulation
  // would then only act at the very limit, where accept() fails and its listener spins, hence
  // the own listening socket above.
  info.fd_limit_per_thread = static_cast<unsigned>(fd_limit);
  info.timeout_secs = 30;
  info.vhost_name = "vigil";
  // No lws validity (ws PING) timers: vigild has its own keep-alive (tick()). lws keeps every
  // connection's validity timer in one sorted list, re-inserted from the head on each frame
  // received: a linear walk per frame over all connections (12 % of the network thread while
  // 10,000 clients reconnect).
  static const lws_retry_bo_t no_validity_timers = {};
  info.retry_and_idle_policy = &no_validity_timers;
  im.ctx = lws_create_context(&info);
  if (im.ctx == nullptr) {
    *error = "cannot start the network loop (libwebsockets)";
    close(im.listen_fd);
    im.listen_fd = -1;
    return false;
  }
  im.vhost = lws_get_vhost_by_name(im.ctx, "vigil");
  lws_sock_file_fd_type desc;
  desc.filefd = im.listen_fd;
  im.listen_wsi = lws_adopt_descriptor_vhost(im.vhost, LWS_ADOPT_RAW_FILE_DESC, desc,
                                             "vigil-listen", nullptr);
  if (im.listen_wsi == nullptr) {
    *error = "cannot watch the listening socket (libwebsockets)";
    return false;
  }
  sockaddr_storage addr{};
  socklen_t addr_len = sizeof addr;
  getsockname(im.listen_fd, reinterpret_cast<sockaddr*>(&addr), &addr_len);
  port_ = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  im.out->set_waker([](void* ctx) { lws_cancel_service(static_cast<lws_context*>(ctx)); },
                     im.ctx);
  return true;
}

void server::run() {
  thread_ = std::thread([this] {
    auto& im = *impl_;
    while (!im.done) {
      if (lws_service(im.ctx, 0) < 0)
        break;
    }
    // Close what is left after the drain window.
    for (auto& [id, s] : im.sessions)
      if (s->ws)
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
  });
}

void server::request_shutdown() {
  impl_->stopping = true;
  lws_cancel_service(impl_->ctx);
}

void server::join() {
  if (thread_.joinable())
    thread_.join();
}

} // namespace vigil
