// `vigilctl replay`: restores missed events after an outage (README.md "Programs").
//
// * offline: reads the database file read-only (works while vigild is down or running) and prints
//   a hospital's stored events as JSON lines, by event id or time range;
// * online: resumes from a checkpoint file over the real protocol (subscribeToAlerts with
//   lastEventId), prints each event once and advances the checkpoint atomically after each one;
// * --verify: checks the alerts table against the event log (storage/replay_verify.hpp).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <variant>

#include "domain/json.hpp"
#include "domain/procedures.hpp"
#include "domain/time.hpp"
#include "storage/event_store.hpp"
#include "storage/replay_verify.hpp"
#include "tools/vigilctl_commands.hpp"
#include "tools/ws_client.hpp"

namespace vigil::ctl {

namespace {

constexpr const char* replay_usage =
  "Usage: vigilctl replay --db FILE --hospital ID [--since EVENT_ID | --from TIME] [--to TIME]\n"
  "       vigilctl replay --url ws://HOST:PORT --hospital ID --checkpoint FILE [--follow]\n"
  "                       [--from-start] [--token T]\n"
  "       vigilctl replay --verify --db FILE\n"
  "\n"
  "Offline (--db): prints the hospital's stored events (the stored event objects) as JSON\n"
  "lines, oldest first, reading the database read-only; vigild may be running or down.\n"
  "  --since EVENT_ID     only events after this id; it must be of this database's epoch\n"
  "  --from TIME          only events at or after TIME (ISO-8601, e.g. 2026-01-05T10:00:00Z)\n"
  "  --to TIME            only events at or before TIME\n"
  "\n"
  "Online (--url): resumes from the event id in the checkpoint file over the tRPC protocol,\n"
  "prints every event once and rewrites the checkpoint (atomically: temporary file, fsync,\n"
  "rename) after each printed event, so a consumer that was down catches up exactly where it\n"
  "stopped. An event is printed before the checkpoint moves past it: after a crash in between,\n"
  "that one event is printed again.\n"
  "  --token T            the JWT (default: the VIGIL_TOKEN environment variable)\n"
  "  --checkpoint FILE    holds the id of the last printed event\n"
  "  --from-start         without a checkpoint file: replay every stored event of the hospital\n"
  "                       (default without a checkpoint file: start from now, i.e. just write\n"
  "                       the checkpoint)\n"
  "  --follow             keep running and print live events; reconnect when the connection\n"
  "                       drops (back-off 0.5 s, 1 s, 2 s, ... at most 10 s)\n"
  "Without --follow, replay exits 0 once it has caught up: when it has printed the event that\n"
  "was the hospital's newest when it started, or when no event arrived for 1 s (a hospital\n"
  "with no stored events).\n"
  "How the position is found: replay first subscribes with a deliberately invalid lastEventId;\n"
  "the server answers with one resync event whose id is the hospital's newest event id (which\n"
  "also names the database epoch). That id is the end of the catch-up, the start when there is\n"
  "no checkpoint, and gives `<epoch>-0` for --from-start.\n"
  "If the server cannot resume from the checkpoint (events expired by retention, or another\n"
  "database), it sends a resync event: replay warns on stderr, sets the checkpoint to the\n"
  "resync event's id and exits 3 (with --follow it goes on with live events).\n"
  "\n"
  "Verify (--verify --db FILE): derives every alert from its events and compares it with the\n"
  "alerts table; checks that event seqs have no gaps above the pruned range and that the stored\n"
  "high-water mark is not behind the log. Alerts whose alert.created event was pruned are\n"
  "counted as not verifiable. Prints a report.\n"
  "\n"
  "Exit codes: 0 success (verify: consistent), 1 failure (verify: differences found),\n"
  "2 usage error, 3 history lost (resync, or --since older than the retained events).\n";

constexpr int exit_history_lost = 3;
constexpr size_t page_size = 1000;
constexpr int connect_timeout_ms = 5000;
constexpr int answer_timeout_ms = 10000;      // for `started` and the probe's resync event
constexpr int idle_caught_up_ms = 1000;       // see the usage text
constexpr int64_t give_up_reconnecting_ms = 30000;  // without --follow
constexpr int64_t probe_subscription = 1;
constexpr int64_t replay_subscription = 2;
// Not an event id (the part after the dash is not a number), so the server answers it with a
// resync event carrying the stream's newest id.
constexpr const char* probe_last_event_id = "vigilctl-probe";

struct replay_options {
  bool verify = false;
  std::string db;
  std::string url;
  std::string token;
  std::string hospital;
  std::optional<std::string> since;
  std::optional<std::string> from_text, to_text;
  std::optional<int64_t> from_ms, to_ms;
  std::string checkpoint;
  bool follow = false;
  bool from_start = false;
};

int usage_error(const std::string& message) {
  std::fprintf(stderr, "vigilctl replay: %s\n(run `vigilctl replay --help` for usage)\n",
               message.c_str());
  return exit_usage;
}

int failure(const std::string& message) {
  std::fprintf(stderr, "vigilctl replay: %s\n", message.c_str());
  return exit_failure;
}

void warn(const std::string& message) {
  std::fprintf(stderr, "vigilctl replay: warning: %s\n", message.c_str());
}

/// Writes one line to stdout and flushes it, so a consumer sees each event at once.
bool print_line(const std::string& text) {
  std::string line = text;
  line += '\n';
  return std::fwrite(line.data(), 1, line.size(), stdout) == line.size() &&
         std::fflush(stdout) == 0;
}

// ---- Command line ---------------------------------------------------------------------------------

/// Parses the command line; returns the exit code when it should not run.
std::optional<int> parse_options(int argc, char** argv, replay_options& o) {
  arg_cursor args(argc, argv);
  std::optional<std::string> token;
  while (!args.done()) {
    std::string v;
    if (args.help()) {
      std::fputs(replay_usage, stdout);
      return exit_ok;
    }
    if (args.flag("verify")) o.verify = true;
    else if (args.value("db", v)) o.db = v;
    else if (args.value("url", v)) o.url = v;
    else if (args.value("token", v)) token = v;
    else if (args.value("hospital", v)) o.hospital = v;
    else if (args.value("since", v)) o.since = v;
    else if (args.value("from", v)) o.from_text = v;
    else if (args.value("to", v)) o.to_text = v;
    else if (args.value("checkpoint", v)) o.checkpoint = v;
    else if (args.flag("follow")) o.follow = true;
    else if (args.flag("from-start")) o.from_start = true;
    else if (args.failed()) return usage_error(args.error());
    else return usage_error("unknown option \"" + std::string(args.current()) + "\"");
  }

  const bool offline_only = o.since || o.from_text || o.to_text;
  const bool online_only = !o.checkpoint.empty() || o.follow || o.from_start || token;
  if (o.verify) {
    if (o.db.empty()) return usage_error("--verify needs --db FILE");
    if (!o.url.empty() || !o.hospital.empty() || offline_only || online_only)
      return usage_error("--verify takes only --db");
    return std::nullopt;
  }
  if (o.db.empty() == o.url.empty())
    return usage_error("give either --db FILE (offline) or --url URL (online)");
  if (o.hospital.empty()) return usage_error("--hospital is required");
  if (!valid_hospital_id(o.hospital))
    return usage_error("invalid hospital id (1..64 of A-Z a-z 0-9 _ . : -)");

  if (!o.db.empty()) {
    if (online_only)
      return usage_error("--checkpoint, --follow, --from-start and --token need --url");
    if (o.since && o.from_text) return usage_error("give either --since or --from, not both");
    if (o.since && !storage::parse_event_id(*o.since))
      return usage_error("--since must be an event id <epoch>-<seq>, e.g. k3x9q2ab-1043");
    if (o.from_text && !(o.from_ms = parse_iso(*o.from_text)))
      return usage_error("--from must be an ISO-8601 time, e.g. 2026-01-05T10:00:00.000Z");
    if (o.to_text && !(o.to_ms = parse_iso(*o.to_text)))
      return usage_error("--to must be an ISO-8601 time, e.g. 2026-01-05T11:00:00.000Z");
    if (o.from_ms && o.to_ms && *o.from_ms > *o.to_ms)
      return usage_error("--from is later than --to");
    return std::nullopt;
  }

  if (offline_only) return usage_error("--since, --from and --to need --db");
  if (o.checkpoint.empty()) return usage_error("--checkpoint FILE is required with --url");
  if (token) o.token = *token;
  else if (const char* env = std::getenv("VIGIL_TOKEN"); env != nullptr) o.token = env;
  if (o.token.empty()) return usage_error("a token is required (--token or VIGIL_TOKEN)");
  std::string error;
  if (!parse_ws_url(o.url, &error)) return usage_error("invalid --url: " + error);
  return std::nullopt;
}

// ---- --verify -------------------------------------------------------------------------------------

int run_verify(const replay_options& o) {
  std::string error;
  auto report = storage::verify_database(o.db, &error);
  if (!report) return failure(error);
  std::fputs(("database: " + o.db + "\n" + storage::format_report(*report)).c_str(), stdout);
  std::fflush(stdout);
  return report->consistent() ? exit_ok : exit_failure;
}

// ---- Offline ----------------------------------------------------------------------------------------

int run_offline(const replay_options& o) {
  std::string error;
  storage::open_options opts;
  opts.read_only = true;
  auto store = storage::event_store::open(o.db, opts, &error);
  if (!store) return failure(error);

  uint64_t after = 0;
  bool history_lost = false;
  if (o.since) {
    const auto id = *storage::parse_event_id(*o.since);
    if (id.epoch != store->epoch())
      return failure("event id " + *o.since + " is from epoch " + id.epoch +
                     ", but this database's epoch is " + store->epoch() +
                     " (ids of another database cannot be resumed from)");
    if (id.seq > store->last_seq())
      return failure("event id " + *o.since + " is newer than every event of this database "
                     "(newest seq " + std::to_string(store->last_seq()) + ")");
    after = id.seq;
    // Same rule as the server's resume: events after the id may already be gone.
    history_lost = id.seq < store->pruned_through();
  }

  const std::string errors_before = store->last_error();
  for (;;) {
    auto page = store->events_after(o.hospital, after, page_size);
    if (page.empty()) break;
    for (const storage::stored_event& e : page) {
      after = e.seq;
      if (o.from_ms && e.ts < *o.from_ms) continue;
      if (o.to_ms && e.ts > *o.to_ms) continue;
      if (!print_line(e.payload)) return failure("cannot write to stdout");
    }
  }
  if (store->last_error() != errors_before) return failure("reading events: " + store->last_error());
  if (history_lost) {
    warn("events after " + *o.since + " up to seq " + std::to_string(store->pruned_through()) +
         " were removed by retention; the events printed are the ones that remain");
    return exit_history_lost;
  }
  return exit_ok;
}

// ---- Checkpoint file ----------------------------------------------------------------------------------

/// The checkpoint's event id; nullopt when the file does not exist; a message when it exists but
/// cannot be read or does not hold an event id.
std::variant<std::optional<storage::event_id>, std::string> read_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (ec) return "cannot read checkpoint " + path + ": " + ec.message();
    return std::optional<storage::event_id>();
  }
  std::ifstream in(path);
  if (!in) return "cannot read checkpoint " + path + ": " + std::strerror(errno);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  auto id = storage::parse_event_id(text);
  if (!id)
    return "checkpoint " + path + " does not hold an event id <epoch>-<seq> (remove it to start "
           "from now, or with --from-start)";
  return std::optional<storage::event_id>(*id);
}

