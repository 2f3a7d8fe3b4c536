// Lazy loading: a hospital keeps its open alerts and a window of its newest resolved ones in
// memory (`storage.resolved-window`); older alerts are read from SQLite on demand through the
// storage reader, so memory does not grow with the history and the actor never blocks on a read.
#include "actors/hospital_state.hpp"

#include <caf/all.hpp>

#include "domain/log.hpp"
#include "domain/retention.hpp"

namespace vigil {

void hospital_state::remember(const alert& a) {
  auto& slot = alerts[a.id];
  if (slot.status == alert_status::resolved && !slot.id.empty())
    resolved_in_memory.erase({slot.created_at, slot.id});
  slot = a;
  if (a.status == alert_status::resolved)
    resolved_in_memory.emplace(a.created_at, a.id);
}

void hospital_state::forget(const std::string& alert_id) {
  auto i = alerts.find(alert_id);
  if (i == alerts.end())
    return;
  resolved_in_memory.erase({i->second.created_at, alert_id});
  alerts.erase(i);
  timer_gen.erase(alert_id);
  failsafe_gen.erase(alert_id);
}

std::set<std::pair<int64_t, std::string>>::iterator
hospital_state::drop_resolved(std::set<std::pair<int64_t, std::string>>::iterator i) {
  auto id = i->second;
  auto next = resolved_in_memory.erase(i);
  alerts.erase(id);
  timer_gen.erase(id);
  failsafe_gen.erase(id); // resolved: never armed again, so a stale timer cannot match
  rt->alerts.erase(id);
  return next;
}

void hospital_state::trim_window() {
  // A cluster hospital keeps every alert: the JetStream store cannot read one alert on demand.
  if (rt->cluster)
    return;
  size_t window = rt->cfg.resolved_window;
  for (auto i = resolved_in_memory.begin();
       resolved_in_memory.size() > window && i != resolved_in_memory.end();) {
    // An alert with a commit in flight stays: its reply and undo need it.
    if (committing.count(i->second) != 0 || loading.count(i->second) != 0) {
      ++i;
      continue;
    }
    i = drop_resolved(i);
    complete = false;
  }
}

void hospital_state::expire_resolved() {
  const int64_t now = rt->now();
  // Once a minute is enough: storage prunes once a minute too.
  if (now < next_expiry_check_ms)
    return;
  next_expiry_check_ms = now + resolved_expiry_check_ms;
  // Idempotency keys are honoured for 24 h (storage prunes them then): without this the map
  // would keep every key the hospital ever saw.
  constexpr int64_t idempotency_window_ms = 24LL * 3600 * 1000;
  for (auto i = idempotent.begin(); i != idempotent.end();)
    i = i->second.second < now - idempotency_window_ms ? idempotent.erase(i) : std::next(i);
  // A cluster hospital keeps every alert (see trim_window).
  auto horizon = resolved_alert_horizon(rt->cfg, now);
  if (!horizon || rt->cluster)
    return;
  // Ordered by createdAt, and resolvedAt >= createdAt: only alerts created before the horizon
  // can have been resolved before it.
  for (auto i = resolved_in_memory.begin();
       i != resolved_in_memory.end() && i->first < *horizon;) {
    auto a = alerts.find(i->second);
    const bool expired = a != alerts.end() && a->second.resolved_at &&
                         *a->second.resolved_at < *horizon && committing.count(i->second) == 0 &&
                         loading.count(i->second) == 0;
    if (!expired) {
      ++i;
      continue;
    }
    // Gone from storage too (or about to be): `complete` stays as it is, memory still holds
    // every alert storage has.
    i = drop_resolved(i);
  }
}

void hospital_state::commit_done(const std::string& alert_id) {
  auto i = committing.find(alert_id);
  if (i != committing.end() && --i->second <= 0)
    committing.erase(i);
  trim_window();
}

call_promise hospital_state::promise() {
  if (outer_promise)
    return *outer_promise;
  return self->make_response_promise<call_result_ptr>();
}

void hospital_state::run_waiting(const call_ptr& c, call_promise rp) {
  outer_promise = rp;
  auto r = dispatch(c);
  outer_promise.reset();
  if (r.flag == caf::rt_value && r.value.match_elements<call_result_ptr>())
    rp.deliver(r.value.get_as<call_result_ptr>(0));
  else if (r.flag == caf::rt_error)
    rp.deliver(r.err);
  // rt_delegated: the handler answers `rp` itself.
}

void hospital_state::await_stream(const std::string& alert_id, const call_ptr& c,
                                  call_promise rp) {
  auto& waiting = awaiting_stream[alert_id];
  waiting.emplace_back(c, std::move(rp));
  if (waiting.size() == 1)
    self->delayed_send(self, std::chrono::milliseconds(stream_wait_ms),
                       stream_wait_atom::value, alert_id);
}

void hospital_state::stream_wait_over(const std::string& alert_id) {
  auto w = awaiting_stream.find(alert_id);
  if (w == awaiting_stream.end())
    return;
  auto waiting = std::move(w->second);
  awaiting_stream.erase(w);
  for (auto& [call, rp] : waiting)
    run_waiting(call, rp);
}

void hospital_state::load_then(const std::string& alert_id, const call_ptr& c, call_promise rp) {
  auto& waiting = loading[alert_id];
  waiting.emplace_back(c, std::move(rp));
  if (waiting.size() > 1)
    return; // a read of this alert is under way
  alert_query q;
  q.what = alert_query::kind::one;
  q.hospital_id = hospital_id;
  q.alert_id = alert_id;
  auto finish = [self = self, alert_id](const alert_rows* rows) {
    auto& st = self->state;
    auto waiting = std::move(st.loading[alert_id]);
    st.loading.erase(alert_id);
    // A commit may have created or changed it meanwhile: memory is then the newer state.
    if (rows != nullptr && rows->ok && !rows->alerts.empty()
        && st.alerts.count(alert_id) == 0) {
      st.remember(rows->alerts.front());
      st.rt->alerts.put(alert_id, st.hospital_id);
    }
    bool found = st.alerts.count(alert_id) != 0;
    for (auto& [call, rp] : waiting) {
      if (!found) {
        rp.deliver(rows != nullptr && rows->ok
                     ? call_result::failure(trpc_code::not_found, "Alert not found")
                     : call_result::failure(trpc_code::internal_server_error,
                                            "Failed to read the alert"));
        continue;
      }
      st.run_waiting(call, rp);
    }
    st.trim_window();
  };
  self->request(rt->reader(), caf::infinite, alert_query_ptr{std::make_shared<alert_query>(q)})
    .then([=](const alert_rows_ptr& rows) { finish(rows.get()); },
          [=](caf::error& err) {
            log::error("alert_read_failed", {{"hospital", self->state.hospital_id},
                                             {"alert", alert_id},
                                             {"reason", caf::to_string(err)}});
            finish(nullptr);
          });
}

void hospital_state::query_storage(alert_query q, std::function<void(const alert_rows&)> done,
                                   call_promise rp) {
  q.hospital_id = hospital_id;
  self->request(rt->reader(), caf::infinite, alert_query_ptr{std::make_shared<alert_query>(q)})
    .then(
      [=](const alert_rows_ptr& rows) mutable {
        if (!rows->ok) {
          log::error("alert_read_failed", {{"hospital", self->state.hospital_id},
                                           {"reason", rows->error}});
          rp.deliver(call_result::failure(trpc_code::internal_server_error,
                                          "Failed to read the alerts"));
          return;
        }
        done(*rows);
      },
      [=](caf::error& err) mutable {
        log::error("alert_read_failed", {{"hospital", self->state.hospital_id},
                                         {"reason", caf::to_string(err)}});
        rp.deliver(call_result::failure(trpc_code::internal_server_error,
                                        "Failed to read the alerts"));
      });
}

void hospital_state::list_with_stored(const json::value& input, call_promise rp) {
  alert_query q;
  q.what = alert_query::kind::keys;
  q.detailed = listing_needs_details(input);
  query_storage(std::move(q), [this, input, rp](const alert_rows& rows) mutable {
    // Memory is the newer state of any alert it holds; the rest as stored.
    std::vector<alert_key> keys;
    keys.reserve(alerts.size() + rows.keys.size());
    for (auto& [id, a] : alerts)
      keys.push_back(key_of_alert(a));
    for (auto& k : rows.keys)
      if (alerts.count(k.id) == 0)
        keys.push_back(k);
    auto r = active_alerts_page(keys, input);
    if (auto* err = std::get_if<call_error>(&r)) {
      rp.deliver(call_result::failure(err->code, err->message));
      return;
    }
    auto page = std::make_shared<active_page>(std::move(std::get<active_page>(r)));
    std::vector<std::string> ids;
    ids.reserve(page->page.size());
    for (size_t i : page->page)
      ids.push_back(keys[i].id);
    // The page's alerts: from memory when held, the others read by id.
    auto finish = [this, ids, page, rp](const alert_rows* stored) mutable {
      std::unordered_map<std::string, const alert*> read;
      if (stored != nullptr)
        for (auto& a : stored->alerts)
          read.emplace(a.id, &a);
      alert_list list;
      list.reserve(ids.size());
      for (auto& id : ids) {
        if (auto i = alerts.find(id); i != alerts.end())
          list.push_back(&i->second);
        else if (auto j = read.find(id); j != read.end())
          list.push_back(j->second);
      }
      rp.deliver(call_result::success(active_alerts_json(*page, list)));
    };
    alert_query by_id;
    by_id.what = alert_query::kind::ids;
    for (auto& id : ids)
      if (alerts.count(id) == 0)
        by_id.ids.push_back(id);
    if (by_id.ids.empty()) {
      finish(nullptr);
      return;
    }
    query_storage(std::move(by_id), [finish](const alert_rows& stored) mutable {
      finish(&stored);
    }, rp);
  }, rp);
}

} // namespace vigil
