// `vigilctl console`: the operator console of a running vigild (docs/operations.md). Connects to
// vigild's console listener on 127.0.0.1:admin.port, authenticates with the admin token, sends
// one request per command and prints the answer as text tables or, with --json, as the JSON the
// inspector sent. Interactive with readline (line editing, history, completion) or one-shot
// with --exec for scripts. The protocol is described in transport/console_server.hpp.

// libedit (BSD licence) through its readline-compatible header: GNU readline is GPL-3.
#include <editline/readline.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <thread>
#include <optional>
#include <string>
#include <vector>

#include "domain/admin_token.hpp"
#include "domain/config.hpp"
#include "domain/console_protocol.hpp"
#include "domain/json.hpp"
#include "tools/vigilctl_commands.hpp"

namespace vigil::ctl {

namespace {

constexpr const char* console_usage =
  "Usage: vigilctl console [--config FILE | --db PATH | --token-file FILE] [--host HOST]\n"
  "                        [--port PORT] [--exec \"COMMAND\"] [--json]\n"
  "                        [--interval DURATION [--count N]]\n"
  "\n"
  "Connects to the inspector of a running vigild (admin.port, on 127.0.0.1 only) and runs\n"
  "commands: interactively with line editing and history (~/.vigilctl_history), or one\n"
  "command with --exec (for scripts). The console needs vigild's admin token: the file\n"
  "admin.token-file (default admin.token next to the database), readable by vigild's user.\n"
  "  --config FILE    vigild's config file: admin.port and admin.token-file (or storage.path)\n"
  "                   are taken from it (also VIGIL_CONFIG, VIGIL_DB)\n"
  "  --db PATH        vigild's storage.path: the token is admin.token next to it\n"
  "  --token-file F   read the admin token from F\n"
  "                   (without --token-file, VIGIL_ADMIN_TOKEN holds the token when set)\n"
  "  --host HOST      where the inspector listens (default 127.0.0.1)\n"
  "  --port PORT      the inspector's port, vigild's admin.port (default 3011 or the config's)\n"
  "  --exec \"CMD\"     run one command, print its answer and exit\n"
  "  --json           print answers as JSON (one line per answer) instead of tables\n"
  "  --interval D     like `redis-cli --stat`: print one line of `stats` every D (250ms, 1s,\n"
  "                   2m; a bare number is seconds; at least 100ms) until interrupted;\n"
  "                   rates are over the interval, the header repeats every 20 lines\n"
  "  --count N        with --interval: stop after N lines\n"
  "\n"
  "Exit codes: 0 success, 1 the inspector cannot be reached, refused the token or the command\n"
  "failed, 2 usage error.\n"
  "\n";

constexpr const char* command_help =
  "Read-only commands:\n"
  "  stats                          which server (version, pid, port, db, epoch), connections,\n"
  "                                 subscriptions, hospitals, events/s, deliveries/s, drops\n"
  "                                 (slow-consumer closes), uptime\n"
  "  hospitals                      every loaded hospital with its counts\n"
  "  hospital ID                    one hospital: subscribers, open alerts, pending\n"
  "                                 escalations, ring depth, mailbox size\n"
  "  connections [--hospital ID]    open WebSockets (only those subscribed to ID)\n"
  "  connection ID                  one WebSocket: user, role, subscriptions, queue bytes, age\n"
  "  actors                         actors with their mailbox sizes\n"
  "  escalations                    pending escalation timers, soonest first\n"
  "  help                           this list\n"
  "  quit, exit                     leave the console (interactive only)\n"
  "Commands that change the running server (logged by vigild):\n"
  "  kick CONN_ID                   close one WebSocket (close code 4000)\n"
  "  reconnect-all                  ask every client to reconnect (they resume by lastEventId)\n"
  "  log-level debug|info|warn|error  change vigild's log level\n";

namespace proto = console_protocol;
using clock_type = std::chrono::steady_clock;

/// Connecting, the greeting and the answer to AUTH each must come within this.
constexpr auto connect_timeout = std::chrono::seconds(5);
/// The server gives the inspector 10 s; this leaves room for the transfer.
constexpr auto request_timeout = std::chrono::seconds(15);
constexpr int history_lines = 1000;

struct console_options {
  std::string host = "127.0.0.1";
  std::optional<uint16_t> port; // default: the config's admin.port
  std::optional<std::string> exec;
  bool json = false;
  std::optional<std::string> config_file;
  std::optional<std::string> db;
  std::optional<std::string> token_file;
  std::optional<int64_t> interval_ms; // --interval: refresh `stats`
  std::optional<uint64_t> count;      // --count: lines before exiting
};

/// Where the console connects and the token it presents.
struct console_target {
  std::string host;
  uint16_t port = 3011;
  std::string token;
  std::string token_source; // for messages: "VIGIL_ADMIN_TOKEN" or the file
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

/// The console's connection to vigild's console listener (transport/console_server.hpp).
class inspector_link {
public:
  explicit inspector_link(const console_target& target) : target_(target) {}
  ~inspector_link() { close(); }

