#include "storage/event_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <system_error>

#include "domain/event_id.hpp"
#include "domain/time.hpp"
#include "storage/audit_store.hpp"
#include "storage/rows.hpp"
#include "storage/schema.hpp"
#include "storage/statement.hpp"

namespace vigil::storage {

namespace {

constexpr int busy_timeout_ms = 5000;
/// WAL pages after which a COMMIT checkpoints: SQLite's default, set explicitly. 16,384 halved
/// the mean commit under saturation but put one 64 MiB checkpoint (about 200 ms) inside a COMMIT
/// now and then: the round trip's p99 at 500 creates/s went from 31-58 ms to 180-480 ms
/// (docs/benchmarks.md "Durable event log" §1). Idle checkpoints (checkpoint()) take most of
/// the work off the commit path when commits pause; durability depends on neither.
constexpr int wal_autocheckpoint_pages = 1000;
constexpr int64_t idempotency_window_ms = 24LL * 60 * 60 * 1000;
constexpr int backup_pages_per_step = 256;
constexpr int backup_max_busy_retries = 500;
constexpr size_t epoch_length = event_epoch_length;
constexpr char epoch_alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

bool bind_event(sqlite3_stmt* s, const stored_event& e) {
  // 0 and "" mean "unknown" in stored_event; store them as NULL so they read back the same.
  return bind_int(s, 1, to_sql_int(e.seq)) && bind_text(s, 2, e.hospital_id) &&
         bind_text(s, 3, e.alert_id) && bind_text(s, 4, e.type) && bind_int(s, 5, e.ts) &&
         bind_text(s, 6, e.payload) && bind_text(s, 7, e.meta) &&
         (e.urgency_level != 0 ? bind_int(s, 8, e.urgency_level) : bind_null(s, 8)) &&
         (!e.alert_type.empty() ? bind_text(s, 9, e.alert_type) : bind_null(s, 9));
}

bool bind_alert(sqlite3_stmt* s, const alert_row& a) {
  return bind_text(s, 1, a.id) && bind_text(s, 2, a.hospital_id) && bind_text(s, 3, a.status) &&
         bind_int(s, 4, a.created_at) &&
         (a.next_escalation_at ? bind_int(s, 5, *a.next_escalation_at) : bind_null(s, 5)) &&
         bind_text(s, 6, a.json);
}

bool bind_idempotency(sqlite3_stmt* s, const idempotency_row& r) {
  return bind_text(s, 1, r.hospital_id) && bind_text(s, 2, r.key) &&
         bind_text(s, 3, r.reply_json) && bind_int(s, 4, r.created_at);
}

std::string make_epoch() {
  std::random_device device;
  std::uniform_int_distribution<size_t> pick(0, sizeof(epoch_alphabet) - 2);
  std::string epoch(epoch_length, 'a');
  for (char& c : epoch) c = epoch_alphabet[pick(device)];
  return epoch;
}

bool is_in_memory(const std::string& path) { return path == ":memory:"; }

/// Creates the parent directories of `path` (nothing to do for a bare file name).
bool create_parent_dirs(const std::string& path, std::string* message) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return true;
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) {
    *message = "cannot create directory " + parent.string() + ": " + ec.message();
    return false;
  }
  return true;
}

void set_error(std::string* error, const std::string& message) {
  if (error != nullptr) *error = message;
}

} // namespace

struct event_store::statements {
  statement begin, commit, rollback;
  statement insert_event, upsert_alert, insert_idempotency, set_meta, get_meta, max_seq;
  statement events_after, alert_events_after, all_events_after;
  statement last_seq_of_hospital, last_seq_of_alert;
  statement load_alerts, load_alert, load_all_alerts, load_alert_index, escalating_hospitals;
  statement load_open_alerts, load_resolved_newest, load_resolved_since;
  statement history_page, history_count, hospital_of_alert, first_seq_since;
  statement find_idempotency, load_idempotency, prune_events, prune_idempotency;
  statement prune_resolved_alerts;
  statement active_hospitals, escalations_of_hospital, resolved_keys, resolved_keys_detailed;
};

// ---------------------------------------------------------------------------------------------
// Opening

