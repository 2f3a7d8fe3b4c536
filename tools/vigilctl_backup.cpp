// `vigilctl backup`: a consistent copy of the event store while vigild runs (docs/operations.md).
//
// The source is opened read-only (no migration, no pragma that writes: the live database is never
// changed) and copied with SQLite's online backup API, which works page by page under WAL next
// to the running server. The copy is written to a temporary file beside the destination, checked
// (PRAGMA quick_check, then opened as an event store), and only then renamed into place, so the
// destination is either absent or a complete, readable database.

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>

#include "storage/event_store.hpp"
#include "storage/file_check.hpp"
#include "tools/vigilctl_progress.hpp"
#include "tools/vigilctl_commands.hpp"

namespace vigil::ctl {

namespace {

constexpr const char* backup_usage =
  "Usage: vigilctl backup --db FILE --out FILE [--force]\n"
  "\n"
  "Copies the database FILE (vigild's storage.path) to --out while vigild runs, with SQLite's\n"
  "online backup: the copy is the state of one moment, every committed event up to it, and the\n"
  "server keeps committing meanwhile. The source is opened read-only and never modified. The\n"
  "copy is checked (PRAGMA quick_check) before it is renamed to --out.\n"
  "  --db FILE        the live database; it must exist\n"
  "  --out FILE       where the copy goes; refused when it exists, unless --force\n"
  "  --force          replace an existing --out\n"
  "\n"
  "Prints one line: the copy's path, epoch, newest event seq and size.\n"
  "Restore: stop vigild, `vigilctl restore --db FILE --from COPY`, start vigild.\n"
  "\n"
  "Exit codes: 0 success, 1 the backup failed, 2 usage error.\n";

int usage_error(const std::string& message) {
  std::fprintf(stderr, "vigilctl backup: %s\n(run `vigilctl backup --help` for usage)\n",
               message.c_str());
  return exit_usage;
}

int failure(const std::string& message) {
  std::fprintf(stderr, "vigilctl backup: %s\n", message.c_str());
  return exit_failure;
}

/// Makes a rename in `dir` durable.
void sync_dir(const std::filesystem::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void remove_quietly(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"})
    std::filesystem::remove(path + suffix, ec);
}

} // namespace

int run_backup(int argc, char** argv) {
  std::string db, out;
  bool force = false;
  arg_cursor args(argc, argv);
  while (!args.done()) {
    std::string v;
    if (args.help()) {
      std::printf("%s", backup_usage);
      return exit_ok;
    }
    if (args.flag("force"))
      force = true;
    else if (args.value("db", v))
      db = v;
    else if (args.value("out", v))
      out = v;
    else if (args.failed())
      return usage_error(args.error());
    else
      return usage_error("unknown option \"" + std::string(args.current()) + "\"");
  }
  if (db.empty())
    return usage_error("--db FILE is required");
  if (out.empty())
    return usage_error("--out FILE is required");

  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_regular_file(db, ec))
    return failure("database " + db + " does not exist (give vigild's storage.path)");
  if (fs::exists(out, ec)) {
    if (fs::equivalent(db, out, ec))
      return failure("--out " + out + " is the database itself");
    if (!force)
      return failure(out + " exists (use --force to replace it)");
    if (!fs::is_regular_file(out, ec))
      return failure(out + " exists and is not a file");
  }

  std::string error;
  storage::open_options ro;
  ro.read_only = true;
  auto source = storage::event_store::open(db, ro, &error);
  if (!source)
    return failure(error);

  auto out_path = fs::path(out);
  auto tmp = (out_path.parent_path() / ("." + out_path.filename().string() + ".tmp-"
                                        + std::to_string(::getpid())))
               .string();
  remove_quietly(tmp);
  progress_line bar; // on a terminal only
  bool copied = source->backup(tmp, &error, [&](uint64_t done, uint64_t total) {
    bar.update("copying: %llu of %llu pages (%.0f %%)", static_cast<unsigned long long>(done),
               static_cast<unsigned long long>(total), total ? 100.0 * done / total : 100.0);
  });
  bar.clear();
  if (!copied) {
    remove_quietly(tmp);
    return failure(error);
  }
  source.reset();
  if (auto problem = storage::check_file(tmp, "quick_check"); !problem.empty()) {
    remove_quietly(tmp);
    return failure("the copy failed its integrity check: " + problem);
  }
  // Reading it back as an event store checks the schema and gives the summary.
  auto copy = storage::event_store::open(tmp, ro, &error);
  if (!copy) {
    remove_quietly(tmp);
    return failure("the copy is not readable: " + error);
  }
  auto epoch = copy->epoch();
  auto last_seq = copy->last_seq();
  copy.reset();
  // Reading a WAL-mode file may leave its (checkpointed, empty) -wal/-shm files behind.
  std::error_code ignore;
  fs::remove(tmp + "-wal", ignore);
  fs::remove(tmp + "-shm", ignore);
  fs::rename(tmp, out, ec);
  if (ec) {
    remove_quietly(tmp);
    return failure("cannot rename the copy to " + out + ": " + ec.message());
  }
  sync_dir(out_path.parent_path());
  auto size = fs::file_size(out, ec);
  std::printf("backup written to %s: epoch %s, last event seq %llu, %llu bytes\n", out.c_str(),
              epoch.c_str(), static_cast<unsigned long long>(last_seq),
              static_cast<unsigned long long>(ec ? 0 : size));
  return exit_ok;
}

} // namespace vigil::ctl
