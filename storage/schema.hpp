#pragma once
// The event store's schema, its forward migrations and the SQL text of every statement the store
// prepares. Kept apart from event_store.cpp so tests can inspect query plans of the exact SQL.

#include <string>
#include <vector>

struct sqlite3;

namespace vigil::storage {

/// One forward migration: running `sql` on a database at version `version - 1` brings it to
/// `version`. Migrations are applied in order, each at most once.
struct migration {
  int version = 0;
  const char* sql = nullptr;
};

/// Every migration, in ascending version order (versions 1, 2, … without gaps).
const std::vector<migration>& migrations();

/// The schema version this code writes and understands (the last migration's version).
int current_schema_version();

/// Reads `PRAGMA user_version`. False with *error on failure.
bool read_schema_version(sqlite3* db, int* version, std::string* error);

/// What a database file holds before Vigil writes to it.
enum class database_kind {
  empty,    // no schema objects and user_version 0: a new file, Vigil may initialise it
  vigil,    // Vigil's tables (meta with an epoch row, events, alerts): Vigil may migrate it
  foreign,  // anything else: another application's data, never to be changed
};

/// Classifies the database of `db` without writing anything (not even a pragma that writes), so
/// a refused file is left exactly as it was. For `foreign`, *why says what was found (table
/// names, at most a few). False with *error when the file cannot be read.
bool classify_database(sqlite3* db, database_kind* kind, std::string* why, std::string* error);

/// Brings a read-write connection's schema up to current_schema_version() in one
/// BEGIN IMMEDIATE transaction (so concurrent openers serialise), and stores `fresh_epoch` as the
/// epoch unless the database already has one. Fails (changing nothing) when the database's version
/// is newer than this code knows.
bool migrate(sqlite3* db, const std::string& fresh_epoch, std::string* error);

/// For read-only connections: succeeds only when the schema is exactly current_schema_version()
/// (a read-only connection can neither migrate an older file nor understand a newer one).
bool check_schema_read_only(sqlite3* db, std::string* error);

/// SQL text of the prepared statements (parameters are numbered ?1, ?2, …).
namespace sql {
inline constexpr const char* begin_immediate = "BEGIN IMMEDIATE";
inline constexpr const char* commit = "COMMIT";
inline constexpr const char* rollback = "ROLLBACK";

inline constexpr const char* insert_event =
    "INSERT INTO events(seq, hospital_id, alert_id, type, ts, payload, meta, urgency_level, "
    "alert_type) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
inline constexpr const char* upsert_alert =
    "INSERT INTO alerts(id, hospital_id, status, created_at, next_escalation_at, json) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(id) DO UPDATE SET "
    "hospital_id = excluded.hospital_id, status = excluded.status, "
    "created_at = excluded.created_at, next_escalation_at = excluded.next_escalation_at, "
    "json = excluded.json";
// First one wins: a retried createAlert must get the reply of the first success.
inline constexpr const char* insert_idempotency =
    "INSERT OR IGNORE INTO idempotency(hospital_id, key, reply_json, created_at) "
    "VALUES(?1, ?2, ?3, ?4)";
inline constexpr const char* set_meta =
    "INSERT INTO meta(key, value) VALUES(?1, ?2) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value";
inline constexpr const char* get_meta = "SELECT value FROM meta WHERE key = ?1";
inline constexpr const char* max_seq = "SELECT MAX(seq) FROM events";

#define VIGIL_EVENT_COLUMNS \
  "seq, hospital_id, alert_id, type, ts, payload, meta, urgency_level, alert_type"
inline constexpr const char* events_after =
    "SELECT " VIGIL_EVENT_COLUMNS " FROM events WHERE hospital_id = ?1 AND seq > ?2 "
    "ORDER BY seq LIMIT ?3";
inline constexpr const char* alert_events_after =
    "SELECT " VIGIL_EVENT_COLUMNS " FROM events WHERE alert_id = ?1 AND seq > ?2 "
    "ORDER BY seq LIMIT ?3";
inline constexpr const char* all_events_after =
    "SELECT " VIGIL_EVENT_COLUMNS " FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2";
#undef VIGIL_EVENT_COLUMNS
inline constexpr const char* last_seq_of_hospital =
    "SELECT seq FROM events WHERE hospital_id = ?1 ORDER BY seq DESC LIMIT 1";
inline constexpr const char* last_seq_of_alert =
    "SELECT seq FROM events WHERE alert_id = ?1 ORDER BY seq DESC LIMIT 1";

#define VIGIL_ALERT_COLUMNS "id, hospital_id, status, created_at, next_escalation_at, json"
inline constexpr const char* load_alerts =
    "SELECT " VIGIL_ALERT_COLUMNS " FROM alerts WHERE hospital_id = ?1 ORDER BY created_at, id";
inline constexpr const char* load_alert =
    "SELECT " VIGIL_ALERT_COLUMNS " FROM alerts WHERE id = ?1";
inline constexpr const char* load_all_alerts =
    "SELECT " VIGIL_ALERT_COLUMNS " FROM alerts ORDER BY created_at, id";
// Lazy loading (schema v4 indexes): a hospital holds its open alerts and a window of its newest
// resolved ones; the rest is read on demand.
inline constexpr const char* load_open_alerts =
    "SELECT " VIGIL_ALERT_COLUMNS " FROM alerts WHERE hospital_id = ?1 "
    "AND status IN ('active', 'acknowledged') ORDER BY created_at, id";
inline constexpr const char* load_resolved_newest =
    "SELECT " VIGIL_ALERT_COLUMNS " FROM alerts WHERE hospital_id = ?1 AND status = 'resolved' "
    "ORDER BY created_at DESC, id DESC LIMIT ?2";
// Resolved at or after ?2 (by the alert.resolved event's time, which is the alert's resolvedAt):
// what the metrics of the last 24 h count besides the open alerts.
// ?3 is a seq at or before the first event at ?2 (sql::first_seq_since): the hospital's events
// from there are an index range of events_hospital_seq, not the whole day of every hospital.
inline constexpr const char* load_resolved_since =
    "SELECT " VIGIL_ALERT_COLUMNS " FROM alerts WHERE id IN (SELECT alert_id FROM events "
    "WHERE hospital_id = ?1 AND seq >= ?3 AND ts >= ?2 AND type = 'alert.resolved') "
    "AND status = 'resolved'";
// The first event at or after ?1 (seqs follow timestamps up to the few ms a commit takes).
inline constexpr const char* first_seq_since =
    "SELECT seq FROM events WHERE ts >= ?1 ORDER BY ts LIMIT 1";
// getAlertHistory: a page in (created_at DESC, id DESC) order; the inner query walks only the
// index alerts_hospital_created, so an offset skips index entries, not alert rows.
inline constexpr const char* history_page =
    "SELECT " VIGIL_ALERT_COLUMNS " FROM alerts WHERE rowid IN (SELECT rowid FROM alerts "
    "WHERE hospital_id = ?1 AND created_at >= ?2 AND created_at <= ?3 "
    "ORDER BY created_at DESC, id DESC LIMIT ?4 OFFSET ?5) ORDER BY created_at DESC, id DESC";
inline constexpr const char* history_count =
    "SELECT COUNT(*) FROM alerts WHERE hospital_id = ?1 AND created_at >= ?2 AND created_at <= ?3";
inline constexpr const char* hospital_of_alert = "SELECT hospital_id FROM alerts WHERE id = ?1";
// The pending escalations of one hospital, soonest first (the partial index alerts_escalating):
// the console lists them for hospitals whose actor has not started yet.
inline constexpr const char* escalations_of_hospital =
    "SELECT " VIGIL_ALERT_COLUMNS " FROM alerts WHERE hospital_id = ?1 AND status = 'active' "
    "AND next_escalation_at IS NOT NULL ORDER BY next_escalation_at";
#undef VIGIL_ALERT_COLUMNS
// getActiveAlerts with status resolved/all: what it filters and sorts by, for every resolved
// alert of a hospital, without the text. The plain form reads only the index
// alerts_hospital_status_created; the detailed one (a filter or sort on urgencyLevel, alertType
// or acknowledgedAt) reads the rows, but hands back only these fields.
inline constexpr const char* resolved_keys =
    "SELECT id, created_at FROM alerts WHERE hospital_id = ?1 AND status = 'resolved'";
inline constexpr const char* resolved_keys_detailed =
    "SELECT id, created_at, json_extract(json, '$.urgencyLevel'), json_extract(json, '$.alertType'), "
    "json_extract(json, '$.acknowledgedAt') FROM alerts WHERE hospital_id = ?1 AND status = 'resolved'";
// Hospitals with at least one active alert (start-up: the hospitals whose escalation or failsafe
// timers must run without a client). A loose index scan: one seek per hospital in
// alerts_hospital, one in alerts_hospital_status_created; no alert row is read.
inline constexpr const char* active_hospitals =
    "WITH RECURSIVE h(id) AS ("
    "SELECT (SELECT hospital_id FROM alerts ORDER BY hospital_id LIMIT 1) "
    "UNION ALL SELECT (SELECT hospital_id FROM alerts WHERE hospital_id > h.id "
    "ORDER BY hospital_id LIMIT 1) FROM h WHERE h.id IS NOT NULL) "
    "SELECT id FROM h WHERE id IS NOT NULL AND EXISTS (SELECT 1 FROM alerts "
    "WHERE hospital_id = h.id AND status = 'active')";
inline constexpr const char* load_alert_index = "SELECT id, hospital_id FROM alerts ORDER BY id";
// Hospitals with at least one running escalation timer, soonest deadline first (the partial
// index alerts_escalating answers it without touching alert rows).
inline constexpr const char* escalating_hospitals =
    "SELECT hospital_id, MIN(next_escalation_at) AS due, COUNT(*) FROM alerts "
    "WHERE status = 'active' AND next_escalation_at IS NOT NULL "
    "GROUP BY hospital_id ORDER BY due, hospital_id";

inline constexpr const char* find_idempotency =
    "SELECT reply_json FROM idempotency WHERE hospital_id = ?1 AND key = ?2 AND created_at >= ?3";

// Oldest first by timestamp (the ts index yields (ts, seq) order without a sort).
inline constexpr const char* prune_events =
    "DELETE FROM events WHERE seq IN "
    "(SELECT seq FROM events WHERE ts < ?1 ORDER BY ts, seq LIMIT ?2) RETURNING seq";
// Retention of resolved alerts (schema version 7): the oldest resolutions first, an index range of
// alerts_resolved_at (its expression and WHERE must stay exactly these, or SQLite scans the
// table). resolvedAt is stored as ISO-8601 UTC text of fixed width, so text order is time order.
inline constexpr const char* prune_resolved_alerts =
    "DELETE FROM alerts WHERE rowid IN (SELECT rowid FROM alerts WHERE status = 'resolved' "
    "AND json_extract(json, '$.resolvedAt') < ?1 "
    "ORDER BY json_extract(json, '$.resolvedAt') LIMIT ?2) RETURNING id, hospital_id";
inline constexpr const char* load_idempotency =
    "SELECT key, reply_json, created_at FROM idempotency WHERE hospital_id = ?1 AND created_at >= ?2";
inline constexpr const char* prune_idempotency = "DELETE FROM idempotency WHERE created_at < ?1";

// A new epoch for every stored event (vigilctl restore): a payload starts with its id
// `{"id":"<epoch>-<seq>"` (the event object's first key), which becomes ?2's; payloads that do
// not start with their ?1 id are left alone (the caller compares the count of changes).
inline constexpr const char* move_events_to_epoch =
    "UPDATE events SET payload = '{\"id\":\"' || ?2 || '-' || seq || '\"' || "
    "substr(payload, length('{\"id\":\"' || ?1 || '-' || seq || '\"') + 1) "
    "WHERE substr(payload, 1, length('{\"id\":\"' || ?1 || '-' || seq || '\"')) = "
    "'{\"id\":\"' || ?1 || '-' || seq || '\"'";
inline constexpr const char* count_events = "SELECT count(*) FROM events";

// The audit trail (schema version 4).
#define VIGIL_AUDIT_COLUMNS \
  "seq, ts, user_id, role, hospital_id, alert_id, action, outcome, conn_id, remote, prev_hash, hash"
inline constexpr const char* insert_audit =
    "INSERT INTO audit(" VIGIL_AUDIT_COLUMNS ") "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
inline constexpr const char* audit_after =
    "SELECT " VIGIL_AUDIT_COLUMNS " FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2";
// Newest first: a hospital's page before a cursor (index audit_hospital_seq, no sort).
inline constexpr const char* audit_of_hospital_before =
    "SELECT " VIGIL_AUDIT_COLUMNS " FROM audit WHERE hospital_id = ?1 AND seq < ?2 "
    "ORDER BY seq DESC LIMIT ?3";
#undef VIGIL_AUDIT_COLUMNS
inline constexpr const char* audit_head = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";
// The oldest records, for retention: pruning removes a prefix of the chain, never a hole.
inline constexpr const char* audit_oldest =
    "SELECT seq, ts, hash FROM audit ORDER BY seq LIMIT ?1";
inline constexpr const char* prune_audit = "DELETE FROM audit WHERE seq <= ?1";
} // namespace sql

/// Keys of the meta table.
namespace meta_key {
inline constexpr const char* epoch = "epoch";
inline constexpr const char* last_seq = "last_seq";
inline constexpr const char* pruned_through = "pruned_through";
inline constexpr const char* probe = "probe";
inline constexpr const char* audit_last_seq = "audit_last_seq";       // audit high-water mark
inline constexpr const char* audit_anchor_seq = "audit_anchor_seq";   // last pruned audit seq
inline constexpr const char* audit_anchor_hash = "audit_anchor_hash"; // … and its hash
} // namespace meta_key

} // namespace vigil::storage