std::unique_ptr<event_store> event_store::open(const std::string& path, const open_options& opts,
                                               std::string* error) {
  if (path.empty()) {
    set_error(error, "open database: empty path");
    return nullptr;
  }
  std::unique_ptr<event_store> store(new event_store());
  store->read_only_ = opts.read_only;
  std::string message;
  if (!is_in_memory(path)) {
    if (opts.read_only) {
      std::error_code ec;
      if (!std::filesystem::exists(path, ec)) {
        set_error(error, "open database " + path + " read-only: file does not exist");
        return nullptr;
      }
    } else if (!create_parent_dirs(path, &message)) {
      set_error(error, "open database " + path + ": " + message);
      return nullptr;
    }
  }
  // NOMUTEX: an instance is used by one thread only, so SQLite's serialisation is pure overhead.
  const int flags = SQLITE_OPEN_NOMUTEX |
                    (opts.read_only ? SQLITE_OPEN_READONLY
                                    : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  const int rc = sqlite3_open_v2(path.c_str(), &store->db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    set_error(error, "open database " + path + ": " +
                         (store->db_ != nullptr ? sqlite3_errmsg(store->db_) : sqlite3_errstr(rc)));
    return nullptr;  // the destructor closes the half-opened handle
  }
  if (!store->configure(opts, &message) || !store->prepare_statements(&message) ||
      !store->load_state(&message) || !(store->audit_ = audit_store::open(store->db_, &message))) {
    set_error(error, "open database " + path + ": " + message);
    return nullptr;
  }
  return store;
}

event_store::~event_store() { close(nullptr); }

bool event_store::close(std::string* error) {
  if (db_ == nullptr) return true;
  st_.reset();  // statements must be finalized before the connection closes
  audit_.reset();
  // sqlite3_close (not _v2) reports a statement still open instead of deferring the close.
  if (sqlite3_close(db_) == SQLITE_OK) {
    db_ = nullptr;
    return true;
  }
  const std::string message = sqlite_error("close");
  sqlite3_close_v2(db_);
  db_ = nullptr;
  return fail(message, error);
}

bool event_store::configure(const open_options& opts, std::string* error) {
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, busy_timeout_ms);
  // Before anything writes (journal_mode=WAL is persistent): another application's database
  // must stay exactly as it is.
  database_kind kind = database_kind::empty;
  std::string why;
  if (!classify_database(db_, &kind, &why, error)) return false;
  if (kind == database_kind::foreign) {
    *error = "not a vigil database: " + why + "; refusing to use or change it";
    return false;
  }
  if (opts.read_only) {
    // No pragma that writes: the file's WAL mode is persistent and a reader needs nothing else.
    return check_schema_read_only(db_, error);
  }
  // journal_mode answers with the mode in effect; anything but wal (memory for :memory:) means
  // the file could not be switched.
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "PRAGMA journal_mode=WAL", -1, &s, nullptr) != SQLITE_OK) {
    *error = sqlite_error("set journal_mode=WAL");
    return false;
  }
  std::string mode;
  if (sqlite3_step(s) == SQLITE_ROW) mode = column_text(s, 0);
  else *error = sqlite_error("set journal_mode=WAL");
  sqlite3_finalize(s);
  if (mode.empty()) return false;
  if (mode != "wal" && mode != "memory") {
    *error = "set journal_mode=WAL: the database stays in mode " + mode;
    return false;
  }
  // Debian builds with DEFAULT_WAL_SYNCHRONOUS=2 (FULL), so NORMAL must be set per connection.
  const char* sync = opts.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
  if (sqlite3_exec(db_, sync, nullptr, nullptr, nullptr) != SQLITE_OK) {
    *error = sqlite_error(sync);
    return false;
  }
  sqlite3_wal_autocheckpoint(db_, wal_autocheckpoint_pages);
  return migrate(db_, make_epoch(), error);
}

bool event_store::prepare_statements(std::string* error) {
  st_ = std::make_unique<statements>();
  const std::pair<statement*, const char*> all[] = {
      {&st_->begin, sql::begin_immediate},
      {&st_->commit, sql::commit},
      {&st_->rollback, sql::rollback},
      {&st_->insert_event, sql::insert_event},
      {&st_->upsert_alert, sql::upsert_alert},
      {&st_->insert_idempotency, sql::insert_idempotency},
      {&st_->set_meta, sql::set_meta},
      {&st_->get_meta, sql::get_meta},
      {&st_->max_seq, sql::max_seq},
      {&st_->events_after, sql::events_after},
      {&st_->alert_events_after, sql::alert_events_after},
      {&st_->all_events_after, sql::all_events_after},
      {&st_->last_seq_of_hospital, sql::last_seq_of_hospital},
      {&st_->last_seq_of_alert, sql::last_seq_of_alert},
      {&st_->load_alerts, sql::load_alerts},
      {&st_->load_alert, sql::load_alert},
      {&st_->load_all_alerts, sql::load_all_alerts},
      {&st_->load_alert_index, sql::load_alert_index},
      {&st_->escalating_hospitals, sql::escalating_hospitals},
      {&st_->load_open_alerts, sql::load_open_alerts},
      {&st_->load_resolved_newest, sql::load_resolved_newest},
      {&st_->load_resolved_since, sql::load_resolved_since},
      {&st_->history_page, sql::history_page},
      {&st_->history_count, sql::history_count},
      {&st_->hospital_of_alert, sql::hospital_of_alert},
      {&st_->first_seq_since, sql::first_seq_since},
      {&st_->find_idempotency, sql::find_idempotency},
      {&st_->load_idempotency, sql::load_idempotency},
      {&st_->prune_events, sql::prune_events},
      {&st_->prune_idempotency, sql::prune_idempotency},
      {&st_->prune_resolved_alerts, sql::prune_resolved_alerts},
      {&st_->active_hospitals, sql::active_hospitals},
      {&st_->escalations_of_hospital, sql::escalations_of_hospital},
      {&st_->resolved_keys, sql::resolved_keys},
      {&st_->resolved_keys_detailed, sql::resolved_keys_detailed},
  };
  for (const auto& [stmt, text] : all) {
    if (!stmt->prepare(db_, text)) {
      *error = sqlite_error(std::string("prepare \"") + text + "\"");
      return false;
    }
  }
  return true;
}

