#include "actors/hospital.hpp"
#include "actors/metrics.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <list>
#include <map>
#include <set>
#include <unordered_map>

#include "domain/dates.hpp"
#include "domain/log.hpp"
#include "domain/queries.hpp"
#include "domain/time.hpp"
#include "domain/trpc.hpp"
#include "delivery/counters.hpp"

namespace vigil {

namespace {

using std::chrono::milliseconds;

constexpr size_t catch_up_chunk = 256;
constexpr int64_t idempotency_window_ms = 24LL * 3600 * 1000;
constexpr int64_t failed_commit_retry_ms = 1000;

/// One live subscription of this hospital.
struct subscriber {
  subscribe_ptr req;
  uint64_t serial = 0;        // distinguishes a restarted subscription with the same key
  bool live = true;           // false while catching up (replay)
  bool reading = false;       // a storage page request is in flight
  uint64_t cursor = 0;        // last seq delivered or skipped during catch-up
  uint64_t presence_seen = 0; // presence: likewise
  // catch-up: read from storage, not sent yet. A list, not a deque: an empty std::deque
  // allocates ~600 bytes, kept by every live subscription for its lifetime.
  std::list<encoded_event_ptr> backlog;
  uint64_t backlog_floor = 0; // catch-up: after the backlog, jump the cursor to this seq
};

using sub_key = std::pair<uint64_t, std::string>; // (connection, request id text)

struct hospital_state {
  static inline const char* name = "vigil.hospital";
  runtime_ptr rt;
  std::string hospital_id;
  std::unordered_map<std::string, alert> alerts;
  std::unordered_map<std::string, uint64_t> timer_gen;
  std::deque<encoded_event_ptr> ring;
  uint64_t ring_floor = 0;    // every event of this hospital with seq > ring_floor is in the ring
  uint64_t last_seq = 0;      // newest seq of this hospital's stream
  std::map<sub_key, subscriber> subs;   // ordered by connection: drop() finds a connection's at once
  std::unordered_map<std::string, int> user_refs; // live subscriptions per user (staffOnline)
  size_t presence_subs = 0;
  std::vector<std::pair<uint64_t, out_frame>> fanout; // reused by publish()
  std::vector<std::pair<uint64_t, out_frame>> catch_up_frames; // reused by pump()
  uint64_t next_serial = 1;
  // idempotency: key -> (reply, created_at); keys whose first call is still committing
  std::unordered_map<std::string, std::pair<json::value, int64_t>> idempotent;
  std::unordered_map<std::string, std::vector<caf::response_promise>> idempotent_pending;
  caf::actor metrics;            // this hospital's metrics actor
  bool presence_flush_scheduled = false;
  uint64_t presence_changes = 0; // changes of the online list
};

using hospital_actor = caf::stateful_actor<hospital_state>;

alert_list all_alerts(const hospital_state& st) {
  alert_list out;
  out.reserve(st.alerts.size());
  for (auto& kv : st.alerts)
    out.push_back(&kv.second);
  return out;
}

// ---- presence ------------------------------------------------------------------------------

struct online_user {
  std::string user_id;
  std::optional<std::string> name;
  std::string role;
  int64_t since = 0;
};

std::vector<online_user> online_users(const hospital_state& st) {
  std::unordered_map<std::string, online_user> users;
  for (auto& [k, s] : st.subs) {
    auto& who = *s.req->who;
    auto [i, fresh] = users.try_emplace(who.sub);
    if (fresh) {
      i->second.user_id = who.sub;
      i->second.name = who.name;
      i->second.role = role_name(who.user_role);
      i->second.since = s.req->since_ms;
    } else {
      i->second.since = std::min(i->second.since, s.req->since_ms);
    }
  }
  std::vector<online_user> out;
  out.reserve(users.size());
  for (auto& kv : users)
    out.push_back(std::move(kv.second));
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) {
    return a.since != b.since ? a.since < b.since : a.user_id < b.user_id;
  });
  return out;
}

json::value presence_json(const hospital_state& st, int64_t now) {
  auto users = online_users(st);
  auto list = json::value::make_array();
  for (auto& u : users) {
    auto item = json::value::make_object();
    item.set("userId", u.user_id);
    item.set("name", json::value::string_or_null(u.name));
    item.set("role", u.role);
    item.set("since", json::value::date(u.since));
    list.push(std::move(item));
  }
  auto v = json::value::make_object();
  v.set("hospitalId", st.hospital_id);
  v.set("count", static_cast<int64_t>(users.size()));
  v.set("online", std::move(list));
  v.set("timestamp", json::value::date(now));
  return v;
}

