#include "storage/db_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <thread>

namespace vigil::storage {

namespace {

/// The pid written by the holder; 0 when the file holds none (yet).
long read_holder_pid(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  long pid = 0;
  const char* end = buf + n;
  auto [ptr, ec] = std::from_chars(buf, end, pid);
  if (ec != std::errc() || pid <= 0 || (ptr != end && *ptr != '\n')) return 0;
  return pid;
}

/// True when `fd` is still the file at `path`: a lock file removed (release_refused) after a
/// process opened it, and before that process locked it, must not count as the lock, or that
/// process and one creating a new lock file would both hold "the" lock.
bool still_at_path(int fd, const std::string& path) {
  struct stat open_file {}, at_path {};
  return ::fstat(fd, &open_file) == 0 && ::stat(path.c_str(), &at_path) == 0
         && open_file.st_dev == at_path.st_dev && open_file.st_ino == at_path.st_ino;
}

} // namespace

std::string lock_path_of(const std::string& db_path) { return db_path + ".lock"; }

std::unique_ptr<db_lock> db_lock::acquire(const std::string& db_path, std::string* error) {
  std::unique_ptr<db_lock> lock(new db_lock());
  if (db_path == ":memory:") return lock;
  const std::string path = lock_path_of(db_path);
  auto fail = [&](const std::string& what) {
    *error = "cannot lock database " + db_path + ": " + what;
    lock->release_refused();
    return nullptr;
  };
  const std::filesystem::path parent = std::filesystem::path(db_path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) return fail("cannot create directory " + parent.string() + ": " + ec.message());
  }
  lock->path_ = path;
  for (int attempt = 0;; ++attempt) {
    // O_CLOEXEC: a child started by exec must not inherit (and so keep) the lock. O_EXCL first,
    // to know whether this process created the file (release_refused removes only that).
    lock->fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    lock->created_ = lock->fd_ >= 0;
    if (lock->fd_ < 0 && errno == EEXIST)
      lock->fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (lock->fd_ < 0) {
      if (errno == ENOENT && attempt < 10) continue; // removed between the two opens
      return fail("open " + path + ": " + std::strerror(errno));
    }
    if (::flock(lock->fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) return fail("flock " + path + ": " + std::strerror(errno));
      // The holder writes its pid right after taking the lock: give it a moment to do so.
      long pid = 0;
      for (int i = 0; i < 20 && (pid = read_holder_pid(lock->fd_)) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      *error = "database " + db_path + " in use by " +
               (pid > 0 ? "pid " + std::to_string(pid) : std::string("another process"));
      return nullptr;
    }
    if (still_at_path(lock->fd_, path))
      break;
    ::close(lock->fd_); // locked a lock file that was removed meanwhile: take the current one
    lock->fd_ = -1;
    if (attempt >= 10) return fail(path + " keeps being replaced");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock->fd_, 0) != 0 ||
      ::pwrite(lock->fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
    return fail("write " + path + ": " + std::strerror(errno));
  return lock;
}

db_lock::~db_lock() {
  if (fd_ >= 0) ::close(fd_);  // closing the only descriptor releases the flock
}

void db_lock::release_refused() {
  if (fd_ < 0) return;
  // Removed while still locked: a process that opened the file meanwhile finds it locked, or
  // (once it is unlocked) no longer at its path, and takes the next one (still_at_path).
  if (created_) ::unlink(path_.c_str());
  ::close(fd_);
  fd_ = -1;
}

} // namespace vigil::storage
