#pragma once
// The SQLite event store: the durable event log, the current alert state, idempotency keys and
// the database epoch. A plain class with no CAF dependency: the storage actor owns one instance on
// its own thread; `vigilctl replay` opens one read-only. docs/api.md "Durability"; SQLite settings:
// docs/architecture.md "Stack notes".

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domain/audit.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace vigil::storage {

class audit_store;

/// One stored event. `payload` is the plain JSON text of the event object
/// (`{id,type,alertId,hospitalId,timestamp,data}`); `meta` its superjson meta text (may be empty).
struct stored_event {
  uint64_t seq = 0;
  std::string hospital_id;
  std::string alert_id;
  std::string type;
  int64_t ts = 0;           // ms since epoch
  std::string payload;
  std::string meta;
  int urgency_level = 0;    // filter attributes at the time of the event
  std::string alert_type;
};

/// The current state of one alert. `json` is the alert's JSON including `escalations`.
struct alert_row {
  std::string id;
  std::string hospital_id;
  std::string status;                        // active | acknowledged | resolved
  int64_t created_at = 0;
  std::optional<int64_t> next_escalation_at;
  std::string json;
};

/// An idempotency record: the reply of the first successful createAlert with that key.
struct idempotency_row {
  std::string hospital_id;
  std::string key;
  std::string reply_json;
  int64_t created_at = 0;
};

/// One unit of a commit: an optional event (its `seq` is assigned by commit, and the payload must
/// then carry the id: see `commit`), the alert's new state, and an optional idempotency record.
struct write_item {
  std::optional<stored_event> event;
  std::optional<alert_row> alert;
  std::optional<idempotency_row> idempotency;
};

struct open_options {
  bool read_only = false;
  bool synchronous_full = false;   // storage.synchronous=full
};

/// Not thread-safe: one instance is used from one thread (the connection is opened without
/// SQLite's own mutex). Several instances, in one or more processes, may share a file.
class event_store {
public:
  /// Opens (creating when needed, unless read-only) the database at `path`, creating parent
  /// directories, setting WAL + synchronous, running forward migrations, and creating the epoch
  /// (8 random chars [a-z0-9]) on first use. nullptr with *error set on failure.
  static std::unique_ptr<event_store> open(const std::string& path, const open_options& opts,
                                           std::string* error);
  /// Closes the connection (see close()).
  ~event_store();

  /// Finalizes every prepared statement and closes the connection. When it is the last
  /// connection to the file and read-write, SQLite checkpoints the WAL into the main file and
  /// removes the -wal file, so the file alone is the whole database: close read-only connections
  /// first. No other call may follow (except close() again, which does nothing). False with
  /// *error when SQLite refuses to close at once; the handle is then released as soon as it can.
  bool close(std::string* error);

  const std::string& epoch() const { return epoch_; }
  /// Highest committed seq (0 when none).
  uint64_t last_seq() const { return last_seq_; }
  /// Events with seq <= this may have been pruned by retention (0 when nothing was pruned).
  uint64_t pruned_through() const { return pruned_through_; }

  /// The seq the next committed event will get.
  uint64_t next_seq() const { return last_seq_ + 1; }

  /// True when opened with open_options::read_only (every write then fails).
  bool read_only() const { return read_only_; }
  /// The message of the most recent failure of any call, readers included (readers report a
  /// failure only through an empty result, so this is how a caller tells "none" from "failed").
  /// Empty until something fails; not cleared by later successes.
  const std::string& last_error() const { return last_error_; }

  /// Commits all items in one transaction (BEGIN IMMEDIATE … COMMIT). Events get consecutive seqs
  /// starting at next_seq() in item order; before insertion, `payload_for(seq)` style fix-up is the
  /// caller's job: the caller assigns ids itself from next_seq() because it must embed the id in
  /// the payload. Commit verifies that each event's seq equals the expected next seq. On failure
  /// rolls back, leaves last_seq() unchanged, returns false and sets *error.
  bool commit(const std::vector<write_item>& items, std::string* error);
  /// The same, and appends `audit` (may be null or empty) to the audit trail in the same
  /// transaction: each record gets its seq, prev_hash and hash here (the one global order).
  /// Either both are stored or neither; `audit` alone (no items) is a transaction of its own.
  bool commit(const std::vector<write_item>& items, std::vector<audit_record>* audit,
              std::string* error);

  /// The audit trail on this connection (reads, pruning, the chain's head).
  audit_store& audit() { return *audit_; }

  /// Events of a hospital with seq > after_seq, oldest first, at most `limit`.
  std::vector<stored_event> events_after(const std::string& hospital_id, uint64_t after_seq,
                                         size_t limit);
  /// Events of one alert with seq > after_seq, oldest first, at most `limit`.
  std::vector<stored_event> alert_events_after(const std::string& alert_id, uint64_t after_seq,
                                               size_t limit);
  /// All events (any hospital) with seq > after_seq, oldest first, at most `limit` (replay, verify).
  std::vector<stored_event> all_events_after(uint64_t after_seq, size_t limit);
  /// Newest seq of a hospital's stream (0 when none).
  uint64_t last_seq_of_hospital(const std::string& hospital_id);
  /// Newest seq of an alert's stream (0 when none).
  uint64_t last_seq_of_alert(const std::string& alert_id);

  /// Every alert of a hospital (any status).
  std::vector<alert_row> load_alerts(const std::string& hospital_id);
  /// One alert by id.
  std::optional<alert_row> load_alert(const std::string& alert_id);
  /// The open (active or acknowledged) alerts of a hospital, oldest first.
  std::vector<alert_row> load_open_alerts(const std::string& hospital_id);
  /// The `limit` newest (by createdAt, then id) resolved alerts of a hospital, newest first.
  std::vector<alert_row> load_resolved_newest(const std::string& hospital_id, size_t limit);
  /// The resolved alerts of a hospital whose alert.resolved event is at or after `since_ms`.
  std::vector<alert_row> load_resolved_since(const std::string& hospital_id, int64_t since_ms);
  /// One page of a hospital's alerts created in [from_ms, to_ms], newest first (createdAt, then
  /// id, descending), and how many alerts that range holds; both read in one transaction.
  struct alert_page {
    std::vector<alert_row> rows;
    uint64_t total = 0;
  };
  alert_page history_page(const std::string& hospital_id, int64_t from_ms, int64_t to_ms,
                          size_t limit, size_t offset);
  /// The hospital of an alert (nullopt when there is no such alert).
  std::optional<std::string> hospital_of_alert(const std::string& alert_id);
  /// (alert id, hospital id) of every alert: the start-up alert index.
  std::vector<std::pair<std::string, std::string>> load_alert_index();
  /// A hospital with running escalation timers: its soonest deadline and how many timers.
  struct escalating_hospital {
    std::string hospital_id;
    int64_t earliest_deadline = 0;
    size_t alerts = 0;
  };
  /// Every hospital that has an active alert with an escalation deadline, soonest deadline first:
  /// the hospitals whose timers vigild restores at start-up. Reads only an index.
  std::vector<escalating_hospital> escalating_hospitals();
  /// Every hospital with at least one active alert (start-up). Reads only indexes.
  std::vector<std::string> active_hospitals();
  /// The active alerts of a hospital with an escalation deadline, soonest first.
  std::vector<alert_row> escalations_of_hospital(const std::string& hospital_id);
  /// What a listing filters and sorts by, of one stored alert (resolved_keys).
  struct alert_key_row {
    std::string id;
    int64_t created_at = 0;
    int urgency_level = 3;                          // detailed only
    std::string alert_type;                         // detailed only
    std::optional<std::string> acknowledged_at;     // detailed only: the stored ISO text
  };
  /// The keys of every resolved alert of a hospital, in no particular order; `detailed` adds
  /// urgency, type and acknowledgement time (reads the rows; otherwise only an index).
  std::vector<alert_key_row> resolved_keys(const std::string& hospital_id, bool detailed);
  /// Every alert (vigilctl replay --verify).
  std::vector<alert_row> load_all_alerts();

  /// The stored reply for (hospital, key) if it was created at or after `not_before_ms`.
  std::optional<std::string> find_idempotent(const std::string& hospital_id, const std::string& key,
                                             int64_t not_before_ms);

  /// Every idempotency record of a hospital created at or after `not_before_ms` (hospital warm-up).
  std::vector<idempotency_row> load_idempotency(const std::string& hospital_id,
                                                int64_t not_before_ms);

  /// Deletes up to `max_rows` events older than `before_ms` (and idempotency records older than
  /// 24 h before `now_ms`); advances pruned_through(). Returns the number of events deleted.
  /// On failure returns 0 and sets *error; *error is left untouched on success.
  size_t prune(int64_t before_ms, int64_t now_ms, size_t max_rows, std::string* error);

  /// One alert removed by prune_resolved_alerts.
  struct pruned_alert {
    std::string id;
    std::string hospital_id;
  };
  /// Deletes up to `max_rows` resolved alerts whose resolvedAt is before `before_ms`, oldest
  /// resolution first, in one transaction (retention.resolved-alert-days). Open and acknowledged
  /// alerts are never touched, nor the audit trail. Appends what it deleted to `deleted` (may be
  /// null) and returns how many. The partial index alerts_resolved_at (schema version 7) makes
  /// finding them an index range. On failure returns 0 and sets *error, deleting nothing.
  size_t prune_resolved_alerts(int64_t before_ms, size_t max_rows,
                               std::vector<pruned_alert>* deleted, std::string* error);

  /// Writes a consistent copy of the database to `dest_path` (SQLite online backup).
  bool backup(const std::string& dest_path, std::string* error,
              const std::function<void(uint64_t pages_done, uint64_t pages_total)>& progress = {});

  /// Gives the database a new epoch (`vigilctl restore`): the meta epoch and the id
  /// `<epoch>-<seq>` in every stored event's payload change, seqs stay, all in one transaction.
  /// Ids handed out before can then never be resumed from: a client that presents one gets a
  /// resync. False with *error, changing nothing, on failure (also when a payload does not
  /// start with its id).
  bool start_new_epoch(std::string* error);

  /// A passive WAL checkpoint: copies into the main file what no reader still needs, never
  /// waiting for a lock. The storage actor runs it when commits pause, so that the checkpoint
  /// SQLite runs inside a COMMIT (at wal_autocheckpoint_pages) rarely happens under load.
  /// False with *error on failure.
  bool checkpoint(std::string* error);

  /// A trivial write transaction used by readiness probes; false with *error when storage cannot
  /// commit.
  bool probe(std::string* error);

private:
  event_store() = default;
  bool configure(const open_options& opts, std::string* error);
  bool prepare_statements(std::string* error);
  bool load_state(std::string* error);
  bool fail(const std::string& message, std::string* error);
  std::string sqlite_error(const std::string& what) const;
  void rollback();

  sqlite3* db_ = nullptr;
  std::string epoch_;
  uint64_t last_seq_ = 0;
  uint64_t pruned_through_ = 0;
  bool read_only_ = false;
  std::string last_error_;
  uint64_t probe_count_ = 0;
  struct statements;
  std::unique_ptr<statements> st_;
  std::unique_ptr<audit_store> audit_;
};

} // namespace vigil::storage
