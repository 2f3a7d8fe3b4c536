// Unit tests of the SQLite event store (storage/event_store.hpp). Each test works in its own
// temporary directory; a few inspect the file through a second, raw SQLite connection.

#include "storage/event_store.hpp"
#include "storage/schema.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <stdlib.h>

#include <chrono>
#include <climits>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>

namespace vigil::storage {
namespace {

namespace fs = std::filesystem;

/// A raw SQLite connection to inspect or tamper with a database behind the store's back.
class raw_db {
public:
  explicit raw_db(const std::string& path, int flags = SQLITE_OPEN_READWRITE) {
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "raw open " << path << ": " << sqlite3_errmsg(db_);
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;
  ~raw_db() { sqlite3_close_v2(db_); }

  void exec(const std::string& sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK)
      ADD_FAILURE() << "exec " << sql << ": " << (message ? message : "?");
    sqlite3_free(message);
  }
  /// The first column of every row, as text ("NULL" for NULL).
  std::vector<std::string> column(const std::string& sql, int index = 0) {
    std::vector<std::string> out;
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "prepare " << sql << ": " << sqlite3_errmsg(db_);
      return out;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, index));
      out.push_back(text ? text : "NULL");
    }
    sqlite3_finalize(s);
    return out;
  }
  std::string scalar(const std::string& sql) {
    auto values = column(sql);
    return values.empty() ? "<no row>" : values.front();
  }

private:
  sqlite3* db_ = nullptr;
};

stored_event make_event(uint64_t seq, const std::string& hospital, const std::string& alert,
                        int64_t ts, const std::string& type = "alert.created") {
  stored_event e;
  e.seq = seq;
  e.hospital_id = hospital;
  e.alert_id = alert;
  e.type = type;
  e.ts = ts;
  e.payload = R"({"id":"x-)" + std::to_string(seq) + R"(","type":")" + type + R"("})";
  e.meta = R"({"values":{"timestamp":["Date"]}})";
  e.urgency_level = 2;
  e.alert_type = "cardiac_arrest";
  return e;
}

alert_row make_alert(const std::string& id, const std::string& hospital,
                     const std::string& status = "active", int64_t created_at = 1000) {
  alert_row a;
  a.id = id;
  a.hospital_id = hospital;
  a.status = status;
  a.created_at = created_at;
  a.next_escalation_at = created_at + 120000;
  a.json = R"({"id":")" + id + R"(","status":")" + status + R"("})";
  return a;
}

write_item event_item(const stored_event& e) {
  write_item item;
  item.event = e;
  item.alert = make_alert(e.alert_id, e.hospital_id);
  return item;
}

idempotency_row make_key(const std::string& hospital, const std::string& key,
                         const std::string& reply, int64_t created_at) {
  return idempotency_row{hospital, key, reply, created_at};
}

std::vector<uint64_t> seqs_of(const std::vector<stored_event>& events) {
  std::vector<uint64_t> out;
  for (const auto& e : events) out.push_back(e.seq);
  return out;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class EventStoreTest : public ::testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/vigil-event-store-XXXXXX";
    const char* dir = mkdtemp(pattern);
    ASSERT_NE(dir, nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string path(const std::string& name = "vigil.db") const { return dir_ + "/" + name; }

  std::unique_ptr<event_store> open_store(const std::string& p, bool read_only = false) {
    std::string error;
    auto store = event_store::open(p, open_options{read_only, false}, &error);
    EXPECT_NE(store, nullptr) << error;
    return store;
  }
  std::unique_ptr<event_store> open_store() { return open_store(path()); }

  /// Commits `n` events (and their alerts) for `hospital`/`alert`, with ts = first_ts, +1, ….
  void commit_events(event_store& store, size_t n, const std::string& hospital,
                     const std::string& alert, int64_t first_ts = 1000) {
    std::vector<write_item> items;
    for (size_t i = 0; i < n; ++i)
      items.push_back(event_item(make_event(store.next_seq() + i, hospital, alert,
                                            first_ts + static_cast<int64_t>(i))));
    std::string error;
    ASSERT_TRUE(store.commit(items, &error)) << error;
  }

  std::string dir_;
};

// --- opening -------------------------------------------------------------------------------

TEST_F(EventStoreTest, NewDatabaseHasEpochAndNoEvents) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(std::regex_match(store->epoch(), std::regex("^[a-z0-9]{8}$"))) << store->epoch();
  EXPECT_EQ(store->last_seq(), 0u);
  EXPECT_EQ(store->next_seq(), 1u);
  EXPECT_EQ(store->pruned_through(), 0u);
  EXPECT_FALSE(store->read_only());
  EXPECT_TRUE(store->all_events_after(0, 100).empty());
  EXPECT_TRUE(store->load_all_alerts().empty());
  EXPECT_TRUE(store->last_error().empty());

  raw_db raw(path());
  EXPECT_EQ(raw.scalar("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.scalar("PRAGMA user_version"), std::to_string(current_schema_version()));
  EXPECT_EQ(raw.scalar("SELECT value FROM meta WHERE key='epoch'"), store->epoch());
}

TEST_F(EventStoreTest, EachNewDatabaseGetsItsOwnEpoch) {
  auto a = open_store(path("a.db"));
  auto b = open_store(path("b.db"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a->epoch(), b->epoch());
}

TEST_F(EventStoreTest, CreatesParentDirectories) {
  const std::string nested = dir_ + "/a/b/c/vigil.db";
  auto store = open_store(nested);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(fs::is_regular_file(nested));
}

TEST_F(EventStoreTest, OpenFailsCleanlyWhenParentIsAFile) {
  std::ofstream(path("blocker")) << "x";
  std::string error;
  auto store = event_store::open(path("blocker") + "/vigil.db", open_options{}, &error);
  EXPECT_EQ(store, nullptr);
  EXPECT_TRUE(contains(error, "cannot create directory")) << error;
}

TEST_F(EventStoreTest, OpenRejectsAFileThatIsNotADatabase) {
  std::ofstream(path()) << std::string(4096, 'g');
  std::string error;
  EXPECT_EQ(event_store::open(path(), open_options{}, &error), nullptr);
  EXPECT_TRUE(contains(error, "not a database")) << error;
  error.clear();
  EXPECT_EQ(event_store::open(path(), open_options{true, false}, &error), nullptr);
  EXPECT_FALSE(error.empty());
}

TEST_F(EventStoreTest, OpenRejectsEmptyPath) {
  std::string error;
  EXPECT_EQ(event_store::open("", open_options{}, &error), nullptr);
  EXPECT_FALSE(error.empty());
}

TEST_F(EventStoreTest, OpenRejectsMalformedEpoch) {
  open_store().reset();
  raw_db(path()).exec("UPDATE meta SET value='BAD!' WHERE key='epoch'");
  std::string error;
  EXPECT_EQ(event_store::open(path(), open_options{}, &error), nullptr);
  EXPECT_TRUE(contains(error, "epoch")) << error;
}

TEST_F(EventStoreTest, OpenRejectsMalformedLastSeq) {
  open_store().reset();
  raw_db(path()).exec("UPDATE meta SET value='12x' WHERE key='last_seq'");
  std::string error;
  EXPECT_EQ(event_store::open(path(), open_options{}, &error), nullptr);
  EXPECT_TRUE(contains(error, "last_seq")) << error;
}

TEST_F(EventStoreTest, InMemoryDatabaseWorks) {
  auto store = open_store(":memory:");
  ASSERT_NE(store, nullptr);
  commit_events(*store, 2, "h1", "a1");
  EXPECT_EQ(store->last_seq(), 2u);
}

TEST_F(EventStoreTest, SynchronousFullOptionOpens) {
  std::string error;
  auto store = event_store::open(path(), open_options{false, true}, &error);
  ASSERT_NE(store, nullptr) << error;
  commit_events(*store, 1, "h1", "a1");
  EXPECT_EQ(store->last_seq(), 1u);
}

TEST_F(EventStoreTest, ReopenRestoresEpochLastSeqAndData) {
  std::string epoch;
  {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    epoch = store->epoch();
    commit_events(*store, 5, "h1", "a1");
  }
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->epoch(), epoch);
  EXPECT_EQ(store->last_seq(), 5u);
  EXPECT_EQ(store->next_seq(), 6u);
  EXPECT_EQ(seqs_of(store->all_events_after(0, 100)), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  commit_events(*store, 1, "h1", "a1");
  EXPECT_EQ(store->last_seq(), 6u);
}

// --- migrations ----------------------------------------------------------------------------

TEST_F(EventStoreTest, MigrationsAreContiguousFromOne) {
  const auto& all = migrations();
  ASSERT_FALSE(all.empty());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].version, static_cast<int>(i) + 1);
    EXPECT_NE(all[i].sql, nullptr);
  }
  EXPECT_EQ(current_schema_version(), all.back().version);
}

