// `vigilctl console`: the operator console of a running vigild (docs/operations.md). Connects to
// the inspector actor that vigild publishes with CAF's middleman on 127.0.0.1:admin.port, sends
// one request per command and prints the answer as text tables or, with --json, as the JSON the
// inspector sent. Interactive with readline (line editing, history, completion) or one-shot
// with --exec for scripts. The request/answer protocol is described in actors/inspector.hpp.

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <readline/history.h>
#include <readline/readline.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "actors/inspector.hpp"
#include "domain/json.hpp"
#include "tools/vigilctl_commands.hpp"

namespace vigil::ctl {

namespace {

constexpr const char* console_usage =
  "Usage: vigilctl console [--host HOST] [--port PORT] [--exec \"COMMAND\"] [--json]\n"
  "\n"
  "Connects to the inspector of a running vigild (admin.port, on 127.0.0.1 only) and runs\n"
  "commands: interactively with line editing and history (~/.vigilctl_history), or one\n"
  "command with --exec (for scripts).\n"
  "  --host HOST      where the inspector listens (default 127.0.0.1)\n"
  "  --port PORT      the inspector's port, vigild's admin.port (default 3011)\n"
  "  --exec \"CMD\"     run one command, print its answer and exit\n"
  "  --json           print answers as JSON (one line per answer) instead of tables\n"
  "\n"
  "Exit codes: 0 success, 1 the inspector cannot be reached or the command failed,\n"
  "2 usage error.\n"
  "\n";

constexpr const char* command_help =
  "Commands:\n"
  "  stats                          connections, subscriptions, hospitals, events/s,\n"
  "                                 deliveries/s, drops (slow-consumer closes), uptime\n"
  "  hospitals                      every loaded hospital with its counts\n"
  "  hospital ID                    one hospital: subscribers, open alerts, pending\n"
  "                                 escalations, ring depth, mailbox size\n"
  "  connections [--hospital ID]    open WebSockets (only those subscribed to ID)\n"
  "  connection ID                  one WebSocket: user, role, subscriptions, queue bytes, age\n"
  "  actors                         actors with their mailbox sizes\n"
  "  escalations                    pending escalation timers, soonest first\n"
  "  kick CONN_ID                   close one WebSocket (close code 4000)\n"
  "  reconnect-all                  ask every client to reconnect (they resume by lastEventId)\n"
  "  log-level debug|info|warn|error  change vigild's log level\n"
  "  help                           this list\n"
  "  quit, exit                     leave the console (interactive only)\n";

constexpr auto connect_timeout = std::chrono::seconds(5);
constexpr auto request_timeout = std::chrono::seconds(10);
constexpr int history_lines = 1000;

struct console_options {
  std::string host = "127.0.0.1";
  uint16_t port = 3011;
  std::optional<std::string> exec;
  bool json = false;
};

int usage_error(const std::string& message) {
  std::fprintf(stderr, "vigilctl console: %s\n(run `vigilctl console --help` for usage)\n",
               message.c_str());
  return exit_usage;
}

/// Splits a command line into words: blanks separate, '…' and "…" group, \ escapes in "…".
std::optional<std::vector<std::string>> split_words(const std::string& line, std::string* error) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word)
        words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c != '"' && c != '\'') {
      word += c;
      continue;
    }
    char quote = c;
    size_t j = i + 1;
    for (; j < line.size() && line[j] != quote; ++j) {
      if (quote == '"' && line[j] == '\\' && j + 1 < line.size())
        ++j;
      word += line[j];
    }
    if (j >= line.size()) {
      *error = std::string{"unterminated "} + quote + " quote";
      return std::nullopt;
    }
    i = j;
  }
  if (in_word)
    words.push_back(std::move(word));
  return words;
}

// ---- text output ---------------------------------------------------------------------------

std::string cell(const json::value& v) {
  switch (v.type()) {
    case json::value::kind::null: return "-";
    case json::value::kind::boolean: return v.as_bool() ? "true" : "false";
    case json::value::kind::string: return v.as_string();
    case json::value::kind::array: {
      if (v.size() == 0)
        return "-";
      std::string out;
      for (auto& x : v.as_array()) {
        if (!out.empty())
          out += ",";
        out += x.is_object() || x.is_array() ? json::to_string(x) : cell(x);
      }
      return out;
    }
    default: return json::to_string(v);
  }
}

