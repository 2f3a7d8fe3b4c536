// The hospital actor's behaviour: each handler hands its message to one method of the state
// (actors/hospital_state.hpp says which file holds which concern), plus start-up and status.
#include "actors/hospital.hpp"
#include "actors/hospital_state.hpp"
#include "actors/metrics.hpp"

#include <caf/all.hpp>

#include <algorithm>

#include "domain/dates.hpp"

namespace vigil {

alert_list hospital_state::all_alerts() const {
  alert_list out;
  out.reserve(alerts.size());
  for (auto& kv : alerts)
    out.push_back(&kv.second);
  return out;
}

void hospital_state::start(runtime_ptr runtime, const hospital_snapshot& snap) {
  rt = std::move(runtime);
  hospital_id = snap.hospital_id;
  last_seq = snap.last_seq_of_hospital;
  ring_floor = snap.last_seq_of_hospital;
  complete = snap.complete;
  alerts.reserve(snap.alerts.size());
  for (auto& a : snap.alerts) {
    remember(a);
    rt->alerts.put(a.id, hospital_id);
  }
  if (rt->cluster)
    confirmed = alerts;
  // The metrics of the last 24 h also count alerts resolved then, outside the window: the
  // metrics actor reads those when it is first asked (not on this hospital's start).
  metrics = spawn_metrics(self, rt, hospital_id, snap.alerts, complete || rt->cluster);
  for (auto& [k, v] : snap.idempotency) {
    std::string err;
    if (auto reply = json::parse(v.first, &err)) {
      mark_timestamp_fields(*reply);
      idempotent.emplace(k, std::make_pair(call_result::success(std::move(*reply)), v.second));
    }
  }
  // Restart: overdue escalations fire at once, in deadline order; the others get their timers.
  std::vector<const alert*> due;
  for (auto& [id, a] : alerts)
    if (a.status == alert_status::active && a.next_escalation_at)
      due.push_back(&a);
  std::sort(due.begin(), due.end(), [](auto* x, auto* y) {
    return *x->next_escalation_at < *y->next_escalation_at;
  });
  for (auto* a : due)
    schedule_escalation(*a);
  // The failsafe: clients reconnect after a restart, so presence is trusted, and receipt
  // deadlines may fall, only a full receipt timeout after the server started.
  auto& fs = rt->cfg.failsafe;
  bool any_active = std::any_of(alerts.begin(), alerts.end(), [](auto& kv) {
    return kv.second.status == alert_status::active;
  });
  if (any_active && rt->started_ms > 0)
    presence_trusted_from = rt->started_ms + fs.receipt_timeout_ms;
  for (auto& [id, a] : alerts)
    arm_failsafe(a, false);
}

hospital_status hospital_state::status() const {
  hospital_status s;
  s.hospital_id = hospital_id;
  s.alerts = alerts.size();
  for (auto& [id, a] : alerts) {
    s.open += a.status != alert_status::resolved;
    s.active += a.status == alert_status::active;
    if (a.status == alert_status::active && a.next_escalation_at)
      s.escalations.push_back(pending_escalation{id, a.escalation_level, *a.next_escalation_at});
  }
  s.subscribers = subs.size();
  for (auto& kv : subs) // ordered by connection
    if (s.connections.empty() || s.connections.back() != kv.first.first)
      s.connections.push_back(kv.first.first);
  s.ring_depth = ring.size();
  s.mailbox = self->mailbox().size();
  s.metrics_actor = metrics ? static_cast<uint64_t>(metrics.id()) : 0;
  return s;
}

namespace {

hospital_actor::behavior_type hospital_behavior(hospital_self self, runtime_ptr rt,
                                               hospital_snapshot_ptr snap) {
  self->state.start(std::move(rt), *snap);
  return {
    [=](const call_ptr& c) { return self->state.handle_call(c); },
    [=](const subscribe_ptr& req) { self->state.start_subscription(req); },
    [=](unsubscribe_atom, uint64_t conn, const std::string& key) {
      self->state.stop_subscription(conn, key, true);
    },
    [=](drop_atom, uint64_t conn) { self->state.drop_connection(conn); },
    [=](escalation_due_atom, const std::string& alert_id, uint64_t gen) {
      self->state.escalation_due(alert_id, gen);
    },
    [=](failsafe_due_atom, const std::string& alert_id, uint64_t gen, bool nobody_online) {
      self->state.failsafe_due(alert_id, gen, nobody_online);
    },
    [=](seen_by_flush_atom, const std::string& alert_id) {
      self->state.seen_by_flush(alert_id);
    },
    [=](stream_wait_atom, const std::string& alert_id) {
      self->state.stream_wait_over(alert_id);
    },
    [=](catch_up_atom, uint64_t conn, const std::string& key, uint64_t serial) {
      auto& st = self->state;
      auto i = st.subs.find({conn, key});
      if (i == st.subs.end() || i->second.serial != serial)
        return;
      st.pump({conn, key}, serial);
    },
    [=](presence_flush_atom) {
      self->state.presence_flush_scheduled = false;
      self->state.push_presence_now();
    },
    [=](const stream_event_ptr& ev) { self->state.apply_stream_event(*ev); },
    [=](status_atom) { return self->state.status(); },
  };
}

} // namespace

hospital_actor spawn_hospital(caf::local_actor* parent, runtime_ptr rt,
                              hospital_snapshot_ptr snap) {
  return parent->spawn(hospital_behavior, std::move(rt), std::move(snap));
}

} // namespace vigil
