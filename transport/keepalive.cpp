// The 250 ms timer of the lws thread: WebSocket keep-alive (PING after silence, close when no
// answer), idle queue trimming, retrying accept, the end of the shutdown drain.

#include "transport/server_impl.hpp"

#include "delivery/counters.hpp"
#include "domain/time.hpp"

namespace vigil {

using namespace net;

void server::impl::on_timer(lws_sorted_usec_list_t* sul) {
  auto* self = lws_container_of(sul, struct timer, sul)->owner;
  self->tick();
  lws_sul_schedule(self->ctx, 0, &self->timer.sul, on_timer, 250 * LWS_US_PER_MS);
}

/// Keep-alive: PING after ping-interval of silence, drop when nothing came back in pong-wait.
void server::impl::tick() {
  auto now = now_ms();
  for (auto i = awaiting_head.begin(); i != awaiting_head.end();) {
    if (now < i->second) {
      ++i;
      continue;
    }
    lws_set_timeout(i->first, PENDING_TIMEOUT_HOLDING_AH, LWS_TO_KILL_ASYNC);
    i = awaiting_head.erase(i);
  }
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

} // namespace vigil