  std::string address() const { return target_.host + ":" + std::to_string(target_.port); }

  /// Connects (again) and authenticates; false with *error. *refused is set when the server
  /// answered but did not accept the token (as opposed to not being reachable at all).
  bool connect(std::string* error, bool* refused) {
    close();
    *refused = false;
    auto deadline = clock_type::now() + connect_timeout;
    if (!open_socket(deadline, error))
      return false;
    std::string line;
    if (!read_line(&line, 64, deadline, error)) {
      if (*error == "timeout")
        *error = "no answer within " + std::to_string(connect_timeout.count()) + " s (is "
                 + std::to_string(target_.port) + " vigild's admin.port?)";
      close();
      return false;
    }
    if (line == proto::greeting_busy) {
      *error = "the console is busy: too many console connections are open";
      close();
      return false;
    }
    if (line != proto::greeting_ready) {
      *error = "the peer is not a vigild console (is " + std::to_string(target_.port)
               + " vigild's admin.port?)";
      close();
      return false;
    }
    std::string auth = std::string{proto::auth_prefix} + target_.token + "\n";
    std::string reply;
    if (!send_all(auth, error) || !read_reply(&reply, deadline, error)) {
      close();
      return false;
    }
    auto answer = json::parse(reply, error);
    auto* ok = answer ? answer->find("ok") : nullptr;
    if (ok == nullptr || !ok->as_bool()) {
      auto* e = answer ? answer->find("error") : nullptr;
      *error = e != nullptr ? e->as_string() : std::string{"unreadable answer"};
      *refused = true;
      close();
      return false;
    }
    if (auto* data = answer->find("data"))
      identity_ = *data;
    return true;
  }

  bool connected() const { return fd_ >= 0; }
  /// The server's identity from the handshake: version, pid, port, admin_port, db, epoch.
  const json::value& identity() const { return identity_; }

  /// Sends one command; the inspector's JSON answer, or nullopt with *error.
  std::optional<std::string> ask(const std::vector<std::string>& words, std::string* error) {
    auto line = proto::encode_request(words) + "\n";
    if (line.size() > proto::request_line_max) {
      *error = "the command is longer than " + std::to_string(proto::request_line_max)
               + " bytes";
      return std::nullopt;
    }
    std::string reply;
    if (!send_all(line, error) || !read_reply(&reply, clock_type::now() + request_timeout, error)) {
      *error = *error == "timeout" ? "the inspector did not answer within "
                                       + std::to_string(request_timeout.count()) + " s"
                                   : "lost the connection to the vigild inspector at "
                                       + address() + ": " + *error;
      close();
      return std::nullopt;
    }
    return reply;
  }

private:
  void close() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }

  static int wait_ms(clock_type::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    return static_cast<int>(std::max<int64_t>(0, left.count()));
  }

  std::string unreachable(const std::string& why) const {
    return "connection refused or unreachable (is vigild running, with admin.port="
           + std::to_string(target_.port) + "?) [" + why + "]";
  }

