// Calls answered by a hospital: queries from its alerts, mutations through the alert state
// machine, committed to storage before their event is published and their reply sent, and
// createAlert idempotency keys.
#include "actors/hospital_state.hpp"

#include <caf/all.hpp>

#include "actors/audit.hpp"
#include <climits>

#include "actors/storage_actor.hpp"
#include "domain/alert_text.hpp"
#include "domain/dates.hpp"
#include "domain/log.hpp"
#include "domain/time.hpp"

namespace vigil {

namespace {

constexpr int64_t idempotency_window_ms = 24LL * 3600 * 1000;
constexpr int64_t failed_commit_retry_ms = 1000;
/// Cluster: how often one call is validated again after losing the race to another node.
constexpr int max_write_attempts = 8;

} // namespace

caf::result<call_result_ptr> hospital_state::handle_call(const call_ptr& c) {
  expire_resolved();
  if (c->proc->id == procedure::get_metrics || c->proc->id == procedure::get_alert_stats) {
    // Answered by the metrics actor, from the same state that feeds subscribeToMetrics.
    auto rp = promise();
    self->request(metrics, caf::infinite, c)
      .then([=](const call_result_ptr& r) mutable { rp.deliver(r); },
            [=](caf::error&) mutable {
              rp.deliver(call_result::failure(trpc_code::internal_server_error,
                                              "Internal server error"));
            });
    return rp;
  }
  // Cluster: an alert the alert index puts here (it reads the stream's headers) whose event the
  // hospital's follower has not delivered yet: wait for it (a client that saw it created on
  // another node must not get NOT_FOUND here).
  if (rt->cluster && c->proc->id != procedure::create_alert) {
    if (auto* id = c->input.find("alertId");
        id != nullptr && id->is_string() && alerts.count(id->as_string()) == 0
        && rt->alerts.held(id->as_string()) == hospital_id) {
      auto rp = self->make_response_promise<call_result_ptr>();
      await_stream(id->as_string(), c, rp);
      return rp;
    }
  }
  // An alert this hospital does not hold in memory (an old resolved one): read it first.
  if (!complete && c->proc->id != procedure::create_alert) {
    if (auto* id = c->input.find("alertId");
        id != nullptr && id->is_string() && alerts.count(id->as_string()) == 0) {
      auto rp = self->make_response_promise<call_result_ptr>();
      load_then(id->as_string(), c, rp);
      return rp;
    }
  }
  return dispatch(c);
}

caf::result<call_result_ptr> hospital_state::dispatch(const call_ptr& c) {
  if (c->proc->id == procedure::confirm_delivery)
    return confirm_delivery(*c);
  if (c->proc->kind == proc_kind::mutation)
    return handle_mutation(c);
  return handle_query(*c);
}

/// Stores a transition, then publishes its event and answers `rp` with `make_reply(next)`.
/// The in-memory alert changes at once, so later calls see it (of N concurrent acknowledgements
/// exactly one passes the state check); on a failed commit the change is undone.
void hospital_state::commit_transition(transition t, reply_fn make_reply, call_promise rp,
                                       std::optional<audit_record> audit,
                                       std::optional<std::string> idem_key,
                                       stored_fn on_stored, retry_fn retry) {
  auto& st = self->state;
  if (st.rt->cluster) {
    commit_to_stream(std::move(t), std::move(make_reply), std::move(rp), std::move(audit),
                     std::move(idem_key),
                     std::move(on_stored), std::move(retry));
    return;
  }
  auto id = t.next.id;
  std::optional<alert> previous;
  if (auto i = st.alerts.find(id); i != st.alerts.end())
    previous = i->second;
  // The alert's text is written once: the event's data (alert.created), the reply's `alert` and
  // the stored row. Everything is encoded here, in parallel across hospitals, so the storage
  // thread only binds and steps.
  auto text = alert_text(t.next);
  call_result_ptr reply;
  pending_write w;
  if (rp.pending() || idem_key) {
    auto r = reply_text(make_reply(t.next), text);
    if (idem_key) {
      w.idempotency_key = idem_key;
      w.idempotency_reply = r.plain;
    }
    reply = call_result::success_text(std::move(r.plain), meta_of(r.dates));
  }
  auto committed = std::make_shared<const alert>(t.next);
  st.remember(t.next);
  ++st.committing[id];
  if (!previous)
    st.rt->alerts.put(id, st.hospital_id);
  schedule_escalation(t.next);
  auto req = std::make_shared<commit_request>();
  const bool created = t.event.type == "alert.created"; // its data is the alert (create_alert)
  w.event = std::move(t.event);
  w.next = std::move(t.next);
  w.audit = std::move(audit);
  encode_write(w, text, created);
  req->writes.push_back(std::move(w));
  auto undo = [=](const std::string& why) mutable {
    auto& st = self->state;
    log::error("mutation_not_stored", {{"hospital", st.hospital_id}, {"alert", id},
                                       {"reason", why}});
    auto i = st.alerts.find(id);
    if (i != st.alerts.end() && i->second.updated_at == committed->updated_at
        && i->second.status == committed->status) {
      if (previous) {
        st.remember(*previous);
      } else {
        st.forget(id);
        st.rt->alerts.erase(id);
      }
      if (previous) {
        schedule_escalation(*previous, failed_commit_retry_ms);
        arm_failsafe(*previous, false, failed_commit_retry_ms);
      }
    }
    if (idem_key) {
      for (auto& p : st.idempotent_pending[*idem_key])
        p.deliver(call_result::failure(trpc_code::internal_server_error,
                                       "Failed to store the change"));
      st.idempotent_pending.erase(*idem_key);
    }
    if (rp.pending())
      rp.deliver(call_result::failure(trpc_code::internal_server_error,
                                      "Failed to store the change"));
    st.commit_done(id);
  };
  self->request(st.rt->storage, caf::infinite, commit_atom::value, commit_request_ptr{req})
    .then(
      [=](const commit_reply_ptr& r) mutable {
        if (!r->ok || r->events.empty()) {
          undo(r->error);
          return;
        }
        // Its effects (log line, counters) before its event: a client that saw the event
        // finds them.
        if (on_stored)
          on_stored(*committed);
        publish(r->events.front());
        // A new tier (or a new alert): the failsafe looks at who can see it.
        if (!previous || previous->escalation_level != committed->escalation_level)
          if (auto i = self->state.alerts.find(id); i != self->state.alerts.end())
            arm_failsafe(i->second, true);
        self->send(self->state.metrics, committed);
        if (idem_key) {
          auto& st = self->state;
          st.idempotent[*idem_key] = {reply, st.rt->now()};
          for (auto& p : st.idempotent_pending[*idem_key])
            p.deliver(reply);
          st.idempotent_pending.erase(*idem_key);
        }
        if (rp.pending())
          rp.deliver(reply);
        self->state.commit_done(id);
      },
      [=](caf::error& err) mutable { undo(caf::to_string(err)); });
}

void hospital_state::audit_refused(const call& c, const std::string& alert_id, trpc_code code) {
  send_audit(*rt, {audit_of(c, hospital_id, alert_id, rt->now(), audit_outcome(code))});
}

json::value success_head(const alert&) {
  auto v = json::value::make_object();
  v.set("success", true);
  return v;
}

caf::result<call_result_ptr> hospital_state::handle_mutation(const call_ptr& cp,
                                                             std::optional<call_promise> given,
                                                             int attempt) {
  auto& st = self->state;
  const call& c = *cp;
  // Cluster: a write that lost the race to another node runs again, validated on the state
  // after catching up (the promise is the first attempt's).
  auto again = [=](call_promise rp) -> retry_fn {
    if (!self->state.rt->cluster)
      return {};
    return [=]() mutable {
      if (attempt + 1 >= max_write_attempts) {
        rp.deliver(call_result::failure(trpc_code::conflict,
                                        "The alert kept changing on other nodes; try again"));
        return;
      }
      auto r = self->state.handle_mutation(cp, rp, attempt + 1);
      if (r.flag == caf::rt_value)
        rp.deliver(r.value.get_as<call_result_ptr>(0));
    };
  };
  auto now = st.rt->now();
  auto& policy = st.rt->cfg.escalation;
  auto& who = *c.who;
  // The promise is made only where the reply is deferred: making it takes the sender out of the
  // current message (CAF 0.17), after which a directly returned result would be dropped.
  if (c.proc->id == procedure::create_alert) {
    std::optional<std::string> key;
    if (auto* k = c.input.find("idempotencyKey"); k != nullptr && k->is_string()) {
      key = k->as_string();
      if (auto i = st.idempotent.find(*key);
          i != st.idempotent.end() && i->second.second >= now - idempotency_window_ms)
        return i->second.first;
    }
    auto rp = given ? *given : promise();
    if (key) {
      if (auto i = st.idempotent_pending.find(*key); i != st.idempotent_pending.end()) {
        i->second.push_back(rp);
        return rp;
      }
      st.idempotent_pending[*key];
    }
    auto t = create_alert(c.input, who, now, policy, make_uuid_v4());
    auto audit = audit_of(c, st.hospital_id, t.next.id, now, audit_ok);
    commit_transition(std::move(t), success_head, rp, std::move(audit), key, {},
                      again(rp));
    return rp;
  }
  auto* id_value = c.input.find("alertId");
  auto i = id_value != nullptr ? st.alerts.find(id_value->as_string()) : st.alerts.end();
  if (i == st.alerts.end()) {
    audit_refused(c, id_value != nullptr && id_value->is_string() ? id_value->as_string() : "",
                  trpc_code::not_found);
    return call_result::failure(trpc_code::not_found, "Alert not found");
  }
  const alert& a = i->second;
  transition_result r;
  reply_fn reply = success_head;
  // Who changed which alert, for the operator's log line: ids, the subject and the role only,
  // never the alert's text (descriptions, notes, reasons). The audit trail's record is apart.
  stored_fn log_line;
  auto audit_as = [&](const char* event) {
    log_line = [event, hospital = st.hospital_id, by = who.sub,
             role = role_name(who.user_role)](const alert& next) {
      log::info(event, {{"hospital", hospital}, {"alert", next.id}, {"by", by}, {"role", role}});
    };
  };
  switch (c.proc->id) {
    case procedure::acknowledge_alert:
      r = acknowledge_alert(a, c.input, who, now);
      audit_as("alert_acknowledged");
      reply = [](const alert& next) {
        auto v = json::value::make_object();
        v.set("success", true);
        int64_t secs = next.acknowledged_at ? (*next.acknowledged_at - next.created_at) / 1000 : 0;
        v.set("responseTimeSeconds", secs);
        return v;
      };
      break;
    case procedure::resolve_alert:
      r = resolve_alert(a, c.input, who, now);
      audit_as("alert_resolved");
      break;
    case procedure::update_alert:
      r = update_alert(a, c.input, who, now);
      break;
    case procedure::transfer_alert: {
      r = transfer_alert(a, c.input, who, now);
      log_line = [hospital = st.hospital_id, by = who.sub,
               role = role_name(who.user_role)](const alert& next) {
        log::info("alert_transferred", {{"hospital", hospital}, {"alert", next.id}, {"by", by},
                                        {"role", role}, {"to", next.acknowledged_by.value_or("")}});
      };
      reply = [](const alert& next) {
        auto v = json::value::make_object();
        v.set("success", true);
        v.set("transferredTo", json::value::string_or_null(next.acknowledged_by));
        return v;
      };
      break;
    }
    case procedure::trigger_escalation: {
      std::optional<std::string> reason;
      if (auto* rs = c.input.find("reason"); rs != nullptr && rs->is_string())
        reason = rs->as_string();
      int from = a.escalation_level;
      r = escalate_alert(a, policy, who.sub, reason, now);
      log_line = [hospital = st.hospital_id, by = who.sub,
               role = role_name(who.user_role)](const alert& next) {
        log::info("alert_escalated", {{"hospital", hospital}, {"alert", next.id},
                                      {"tier", next.escalation_level}, {"by", by}, {"role", role}});
      };
      reply = [from](const alert& next) {
        auto v = json::value::make_object();
        v.set("success", true);
        v.set("alertId", next.id);
        v.set("fromTier", from);
        v.set("toTier", next.escalation_level);
        return v;
      };
      break;
    }
    default:
      return call_result::failure(trpc_code::internal_server_error, "Unsupported procedure");
  }
  if (auto* err = std::get_if<call_error>(&r)) {
    audit_refused(c, a.id, err->code);
    return call_result::failure(err->code, err->message);
  }
  auto rp = given ? *given : promise();
  auto record = audit_of(c, st.hospital_id, a.id, now, audit_ok);
  commit_transition(std::move(std::get<transition>(r)), reply, rp, std::move(record),
                    std::nullopt, std::move(log_line), again(rp));
  return rp;
}

caf::result<call_result_ptr> hospital_state::handle_query(const call& c) {
  auto& st = self->state;
  auto now = st.rt->now();
  auto* status = c.input.find("status");
  if (c.proc->id == procedure::get_active_alerts && !complete && status != nullptr
      && status->is_string() && (status->as_string() == "resolved" || status->as_string() == "all")) {
    // Resolved alerts beyond the window are in SQLite: read their keys (not their text), page
    // them together with the alerts in memory, then read the page's alerts.
    auto rp = promise();
    list_with_stored(c.input, rp);
    return rp;
  }
  if (c.proc->id == procedure::get_alert_history && !complete) {
    // A page in SQL; alerts held in memory are shown as they are here (a change may still be
    // committing), the others as stored.
    auto range = read_history_range(c.input);
    auto rp = promise();
    alert_query q;
    q.what = alert_query::kind::history;
    q.from_ms = range.from.value_or(INT64_MIN);
    q.to_ms = range.to.value_or(INT64_MAX);
    q.limit = static_cast<size_t>(range.limit);
    q.offset = static_cast<size_t>(range.offset);
    query_storage(std::move(q), [this, rp](const alert_rows& rows) mutable {
      alert_list page;
      for (auto& a : rows.alerts) {
        auto i = alerts.find(a.id);
        page.push_back(i != alerts.end() ? &i->second : &a);
      }
      rp.deliver(call_result::success(history_json(page, static_cast<int64_t>(rows.total))));
    }, rp);
    return rp;
  }
  auto find_alert = [&]() -> const alert* {
    auto* id = c.input.find("alertId");
    if (id == nullptr)
      return nullptr;
    auto i = st.alerts.find(id->as_string());
    return i == st.alerts.end() ? nullptr : &i->second;
  };
  switch (c.proc->id) {
    case procedure::get_active_alerts: {
      auto r = active_alerts(all_alerts(), c.input);
      if (auto* err = std::get_if<call_error>(&r))
        return call_result::failure(err->code, err->message);
      return call_result::success(std::move(std::get<json::value>(r)));
    }
    case procedure::get_alert: {
      auto* a = find_alert();
      if (a == nullptr)
        return call_result::failure(trpc_code::not_found, "Alert not found");
      return call_result::success(to_json(*a, true));
    }
    case procedure::get_escalation_status: {
      auto* a = find_alert();
      if (a == nullptr)
        return call_result::failure(trpc_code::not_found, "Alert not found");
      return call_result::success(escalation_status(*a, st.rt->cfg.escalation, now));
    }
    case procedure::get_active_escalations:
      return call_result::success(active_escalations(all_alerts(), st.rt->cfg.escalation, now));
    case procedure::get_alert_history:
      return call_result::success(alert_history(all_alerts(), c.input));
    case procedure::get_audit_log: {
      // Reading the audit trail is itself an audited access; sent first, so it is on the page.
      send_audit(*st.rt, {audit_of(c, st.hospital_id, "", now, audit_ok)});
      auto req = std::make_shared<audit_page_request>();
      req->hospital_id = st.hospital_id;
      auto* cursor = c.input.find("cursor");
      req->before_seq = cursor != nullptr && cursor->is_number()
                          ? static_cast<uint64_t>(cursor->as_int())
                          : static_cast<uint64_t>(INT64_MAX);
      auto* limit_value = c.input.find("limit");
      size_t limit = limit_value != nullptr && limit_value->is_number()
                       ? static_cast<size_t>(limit_value->as_int())
                       : 50;
      req->limit = limit + 1;  // one more tells whether there is a next page
      auto rp = self->make_response_promise<call_result_ptr>();
      self->request(st.rt->storage, caf::infinite, audit_page_atom::value,
                    audit_page_request_ptr{req})
        .then(
          [=](const audit_page_ptr& page) mutable {
            if (!page->error.empty()) {
              rp.deliver(call_result::failure(trpc_code::internal_server_error,
                                              "Failed to read the audit log"));
              return;
            }
            rp.deliver(call_result::success(audit_log_reply(page->records, limit)));
          },
          [=](caf::error&) mutable {
            rp.deliver(call_result::failure(trpc_code::internal_server_error,
                                            "Failed to read the audit log"));
          });
      return rp;
    }
    case procedure::get_alert_timeline: {
      auto* a = find_alert();
      if (a == nullptr)
        return call_result::failure(trpc_code::not_found, "Alert not found");
      auto rp = promise();
      auto req = std::make_shared<read_request>();
      req->hospital_id = st.hospital_id;
      req->alert_id = a->id;
      req->after_seq = 0;
      req->limit = 10000;
      auto alert_id = a->id;
      auto read_alert = *a; // evicted by the time the events arrive: answer with this state
      self->request(st.rt->reader(), caf::infinite, read_atom::value, read_request_ptr{req})
        .then(
          [=](const event_page_ptr& page) mutable {
            auto& st = self->state;
            auto i = st.alerts.find(alert_id);
            std::vector<json::value> events;
            for (auto& ev : page->events) {
              std::string err;
              auto v = json::parse(ev->plain, &err);
              if (!v)
                continue;
              // Flag the timestamps again: they were stored as plain strings.
              mark_timestamp_fields(*v);
              events.push_back(std::move(*v));
            }
            rp.deliver(call_result::success(
              alert_timeline(i != st.alerts.end() ? i->second : read_alert, std::move(events))));
          },
          [=](caf::error&) mutable {
            rp.deliver(call_result::failure(trpc_code::internal_server_error,
                                            "Failed to read the timeline"));
          });
      return rp;
    }
    default:
      return call_result::failure(trpc_code::internal_server_error, "Unsupported procedure");
  }
}

} // namespace vigil
