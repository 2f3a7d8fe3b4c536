#include "actors/storage_actor.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>

#include "domain/log.hpp"
#include "domain/retention.hpp"
#include "storage/audit_store.hpp"
#include "domain/time.hpp"
#include "delivery/counters.hpp"

#include "domain/event_id.hpp"

namespace vigil {

namespace {

int64_t steady_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

struct storage_state {
  static inline const char* name = "vigil.storage";
  runtime_ptr rt;
  std::shared_ptr<storage::event_store> store;
  struct waiting {
    commit_request_ptr req;
    caf::typed_response_promise<commit_reply_ptr> promise;
    /// Refusals queued before this request arrived: the chain keeps the order things happened.
    size_t refusals_before = 0;
  };
  std::vector<waiting> pending;
  /// Audit records of refused actions, appended with the next flush (bounded: see audit_cap).
  std::vector<audit_record> audit_pending;
  bool flush_scheduled = false;
  int64_t last_prune_ms = 0;
  /// Idle WAL checkpoints (detached storage only; tests under the test coordinator keep their
  /// clock to themselves): commits since the last checkpoint, when the last one finished, and
  /// whether a flush_atom is already on its way to check for idleness.
  bool idle_checkpoints = false;
  bool wal_dirty = false;
  int64_t last_commit_us = 0;
  bool idle_check_armed = false;
};

using storage_self = storage_actor::stateful_pointer<storage_state>;

/// The alerts-table row of `a` with its JSON (to_json(a, true) as text).
storage::alert_row alert_row_of(const alert& a, std::string json) {
  storage::alert_row row;
  row.id = a.id;
  row.hospital_id = a.hospital_id;
  row.status = status_name(a.status);
  row.created_at = a.created_at;
  row.next_escalation_at = a.next_escalation_at;
  row.json = std::move(json);
  return row;
}

/// Refused actions waiting for a flush, at most. Clients can cause refusals (each connection is
/// rate limited, but many connections add up), so the queue is bounded; beyond it records are
/// dropped, counted and logged, never blocking anyone.
constexpr size_t audit_cap = 65536;
constexpr size_t audit_prune_batch = 1000;

/// How long after start-up the first retention prune round runs (then every minute).
constexpr std::chrono::seconds first_prune_delay{10};

void schedule_flush(storage_self self) {
  auto& st = self->state;
  if (st.flush_scheduled)
    return;
  // Runs after every request already queued: that is the group commit.
  st.flush_scheduled = true;
  self->send(self, flush_atom::value);
}

/// Commits pause for this long: checkpoint the WAL then, off the commit path.
constexpr int64_t idle_checkpoint_us = 250000;

void arm_idle_check(storage_self self) {
  auto& st = self->state;
  if (!st.idle_checkpoints || st.idle_check_armed)
    return;
  st.idle_check_armed = true;
  self->delayed_send(self, std::chrono::microseconds(idle_checkpoint_us), flush_atom::value);
}

/// A flush with nothing to commit: when commits paused long enough, a passive checkpoint.
void idle_check(storage_self self) {
  auto& st = self->state;
  st.idle_check_armed = false;
  if (!st.wal_dirty)
    return;
  if (steady_us() - st.last_commit_us < idle_checkpoint_us) {
    arm_idle_check(self);
    return;
  }
  st.wal_dirty = false;
  std::string err;
  if (!st.store->checkpoint(&err))
    log::warn("storage_checkpoint_failed", {{"error", err}});
}

void flush(storage_self self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (st.pending.empty() && st.audit_pending.empty()) {
    idle_check(self);
    return;
  }
  auto batch = std::move(st.pending);
  st.pending.clear();
  // The chain's order is arrival order: each mutation's record after the refusals that reached
  // this actor before it (a refused call answered before the next call was made comes first).
  std::vector<audit_record> audit;
  auto refused = std::move(st.audit_pending);
  st.audit_pending.clear();
  size_t refused_taken = 0;
  auto take_refused = [&](size_t upto) {
    upto = std::min(upto, refused.size());
    for (; refused_taken < upto; ++refused_taken)
      audit.push_back(std::move(refused[refused_taken]));
  };
  auto& epoch = st.rt->epoch;
  // Assign seqs; the texts were encoded by the hospital actors (encode_write), so this thread
  // only puts the id into each payload, binds and steps.
  std::vector<storage::write_item> items;
  std::vector<std::shared_ptr<commit_reply>> replies;
  uint64_t seq = st.store->next_seq();
  for (auto& w : batch) {
    take_refused(w.refusals_before);
    replies.push_back(std::make_shared<commit_reply>());
    for (auto& given : w.req->writes) {
      const pending_write* pw = &given;
      std::optional<pending_write> local; // a write nobody encoded (tests): encoded here
      if (!given.encoded) {
        local = given;
        encode_write(*local, alert_text(local->next), local->event.type == "alert.created");
        pw = &*local;
      }
      storage::write_item item;
      item.alert = alert_row_of(pw->next, pw->row_json);
      if (!pw->store_event) { // an alert row alone (delivery receipts)
        items.push_back(std::move(item));
        continue;
      }
      storage::stored_event ev;
      ev.seq = seq++;
      ev.payload = event_payload(format_event_id(epoch, ev.seq), pw->event_rest);
      ev.meta = pw->event_meta;
      const alert_event& e = pw->event;
      ev.hospital_id = e.hospital_id;
      ev.alert_id = e.alert_id;
      ev.type = e.type;
      ev.ts = e.timestamp;
      ev.urgency_level = e.urgency_level;
      ev.alert_type = e.alert_type;
      if (pw->audit)
        audit.push_back(*pw->audit);
      if (pw->idempotency_key) {
        storage::idempotency_row idem;
        idem.hospital_id = pw->next.hospital_id;
        idem.key = *pw->idempotency_key;
        idem.reply_json = pw->idempotency_reply;
        idem.created_at = e.timestamp;
        item.idempotency = std::move(idem);
      }
      item.event = std::move(ev);
      items.push_back(std::move(item));
    }
  }
  take_refused(refused.size());
  auto t0 = std::chrono::steady_clock::now();
  std::string error;
  bool ok = st.store->commit(items, &audit, &error);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
              std::chrono::steady_clock::now() - t0).count();
  auto& c = counters::get();
  // The storage metrics describe the commits of mutations (what callers wait for); a commit of
  // refused actions' audit records alone is not one of them.
  const bool mutations = !batch.empty();
  if (mutations) {
    c.storage_commits++;
    c.storage_commit_items += items.size();
    c.storage_commit_us_total += static_cast<uint64_t>(us);
    c.storage_commit.observe_us(us);
  }
  if (ok) {
    st.rt->last_seq = st.store->last_seq();
    st.wal_dirty = true;
    st.last_commit_us = steady_us();
    arm_idle_check(self);
    // The events as published, in the order of the requests: the stored texts move into them.
    auto done_us = steady_us();
    size_t next_item = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      for (size_t k = 0; k < batch[i].req->writes.size(); ++k) {
        auto& item = items[next_item++];
        if (!item.event)
          continue;
        auto& ev = *item.event;
        auto enc = make_encoded_event(ev.seq, format_event_id(epoch, ev.seq), std::move(ev.type),
                                      std::move(ev.alert_id), ev.urgency_level,
                                      std::move(ev.alert_type), std::move(ev.payload),
                                      std::move(ev.meta));
        enc->committed_us = done_us;
        replies[i]->events.push_back(std::move(enc));
      }
    }
  } else {
    if (mutations)
      c.storage_commit_failures++;
    log::error("storage_commit_failed", {{"error", error}, {"items", items.size()},
                                         {"audit_records", audit.size()}});
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& r = replies[i];
    r->ok = ok;
    if (!ok)
      r->error = error;
    r->last_seq = st.store->last_seq();
    batch[i].promise.deliver(commit_reply_ptr{r});
  }
}