  /// A TCP connection to host:port, waiting at most until the deadline.
  bool open_socket(clock_type::time_point deadline, std::string* error) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int rc = ::getaddrinfo(target_.host.c_str(), std::to_string(target_.port).c_str(), &hints,
                           &found);
    if (rc != 0) {
      *error = unreachable(::gai_strerror(rc));
      return false;
    }
    std::string why = "no address";
    for (auto* ai = found; ai != nullptr && fd_ < 0; ai = ai->ai_next) {
      int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                        ai->ai_protocol);
      if (fd < 0)
        continue;
      if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        int soerr = ETIMEDOUT;
        socklen_t len = sizeof soerr;
        if (::poll(&p, 1, wait_ms(deadline)) == 1)
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        errno = soerr;
      }
      if (errno != 0 && errno != EINPROGRESS) {
        why = std::strerror(errno);
        ::close(fd);
        continue;
      }
      fd_ = fd;
    }
    ::freeaddrinfo(found);
    if (fd_ < 0) {
      *error = unreachable(why);
      return false;
    }
    return true;
  }

  bool send_all(std::string_view data, std::string* error) {
    auto deadline = clock_type::now() + request_timeout;
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN) {
        pollfd p{fd_, POLLOUT, 0};
        if (::poll(&p, 1, wait_ms(deadline)) == 1)
          continue;
        *error = "timeout";
        return false;
      }
      *error = n < 0 ? std::strerror(errno) : "connection closed";
      return false;
    }
    return true;
  }

  /// Reads until `want` bytes are buffered; *error "timeout" when the deadline passes.
  bool fill(size_t want, clock_type::time_point deadline, std::string* error) {
    char chunk[65536];
    while (buf_.size() < want) {
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, wait_ms(deadline));
      if (r < 0 && errno == EINTR)
        continue;
      if (r == 0) {
        *error = "timeout";
        return false;
      }
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n <= 0) {
        *error = n < 0 ? std::strerror(errno) : "the server closed the connection";
        return false;
      }
      buf_.append(chunk, static_cast<size_t>(n));
    }
    return true;
  }

  /// One '\n'-terminated line of at most `max` bytes.
  bool read_line(std::string* line, size_t max, clock_type::time_point deadline,
                 std::string* error) {
    while (true) {
      auto nl = buf_.find('\n');
      if (nl != std::string::npos && nl < max) {
        line->assign(buf_, 0, nl);
        buf_.erase(0, nl + 1);
        return true;
      }
      if (buf_.size() >= max) {
        *error = "the peer is not a vigild console (is " + std::to_string(target_.port)
                 + " vigild's admin.port?)";
        return false;
      }
      if (!fill(buf_.size() + 1, deadline, error))
        return false;
    }
  }

  /// One reply: its length line, then that many bytes.
  bool read_reply(std::string* reply, clock_type::time_point deadline, std::string* error) {
    std::string line;
    if (!read_line(&line, 16, deadline, error))
      return false;
    auto len = proto::parse_reply_length(line);
    if (!len) {
      *error = "unreadable answer from the inspector";
      return false;
    }
    if (!fill(*len, deadline, error))
      return false;
    reply->assign(buf_, 0, *len);
    buf_.erase(0, *len);
    return true;
  }

  const console_target& target_;
  int fd_ = -1;
  std::string buf_;
  json::value identity_;
};

/// Connects for run_line and run_interactive, printing why not. The exit code on failure.
bool connect_or_report(inspector_link& link, const console_target& target) {
  std::string error;
  bool refused = false;
  if (link.connect(&error, &refused))
    return true;
  if (refused)
    std::fprintf(stderr, "vigilctl console: the vigild console at %s refused the admin token "
                         "from %s: %s\n",
                 link.address().c_str(), target.token_source.c_str(), error.c_str());
  else
    std::fprintf(stderr, "vigilctl console: cannot reach the vigild inspector at %s: %s\n",
                 link.address().c_str(), error.c_str());
  return false;
}