/// Replaces the checkpoint atomically: a crash leaves either the old or the new id, never a
/// partial file. Temporary file in the same directory, fsync, rename, fsync of the directory.
bool write_checkpoint(const std::string& path, const std::string& id, std::string* error) {
  const std::string tmp = path + ".tmp";
  const std::string content = id + "\n";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = "cannot write checkpoint " + tmp + ": " + std::strerror(errno);
    return false;
  }
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    *error = "cannot write checkpoint " + tmp + ": " + std::strerror(saved);
    return false;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "cannot replace checkpoint " + path + ": " + std::strerror(errno);
    return false;
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {  // makes the rename itself durable; best effort
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return true;
}

// ---- Online -----------------------------------------------------------------------------------------

/// The event id of a data frame: `result.id`, else the event's own `id`.
std::string event_id_of(const server_frame& f) {
  if (!f.event_id.empty()) return f.event_id;
  if (const json::value* v = f.data.find("id"); v != nullptr && v->is_string()) return v->as_string();
  return {};
}

std::string resync_reason(const json::value& event) {
  const json::value* data = event.find("data");
  const json::value* reason = data != nullptr ? data->find("reason") : nullptr;
  return reason != nullptr && reason->is_string() ? reason->as_string() : "unknown";
}

std::string describe_error(const server_frame& f) {
  return "server error " + f.error_code + " (" + std::to_string(f.error_number) +
         "): " + f.error_message;
}