TEST_F(EventStoreTest, FutureSchemaVersionIsRefused) {
  open_store().reset();
  const int future = current_schema_version() + 1;
  raw_db(path()).exec("PRAGMA user_version = " + std::to_string(future));
  std::string error;
  EXPECT_EQ(event_store::open(path(), open_options{}, &error), nullptr);
  EXPECT_TRUE(contains(error, "newer")) << error;
  EXPECT_TRUE(contains(error, std::to_string(future))) << error;
  error.clear();
  EXPECT_EQ(event_store::open(path(), open_options{true, false}, &error), nullptr);
  EXPECT_TRUE(contains(error, "newer")) << error;
  // The refused open changed nothing.
  EXPECT_EQ(raw_db(path()).scalar("PRAGMA user_version"), std::to_string(future));
}

std::string file_bytes(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_F(EventStoreTest, ForeignDatabaseIsRefusedAndLeftUnchanged) {
  {
    raw_db raw(path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    raw.exec("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT)");
    raw.exec("CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER)");
    raw.exec("INSERT INTO users VALUES(1, 'a')");
  }
  const std::string before = file_bytes(path());
  ASSERT_FALSE(before.empty());
  for (bool read_only : {false, true}) {
    std::string error;
    EXPECT_EQ(event_store::open(path(), open_options{read_only, false}, &error), nullptr);
    EXPECT_TRUE(contains(error, path())) << error;
    EXPECT_TRUE(contains(error, "not a vigil database")) << error;
    EXPECT_TRUE(contains(error, "orders, users")) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
  // Nothing changed: not the bytes, not the journal mode, no WAL file.
  EXPECT_EQ(file_bytes(path()), before);
  EXPECT_FALSE(fs::exists(path() + "-wal"));
  raw_db raw(path());
  EXPECT_EQ(raw.scalar("PRAGMA journal_mode"), "delete");
  EXPECT_EQ(raw.scalar("PRAGMA user_version"), "0");
}

TEST_F(EventStoreTest, ForeignTablesNamedLikeVigilsAreStillForeign) {
  // Another application's events table, and one with a meta table of its own shape.
  raw_db(path("a.db"), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE).exec("CREATE TABLE events(x)");
  {
    raw_db raw(path("b.db"), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    raw.exec("CREATE TABLE meta(name TEXT, data BLOB)");
    raw.exec("CREATE TABLE events(x)");
    raw.exec("CREATE TABLE alerts(y)");
  }
  for (const char* name : {"a.db", "b.db"}) {
    std::string error;
    EXPECT_EQ(event_store::open(path(name), open_options{}, &error), nullptr) << name;
    EXPECT_TRUE(contains(error, "not a vigil database")) << error;
    raw_db raw(path(name));
    EXPECT_EQ(raw.scalar("PRAGMA journal_mode"), "delete") << name;
    EXPECT_EQ(raw.scalar("SELECT count(*) FROM sqlite_master WHERE name='idempotency'"), "0");
  }
}

TEST_F(EventStoreTest, SchemaVersionWithoutTablesIsForeign) {
  raw_db(path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE).exec("PRAGMA user_version = 7");
  std::string error;
  EXPECT_EQ(event_store::open(path(), open_options{}, &error), nullptr);
  EXPECT_TRUE(contains(error, "not a vigil database")) << error;
  EXPECT_TRUE(contains(error, "schema version 7")) << error;
}

TEST_F(EventStoreTest, EmptyFileIsInitialised) {
  std::ofstream(path()).close();
  ASSERT_EQ(fs::file_size(path()), 0u);
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  commit_events(*store, 1, "h1", "a1");
  EXPECT_EQ(raw_db(path()).scalar("PRAGMA journal_mode"), "wal");
}

TEST_F(EventStoreTest, ClassifyDatabase) {
  auto kind_of = [&](const std::string& p) {
    raw_db raw(p, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(p.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    database_kind kind = database_kind::empty;
    std::string why, error;
    EXPECT_TRUE(classify_database(db, &kind, &why, &error)) << error;
    sqlite3_close(db);
    return kind;
  };
  EXPECT_EQ(kind_of(path("new.db")), database_kind::empty);
  open_store(path("vigil.db")).reset();
  EXPECT_EQ(kind_of(path("vigil.db")), database_kind::vigil);
  raw_db(path("other.db"), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE).exec("CREATE TABLE t(x)");
  EXPECT_EQ(kind_of(path("other.db")), database_kind::foreign);
}

// --- new epoch (vigilctl restore) -------------------------------------------------------------

TEST_F(EventStoreTest, StartNewEpochMovesEveryEventIdAndKeepsSeqs) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  const std::string old = store->epoch();
  auto payload = [](const std::string& epoch, uint64_t seq) {
    return R"({"id":")" + epoch + "-" + std::to_string(seq) +
           R"(","type":"alert.created","data":{"text":"\u00fc ü -1\""}})";
  };
  std::vector<write_item> items;
  for (uint64_t seq = 1; seq <= 12; ++seq) {
    auto e = make_event(seq, "h1", "a1", 1000);
    e.payload = payload(old, seq);
    items.push_back(event_item(e));
  }
  std::string error;
  ASSERT_TRUE(store->commit(items, &error)) << error;
  ASSERT_TRUE(store->start_new_epoch(&error)) << error;
  const std::string fresh = store->epoch();
  EXPECT_NE(fresh, old);
  EXPECT_TRUE(std::regex_match(fresh, std::regex("^[a-z0-9]{8}$"))) << fresh;
  EXPECT_EQ(store->last_seq(), 12u);
  auto events = store->all_events_after(0, 100);
  ASSERT_EQ(events.size(), 12u);
  for (const auto& e : events) EXPECT_EQ(e.payload, payload(fresh, e.seq));
  store.reset();
  auto reopened = open_store();
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->epoch(), fresh);
  EXPECT_EQ(reopened->next_seq(), 13u);
}

TEST_F(EventStoreTest, StartNewEpochRefusesPayloadsWithoutTheirIdAndChangesNothing) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  const std::string old = store->epoch();
  commit_events(*store, 3, "h1", "a1");  // payload ids "x-<seq>": not of this epoch
  std::string error;
  EXPECT_FALSE(store->start_new_epoch(&error));
  EXPECT_TRUE(contains(error, "3 of 3 events do not start with their id")) << error;
  EXPECT_EQ(store->epoch(), old);
  store.reset();
  raw_db raw(path());
  EXPECT_EQ(raw.scalar("SELECT value FROM meta WHERE key='epoch'"), old);
  EXPECT_EQ(raw.scalar("SELECT payload FROM events WHERE seq=1"), make_event(1, "h", "a", 0).payload);
}

