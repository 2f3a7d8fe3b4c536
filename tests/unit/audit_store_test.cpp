// Storage tests of the audit trail (storage/audit_store.hpp): records committed with events in one
// transaction, the chain across reopen and rollback, tampering found by verify (a changed row, a
// removed row, removed newest rows), pruning with an anchor, paging, and the v3 -> v4 migration.

#include "storage/audit_store.hpp"
#include "storage/event_store.hpp"
#include "storage/schema.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <stdlib.h>

#include <filesystem>

namespace vigil::storage {
namespace {

namespace fs = std::filesystem;

void raw_exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* message = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message), SQLITE_OK)
    << sql << ": " << (message ? message : "?");
  sqlite3_free(message);
  sqlite3_close_v2(db);
}

audit_record action(const std::string& hospital, const std::string& what, int64_t ts = 1000,
                    const std::string& outcome = audit_ok) {
  audit_record r;
  r.ts = ts;
  r.user_id = "u-1";
  r.role = "nurse";
  r.hospital_id = hospital;
  r.alert_id = "a-1";
  r.action = what;
  r.outcome = outcome;
  r.conn_id = 7;
  r.remote = "127.0.0.1:4000";
  return r;
}

write_item event_item(uint64_t seq, const std::string& hospital) {
  write_item item;
  stored_event e;
  e.seq = seq;
  e.hospital_id = hospital;
  e.alert_id = "a-1";
  e.type = "alert.created";
  e.ts = 1000;
  e.payload = R"({"id":"x-)" + std::to_string(seq) + R"("})";
  item.event = e;
  return item;
}

class AuditStoreTest : public ::testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/vigil-audit-store-XXXXXX";
    const char* dir = mkdtemp(pattern);
    ASSERT_NE(dir, nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path() const { return dir_ + "/vigil.db"; }
  std::unique_ptr<event_store> open_store(bool read_only = false) {
    std::string error;
    auto store = event_store::open(path(), open_options{read_only, false}, &error);
    EXPECT_NE(store, nullptr) << error;
    return store;
  }
  /// Commits audit records alone (as the storage actor does for refused actions).
  void audit_only(event_store& store, std::vector<audit_record> records) {
    std::string error;
    ASSERT_TRUE(store.commit({}, &records, &error)) << error;
  }
  std::string dir_;
};

TEST_F(AuditStoreTest, RecordsCommitWithTheirEventAndChainInOneGlobalOrder) {
  auto store = open_store();
  std::vector<audit_record> audit = {action("h1", "createAlert")};
  std::string error;
  ASSERT_TRUE(store->commit({event_item(1, "h1")}, &audit, &error)) << error;
  EXPECT_EQ(audit[0].seq, 1u);
  EXPECT_EQ(audit[0].prev_hash, audit_genesis_hash);
  audit_only(*store, {action("h2", "acknowledgeAlert", 1001, "FORBIDDEN"),
                      action("h1", "resolveAlert", 1002)});
  auto rows = store->audit().after(0, 10, &error);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].seq, 2u);
  EXPECT_EQ(rows[1].hospital_id, "h2");
  EXPECT_EQ(rows[1].outcome, "FORBIDDEN");
  EXPECT_EQ(rows[1].prev_hash, rows[0].hash);
  EXPECT_EQ(rows[2].prev_hash, rows[1].hash);
  EXPECT_EQ(rows[0].remote, "127.0.0.1:4000");
  auto report = store->audit().verify();
  EXPECT_TRUE(report.ok()) << report.error << (report.problem ? report.problem->what : "");
  EXPECT_EQ(report.checked, 3u);
  EXPECT_EQ(report.head_hash, rows[2].hash);
}

TEST_F(AuditStoreTest, TheChainContinuesAfterReopen) {
  {
    auto store = open_store();
    audit_only(*store, {action("h1", "createAlert")});
  }
  auto store = open_store();
  EXPECT_EQ(store->audit().last_seq(), 1u);
  audit_only(*store, {action("h1", "resolveAlert")});
  EXPECT_TRUE(store->audit().verify().ok());
  EXPECT_EQ(store->audit().verify().checked, 2u);
}

TEST_F(AuditStoreTest, AFailedEventCommitStoresNoAuditRecordAndConsumesNoSeq) {
  auto store = open_store();
  audit_only(*store, {action("h1", "createAlert")});
  // Another writer took event seq 1: the commit fails and rolls back the audit record too.
  raw_exec(path(), "INSERT INTO events(seq, hospital_id, alert_id, type, ts, payload, meta) "
                   "VALUES(1, 'h', 'a', 't', 0, '{}', '')");
  std::vector<audit_record> audit = {action("h1", "acknowledgeAlert")};
  std::string error;
  EXPECT_FALSE(store->commit({event_item(1, "h1")}, &audit, &error));
  std::string read_error;
  EXPECT_EQ(store->audit().after(0, 10, &read_error).size(), 1u);
  EXPECT_EQ(store->audit().last_seq(), 1u);
  audit_only(*store, {action("h1", "resolveAlert")});
  auto rows = store->audit().after(0, 10, &read_error);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].seq, 2u);
  EXPECT_TRUE(store->audit().verify().ok());
}