bool is_table(const json::value& v) {
  if (!v.is_array())
    return false;
  for (auto& x : v.as_array())
    if (!x.is_object())
      return false;
  return true;
}

/// Prints an array of objects as a table: one column per key (in order of first appearance),
/// numbers right-aligned.
void print_table(const json::value& rows, const std::string& indent) {
  if (rows.size() == 0) {
    std::printf("%s(none)\n", indent.c_str());
    return;
  }
  std::vector<std::string> keys;
  for (auto& r : rows.as_array())
    for (auto& [k, v] : r.as_object())
      if (std::find(keys.begin(), keys.end(), k) == keys.end())
        keys.push_back(k);
  std::vector<size_t> width;
  std::vector<bool> numeric(keys.size(), true);
  for (size_t c = 0; c < keys.size(); ++c) {
    size_t w = keys[c].size();
    for (auto& r : rows.as_array()) {
      auto* v = r.find(keys[c]);
      w = std::max(w, v != nullptr ? cell(*v).size() : size_t{1});
      if (v != nullptr && !v->is_number() && !v->is_null())
        numeric[c] = false;
    }
    width.push_back(w);
  }
  auto print_row = [&](auto&& text_of) {
    std::string line = indent;
    for (size_t c = 0; c < keys.size(); ++c) {
      auto text = text_of(c);
      auto pad = std::string(width[c] - std::min(width[c], text.size()), ' ');
      line += numeric[c] ? pad + text : text + (c + 1 < keys.size() ? pad : "");
      if (c + 1 < keys.size())
        line += "  ";
    }
    std::printf("%s\n", line.c_str());
  };
  print_row([&](size_t c) {
    std::string h = keys[c];
    std::transform(h.begin(), h.end(), h.begin(), [](unsigned char ch) { return std::toupper(ch); });
    return h;
  });
  for (auto& r : rows.as_array())
    print_row([&](size_t c) {
      auto* v = r.find(keys[c]);
      return v != nullptr ? cell(*v) : std::string{"-"};
    });
}

/// Prints an answer: objects as `key  value` lines (nested tables below them), arrays of
/// objects as tables.
void print_text(const json::value& data) {
  if (is_table(data)) {
    print_table(data, "");
    return;
  }
  if (!data.is_object()) {
    std::printf("%s\n", cell(data).c_str());
    return;
  }
  size_t width = 0;
  for (auto& [k, v] : data.as_object())
    if (!is_table(v) || v.size() == 0)
      width = std::max(width, k.size());
  for (auto& [k, v] : data.as_object())
    if (!is_table(v) || v.size() == 0)
      std::printf("%-*s  %s\n", static_cast<int>(width), k.c_str(), cell(v).c_str());
  for (auto& [k, v] : data.as_object())
    if (is_table(v) && v.size() > 0) {
      std::printf("\n%s:\n", k.c_str());
      print_table(v, "  ");
    }
}

// ---- the connection ------------------------------------------------------------------------

/// The console's side of CAF: an actor system with the middleman and the inspector's handle.
class inspector_link {
public:
  explicit inspector_link(const console_options& opts) : opts_(opts), sys_(configure(cfg_)) {}

  std::string address() const { return opts_.host + ":" + std::to_string(opts_.port); }

  /// Connects (again); false with *error when the inspector cannot be reached.
  bool connect(std::string* error) {
    // remote_actor blocks until the CAF handshake completes; a peer that accepts the TCP
    // connection but never answers (not a CAF node) would block it for good, so wait at most
    // connect_timeout for it on another thread.
    auto result = std::make_shared<std::promise<caf::expected<caf::actor>>>();
    auto answer = result->get_future();
    std::thread([this, result] {
      result->set_value(sys_.middleman().remote_actor(opts_.host, opts_.port));
    }).detach();
    if (answer.wait_for(connect_timeout) != std::future_status::ready) {
      *error = "no answer within " + std::to_string(connect_timeout.count())
               + " s (is this vigild's admin.port?)";
      stuck_ = true;
      return false;
    }
    auto hdl = answer.get();
    if (!hdl) {
      *error = describe(hdl.error());
      return false;
    }
    inspector_ = *hdl;
    return true;
  }