int staff_online(const hospital_state& st) {
  return static_cast<int>(st.user_refs.size());
}

/// Counts a new subscription of its user; true when presence subscribers must hear of it.
/// Incremental, so a storm of subscriptions costs O(1) each, not a scan of all of them.
bool add_user(hospital_state& st, const subscribe_request& req) {
  if (req.kind == stream_kind::presence)
    ++st.presence_subs;
  return ++st.user_refs[req.who->sub] == 1;
}

/// Uncounts a subscription; true when presence subscribers must hear of it (the user left, or,
/// while anyone follows presence, the user's earliest `since` may have changed).
bool remove_user(hospital_state& st, const subscribe_request& req) {
  if (req.kind == stream_kind::presence)
    --st.presence_subs;
  auto i = st.user_refs.find(req.who->sub);
  if (i == st.user_refs.end())
    return false;
  if (--i->second == 0) {
    st.user_refs.erase(i);
    return true;
  }
  return st.presence_subs > 0;
}

// ---- frames --------------------------------------------------------------------------------

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

bool deliver(hospital_state& st, const subscribe_ptr& req, const encoded_event_ptr& ev) {
  counters::get().events_delivered++;
  return st.rt->out->push(req->conn_id, event_frame_for(req, ev));
}

/// The resync event (docs/api.md "Event ids and resume"): one frame, then the stream goes live.
void send_resync(hospital_state& st, const subscribe_ptr& req_ptr, const char* reason,
                 int64_t now) {
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
  deliver(st, req_ptr, enc);
}

// ---- metrics and presence pushes -----------------------------------------------------------

/// Sends the current presence to every presence subscriber that has not seen the last change.
void push_presence_now(hospital_actor* self) {
  auto& st = self->state;
  std::optional<json::value> p;
  for (auto& [k, s] : st.subs) {
    if (s.req->kind != stream_kind::presence || s.presence_seen >= st.presence_changes)
      continue;
    if (!p)
      p = presence_json(st, st.rt->now());
    s.presence_seen = st.presence_changes;
    st.rt->out->push_text(s.req->conn_id, item_frame(*s.req, *p));
  }
}

/// The set of online users changed: the metrics actor learns the new staffOnline at once;
/// presence subscribers get one item after the current burst of messages.
void presence_changed(hospital_actor* self) {
  auto& st = self->state;
  ++st.presence_changes;
  self->send(st.metrics, presence_atom::value, static_cast<int64_t>(staff_online(st)));
  if (st.presence_flush_scheduled)
    return;
  st.presence_flush_scheduled = true;
  self->send(self, metrics_atom::value);
}

// ---- escalation timers ---------------------------------------------------------------------

/// Arms the alert's escalation timer (cancelling any earlier one). `min_delay_ms` keeps a retry
/// after a failed commit from spinning while storage cannot commit.
void schedule_escalation(hospital_actor* self, const alert& a, int64_t min_delay_ms = 0) {
  auto& st = self->state;
  auto gen = ++st.timer_gen[a.id];
  if (a.status != alert_status::active || !a.next_escalation_at)
    return;
  auto delay = std::max(*a.next_escalation_at - st.rt->now(), min_delay_ms);
  if (delay <= 0) {
    // Overdue (e.g. after a restart): fire now; the mailbox keeps the order of these calls,
    // which the warm-up makes the deadline order.
    self->send(self, escalate_atom::value, a.id, gen);
    return;
  }
  self->delayed_send(self, milliseconds(delay), escalate_atom::value, a.id, gen);
}

// ---- publishing ----------------------------------------------------------------------------

void publish(hospital_actor* self, const encoded_event_ptr& ev) {
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
    if (s.live && matches(*s.req, *ev))
      st.fanout.emplace_back(s.req->conn_id, event_frame_for(s.req, ev));
  counters::get().events_delivered += st.fanout.size();
  if (!st.fanout.empty())
    st.rt->out->push_many(st.fanout);
}

using reply_fn = std::function<json::value(const alert&)>;
/// Called with the stored alert once a transition is durable (the audit log line).
using stored_fn = std::function<void(const alert&)>;