TEST_F(AuditStoreTest, VerifyNamesAChangedRow) {
  auto store = open_store();
  audit_only(*store, {action("h1", "createAlert"), action("h1", "acknowledgeAlert", 1001, "FORBIDDEN"),
                      action("h1", "resolveAlert")});
  raw_exec(path(), "UPDATE audit SET outcome = 'ok' WHERE seq = 2");
  auto report = open_store(true)->audit().verify();
  ASSERT_TRUE(report.problem);
  EXPECT_EQ(report.problem->seq, 2u);
  EXPECT_NE(report.problem->what.find("hash mismatch"), std::string::npos);
  EXPECT_EQ(report.checked, 1u);
}

TEST_F(AuditStoreTest, VerifyNamesARemovedRowAsAGap) {
  auto store = open_store();
  audit_only(*store, {action("h1", "a1"), action("h1", "a2"), action("h1", "a3"), action("h1", "a4")});
  raw_exec(path(), "DELETE FROM audit WHERE seq = 2");
  auto report = store->audit().verify();
  ASSERT_TRUE(report.problem);
  EXPECT_EQ(report.problem->seq, 3u);
  EXPECT_NE(report.problem->what.find("record 2 missing"), std::string::npos) << report.problem->what;
}

TEST_F(AuditStoreTest, VerifyNamesRemovedNewestRows) {
  auto store = open_store();
  audit_only(*store, {action("h1", "a1"), action("h1", "a2"), action("h1", "a3")});
  raw_exec(path(), "DELETE FROM audit WHERE seq >= 2");
  auto report = store->audit().verify();
  ASSERT_TRUE(report.problem);
  EXPECT_EQ(report.problem->seq, 2u);
  EXPECT_NE(report.problem->what.find("records 2..3 missing at the end"), std::string::npos)
    << report.problem->what;
}

TEST_F(AuditStoreTest, PruningRemovesAPrefixAndVerifyStartsAtTheAnchor) {
  auto store = open_store();
  // ts 100, 200, 5000, 300: pruning before 1000 stops at the first newer record (seq 3), so the
  // old seq 4 stays and the chain has no hole.
  audit_only(*store, {action("h1", "a1", 100), action("h1", "a2", 200), action("h1", "a3", 5000),
                      action("h1", "a4", 300)});
  std::string error;
  auto all = store->audit().after(0, 10, &error);
  EXPECT_EQ(store->audit().prune(1000, 100, &error), 2u) << error;
  auto left = store->audit().after(0, 10, &error);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].seq, 3u);
  audit_bounds b;
  ASSERT_TRUE(store->audit().bounds(&b, &error));
  EXPECT_EQ(b.anchor_seq, 2u);
  EXPECT_EQ(b.anchor_hash, all[1].hash);
  auto report = store->audit().verify();
  EXPECT_TRUE(report.ok()) << (report.problem ? report.problem->what : report.error);
  EXPECT_EQ(report.checked, 2u);
  // max_rows bounds one batch; everything pruned keeps seqs and the chain going.
  EXPECT_EQ(store->audit().prune(10000, 1, &error), 1u);
  EXPECT_EQ(store->audit().prune(10000, 100, &error), 1u);
  EXPECT_TRUE(store->audit().after(0, 10, &error).empty());
  store.reset();
  store = open_store();
  audit_only(*store, {action("h1", "a5")});
  auto rows = store->audit().after(0, 10, &error);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].seq, 5u);
  EXPECT_EQ(rows[0].prev_hash, all[3].hash);
  EXPECT_TRUE(store->audit().verify().ok());
}

TEST_F(AuditStoreTest, HospitalPagesAreNewestFirstWithACursor) {
  auto store = open_store();
  audit_only(*store, {action("h1", "a1"), action("h2", "a2"), action("h1", "a3"),
                      action("h1", "a4")});
  std::string error;
  auto first = store->audit().hospital_page("h1", UINT64_MAX >> 1, 2, &error);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].seq, 4u);
  EXPECT_EQ(first[1].seq, 3u);
  auto next = store->audit().hospital_page("h1", first.back().seq, 2, &error);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].seq, 1u);
  EXPECT_TRUE(store->audit().hospital_page("h3", UINT64_MAX >> 1, 2, &error).empty());
}

TEST_F(AuditStoreTest, ReadOnlyVerifyWorksWhileTheWriterIsOpen) {
  auto writer = open_store();
  audit_only(*writer, {action("h1", "a1")});
  auto reader = open_store(true);
  audit_only(*writer, {action("h1", "a2")});
  auto report = reader->audit().verify();
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.checked, 2u);
}

TEST_F(AuditStoreTest, AVersion3DatabaseMigratesToTheAuditTrail) {
  {
    auto store = open_store();
    std::string error;
    ASSERT_TRUE(store->commit({event_item(1, "h1")}, &error)) << error;
  }
  // Back to schema version 3 as an older vigild left it: no audit table, no audit meta rows.
  raw_exec(path(), "DROP TABLE audit; DELETE FROM meta WHERE key LIKE 'audit_%'; "
                   "PRAGMA user_version = 3");
  std::string error;
  EXPECT_EQ(event_store::open(path(), open_options{true, false}, &error), nullptr);
  EXPECT_NE(error.find("older than"), std::string::npos) << error;
  auto store = open_store();
  EXPECT_EQ(store->last_seq(), 1u);
  EXPECT_GE(current_schema_version(), 4);
  audit_only(*store, {action("h1", "createAlert")});
  auto report = store->audit().verify();
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.checked, 1u);
  EXPECT_EQ(report.bounds.anchor_hash, audit_genesis_hash);
}

} // namespace
} // namespace vigil::storage