  bool connected() const { return static_cast<bool>(inspector_); }
  /// True when a connection attempt never finished: the process must not wait for it at exit.
  bool stuck() const { return stuck_; }

  /// Sends one command; the inspector's JSON answer, or nullopt with *error.
  std::optional<std::string> ask(const std::string& command, const std::vector<std::string>& args,
                                 std::string* error) {
    std::optional<std::string> out;
    caf::scoped_actor self{sys_};
    self->request(inspector_, request_timeout, inspect_atom::value, command, args)
      .receive([&](std::string& text) { out = std::move(text); },
               [&](caf::error& err) {
                 *error = err == caf::sec::request_timeout
                            ? "the inspector did not answer within "
                                + std::to_string(request_timeout.count()) + " s"
                            : "lost the connection to the vigild inspector at " + address()
                                + ": " + describe(err);
                 inspector_ = caf::actor{};
               });
    return out;
  }

private:
  static caf::actor_system_config& configure(caf::actor_system_config& cfg) {
    cfg.set("scheduler.max-threads", 1);
    cfg.set("logger.verbosity", caf::atom("quiet"));
    cfg.load<caf::io::middleman>();
    return cfg;
  }

  std::string describe(const caf::error& err) {
    auto text = sys_.render(err);
    if (err == caf::sec::cannot_connect_to_node)
      return "connection refused or unreachable (is vigild running, with admin.port="
             + std::to_string(opts_.port) + "?) [" + text + "]";
    if (err == caf::sec::malformed_basp_message || err == caf::sec::unexpected_message)
      return "the peer is not a CAF node (is " + std::to_string(opts_.port)
             + " vigild's admin.port?) [" + text + "]";
    return text;
  }

  const console_options& opts_;
  caf::actor_system_config cfg_; // before sys_: the system is built from it
  caf::actor_system sys_;
  caf::actor inspector_;
  bool stuck_ = false;
};

/// Runs one command line. Returns exit_ok, or exit_failure after printing the error.
int run_line(inspector_link& link, const console_options& opts,
             const std::vector<std::string>& words) {
  if (words.empty())
    return exit_ok;
  if (words[0] == "help") {
    std::printf("%s", command_help);
    return exit_ok;
  }
  std::string error;
  if (!link.connected() && !link.connect(&error)) {
    std::fprintf(stderr, "vigilctl console: cannot reach the vigild inspector at %s: %s\n",
                 link.address().c_str(), error.c_str());
    return exit_failure;
  }
  std::vector<std::string> args(words.begin() + 1, words.end());
  auto text = link.ask(words[0], args, &error);
  if (!text) {
    std::fprintf(stderr, "vigilctl console: %s\n", error.c_str());
    return exit_failure;
  }
  auto answer = json::parse(*text, &error);
  auto* ok = answer ? answer->find("ok") : nullptr;
  if (ok == nullptr) {
    std::fprintf(stderr, "vigilctl console: unreadable answer from the inspector\n");
    return exit_failure;
  }
  if (!ok->as_bool()) {
    auto* e = answer->find("error");
    std::fprintf(stderr, "vigilctl console: %s\n",
                 e != nullptr ? e->as_string().c_str() : "the command failed");
    return exit_failure;
  }
  static const json::value null_data;
  auto* data = answer->find("data");
  if (opts.json)
    std::printf("%s\n", json::to_string(data != nullptr ? *data : null_data).c_str());
  else
    print_text(data != nullptr ? *data : null_data);
  std::fflush(stdout);
  return exit_ok;
}

// ---- interactive ---------------------------------------------------------------------------

char* complete_command(const char* text, int state) {
  static size_t next;
  static std::vector<std::string> names;
  if (state == 0) {
    next = 0;
    names.assign(std::begin(inspector_commands), std::end(inspector_commands));
    names.push_back("quit");
    names.push_back("exit");
  }
  size_t len = std::strlen(text);
  while (next < names.size()) {
    auto& n = names[next++];
    if (n.compare(0, len, text) == 0)
      return strdup(n.c_str());
  }
  return nullptr;
}