// --- closing --------------------------------------------------------------------------------

TEST_F(EventStoreTest, CloseLeavesOneSelfContainedFile) {
  auto writer = open_store();
  auto reader = open_store(path(), true);
  ASSERT_NE(writer, nullptr);
  ASSERT_NE(reader, nullptr);
  commit_events(*writer, 50, "h1", "a1");
  EXPECT_EQ(reader->all_events_after(0, 100).size(), 50u);
  ASSERT_TRUE(fs::exists(path() + "-wal"));
  std::string error;
  // The reader first: only the last connection checkpoints, and a read-only one cannot.
  EXPECT_TRUE(reader->close(&error)) << error;
  EXPECT_TRUE(writer->close(&error)) << error;
  EXPECT_TRUE(writer->close(&error)) << error;  // a second close does nothing
  EXPECT_FALSE(fs::exists(path() + "-wal"));
  // The main file alone holds everything.
  fs::copy_file(path(), path("copy.db"));
  auto copy = open_store(path("copy.db"), true);
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->epoch(), writer->epoch());
  EXPECT_EQ(copy->all_events_after(0, 100).size(), 50u);
}

// --- commit and read back -------------------------------------------------------------------

TEST_F(EventStoreTest, CommitAndReadBackAllFields) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  stored_event full = make_event(1, "h1", "a1", 1234, "alert.created");
  stored_event sparse = make_event(2, "h1", "a1", 1235, "alert.acknowledged");
  sparse.meta.clear();
  sparse.urgency_level = 0;
  sparse.alert_type.clear();
  std::string error;
  ASSERT_TRUE(store->commit({event_item(full), event_item(sparse)}, &error)) << error;
  EXPECT_EQ(store->last_seq(), 2u);

  const auto events = store->all_events_after(0, 10);
  ASSERT_EQ(events.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const stored_event& want = i == 0 ? full : sparse;
    EXPECT_EQ(events[i].seq, want.seq);
    EXPECT_EQ(events[i].hospital_id, want.hospital_id);
    EXPECT_EQ(events[i].alert_id, want.alert_id);
    EXPECT_EQ(events[i].type, want.type);
    EXPECT_EQ(events[i].ts, want.ts);
    EXPECT_EQ(events[i].payload, want.payload);
    EXPECT_EQ(events[i].meta, want.meta);
    EXPECT_EQ(events[i].urgency_level, want.urgency_level);
    EXPECT_EQ(events[i].alert_type, want.alert_type);
  }
  // Unknown attributes are stored as NULL, not as 0 / "".
  raw_db raw(path());
  EXPECT_EQ(raw.scalar("SELECT urgency_level FROM events WHERE seq=2"), "NULL");
  EXPECT_EQ(raw.scalar("SELECT alert_type FROM events WHERE seq=2"), "NULL");
  EXPECT_EQ(raw.scalar("SELECT value FROM meta WHERE key='last_seq'"), "2");
}

TEST_F(EventStoreTest, EventsAfterPagesPerHospital) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  // Interleave two hospitals: h1 gets odd seqs, h2 even seqs.
  std::vector<write_item> items;
  for (uint64_t seq = 1; seq <= 10; ++seq)
    items.push_back(event_item(make_event(seq, seq % 2 ? "h1" : "h2", seq % 2 ? "a1" : "a2",
                                          static_cast<int64_t>(seq))));
  std::string error;
  ASSERT_TRUE(store->commit(items, &error)) << error;

  EXPECT_EQ(seqs_of(store->events_after("h1", 0, 2)), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(seqs_of(store->events_after("h1", 3, 2)), (std::vector<uint64_t>{5, 7}));
  EXPECT_EQ(seqs_of(store->events_after("h1", 7, 2)), (std::vector<uint64_t>{9}));
  EXPECT_TRUE(store->events_after("h1", 9, 2).empty());
  // after_seq need not belong to the stream.
  EXPECT_EQ(seqs_of(store->events_after("h2", 5, 100)), (std::vector<uint64_t>{6, 8, 10}));
  EXPECT_TRUE(store->events_after("h1", 0, 0).empty());
  EXPECT_EQ(store->events_after("h1", 0, SIZE_MAX).size(), 5u);
  EXPECT_TRUE(store->events_after("h1", UINT64_MAX, 10).empty());
  EXPECT_TRUE(store->events_after("unknown", 0, 10).empty());
  EXPECT_TRUE(store->last_error().empty()) << store->last_error();
}

TEST_F(EventStoreTest, AlertEventsAndAllEventsAfter) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  std::vector<write_item> items;
  const char* alerts[] = {"a1", "a2", "a1", "a3", "a1"};
  for (uint64_t seq = 1; seq <= 5; ++seq)
    items.push_back(event_item(make_event(seq, "h1", alerts[seq - 1], static_cast<int64_t>(seq))));
  std::string error;
  ASSERT_TRUE(store->commit(items, &error)) << error;

  EXPECT_EQ(seqs_of(store->alert_events_after("a1", 0, 10)), (std::vector<uint64_t>{1, 3, 5}));
  EXPECT_EQ(seqs_of(store->alert_events_after("a1", 1, 1)), (std::vector<uint64_t>{3}));
  EXPECT_TRUE(store->alert_events_after("a9", 0, 10).empty());
  EXPECT_EQ(seqs_of(store->all_events_after(2, 2)), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(seqs_of(store->all_events_after(4, 10)), (std::vector<uint64_t>{5}));
  EXPECT_TRUE(store->all_events_after(5, 10).empty());
}

