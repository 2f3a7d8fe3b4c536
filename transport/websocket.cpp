// WebSockets: the upgrade, receiving frames (reassembly, size limit, PING/PONG, inbound back-
// pressure) and closing.

#include "transport/server_impl.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "delivery/close_codes.hpp"
#include "delivery/counters.hpp"
#include "domain/time.hpp"
#include "domain/trpc.hpp"
#include "transport/lws_request.hpp"
#include "transport/peer_address.hpp"

namespace vigil {

using namespace net;

int server::impl::confirm_upgrade(lws* wsi) {
  awaiting_head.erase(wsi);
  if (head_too_large(wsi, {}))
    return 1;
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

void server::impl::on_established(lws* wsi, per_session* pss) {
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

int server::impl::on_receive(lws* wsi, session* s, const char* in, size_t len) {
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

void server::impl::on_closed(session* s) {
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

} // namespace vigil
