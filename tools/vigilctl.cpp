// vigilctl: the operator tool. This file only dispatches to subcommands; each subcommand lives
// in its own tools/vigilctl_<name>.cpp and is declared in tools/vigilctl_commands.hpp.

#include <cstdio>
#include <string>
#include <string_view>

#include "tools/vigilctl_commands.hpp"

namespace {

using namespace vigil::ctl;

struct subcommand {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};

// Adding a subcommand: one line here plus its declaration in vigilctl_commands.hpp.
constexpr subcommand subcommands[] = {
  {"token", "mint a JWT (HS256) for tests and demos", run_token},
  {"watch", "subscribe to a hospital's (or one alert's) events and print them", run_watch},
  {"replay", "replay stored events (offline or online with a checkpoint); --verify", run_replay},
  {"bench", "load generator: subscribers, publishers, latency, losses (loopback only)", run_bench},
  {"console", "inspect a running vigild and run operator commands (kick, log-level, ...)",
   run_console},
  {"backup", "copy the live database safely (SQLite online backup)", run_backup},
  {"restore", "put a backup in place of the database (vigild stopped; new epoch)", run_restore},
  {"audit", "print the audit trail from the database, or --verify its hash chain", run_audit},
};

const subcommand* find_subcommand(std::string_view name) {
  for (const subcommand& s : subcommands)
    if (name == s.name) return &s;
  return nullptr;
}

void print_usage(std::FILE* out) {
  std::fprintf(out,
               "Usage: vigilctl <command> [options]\n"
               "\n"
               "Operator tool for the Vigil alert server (vigild).\n"
               "\n"
               "Commands:\n");
  for (const subcommand& s : subcommands) std::fprintf(out, "  %-10s %s\n", s.name, s.summary);
  std::fprintf(out,
               "  %-10s show this help, or a command's help\n"
               "\n"
               "Run `vigilctl <command> --help` for a command's options.\n"
               "Exit codes: 0 success, 1 the operation failed, 2 usage error.\n",
               "help");
}

int unknown_command(std::string_view name) {
  std::fprintf(stderr, "vigilctl: unknown command \"%.*s\" (run `vigilctl --help` for the list)\n",
               static_cast<int>(name.size()), name.data());
  return exit_usage;
}

/// `vigilctl help [command]`.
int run_help(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stdout);
    return exit_ok;
  }
  const subcommand* s = find_subcommand(argv[1]);
  if (!s) return unknown_command(argv[1]);
  static char help_flag[] = "--help";
  char* help_argv[] = {argv[1], help_flag, nullptr};
  return s->run(2, help_argv);
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return exit_usage;
  }
  const std::string_view command = argv[1];
  if (command == "--help" || command == "-h") {
    print_usage(stdout);
    return exit_ok;
  }
  if (command == "--version") {
    std::printf("vigilctl %s\n", VIGIL_VERSION);
    return exit_ok;
  }
  if (command == "help") return run_help(argc - 1, argv + 1);
  const subcommand* s = find_subcommand(command);
  if (!s) return unknown_command(command);
  return s->run(argc - 1, argv + 1);
}