/// Alert rows as alerts; an unreadable row is logged and left out.
std::vector<alert> parse_alert_rows(const std::vector<storage::alert_row>& rows) {
  std::vector<alert> out;
  out.reserve(rows.size());
  for (auto& row : rows) {
    std::string err;
    auto v = json::parse(row.json, &err);
    std::optional<alert> a;
    if (v)
      a = alert_from_json(*v);
    if (!a) {
      log::error("storage_alert_unreadable", {{"alert", row.id}});
      continue;
    }
    out.push_back(std::move(*a));
  }
  return out;
}

/// A hospital's snapshot: its open alerts and its `storage.resolved-window` newest resolved ones
/// (whether that is all of them), its newest seq and its recent idempotency keys. Each part is an
/// index range, not every row of the hospital. (The alerts resolved within 24 h, which only the
/// metrics count, are read by the metrics actor when it is first asked: kind::resolved_since.)
hospital_snapshot_ptr load_snapshot(storage::event_store& store, const runtime& rt,
                                    const std::string& hospital) {
  auto snap = std::make_shared<hospital_snapshot>();
  snap->hospital_id = hospital;
  snap->alerts = parse_alert_rows(store.load_open_alerts(hospital));
  size_t window = rt.cfg.resolved_window;
  auto resolved = store.load_resolved_newest(hospital, window + 1);
  snap->complete = resolved.size() <= window;
  if (!snap->complete)
    resolved.pop_back();
  for (auto& a : parse_alert_rows(resolved))
    snap->alerts.push_back(std::move(a));
  constexpr int64_t day_ms = 24LL * 3600 * 1000;
  snap->last_seq_of_hospital = store.last_seq_of_hospital(hospital);
  for (auto& row : store.load_idempotency(hospital, rt.now() - day_ms))
    snap->idempotency.emplace(row.key, std::make_pair(row.reply_json, row.created_at));
  return snap;
}