/// Stores a transition, then publishes its event and answers `rp` with `make_reply(next)`.
/// The in-memory alert changes at once, so later calls see it (of N concurrent acknowledgements
/// exactly one passes the state check); on a failed commit the change is undone.
void commit_transition(hospital_actor* self, transition t, reply_fn make_reply,
                       caf::response_promise rp, std::optional<std::string> idem_key = {},
                       stored_fn on_stored = {}) {
  auto& st = self->state;
  auto id = t.next.id;
  std::optional<alert> previous;
  if (auto i = st.alerts.find(id); i != st.alerts.end())
    previous = i->second;
  auto reply = make_reply(t.next);
  auto committed = std::make_shared<const alert>(t.next);
  st.alerts[id] = t.next;
  if (!previous)
    st.rt->alerts.put(id, st.hospital_id);
  schedule_escalation(self, t.next);
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
        schedule_escalation(self, *previous, failed_commit_retry_ms);
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
        publish(self, r->events.front());
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

// ---- catch-up (replay) ---------------------------------------------------------------------

void pump(hospital_actor* self, sub_key key, uint64_t serial);

/// Sends the next chunk of a catching-up subscription, from the ring when it covers the cursor,
/// from storage otherwise. A chunk is at most a quarter of the outbound budget, and the pump
/// pauses while the connection's outbox is more than half full, so a large replay never trips
/// the slow-consumer close by itself and never holds up the hospital's other work for long.
void pump(hospital_actor* self, sub_key key, uint64_t serial) {
  auto& st = self->state;
  auto i = st.subs.find(key);
  if (i == st.subs.end() || i->second.serial != serial || i->second.live || i->second.reading)
    return;
  auto& s = i->second;
  auto& out = *st.rt->out;
  auto budget = st.rt->cfg.outbound_budget;
  auto again = [&](int64_t delay_ms) {
    if (delay_ms > 0)
      self->delayed_send(self, milliseconds(delay_ms), tick_atom::value, key.first, key.second,
                         serial, uint64_t{0});
    else
      self->send(self, tick_atom::value, key.first, key.second, serial, uint64_t{0});
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
        pump(self, key, serial);
      },
      [=](caf::error& err) {
        auto& st = self->state;
        auto i = st.subs.find(key);
        if (i == st.subs.end() || i->second.serial != serial)
          return;
        log::error("replay_read_failed", {{"hospital", st.hospital_id},
                                          {"reason", caf::to_string(err)}});
        i->second.reading = false;
        send_resync(st, i->second.req, "unknown_event_id", st.rt->now());
        i->second.live = true;
      });
}

/// Parses "<epoch>-<seq>" of this database; nullopt otherwise.
std::optional<uint64_t> parse_event_id(const std::string& id, const std::string& epoch) {
  if (id.size() <= epoch.size() + 1 || id.compare(0, epoch.size(), epoch) != 0
      || id[epoch.size()] != '-')
    return std::nullopt;
  uint64_t seq = 0;
  auto digits = std::string_view{id}.substr(epoch.size() + 1);
  if (digits.size() > 19)
    return std::nullopt;
  for (char c : digits) {
    if (c < '0' || c > '9')
      return std::nullopt;
    seq = seq * 10 + static_cast<uint64_t>(c - '0');
  }
  return seq;
}

void start_subscription(hospital_actor* self, const subscribe_ptr& req) {
  auto& st = self->state;
  sub_key key{req->conn_id, req->key};
  auto& out = *st.rt->out;
  auto now = st.rt->now();
  subscriber s;
  s.req = req;
  s.serial = st.next_serial++;
  out.push_text(req->conn_id, trpc::ws_started(req->id, req->jsonrpc));
  counters::get().subscriptions_current++;
  // A new subscriber may change staffOnline/presence: the others hear of it in the next flush;
  // the new one starts from its own first item.
  auto& placed = st.subs[key] = s;
  if (add_user(st, *req))
    presence_changed(self);
  placed.presence_seen = st.presence_changes;
  switch (req->kind) {
    case stream_kind::metrics:
      // The metrics actor sends the items (after the staffOnline update sent just above).
      self->send(st.metrics, req);
      return;
    case stream_kind::presence: {
      out.push_text(req->conn_id, item_frame(*req, presence_json(st, now)));
      return;
    }
    case stream_kind::alerts:
    case stream_kind::alert:
      break;
  }
  if (!req->last_event_id)
    return;
  auto seq = parse_event_id(*req->last_event_id, st.rt->epoch);
  if (!seq || *seq > st.rt->last_seq.load()) {
    send_resync(st, req, "unknown_event_id", now);
    return;
  }
  if (*seq < st.rt->pruned_through.load()) {
    send_resync(st, req, "history_expired", now);
    return;
  }
  placed.live = false;
  placed.cursor = *seq;
  pump(self, key, placed.serial);
}

