#include "actors/metrics.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <unordered_map>

#include "domain/queries.hpp"
#include "domain/trpc.hpp"

namespace vigil {

namespace {

using std::chrono::milliseconds;

struct metrics_subscriber {
  subscribe_ptr req;
  uint64_t serial = 0;
  uint64_t change_seen = 0;   // the last change this subscriber was sent
};

struct metrics_state {
  static inline const char* name = "vigil.metrics";
  runtime_ptr rt;
  std::string hospital_id;
  /// Open alerts and those resolved within 24 h (older ones count in no metric), slimmed to
  /// the fields the metrics read.
  std::unordered_map<std::string, alert> alerts;
  std::deque<std::pair<int64_t, std::string>> resolved_fifo; // (resolvedAt, id), oldest first
  int64_t staff_online = 0;
  std::map<std::pair<uint64_t, std::string>, metrics_subscriber> subs;
  uint64_t next_serial = 1;
  uint64_t changes = 0;
  bool flush_scheduled = false;
};

using metrics_self = metrics_actor::stateful_pointer<metrics_state>;

constexpr int64_t day_ms = 24LL * 3600 * 1000;

/// What the metrics read of an alert (queries.hpp metrics, alert_stats): no text.
alert slim(const alert& a) {
  alert s;
  s.id = a.id;
  s.status = a.status;
  s.urgency_level = a.urgency_level;
  s.escalation_level = a.escalation_level;
  s.created_at = a.created_at;
  s.acknowledged_at = a.acknowledged_at;
  s.resolved_at = a.resolved_at;
  return s;
}

/// Takes in an alert's committed state.
void put(metrics_state& st, const alert& a) {
  st.alerts[a.id] = slim(a);
  if (a.status == alert_status::resolved && a.resolved_at)
    st.resolved_fifo.emplace_back(*a.resolved_at, a.id);
}

/// Forgets alerts resolved more than 24 h ago: no metric counts them any more.
void prune(metrics_state& st) {
  auto horizon = st.rt->now() - day_ms;
  while (!st.resolved_fifo.empty() && st.resolved_fifo.front().first < horizon) {
    auto& [at, id] = st.resolved_fifo.front();
    auto i = st.alerts.find(id);
    if (i != st.alerts.end() && i->second.status == alert_status::resolved
        && i->second.resolved_at == at)
      st.alerts.erase(i);
    st.resolved_fifo.pop_front();
  }
}

json::value current(metrics_state& st) {
  prune(st);
  alert_list list;
  list.reserve(st.alerts.size());
  for (auto& kv : st.alerts)
    list.push_back(&kv.second);
  return metrics(list, static_cast<int>(st.staff_online), st.rt->now());
}

void push_item(metrics_state& st, const subscribe_request& req, const json::value& m) {
  st.rt->out->push_text(req.conn_id, trpc::ws_data(req.id, req.jsonrpc, m, req.superjson));
}

/// Records a change; one item goes to every subscriber after the current burst of messages.
void changed(metrics_self self) {
  auto& st = self->state;
  ++st.changes;
  if (st.flush_scheduled || st.subs.empty())
    return;
  st.flush_scheduled = true;
  self->send(self, metrics_flush_atom::value);
}

metrics_actor::behavior_type metrics_behavior(metrics_self self, runtime_ptr rt,
                                              std::string hospital_id, std::vector<alert> alerts) {
  auto& st = self->state;
  st.rt = std::move(rt);
  st.hospital_id = std::move(hospital_id);
  std::sort(alerts.begin(), alerts.end(), [](const alert& x, const alert& y) {
    return x.resolved_at.value_or(0) < y.resolved_at.value_or(0);
  });
  for (auto& a : alerts)
    put(st, a);
  return {
    [=](const alert_ptr& a) {
      put(self->state, *a);
      // Also here, not only when metrics are read: with nobody asking, the alerts resolved more
      // than 24 h ago would otherwise pile up for the life of the hospital.
      prune(self->state);
      changed(self);
    },
    [=](staff_online_atom, int64_t staff) {
      if (self->state.staff_online == staff)
        return;
      self->state.staff_online = staff;
      changed(self);
    },
    [=](const subscribe_ptr& req) {
      auto& st = self->state;
      auto& s = st.subs[{req->conn_id, req->key}];
      s.req = req;
      s.serial = st.next_serial++;
      s.change_seen = st.changes;
      push_item(st, *req, current(st));
      self->delayed_send(self, milliseconds(req->interval_ms), metrics_tick_atom::value,
                         req->conn_id, req->key, s.serial);
    },
    [=](unsubscribe_atom, uint64_t conn, const std::string& key) {
      auto& st = self->state;
      auto i = st.subs.find({conn, key});
      if (i == st.subs.end())
        return;
      st.rt->out->push_text(conn, trpc::ws_stopped(i->second.req->id, i->second.req->jsonrpc));
      st.subs.erase(i);
    },
    [=](drop_atom, uint64_t conn) {
      auto& st = self->state;
      for (auto i = st.subs.begin(); i != st.subs.end();)
        i = i->first.first == conn ? st.subs.erase(i) : std::next(i);
    },
    [=](metrics_tick_atom, uint64_t conn, const std::string& key, uint64_t serial) {
      auto& st = self->state;
      auto i = st.subs.find({conn, key});
      if (i == st.subs.end() || i->second.serial != serial)
        return;
      push_item(st, *i->second.req, current(st));
      self->delayed_send(self, milliseconds(i->second.req->interval_ms), metrics_tick_atom::value,
                         conn, key, serial);
    },
    [=](metrics_flush_atom) {
      auto& st = self->state;
      st.flush_scheduled = false;
      std::optional<json::value> m;
      for (auto& [k, s] : st.subs) {
        if (s.change_seen >= st.changes)
          continue;
        if (!m)
          m = current(st);
        s.change_seen = st.changes;
        push_item(st, *s.req, *m);
      }
    },
    [=](const call_ptr& c) -> call_result_ptr {
      auto& st = self->state;
      if (c->proc->id == procedure::get_alert_stats) {
        prune(st);
        alert_list list;
        list.reserve(st.alerts.size());
        for (auto& kv : st.alerts)
          list.push_back(&kv.second);
        return call_result::success(alert_stats(list, st.rt->now()));
      }
      return call_result::success(current(st));
    },
    [=](status_atom) {
      auto& st = self->state;
      metrics_status s;
      s.hospital_id = st.hospital_id;
      s.alerts = st.alerts.size();
      s.subscribers = st.subs.size();
      s.mailbox = self->mailbox().size();
      return s;
    },
  };
}

} // namespace

metrics_actor spawn_metrics(caf::local_actor* parent, runtime_ptr rt, std::string hospital_id,
                            const std::vector<alert>& alerts) {
  return parent->spawn<caf::linked>(metrics_behavior, std::move(rt), std::move(hospital_id),
                                    alerts);
}

} // namespace vigil