TEST_F(EventStoreTest, LastSeqOfHospitalAndAlert) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->last_seq_of_hospital("h1"), 0u);
  EXPECT_EQ(store->last_seq_of_alert("a1"), 0u);
  std::string error;
  ASSERT_TRUE(store->commit({event_item(make_event(1, "h1", "a1", 1)),
                             event_item(make_event(2, "h2", "a2", 2)),
                             event_item(make_event(3, "h1", "a3", 3)),
                             event_item(make_event(4, "h2", "a2", 4))},
                            &error))
      << error;
  EXPECT_EQ(store->last_seq_of_hospital("h1"), 3u);
  EXPECT_EQ(store->last_seq_of_hospital("h2"), 4u);
  EXPECT_EQ(store->last_seq_of_hospital("h3"), 0u);
  EXPECT_EQ(store->last_seq_of_alert("a1"), 1u);
  EXPECT_EQ(store->last_seq_of_alert("a2"), 4u);
  EXPECT_EQ(store->last_seq_of_alert("a9"), 0u);
}

TEST_F(EventStoreTest, EmptyCommitIsANoOp) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  std::string error;
  EXPECT_TRUE(store->commit({}, &error)) << error;
  EXPECT_EQ(store->last_seq(), 0u);
}

TEST_F(EventStoreTest, AlertOnlyItemsDoNotAdvanceSeq) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  write_item item;
  item.alert = make_alert("a1", "h1");
  std::string error;
  ASSERT_TRUE(store->commit({item}, &error)) << error;
  EXPECT_EQ(store->last_seq(), 0u);
  EXPECT_TRUE(store->load_alert("a1").has_value());
  EXPECT_EQ(raw_db(path()).scalar("SELECT value FROM meta WHERE key='last_seq'"), "0");
}

// --- commit failures ------------------------------------------------------------------------

TEST_F(EventStoreTest, CommitWithWrongSeqFailsAndChangesNothing) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  commit_events(*store, 2, "h1", "a1");
  const auto check_unchanged = [&] {
    EXPECT_EQ(store->last_seq(), 2u);
    EXPECT_EQ(store->all_events_after(0, 100).size(), 2u);
    EXPECT_FALSE(store->load_alert("a-new").has_value());
    raw_db raw(path());
    EXPECT_EQ(raw.scalar("SELECT count(*) FROM events"), "2");
    EXPECT_EQ(raw.scalar("SELECT value FROM meta WHERE key='last_seq'"), "2");
  };

  for (uint64_t wrong : {0ull, 2ull, 4ull}) {
    std::string error;
    EXPECT_FALSE(store->commit({event_item(make_event(wrong, "h1", "a-new", 5))}, &error));
    EXPECT_TRUE(contains(error, "expected 3")) << error;
    EXPECT_EQ(store->last_error(), error);
    check_unchanged();
  }
  // A later item out of order spoils the whole batch, including the good first item.
  std::string error;
  EXPECT_FALSE(store->commit({event_item(make_event(3, "h1", "a-new", 5)),
                              event_item(make_event(5, "h1", "a-new", 6))},
                             &error));
  EXPECT_TRUE(contains(error, "item 1")) << error;
  EXPECT_TRUE(contains(error, "expected 4")) << error;
  check_unchanged();
  // A null error pointer is allowed.
  EXPECT_FALSE(store->commit({event_item(make_event(9, "h1", "a1", 5))}, nullptr));
  // The store is still usable.
  commit_events(*store, 1, "h1", "a1");
  EXPECT_EQ(store->last_seq(), 3u);
}

TEST_F(EventStoreTest, FailingStatementRollsBackTheWholeBatch) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  commit_events(*store, 1, "h1", "a1");
  // A trigger makes the third event's insert fail after two items were written.
  raw_db(path()).exec(
      "CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.alert_id = 'boom' "
      "BEGIN SELECT RAISE(ABORT, 'boom trigger'); END");
  std::vector<write_item> items;
  items.push_back(event_item(make_event(2, "h1", "a2", 10)));
  items.back().idempotency = make_key("h1", "k1", "{\"reply\":1}", 10);
  items.push_back(event_item(make_event(3, "h2", "a3", 11)));
  items.push_back(event_item(make_event(4, "h1", "boom", 12)));
  std::string error;
  EXPECT_FALSE(store->commit(items, &error));
  EXPECT_TRUE(contains(error, "boom trigger")) << error;
  EXPECT_TRUE(contains(error, "item 2")) << error;

  EXPECT_EQ(store->last_seq(), 1u);
  EXPECT_EQ(seqs_of(store->all_events_after(0, 100)), (std::vector<uint64_t>{1}));
  EXPECT_FALSE(store->load_alert("a2").has_value());
  EXPECT_FALSE(store->load_alert("a3").has_value());
  EXPECT_FALSE(store->find_idempotent("h1", "k1", 0).has_value());
  {
    raw_db raw(path());
    EXPECT_EQ(raw.scalar("SELECT value FROM meta WHERE key='last_seq'"), "1");
    EXPECT_EQ(raw.scalar("SELECT count(*) FROM alerts"), "1");
    raw.exec("DROP TRIGGER boom");
  }
  // The same seqs commit fine once the cause is gone: the failed attempt consumed nothing.
  ASSERT_TRUE(store->commit(items, &error)) << error;
  EXPECT_EQ(store->last_seq(), 4u);
}

TEST_F(EventStoreTest, DuplicateSeqFromAnotherWriterRollsBack) {
  auto a = open_store();
  auto b = open_store();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  commit_events(*a, 1, "h1", "a1");
  // b still believes seq 1 is free.
  write_item alert_only;
  alert_only.alert = make_alert("b-alert", "h1");
  std::string error;
  EXPECT_FALSE(b->commit({alert_only, event_item(make_event(1, "h1", "b-event-alert", 5))}, &error));
  EXPECT_TRUE(contains(error, "UNIQUE")) << error;
  EXPECT_EQ(b->last_seq(), 0u);
  EXPECT_FALSE(a->load_alert("b-alert").has_value());
  EXPECT_FALSE(a->load_alert("b-event-alert").has_value());
  EXPECT_EQ(a->all_events_after(0, 10).size(), 1u);
}

