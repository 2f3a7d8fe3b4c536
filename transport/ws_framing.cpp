// Writing WebSocket frames: queued frames coalesced into one raw write, frame heads, the slow-
// consumer close frame.

#include "transport/server_impl.hpp"

#include <chrono>

#include "delivery/close_codes.hpp"
#include "delivery/counters.hpp"

namespace vigil {

using namespace net;

namespace {

/// Appends an unmasked WebSocket frame header: FIN and opcode byte, then the payload length.
void append_ws_header(std::string& buf, uint8_t fin_opcode, size_t n) {
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

/// Appends one unmasked WebSocket text frame (server frames are never masked; no extension
/// is negotiated, so no RSV bits).
void append_ws_frame(std::string& buf, const out_frame& f) {
  append_ws_header(buf, 0x81, f.size()); // FIN + text
  f.append_to(buf);
}

} // namespace

/// Closes a slow consumer so that it learns why: the close frame goes behind the data already
/// in the kernel's buffer (TCP_NOTSENT_LOWAT keeps room for it), and the socket stays open
/// until the client reads up to it and answers, or for slow_consumer_linger_s. Closing at once
/// would leave the client, whenever it reads again, with an abnormal close (1006) instead.
/// Nothing else is written to it meanwhile, so it costs only the kernel's buffer.
void server::impl::send_slow_consumer_close(lws* wsi, session* s) {
  static const char reason[] = "slow consumer";
  wbuf.assign(LWS_PRE, '\0');
  append_ws_header(wbuf, 0x88, 2 + sizeof reason - 1); // FIN + close: code, then reason
  wbuf += static_cast<char>(close_code::slow_consumer >> 8);
  wbuf += static_cast<char>(close_code::slow_consumer & 0xff);
  wbuf += reason;
  size_t n = wbuf.size() - LWS_PRE;
  s->slow_close_sent = true;
  // Only a negative result is a failure: with an earlier write still partly unsent (likely
  // here, the reader stopped), lws appends this frame behind it and returns how much of the
  // earlier part went out, often 0. Treating that as failure killed the socket, and the reader
  // saw 1006 instead of 4008.
  if (lws_write(wsi, reinterpret_cast<unsigned char*>(wbuf.data() + LWS_PRE), n, LWS_WRITE_RAW)
      < 0) {
    lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
    return;
  }
  lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, slow_consumer_linger_s);
}

/// Writes everything queued for a WebSocket in as few system calls as possible: the queued
/// frames are framed here, back to back, into one buffer of up to 64 KiB and handed to lws as
/// one raw write (one send() for many frames, instead of one per frame). lws keeps any part the
/// kernel did not take and reports the pipe choked until it is flushed.
int server::impl::on_ws_writeable(lws* wsi, session* s) {
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
    // Negative is failure; a short count means lws kept the rest (see above).
    if (lws_write(wsi, reinterpret_cast<unsigned char*>(wbuf.data() + LWS_PRE), n,
                  LWS_WRITE_RAW) < 0)
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

} // namespace vigil