bool event_store::load_state(std::string* error) {
  // Reads one meta value; *found is false when the key is absent.
  auto read_meta = [&](const char* key, std::string* value, bool* found) {
    use_of u(st_->get_meta);
    if (!bind_text(u.get(), 1, key)) {
      *error = sqlite_error(std::string("read meta ") + key);
      return false;
    }
    const int rc = sqlite3_step(u.get());
    *found = rc == SQLITE_ROW;
    if (*found) *value = column_text(u.get(), 0);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      *error = sqlite_error(std::string("read meta ") + key);
      return false;
    }
    return true;
  };
  auto read_meta_u64 = [&](const char* key, uint64_t* out) {
    std::string text;
    bool found = false;
    if (!read_meta(key, &text, &found)) return false;
    *out = 0;
    if (found && !parse_u64(text, out)) {
      *error = std::string("meta ") + key + " is not a non-negative integer: '" + text + "'";
      return false;
    }
    return true;
  };

  bool found = false;
  if (!read_meta(meta_key::epoch, &epoch_, &found)) return false;
  if (!found || !is_valid_epoch(epoch_)) {
    *error = found ? "meta epoch is malformed: '" + epoch_ + "'" : "database has no epoch";
    return false;
  }
  uint64_t meta_last_seq = 0;
  if (!read_meta_u64(meta_key::last_seq, &meta_last_seq) ||
      !read_meta_u64(meta_key::pruned_through, &pruned_through_))
    return false;
  use_of u(st_->max_seq);
  if (sqlite3_step(u.get()) != SQLITE_ROW) {
    *error = sqlite_error("read max(seq)");
    return false;
  }
  // The high-water mark in meta keeps seqs from being reused after pruning the newest events.
  last_seq_ = std::max(meta_last_seq, column_seq(u.get(), 0));
  return true;
}

// ---------------------------------------------------------------------------------------------
// Errors and transactions

std::string event_store::sqlite_error(const std::string& what) const {
  return what + ": " + sqlite3_errmsg(db_) + " (sqlite code " +
         std::to_string(sqlite3_extended_errcode(db_)) + ")";
}

bool event_store::fail(const std::string& message, std::string* error) {
  last_error_ = message;
  set_error(error, message);
  return false;
}

void event_store::rollback() {
  // Some errors (I/O, full disk) already rolled the transaction back.
  if (sqlite3_get_autocommit(db_) != 0) return;
  use_of u(st_->rollback);
  sqlite3_step(u.get());
}

// ---------------------------------------------------------------------------------------------
// Writing

bool event_store::commit(const std::vector<write_item>& items, std::string* error) {
  return commit(items, nullptr, error);
}