void stop_subscription(hospital_actor* self, uint64_t conn, const std::string& key,
                       bool send_stopped) {
  auto& st = self->state;
  auto i = st.subs.find({conn, key});
  if (i == st.subs.end())
    return;
  if (i->second.req->kind == stream_kind::metrics)
    self->send(st.metrics, unsubscribe_atom::value, conn, key); // it sends `stopped`
  else if (send_stopped)
    st.rt->out->push_text(conn, trpc::ws_stopped(i->second.req->id, i->second.req->jsonrpc));
  bool changed = remove_user(st, *i->second.req);
  st.subs.erase(i);
  counters::get().subscriptions_current--;
  if (changed)
    presence_changed(self);
}

// ---- calls ---------------------------------------------------------------------------------

json::value success_with_alert(const alert& a) {
  auto v = json::value::make_object();
  v.set("success", true);
  v.set("alert", to_json(a));
  return v;
}

caf::result<call_result_ptr> handle_mutation(hospital_actor* self, const call& c) {
  auto& st = self->state;
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
    auto rp = self->make_response_promise<call_result_ptr>();
    if (key) {
      if (auto i = st.idempotent_pending.find(*key); i != st.idempotent_pending.end()) {
        i->second.push_back(rp);
        return rp;
      }
      st.idempotent_pending[*key];
    }
    auto t = create_alert(c.input, who, now, policy, make_uuid_v4());
    commit_transition(self, std::move(t), success_with_alert, rp, key);
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
  auto rp = self->make_response_promise<call_result_ptr>();
  commit_transition(self, std::move(std::get<transition>(r)), reply, rp, std::nullopt,
                    std::move(audit));
  return rp;
}