class online_replay {
public:
  explicit online_replay(replay_options o) : o_(std::move(o)) {
    endpoint_ = *parse_ws_url(o_.url, nullptr);
  }

  int run() {
    auto checkpoint = read_checkpoint(o_.checkpoint);
    if (auto* message = std::get_if<std::string>(&checkpoint)) return failure(*message);
    const auto saved = std::get<std::optional<storage::event_id>>(checkpoint);

    std::string error;
    auto client = open_trpc_connection(endpoint_, o_.token, connect_timeout_ms, &error);
    if (!client) return failure(error);
    auto newest = probe(*client);
    if (auto* code = std::get_if<int>(&newest)) return *code;
    target_ = std::get<storage::event_id>(newest);

    if (saved) {
      position_ = *saved;
    } else {
      position_ = o_.from_start ? storage::event_id{target_.epoch, 0} : target_;
      if (!save(position_)) return exit_failure;
    }
    if (caught_up()) return exit_ok;

    // Connections come and go; the checkpoint (position_) is where each one resumes.
    backoff delays;
    int64_t failing_since = 0;
    for (;;) {
      std::string why;
      if (client) {
        auto done = session(*client, &why, delays);
        client->close(200);
        client.reset();
        if (done) return *done;
        failing_since = 0;
      }
      const int64_t now = monotonic_ms();
      if (failing_since == 0) failing_since = now;
      if (!o_.follow && now - failing_since > give_up_reconnecting_ms)
        return failure("giving up: " + why);
      const int delay = delays.next_ms();
      std::fprintf(stderr, "vigilctl replay: %s; reconnecting in %.1f s\n", why.c_str(),
                   delay / 1000.0);
      sleep_ms(delay);
      client = open_trpc_connection(endpoint_, o_.token, connect_timeout_ms, &why);
    }
  }

private:
  json::value input() const {
    json::value in = json::value::make_object();
    in.set("hospitalId", o_.hospital);
    return in;
  }