bool event_store::commit(const std::vector<write_item>& items, std::vector<audit_record>* audit,
                         std::string* error) {
  if (read_only_) return fail("commit: the store is read-only", error);
  const bool audited = audit != nullptr && !audit->empty();
  // Check the seqs up front: a mismatch is a caller bug and must not touch the database.
  uint64_t expected = last_seq_;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].event) continue;
    ++expected;
    if (items[i].event->seq != expected)
      return fail("commit: item " + std::to_string(i) + " has event seq " +
                      std::to_string(items[i].event->seq) + ", expected " +
                      std::to_string(expected),
                  error);
  }
  if (items.empty() && !audited) return true;

  {
    use_of u(st_->begin);
    if (!step_done(u.get())) return fail(sqlite_error("commit: begin"), error);
  }
  // Runs one statement (of item `index`, when given); on failure takes its message before
  // rolling back. The message is only built on failure: this is the hot path.
  constexpr size_t no_item = std::numeric_limits<size_t>::max();
  auto run = [&](const statement& s, auto&& bind, const char* what, size_t index) -> bool {
    use_of u(s);
    if (bind(u.get()) && step_done(u.get())) return true;
    const std::string item = index == no_item ? "" : "item " + std::to_string(index) + ": ";
    const std::string message = sqlite_error("commit: " + item + what);
    rollback();
    fail(message, error);
    return false;
  };
  for (size_t i = 0; i < items.size(); ++i) {
    const write_item& item = items[i];
    if (item.event &&
        !run(st_->insert_event, [&](sqlite3_stmt* s) { return bind_event(s, *item.event); },
             "insert event", i))
      return false;
    if (item.alert &&
        !run(st_->upsert_alert, [&](sqlite3_stmt* s) { return bind_alert(s, *item.alert); },
             "upsert alert", i))
      return false;
    if (item.idempotency &&
        !run(st_->insert_idempotency,
             [&](sqlite3_stmt* s) { return bind_idempotency(s, *item.idempotency); },
             "insert idempotency key", i))
      return false;
  }
  // The high-water mark, so seqs are never reused even when the newest events get pruned.
  if (expected != last_seq_ &&
      !run(st_->set_meta,
           [&](sqlite3_stmt* s) {
             return bind_text(s, 1, meta_key::last_seq) && bind_int(s, 2, to_sql_int(expected));
           },
           "store last_seq", no_item))
    return false;
  if (audited) {
    std::string message;
    if (!audit_->append(*audit, &message)) {
      rollback();
      audit_->rolled_back();
      return fail("commit: " + message, error);
    }
  }
  if (!run(st_->commit, [](sqlite3_stmt*) { return true; }, "commit", no_item)) {
    if (audited) audit_->rolled_back();
    return false;
  }
  if (audited) audit_->committed();
  last_seq_ = expected;
  return true;
}

bool event_store::checkpoint(std::string* error) {
  if (read_only_) return fail("checkpoint: the store is read-only", error);
  const int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  // BUSY: another connection holds a lock this moment; the next idle checkpoint does it.
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) return fail(sqlite_error("checkpoint"), error);
  return true;
}

size_t event_store::prune(int64_t before_ms, int64_t now_ms, size_t max_rows, std::string* error) {
  if (read_only_) {
    fail("prune: the store is read-only", error);
    return 0;
  }
  {
    use_of u(st_->begin);
    if (!step_done(u.get())) {
      fail(sqlite_error("prune: begin"), error);
      return 0;
    }
  }
  auto give_up = [&](const std::string& what) -> size_t {
    const std::string message = sqlite_error("prune: " + what);
    rollback();
    fail(message, error);
    return 0;
  };

  size_t deleted = 0;
  uint64_t max_deleted = 0;
  {
    use_of u(st_->prune_events);
    if (!bind_int(u.get(), 1, before_ms) || !bind_int(u.get(), 2, to_sql_int(max_rows)))
      return give_up("bind");
    int rc;
    while ((rc = sqlite3_step(u.get())) == SQLITE_ROW) {
      ++deleted;
      max_deleted = std::max(max_deleted, column_seq(u.get(), 0));
    }
    if (rc != SQLITE_DONE) return give_up("delete events");
  }
  {
    // Saturate instead of overflowing for absurd now_ms values.
    const int64_t min = std::numeric_limits<int64_t>::min();
    const int64_t cutoff = now_ms < min + idempotency_window_ms ? min : now_ms - idempotency_window_ms;
    use_of u(st_->prune_idempotency);
    if (!bind_int(u.get(), 1, cutoff) || !step_done(u.get()))
      return give_up("delete idempotency keys");
  }
  const uint64_t new_pruned_through = std::max(pruned_through_, max_deleted);
  if (new_pruned_through != pruned_through_) {
    use_of u(st_->set_meta);
    if (!bind_text(u.get(), 1, meta_key::pruned_through) ||
        !bind_int(u.get(), 2, to_sql_int(new_pruned_through)) || !step_done(u.get()))
      return give_up("store pruned_through");
  }
  {
    use_of u(st_->commit);
    if (!step_done(u.get())) return give_up("commit");
  }
  pruned_through_ = new_pruned_through;
  return deleted;
}

