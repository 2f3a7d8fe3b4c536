// `vigilctl restore`: puts a backup back in place of the database while vigild is stopped
// (docs/operations.md, "Restoring").
//
// Order of work, so that the live files are touched only once everything else has succeeded:
//  1. take the database's lock (storage/db_lock.hpp): refused while a vigild holds it, and no
//     vigild can start while the restore runs;
//  2. copy the backup (SQLite backup API, so a backup that still has a -wal is read whole) to a
//     temporary file beside the database, check it (PRAGMA integrity_check), open it as an event
//     store (a foreign file is refused, an older schema migrated, a newer one refused) and verify
//     its event log against its alerts table;
//  3. give the copy a new epoch: the sequence numbers of events committed after the backup will
//     be issued again, and a new epoch keeps their old ids from ever being resumed from (a
//     client presenting one gets a resync);
//  4. move the old database and its -wal/-shm aside to `<db>.before-restore-<UTC time>`, then
//     rename the copy into place.

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "storage/db_lock.hpp"
#include "storage/event_store.hpp"
#include "storage/file_check.hpp"
#include "storage/replay_verify.hpp"
#include "tools/vigilctl_commands.hpp"

namespace vigil::ctl {

namespace {

namespace fs = std::filesystem;

constexpr const char* restore_usage =
  "Usage: vigilctl restore --db FILE --from BACKUP\n"
  "\n"
  "Replaces the database FILE (vigild's storage.path) with the backup BACKUP (made by\n"
  "`vigilctl backup`). vigild must be stopped: the restore takes the database's lock and is\n"
  "refused while a vigild holds it.\n"
  "  --db FILE        the database to replace (it need not exist)\n"
  "  --from BACKUP    the backup to restore; it is read, never changed\n"
  "\n"
  "The backup is checked first (PRAGMA integrity_check, a Vigil database, its alerts agree with\n"
  "its event log); a backup that fails changes nothing. The restored database gets a new epoch,\n"
  "so event ids handed out before can never be resumed from: clients get a resync event and\n"
  "refetch. The old FILE, FILE-wal and FILE-shm are kept as FILE.before-restore-<UTC time>.\n"
  "\n"
  "Prints one line: the restored file, its new epoch, the backup's epoch, the newest event seq\n"
  "and where the old files went.\n"
  "\n"
  "Exit codes: 0 success, 1 the restore failed or was refused, 2 usage error.\n";

constexpr const char* sidecar_suffixes[] = {"", "-wal", "-shm", "-journal"};

int usage_error(const std::string& message) {
  std::fprintf(stderr, "vigilctl restore: %s\n(run `vigilctl restore --help` for usage)\n",
               message.c_str());
  return exit_usage;
}

int failure(const std::string& message) {
  std::fprintf(stderr, "vigilctl restore: %s\n", message.c_str());
  return exit_failure;
}

void remove_quietly(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : sidecar_suffixes) fs::remove(path + suffix, ec);
}

/// Makes renames in `dir` durable.
void sync_dir(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

/// Copies the database `from` (opened read-only; its -wal included) to the new file `to`.
std::string copy_database(const std::string& from, const std::string& to) {
  sqlite3* src = nullptr;
  sqlite3* dest = nullptr;
  std::string problem;
  auto done = [&](std::string p) {
    sqlite3_close_v2(src);
    sqlite3_close_v2(dest);
    return p;
  };
  if (sqlite3_open_v2(from.c_str(), &src, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
    return done("cannot open " + from + ": " + (src ? sqlite3_errmsg(src) : "out of memory"));
  if (sqlite3_open_v2(to.c_str(), &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK)
    return done("cannot create " + to + ": " + (dest ? sqlite3_errmsg(dest) : "out of memory"));
  sqlite3_backup* b = sqlite3_backup_init(dest, "main", src, "main");
  if (b == nullptr) return done("cannot copy " + from + ": " + sqlite3_errmsg(dest));
  const int rc = sqlite3_backup_step(b, -1);
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE)
    return done("cannot copy " + from + ": " + sqlite3_errstr(rc));
  return done("");
}

/// `YYYYMMDDTHHMMSSZ` of now.
std::string utc_stamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

struct restored {
  std::string backup_epoch;
  std::string epoch;
  uint64_t last_seq = 0;
};

/// Steps 2 and 3 on the temporary copy `tmp`; empty on success, else why the backup is refused.
std::string prepare_copy(const std::string& from, const std::string& tmp, restored* out) {
  if (auto problem = copy_database(from, tmp); !problem.empty()) return problem;
  if (auto problem = storage::check_file(tmp, "integrity_check(5)"); !problem.empty())
    return "the backup " + from + " fails PRAGMA integrity_check: " + problem;
  std::string error;
  // Opening read-write refuses a foreign or newer file and migrates an older one.
  auto store = storage::event_store::open(tmp, storage::open_options{}, &error);
  if (!store) return "the backup " + from + " cannot be used: " + error;
  out->backup_epoch = store->epoch();
  if (!store->close(&error)) return "the copy of the backup cannot be closed: " + error;
  store.reset();
  auto report = storage::verify_database(tmp, &error);
  if (!report) return "the backup " + from + " cannot be verified: " + error;
  if (!report->consistent())
    return "the backup " + from + " does not verify: " + std::to_string(report->differences.size()) +
           " differences between its alerts and its event log, the first: " +
           report->differences.front() + " (see `vigilctl replay --verify --db " + from + "`)";
  store = storage::event_store::open(tmp, storage::open_options{}, &error);
  if (!store) return "the copy of the backup cannot be reopened: " + error;
  if (!store->start_new_epoch(&error)) return "the backup " + from + " cannot get a new epoch: " + error;
  out->epoch = store->epoch();
  out->last_seq = store->last_seq();
  if (!store->close(&error)) return "the copy of the backup cannot be closed: " + error;
  // The close checkpointed the WAL: the copy is one file now.
  std::error_code ec;
  if (fs::exists(tmp + "-wal", ec) && fs::file_size(tmp + "-wal", ec) > 0)
    return "the copy of the backup kept a write-ahead log after closing";
  fs::remove(tmp + "-wal", ec);
  fs::remove(tmp + "-shm", ec);
  return "";
}

} // namespace

int run_restore(int argc, char** argv) {
  std::string db, from;
  arg_cursor args(argc, argv);
  while (!args.done()) {
    std::string v;
    if (args.help()) {
      std::printf("%s", restore_usage);
      return exit_ok;
    }
    if (args.value("db", v))
      db = v;
    else if (args.value("from", v))
      from = v;
    else if (args.failed())
      return usage_error(args.error());
    else
      return usage_error("unknown option \"" + std::string(args.current()) + "\"");
  }
  if (db.empty()) return usage_error("--db FILE is required");
  if (from.empty()) return usage_error("--from BACKUP is required");

  std::error_code ec;
  if (!fs::is_regular_file(from, ec)) return failure("backup " + from + " does not exist");
  if (fs::exists(db, ec) && fs::equivalent(db, from, ec))
    return failure("--from " + from + " is the database itself");
  if (fs::exists(db, ec) && !fs::is_regular_file(db, ec))
    return failure(db + " exists and is not a file");

  std::string error;
  auto lock = storage::db_lock::acquire(db, &error);
  if (!lock) return failure(error + " (stop vigild first)");
  // A refused restore leaves no lock file of ours behind (as a refused vigild start does).
  auto refuse = [&](const std::string& why) {
    lock->release_refused();
    return failure(why);
  };

  const fs::path db_path(db);
  const std::string tmp =
    (db_path.parent_path() / ("." + db_path.filename().string() + ".restore-" +
                              std::to_string(::getpid())))
      .string();
  remove_quietly(tmp);
  restored r;
  if (auto problem = prepare_copy(from, tmp, &r); !problem.empty()) {
    remove_quietly(tmp);
    return refuse(problem + "; nothing was changed");
  }

  // Step 4: the old files aside, then the copy in place.
  const std::string aside = db + ".before-restore-" + utc_stamp();
  for (const char* suffix : sidecar_suffixes) {
    if (fs::exists(aside + suffix, ec)) {
      remove_quietly(tmp);
      return refuse(aside + suffix + " exists (a restore in the same second?); nothing was changed");
    }
  }
  std::vector<std::string> moved;
  auto undo = [&] {
    std::error_code ignore;
    for (const std::string& suffix : moved) fs::rename(aside + suffix, db + suffix, ignore);
  };
  for (const char* suffix : sidecar_suffixes) {
    if (!fs::exists(db + suffix, ec)) continue;
    fs::rename(db + suffix, aside + suffix, ec);
    if (ec) {
      undo();
      remove_quietly(tmp);
      return refuse("cannot move " + db + suffix + " aside: " + ec.message() +
                     "; nothing was changed");
    }
    moved.push_back(suffix);
  }
  fs::rename(tmp, db, ec);
  if (ec) {
    undo();
    remove_quietly(tmp);
    return refuse("cannot rename the restored copy to " + db + ": " + ec.message() +
                   "; the old database was put back");
  }
  sync_dir(db_path.parent_path());
  const std::string kept = moved.empty() ? "there was no database before"
                                         : "the old database is kept as " + aside;
  std::printf("restored %s from %s: new epoch %s (backup epoch %s), last event seq %llu; %s\n",
              db.c_str(), from.c_str(), r.epoch.c_str(), r.backup_epoch.c_str(),
              static_cast<unsigned long long>(r.last_seq), kept.c_str());
  return exit_ok;
}

} // namespace vigil::ctl