TEST_F(EventStoreTest, ReadersReportFailuresThroughLastError) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  commit_events(*store, 1, "h1", "a1");
  raw_db(path()).exec("DROP TABLE events");
  EXPECT_TRUE(store->events_after("h1", 0, 10).empty());
  EXPECT_TRUE(contains(store->last_error(), "events_after")) << store->last_error();
  EXPECT_EQ(store->last_seq_of_hospital("h1"), 0u);
  EXPECT_TRUE(contains(store->last_error(), "no such table")) << store->last_error();
  std::string error;
  EXPECT_FALSE(store->commit({event_item(make_event(2, "h1", "a1", 1))}, &error));
  EXPECT_TRUE(contains(error, "no such table")) << error;
  EXPECT_EQ(store->last_seq(), 1u);
  EXPECT_EQ(store->prune(100, 100, 10, &error), 0u);
  EXPECT_TRUE(contains(error, "prune")) << error;
}

// --- alerts and idempotency -----------------------------------------------------------------

TEST_F(EventStoreTest, AlertUpsertReplacesState) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  std::string error;
  write_item a1;
  a1.alert = make_alert("a1", "h1", "active", 2000);
  write_item a2;
  a2.alert = make_alert("a2", "h1", "active", 1000);
  write_item a3;
  a3.alert = make_alert("a3", "h2", "active", 3000);
  ASSERT_TRUE(store->commit({a1, a2, a3}, &error)) << error;

  alert_row updated = make_alert("a1", "h1", "acknowledged", 2000);
  updated.next_escalation_at.reset();
  write_item up;
  up.alert = updated;
  ASSERT_TRUE(store->commit({up}, &error)) << error;

  const auto loaded = store->load_alert("a1");
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->status, "acknowledged");
  EXPECT_EQ(loaded->json, updated.json);
  EXPECT_EQ(loaded->created_at, 2000);
  EXPECT_FALSE(loaded->next_escalation_at.has_value());
  const auto other = store->load_alert("a2");
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->next_escalation_at, std::optional<int64_t>(121000));
  EXPECT_FALSE(store->load_alert("missing").has_value());
  EXPECT_TRUE(store->last_error().empty()) << store->last_error();

  const auto h1 = store->load_alerts("h1");
  ASSERT_EQ(h1.size(), 2u);
  EXPECT_EQ(h1[0].id, "a2");  // by created_at
  EXPECT_EQ(h1[1].id, "a1");
  EXPECT_TRUE(store->load_alerts("h9").empty());
  EXPECT_EQ(store->load_all_alerts().size(), 3u);
  EXPECT_EQ(store->load_alert_index(),
            (std::vector<std::pair<std::string, std::string>>{{"a1", "h1"}, {"a2", "h1"},
                                                              {"a3", "h2"}}));
}

TEST_F(EventStoreTest, EscalatingHospitalsListsActiveAlertsWithADeadlineSoonestFirst) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->escalating_hospitals().empty());
  auto item = [](alert_row a) {
    write_item w;
    w.alert = std::move(a);
    return w;
  };
  auto no_deadline = [](alert_row a) {
    a.next_escalation_at.reset();
    return a;
  };
  std::string error;
  ASSERT_TRUE(store->commit({item(make_alert("a1", "h-late", "active", 9000)),
                             item(make_alert("a2", "h-soon", "active", 5000)),
                             item(make_alert("a3", "h-soon", "active", 7000)),
                             item(make_alert("a4", "h-late", "active", 8000)),
                             // Neither acknowledged, resolved nor last-tier alerts have a timer.
                             item(no_deadline(make_alert("a5", "h-ack", "acknowledged", 1000))),
                             item(no_deadline(make_alert("a6", "h-done", "resolved", 1000))),
                             item(no_deadline(make_alert("a7", "h-last", "active", 1000)))},
                            &error))
    << error;
  auto hs = store->escalating_hospitals();
  ASSERT_EQ(hs.size(), 2u);
  EXPECT_EQ(hs[0].hospital_id, "h-soon");
  EXPECT_EQ(hs[0].earliest_deadline, 5000 + 120000);
  EXPECT_EQ(hs[0].alerts, 2u);
  EXPECT_EQ(hs[1].hospital_id, "h-late");
  EXPECT_EQ(hs[1].earliest_deadline, 8000 + 120000);
  EXPECT_EQ(hs[1].alerts, 2u);

  // Acknowledging the soonest alert moves h-soon behind h-late; acknowledging both drops it.
  alert_row ack = no_deadline(make_alert("a2", "h-soon", "acknowledged", 5000));
  ASSERT_TRUE(store->commit({item(ack)}, &error)) << error;
  hs = store->escalating_hospitals();
  ASSERT_EQ(hs.size(), 2u);
  EXPECT_EQ(hs[0].hospital_id, "h-soon");
  EXPECT_EQ(hs[0].earliest_deadline, 7000 + 120000);
  EXPECT_EQ(hs[0].alerts, 1u);
  ack = no_deadline(make_alert("a3", "h-soon", "acknowledged", 7000));
  ASSERT_TRUE(store->commit({item(ack)}, &error)) << error;
  hs = store->escalating_hospitals();
  ASSERT_EQ(hs.size(), 1u);
  EXPECT_EQ(hs[0].hospital_id, "h-late");
  EXPECT_TRUE(store->last_error().empty()) << store->last_error();

  // Start-up reads only the partial index, never the alert rows (their JSON).
  raw_db raw(path());
  std::string plan;
  for (const auto& line : raw.column(std::string{"EXPLAIN QUERY PLAN "} + sql::escalating_hospitals, 3))
    plan += line + "\n";
  EXPECT_TRUE(contains(plan, "COVERING INDEX alerts_escalating")) << plan;
}

TEST_F(EventStoreTest, IdempotencyFirstWinsWithinWindow) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  write_item first = event_item(make_event(1, "h1", "a1", 5000));
  first.idempotency = make_key("h1", "key-1", "first", 5000);
  write_item second = event_item(make_event(2, "h1", "a2", 6000));
  second.idempotency = make_key("h1", "key-1", "second", 6000);
  write_item other_hospital = event_item(make_event(3, "h2", "a3", 6000));
  other_hospital.idempotency = make_key("h2", "key-1", "h2 reply", 6000);
  std::string error;
  // Same key twice in one batch and again in a later batch: the first reply stays.
  ASSERT_TRUE(store->commit({first, second}, &error)) << error;
  write_item third = event_item(make_event(3, "h1", "a4", 7000));
  third.idempotency = make_key("h1", "key-1", "third", 7000);
  other_hospital.event->seq = 4;
  ASSERT_TRUE(store->commit({third, other_hospital}, &error)) << error;

  EXPECT_EQ(store->find_idempotent("h1", "key-1", 0), std::optional<std::string>("first"));
  EXPECT_EQ(store->find_idempotent("h1", "key-1", 5000), std::optional<std::string>("first"));
  EXPECT_FALSE(store->find_idempotent("h1", "key-1", 5001).has_value());
  EXPECT_EQ(store->find_idempotent("h2", "key-1", 0), std::optional<std::string>("h2 reply"));
  EXPECT_FALSE(store->find_idempotent("h1", "key-2", 0).has_value());
  EXPECT_FALSE(store->find_idempotent("h3", "key-1", 0).has_value());
}