caf::result<call_result_ptr> handle_query(hospital_actor* self, const call& c) {
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
      auto r = active_alerts(all_alerts(st), c.input);
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
      return call_result::success(active_escalations(all_alerts(st), st.rt->cfg.escalation, now));
    case procedure::get_alert_history:
      return call_result::success(alert_history(all_alerts(st), c.input));
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

// ---- behavior ------------------------------------------------------------------------------

caf::behavior hospital_behavior(hospital_actor* self, runtime_ptr rt, hospital_snapshot_ptr snap) {
  auto& st = self->state;
  st.rt = std::move(rt);
  st.hospital_id = snap->hospital_id;
  st.last_seq = snap->last_seq_of_hospital;
  st.ring_floor = snap->last_seq_of_hospital;
  for (auto& a : snap->alerts)
    st.alerts.emplace(a.id, a);
  st.metrics = spawn_metrics(self, st.rt, st.hospital_id, snap->alerts);
  for (auto& [k, v] : snap->idempotency) {
    std::string err;
    if (auto reply = json::parse(v.first, &err)) {
      mark_timestamp_fields(*reply);
      st.idempotent.emplace(k, std::make_pair(std::move(*reply), v.second));
    }
  }
  // Restart: overdue escalations fire at once, in deadline order; the others get their timers.
  std::vector<const alert*> due;
  for (auto& [id, a] : st.alerts)
    if (a.status == alert_status::active && a.next_escalation_at)
      due.push_back(&a);
  std::sort(due.begin(), due.end(), [](auto* x, auto* y) {
    return *x->next_escalation_at < *y->next_escalation_at;
  });
  for (auto* a : due)
    schedule_escalation(self, *a);
  return {
    [=](const call_ptr& c) -> caf::result<call_result_ptr> {
      if (c->proc->id == procedure::get_metrics || c->proc->id == procedure::get_alert_stats) {
        // Answered by the metrics actor, from the same state that feeds subscribeToMetrics.
        auto rp = self->make_response_promise<call_result_ptr>();
        self->request(self->state.metrics, caf::infinite, c)
          .then([=](const call_result_ptr& r) mutable { rp.deliver(r); },
                [=](caf::error&) mutable {
                  rp.deliver(call_result::failure(trpc_code::internal_server_error,
                                                  "Internal server error"));
                });
        return rp;
      }
      if (c->proc->kind == proc_kind::mutation)
        return handle_mutation(self, *c);
      return handle_query(self, *c);
    },
    [=](const subscribe_ptr& req) { start_subscription(self, req); },
    [=](unsubscribe_atom, uint64_t conn, const std::string& key) {
      stop_subscription(self, conn, key, true);
    },
    [=](drop_atom, uint64_t conn) {
      auto& st = self->state;
      bool changed = false;
      for (auto i = st.subs.lower_bound({conn, std::string{}});
           i != st.subs.end() && i->first.first == conn;) {
        changed |= remove_user(st, *i->second.req);
        i = st.subs.erase(i);
        counters::get().subscriptions_current--;
      }
      self->send(st.metrics, drop_atom::value, conn);
      if (changed)
        presence_changed(self);
    },
    [=](escalate_atom, const std::string& alert_id, uint64_t gen) {
      auto& st = self->state;
      auto g = st.timer_gen.find(alert_id);
      auto i = st.alerts.find(alert_id);
      if (g == st.timer_gen.end() || g->second != gen || i == st.alerts.end())
        return;
      auto& a = i->second;
      if (a.status != alert_status::active || !a.next_escalation_at)
        return;
      auto now = st.rt->now();
      if (*a.next_escalation_at > now) { // the clock fired early: wait for the real deadline
        schedule_escalation(self, a);
        return;
      }
      auto r = escalate_alert(a, st.rt->cfg.escalation, "system", std::string{"timeout"}, now);
      if (auto* t = std::get_if<transition>(&r)) {
        counters::get().escalations_fired++;
        log::info("alert_escalated", {{"hospital", st.hospital_id}, {"alert", alert_id},
                                      {"tier", t->next.escalation_level}, {"by", "system"}});
        commit_transition(self, std::move(*t), success_with_alert,
                          caf::response_promise{});
      }
    },
    [=](tick_atom, uint64_t conn, const std::string& key, uint64_t serial, uint64_t gen) {
      auto& st = self->state;
      auto i = st.subs.find({conn, key});
      if (i == st.subs.end() || i->second.serial != serial)
        return;
      pump(self, {conn, key}, serial); // catch-up continuation
    },
    [=](metrics_atom) {
      self->state.presence_flush_scheduled = false;
      push_presence_now(self);
    },
    [=](caf::get_atom) {
      // Inspection: (alerts, subscribers, ring depth, mailbox size).
      auto& st = self->state;
      return std::vector<uint64_t>{st.alerts.size(), st.subs.size(), st.ring.size(),
                                   self->mailbox().size()};
    },
    [=](escalate_atom) {
      // Inspection for `vigilctl console` (actors/inspector.cpp): alert counts, the connections
      // subscribed here, ring depth, mailbox size and the pending escalation timers, as JSON.
      auto& st = self->state;
      int64_t open = 0, active = 0;
      auto pending = json::value::make_array();
      for (auto& [id, a] : st.alerts) {
        open += a.status != alert_status::resolved;
        active += a.status == alert_status::active;
        if (a.status == alert_status::active && a.next_escalation_at) {
          auto e = json::value::make_object();
          e.set("alert_id", id);
          e.set("tier", a.escalation_level);
          e.set("deadline", *a.next_escalation_at);
          pending.push(std::move(e));
        }
      }
      std::set<uint64_t> conn_ids;
      for (auto& kv : st.subs)
        conn_ids.insert(kv.first.first);
      auto conns = json::value::make_array();
      for (auto id : conn_ids)
        conns.push(id);
      auto v = json::value::make_object();
      v.set("alerts", st.alerts.size());
      v.set("open", open);
      v.set("active", active);
      v.set("subscribers", st.subs.size());
      v.set("connections", std::move(conns));
      v.set("ring_depth", st.ring.size());
      v.set("mailbox", self->mailbox().size());
      v.set("metrics_actor", static_cast<uint64_t>(st.metrics ? st.metrics.id() : 0));
      v.set("escalations", std::move(pending));
      return json::to_string(v);
    },
  };
}

} // namespace

caf::actor spawn_hospital(caf::local_actor* parent, runtime_ptr rt, hospital_snapshot_ptr snap) {
  return parent->spawn(hospital_behavior, std::move(rt), std::move(snap));
}

} // namespace vigil