char** complete(const char* text, int start, int) {
  rl_attempted_completion_over = 1; // no file-name completion
  if (start != 0)
    return nullptr;
  return rl_completion_matches(text, complete_command);
}

std::string history_path() {
  const char* home = std::getenv("HOME");
  return home != nullptr && *home != '\0' ? std::string{home} + "/.vigilctl_history" : "";
}

/// Reads commands until quit/exit/EOF. With a terminal: readline (editing, history,
/// completion); otherwise plain lines without a prompt (piped input).
int run_interactive(inspector_link& link, const console_options& opts) {
  bool tty = isatty(STDIN_FILENO) != 0;
  std::string error;
  if (!link.connect(&error)) {
    std::fprintf(stderr, "vigilctl console: cannot reach the vigild inspector at %s: %s\n",
                 link.address().c_str(), error.c_str());
    return exit_failure;
  }
  auto history = history_path();
  if (tty) {
    rl_readline_name = "vigilctl";
    rl_attempted_completion_function = complete;
    stifle_history(history_lines);
    if (!history.empty())
      read_history(history.c_str());
    std::printf("Connected to the vigild inspector at %s. Type `help` for the commands, `quit` "
                "to leave.\n",
                link.address().c_str());
  }
  int last = exit_ok;
  while (true) {
    std::string line;
    if (tty) {
      char* raw = readline("vigil> ");
      if (raw == nullptr) {
        std::printf("\n");
        break;
      }
      line = raw;
      std::free(raw);
      if (line.find_first_not_of(" \t") != std::string::npos)
        add_history(line.c_str());
    } else if (!std::getline(std::cin, line)) {
      break;
    }
    auto words = split_words(line, &error);
    if (!words) {
      std::fprintf(stderr, "vigilctl console: %s\n", error.c_str());
      last = exit_failure;
      continue;
    }
    if (!words->empty() && (words->front() == "quit" || words->front() == "exit"))
      break;
    last = run_line(link, opts, *words);
    if (link.stuck())
      break;
  }
  if (tty && !history.empty())
    write_history(history.c_str());
  // Piped input: the exit code tells a script whether its last command worked.
  return tty ? exit_ok : last;
}

} // namespace

int run_console(int argc, char** argv) {
  console_options opts;
  arg_cursor args(argc, argv);
  while (!args.done()) {
    std::string v;
    if (args.help()) {
      std::printf("%s%s", console_usage, command_help);
      return exit_ok;
    }
    if (args.flag("json")) {
      opts.json = true;
    } else if (args.value("host", v)) {
      if (v.empty())
        return usage_error("--host must not be empty");
      opts.host = v;
    } else if (args.value("port", v)) {
      char* end = nullptr;
      long p = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || p < 1 || p > 65535)
        return usage_error("invalid --port \"" + v + "\" (expected 1..65535)");
      opts.port = static_cast<uint16_t>(p);
    } else if (args.value("exec", v)) {
      opts.exec = v;
    } else if (args.failed()) {
      return usage_error(args.error());
    } else {
      return usage_error("unknown option \"" + std::string(args.current()) + "\"");
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> words;
  if (opts.exec) {
    std::string error;
    auto parsed = split_words(*opts.exec, &error);
    if (!parsed)
      return usage_error("--exec: " + error);
    if (parsed->empty())
      return usage_error("--exec needs a command (see `vigilctl console --help`)");
    words = std::move(*parsed);
    if (words[0] == "help") {
      std::printf("%s", command_help);
      return exit_ok;
    }
  }
  int rc = exit_ok;
  {
    inspector_link link{opts};
    rc = opts.exec ? run_line(link, opts, words) : run_interactive(link, opts);
    std::fflush(stdout);
    std::fflush(stderr);
    if (link.stuck())
      _exit(rc); // a thread is still blocked in the handshake: ~actor_system would wait for it
  }
  return rc;
}

} // namespace vigil::ctl