// --- pruning --------------------------------------------------------------------------------

TEST_F(EventStoreTest, PruneDeletesOnlyOldEventsInBatches) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  commit_events(*store, 10, "h1", "a1", 100);  // seqs 1..10 with ts 100..109
  std::string error;
  EXPECT_EQ(store->prune(105, 200, 2, &error), 2u) << error;
  EXPECT_EQ(store->pruned_through(), 2u);
  EXPECT_EQ(store->prune(105, 200, 2, &error), 2u) << error;
  EXPECT_EQ(store->pruned_through(), 4u);
  EXPECT_EQ(store->prune(105, 200, 2, &error), 1u) << error;
  EXPECT_EQ(store->pruned_through(), 5u);
  EXPECT_EQ(store->prune(105, 200, 2, &error), 0u) << error;
  EXPECT_EQ(store->pruned_through(), 5u);
  EXPECT_TRUE(error.empty()) << error;

  EXPECT_EQ(seqs_of(store->all_events_after(0, 100)),
            (std::vector<uint64_t>{6, 7, 8, 9, 10}));
  EXPECT_EQ(store->last_seq(), 10u);
  EXPECT_EQ(store->load_all_alerts().size(), 1u);  // alerts are never pruned
  EXPECT_EQ(raw_db(path()).scalar("SELECT value FROM meta WHERE key='pruned_through'"), "5");
  store.reset();
  store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->pruned_through(), 5u);
}

TEST_F(EventStoreTest, PruneWithZeroMaxRowsDeletesNoEvents) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  commit_events(*store, 3, "h1", "a1", 100);
  std::string error;
  EXPECT_EQ(store->prune(1000, 1000, 0, &error), 0u);
  EXPECT_TRUE(error.empty()) << error;
  EXPECT_EQ(store->pruned_through(), 0u);
  EXPECT_EQ(store->all_events_after(0, 10).size(), 3u);
}

TEST_F(EventStoreTest, PruneTakesOldestTimestampsFirst) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  // A wall clock that stepped back: seq 2 is older than seq 1.
  std::string error;
  ASSERT_TRUE(store->commit({event_item(make_event(1, "h1", "a1", 50)),
                             event_item(make_event(2, "h1", "a1", 10)),
                             event_item(make_event(3, "h1", "a1", 60))},
                            &error))
      << error;
  EXPECT_EQ(store->prune(100, 100, 1, &error), 1u) << error;
  EXPECT_EQ(seqs_of(store->all_events_after(0, 10)), (std::vector<uint64_t>{1, 3}));
  // pruned_through is the highest deleted seq: every event above it is still present.
  EXPECT_EQ(store->pruned_through(), 2u);
  EXPECT_EQ(store->prune(100, 100, 1, &error), 1u) << error;
  EXPECT_EQ(store->pruned_through(), 2u);  // never goes backwards
  EXPECT_EQ(seqs_of(store->all_events_after(0, 10)), (std::vector<uint64_t>{3}));
}

TEST_F(EventStoreTest, PruneExpiresIdempotencyKeysAfter24Hours) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  const int64_t day = 24LL * 60 * 60 * 1000;
  const int64_t now = 10 * day;
  write_item old_item;
  old_item.idempotency = make_key("h1", "old", "r-old", now - day - 1);
  write_item edge_item;
  edge_item.idempotency = make_key("h1", "edge", "r-edge", now - day);
  write_item fresh_item;
  fresh_item.idempotency = make_key("h1", "fresh", "r-fresh", now - 1);
  std::string error;
  ASSERT_TRUE(store->commit({old_item, edge_item, fresh_item}, &error)) << error;
  EXPECT_EQ(store->prune(0, now, 100, &error), 0u);
  EXPECT_TRUE(error.empty()) << error;
  EXPECT_FALSE(store->find_idempotent("h1", "old", 0).has_value());
  EXPECT_EQ(store->find_idempotent("h1", "edge", 0), std::optional<std::string>("r-edge"));
  EXPECT_EQ(store->find_idempotent("h1", "fresh", 0), std::optional<std::string>("r-fresh"));
}

TEST_F(EventStoreTest, LastSeqSurvivesPruningEveryEventAndReopen) {
  std::string epoch;
  {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    epoch = store->epoch();
    commit_events(*store, 3, "h1", "a1", 100);
    std::string error;
    EXPECT_EQ(store->prune(1000, 1000, 100, &error), 3u) << error;
    EXPECT_TRUE(store->all_events_after(0, 10).empty());
    EXPECT_EQ(store->last_seq(), 3u);
  }
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->epoch(), epoch);
  EXPECT_EQ(store->last_seq(), 3u);
  EXPECT_EQ(store->next_seq(), 4u);
  EXPECT_EQ(store->pruned_through(), 3u);
  std::string error;
  EXPECT_FALSE(store->commit({event_item(make_event(1, "h1", "a1", 2000))}, &error));
  ASSERT_TRUE(store->commit({event_item(make_event(4, "h1", "a1", 2000))}, &error)) << error;
  EXPECT_EQ(seqs_of(store->all_events_after(0, 10)), (std::vector<uint64_t>{4}));
}

// --- read-only access -----------------------------------------------------------------------

TEST_F(EventStoreTest, ReadOnlyOpenWorksWhileAWriterIsActive) {
  auto writer = open_store();
  ASSERT_NE(writer, nullptr);
  commit_events(*writer, 3, "h1", "a1");
  ASSERT_TRUE(fs::exists(path() + "-wal"));  // the events are (at least partly) in the WAL

  auto reader = open_store(path(), true);
  ASSERT_NE(reader, nullptr);
  EXPECT_TRUE(reader->read_only());
  EXPECT_EQ(reader->epoch(), writer->epoch());
  EXPECT_EQ(reader->last_seq(), 3u);
  EXPECT_EQ(reader->all_events_after(0, 10).size(), 3u);
  EXPECT_EQ(reader->load_all_alerts().size(), 1u);

  // The writer keeps committing while the reader is open, and the reader sees it.
  commit_events(*writer, 2, "h1", "a1");
  EXPECT_EQ(seqs_of(reader->all_events_after(3, 10)), (std::vector<uint64_t>{4, 5}));
  EXPECT_EQ(reader->last_seq_of_hospital("h1"), 5u);

  std::string error;
  EXPECT_FALSE(reader->commit({event_item(make_event(4, "h1", "a1", 1))}, &error));
  EXPECT_TRUE(contains(error, "read-only")) << error;
  error.clear();
  EXPECT_EQ(reader->prune(INT64_MAX, INT64_MAX, 100, &error), 0u);
  EXPECT_TRUE(contains(error, "read-only")) << error;
  error.clear();
  EXPECT_FALSE(reader->probe(&error));
  EXPECT_TRUE(contains(error, "read-only")) << error;
  EXPECT_EQ(writer->all_events_after(0, 10).size(), 5u);
}

