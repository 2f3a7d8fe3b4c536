// Retention of resolved alerts (retention.resolved-alert-days, event_store::prune_resolved_alerts)
// under the soak's pattern at small scale (bench/soak.sh): many create → acknowledge → resolve
// lifecycles over simulated days, pruning as the storage actor does (events, then resolved
// alerts, a batch at a time), checking which alerts survive and that the file stays bounded.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "domain/alert.hpp"
#include "domain/json.hpp"
#include "storage/event_store.hpp"
#include "storage/schema.hpp"

namespace vigil::storage {
namespace {

namespace fs = std::filesystem;

constexpr int64_t day_ms = 86400000LL;
constexpr int64_t t0 = 1767607200000; // 2026-01-05T10:00:00Z

/// One scalar of a query on a separate connection ("" when no row).
std::string scalar(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(s); ++i) {
        auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
        row += (i ? "|" : "") + std::string(t != nullptr ? t : "");
      }
      out = row;
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return out;
}

int64_t count(const std::string& path, const std::string& sql) {
  return std::stoll(scalar(path, sql));
}

class AlertRetentionTest : public ::testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/vigil-alert-retention-XXXXXX";
    const char* dir = mkdtemp(pattern);
    ASSERT_NE(dir, nullptr);
    dir_ = dir;
    std::string error;
    store_ = event_store::open(path(), open_options{}, &error);
    ASSERT_NE(store_, nullptr) << error;
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path() const { return dir_ + "/vigil.db"; }

  /// Stores `a`'s state with an event of `type` at `ts` and one audit record, in one commit, as
  /// the storage actor does for a mutation (the row's json is the real stored form).
  void commit(const alert& a, const std::string& type, int64_t ts) {
    write_item item;
    stored_event e;
    e.seq = store_->next_seq();
    e.hospital_id = a.hospital_id;
    e.alert_id = a.id;
    e.type = type;
    e.ts = ts;
    e.payload = R"({"id":"x-)" + std::to_string(e.seq) + R"(","type":")" + type +
                R"(","data":{"padding":")" + std::string(300, 'p') + "\"}}";
    e.meta = "{}";
    item.event = e;
    alert_row row;
    row.id = a.id;
    row.hospital_id = a.hospital_id;
    row.status = status_name(a.status);
    row.created_at = a.created_at;
    row.next_escalation_at = a.next_escalation_at;
    json::write(row.json, to_json(a, true));
    item.alert = row;
    std::vector<audit_record> audit(1);
    audit[0].ts = ts;
    audit[0].user_id = "u-soak";
    audit[0].role = "nurse";
    audit[0].hospital_id = a.hospital_id;
    audit[0].alert_id = a.id;
    audit[0].action = type;
    audit[0].outcome = "ok";
    std::string error;
    ASSERT_TRUE(store_->commit({item}, &audit, &error)) << error;
  }

  /// One round of the storage actor's pruning at `now` with a retention of `days` for events and
  /// resolved alerts (the audit trail is not pruned here: its retention is years).
  size_t prune_round(int64_t now, int days, size_t batch) {
    std::string error;
    size_t events = store_->prune(now - days * day_ms, now, batch, &error);
    EXPECT_TRUE(error.empty()) << error;
    std::vector<event_store::pruned_alert> gone;
    size_t alerts = store_->prune_resolved_alerts(now - days * day_ms, batch, &gone, &error);
    EXPECT_TRUE(error.empty()) << error;
    EXPECT_EQ(gone.size(), alerts);
    for (auto& g : gone) {
      EXPECT_EQ(g.hospital_id, hospital_of_.at(g.id));
      pruned_.insert(g.id);
    }
    return std::max(events, alerts);
  }

  std::string dir_;
  std::unique_ptr<event_store> store_;
  std::map<std::string, std::string> hospital_of_;
  std::set<std::string> pruned_;
};

