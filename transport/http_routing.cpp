// HTTP requests: framing and size checks, the operational routes, static files, request bodies and
// the hand-off of tRPC calls to the session factory.

#include "transport/server_impl.hpp"

#include <sys/socket.h>

#include <cctype>
#include <cstdlib>
#include <optional>

#include "domain/http_framing.hpp"
#include "domain/json.hpp"
#include "domain/log.hpp"
#include "domain/trpc.hpp"
#include "domain/url.hpp"
#include "transport/http_endpoints.hpp"
#include "transport/socket_bytes.hpp"
#include "transport/lws_request.hpp"
#include "transport/peer_address.hpp"
#include "transport/static_files.hpp"

namespace vigil {

using namespace net;

namespace {

const char* reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    default: return "Error";
  }
}

/// Writes a small answer at once, outside a WRITEABLE callback: straight to the socket on a plain
/// connection; on a TLS connection through lws, whose TLS session must encrypt it (lws keeps what
/// the kernel does not take).
void write_now(lws* wsi, int fd, std::string_view bytes) {
  if (lws_is_ssl(wsi)) {
    std::string buf(LWS_PRE, '\0');
    buf.append(bytes);
    (void)lws_write(wsi, reinterpret_cast<unsigned char*>(buf.data() + LWS_PRE), bytes.size(),
                    LWS_WRITE_RAW);
    return;
  }
  (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
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
  write_now(wsi, fd, r);
  // On TLS this drains encrypted bytes: the session ends with the connection anyway.
  char sink[16384];
  for (size_t drained = 0; drained < 1024 * 1024;) {
    auto n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n <= 0)
      break;
    drained += static_cast<size_t>(n);
  }
}

} // namespace

uint64_t server::impl::head_received(lws* wsi) {
  // TLS hook: the socket counts TLS bytes (handshake, record headers, MACs), not the head, so
  // under TLS only head_size() (the headers lws knows) measures the head.
  if (lws_is_ssl(wsi))
    return 0;
  auto read = socket_bytes_read(lws_get_socket_fd(wsi));
  if (!read)
    return 0;
  std::optional<uint64_t> mark = 0;
  if (auto* s = http_session(wsi); s != nullptr && s->http_) {
    mark = s->http_->head_mark;
    s->http_->read_at_head = *read;
  }
  // Of what lws read since the mark, at most head_overread_limit bytes lie beyond the head
  // (body, pipelined requests). Bytes of this head read before the mark are not counted: the
  // result can only be too small.
  if (!mark || *read <= *mark + head_overread_limit)
    return 0;
  return *read - *mark - head_overread_limit;
}

void server::impl::mark_request_end(lws* wsi, session* s) {
  auto& h = s->http();
  auto read = lws_is_ssl(wsi) ? std::nullopt : socket_bytes_read(lws_get_socket_fd(wsi));
  // A body not (fully) read yet would count towards the next head: skip it, or, when its size
  // is unknown (chunked), stop measuring this connection.
  bool body_pending = h.body_completions == 0;
  // Read since the head more than its body: the client sent further requests before this
  // answer (pipelining), which lws holds unparsed; counting from here would count them again.
  bool pipelined = read && h.body_declared && *read > h.read_at_head + *h.body_declared;
  if (!read || !h.head_mark || (body_pending && !h.body_declared) || pipelined)
    h.head_mark.reset();
  else
    h.head_mark = *read + (body_pending ? *h.body_declared : 0);
}

bool server::impl::head_too_large(lws* wsi, const std::string& cors_origin) {
  auto received = head_received(wsi);
  auto known = head_size(wsi);
  if (known <= static_cast<size_t>(http_head_limit)
      && received <= static_cast<uint64_t>(http_head_limit))
    return false;
  answer_and_close(wsi, 431, "Request head too large: the request line and headers exceed "
                               + std::to_string(http_head_limit) + " bytes",
                   cors_origin);
  return true;
}

std::string server::impl::allowed_origin(lws* wsi) {
  auto origin = header(wsi, WSI_TOKEN_ORIGIN);
  if (origin.empty())
    return {};
  auto origins = std::atomic_load(&cors_origins);
  for (auto& o : *origins)
    if (o == "*")
      return "*";
    else if (o == origin)
      return origin;
  return {};
}

void server::impl::respond(session* s, http_response r) {
  auto& h = s->http();
  h.response = std::move(r);
  h.have_response = true;
  h.written = 0;
  h.headers_sent = false;
  lws_callback_on_writable(s->wsi);
}

