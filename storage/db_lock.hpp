#pragma once
// One writer per database file: an exclusive advisory lock that vigild (and `vigilctl restore`)
// hold for as long as they may write the database. Two servers on one file would both believe
// they own the sequence numbers; the second one must refuse to start instead.
//
// The lock is flock(2) on a sidecar file `<db>.lock` that holds the holder's pid. Not a POSIX
// (fcntl) lock on the database file itself: those belong to the process and are all released
// when ANY descriptor of that file closes, which would also drop SQLite's own locks. flock
// belongs to the open file description, so it is independent of SQLite's descriptors, and the
// kernel releases it when the process ends, however it ends.

#include <memory>
#include <string>

namespace vigil::storage {

/// The lock file of the database at `db_path`: `<db_path>.lock`.
std::string lock_path_of(const std::string& db_path);

class db_lock {
public:
  /// Takes the lock of the database at `db_path` without waiting, creating the parent
  /// directories and the lock file when needed, and writes this process's pid into it.
  /// nullptr with *error set when it is held elsewhere ("database PATH in use by pid N") or
  /// cannot be taken. `:memory:` needs no lock (an object that holds nothing).
  static std::unique_ptr<db_lock> acquire(const std::string& db_path, std::string* error);

  /// Releases the lock. The lock file stays: a server that ran leaves it for the next one.
  ~db_lock();
  /// For a database refused before use (not a vigil database, unreadable): releases the lock
  /// and removes the lock file if this acquire created it, so that a refused start leaves
  /// nothing behind. A lock file that was there before stays.
  void release_refused();
  db_lock(const db_lock&) = delete;
  db_lock& operator=(const db_lock&) = delete;

private:
  db_lock() = default;
  int fd_ = -1;
  std::string path_;
  bool created_ = false;
};

} // namespace vigil::storage