TEST_F(AlertRetentionTest, SoakPatternKeepsOpenAndRecentAlertsAndBoundsTheFile) {
  // 4 simulated days, a lifecycle every 2 minutes over 3 hospitals: 2,880 lifecycles, about 720
  // a day. Every 50th alert stays active and every 50th (offset) stays acknowledged: those are
  // never pruned, however old. Retention: 1 day. Pruning every simulated 10 minutes, in batches
  // of 100 (the storage actor's loop: again at once while a batch was full).
  constexpr int lifecycles = 2880;
  constexpr int64_t step_ms = 2 * 60 * 1000;
  constexpr int retention_days = 1;
  std::map<std::string, alert> last_state;
  int64_t pages_after_first_day = 0;
  int64_t open_alerts = 0;
  int64_t active_alerts = 0;
  int64_t max_alert_rows_after_first_day = 0;
  for (int i = 0; i < lifecycles; ++i) {
    const int64_t now = t0 + i * step_ms;
    alert a;
    a.id = "alert-" + std::to_string(i);
    a.hospital_id = "soak-h" + std::to_string(i % 3);
    a.room_number = "ICU-" + std::to_string(i % 40);
    a.alert_type = "cardiac_arrest";
    a.description = std::string("soak lifecycle ") + std::to_string(i);
    a.created_by = "u-soak";
    a.created_at = now;
    a.updated_at = now;
    a.next_escalation_at = now + 120000;
    hospital_of_[a.id] = a.hospital_id;
    commit(a, "alert.created", now);
    if (i % 50 != 7) {
      a.status = alert_status::acknowledged;
      a.acknowledged_by = "u-soak";
      a.acknowledged_at = now + 1000;
      a.next_escalation_at.reset();
      a.updated_at = now + 1000;
      commit(a, "alert.acknowledged", now + 1000);
      if (i % 50 != 13) {
        a.status = alert_status::resolved;
        a.resolved_by = "u-soak";
        a.resolved_at = now + 2000;
        a.resolution = "soak lifecycle resolved";
        a.updated_at = now + 2000;
        commit(a, "alert.resolved", now + 2000);
      }
    }
    last_state[a.id] = a;
    if (a.status != alert_status::resolved) ++open_alerts;
    if (a.status == alert_status::active) ++active_alerts;
    if (i % 5 == 4) {
      while (prune_round(now + 2000, retention_days, 100) >= 100) {
      }
    }
    if (now >= t0 + 2 * day_ms && i % 5 == 4) {
      if (pages_after_first_day == 0)
        pages_after_first_day = count(path(), "SELECT page_count FROM pragma_page_count");
      max_alert_rows_after_first_day =
        std::max(max_alert_rows_after_first_day, count(path(), "SELECT count(*) FROM alerts"));
    }
  }
  const int64_t end = t0 + (lifecycles - 1) * step_ms + 2000;
  while (prune_round(end, retention_days, 100) >= 100) {
  }
  const int64_t horizon = end - retention_days * day_ms;

  // Exactly the resolved alerts resolved before the horizon are gone; open, acknowledged and
  // recently resolved ones are all there, unchanged.
  size_t expected_pruned = 0;
  for (auto& [id, a] : last_state) {
    auto row = store_->load_alert(id);
    const bool expired = a.status == alert_status::resolved && *a.resolved_at < horizon;
    if (expired) {
      ++expected_pruned;
      EXPECT_FALSE(row.has_value()) << id;
      EXPECT_EQ(pruned_.count(id), 1u) << id;
    } else {
      ASSERT_TRUE(row.has_value()) << id << " (" << status_name(a.status) << ")";
      EXPECT_EQ(row->status, status_name(a.status)) << id;
      EXPECT_EQ(pruned_.count(id), 0u) << id;
    }
  }
  EXPECT_EQ(pruned_.size(), expected_pruned);
  EXPECT_GT(expected_pruned, 2000u);
  // Every open alert, of all four days, is still there.
  EXPECT_EQ(count(path(), "SELECT count(*) FROM alerts WHERE status <> 'resolved'"), open_alerts);
  // A day of resolved alerts (720) and the open ones, never the whole history.
  EXPECT_LE(max_alert_rows_after_first_day, 720 + open_alerts + 100);
  // The audit trail keeps every record: its retention is its own.
  EXPECT_EQ(count(path(), "SELECT count(*) FROM audit"),
            static_cast<int64_t>(lifecycles) * 3 - 2 * active_alerts - (open_alerts - active_alerts));
  // The file: SQLite reuses the pages pruning frees, so two more days of lifecycles do not grow it
  // (the audit trail, kept, grows it a little: 3 records per lifecycle).
  const int64_t pages_end = count(path(), "SELECT page_count FROM pragma_page_count");
  EXPECT_GT(pages_after_first_day, 0);
  EXPECT_LE(pages_end, pages_after_first_day * 3 / 2)
    << "after day 2: " << pages_after_first_day << " pages, at the end: " << pages_end;
}

