#include "actors/metrics.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <unordered_map>

#include "domain/log.hpp"
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

using call_promise = caf::typed_response_promise<call_result_ptr>;

struct metrics_state {
  static inline const char* name = "vigil.metrics";
  runtime_ptr rt;
  std::string hospital_id;
  /// Open alerts and those resolved within 24 h (older ones count in no metric), slimmed to
  /// the fields the metrics read.
  std::unordered_map<std::string, alert_figures> alerts;
  std::deque<std::pair<int64_t, std::string>> resolved_fifo; // (resolvedAt, id), oldest first
  int64_t staff_online = 0;
  std::map<std::pair<uint64_t, std::string>, metrics_subscriber> subs;
  uint64_t next_serial = 1;
  uint64_t changes = 0;
  bool flush_scheduled = false;
  /// `alerts` holds every alert resolved within 24 h; until then they are read on first use.
  bool loaded = true;
  bool loading = false;
  /// Calls and subscriptions waiting for that read (bounded: max_waiting).
  std::vector<std::pair<call_ptr, call_promise>> waiting_calls;
  std::vector<subscribe_ptr> waiting_subs;
};

using metrics_self = metrics_actor::stateful_pointer<metrics_state>;

constexpr int64_t day_ms = 24LL * 3600 * 1000;
/// Calls and subscriptions that may wait for the first read of the day's resolved alerts; more
/// are refused (SERVICE_UNAVAILABLE) rather than queued without bound.
constexpr size_t max_waiting = 4096;

/// Takes in an alert's committed state.
void put(metrics_state& st, const alert& a) {
  st.alerts[a.id] = figures_of(a);
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

figures_list current_list(metrics_state& st) {
  prune(st);
  figures_list list;
  list.reserve(st.alerts.size());
  for (auto& kv : st.alerts)
    list.push_back(&kv.second);
  return list;
}

json::value current(metrics_state& st) {
  return metrics(current_list(st), static_cast<int>(st.staff_online), st.rt->now());
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

call_result_ptr answer(metrics_state& st, const call& c) {
  if (c.proc->id == procedure::get_alert_stats)
    return call_result::success(alert_stats(current_list(st), st.rt->now()));
  return call_result::success(current(st));
}

void start_subscription(metrics_self self, const subscribe_ptr& req) {
  auto& st = self->state;
  auto& s = st.subs[{req->conn_id, req->key}];
  s.req = req;
  s.serial = st.next_serial++;
  s.change_seen = st.changes;
  push_item(st, *req, current(st));
  self->delayed_send(self, milliseconds(req->interval_ms), metrics_tick_atom::value,
                     req->conn_id, req->key, s.serial);
}

/// The alerts resolved within 24 h arrived (or could not be read: `rows` null or not ok; the
/// waiting calls then fail, and the next one tries again).
void take_resolved(metrics_self self, const alert_rows* rows) {
  auto& st = self->state;
  st.loading = false;
  auto calls = std::move(st.waiting_calls);
  st.waiting_calls.clear();
  auto subs = std::move(st.waiting_subs);
  st.waiting_subs.clear();
  if (rows == nullptr || !rows->ok) {
    for (auto& [c, rp] : calls)
      rp.deliver(call_result::failure(trpc_code::internal_server_error,
                                      "Failed to read the alerts"));
    for (auto& req : subs)
      st.rt->out->push_text(req->conn_id, trpc::ws_stopped(req->id, req->jsonrpc));
    return;
  }
  // What the hospital sent meanwhile is newer than storage: only missing alerts are added.
  for (auto& a : rows->alerts)
    if (st.alerts.count(a.id) == 0)
      put(st, a);
  std::sort(st.resolved_fifo.begin(), st.resolved_fifo.end());
  st.loaded = true;
  for (auto& [c, rp] : calls)
    rp.deliver(answer(st, *c));
  for (auto& req : subs)
    start_subscription(self, req);
}

/// Reads the alerts resolved within 24 h unless a read is under way.
void load_resolved(metrics_self self) {
  auto& st = self->state;
  if (st.loading)
    return;
  st.loading = true;
  auto q = std::make_shared<alert_query>();
  q->what = alert_query::kind::resolved_since;
  q->hospital_id = st.hospital_id;
  q->from_ms = st.rt->now() - day_ms;
  self->request(st.rt->reader(), caf::infinite, alert_query_ptr{q})
    .then([=](const alert_rows_ptr& rows) { take_resolved(self, rows.get()); },
          [=](caf::error& err) {
            log::error("alert_read_failed", {{"hospital", self->state.hospital_id},
                                             {"reason", caf::to_string(err)}});
            take_resolved(self, nullptr);
          });
}

metrics_actor::behavior_type metrics_behavior(metrics_self self, runtime_ptr rt,
                                              std::string hospital_id, std::vector<alert> alerts,
                                              bool complete) {
  auto& st = self->state;
  st.rt = std::move(rt);
  st.hospital_id = std::move(hospital_id);
  st.loaded = complete;
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
      if (st.loaded) {
        start_subscription(self, req);
        return;
      }
      if (st.waiting_calls.size() + st.waiting_subs.size() >= max_waiting) {
        st.rt->out->push_text(req->conn_id, trpc::ws_stopped(req->id, req->jsonrpc));
        return;
      }
      st.waiting_subs.push_back(req);
      load_resolved(self);
    },
    [=](unsubscribe_atom, uint64_t conn, const std::string& key) {
      auto& st = self->state;
      auto w = std::find_if(st.waiting_subs.begin(), st.waiting_subs.end(), [&](auto& r) {
        return r->conn_id == conn && r->key == key;
      });
      if (w != st.waiting_subs.end()) {
        st.rt->out->push_text(conn, trpc::ws_stopped((*w)->id, (*w)->jsonrpc));
        st.waiting_subs.erase(w);
        return;
      }
      auto i = st.subs.find({conn, key});
      if (i == st.subs.end())
        return;
      st.rt->out->push_text(conn, trpc::ws_stopped(i->second.req->id, i->second.req->jsonrpc));
      st.subs.erase(i);
    },
    [=](drop_atom, uint64_t conn) {
      auto& st = self->state;
      st.waiting_subs.erase(std::remove_if(st.waiting_subs.begin(), st.waiting_subs.end(),
                                           [&](auto& r) { return r->conn_id == conn; }),
                            st.waiting_subs.end());
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
    [=](const call_ptr& c) -> caf::result<call_result_ptr> {
      auto& st = self->state;
      if (st.loaded)
        return answer(st, *c);
      if (st.waiting_calls.size() + st.waiting_subs.size() >= max_waiting)
        return call_result::failure(trpc_code::service_unavailable,
                                    "The metrics are being loaded; try again");
      auto rp = self->make_response_promise<call_result_ptr>();
      st.waiting_calls.emplace_back(c, rp);
      load_resolved(self);
      return rp;
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
                            const std::vector<alert>& alerts, bool complete) {
  return parent->spawn<caf::linked>(metrics_behavior, std::move(rt), std::move(hospital_id),
                                    alerts, complete);
}

} // namespace vigil