/// Alerts a hospital does not hold in memory.
alert_rows_ptr query_alerts(storage::event_store& store, const alert_query& q) {
  auto out = std::make_shared<alert_rows>();
  auto error_before = store.last_error();
  switch (q.what) {
    case alert_query::kind::one:
      if (auto row = store.load_alert(q.alert_id); row && row->hospital_id == q.hospital_id)
        out->alerts = parse_alert_rows({*row});
      break;
    case alert_query::kind::history: {
      auto page = store.history_page(q.hospital_id, q.from_ms, q.to_ms, q.limit, q.offset);
      out->alerts = parse_alert_rows(page.rows);
      out->total = page.total;
      break;
    }
    case alert_query::kind::keys: {
      auto rows = store.resolved_keys(q.hospital_id, q.detailed);
      out->keys.reserve(rows.size());
      for (auto& r : rows) {
        alert_key k;
        k.id = std::move(r.id);
        k.status = alert_status::resolved;
        k.created_at = r.created_at;
        k.urgency_level = r.urgency_level;
        k.alert_type = std::move(r.alert_type);
        if (r.acknowledged_at)
          k.acknowledged_at = parse_iso(*r.acknowledged_at);
        out->keys.push_back(std::move(k));
      }
      break;
    }
    case alert_query::kind::ids:
      for (auto& id : q.ids)
        if (auto row = store.load_alert(id); row && row->hospital_id == q.hospital_id)
          for (auto& a : parse_alert_rows({*row}))
            out->alerts.push_back(std::move(a));
      break;
    case alert_query::kind::resolved_since:
      out->alerts = parse_alert_rows(store.load_resolved_since(q.hospital_id, q.from_ms));
      break;
    case alert_query::kind::escalations:
      for (auto& h : q.ids)
        for (auto& a : parse_alert_rows(store.escalations_of_hospital(h)))
          out->alerts.push_back(std::move(a));
      break;
  }
  if (store.last_error() != error_before) {
    out->ok = false;
    out->error = store.last_error();
  }
  return out;
}

/// A page of stored events of a hospital or of one alert.
event_page_ptr read_page(storage::event_store& store, const runtime& rt, const read_request& req) {
  auto page = std::make_shared<event_page>();
  auto rows = req.alert_id.empty() ? store.events_after(req.hospital_id, req.after_seq, req.limit)
                                   : store.alert_events_after(req.alert_id, req.after_seq, req.limit);
  page->events.reserve(rows.size());
  for (auto& row : rows)
    page->events.push_back(encode_stored(rt.epoch, row));
  return page;
}