TEST_F(AlertRetentionTest, OnlyResolvedAlertsAreDeletedAndAnOldOpenAlertIsKept) {
  alert open;
  open.id = "open-1";
  open.hospital_id = "h1";
  open.created_at = t0;
  hospital_of_[open.id] = open.hospital_id;
  commit(open, "alert.created", t0);
  alert acked = open;
  acked.id = "acked-1";
  acked.status = alert_status::acknowledged;
  acked.acknowledged_at = t0 + 1;
  hospital_of_[acked.id] = acked.hospital_id;
  commit(acked, "alert.acknowledged", t0 + 1);
  alert resolved = open;
  resolved.id = "resolved-1";
  resolved.status = alert_status::resolved;
  resolved.resolved_at = t0 + 2;
  hospital_of_[resolved.id] = resolved.hospital_id;
  commit(resolved, "alert.resolved", t0 + 2);

  std::string error;
  std::vector<event_store::pruned_alert> gone;
  // The horizon is exclusive: resolved exactly at it is kept.
  EXPECT_EQ(store_->prune_resolved_alerts(t0 + 2, 10, &gone, &error), 0u) << error;
  EXPECT_EQ(store_->prune_resolved_alerts(t0 + 100 * day_ms, 0, &gone, &error), 0u) << error;
  EXPECT_EQ(store_->prune_resolved_alerts(t0 + 100 * day_ms, 10, &gone, &error), 1u) << error;
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].id, "resolved-1");
  EXPECT_EQ(gone[0].hospital_id, "h1");
  EXPECT_TRUE(store_->load_alert("open-1").has_value());
  EXPECT_TRUE(store_->load_alert("acked-1").has_value());
  EXPECT_FALSE(store_->load_alert("resolved-1").has_value());
  EXPECT_FALSE(store_->hospital_of_alert("resolved-1").has_value());
  EXPECT_EQ(store_->history_page("h1", INT64_MIN, INT64_MAX, 10, 0).total, 2u);
  EXPECT_TRUE(error.empty()) << error;
}

TEST_F(AlertRetentionTest, FindingExpiredAlertsIsAnIndexRange) {
  std::string plan;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  const std::string sql = std::string("EXPLAIN QUERY PLAN ") + sql::prune_resolved_alerts;
  ASSERT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  while (sqlite3_step(s) == SQLITE_ROW)
    plan += reinterpret_cast<const char*>(sqlite3_column_text(s, 3)) + std::string("\n");
  sqlite3_finalize(s);
  sqlite3_close(db);
  EXPECT_NE(plan.find("USING INDEX alerts_resolved_at"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("SCAN alerts"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
}

TEST_F(AlertRetentionTest, ReadOnlyStoreRefusesToPrune) {
  store_.reset();
  std::string error;
  auto ro = event_store::open(path(), open_options{true, false}, &error);
  ASSERT_NE(ro, nullptr) << error;
  EXPECT_EQ(ro->prune_resolved_alerts(t0, 10, nullptr, &error), 0u);
  EXPECT_NE(error.find("read-only"), std::string::npos) << error;
}

} // namespace
} // namespace vigil::storage
