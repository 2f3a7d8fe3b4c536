// Unit tests of storage/replay_verify.hpp: `vigilctl replay --verify` (event ids: event_id_test).
// Databases are written through the real event store with events made by the real alert state
// machine (domain/alert.hpp), exactly as the storage actor writes them; tampering goes through a
// second, raw SQLite connection.

#include "storage/replay_verify.hpp"
#include "domain/receipts.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "domain/alert.hpp"
#include "domain/json.hpp"
#include "storage/event_store.hpp"

namespace vigil::storage {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr int64_t t0 = 1767607200000;  // 2026-01-05T10:00:00.000Z

// ---- Test databases -----------------------------------------------------------------------------

identity user(const std::string& sub, role r) {
  identity who;
  who.sub = sub;
  who.user_role = r;
  who.hospitals = {"h1", "h2"};
  return who;
}

json::value create_input(const std::string& hospital, const std::string& room) {
  json::value in = json::value::make_object();
  in.set("hospitalId", hospital);
  in.set("roomNumber", room);
  in.set("alertType", "cardiac_arrest");
  in.set("urgencyLevel", 2);
  in.set("description", "Patient collapsed");
  in.set("targetDepartment", "icu");
  return in;
}

/// A database in a fresh temporary directory, written like the storage actor writes it.
class test_db {
public:
  test_db() {
    char pattern[] = "/tmp/vigil-verify-XXXXXX";
    dir_ = mkdtemp(pattern);
    path_ = dir_ + "/vigil.db";
    reopen();
  }
  ~test_db() {
    store_.reset();
    fs::remove_all(dir_);
  }

  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }
  event_store& store() { return *store_; }
  std::string epoch() const { return store_->epoch(); }
  void close() { store_.reset(); }
  void reopen() {
    std::string error;
    store_ = event_store::open(path_, {}, &error);
    ASSERT_TRUE(store_) << error;
  }

  /// Commits a transition (event + new alert state); returns the new alert.
  alert commit(transition t) {
    const uint64_t seq = store_->next_seq();
    t.event.seq = seq;
    t.event.id = format_event_id(store_->epoch(), seq);
    const json::value v = to_json(t.event);
    stored_event ev;
    ev.seq = seq;
    json::write(ev.payload, v);
    json::write_meta(ev.meta, v);
    ev.hospital_id = t.event.hospital_id;
    ev.alert_id = t.event.alert_id;
    ev.type = t.event.type;
    ev.ts = t.event.timestamp;
    ev.urgency_level = t.event.urgency_level;
    ev.alert_type = t.event.alert_type;
    alert_row row;
    row.id = t.next.id;
    row.hospital_id = t.next.hospital_id;
    row.status = status_name(t.next.status);
    row.created_at = t.next.created_at;
    row.next_escalation_at = t.next.next_escalation_at;
    json::write(row.json, to_json(t.next, true));
    write_item item;
    item.event = std::move(ev);
    item.alert = std::move(row);
    std::string error;
    EXPECT_TRUE(store_->commit({item}, &error)) << error;
    return t.next;
  }
  alert commit(transition_result r) {
    if (auto* e = std::get_if<call_error>(&r)) {
      ADD_FAILURE() << "transition refused: " << e->message;
      return {};
    }
    return commit(std::get<transition>(std::move(r)));
  }

  alert create(const std::string& hospital, const std::string& room, int64_t at) {
    return commit(create_alert(create_input(hospital, room), nurse_, at, policy_, make_uuid_v4()));
  }
  alert acknowledge(const alert& a, int64_t at, const char* assessment = "maintain") {
    json::value in = json::value::make_object();
    in.set("alertId", a.id);
    in.set("notes", "On my way");
    in.set("urgencyAssessment", assessment);
    return commit(acknowledge_alert(a, in, nurse_, at));
  }
  alert escalate(const alert& a, int64_t at) {
    return commit(escalate_alert(a, policy_, "system", std::string("timeout"), at));
  }
  alert update(const alert& a, int64_t at) {
    json::value in = json::value::make_object();
    in.set("alertId", a.id);
    in.set("description", "Now conscious");
    in.set("urgencyLevel", 3);
    return commit(update_alert(a, in, nurse_, at));
  }
  alert transfer(const alert& a, int64_t at) {
    json::value in = json::value::make_object();
    in.set("alertId", a.id);
    in.set("toUserId", "u-doctor-2");
    in.set("reason", "shift change");
    return commit(transfer_alert(a, in, head_, at));
  }
  alert resolve(const alert& a, int64_t at) {
    json::value in = json::value::make_object();
    in.set("alertId", a.id);
    in.set("resolution", "Patient stabilised and moved");
    return commit(resolve_alert(a, in, head_, at));
  }