/// Ends an HTTP connection's session (closed, or upgraded to a WebSocket).
void server::impl::drop_http_session(lws* wsi) {
  auto* s = http_session(wsi);
  if (s == nullptr || s->ws)
    return;
  lws_set_opaque_user_data(wsi, nullptr);
  delete_session(s);
}

namespace {

/// `Expect: 100-continue` (curl sends it for bodies over 1 KiB): the client holds the body back
/// until told to go on, so say so at once instead of letting it wait out its own timer (1 s in
/// curl). Written straight to the socket: nothing else is queued for it while its next request is
/// being read, which lws_partial_buffered() confirms; otherwise the client's timer decides.
void send_100_continue_if_expected(lws* wsi) {
  std::string expect = header(wsi, WSI_TOKEN_HTTP_EXPECT);
  for (auto& c : expect)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (expect != "100-continue" || lws_partial_buffered(wsi))
    return;
  static constexpr char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
  write_now(wsi, lws_get_socket_fd(wsi), std::string_view(line, sizeof line - 1));
}

} // namespace

int server::impl::on_http(lws* wsi, const char* in) {
  awaiting_head.erase(wsi);
  auto* s = http_session(wsi);
  if (s == nullptr) {
    s = new_session(wsi, false);
    lws_set_opaque_user_data(wsi, s);
  }
  auto& h = s->http();
  h.req.reset();
  h.body_too_large = false;
  h.body_completions = 0;
  h.options = false;
  h.head = lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
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
  if (head_too_large(wsi, h.cors_origin))
    return -1;
  std::optional<std::string> transfer_encoding;
  if (auto te = header_lines(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING); !te.empty())
    transfer_encoding = te.front();
  if (auto bad = check_framing(post, header_lines(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH),
                               transfer_encoding)) {
    answer_and_close(wsi, bad->status, bad->message, h.cors_origin);
    return -1;
  }
  h.body_declared = 0;
  if (transfer_encoding)
    h.body_declared.reset();
  else if (auto cl = header_lines(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH); !cl.empty())
    h.body_declared = std::strtoull(cl.front().c_str(), nullptr, 10); // checked by check_framing
  std::string uri = post ? header(wsi, WSI_TOKEN_POST_URI)
                    : get ? header(wsi, WSI_TOKEN_GET_URI)
                    : h.head ? header(wsi, WSI_TOKEN_HEAD_URI)
                          : options ? header(wsi, WSI_TOKEN_OPTIONS_URI) : std::string{in ? in : ""};
  if (options) {
    http_response r;
    r.status = 204;
    r.content_type.clear();
    h.options = true;
    respond(s, std::move(r));
    return 0;
  }
  // HEAD is for the operational endpoints and static files (monitoring probes), not tRPC.
  if ((!get && !post && !h.head) || (h.head && uri.rfind("/api/trpc/", 0) == 0)) {
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
    if ((get || h.head) && handle_operational(uri, s))
      return 0;
    if ((get || h.head) && !cfg.static_dir.empty()) {
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
    return 0;
  }
  send_100_continue_if_expected(wsi);
  // POST: wait for the body, but not forever (slowloris); on_http_timer answers 408.
  lws_set_timer_usecs(wsi, cfg.http_body_timeout_ms * LWS_US_PER_MS);
  return 0;
}

bool server::impl::handle_operational(const std::string& uri, session* s) {
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

int server::impl::on_http_body(session* s, const char* in, size_t len) {
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

int server::impl::on_http_body_done(session* s) {
  if (s == nullptr)
    return 0;
  lws_set_timer_usecs(s->wsi, LWS_SET_TIMER_USEC_CANCEL); // the body came in time
  auto& h = s->http();
  // lws 4.1 reports the end of the body again for every service round in which bytes of a next
  // request (a pipelining client) wait behind a request we have not answered yet, without ever
  // consuming them: the service thread spun at 100 % and the whole server stopped answering.
  // HTTP pipelining is not supported: such a connection is closed (its pending reply is
  // dropped); a client sends its next request after the reply, as browsers and Node do.
  if (++h.body_completions > 1) {
    if (h.body_completions == 2)
      log::info("http_pipelining_refused", {{"conn", s->id},
                                            {"peer", peer_address(lws_get_socket_fd(s->wsi))}});
    return -1;
  }
  if (!h.req)
    return 0;
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

int server::impl::on_http_timer(lws* wsi, session* s) {
  if (s == nullptr || s->ws || !s->http().req)
    return 0;
  s->http().req.reset();
  answer_and_close(wsi, 408, "Request body not received within http.body-timeout ("
                               + std::to_string(cfg.http_body_timeout_ms) + " ms)",
                   s->http().cors_origin);
  return -1;
}

} // namespace vigil

