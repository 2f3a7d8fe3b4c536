// Fan-out: the ring of recent events and the frames of live subscribers. An event is encoded
// once (by the storage actor); each subscriber's frame is its own prefix plus the event's shared
// tail, and a publish pushes every frame into the outbox under one lock.
#include "actors/hospital_state.hpp"

#include <algorithm>

#include "domain/trpc.hpp"
#include "delivery/counters.hpp"

namespace vigil {

/// A data frame carrying a non-event item (metrics, presence).
std::string item_frame(const subscribe_request& req, const json::value& data) {
  return trpc::ws_data(req.id, req.jsonrpc, data, req.superjson);
}

bool matches(const subscribe_request& req, const encoded_event& ev) {
  if (req.kind == stream_kind::alert)
    return ev.alert_id == req.alert_id;
  if (req.kind != stream_kind::alerts)
    return false;
  auto& f = req.filter;
  if (!f.types.empty() && std::find(f.types.begin(), f.types.end(), ev.type) == f.types.end())
    return false;
  if (f.max_urgency > 0 && ev.urgency_level > f.max_urgency)
    return false;
  if (!f.alert_types.empty()
      && std::find(f.alert_types.begin(), f.alert_types.end(), ev.alert_type)
           == f.alert_types.end())
    return false;
  return true;
}

/// The frame of `ev` for subscription `req`: its prefix (shared with the request, not copied),
/// then the event's tail in the subscription's encoding.
out_frame event_frame_for(const subscribe_ptr& req, const encoded_event_ptr& ev) {
  return out_frame::event_frame(std::shared_ptr<const std::string>(req, &req->prefix), ev,
                                req->superjson);
}

bool hospital_state::deliver(const subscribe_ptr& req, const encoded_event_ptr& ev) {
  auto& st = *this;
  counters::get().events_delivered++;
  return st.rt->out->push(req->conn_id, event_frame_for(req, ev));
}

/// The resync event (docs/api.md "Event ids and resume"): one frame, then the stream goes live.
void hospital_state::send_resync(const subscribe_ptr& req_ptr, const char* reason,
                                 int64_t now) {
  auto& st = *this;
  auto& req = *req_ptr;
  uint64_t newest = st.last_seq;
  if (req.kind == stream_kind::alert) {
    newest = 0;
    for (auto i = st.ring.rbegin(); i != st.ring.rend(); ++i)
      if ((*i)->alert_id == req.alert_id) {
        newest = (*i)->seq;
        break;
      }
    if (newest == 0)
      newest = st.last_seq; // good enough: the client resumes after it
  }
  if (newest == 0)
    newest = st.rt->last_seq.load();
  auto id = st.rt->epoch + "-" + std::to_string(newest);
  auto data = json::value::make_object();
  data.set("resync", true);
  data.set("reason", reason);
  auto ev = json::value::make_object();
  ev.set("id", id);
  ev.set("type", "alert.updated");
  ev.set("alertId", "*");
  ev.set("hospitalId", st.hospital_id);
  ev.set("timestamp", json::value::date(now));
  ev.set("data", std::move(data));
  std::string plain, meta;
  json::write(plain, ev);
  json::write_meta(meta, ev);
  auto enc = make_encoded_event(newest, id, "alert.updated", "*", 0, "", std::move(plain),
                                std::move(meta));
  deliver(req_ptr, enc);
}

void hospital_state::publish(const encoded_event_ptr& ev) {
  auto& st = self->state;
  st.last_seq = ev->seq;
  st.ring.push_back(ev);
  while (st.ring.size() > st.rt->cfg.ring_size) {
    st.ring_floor = st.ring.front()->seq;
    st.ring.pop_front();
  }
  counters::get().events_published++;
  // One lock on the outbox for the whole fan-out.
  st.fanout.clear();
  for (auto& [k, s] : st.subs)
    // (A subscription resumed from an id beyond what this node has applied yet, in a cluster,
    // has its cursor ahead: what it already has is not sent again.)
    if (s.live && ev->seq > s.cursor && matches(*s.req, *ev))
      st.fanout.emplace_back(s.req->conn_id, event_frame_for(s.req, ev));
  counters::get().events_delivered += st.fanout.size();
  if (!st.fanout.empty())
    st.rt->out->push_many(st.fanout);
}

} // namespace vigil