  /// Runs SQL on a second, raw connection (the tampering "attacker").
  void tamper(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* message = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message), SQLITE_OK)
        << sql << ": " << (message ? message : "?");
    EXPECT_GT(sqlite3_changes(db), 0) << "tampering changed nothing: " << sql;
    sqlite3_free(message);
    sqlite3_close_v2(db);
  }

  verify_report verify() {
    std::string error;
    auto report = verify_database(path_, &error);
    EXPECT_TRUE(report) << error;
    return report ? *report : verify_report{};
  }

private:
  std::string dir_;
  std::string path_;
  std::unique_ptr<event_store> store_;
  identity nurse_ = user("u-nurse-7", role::nurse);
  identity head_ = user("u-head-1", role::head_doctor);
  escalation_policy policy_;
};

/// True when some difference contains all of `parts`.
bool has_difference(const verify_report& r, std::initializer_list<std::string> parts) {
  for (const std::string& d : r.differences) {
    bool all = true;
    for (const std::string& p : parts) all &= d.find(p) != std::string::npos;
    if (all) return true;
  }
  return false;
}

std::string dump(const verify_report& r) { return format_report(r); }

/// A, full lifecycle (6 events); B, created only (1); C in another hospital, acknowledged (2).
struct lifecycle {
  alert a, b, c;
};
lifecycle write_lifecycle(test_db& db) {
  lifecycle l;
  l.a = db.create("h1", "ICU-1", t0);
  l.a = db.escalate(l.a, t0 + 120000);
  l.a = db.update(l.a, t0 + 130000);
  l.a = db.acknowledge(l.a, t0 + 140000, "increase");
  l.a = db.transfer(l.a, t0 + 150000);
  l.b = db.create("h1", "ER-2", t0 + 160000);
  l.c = db.create("h2", "OR-3", t0 + 170000);
  l.c = db.acknowledge(l.c, t0 + 180000, "decrease");
  l.a = db.resolve(l.a, t0 + 190000);
  return l;
}

// ---- Consistent databases ---------------------------------------------------------------------------

TEST(VerifyDatabase, EmptyDatabaseIsConsistent) {
  test_db db;
  db.close();
  auto r = db.verify();
  EXPECT_TRUE(r.consistent()) << dump(r);
  EXPECT_EQ(r.events, 0u);
  EXPECT_EQ(r.alerts, 0u);
  EXPECT_EQ(r.epoch.size(), 8u);
  EXPECT_THAT(format_report(r), HasSubstr("result: consistent"));
}

TEST(VerifyDatabase, EveryEventTypeDerivesTheStoredState) {
  test_db db;
  const lifecycle l = write_lifecycle(db);
  const std::string epoch = db.epoch();
  db.close();
  auto r = db.verify();
  EXPECT_TRUE(r.consistent()) << dump(r);
  EXPECT_EQ(r.epoch, epoch);
  EXPECT_EQ(r.events, 9u);
  EXPECT_EQ(r.first_seq, 1u);
  EXPECT_EQ(r.last_seq, 9u);
  EXPECT_EQ(r.meta_last_seq, 9u);
  EXPECT_EQ(r.pruned_through, 0u);
  EXPECT_EQ(r.alerts, 3u);
  EXPECT_EQ(r.alerts_verified, 3u);
  EXPECT_EQ(r.alerts_not_verifiable, 0u);
  // The state machine really ran: A is resolved at tier 2, transferred; C's urgency went down.
  EXPECT_EQ(l.a.status, alert_status::resolved);
  EXPECT_EQ(l.a.escalation_level, 2);
  EXPECT_EQ(l.a.acknowledged_by, std::optional<std::string>("u-doctor-2"));
  EXPECT_EQ(l.c.urgency_level, 3);
  const std::string text = format_report(r);
  EXPECT_THAT(text, HasSubstr("events: 9 stored (seq 1..9), meta last_seq 9, pruned through 0"));
  EXPECT_THAT(text, HasSubstr("alerts: 3 (3 verified, 0 not verifiable"));
  EXPECT_THAT(text, HasSubstr("differences: 0"));
}