size_t event_store::prune_resolved_alerts(int64_t before_ms, size_t max_rows,
                                          std::vector<pruned_alert>* deleted,
                                          std::string* error) {
  if (read_only_) {
    fail("prune resolved alerts: the store is read-only", error);
    return 0;
  }
  if (max_rows == 0) return 0;
  {
    use_of u(st_->begin);
    if (!step_done(u.get())) {
      fail(sqlite_error("prune resolved alerts: begin"), error);
      return 0;
    }
  }
  auto give_up = [&](const std::string& what) -> size_t {
    const std::string message = sqlite_error("prune resolved alerts: " + what);
    rollback();
    fail(message, error);
    return 0;
  };
  // The stored form of resolvedAt (json::value::date), so the comparison is the index's.
  const std::string before = format_iso(before_ms);
  std::vector<pruned_alert> rows;
  {
    use_of u(st_->prune_resolved_alerts);
    if (!bind_text(u.get(), 1, before) || !bind_int(u.get(), 2, to_sql_int(max_rows)))
      return give_up("bind");
    int rc;
    while ((rc = sqlite3_step(u.get())) == SQLITE_ROW)
      rows.push_back({column_text(u.get(), 0), column_text(u.get(), 1)});
    if (rc != SQLITE_DONE) return give_up("delete");
  }
  {
    use_of u(st_->commit);
    if (!step_done(u.get())) return give_up("commit");
  }
  const size_t n = rows.size();
  if (deleted != nullptr)
    deleted->insert(deleted->end(), std::make_move_iterator(rows.begin()),
                    std::make_move_iterator(rows.end()));
  return n;
}

bool event_store::probe(std::string* error) {
  if (read_only_) return fail("probe: the store is read-only", error);
  {
    use_of u(st_->begin);
    if (!step_done(u.get())) return fail(sqlite_error("probe: begin"), error);
  }
  auto give_up = [&](const std::string& what) {
    const std::string message = sqlite_error("probe: " + what);
    rollback();
    return fail(message, error);
  };
  {
    // A changing value, so the write is real and not optimised into a no-op by anyone.
    use_of u(st_->set_meta);
    if (!bind_text(u.get(), 1, meta_key::probe) ||
        !bind_int(u.get(), 2, to_sql_int(++probe_count_)) || !step_done(u.get()))
      return give_up("write");
  }
  use_of u(st_->commit);
  if (!step_done(u.get())) return give_up("commit");
  return true;
}

bool event_store::backup(const std::string& dest_path, std::string* error,
                         const std::function<void(uint64_t, uint64_t)>& progress) {
  if (dest_path.empty()) return fail("backup: empty destination path", error);
  std::string message;
  if (!is_in_memory(dest_path) && !create_parent_dirs(dest_path, &message))
    return fail("backup to " + dest_path + ": " + message, error);
  sqlite3* dest = nullptr;
  int rc = sqlite3_open_v2(dest_path.c_str(), &dest,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  auto dest_error = [&](const std::string& what) {
    return "backup to " + dest_path + ": " + what + ": " +
           (dest != nullptr ? sqlite3_errmsg(dest) : sqlite3_errstr(rc));
  };
  if (rc != SQLITE_OK) {
    message = dest_error("open");
    sqlite3_close_v2(dest);
    return fail(message, error);
  }
  sqlite3_busy_timeout(dest, busy_timeout_ms);
  sqlite3_backup* b = sqlite3_backup_init(dest, "main", db_, "main");
  if (b == nullptr) {
    message = dest_error("start");
    sqlite3_close_v2(dest);
    return fail(message, error);
  }
  // Copy in chunks so a large database does not hold the source's read lock in one long step.
  int busy_retries = 0;
  do {
    rc = sqlite3_backup_step(b, backup_pages_per_step);
    if (progress && (rc == SQLITE_OK || rc == SQLITE_DONE)) {
      auto total = static_cast<uint64_t>(sqlite3_backup_pagecount(b));
      progress(total - static_cast<uint64_t>(sqlite3_backup_remaining(b)), total);
    }
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && ++busy_retries <= backup_max_busy_retries) {
      sqlite3_sleep(10);
      rc = SQLITE_OK;
    }
  } while (rc == SQLITE_OK);
  sqlite3_backup_finish(b);
  bool ok = rc == SQLITE_DONE;
  if (!ok) {
    message = "backup to " + dest_path + ": copy: " + sqlite3_errstr(rc);
    if (sqlite3_errcode(dest) != SQLITE_OK) message += std::string(" (") + sqlite3_errmsg(dest) + ")";
  }
  if (sqlite3_close_v2(dest) != SQLITE_OK && ok) {
    message = dest_error("close");
    ok = false;
  }
  return ok ? true : fail(message, error);
}

