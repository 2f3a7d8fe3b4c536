#include "actors/storage_actor.hpp"

#include <caf/all.hpp>

#include <chrono>

#include "domain/log.hpp"
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
  };
  std::vector<waiting> pending;
  /// Audit records of refused actions, appended with the next flush (bounded: see audit_cap).
  std::vector<audit_record> audit_pending;
  bool flush_scheduled = false;
  int64_t last_prune_ms = 0;
};

using storage_self = storage_actor::stateful_pointer<storage_state>;

/// The alerts-table row of `a` (its json is the stored form, to_json(a, true)).
storage::alert_row alert_row_of(const alert& a) {
  storage::alert_row row;
  row.id = a.id;
  row.hospital_id = a.hospital_id;
  row.status = status_name(a.status);
  row.created_at = a.created_at;
  row.next_escalation_at = a.next_escalation_at;
  json::write(row.json, to_json(a, true));
  return row;
}

/// Refused actions waiting for a flush, at most. Clients can cause refusals (each connection is
/// rate limited, but many connections add up), so the queue is bounded; beyond it records are
/// dropped, counted and logged, never blocking anyone.
constexpr size_t audit_cap = 65536;
constexpr size_t audit_prune_batch = 1000;

void schedule_flush(storage_self self) {
  auto& st = self->state;
  if (st.flush_scheduled)
    return;
  // Runs after every request already queued: that is the group commit.
  st.flush_scheduled = true;
  self->send(self, flush_atom::value);
}

void flush(storage_self self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (st.pending.empty() && st.audit_pending.empty())
    return;
  auto batch = std::move(st.pending);
  st.pending.clear();
  // The chain's order: the mutations of this batch, then the refusals queued since the last one.
  std::vector<audit_record> audit;
  auto refused = std::move(st.audit_pending);
  st.audit_pending.clear();
  auto& epoch = st.rt->epoch;
  // Assign seqs and encode every event once.
  std::vector<storage::write_item> items;
  std::vector<std::shared_ptr<commit_reply>> replies;
  std::vector<std::shared_ptr<encoded_event>> encoded;
  uint64_t seq = st.store->next_seq();
  for (auto& w : batch) {
    auto reply = std::make_shared<commit_reply>();
    for (auto& pw : w.req->writes) {
      storage::write_item item;
      if (!pw.store_event) { // an alert row alone (delivery receipts)
        item.alert = alert_row_of(pw.next);
        items.push_back(std::move(item));
        continue;
      }
      storage::stored_event ev;
      ev.seq = seq++;
      auto id = format_event_id(epoch, ev.seq);
      alert_event e = pw.event;
      e.seq = ev.seq;
      e.id = id;
      auto v = to_json(e);
      json::write(ev.payload, v);
      json::write_meta(ev.meta, v);
      ev.hospital_id = e.hospital_id;
      ev.alert_id = e.alert_id;
      ev.type = e.type;
      ev.ts = e.timestamp;
      ev.urgency_level = e.urgency_level;
      ev.alert_type = e.alert_type;
      item.alert = alert_row_of(pw.next);
      if (pw.audit)
        audit.push_back(*pw.audit);
      if (pw.idempotency_key) {
        storage::idempotency_row idem;
        idem.hospital_id = pw.next.hospital_id;
        idem.key = *pw.idempotency_key;
        idem.reply_json = pw.idempotency_reply;
        idem.created_at = e.timestamp;
        item.idempotency = std::move(idem);
      }
      auto enc = make_encoded_event(ev.seq, id, ev.type, ev.alert_id, ev.urgency_level,
                                    ev.alert_type, ev.payload, ev.meta);
      encoded.push_back(enc);
      reply->events.push_back(std::move(enc));
      item.event = std::move(ev);
      items.push_back(std::move(item));
    }
    replies.push_back(std::move(reply));
  }
  audit.insert(audit.end(), std::make_move_iterator(refused.begin()),
               std::make_move_iterator(refused.end()));
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
    auto done_us = steady_us();
    for (auto& e : encoded)
      e->committed_us = done_us;
  } else {
    if (mutations)
      c.storage_commit_failures++;
    log::error("storage_commit_failed", {{"error", error}, {"items", items.size()},
                                         {"audit_records", audit.size()}});
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& r = replies[i];
    r->ok = ok;
    if (!ok) {
      r->error = error;
      r->events.clear();
    }
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
    case alert_query::kind::resolved:
      out->alerts = parse_alert_rows(store.load_resolved(q.hospital_id));
      break;
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
                                              std::shared_ptr<storage::event_store> store) {
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
      st.pending.push_back({req, rp});
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
      n = std::max(n, audited);
      // Small batches keep writers waiting at most one short transaction; come back soon while
      // there is more to prune, otherwise in a minute.
      self->delayed_send(self, n >= 1000 ? std::chrono::milliseconds(50)
                                         : std::chrono::milliseconds(60000),
                         prune_atom::value);
    },
  };
}

} // namespace

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
  auto h = detached ? sys.spawn<caf::detached>(storage_behavior, std::move(rt), std::move(store))
                    : sys.spawn(storage_behavior, std::move(rt), std::move(store));
  caf::anon_send(h, prune_atom::value);
  return h;
}

} // namespace vigil
