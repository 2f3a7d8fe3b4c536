// The lws context, the service loop and its callback dispatch, wake-ups from the outbox, shutdown.

#include "transport/server_impl.hpp"

#include <openssl/ssl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "delivery/close_codes.hpp"
#include "delivery/counters.hpp"
#include "domain/log.hpp"
#include "domain/time.hpp"
#include "domain/trpc.hpp"

namespace vigil {

using namespace net;

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

auto server::impl::new_session(lws* wsi, bool ws) -> session* {
  auto* s = new session;
  s->id = next_conn_id++;
  s->wsi = wsi;
  s->ws = ws;
  s->last_rx_ms = now_ms();
  sessions[s->id] = s;
  out->open(s->id);
  return s;
}

void server::impl::delete_session(session* s) {
  sessions.erase(s->id);
  out->forget(s->id);
  delete s;
}

void server::impl::on_wake() {
  if (stopping && !shutdown_started)
    begin_shutdown();
  if (tls_reload_wanted.exchange(false))
    reload_tls();
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

void server::impl::begin_shutdown() {
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

int server::impl::callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len) {
  auto* pss = static_cast<per_session*>(user);
  switch (reason) {
    case LWS_CALLBACK_PROTOCOL_INIT: {
      auto* self = from(wsi);
      if (self->timer_started)
        return 0; // the second vhost (tls.plain-port)
      self->timer_started = true;
      self->timer.owner = self;
      lws_sul_schedule(self->ctx, 0, &self->timer.sul, on_timer, 250 * LWS_US_PER_MS);
      return 0;
    }
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS: {
      // The TLS vhost's SSL_CTX, during lws_create_context: load the certificate (see start()).
      auto* self = from(wsi);
      self->tls_ctx = static_cast<ssl_ctx_st*>(user);
      tls::require_tls12(self->tls_ctx);
      auto loaded = tls::load(self->tls_ctx, self->cfg.tls_cert_file, self->cfg.tls_key_file,
                              &self->tls_error);
      if (!loaded)
        return 1;
      log::info("tls_loaded", {{"cert_file", self->cfg.tls_cert_file},
                               {"subject", loaded->subject}, {"not_after", loaded->not_after}});
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
    case LWS_CALLBACK_TIMER:
      return from(wsi)->on_http_timer(wsi, http_session(wsi));
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
      from(wsi)->awaiting_head.erase(wsi);
      from(wsi)->drop_http_session(wsi); // closed without CLOSED_HTTP
      from(wsi)->on_descriptor_freed();
      return 0;
    default:
      return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
}

server::server(const config& cfg, outbox_ptr out, session_factory& sessions)
  : impl_(std::make_unique<impl>(cfg, std::move(out), sessions)) {
}

server::~server() {
  if (thread_.joinable())
    thread_.join();
  if (impl_->ctx != nullptr)
    lws_context_destroy(impl_->ctx);
}

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
  auto& main_listener = im.listeners[0];
  auto& plain_listener = im.listeners[1];
  main_listener.fd = open_listen_socket(cfg.host, cfg.port, error);
  if (main_listener.fd < 0)
    return false;
  if (cfg.tls() && cfg.tls_plain_port != 0) {
    // Plain beside TLS only on loopback: for probes and tools on the same host.
    plain_listener.fd = open_listen_socket("127.0.0.1", cfg.tls_plain_port, error);
    if (plain_listener.fd < 0) {
      *error = "tls.plain-port: " + *error;
      close(main_listener.fd);
      main_listener.fd = -1;
      return false;
    }
  }
  auto close_listeners = [&] {
    for (auto& l : im.listeners) {
      if (l.fd >= 0 && l.wsi == nullptr)
        close(l.fd);
      l.fd = -1;
    }
  };
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
  info.max_http_header_data = http_head_buffer;
  // Per-token limits: the URL parts get http_url_part_limit (see url_too_long); every other
  // token one byte over the head limit, so that one huge header is cut (and still answered
  // 431 by on_http) instead of filling lws's buffer, which makes lws drop the connection.
  static lws_token_limits token_limits;
  for (auto& l : token_limits.token_limit)
    l = static_cast<unsigned short>(http_head_limit + 1);
  for (auto t : {WSI_TOKEN_GET_URI, WSI_TOKEN_POST_URI, WSI_TOKEN_OPTIONS_URI, WSI_TOKEN_PUT_URI,
                 WSI_TOKEN_PATCH_URI, WSI_TOKEN_DELETE_URI, WSI_TOKEN_HEAD_URI,
                 WSI_TOKEN_HTTP_URI_ARGS})
    token_limits.token_limit[t] = static_cast<unsigned short>(http_url_part_limit);
  info.token_limits = &token_limits;
  info.max_http_header_pool = 256;
  // lws reads request heads and bodies from the socket in pieces of this size (default 4096;
  // WebSockets read rx_buffer_size). It bounds what head_received() must allow for bytes read
  // beyond a head: 1 KiB keeps that allowance at 2 KiB, so custom-header heads over 18 KiB
  // surely get 431. Bodies come in 1 KiB callbacks.
  info.pt_serv_buf_size = static_cast<unsigned>(head_read_chunk);
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
  // The plain vhost (tls.plain-port) is the same server without TLS: same protocols, limits and
  // timers. Its copy of `info` is taken before the TLS fields are set.
  lws_context_creation_info plain_info = info;
  plain_info.vhost_name = "vigil-plain";
  if (cfg.tls()) {
    // The vhost gets an SSL_CTX without certificate paths: callback() loads the certificate into
    // it (LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS) with tls::load, the function a
    // reload uses too. lws then runs a handshake on every adopted socket (LWS_ADOPT_ALLOW_SSL)
    // and refuses plain HTTP on this port.
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX;
    // TLS 1.2 and 1.3 only (also set as the SSL_CTX's minimum version in callback()).
    info.ssl_options_set = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1
                           | SSL_OP_NO_COMPRESSION;
    // HTTP/1.1 only: lws would otherwise offer h2, and vigild's writer frames WebSocket and HTTP
    // output itself for HTTP/1.1 (ws_framing.cpp), which h2 streams do not carry.
    info.alpn = "http/1.1";
  }
  im.ctx = lws_create_context(&info);
  if (im.ctx == nullptr) {
    *error = im.tls_error.empty() ? "cannot start the network loop (libwebsockets)" : im.tls_error;
    close_listeners();
    return false;
  }
  im.vhost = lws_get_vhost_by_name(im.ctx, "vigil");
  main_listener.vhost = im.vhost;
  if (plain_listener.fd >= 0) {
    im.plain_vhost = lws_create_vhost(im.ctx, &plain_info);
    if (im.plain_vhost == nullptr) {
      *error = "cannot start the plain listener (libwebsockets)";
      close_listeners();
      return false;
    }
    plain_listener.vhost = im.plain_vhost;
  }
  for (auto& l : im.listeners) {
    if (l.fd < 0)
      continue;
    lws_sock_file_fd_type desc;
    desc.filefd = l.fd;
    l.wsi = lws_adopt_descriptor_vhost(im.vhost, LWS_ADOPT_RAW_FILE_DESC, desc, "vigil-listen",
                                       nullptr);
    if (l.wsi == nullptr) {
      *error = "cannot watch the listening socket (libwebsockets)";
      close_listeners();
      return false;
    }
  }
  auto bound_port = [](int fd) -> uint16_t {
    sockaddr_storage addr{};
    socklen_t addr_len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len);
    return ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  };
  port_ = bound_port(main_listener.fd);
  plain_port_ = plain_listener.fd >= 0 ? bound_port(plain_listener.fd) : 0;
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
    // Close what is left after the drain window. Closing synchronously runs the close callback,
    // which erases the session from `im.sessions`: collect the sockets first, never close while
    // walking the map (that was a use-after-free with slow readers at shutdown).
    std::vector<lws*> left;
    for (auto& [id, s] : im.sessions)
      if (s->ws)
        left.push_back(s->wsi);
    for (lws* wsi : left)
      lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
  });
}

void server::request_shutdown() {
  impl_->stopping = true;
  lws_cancel_service(impl_->ctx);
}

void server::request_tls_reload() {
  if (!impl_->cfg.tls() || impl_->ctx == nullptr)
    return;
  impl_->tls_reload_wanted = true;
  lws_cancel_service(impl_->ctx);
}

void server::impl::reload_tls() {
  std::string why;
  auto loaded = tls_ctx == nullptr ? std::nullopt
                                   : tls::load(tls_ctx, cfg.tls_cert_file, cfg.tls_key_file, &why);
  if (!loaded) {
    log::error("tls_reload_failed", {{"error", why.empty() ? "no TLS context" : why},
                                     {"kept", "the certificate in service"}});
    return;
  }
  log::info("tls_reloaded", {{"cert_file", cfg.tls_cert_file}, {"subject", loaded->subject},
                             {"not_after", loaded->not_after}});
}

void server::join() {
  if (thread_.joinable())
    thread_.join();
}

void server::apply_reload(const config& next) {
  std::atomic_store(&impl_->cors_origins,
                    std::make_shared<const std::vector<std::string>>(next.cors_origins));
  request_tls_reload();
}

} // namespace vigil