/// Runs one command line. Returns exit_ok, or exit_failure after printing the error.
int run_line(inspector_link& link, const console_options& opts, const console_target& target,
             const std::vector<std::string>& words) {
  if (words.empty())
    return exit_ok;
  if (words[0] == "help") {
    std::printf("%s", command_help);
    return exit_ok;
  }
  std::string error;
  if (!link.connected() && !connect_or_report(link, target))
    return exit_failure;
  auto text = link.ask(words, &error);
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

// ---- --interval: stats as a refreshing line -----------------------------------------------

/// A number of the stats answer (0 when absent).
double stat_number(const json::value& data, const char* key) {
  auto* v = data.find(key);
  return v != nullptr && v->is_number() ? v->as_double() : 0.0;
}

/// `redis-cli --stat` for vigild: one line of stats every interval (rates over that interval),
/// the header every 20 lines; --json prints each answer as one line instead.
int run_stat(inspector_link& link, const console_options& opts, const console_target& target) {
  if (!connect_or_report(link, target))
    return exit_failure;
  const auto interval = std::chrono::milliseconds(*opts.interval_ms);
  auto next = clock_type::now();
  std::optional<json::value> previous;
  clock_type::time_point previous_at;
  for (uint64_t n = 0; !opts.count || n < *opts.count; ++n) {
    std::this_thread::sleep_until(next);
    next += interval;
    std::string error;
    auto text = link.ask({"stats"}, &error);
    auto at = clock_type::now();
    if (!text) {
      std::fprintf(stderr, "vigilctl console: %s\n", error.c_str());
      return exit_failure;
    }
    auto answer = json::parse(*text, &error);
    auto* ok = answer ? answer->find("ok") : nullptr;
    auto* data = answer ? answer->find("data") : nullptr;
    if (ok == nullptr || !ok->as_bool() || data == nullptr || !data->is_object()) {
      std::fprintf(stderr, "vigilctl console: unreadable answer from the inspector\n");
      return exit_failure;
    }
    if (opts.json) {
      std::printf("%s\n", json::to_string(*data).c_str());
      std::fflush(stdout);
      continue;
    }
    if (n % 20 == 0)
      std::printf("%-8s %11s %9s %9s %10s %10s %12s %8s %11s\n", "time", "connections",
                  "subs", "hospitals", "events", "events/s", "deliveries/s", "drops",
                  "escalations");
    // Rates over this interval; the first line has no previous sample: the server's own.
    double events_rate = stat_number(*data, "events_per_sec");
    double deliveries_rate = stat_number(*data, "deliveries_per_sec");
    if (previous) {
      double seconds = std::chrono::duration<double>(at - previous_at).count();
      if (seconds > 0) {
        events_rate = (stat_number(*data, "events_published") -
                       stat_number(*previous, "events_published")) / seconds;
        deliveries_rate = (stat_number(*data, "events_delivered") -
                           stat_number(*previous, "events_delivered")) / seconds;
      }
    }
    std::time_t wall = std::time(nullptr);
    char clock_text[16];
    std::strftime(clock_text, sizeof clock_text, "%H:%M:%S", std::localtime(&wall));
    std::printf("%-8s %11.0f %9.0f %9.0f %10.0f %10.1f %12.1f %8.0f %11.0f\n", clock_text,
                stat_number(*data, "connections"), stat_number(*data, "subscriptions"),
                stat_number(*data, "hospitals"), stat_number(*data, "events_published"),
                events_rate, deliveries_rate, stat_number(*data, "drops"),
                stat_number(*data, "escalations_fired"));
    std::fflush(stdout);
    previous = std::move(*data);
    previous_at = at;
  }
  return exit_ok;
}

// ---- interactive ---------------------------------------------------------------------------

char* complete_command(const char* text, int state) {
  static size_t next;
  static std::vector<std::string> names;
  if (state == 0) {
    next = 0;
    names.clear();
    for (auto& c : proto::commands)
      names.push_back(c.name);
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

std::string text_field(const json::value& v, const char* key) {
  auto* f = v.find(key);
  if (f == nullptr)
    return "?";
  return f->is_string() ? f->as_string() : json::to_string(*f);
}

/// "vigild 0.1.0 (pid 4242, port 3001, database /var/lib/vigil/vigil.db, epoch 1a2b3c4d)".
std::string describe_server(const json::value& id) {
  return "vigild " + text_field(id, "version") + " (pid " + text_field(id, "pid") + ", port "
         + text_field(id, "port") + ", database " + text_field(id, "db") + ", epoch "
         + text_field(id, "epoch") + ")";
}

/// "vigil :3001 pid 4242> ".
std::string prompt_for(const json::value& id) {
  return "vigil :" + text_field(id, "port") + " pid " + text_field(id, "pid") + "> ";
}

/// Reads commands until quit/exit/EOF. With a terminal: readline (editing, history,
/// completion); otherwise plain lines without a prompt (piped input).
int run_interactive(inspector_link& link, const console_options& opts,
                    const console_target& target) {
  bool tty = isatty(STDIN_FILENO) != 0;
  std::string error;
  if (!connect_or_report(link, target))
    return exit_failure;
  auto history = history_path();
  if (tty) {
    rl_readline_name = "vigilctl";
    rl_attempted_completion_function = complete;
    stifle_history(history_lines);
    if (!history.empty())
      read_history(history.c_str());
    std::printf("Connected to %s at %s. Type `help` for the commands, `quit` to leave.\n",
                describe_server(link.identity()).c_str(), link.address().c_str());
  }
  int last = exit_ok;
  while (true) {
    std::string line;
    if (tty) {
      // The prompt names the server, so that two consoles on one box are not confused.
      auto prompt = prompt_for(link.identity());
      char* raw = readline(prompt.c_str());
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
    last = run_line(link, opts, target, *words);
  }
  if (tty && !history.empty())
    write_history(history.c_str());
  // Piped input: the exit code tells a script whether its last command worked.
  return tty ? exit_ok : last;
}

} // namespace

/// Resolves the port and the admin token: explicit options first, then VIGIL_ADMIN_TOKEN,
/// then vigild's configuration (--config/VIGIL_CONFIG, --db/VIGIL_DB, defaults). The exit code
/// when that fails (after printing why), else nullopt.
std::optional<int> resolve_target(const console_options& opts, console_target* target) {
  target->host = opts.host;
  std::vector<std::string> words{"vigilctl"};
  if (opts.config_file) {
    words.push_back("--config");
    words.push_back(*opts.config_file);
  }
  if (opts.db) {
    words.push_back("--db");
    words.push_back(*opts.db);
  }
  std::vector<const char*> argv;
  for (auto& w : words)
    argv.push_back(w.c_str());
  std::optional<config> cfg;
  auto loaded = load_config(static_cast<int>(argv.size()), argv.data(), process_env());
  if (auto* r = std::get_if<config_result>(&loaded))
    cfg = std::move(r->cfg);
  // The configuration only matters for what the options do not give.
  auto need_config = [&](const char* what) -> std::optional<int> {
    if (cfg)
      return std::nullopt;
    std::fprintf(stderr, "vigilctl console: cannot read vigild's configuration for %s: %s\n",
                 what, std::get<std::string>(loaded).c_str());
    return exit_failure;
  };
  if (opts.port) {
    target->port = *opts.port;
  } else {
    if (auto rc = need_config("admin.port (or pass --port)"))
      return rc;
    if (cfg->admin_port == 0) {
      std::fprintf(stderr, "vigilctl console: admin.port is 0 in vigild's configuration: the "
                           "console is disabled\n");
      return exit_failure;
    }
    target->port = cfg->admin_port;
  }
  const char* env = std::getenv("VIGIL_ADMIN_TOKEN");
  if (!opts.token_file && env != nullptr && *env != '\0') {
    if (auto bad = check_admin_token(env)) {
      std::fprintf(stderr, "vigilctl console: VIGIL_ADMIN_TOKEN %s\n", bad->c_str());
      return exit_usage;
    }
    target->token = env;
    target->token_source = "VIGIL_ADMIN_TOKEN";
    return std::nullopt;
  }
  std::string path;
  if (opts.token_file) {
    path = *opts.token_file;
  } else {
    if (auto rc = need_config("admin.token-file (or pass --token-file)"))
      return rc;
    path = cfg->admin_token_file;
  }
  std::string error;
  auto token = read_admin_token(path, &error);
  if (!token) {
    std::fprintf(stderr, "vigilctl console: %s (the console needs vigild's admin token: run as "
                         "vigild's user, or give --config, --db or --token-file, or set "
                         "VIGIL_ADMIN_TOKEN)\n",
                 error.c_str());
    return exit_failure;
  }
  target->token = std::move(*token);
  target->token_source = path;
  return std::nullopt;
}

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
    } else if (args.value("interval", v)) {
      auto ms = parse_duration_ms(v); // vigild's duration syntax
      if (!ms || *ms < 100 || *ms > 24LL * 3600 * 1000)
        return usage_error("invalid --interval \"" + v + "\" (expected a duration from 100ms "
                           "to 24h, e.g. 1s, 500ms, 2m)");
      opts.interval_ms = *ms;
    } else if (args.value("count", v)) {
      char* end = nullptr;
      unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || v[0] == '-' || n < 1 || n > 1000000000ULL)
        return usage_error("invalid --count \"" + v + "\" (expected 1..1000000000)");
      opts.count = n;
    } else if (args.value("token-file", v)) {
      if (v.empty())
        return usage_error("--token-file must not be empty");
      opts.token_file = v;
    } else if (args.value("db", v)) {
      if (v.empty())
        return usage_error("--db must not be empty");
      opts.db = v;
    } else if (args.value("config", v)) {
      if (v.empty())
        return usage_error("--config must not be empty");
      opts.config_file = v;
    } else if (args.failed()) {
      return usage_error(args.error());
    } else {
      return usage_error("unknown option \"" + std::string(args.current()) + "\"");
    }
  }
  if (opts.count && !opts.interval_ms)
    return usage_error("--count needs --interval");
  if (opts.interval_ms && opts.exec && *opts.exec != "stats")
    return usage_error("--interval refreshes `stats`; it cannot run --exec \"" + *opts.exec + "\"");
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
  console_target target;
  if (auto rc = resolve_target(opts, &target))
    return *rc;
  inspector_link link{target};
  int rc = opts.interval_ms ? run_stat(link, opts, target)
           : opts.exec      ? run_line(link, opts, target, words)
                            : run_interactive(link, opts, target);
  std::fflush(stdout);
  return rc;
}

} // namespace vigil::ctl