bool event_store::start_new_epoch(std::string* error) {
  if (read_only_) return fail("new epoch: the store is read-only", error);
  std::string fresh = make_epoch();
  while (fresh == epoch_) fresh = make_epoch();
  // Non-persistent statements: this runs once in the life of a database.
  auto run = [&](const char* text, auto&& bind, int64_t* changes, int64_t* value) {
    sqlite3_stmt* s = nullptr;
    bool ok = sqlite3_prepare_v2(db_, text, -1, &s, nullptr) == SQLITE_OK && bind(s);
    int rc = ok ? sqlite3_step(s) : SQLITE_ERROR;
    if (rc == SQLITE_ROW && value != nullptr) *value = sqlite3_column_int64(s, 0);
    ok = ok && (rc == SQLITE_DONE || rc == SQLITE_ROW);
    if (changes != nullptr) *changes = sqlite3_changes64(db_);
    sqlite3_finalize(s);
    return ok;
  };
  auto no_bind = [](sqlite3_stmt*) { return true; };
  auto give_up = [&](const std::string& message) {
    rollback();
    return fail("new epoch: " + message, error);
  };
  {
    use_of u(st_->begin);
    if (!step_done(u.get())) return fail(sqlite_error("new epoch: begin"), error);
  }
  int64_t events = 0, moved = 0;
  if (!run(sql::count_events, no_bind, nullptr, &events)) return give_up(sqlite_error("count"));
  auto bind_epochs = [&](sqlite3_stmt* s) {
    return bind_text(s, 1, epoch_) && bind_text(s, 2, fresh);
  };
  if (!run(sql::move_events_to_epoch, bind_epochs, &moved, nullptr))
    return give_up(sqlite_error("rewrite event ids"));
  if (moved != events)
    return give_up(std::to_string(events - moved) + " of " + std::to_string(events) +
                   " events do not start with their id " + epoch_ + "-<seq>");
  {
    use_of u(st_->set_meta);
    if (!bind_text(u.get(), 1, meta_key::epoch) || !bind_text(u.get(), 2, fresh) ||
        !step_done(u.get()))
      return give_up(sqlite_error("store the epoch"));
  }
  use_of u(st_->commit);
  if (!step_done(u.get())) return give_up(sqlite_error("commit"));
  epoch_ = fresh;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Reading

namespace {

/// Steps a bound query to the end, converting each row; false (and `out` cleared) on failure.
template <typename Row, typename Read>
bool read_rows(sqlite3_stmt* s, std::vector<Row>* out, Read read) {
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out->push_back(read(s));
  if (rc == SQLITE_DONE) return true;
  out->clear();
  return false;
}

int64_t to_sql_limit(size_t limit) { return to_sql_int(static_cast<uint64_t>(limit)); }

} // namespace

std::vector<stored_event> event_store::events_after(const std::string& hospital_id,
                                                    uint64_t after_seq, size_t limit) {
  std::vector<stored_event> out;
  use_of u(st_->events_after);
  if (!bind_text(u.get(), 1, hospital_id) || !bind_int(u.get(), 2, to_sql_int(after_seq)) ||
      !bind_int(u.get(), 3, to_sql_limit(limit)) || !read_rows(u.get(), &out, read_event))
    fail(sqlite_error("events_after"), nullptr);
  return out;
}

std::vector<stored_event> event_store::alert_events_after(const std::string& alert_id,
                                                          uint64_t after_seq, size_t limit) {
  std::vector<stored_event> out;
  use_of u(st_->alert_events_after);
  if (!bind_text(u.get(), 1, alert_id) || !bind_int(u.get(), 2, to_sql_int(after_seq)) ||
      !bind_int(u.get(), 3, to_sql_limit(limit)) || !read_rows(u.get(), &out, read_event))
    fail(sqlite_error("alert_events_after"), nullptr);
  return out;
}

std::vector<stored_event> event_store::all_events_after(uint64_t after_seq, size_t limit) {
  std::vector<stored_event> out;
  use_of u(st_->all_events_after);
  if (!bind_int(u.get(), 1, to_sql_int(after_seq)) || !bind_int(u.get(), 2, to_sql_limit(limit)) ||
      !read_rows(u.get(), &out, read_event))
    fail(sqlite_error("all_events_after"), nullptr);
  return out;
}

namespace {

/// Runs a `SELECT seq … LIMIT 1` bound to `key`: the seq, 0 when there is no row, nullopt on error.
std::optional<uint64_t> newest_seq(sqlite3_stmt* s, const std::string& key) {
  if (!bind_text(s, 1, key)) return std::nullopt;
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return column_seq(s, 0);
  if (rc == SQLITE_DONE) return uint64_t{0};
  return std::nullopt;
}

} // namespace

uint64_t event_store::last_seq_of_hospital(const std::string& hospital_id) {
  use_of u(st_->last_seq_of_hospital);
  const auto seq = newest_seq(u.get(), hospital_id);
  if (!seq) fail(sqlite_error("last_seq_of_hospital"), nullptr);
  return seq.value_or(0);
}

uint64_t event_store::last_seq_of_alert(const std::string& alert_id) {
  use_of u(st_->last_seq_of_alert);
  const auto seq = newest_seq(u.get(), alert_id);
  if (!seq) fail(sqlite_error("last_seq_of_alert"), nullptr);
  return seq.value_or(0);
}

std::vector<alert_row> event_store::load_alerts(const std::string& hospital_id) {
  std::vector<alert_row> out;
  use_of u(st_->load_alerts);
  if (!bind_text(u.get(), 1, hospital_id) || !read_rows(u.get(), &out, read_alert))
    fail(sqlite_error("load_alerts"), nullptr);
  return out;
}

std::optional<alert_row> event_store::load_alert(const std::string& alert_id) {
  use_of u(st_->load_alert);
  if (!bind_text(u.get(), 1, alert_id)) {
    fail(sqlite_error("load_alert"), nullptr);
    return std::nullopt;
  }
  const int rc = sqlite3_step(u.get());
  if (rc == SQLITE_ROW) return read_alert(u.get());
  if (rc != SQLITE_DONE) fail(sqlite_error("load_alert"), nullptr);
  return std::nullopt;
}

std::vector<alert_row> event_store::load_open_alerts(const std::string& hospital_id) {
  std::vector<alert_row> out;
  use_of u(st_->load_open_alerts);
  if (!bind_text(u.get(), 1, hospital_id) || !read_rows(u.get(), &out, read_alert))
    fail(sqlite_error("load_open_alerts"), nullptr);
  return out;
}

std::vector<alert_row> event_store::load_resolved_newest(const std::string& hospital_id,
                                                         size_t limit) {
  std::vector<alert_row> out;
  use_of u(st_->load_resolved_newest);
  if (!bind_text(u.get(), 1, hospital_id) || !bind_int(u.get(), 2, to_sql_limit(limit)) ||
      !read_rows(u.get(), &out, read_alert))
    fail(sqlite_error("load_resolved_newest"), nullptr);
  return out;
}

std::vector<alert_row> event_store::load_resolved_since(const std::string& hospital_id,
                                                        int64_t since_ms) {
  std::vector<alert_row> out;
  // Events are committed in time order give or take a commit's duration: a minute of margin.
  constexpr int64_t margin_ms = 60000;
  uint64_t first_seq = 0;
  {
    use_of u(st_->first_seq_since);
    if (!bind_int(u.get(), 1, since_ms - margin_ms)) {
      fail(sqlite_error("load_resolved_since"), nullptr);
      return out;
    }
    const int rc = sqlite3_step(u.get());
    if (rc == SQLITE_DONE) return out;  // no event since
    if (rc != SQLITE_ROW) {
      fail(sqlite_error("load_resolved_since"), nullptr);
      return out;
    }
    first_seq = column_seq(u.get(), 0);
  }
  use_of u(st_->load_resolved_since);
  if (!bind_text(u.get(), 1, hospital_id) || !bind_int(u.get(), 2, since_ms) ||
      !bind_int(u.get(), 3, to_sql_int(first_seq)) || !read_rows(u.get(), &out, read_alert))
    fail(sqlite_error("load_resolved_since"), nullptr);
  return out;
}

event_store::alert_page event_store::history_page(const std::string& hospital_id, int64_t from_ms,
                                                  int64_t to_ms, size_t limit, size_t offset) {
  alert_page page;
  // One read transaction: the count and the page see the same commits.
  const bool own_txn = sqlite3_get_autocommit(db_) != 0;
  if (own_txn) sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr);
  {
    use_of u(st_->history_count);
    if (!bind_text(u.get(), 1, hospital_id) || !bind_int(u.get(), 2, from_ms) ||
        !bind_int(u.get(), 3, to_ms) || sqlite3_step(u.get()) != SQLITE_ROW)
      fail(sqlite_error("history_count"), nullptr);
    else
      page.total = column_seq(u.get(), 0);
  }
  {
    use_of u(st_->history_page);
    if (!bind_text(u.get(), 1, hospital_id) || !bind_int(u.get(), 2, from_ms) ||
        !bind_int(u.get(), 3, to_ms) || !bind_int(u.get(), 4, to_sql_limit(limit)) ||
        !bind_int(u.get(), 5, to_sql_limit(offset)) ||
        !read_rows(u.get(), &page.rows, read_alert))
      fail(sqlite_error("history_page"), nullptr);
  }
  if (own_txn) sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  return page;
}