TEST(VerifyDatabase, FailsafeStepsSeenByUpdatesAndTheUnattendedCallDeriveTheStoredState) {
  test_db db;
  escalation_policy tiers;
  alert a = db.create("h1", "ICU-1", t0);
  a = db.commit(failsafe_escalate(a, tiers, reason_no_recipient_online, t0 + 10));
  a = db.commit(failsafe_escalate(a, tiers, reason_no_receipt, t0 + 30010));
  identity head;
  head.sub = "u-head-1";
  head.user_role = role::head_doctor;
  apply_receipt(a, head, "x-1", t0 + 40000, tiers);
  a = db.commit(seen_by_update(a, t0 + 40000));
  a = db.commit(failsafe_escalate(a, tiers, reason_no_receipt, t0 + 60010)); // unattended
  ASSERT_EQ(a.escalations.size(), 3u);
  EXPECT_TRUE(a.escalations.back().unattended);
  db.close();
  auto r = db.verify();
  EXPECT_TRUE(r.consistent()) << dump(r);
  EXPECT_EQ(r.alerts_verified, 1u);
}

TEST(VerifyDatabase, WorksWhileAWriterHasTheDatabaseOpen) {
  test_db db;
  write_lifecycle(db);  // the store stays open, as a running vigild keeps it
  auto r = db.verify();
  EXPECT_TRUE(r.consistent()) << dump(r);
  EXPECT_EQ(r.events, 9u);
  // ... and the writer can go on writing afterwards (verify took no lock it kept).
  db.create("h1", "ICU-9", t0 + 500000);
  EXPECT_EQ(db.verify().events, 10u);
}

// ---- Tampered databases -----------------------------------------------------------------------------

TEST(VerifyDatabase, TamperedStatusInTheAlertJsonIsReported) {
  test_db db;
  const lifecycle l = write_lifecycle(db);
  db.close();
  db.tamper("UPDATE alerts SET json = json_set(json, '$.status', 'active') WHERE id = '" + l.a.id +
            "'");
  auto r = db.verify();
  EXPECT_FALSE(r.consistent());
  EXPECT_TRUE(has_difference(r, {"alert " + l.a.id, "status: the events give \"resolved\"",
                                 "the alerts table has \"active\""}))
      << dump(r);
  // The status column still says resolved: the row is inconsistent with itself too.
  EXPECT_TRUE(has_difference(r, {"alert " + l.a.id, "status column is \"resolved\""})) << dump(r);
  EXPECT_EQ(r.alerts_verified, 3u);
  EXPECT_THAT(format_report(r), HasSubstr("result: INCONSISTENT"));
}

TEST(VerifyDatabase, TamperedStatusColumnIsReported) {
  test_db db;
  const lifecycle l = write_lifecycle(db);
  db.close();
  db.tamper("UPDATE alerts SET status = 'acknowledged' WHERE id = '" + l.b.id + "'");
  auto r = db.verify();
  ASSERT_EQ(r.differences.size(), 1u) << dump(r);
  EXPECT_TRUE(has_difference(r, {"alert " + l.b.id, "status column is \"acknowledged\"",
                                 "json status is \"active\""}))
      << dump(r);
}

