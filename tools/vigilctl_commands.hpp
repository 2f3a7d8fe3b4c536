#pragma once
// vigilctl's subcommands. Each lives in its own tools/vigilctl_<name>.cpp and is listed once in
// the dispatch table of tools/vigilctl.cpp.
//
// Calling convention: `argv[0]` is the subcommand's name and `argv[1..argc)` are its arguments
// (what followed the name on the command line). The return value is the process exit code.
// Every subcommand answers `--help`/`-h` with its usage on stdout and exit code 0.

#include <string>
#include <string_view>

namespace vigil::ctl {

/// Exit codes shared by all subcommands.
constexpr int exit_ok = 0;
constexpr int exit_failure = 1; // the operation failed (unreachable server, bad config file, …)
constexpr int exit_usage = 2;   // the command line was wrong

/// `vigilctl token`: mints an HS256 JWT for tests and demos and prints it on stdout.
int run_token(int argc, char** argv);

/// `vigilctl watch`: subscribes over WebSocket and prints each alert event as a JSON line,
/// reconnecting and resuming by lastEventId (tools/vigilctl_watch.cpp).
int run_watch(int argc, char** argv);

/// `vigilctl replay`: prints stored events offline from the database file, or online over the
/// protocol with a checkpoint file; `--verify` checks the alerts table against the event log
/// (tools/vigilctl_replay.cpp).
int run_replay(int argc, char** argv);

/// `vigilctl console`: the operator console of a running vigild, connected to its inspector
/// actor (admin.port); interactive (readline) or one command with --exec
/// (tools/vigilctl_console.cpp).
int run_console(int argc, char** argv);

/// `vigilctl backup`: copies the live database with SQLite's online backup, opening the source
/// read-only (tools/vigilctl_backup.cpp).
int run_backup(int argc, char** argv);

/// `vigilctl restore`: replaces a stopped server's database with a verified backup under a new
/// epoch, keeping the old files aside (tools/vigilctl_restore.cpp).
int run_restore(int argc, char** argv);

/// `vigilctl audit`: prints the audit trail from the database file, or verifies its hash chain
/// with --verify (tools/vigilctl_audit.cpp).
int run_audit(int argc, char** argv);

/// `vigilctl bench`: the load generator (tools/vigilctl_bench*.cpp): many subscribers and
/// publishers in one event loop; reports delivered events/s, end-to-end latency, lost and
/// duplicated events, and the server's memory and CPU. Loopback targets only.
int run_bench(int argc, char** argv);

namespace durable {
/// `vigilctl bench durable MODE …`: the durable event log benchmarks (bench/durable.sh;
/// tools/vigilctl_bench_durable.cpp). `argv[0]` is "durable", `argv[1]` the mode.
int run(int argc, char** argv);
} // namespace durable

/// Walks a subcommand's arguments in the forms `--name=value`, `--name value` and `--flag`.
/// Typical loop:
///
///     arg_cursor args(argc, argv);
///     while (!args.done()) {
///       std::string v;
///       if (args.flag("verbose")) verbose = true;
///       else if (args.value("url", v)) url = v;
///       else if (args.failed()) return usage_error(args.error());
///       else return usage_error("unknown option \"" + std::string(args.current()) + "\"");
///     }
class arg_cursor {
public:
  arg_cursor(int argc, char** argv) : argc_(argc), argv_(argv) {}

  bool done() const { return index_ >= argc_ || failed(); }
  /// The argument under the cursor.
  std::string_view current() const { return index_ < argc_ ? argv_[index_] : ""; }
  /// True (and advances) when the current argument is exactly `--<name>`.
  bool flag(std::string_view name) {
    if (!is_option(name) || current().size() != name.size() + 2) return false;
    ++index_;
    return true;
  }
  /// True (and advances) when the current argument is `--<name>=v` or `--<name> v`; stores v.
  /// A `--<name>` without a value sets error() and returns false.
  bool value(std::string_view name, std::string& out) {
    if (!is_option(name)) return false;
    std::string_view arg = current();
    if (arg.size() > name.size() + 2 && arg[name.size() + 2] == '=') {
      out = std::string(arg.substr(name.size() + 3));
      ++index_;
      return true;
    }
    if (arg.size() != name.size() + 2) return false; // a longer name sharing the prefix
    if (index_ + 1 >= argc_) {
      error_ = "missing value for --" + std::string(name);
      return false;
    }
    out = argv_[index_ + 1];
    index_ += 2;
    return true;
  }
  /// True when the current argument is `--help` or `-h`.
  bool help() const { return current() == "--help" || current() == "-h"; }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

private:
  bool is_option(std::string_view name) const {
    std::string_view arg = current();
    return arg.size() >= name.size() + 2 && arg.substr(0, 2) == "--" &&
           arg.substr(2, name.size()) == name;
  }

  int argc_;
  char** argv_;
  int index_ = 1;
  std::string error_;
};

} // namespace vigil::ctl