  /// Learns the hospital's newest event id (and the epoch) from the resync event that answers an
  /// invalid lastEventId; then stops that subscription. Returns the id or an exit code.
  std::variant<storage::event_id, int> probe(ws_client& client) {
    client.send_text(subscription_frame(probe_subscription, "healthcare.subscribeToAlerts",
                                        input(), std::string(probe_last_event_id), false));
    const int64_t deadline = monotonic_ms() + answer_timeout_ms;
    for (;;) {
      const int64_t left = deadline - monotonic_ms();
      std::string text;
      const auto status = client.receive(&text, static_cast<int>(std::max<int64_t>(0, left)));
      if (status == ws_client::receive_status::closed)
        return failure("connection lost while finding the replay position: " +
                       client.close_reason());
      if (status == ws_client::receive_status::timeout)
        return failure("the server did not answer within " +
                       std::to_string(answer_timeout_ms / 1000) + " s");
      std::string error;
      auto f = parse_server_frame(text, &error);
      if (!f) return failure("unreadable frame from the server (" + error + ")");
      if (f->type == server_frame::kind::error && (!f->id || *f->id == probe_subscription))
        return failure(describe_error(*f));
      if (f->type == server_frame::kind::reconnect)
        return failure("the server asked to reconnect while replay was starting; try again");
      if (f->type != server_frame::kind::data || f->id != probe_subscription) continue;
      const std::string id = event_id_of(*f);
      auto parsed = storage::parse_event_id(id);
      if (!is_resync_event(f->data) || !parsed)
        return failure("the server did not answer an invalid lastEventId with a resync event");
      client.send_text(stop_frame(probe_subscription));
      return *parsed;
    }
  }