TEST(VerifyDatabase, EveryComparedFieldIsChecked) {
  struct field_case {
    const char* path;
    const char* value;  // SQL literal
    const char* field;
  };
  const field_case cases[] = {
      {"$.urgencyLevel", "5", "urgencyLevel"},
      {"$.escalationLevel", "1", "escalationLevel"},
      {"$.acknowledgedBy", "'u-mallory'", "acknowledgedBy"},
      {"$.acknowledgedAt", "'2026-01-05T10:00:00.000Z'", "acknowledgedAt"},
      {"$.resolvedBy", "'u-mallory'", "resolvedBy"},
      {"$.resolvedAt", "'2026-01-05T10:00:00.000Z'", "resolvedAt"},
      {"$.updatedAt", "'2026-01-05T10:00:00.000Z'", "updatedAt"},
      {"$.roomNumber", "'ER-9'", "roomNumber"},
      {"$.createdBy", "'u-mallory'", "createdBy"},
      {"$.targetDepartment", "'cardio'", "targetDepartment"},
  };
  for (const field_case& c : cases) {
    test_db db;
    const lifecycle l = write_lifecycle(db);
    db.close();
    db.tamper(std::string("UPDATE alerts SET json = json_set(json, '") + c.path + "', " + c.value +
              ") WHERE id = '" + l.a.id + "'");
    auto r = db.verify();
    EXPECT_TRUE(has_difference(r, {"alert " + l.a.id, std::string(c.field) + ": the events give"}))
        << c.field << "\n" << dump(r);
  }
}

TEST(VerifyDatabase, TamperedEscalationHistoryIsReported) {
  test_db db;
  const lifecycle l = write_lifecycle(db);
  db.close();
  db.tamper("UPDATE alerts SET json = json_set(json, '$.escalations[0].escalatedBy', 'u-x') "
            "WHERE id = '" + l.a.id + "'");
  auto r = db.verify();
  EXPECT_TRUE(has_difference(r, {"alert " + l.a.id, "escalations.0 differs"})) << dump(r);

  test_db db2;
  const lifecycle l2 = write_lifecycle(db2);
  db2.close();
  db2.tamper("UPDATE alerts SET json = json_set(json, '$.escalations', json('[]')) WHERE id = '" +
             l2.a.id + "'");
  auto r2 = db2.verify();
  EXPECT_TRUE(has_difference(r2, {"alert " + l2.a.id, "escalations: the events give 1 records",
                                  "the alerts table has 0"}))
      << dump(r2);
}

TEST(VerifyDatabase, FreeTextIsComparedButNeverPrinted) {
  test_db db;
  const lifecycle l = write_lifecycle(db);
  db.close();
  db.tamper("UPDATE alerts SET json = json_set(json, '$.description', 'SECRET-DESC', "
            "'$.resolution', 'SECRET-RES', '$.acknowledgementNotes', 'SECRET-NOTES', "
            "'$.patientId', 'SECRET-PATIENT') WHERE id = '" + l.a.id + "'");
  auto r = db.verify();
  EXPECT_TRUE(has_difference(r, {"alert " + l.a.id, "description differs"})) << dump(r);
  EXPECT_TRUE(has_difference(r, {"alert " + l.a.id, "resolution differs"})) << dump(r);
  EXPECT_TRUE(has_difference(r, {"alert " + l.a.id, "acknowledgementNotes differs"})) << dump(r);
  EXPECT_TRUE(has_difference(r, {"alert " + l.a.id, "patientId differs"})) << dump(r);
  const std::string text = format_report(r);
  EXPECT_EQ(text.find("SECRET"), std::string::npos) << text;
  EXPECT_EQ(text.find("Now conscious"), std::string::npos) << text;
  EXPECT_EQ(text.find("Patient stabilised"), std::string::npos) << text;
}

TEST(VerifyDatabase, InvalidAlertJsonIsReported) {
  test_db db;
  const lifecycle l = write_lifecycle(db);
  db.close();
  db.tamper("UPDATE alerts SET json = '{\"id\":1}' WHERE id = '" + l.b.id + "'");
  auto r = db.verify();
  EXPECT_TRUE(has_difference(r, {"alert " + l.b.id, "json is not a valid alert"})) << dump(r);
}

