// Calls answered by a hospital: queries from its alerts, mutations through the alert state
// machine, committed to storage before their event is published and their reply sent, and
// createAlert idempotency keys.
#include "actors/hospital_state.hpp"

#include <caf/all.hpp>

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
  if (c->proc->id == procedure::get_metrics || c->proc->id == procedure::get_alert_stats) {
    // Answered by the metrics actor, from the same state that feeds subscribeToMetrics.
    auto rp = self->make_response_promise<call_result_ptr>();
    self->request(metrics, caf::infinite, c)
      .then([=](const call_result_ptr& r) mutable { rp.deliver(r); },
            [=](caf::error&) mutable {
              rp.deliver(call_result::failure(trpc_code::internal_server_error,
                                              "Internal server error"));
            });
    return rp;
  }
  if (c->proc->kind == proc_kind::mutation)
    return handle_mutation(c);
  return handle_query(*c);
}

/// Stores a transition, then publishes its event and answers `rp` with `make_reply(next)`.
/// The in-memory alert changes at once, so later calls see it (of N concurrent acknowledgements
/// exactly one passes the state check); on a failed commit the change is undone.
void hospital_state::commit_transition(transition t, reply_fn make_reply, call_promise rp,
                                       std::optional<std::string> idem_key, stored_fn on_stored,
                                       retry_fn retry) {
  auto& st = self->state;
  if (st.rt->cluster) {
    commit_to_stream(std::move(t), std::move(make_reply), std::move(rp), std::move(idem_key),
                     std::move(on_stored), std::move(retry));
    return;
  }
  auto id = t.next.id;
  std::optional<alert> previous;
  if (auto i = st.alerts.find(id); i != st.alerts.end())
    previous = i->second;
  auto reply = make_reply(t.next);
  auto committed = std::make_shared<const alert>(t.next);
  st.alerts[id] = t.next;
  if (!previous)
    st.rt->alerts.put(id, st.hospital_id);
  schedule_escalation(t.next);
  auto req = std::make_shared<commit_request>();
  pending_write w;
  w.event = std::move(t.event);
  w.next = t.next;
  if (idem_key) {
    w.idempotency_key = idem_key;
    json::write(w.idempotency_reply, reply);
  }
  req->writes.push_back(std::move(w));
  auto undo = [=](const std::string& why) mutable {
    auto& st = self->state;
    log::error("mutation_not_stored", {{"hospital", st.hospital_id}, {"alert", id},
                                       {"reason", why}});
    auto i = st.alerts.find(id);
    if (i != st.alerts.end() && i->second.updated_at == t.next.updated_at
        && i->second.status == t.next.status) {
      if (previous) {
        i->second = *previous;
      } else {
        st.alerts.erase(i);
        st.rt->alerts.erase(id);
      }
      if (previous)
        schedule_escalation(*previous, failed_commit_retry_ms);
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
  };
  self->request(st.rt->storage, caf::infinite, commit_atom::value, commit_request_ptr{req})
    .then(
      [=](const commit_reply_ptr& r) mutable {
        if (!r->ok || r->events.empty()) {
          undo(r->error);
          return;
        }
        publish(r->events.front());
        if (on_stored)
          on_stored(*committed);
        self->send(self->state.metrics, committed);
        auto result = call_result::success(reply);
        if (idem_key) {
          auto& st = self->state;
          st.idempotent[*idem_key] = {reply, st.rt->now()};
          for (auto& p : st.idempotent_pending[*idem_key])
            p.deliver(result);
          st.idempotent_pending.erase(*idem_key);
        }
        if (rp.pending())
          rp.deliver(result);
      },
      [=](caf::error& err) mutable { undo(caf::to_string(err)); });
}

json::value success_with_alert(const alert& a) {
  auto v = json::value::make_object();
  v.set("success", true);
  v.set("alert", to_json(a));
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
        return call_result::success(i->second.first);
    }
    auto rp = given ? *given : self->make_response_promise<call_result_ptr>();
    if (key) {
      if (auto i = st.idempotent_pending.find(*key); i != st.idempotent_pending.end()) {
        i->second.push_back(rp);
        return rp;
      }
      st.idempotent_pending[*key];
    }
    auto t = create_alert(c.input, who, now, policy, make_uuid_v4());
    commit_transition(std::move(t), success_with_alert, rp, key, {}, again(rp));
    return rp;
  }
  auto* id_value = c.input.find("alertId");
  auto i = id_value != nullptr ? st.alerts.find(id_value->as_string()) : st.alerts.end();
  if (i == st.alerts.end())
    return call_result::failure(trpc_code::not_found, "Alert not found");
  const alert& a = i->second;
  transition_result r;
  reply_fn reply = success_with_alert;
  // Who changed which alert, for the operator's audit: ids, the subject and the role only,
  // never the alert's text (descriptions, notes, reasons).
  stored_fn audit;
  auto audit_as = [&](const char* event) {
    audit = [event, hospital = st.hospital_id, by = who.sub,
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
        v.set("alert", to_json(next));
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
      audit = [hospital = st.hospital_id, by = who.sub,
               role = role_name(who.user_role)](const alert& next) {
        log::info("alert_transferred", {{"hospital", hospital}, {"alert", next.id}, {"by", by},
                                        {"role", role}, {"to", next.acknowledged_by.value_or("")}});
      };
      reply = [](const alert& next) {
        auto v = json::value::make_object();
        v.set("success", true);
        v.set("transferredTo", json::value::string_or_null(next.acknowledged_by));
        v.set("alert", to_json(next));
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
      audit = [hospital = st.hospital_id, by = who.sub,
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
        v.set("alert", to_json(next));
        return v;
      };
      break;
    }
    default:
      return call_result::failure(trpc_code::internal_server_error, "Unsupported procedure");
  }
  if (auto* err = std::get_if<call_error>(&r))
    return call_result::failure(err->code, err->message);
  auto rp = given ? *given : self->make_response_promise<call_result_ptr>();
  commit_transition(std::move(std::get<transition>(r)), reply, rp, std::nullopt,
                    std::move(audit), again(rp));
  return rp;
}

caf::result<call_result_ptr> hospital_state::handle_query(const call& c) {
  auto& st = self->state;
  auto now = st.rt->now();
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
    case procedure::get_alert_timeline: {
      auto* a = find_alert();
      if (a == nullptr)
        return call_result::failure(trpc_code::not_found, "Alert not found");
      auto rp = self->make_response_promise<call_result_ptr>();
      auto req = std::make_shared<read_request>();
      req->hospital_id = st.hospital_id;
      req->alert_id = a->id;
      req->after_seq = 0;
      req->limit = 10000;
      auto alert_id = a->id;
      self->request(st.rt->reader(), caf::infinite, read_atom::value, read_request_ptr{req})
        .then(
          [=](const event_page_ptr& page) mutable {
            auto& st = self->state;
            auto i = st.alerts.find(alert_id);
            if (i == st.alerts.end()) {
              rp.deliver(call_result::failure(trpc_code::not_found, "Alert not found"));
              return;
            }
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
            rp.deliver(call_result::success(alert_timeline(i->second, std::move(events))));
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