std::optional<std::string> event_store::hospital_of_alert(const std::string& alert_id) {
  use_of u(st_->hospital_of_alert);
  if (!bind_text(u.get(), 1, alert_id)) {
    fail(sqlite_error("hospital_of_alert"), nullptr);
    return std::nullopt;
  }
  const int rc = sqlite3_step(u.get());
  if (rc == SQLITE_ROW) return column_text(u.get(), 0);
  if (rc != SQLITE_DONE) fail(sqlite_error("hospital_of_alert"), nullptr);
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> event_store::load_alert_index() {
  std::vector<std::pair<std::string, std::string>> out;
  use_of u(st_->load_alert_index);
  auto read = [](sqlite3_stmt* s) { return std::make_pair(column_text(s, 0), column_text(s, 1)); };
  if (!read_rows(u.get(), &out, read)) fail(sqlite_error("load_alert_index"), nullptr);
  return out;
}

std::vector<event_store::escalating_hospital> event_store::escalating_hospitals() {
  std::vector<escalating_hospital> out;
  use_of u(st_->escalating_hospitals);
  auto read = [](sqlite3_stmt* s) {
    escalating_hospital h;
    h.hospital_id = column_text(s, 0);
    h.earliest_deadline = sqlite3_column_int64(s, 1);
    h.alerts = static_cast<size_t>(sqlite3_column_int64(s, 2));
    return h;
  };
  if (!read_rows(u.get(), &out, read)) fail(sqlite_error("escalating_hospitals"), nullptr);
  return out;
}

std::vector<std::string> event_store::active_hospitals() {
  std::vector<std::string> out;
  use_of u(st_->active_hospitals);
  auto read = [](sqlite3_stmt* s) { return column_text(s, 0); };
  if (!read_rows(u.get(), &out, read)) fail(sqlite_error("active_hospitals"), nullptr);
  return out;
}

std::vector<alert_row> event_store::escalations_of_hospital(const std::string& hospital_id) {
  std::vector<alert_row> out;
  use_of u(st_->escalations_of_hospital);
  if (!bind_text(u.get(), 1, hospital_id) || !read_rows(u.get(), &out, read_alert))
    fail(sqlite_error("escalations_of_hospital"), nullptr);
  return out;
}

std::vector<event_store::alert_key_row> event_store::resolved_keys(const std::string& hospital_id,
                                                                   bool detailed) {
  std::vector<alert_key_row> out;
  use_of u(detailed ? st_->resolved_keys_detailed : st_->resolved_keys);
  auto read = [detailed](sqlite3_stmt* s) {
    alert_key_row k;
    k.id = column_text(s, 0);
    k.created_at = sqlite3_column_int64(s, 1);
    if (detailed) {
      k.urgency_level = sqlite3_column_int(s, 2);
      k.alert_type = column_text(s, 3);
      if (sqlite3_column_type(s, 4) == SQLITE_TEXT) k.acknowledged_at = column_text(s, 4);
    }
    return k;
  };
  if (!bind_text(u.get(), 1, hospital_id) || !read_rows(u.get(), &out, read))
    fail(sqlite_error("resolved_keys"), nullptr);
  return out;
}

std::vector<alert_row> event_store::load_all_alerts() {
  std::vector<alert_row> out;
  use_of u(st_->load_all_alerts);
  if (!read_rows(u.get(), &out, read_alert)) fail(sqlite_error("load_all_alerts"), nullptr);
  return out;
}

std::optional<std::string> event_store::find_idempotent(const std::string& hospital_id,
                                                        const std::string& key,
                                                        int64_t not_before_ms) {
  use_of u(st_->find_idempotency);
  if (!bind_text(u.get(), 1, hospital_id) || !bind_text(u.get(), 2, key) ||
      !bind_int(u.get(), 3, not_before_ms)) {
    fail(sqlite_error("find_idempotent"), nullptr);
    return std::nullopt;
  }
  const int rc = sqlite3_step(u.get());
  if (rc == SQLITE_ROW) return column_text(u.get(), 0);
  if (rc != SQLITE_DONE) fail(sqlite_error("find_idempotent"), nullptr);
  return std::nullopt;
}

std::vector<idempotency_row> event_store::load_idempotency(const std::string& hospital_id,
                                                           int64_t not_before_ms) {
  std::vector<idempotency_row> out;
  use_of u(st_->load_idempotency);
  if (!bind_text(u.get(), 1, hospital_id) || !bind_int(u.get(), 2, not_before_ms)) {
    fail(sqlite_error("load_idempotency"), nullptr);
    return out;
  }
  auto read = [&hospital_id](sqlite3_stmt* s) {
    idempotency_row r;
    r.hospital_id = hospital_id;
    r.key = column_text(s, 0);
    r.reply_json = column_text(s, 1);
    r.created_at = sqlite3_column_int64(s, 2);
    return r;
  };
  if (!read_rows(u.get(), &out, read)) fail(sqlite_error("load_idempotency"), nullptr);
  return out;
}

} // namespace vigil::storage