TEST(VerifyDatabase, MissingEventIsASequenceGap) {
  test_db db;
  const lifecycle l = write_lifecycle(db);
  db.close();
  db.tamper("DELETE FROM events WHERE seq IN (3, 4)");  // A's update and acknowledgement
  auto r = db.verify();
  EXPECT_FALSE(r.consistent());
  EXPECT_TRUE(has_difference(r, {"sequence gap: seqs 3..4 missing before seq 5"})) << dump(r);
  // Without the acknowledgement, A's transfer cannot be applied.
  EXPECT_TRUE(has_difference(r, {"alert " + l.a.id, "cannot be applied",
                                 "alert.updated while the alert was active"}))
      << dump(r);
}

TEST(VerifyDatabase, MissingFirstEventsAreAGapWhenNothingWasPruned) {
  test_db db;
  const lifecycle l = write_lifecycle(db);
  db.close();
  db.tamper("DELETE FROM events WHERE seq = 1");  // A's alert.created
  auto r = db.verify();
  EXPECT_TRUE(has_difference(r, {"sequence gap: seq 1 missing before seq 2"})) << dump(r);
  EXPECT_TRUE(has_difference(r, {"alert " + l.a.id, "no alert.created event is stored",
                                 "nothing was pruned"}))
      << dump(r);
}

TEST(VerifyDatabase, NewestEventsMissingBehindTheHighWaterMarkAreFine) {
  // The meta high-water mark may be above the newest stored event (retention can remove the
  // newest events of an idle system). Seqs never get reused, so that is not a gap.
  test_db db;
  write_lifecycle(db);
  db.close();
  db.tamper("UPDATE meta SET value = '20' WHERE key = 'last_seq'");
  auto r = db.verify();
  EXPECT_TRUE(r.consistent()) << dump(r);
  EXPECT_EQ(r.meta_last_seq, 20u);
}

TEST(VerifyDatabase, HighWaterMarkBelowTheLogIsReported) {
  test_db db;
  write_lifecycle(db);
  db.close();
  db.tamper("UPDATE meta SET value = '7' WHERE key = 'last_seq'");
  auto r = db.verify();
  ASSERT_EQ(r.differences.size(), 1u) << dump(r);
  EXPECT_TRUE(has_difference(r, {"meta last_seq is 7, below the newest stored seq 9"})) << dump(r);
}

TEST(VerifyDatabase, PayloadNotMatchingItsColumnsIsReported) {
  test_db db;
  write_lifecycle(db);
  const std::string epoch = db.epoch();
  db.close();
  db.tamper("UPDATE events SET payload = replace(payload, '\"id\":\"" + epoch + "-2\"', '\"id\":\"" +
            epoch + "-8\"') WHERE seq = 2");
  db.tamper("UPDATE events SET type = 'alert.resolved' WHERE seq = 6");
  db.tamper("UPDATE events SET payload = 'not json' WHERE seq = 7");
  auto r = db.verify();
  EXPECT_TRUE(has_difference(r, {"event " + epoch + "-2: payload id does not match"})) << dump(r);
  EXPECT_TRUE(has_difference(r, {"event " + epoch + "-6: payload type does not match"})) << dump(r);
  EXPECT_TRUE(has_difference(r, {"event " + epoch + "-7: the payload is not a JSON object"}))
      << dump(r);
}

TEST(VerifyDatabase, AlertMissingFromTheTableIsReported) {
  test_db db;
  const lifecycle l = write_lifecycle(db);
  const std::string epoch = db.epoch();
  db.close();
  db.tamper("DELETE FROM alerts WHERE id = '" + l.b.id + "'");
  auto r = db.verify();
  ASSERT_EQ(r.differences.size(), 1u) << dump(r);
  EXPECT_TRUE(has_difference(r, {"alert " + l.b.id + " (created by event " + epoch + "-6)",
                                 "missing from the alerts table"}))
      << dump(r);
  EXPECT_EQ(r.alerts, 2u);
}