/// Closes a storage connection when its actor is told to stop. This runs before the actor ends,
/// and vigild ends the process as soon as it saw the storage actors go: a connection left open
/// then would leave the database spread over the main file and its WAL.
void close_store(storage::event_store& store, const char* connection) {
  std::string err;
  if (!store.close(&err))
    log::warn("storage_close_failed", {{"connection", connection}, {"error", err}});
}

struct reader_state {
  static inline const char* name = "vigil.storage_reader";
  runtime_ptr rt;
  std::shared_ptr<storage::event_store> store;
};

storage_reader_actor::behavior_type
reader_behavior(storage_reader_actor::stateful_pointer<reader_state> self, runtime_ptr rt,
                std::shared_ptr<storage::event_store> store) {
  self->state.rt = std::move(rt);
  self->state.store = std::move(store);
  self->set_exit_handler([=](caf::exit_msg& msg) {
    close_store(*self->state.store, "reader");
    self->quit(msg.reason);
  });
  return {
    [=](load_atom, const std::string& hospital) {
      return load_snapshot(*self->state.store, *self->state.rt, hospital);
    },
    [=](read_atom, const read_request_ptr& req) {
      return read_page(*self->state.store, *self->state.rt, *req);
    },
    [=](const alert_query_ptr& q) { return query_alerts(*self->state.store, *q); },
    // Readiness: the reader's thread serves its mailbox (hospital loads go through here).
    [=](status_atom) {
      storage_status s;
      s.ok = true;
      s.last_seq = self->state.rt->last_seq.load();
      return s;
    },
  };
}

