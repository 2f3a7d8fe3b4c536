// A hospital actor in a cluster (storage.engine = jetstream): writes go to the hospital's
// subject of the event stream with the newest seq this actor applied as the expected last
// subject seq; events (this node's and every other node's) come back from the follower in
// stream order and are published to local subscribers only then. A write that lost the race to
// another node is undone, and its call validated again once the hospital caught up.
#include "actors/hospital_state.hpp"

#include <caf/all.hpp>

#include "domain/dates.hpp"
#include "domain/log.hpp"
#include "domain/receipts.hpp"

namespace vigil {

namespace {

/// A write that failed for another reason than a conflict: the escalation timer of the alert
/// tries again this much later (instead of spinning while the cluster cannot store).
constexpr int64_t failed_write_retry_ms = 1000;

} // namespace

void hospital_state::when_applied(uint64_t seq, std::function<void()> fn) {
  if (seq <= last_seq) {
    fn();
    return;
  }
  on_applied.emplace(seq, std::move(fn));
}

void hospital_state::commit_to_stream(transition t, reply_fn make_reply, call_promise rp,
                                      std::optional<audit_record> audit,
                                      std::optional<std::string> idem_key, stored_fn on_stored,
                                      retry_fn retry) {
  auto& st = *this;
  auto id = t.next.id;
  auto reply = make_reply(t.next);
  reply.set("alert", to_json(t.next));
  if (st.alerts.find(id) == st.alerts.end())
    st.rt->alerts.put(id, st.hospital_id);
  // At once, so that later calls on this node validate against it (of two acknowledgements on
  // one node the second gets CONFLICT without touching the stream).
  st.alerts[id] = t.next;
  schedule_escalation(t.next);
  auto req = std::make_shared<commit_request>();
  req->hospital_id = st.hospital_id;
  req->chained = st.writes_in_flight.count(id) > 0;
  if (!req->chained)
    st.chain_basis[id] = st.last_seq;
  req->expected_last_seq = st.chain_basis[id];
  pending_write w;
  w.event = std::move(t.event);
  w.next = t.next;
  w.audit = std::move(audit);
  if (idem_key) {
    w.idempotency_key = idem_key;
    json::write(w.idempotency_reply, reply);
  }
  req->writes.push_back(std::move(w));
  ++st.writes_in_flight[id];
  // The write is over (applied or failed). When no other write of this node is in flight on
  // the alert, the alert is what the stream says: also after a success, since other nodes'
  // writes of the alert applied meanwhile (the follower can deliver them before the store's
  // answer arrives) went to `confirmed` only; validating on the stale state with the newer view
  // once stored a failsafe step twice.
  auto settle = [=](bool failed, int64_t rearm_delay_ms) {
    auto& st = self->state;
    auto n = st.writes_in_flight.find(id);
    if (n == st.writes_in_flight.end() || --n->second > 0)
      return;
    st.writes_in_flight.erase(n);
    st.chain_basis.erase(id);
    if (auto c = st.confirmed.find(id); c == st.confirmed.end()) {
      if (failed) {
        st.alerts.erase(id);
        st.rt->alerts.erase(id);
      }
    } else {
      st.alerts[id] = c->second;
      if (reapply_unstored_receipts(id))
        seen_by_changed(id);
      if (!failed)
        schedule_escalation(st.alerts[id]);
      else if (rearm_delay_ms >= 0)
        schedule_escalation(st.alerts[id], rearm_delay_ms);
    }
    // What waited for the alert's writes to be over (calls that lost a race run again).
    if (auto w = st.when_settled.find(id); w != st.when_settled.end()) {
      auto fns = std::move(w->second);
      st.when_settled.erase(w);
      for (auto& fn : fns)
        fn();
    }
  };
  // Answers every caller waiting for the idempotency key (and `rp`).
  auto answer = [=](call_result_ptr result) mutable {
    auto& st = self->state;
    if (idem_key) {
      for (auto& p : st.idempotent_pending[*idem_key])
        p.deliver(result);
      st.idempotent_pending.erase(*idem_key);
    }
    if (rp.pending())
      rp.deliver(result);
  };
  self->request(st.rt->storage, caf::infinite, commit_atom::value, commit_request_ptr{req})
    .then(
      [=](const commit_reply_ptr& r) mutable {
        auto& st = self->state;
        if (r->ok && !r->events.empty()) {
          when_applied(r->events.front()->seq, [=]() mutable {
            settle(false, -1);
            if (on_stored)
              on_stored(t.next);
            auto result = call_result::success(reply);
            if (idem_key)
              self->state.idempotent[*idem_key] = {result, self->state.rt->now()};
            answer(result);
          });
          return;
        }
        if (r->conflict && retry) {
          // Another node wrote first: catch up to what it wrote, then validate again. Callers
          // waiting for the same idempotency key wait for the new attempt.
          settle(true, -1);
          std::vector<call_promise> waiting;
          if (idem_key) {
            waiting = std::move(st.idempotent_pending[*idem_key]);
            st.idempotent_pending.erase(*idem_key);
          }
          auto again = [=]() mutable {
            retry();
            if (!idem_key || waiting.empty())
              return;
            auto& st = self->state;
            if (auto p = st.idempotent_pending.find(*idem_key); p != st.idempotent_pending.end()) {
              p->second.insert(p->second.end(), waiting.begin(), waiting.end());
              return;
            }
            auto i = st.idempotent.find(*idem_key);
            auto result = i != st.idempotent.end()
                            ? i->second.first
                            : call_result::failure(trpc_code::internal_server_error,
                                                   "Failed to store the change");
            for (auto& p : waiting)
              p.deliver(result);
          };
          // Validated again once no other write of this node on the alert is in flight (those
          // validated on top of this one fail too; without waiting, two of them could keep
          // meeting each other's failure).
          when_applied(r->stream_last_seq, [=]() mutable {
            auto& st = self->state;
            if (st.writes_in_flight.count(id) > 0)
              st.when_settled[id].push_back(again);
            else
              again();
          });
          return;
        }
        settle(true, failed_write_retry_ms);
        log::error("mutation_not_stored", {{"hospital", st.hospital_id}, {"alert", id},
                                           {"reason", r->error}});
        answer(call_result::failure(trpc_code::internal_server_error,
                                    "Failed to store the change"));
      },
      [=](caf::error& err) mutable {
        settle(true, failed_write_retry_ms);
        log::error("mutation_not_stored", {{"hospital", self->state.hospital_id}, {"alert", id},
                                           {"reason", caf::to_string(err)}});
        answer(call_result::failure(trpc_code::internal_server_error,
                                    "Failed to store the change"));
      });
}

bool hospital_state::reapply_unstored_receipts(const std::string& alert_id) {
  auto r = unstored_receipts.find(alert_id);
  auto a = alerts.find(alert_id);
  if (r == unstored_receipts.end() || a == alerts.end())
    return false;
  bool changed = false;
  for (auto& u : r->second)
    changed |= apply_receipt(a->second, *u.who, u.event_id, u.at, rt->cfg.escalation).any();
  return changed;
}

void hospital_state::apply_stream_event(const stream_event& ev) {
  auto& st = *this;
  auto seq = ev.event->seq;
  if (seq <= st.last_seq)
    return; // a follower that restarted delivers again what was applied
  auto& a = ev.next;
  auto before = st.confirmed.find(a.id);
  // A new alert or a new tier: the failsafe looks at who can see it. Every node hosting the
  // hospital arms it; as for escalations, the first node's write wins and the others catch up.
  bool new_tier = before == st.confirmed.end()
                  || before->second.escalation_level != a.escalation_level;
  st.confirmed[a.id] = a;
  bool receipts_pending = false;
  if (st.writes_in_flight.count(a.id) == 0) {
    st.alerts[a.id] = a;
    receipts_pending = reapply_unstored_receipts(a.id);
    schedule_escalation(a);
  }
  st.rt->alerts.put(a.id, st.hospital_id);
  if (ev.idempotency_key) {
    std::string err;
    if (auto reply = json::parse(ev.idempotency_reply, &err)) {
      mark_timestamp_fields(*reply);
      st.idempotent[*ev.idempotency_key] = {call_result::success(std::move(*reply)),
                                            ev.timestamp};
    }
  }
  // What waited for this event runs before it is published, as on SQLite, where a commit's
  // effects come before its event. (The follower can deliver this node's own event before the
  // store's answer to the write: then the effects, e.g. a failsafe step's count and log line,
  // follow the event by the time that answer takes.)
  st.last_seq = seq;
  while (!st.on_applied.empty() && st.on_applied.begin()->first <= st.last_seq) {
    auto fn = std::move(st.on_applied.begin()->second);
    st.on_applied.erase(st.on_applied.begin());
    fn();
  }
  publish(ev.event);
  self->send(st.metrics, std::make_shared<const alert>(a));
  if (receipts_pending)
    seen_by_changed(a.id);
  if (new_tier)
    arm_failsafe(st.alerts[a.id], true);
  // Calls that waited for this alert's event run now.
  stream_wait_over(a.id);
}

} // namespace vigil