TEST_F(EventStoreTest, ReadOnlyOpenWorksAfterTheWriterClosed) {
  std::string epoch;
  {
    auto writer = open_store();
    ASSERT_NE(writer, nullptr);
    epoch = writer->epoch();
    commit_events(*writer, 4, "h1", "a1");
  }
  auto reader = open_store(path(), true);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->epoch(), epoch);
  EXPECT_EQ(reader->last_seq(), 4u);
  EXPECT_EQ(reader->all_events_after(0, 10).size(), 4u);
}

TEST_F(EventStoreTest, ReadOnlyOpenOfMissingFileFailsCleanly) {
  const std::string missing = dir_ + "/nowhere/vigil.db";
  std::string error;
  EXPECT_EQ(event_store::open(missing, open_options{true, false}, &error), nullptr);
  EXPECT_TRUE(contains(error, missing)) << error;
  EXPECT_TRUE(contains(error, "does not exist")) << error;
  EXPECT_FALSE(fs::exists(dir_ + "/nowhere"));  // nothing created
}

TEST_F(EventStoreTest, ReadOnlyOpenRefusesAnUninitialisedDatabase) {
  raw_db(path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE).exec("CREATE TABLE other(x)");
  std::string error;
  EXPECT_EQ(event_store::open(path(), open_options{true, false}, &error), nullptr);
  EXPECT_TRUE(contains(error, "not a vigil database")) << error;
  EXPECT_EQ(raw_db(path()).scalar("PRAGMA user_version"), "0");
}

// --- backup and probe -----------------------------------------------------------------------

TEST_F(EventStoreTest, BackupProducesAnEquivalentDatabase) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  std::vector<write_item> items;
  for (uint64_t seq = 1; seq <= 300; ++seq) {  // enough rows for several backup steps
    items.push_back(event_item(make_event(seq, "h" + std::to_string(seq % 3),
                                          "a" + std::to_string(seq % 7), static_cast<int64_t>(seq))));
    items.back().event->payload += std::string(500, 'p');
  }
  items.front().idempotency = make_key("h1", "k", "reply", 1);
  std::string error;
  ASSERT_TRUE(store->commit(items, &error)) << error;
  EXPECT_EQ(store->prune(11, 100, 1000, &error), 10u) << error;

  const std::string copy = dir_ + "/backups/nested/copy.db";
  ASSERT_TRUE(store->backup(copy, &error)) << error;
  commit_events(*store, 1, "h1", "a1");  // later changes do not reach the copy

  auto restored = open_store(copy);
  ASSERT_NE(restored, nullptr);
  EXPECT_EQ(restored->epoch(), store->epoch());
  EXPECT_EQ(restored->last_seq(), 300u);
  EXPECT_EQ(restored->pruned_through(), 10u);
  const auto original_events = store->all_events_after(0, 290);  // up to seq 300
  const auto copied_events = restored->all_events_after(0, 1000);
  ASSERT_EQ(copied_events.size(), 290u);
  ASSERT_EQ(original_events.size(), 290u);
  for (size_t i = 0; i < copied_events.size(); ++i) {
    EXPECT_EQ(copied_events[i].seq, original_events[i].seq);
    EXPECT_EQ(copied_events[i].payload, original_events[i].payload);
  }
  EXPECT_EQ(restored->load_alert_index(), store->load_alert_index());
  EXPECT_EQ(restored->find_idempotent("h1", "k", 0), std::optional<std::string>("reply"));
}

TEST_F(EventStoreTest, BackupToAnImpossiblePathFails) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  std::ofstream(path("blocker")) << "x";
  std::string error;
  EXPECT_FALSE(store->backup(path("blocker") + "/copy.db", &error));
  EXPECT_TRUE(contains(error, "backup")) << error;
  error.clear();
  EXPECT_FALSE(store->backup("", &error));
  EXPECT_FALSE(error.empty());
}

TEST_F(EventStoreTest, ProbeCommitsAWrite) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  std::string error;
  EXPECT_TRUE(store->probe(&error)) << error;
  EXPECT_TRUE(store->probe(&error)) << error;
  EXPECT_EQ(raw_db(path()).scalar("SELECT value FROM meta WHERE key='probe'"), "2");
  EXPECT_EQ(store->last_seq(), 0u);
}

TEST_F(EventStoreTest, ProbeFailsWhenTheWriteFails) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  std::string error;
  ASSERT_TRUE(store->probe(&error)) << error;
  // Stand-in for a storage that cannot write: the probe's upsert of meta is refused.
  raw_db(path()).exec(
      "CREATE TRIGGER refuse_probe BEFORE UPDATE ON meta WHEN NEW.key = 'probe' "
      "BEGIN SELECT RAISE(ABORT, 'no writes'); END");
  EXPECT_FALSE(store->probe(&error));
  EXPECT_TRUE(contains(error, "probe")) << error;
  EXPECT_TRUE(contains(error, "no writes")) << error;
  raw_db(path()).exec("DROP TRIGGER refuse_probe");
  error.clear();
  EXPECT_TRUE(store->probe(&error)) << error;
}

// --- query plans and performance -------------------------------------------------------------

/// The EXPLAIN QUERY PLAN detail lines of `sql`.
std::string query_plan(raw_db& db, const std::string& sql) {
  std::string plan;
  for (const auto& line : db.column("EXPLAIN QUERY PLAN " + sql, 3)) plan += line + "\n";
  return plan;
}

TEST_F(EventStoreTest, ReadersUseIndexesWithoutSorting) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  std::vector<write_item> items;
  for (uint64_t seq = 1; seq <= 200; ++seq)
    items.push_back(event_item(make_event(seq, "h" + std::to_string(seq % 4),
                                          "a" + std::to_string(seq % 9), static_cast<int64_t>(seq))));
  std::string error;
  ASSERT_TRUE(store->commit(items, &error)) << error;
  raw_db raw(path());

  const std::string events_after = query_plan(raw, sql::events_after);
  EXPECT_TRUE(contains(events_after, "events_hospital_seq")) << events_after;
  EXPECT_FALSE(contains(events_after, "TEMP B-TREE")) << events_after;

  const std::string alert_events_after = query_plan(raw, sql::alert_events_after);
  EXPECT_TRUE(contains(alert_events_after, "events_alert_seq")) << alert_events_after;
  EXPECT_FALSE(contains(alert_events_after, "TEMP B-TREE")) << alert_events_after;

  const std::string all_events_after = query_plan(raw, sql::all_events_after);
  EXPECT_TRUE(contains(all_events_after, "INTEGER PRIMARY KEY")) << all_events_after;
  EXPECT_FALSE(contains(all_events_after, "TEMP B-TREE")) << all_events_after;

  for (const char* sql : {sql::last_seq_of_hospital, sql::last_seq_of_alert, sql::prune_events}) {
    const std::string plan = query_plan(raw, sql);
    EXPECT_FALSE(contains(plan, "TEMP B-TREE")) << sql << "\n" << plan;
    EXPECT_FALSE(contains(plan, "SCAN events")) << sql << "\n" << plan;
  }
}