TEST(VerifyDatabase, AlertsWhoseEventsWerePrunedAreNotVerifiable) {
  test_db db;
  alert old_full = db.create("h1", "ICU-1", t0);            // seq 1, pruned
  old_full = db.acknowledge(old_full, t0 + 1000);           // seq 2, pruned
  alert half = db.create("h1", "ICU-2", t0 + 2000);         // seq 3, pruned
  alert fresh = db.create("h1", "ICU-3", t0 + 100000);      // seq 4, kept
  half = db.acknowledge(half, t0 + 110000);                 // seq 5, kept
  fresh = db.acknowledge(fresh, t0 + 120000);               // seq 6, kept
  std::string error;
  ASSERT_EQ(db.store().prune(t0 + 50000, t0 + 200000, 100, &error), 3u) << error;
  db.close();
  auto r = db.verify();
  EXPECT_TRUE(r.consistent()) << dump(r);
  EXPECT_EQ(r.pruned_through, 3u);
  EXPECT_EQ(r.first_seq, 4u);
  EXPECT_EQ(r.events, 3u);
  EXPECT_EQ(r.alerts, 3u);
  EXPECT_EQ(r.alerts_verified, 1u);
  EXPECT_EQ(r.alerts_not_verifiable, 2u);
  EXPECT_THAT(format_report(r), HasSubstr("(1 verified, 2 not verifiable"));

  // A gap above the pruned range is still a gap.
  db.tamper("DELETE FROM events WHERE seq = 5");
  auto gap = db.verify();
  EXPECT_TRUE(has_difference(gap, {"sequence gap: seq 5 missing before seq 6 (pruned through 3)"}))
      << dump(gap);
}

TEST(VerifyDatabase, UnreadableFilesAreErrors) {
  std::string error;
  EXPECT_FALSE(verify_database("/nonexistent/dir/vigil.db", &error));
  EXPECT_THAT(error, HasSubstr("does not exist"));

  test_db db;
  db.close();
  const std::string junk = db.dir() + "/junk.db";
  std::ofstream(junk) << "this is not a database, just some text that is long enough";
  error.clear();
  EXPECT_FALSE(verify_database(junk, &error));
  EXPECT_THAT(error, HasSubstr("verify " + junk + ": "));

  // A SQLite file that is not a Vigil database (schema version 0).
  const std::string other = db.dir() + "/other.db";
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(other.c_str(), &raw), SQLITE_OK);
  sqlite3_exec(raw, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
  sqlite3_close(raw);
  error.clear();
  EXPECT_FALSE(verify_database(other, &error));
  EXPECT_FALSE(error.empty());
}

// ---- The verifier on hand-made event streams ---------------------------------------------------------

/// A stored event made from a transition, with the given seq.
stored_event make_stored(const std::string& epoch, uint64_t seq, alert_event e) {
  e.seq = seq;
  e.id = format_event_id(epoch, seq);
  stored_event s;
  s.seq = seq;
  json::write(s.payload, to_json(e));
  s.hospital_id = e.hospital_id;
  s.alert_id = e.alert_id;
  s.type = e.type;
  s.ts = e.timestamp;
  s.urgency_level = e.urgency_level;
  s.alert_type = e.alert_type;
  return s;
}

alert_row row_of(const alert& a) {
  alert_row row;
  row.id = a.id;
  row.hospital_id = a.hospital_id;
  row.status = status_name(a.status);
  row.created_at = a.created_at;
  row.next_escalation_at = a.next_escalation_at;
  json::write(row.json, to_json(a, true));
  return row;
}

TEST(ReplayVerifier, EventsThatBreakTheStateMachineAreReported) {
  const identity nurse = user("u-nurse-7", role::nurse);
  transition created = create_alert(create_input("h1", "ICU-1"), nurse, t0, {}, make_uuid_v4());
  // A resolution straight from `active`: the state machine refuses it, so forge the event.
  alert resolved = created.next;
  resolved.status = alert_status::resolved;
  resolved.resolved_by = "u-nurse-7";
  resolved.resolved_at = t0 + 1000;
  resolved.resolution = "forged";
  resolved.next_escalation_at.reset();
  resolved.updated_at = t0 + 1000;
  alert_event forged = created.event;
  forged.type = "alert.resolved";
  forged.timestamp = t0 + 1000;
  forged.data = json::value::make_object();
  forged.data.set("resolvedBy", "u-nurse-7");
  forged.data.set("resolution", "forged");
  forged.data.set("resolvedAt", json::value::date(t0 + 1000));

  replay_verifier v("abcd1234", 2, 0);
  v.add_event(make_stored("abcd1234", 1, created.event));
  v.add_event(make_stored("abcd1234", 2, forged));
  auto r = v.finish({row_of(resolved)});
  EXPECT_TRUE(has_difference(r, {"event abcd1234-2 (alert " + created.next.id + ")",
                                 "alert.resolved while the alert was active (expected acknowledged)"}))
      << dump(r);
}