storage_actor::behavior_type storage_behavior(storage_self self, runtime_ptr rt,
                                              std::shared_ptr<storage::event_store> store,
                                              bool idle_checkpoints) {
  self->state.idle_checkpoints = idle_checkpoints;
  self->state.rt = std::move(rt);
  self->state.store = std::move(store);
  // A stop first commits what is still waiting for the next flush, then closes.
  self->set_exit_handler([=](caf::exit_msg& msg) {
    flush(self);
    close_store(*self->state.store, "writer");
    self->quit(msg.reason);
  });
  return {
    [=](commit_atom, const commit_request_ptr& req) -> caf::result<commit_reply_ptr> {
      auto& st = self->state;
      auto rp = self->make_response_promise<commit_reply_ptr>();
      st.pending.push_back({req, rp, st.audit_pending.size()});
      schedule_flush(self);
      return rp;
    },
    [=](flush_atom) { flush(self); },
    [=](audit_atom, const audit_records_ptr& records) {
      auto& st = self->state;
      size_t room = audit_cap - std::min(audit_cap, st.audit_pending.size());
      size_t take = std::min(room, records->size());
      st.audit_pending.insert(st.audit_pending.end(), records->begin(), records->begin() + take);
      if (take < records->size())
        log::warn("audit_records_dropped", {{"records", records->size() - take},
                                            {"reason", "queue_full"}});
      schedule_flush(self);
    },
    [=](audit_page_atom, const audit_page_request_ptr& req) {
      auto& st = self->state;
      // What was refused or committed before this request is in the page (read your writes).
      flush(self);
      auto page = std::make_shared<audit_page>();
      page->records = st.store->audit().hospital_page(req->hospital_id, req->before_seq,
                                                      req->limit, &page->error);
      if (!page->error.empty())
        log::error("audit_read_failed", {{"error", page->error}});
      return audit_page_ptr{page};
    },
    [=](load_atom, const std::string& hospital) {
      return load_snapshot(*self->state.store, *self->state.rt, hospital);
    },
    [=](read_atom, const read_request_ptr& req) {
      return read_page(*self->state.store, *self->state.rt, *req);
    },
    [=](const alert_query_ptr& q) { return query_alerts(*self->state.store, *q); },
    // Readiness and shutdown: everything sent before it is committed when it answers, and `ok`
    // says whether the store can commit now.
    [=](status_atom) {
      auto& st = self->state;
      storage_status s;
      s.writer = true;
      std::string err;
      s.ok = st.store->probe(&err);
      if (!s.ok)
        log::warn("storage_probe_failed", {{"error", err}});
      s.pending_commits = st.pending.size();
      s.last_seq = st.rt->last_seq.load();
      return s;
    },
    [=](prune_atom) {
      auto& st = self->state;
      const int64_t started = now_ms();
      auto now = st.rt->now();
      auto before = now - static_cast<int64_t>(st.rt->cfg.retention_days) * 86400000LL;
      std::string err;
      size_t n = st.store->prune(before, now, 1000, &err);
      st.rt->pruned_through = st.store->pruned_through();
      if (!err.empty())
        log::warn("storage_prune_failed", {{"error", err}});
      else if (n > 0)
        log::info("storage_pruned", {{"events", static_cast<uint64_t>(n)}});
      // The audit trail has its own, longer retention; a batch per round as for events.
      std::string audit_err;
      auto audit_before = now - static_cast<int64_t>(st.rt->cfg.audit_retention_days) * 86400000LL;
      size_t audited = st.store->audit().prune(audit_before, audit_prune_batch, &audit_err);
      if (!audit_err.empty())
        log::warn("audit_prune_failed", {{"error", audit_err}});
      else if (audited > 0)
        log::info("audit_pruned", {{"records", static_cast<uint64_t>(audited)}});
      // Resolved alerts past retention.resolved-alert-days (never open ones, never the audit
      // trail); hospitals stop holding them by the same horizon (hospital_window.cpp).
      size_t alerts_pruned = 0;
      if (auto horizon = resolved_alert_horizon(st.rt->cfg, now)) {
        std::string alert_err;
        alerts_pruned = st.store->prune_resolved_alerts(*horizon, 1000, nullptr, &alert_err);
        if (!alert_err.empty())
          log::warn("alert_prune_failed", {{"error", alert_err}});
        else if (alerts_pruned > 0)
          log::info("alerts_pruned", {{"alerts", static_cast<uint64_t>(alerts_pruned)}});
      }
      log::debug("storage_prune_round", {{"prune_ms", now_ms() - started}});
      n = std::max({n, audited, alerts_pruned});
      // Small batches keep writers waiting at most one short transaction; come back soon while
      // there is more to prune, otherwise in a minute.
      self->delayed_send(self, n >= 1000 ? std::chrono::milliseconds(50)
                                         : std::chrono::milliseconds(60000),
                         prune_atom::value);
    },
  };
}

} // namespace

void encode_write(pending_write& w, const json_text& alert, bool data_is_alert) {
  w.row_json = alert_row_text(alert.plain, w.next);
  if (w.store_event) {
    auto text = encode_event_text(w.event, data_is_alert ? &alert : nullptr);
    w.event_rest = std::move(text.rest);
    w.event_meta = std::move(text.meta);
  }
  w.encoded = true;
}

storage_reader_actor spawn_storage_reader(caf::actor_system& sys, runtime_ptr rt,
                                std::shared_ptr<storage::event_store> store) {
  return sys.spawn<caf::detached>(reader_behavior, std::move(rt), std::move(store));
}

encoded_event_ptr encode_stored(const std::string& epoch, const storage::stored_event& e) {
  return make_encoded_event(e.seq, format_event_id(epoch, e.seq), e.type, e.alert_id, e.urgency_level,
                            e.alert_type, e.payload, e.meta);
}

storage_actor spawn_storage(caf::actor_system& sys, runtime_ptr rt,
                         std::shared_ptr<storage::event_store> store, bool detached) {
  auto h = detached
             ? sys.spawn<caf::detached>(storage_behavior, std::move(rt), std::move(store), true)
             : sys.spawn(storage_behavior, std::move(rt), std::move(store), false);
  // The first prune round waits a little: on a cold page cache it reads for most of a second,
  // and at start-up the writer's thread is needed at once (the /ready probe's commit, the
  // restored hospitals' overdue escalations).
  caf::delayed_anon_send(h, first_prune_delay, prune_atom::value);
  return h;
}

} // namespace vigil