TEST_F(EventStoreTest, CommitThroughputReport) {
  // Not a benchmark assertion: prints the average for a batch of 100 (event + alert) items.
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  constexpr int batches = 50;
  constexpr int per_batch = 100;
  std::chrono::nanoseconds total{0};
  for (int b = 0; b < batches; ++b) {
    std::vector<write_item> items;
    items.reserve(per_batch);
    for (int i = 0; i < per_batch; ++i) {
      const uint64_t seq = store->next_seq() + static_cast<uint64_t>(i);
      stored_event e = make_event(seq, "h" + std::to_string(i % 5), "alert-" + std::to_string(seq),
                                  static_cast<int64_t>(seq));
      e.payload += std::string(300, 'd');
      items.push_back(event_item(e));
      items.back().alert->json += std::string(400, 'j');
    }
    std::string error;
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(store->commit(items, &error)) << error;
    total += std::chrono::steady_clock::now() - start;
  }
  const double avg_us =
      std::chrono::duration<double, std::micro>(total).count() / static_cast<double>(batches);
  std::cout << "[ perf     ] commit of " << per_batch << " items (event + alert): " << avg_us
            << " us average over " << batches << " batches (WAL + NORMAL)\n";
  EXPECT_EQ(store->last_seq(), static_cast<uint64_t>(batches * per_batch));
}

// --- lazy loading (schema v4) -----------------------------------------------------------------

TEST_F(EventStoreTest, LazyLoadingReadsOpenAlertsResolvedWindowAndHistoryPages) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  auto item = [](alert_row a) {
    write_item w;
    w.alert = std::move(a);
    return w;
  };
  std::string error;
  ASSERT_TRUE(store->commit({item(make_alert("a1", "h1", "resolved", 1000)),
                             item(make_alert("a2", "h1", "acknowledged", 2000)),
                             item(make_alert("a3", "h1", "resolved", 3000)),
                             item(make_alert("a4", "h1", "active", 4000)),
                             item(make_alert("a5", "h1", "resolved", 5000)),
                             item(make_alert("a6", "h1", "resolved", 5000)),
                             item(make_alert("b1", "h2", "resolved", 6000))},
                            &error))
    << error;
  auto ids = [](const std::vector<alert_row>& rows) {
    std::vector<std::string> out;
    for (auto& r : rows) out.push_back(r.id);
    return out;
  };
  EXPECT_EQ(ids(store->load_open_alerts("h1")), (std::vector<std::string>{"a2", "a4"}));
  // Newest first: createdAt, then id, descending (getAlertHistory's order).
  EXPECT_EQ(ids(store->load_resolved_newest("h1", 3)), (std::vector<std::string>{"a6", "a5", "a3"}));
  auto page = store->history_page("h1", INT64_MIN, INT64_MAX, 2, 1);
  EXPECT_EQ(page.total, 6u);
  EXPECT_EQ(ids(page.rows), (std::vector<std::string>{"a5", "a4"}));
  page = store->history_page("h1", 2000, 4000, 10, 0);
  EXPECT_EQ(page.total, 3u);
  EXPECT_EQ(ids(page.rows), (std::vector<std::string>{"a4", "a3", "a2"}));
  page = store->history_page("h1", INT64_MIN, INT64_MAX, 5, 10);
  EXPECT_EQ(page.total, 6u);
  EXPECT_TRUE(page.rows.empty());
  EXPECT_EQ(store->hospital_of_alert("b1"), std::optional<std::string>("h2"));
  EXPECT_FALSE(store->hospital_of_alert("nope").has_value());

  // Resolved since: by the alert.resolved event's time.
  stored_event resolved = make_event(1, "h1", "a5", 9000);
  resolved.type = "alert.resolved";
  stored_event other = make_event(2, "h1", "a3", 9000);
  other.type = "alert.updated";
  write_item r1;
  r1.event = resolved;
  write_item r2;
  r2.event = other;
  ASSERT_TRUE(store->commit({r1, r2}, &error)) << error;
  EXPECT_EQ(ids(store->load_resolved_since("h1", 8000)), (std::vector<std::string>{"a5"}));
  EXPECT_TRUE(store->load_resolved_since("h1", 9001).empty());
  EXPECT_TRUE(store->last_error().empty()) << store->last_error();

  // Each is an index range: no scan of the alerts table, no sort.
  raw_db raw(path());
  for (const char* sql : {sql::load_open_alerts, sql::load_resolved_newest, sql::history_count}) {
    const std::string plan = query_plan(raw, sql);
    EXPECT_FALSE(contains(plan, "SCAN alerts")) << sql << "\n" << plan;
    EXPECT_FALSE(contains(plan, "TEMP B-TREE")) << sql << "\n" << plan;
  }
  // History pages through the covering index; only the page itself (<= 100 rows) is sorted.
  const std::string history = query_plan(raw, sql::history_page);
  EXPECT_TRUE(contains(history, "COVERING INDEX alerts_hospital_created")) << history;
  EXPECT_FALSE(contains(history, "SCAN alerts")) << history;
  const std::string since = query_plan(raw, sql::load_resolved_since);
  EXPECT_TRUE(contains(since, "events_hospital_seq")) << since;
  EXPECT_FALSE(contains(since, "SCAN alerts")) << since;
}

TEST_F(EventStoreTest, SchemaV4DatabaseMigratesToV5WithTheLazyLoadingIndexes) {
  {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    std::string error;
    ASSERT_TRUE(store->commit({event_item(make_event(1, "h1", "a1", 1000))}, &error)) << error;
  }
  {
    // What a v4 database (the audit trail, no lazy-loading indexes) looks like.
    raw_db raw(path());
    raw.exec("DROP INDEX alerts_hospital_status_created");
    raw.exec("DROP INDEX alerts_hospital_created");
    raw.exec("PRAGMA user_version = 4");
  }
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  raw_db raw(path());
  EXPECT_EQ(raw.scalar("PRAGMA user_version"), std::to_string(current_schema_version()));
  EXPECT_EQ(raw.scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                       "('alerts_hospital_status_created', 'alerts_hospital_created')"),
            "2");
  EXPECT_EQ(store->load_open_alerts("h1").size(), 1u);
}

} // namespace
} // namespace vigil::storage