TEST(ReplayVerifier, EscalationSkippingATierIsReported) {
  const identity nurse = user("u-nurse-7", role::nurse);
  transition created = create_alert(create_input("h1", "ICU-1"), nurse, t0, {}, make_uuid_v4());
  auto escalated = std::get<transition>(
      escalate_alert(created.next, {}, "system", std::string("timeout"), t0 + 1000));
  escalated.event.data.set("fromTier", 2).set("toTier", 3);
  replay_verifier v("abcd1234", 2, 0);
  v.add_event(make_stored("abcd1234", 1, created.event));
  v.add_event(make_stored("abcd1234", 2, escalated.event));
  auto r = v.finish({row_of(escalated.next)});
  EXPECT_TRUE(has_difference(r, {"escalates from tier 2 to 3 but the alert was at tier 1"}))
      << dump(r);
}

TEST(ReplayVerifier, DuplicateCreationAndStoredResyncAreReported) {
  const identity nurse = user("u-nurse-7", role::nurse);
  transition created = create_alert(create_input("h1", "ICU-1"), nurse, t0, {}, make_uuid_v4());
  alert_event resync;
  resync.type = "alert.updated";
  resync.alert_id = "*";
  resync.hospital_id = "h1";
  resync.timestamp = t0 + 5;
  resync.data = json::value::make_object();
  resync.data.set("resync", true);
  resync.data.set("reason", "unknown_event_id");

  replay_verifier v("abcd1234", 3, 0);
  v.add_event(make_stored("abcd1234", 1, created.event));
  v.add_event(make_stored("abcd1234", 2, created.event));
  v.add_event(make_stored("abcd1234", 3, resync));
  auto r = v.finish({row_of(created.next)});
  EXPECT_TRUE(has_difference(r, {"event abcd1234-2: a second alert.created"})) << dump(r);
  EXPECT_TRUE(has_difference(r, {"event abcd1234-3: a resync event is stored"})) << dump(r);
}

TEST(ReplayVerifier, FilterColumnsMustDescribeTheAlertAfterTheEvent) {
  const identity nurse = user("u-nurse-7", role::nurse);
  transition created = create_alert(create_input("h1", "ICU-1"), nurse, t0, {}, make_uuid_v4());
  stored_event s = make_stored("abcd1234", 1, created.event);
  s.urgency_level = 4;
  s.alert_type = "fire";
  replay_verifier v("abcd1234", 1, 0);
  v.add_event(s);
  auto r = v.finish({row_of(created.next)});
  EXPECT_TRUE(has_difference(r, {"urgency_level column 4", "urgencyLevel after the event is 2"}))
      << dump(r);
  EXPECT_TRUE(has_difference(r, {"alert_type column does not match"})) << dump(r);
}

TEST(ReplayVerifier, OutOfOrderEventsAreReported) {
  const identity nurse = user("u-nurse-7", role::nurse);
  transition a = create_alert(create_input("h1", "ICU-1"), nurse, t0, {}, make_uuid_v4());
  transition b = create_alert(create_input("h1", "ICU-2"), nurse, t0, {}, make_uuid_v4());
  replay_verifier v("abcd1234", 5, 0);
  v.add_event(make_stored("abcd1234", 5, a.event));
  v.add_event(make_stored("abcd1234", 4, b.event));
  auto r = v.finish({row_of(a.next), row_of(b.next)});
  EXPECT_TRUE(has_difference(r, {"event seq 4 follows seq 5"})) << dump(r);
  EXPECT_TRUE(has_difference(r, {"sequence gap: seqs 1..4 missing before seq 5"})) << dump(r);
}

} // namespace
} // namespace vigil::storage