  bool caught_up() const {
    return !o_.follow && position_.epoch == target_.epoch && position_.seq >= target_.seq;
  }

  bool save(const storage::event_id& id) {
    std::string error;
    if (write_checkpoint(o_.checkpoint, storage::format_event_id(id.epoch, id.seq), &error))
      return true;
    failure(error);
    return false;
  }

  /// Runs one connection; returns the exit code when done, or nullopt (with *why) to reconnect.
  std::optional<int> session(ws_client& client, std::string* why, backoff& delays) {
    const std::string resume = storage::format_event_id(position_.epoch, position_.seq);
    if (!client.send_text(subscription_frame(replay_subscription, "healthcare.subscribeToAlerts",
                                             input(), resume, false))) {
      *why = "connection lost: " + client.close_reason();
      return std::nullopt;
    }
    bool started = false;
    int64_t last_activity = monotonic_ms();
    for (;;) {
      int wait = 60000;
      if (!started) wait = answer_timeout_ms;
      else if (!o_.follow) wait = idle_caught_up_ms;
      const int64_t left = last_activity + wait - monotonic_ms();
      std::string text;
      const auto status = client.receive(&text, static_cast<int>(std::max<int64_t>(0, left)));
      if (status == ws_client::receive_status::closed) {
        *why = "connection lost: " + client.close_reason();
        return std::nullopt;
      }
      if (status == ws_client::receive_status::timeout) {
        if (monotonic_ms() - last_activity < wait) continue;
        if (!started) return failure("the server did not start the subscription");
        if (!o_.follow) return exit_ok;  // idle: caught up (see the usage text)
        last_activity = monotonic_ms();
        continue;
      }
      std::string error;
      auto f = parse_server_frame(text, &error);
      if (!f) {
        *why = "unreadable frame from the server (" + error + ")";
        return std::nullopt;
      }
      if (f->type == server_frame::kind::reconnect) {
        *why = "the server asked to reconnect";
        return std::nullopt;
      }
      if (f->type == server_frame::kind::error && (!f->id || *f->id == replay_subscription))
        return failure(describe_error(*f));
      if (f->id != replay_subscription) continue;  // e.g. the probe's `stopped`
      if (f->type == server_frame::kind::started) {
        started = true;
        delays.reset();
        last_activity = monotonic_ms();
      } else if (f->type == server_frame::kind::data) {
        last_activity = monotonic_ms();
        if (auto done = on_event(*f)) return done;
      } else if (f->type == server_frame::kind::stopped) {
        return failure("the server ended the subscription");
      }
    }
  }

  /// Prints an event and advances the checkpoint; returns an exit code when replay is done.
  std::optional<int> on_event(const server_frame& f) {
    const std::string id = event_id_of(f);
    auto parsed = storage::parse_event_id(id);
    if (!parsed) return failure("the server sent an event without a valid id");
    if (is_resync_event(f.data)) {
      warn("the server cannot resume after " +
           storage::format_event_id(position_.epoch, position_.seq) + " (" +
           resync_reason(f.data) + "): events were lost; the checkpoint is now " + id);
      position_ = *parsed;
      if (!save(position_)) return exit_failure;
      if (!o_.follow) return exit_history_lost;
      return std::nullopt;
    }
    // Never print an event twice, whatever the server sends.
    if (parsed->epoch == position_.epoch && parsed->seq <= position_.seq) return std::nullopt;
    if (!print_line(json::to_string(f.data))) return failure("cannot write to stdout");
    position_ = *parsed;
    if (!save(position_)) return exit_failure;
    if (caught_up()) return exit_ok;
    return std::nullopt;
  }

  replay_options o_;
  ws_endpoint endpoint_;
  storage::event_id target_;    // the hospital's newest event when replay started
  storage::event_id position_;  // the checkpoint: the last printed (or skipped-to) event
};

} // namespace

int run_replay(int argc, char** argv) {
  replay_options o;
  if (auto code = parse_options(argc, argv, o)) return *code;
  if (o.verify) return run_verify(o);
  if (!o.db.empty()) return run_offline(o);
  return online_replay(std::move(o)).run();
}

} // namespace vigil::ctl
