// Subscriptions of a hospital: start (with `started`, presence and resume handling), stop, drop
// on close, and the catch-up pump that replays events after a lastEventId from the ring or from
// storage before the subscription goes live.
#include "actors/hospital_state.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <string_view>

#include "domain/log.hpp"
#include "domain/trpc.hpp"
#include "delivery/counters.hpp"

#include "domain/event_id.hpp"

namespace vigil {

namespace {

using std::chrono::milliseconds;

constexpr size_t catch_up_chunk = 256;

} // namespace

/// Sends the next chunk of a catching-up subscription, from the ring when it covers the cursor,
/// from storage otherwise. A chunk is at most a quarter of the outbound budget, and the pump
/// pauses while the connection's outbox is more than half full, so a large replay never trips
/// the slow-consumer close by itself and never holds up the hospital's other work for long.
void hospital_state::pump(sub_key key, uint64_t serial) {
  auto& st = self->state;
  auto i = st.subs.find(key);
  if (i == st.subs.end() || i->second.serial != serial || i->second.live || i->second.reading)
    return;
  auto& s = i->second;
  auto& out = *st.rt->out;
  auto budget = st.rt->cfg.outbound_budget;
  auto again = [&](int64_t delay_ms) {
    if (delay_ms > 0)
      self->delayed_send(self, milliseconds(delay_ms), catch_up_atom::value, key.first,
                         key.second, serial);
    else
      self->send(self, catch_up_atom::value, key.first, key.second, serial);
  };
  if (out.queued_bytes(s.req->conn_id) > budget / 2) {
    again(2);
    return;
  }
  size_t sent_bytes = 0;
  // The frames of this step go to the outbox under one lock, whichever way the step ends.
  struct flush_at_exit {
    hospital_state& st;
    ~flush_at_exit() {
      if (st.catch_up_frames.empty())
        return;
      counters::get().events_delivered += st.catch_up_frames.size();
      st.rt->out->push_many(st.catch_up_frames);
      st.catch_up_frames.clear();
    }
  } flush{st};
  auto send_one = [&](const encoded_event_ptr& ev) {
    if (matches(*s.req, *ev)) {
      st.catch_up_frames.emplace_back(s.req->conn_id, event_frame_for(s.req, ev));
      sent_bytes += st.catch_up_frames.back().second.size();
    }
    s.cursor = ev->seq;
  };
  // Events read from storage but not sent yet.
  while (!s.backlog.empty() && sent_bytes < budget / 4) {
    auto ev = std::move(s.backlog.front());
    s.backlog.pop_front();
    if (ev->seq > s.cursor)
      send_one(ev);
  }
  if (!s.backlog.empty()) {
    again(0);
    return;
  }
  if (s.backlog_floor > s.cursor)
    s.cursor = s.backlog_floor;
  s.backlog_floor = 0;
  if (s.cursor >= st.ring_floor) {
    // The ring holds everything after the cursor.
    for (auto& ev : st.ring) {
      if (ev->seq <= s.cursor)
        continue;
      if (sent_bytes >= budget / 4)
        break;
      send_one(ev);
    }
    if (st.ring.empty() || s.cursor >= st.ring.back()->seq) {
      s.live = true;
      return;
    }
    again(0);
    return;
  }
  auto req = std::make_shared<read_request>();
  req->hospital_id = st.hospital_id;
  if (s.req->kind == stream_kind::alert)
    req->alert_id = s.req->alert_id;
  req->after_seq = s.cursor;
  req->limit = catch_up_chunk;
  s.reading = true;
  auto floor_at_read = st.ring_floor;
  self->request(st.rt->reader(), caf::infinite, read_atom::value, read_request_ptr{req})
    .then(
      [=](const event_page_ptr& page) {
        auto& st = self->state;
        auto i = st.subs.find(key);
        if (i == st.subs.end() || i->second.serial != serial)
          return;
        auto& s = i->second;
        s.reading = false;
        if (!page->error.empty()) {
          // A partial page is not "storage has nothing more": resync rather than skip events.
          send_resync(s.req, "unknown_event_id", st.rt->now());
          s.live = true;
          return;
        }
        // The reader connection may already see commits whose replies have not reached this
        // actor: those are published (to the ring and live subscribers) later, so take only
        // what this actor has published; the rest comes through the ring or live.
        for (auto& ev : page->events)
          if (ev->seq > s.cursor && ev->seq <= st.last_seq)
            s.backlog.push_back(ev);
        if (page->events.size() < catch_up_chunk && floor_at_read > s.cursor) {
          // Storage had nothing more when it was read, and every event up to the ring floor of
          // that moment had been published, hence committed, before the read: once the backlog
          // is sent, nothing up to that floor is missing. (Not the floor of now: events
          // committed after the read may have left the ring since.)
          auto floor = floor_at_read;
          if (s.backlog.empty())
            s.cursor = std::max(s.cursor, floor);
          else
            s.backlog_floor = floor;
        }
        pump(key, serial);
      },
      [=](caf::error& err) {
        auto& st = self->state;
        auto i = st.subs.find(key);
        if (i == st.subs.end() || i->second.serial != serial)
          return;
        log::error("replay_read_failed", {{"hospital", st.hospital_id},
                                          {"reason", caf::to_string(err)}});
        i->second.reading = false;
        send_resync(i->second.req, "unknown_event_id", st.rt->now());
        i->second.live = true;
      });
}

void hospital_state::start_subscription(const subscribe_ptr& req) {
  auto& st = self->state;
  sub_key key{req->conn_id, req->key};
  auto& out = *st.rt->out;
  auto now = st.rt->now();
  hospital_subscriber s;
  s.req = req;
  s.serial = st.next_serial++;
  out.push_text(req->conn_id, trpc::ws_started(req->id, req->jsonrpc));
  counters::get().subscriptions_current++;
  // A new subscriber may change staffOnline/presence: the others hear of it in the next flush;
  // the new one starts from its own first item.
  auto& placed = st.subs[key] = s;
  if (add_user(*req))
    presence_changed();
  placed.presence_seen = st.presence_changes;
  switch (req->kind) {
    case stream_kind::metrics:
      // The metrics actor sends the items (after the staffOnline update sent just above).
      self->send(st.metrics, req);
      return;
    case stream_kind::presence: {
      out.push_text(req->conn_id, item_frame(*req, presence_json(now)));
      return;
    }
    case stream_kind::alerts:
    case stream_kind::alert:
      break;
  }
  if (!req->last_event_id)
    return;
  auto seq = event_id_seq(*req->last_event_id, st.rt->epoch);
  if (!seq || *seq > st.rt->last_seq.load()) {
    send_resync(req, "unknown_event_id", now);
    return;
  }
  if (*seq < st.rt->pruned_through.load()) {
    send_resync(req, "history_expired", now);
    return;
  }
  placed.live = false;
  placed.cursor = *seq;
  pump(key, placed.serial);
}

void hospital_state::stop_subscription(uint64_t conn, const std::string& key,
                                       bool send_stopped) {
  auto& st = self->state;
  auto i = st.subs.find({conn, key});
  if (i == st.subs.end())
    return;
  if (i->second.req->kind == stream_kind::metrics)
    self->send(st.metrics, unsubscribe_atom::value, conn, key); // it sends `stopped`
  else if (send_stopped)
    st.rt->out->push_text(conn, trpc::ws_stopped(i->second.req->id, i->second.req->jsonrpc));
  bool changed = remove_user(*i->second.req);
  st.subs.erase(i);
  counters::get().subscriptions_current--;
  if (changed)
    presence_changed();
}

void hospital_state::drop_connection(uint64_t conn) {
  auto& st = *this;
  bool changed = false;
  for (auto i = st.subs.lower_bound({conn, std::string{}});
       i != st.subs.end() && i->first.first == conn;) {
    changed |= remove_user(*i->second.req);
    i = st.subs.erase(i);
    counters::get().subscriptions_current--;
  }
  self->send(st.metrics, drop_atom::value, conn);
  if (changed)
    presence_changed();
}

} // namespace vigil
