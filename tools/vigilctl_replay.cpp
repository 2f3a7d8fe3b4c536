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
#include <vector>

#include "domain/event_id.hpp"
#include "domain/json.hpp"
#include "domain/procedures.hpp"
#include "domain/time.hpp"
#include "storage/event_store.hpp"
#include "storage/replay_verify.hpp"
#include "tools/vigilctl_progress.hpp"
#include "tools/vigilctl_replay_online.hpp"
#include "tools/vigilctl_commands.hpp"
#include "tools/ws_client.hpp"

namespace vigil::ctl {

namespace {

constexpr const char* replay_usage =
  "Usage: vigilctl replay --db FILE --hospital ID [--since EVENT_ID | --from TIME] [--to TIME]\n"
  "       vigilctl replay --db FILE --hospital ID --checkpoint FILE [--from-start]\n"
  "       vigilctl replay --url ws://HOST:PORT --hospital ID --checkpoint FILE [--follow]\n"
  "                       [--from-start] [--token T | --token-file PATH]\n"
  "       vigilctl replay --verify --db FILE [--json]\n"
  "       vigilctl replay --verify --url ws://HOST:PORT --hospital ID [--json] [--token T | ...]\n"
  "\n"
  "Offline (--db): prints the hospital's stored events (the stored event objects) as JSON\n"
  "lines, oldest first, reading the database read-only; vigild may be running or down.\n"
  "  --since EVENT_ID     only events after this id; it must be of this database's epoch\n"
  "  --from TIME          only events at or after TIME (ISO-8601, e.g. 2026-01-05T10:00:00Z)\n"
  "  --to TIME            only events at or before TIME\n"
  "  --checkpoint FILE    instead of --since/--from/--to: the same checkpoint file as online,\n"
  "                       with the same rules (start, --from-start, resync, exit 3), so a\n"
  "                       consumer can catch up from the database file while vigild is down\n"
  "                       and go on online afterwards (or the other way round)\n"
  "\n"
  "Online (--url): resumes from the event id in the checkpoint file over the tRPC protocol,\n"
  "prints every event once and rewrites the checkpoint (atomically: temporary file, fsync,\n"
  "rename) after each printed event, so a consumer that was down catches up exactly where it\n"
  "stopped. An event is printed before the checkpoint moves past it: after a crash in between,\n"
  "that one event is printed again. A wss:// URL verifies the server against VIGIL_CA_FILE\n"
  "(a PEM CA file) when set, else against the system's trusted CAs. --url may be repeated (or\n"
  "a comma-separated list, at most 16: the nodes of a cluster, whose event ids are valid on\n"
  "every node): replay starts on the first that answers and moves to the next on every\n"
  "failure, resuming from the checkpoint.\n"
  "%s"
  "  --checkpoint FILE    holds the id of the last printed event\n"
  "  --from-start         without a checkpoint file: replay every stored event of the hospital\n"
  "                       (default without a checkpoint file: start from now, i.e. just write\n"
  "                       the checkpoint). Ignored, with a warning, when the file exists.\n"
  "  --follow             keep running and print live events; reconnect when the connection\n"
  "                       drops (back-off 0.5 s, 1 s, 2 s, ... at most 10 s). Each reconnect\n"
  "                       line on stderr says why (close code and reason, connect error,\n"
  "                       refused token, keep-alive timeout: after 30 s without any message\n"
  "                       replay sends a PING and reconnects when nothing arrives within 10 s)\n"
  "Without --follow, replay exits 0 once it has caught up: when it has printed the event that\n"
  "was the hospital's newest when it started, or when no event arrived for 1 s (a hospital\n"
  "with no stored events).\n"
  "How the position is found: replay first subscribes with a deliberately invalid lastEventId;\n"
  "the server answers with one resync event whose id is the hospital's newest event id (which\n"
  "also names the database epoch). That id is the end of the catch-up, the start when there is\n"
  "no checkpoint, and gives `<epoch>-0` for --from-start.\n"
  "If the server cannot resume from the checkpoint (events expired by retention, or another\n"
  "database), it sends a resync event: replay warns on stderr, sets the checkpoint to the\n"
  "resync event's id and exits 3 (with --follow it goes on with live events). The same\n"
  "happens when the checkpoint is newer than the hospital's newest event (a database restored\n"
  "from a backup: the server issues those sequence numbers again, and resuming after the\n"
  "checkpoint would skip the new events that get them); the checkpoint then moves back to the\n"
  "newest event.\n"
  "At the end (--follow: on SIGTERM or SIGINT, then exit 0) replay writes one summary line to\n"
  "stderr:\n"
  "  vigilctl replay: done: N events printed, checkpoint BEFORE -> AFTER\n"
  "(BEFORE is `none` when the checkpoint file did not exist; without --checkpoint only the\n"
  "count is given).\n"
  "\n"
  "Verify (--verify --db FILE): derives every alert from its events and compares it with the\n"
  "alerts table; checks that event seqs have no gaps above the pruned range and that the stored\n"
  "high-water mark is not behind the log. Alerts whose alert.created event was pruned are\n"
  "counted as not verifiable. Prints a report; with --json one JSON object instead:\n"
  "  {\"database\",\"consistent\",\"epoch\",\"events\",\"firstSeq\",\"lastSeq\",\"metaLastSeq\",\n"
  "   \"prunedThrough\",\"alerts\",\"alertsVerified\",\"alertsNotVerifiable\",\"differences\":[...]}\n"
  "  (or {\"database\",\"error\"} when the file cannot be read as a Vigil database; exit 1).\n"
  "\n"
  "Verify online (--verify --url URL --hospital ID): replays the hospital's whole history from\n"
  "a running node (one vigild, or a cluster node, which reads it from the JetStream stream):\n"
  "checks that the event ids are of one epoch and strictly increasing, that the replay reaches\n"
  "the newest event the node announced (a stall of 10 s is a difference; no event at all\n"
  "within 3 s means the hospital has none) and that no resync event comes; derives every\n"
  "alert from its events and compares it with the node's getAlert (fetched again while the\n"
  "hospital changes). Seqs of one hospital have gaps by design (the sequence is shared by\n"
  "all hospitals), so gaps are not differences. The token's role needs view_alerts. With\n"
  "--json one object:\n"
  "  {\"url\",\"hospital\",\"consistent\",\"epoch\",\"newest\",\"events\",\"first\",\"last\",\n"
  "   \"alerts\",\"alertsVerified\",\"alertsNotVerifiable\",\"differences\":[...]}\n"
  "  (or {\"url\",\"hospital\",\"error\"} when it cannot run; exit 1).\n"
  "\n"
  "Exit codes: 0 success (verify: consistent), 1 failure (verify: differences found),\n"
  "2 usage error, 3 history lost (resync, a checkpoint newer than the newest event, or --since\n"
  "older than the retained events).\n";

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
  bool json = false;
  std::string db;
  std::string url;
  token_source tokens;
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

/// The one-line summary at the end of a replay (see the usage text). `before` is nullopt without
/// --checkpoint.
void print_summary(uint64_t printed, const std::optional<std::string>& before,
                   const std::string& after) {
  std::string line = "vigilctl replay: done: " + std::to_string(printed) +
                     (printed == 1 ? " event" : " events") + " printed";
  if (before) line += ", checkpoint " + *before + " -> " + after;
  line += "\n";
  std::fputs(line.c_str(), stderr);
}

/// Warns that replay cannot resume after `from`: the events after it are lost to this consumer.
/// One text for the server's resync answer, a checkpoint newer than the newest event and the
/// offline equivalents. `who` is "the server" or "the database".
void warn_history_lost(const std::string& who, const event_id& from,
                       const std::string& reason, const std::string& to) {
  warn(who + " cannot resume after " + format_event_id(from.epoch, from.seq) + " (" +
       reason + "): events were lost; the checkpoint is now " + to);
}

/// The reason text for a checkpoint newer than the hospital's newest event.
std::string ahead_reason(const event_id& newest) {
  return "the checkpoint is newer than the hospital's newest event " +
         format_event_id(newest.epoch, newest.seq) +
         ": was the database restored from a backup?";
}

/// Writes one line to stdout and flushes it, so a consumer sees each event at once.
bool print_line(const std::string& text) {
  std::string line = text;
  line += '\n';
  return std::fwrite(line.data(), 1, line.size(), stdout) == line.size() &&
         std::fflush(stdout) == 0;
}

// ---- Command line ---------------------------------------------------------------------------------

constexpr size_t max_urls = 16;

/// The URLs of --url (repeated, or a comma-separated list: the nodes of a cluster).
std::vector<std::string> split_urls(const std::string& text) { return split_url_list(text); }

/// Parses the command line; returns the exit code when it should not run.
std::optional<int> parse_options(int argc, char** argv, replay_options& o) {
  arg_cursor args(argc, argv);
  std::optional<std::string> token, token_file;
  while (!args.done()) {
    std::string v;
    if (args.help()) {
      std::printf(replay_usage, token_options_usage);
      return exit_ok;
    }
    if (args.flag("verify")) o.verify = true;
    else if (args.flag("json")) o.json = true;
    else if (args.value("db", v)) o.db = v;
    else if (args.value("url", v)) o.url += (o.url.empty() ? "" : ",") + v;
    else if (args.value("token-file", v)) token_file = v;
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
  const bool online_only = o.follow || token || token_file;
  if (o.verify && !o.url.empty()) {
    if (!o.db.empty()) return usage_error("give either --db FILE or --url URL to --verify");
    if (o.hospital.empty()) return usage_error("--verify --url needs --hospital");
    if (!valid_hospital_id(o.hospital))
      return usage_error("invalid hospital id (1..64 of A-Z a-z 0-9 _ . : -)");
    if (offline_only || o.follow || !o.checkpoint.empty() || o.from_start)
      return usage_error("--verify --url takes only --hospital, --json and the token options");
    auto tokens = resolve_token_options(token, token_file);
    if (auto* message = std::get_if<std::string>(&tokens)) return usage_error(*message);
    o.tokens = std::get<token_source>(tokens);
    if (o.url.find(',') != std::string::npos)
      return usage_error("--verify --url checks one node: give one URL");
    std::string error;
    if (!parse_ws_url(o.url, &error)) return usage_error("invalid --url: " + error);
    return std::nullopt;
  }
  if (o.verify) {
    if (o.db.empty()) return usage_error("--verify needs --db FILE or --url URL");
    if (!o.url.empty() || !o.hospital.empty() || offline_only || online_only ||
        !o.checkpoint.empty() || o.from_start)
      return usage_error("--verify takes only --db (and --json)");
    return std::nullopt;
  }
  if (o.json) return usage_error("--json goes with --verify (events are JSON lines already)");
  if (o.db.empty() == o.url.empty())
    return usage_error("give either --db FILE (offline) or --url URL (online)");
  if (o.hospital.empty()) return usage_error("--hospital is required");
  if (!valid_hospital_id(o.hospital))
    return usage_error("invalid hospital id (1..64 of A-Z a-z 0-9 _ . : -)");

  if (!o.db.empty()) {
    if (online_only) return usage_error("--follow, --token and --token-file need --url");
    if (o.from_start && o.checkpoint.empty())
      return usage_error("--from-start goes with --checkpoint (without one, --db prints every "
                         "stored event anyway)");
    if (!o.checkpoint.empty() && offline_only)
      return usage_error("--checkpoint replaces --since, --from and --to; give one or the other");
    if (o.since && o.from_text) return usage_error("give either --since or --from, not both");
    if (o.since && !parse_event_id(*o.since))
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
  auto tokens = resolve_token_options(token, token_file);
  if (auto* message = std::get_if<std::string>(&tokens)) return usage_error(*message);
  o.tokens = std::get<token_source>(tokens);
  const auto urls = split_urls(o.url);
  if (urls.size() > max_urls) return usage_error("at most 16 URLs (--url)");
  for (const std::string& url : urls) {
    std::string error;
    if (url.empty()) return usage_error("invalid --url: an empty URL in the list");
    if (!parse_ws_url(url, &error)) return usage_error("invalid --url " + url + ": " + error);
  }
  return std::nullopt;
}

// ---- --verify -------------------------------------------------------------------------------------

/// The --verify --json object (see the usage text for its members).
json::value report_json(const std::string& db, const storage::verify_report& r) {
  json::value differences = json::value::make_array();
  for (const std::string& d : r.differences) differences.push(d);
  json::value v = json::value::make_object();
  v.set("database", db);
  v.set("consistent", r.consistent());
  v.set("epoch", r.epoch);
  v.set("events", r.events);
  v.set("firstSeq", r.first_seq);
  v.set("lastSeq", r.last_seq);
  v.set("metaLastSeq", r.meta_last_seq);
  v.set("prunedThrough", r.pruned_through);
  v.set("alerts", r.alerts);
  v.set("alertsVerified", r.alerts_verified);
  v.set("alertsNotVerifiable", r.alerts_not_verifiable);
  v.set("differences", std::move(differences));
  return v;
}

int run_verify(const replay_options& o) {
  std::string error;
  progress_line bar; // on a terminal only
  auto report = storage::verify_database(o.db, &error, [&](uint64_t read, uint64_t expected) {
    if (expected > 0 && read <= expected)
      bar.update("verifying: %llu of ~%llu events (%.0f %%)", static_cast<unsigned long long>(read),
                 static_cast<unsigned long long>(expected), 100.0 * read / expected);
    else
      bar.update("verifying: %llu events", static_cast<unsigned long long>(read));
  });
  bar.clear();
  if (!report) {
    if (o.json) {
      json::value v = json::value::make_object();
      v.set("database", o.db);
      v.set("error", error);
      print_line(json::to_string(v));
    }
    return failure(error);
  }
  const bool written = o.json ? print_line(json::to_string(report_json(o.db, *report)))
                              : std::fputs(("database: " + o.db + "\n" +
                                            storage::format_report(*report)).c_str(),
                                           stdout) >= 0 &&
                                    std::fflush(stdout) == 0;
  if (!written) return failure("cannot write to stdout");
  return report->consistent() ? exit_ok : exit_failure;
}

// ---- Checkpoint file ----------------------------------------------------------------------------------

/// The checkpoint's event id; nullopt when the file does not exist; a message when it exists but
/// cannot be read or does not hold an event id.
std::variant<std::optional<event_id>, std::string> read_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (ec) return "cannot read checkpoint " + path + ": " + ec.message();
    return std::optional<event_id>();
  }
  std::ifstream in(path);
  if (!in) return "cannot read checkpoint " + path + ": " + std::strerror(errno);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  auto id = parse_event_id(text);
  if (!id)
    return "checkpoint " + path + " does not hold an event id <epoch>-<seq> (remove it to start "
           "from now, or with --from-start)";
  return std::optional<event_id>(*id);
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

// ---- Where to start ---------------------------------------------------------------------------------

/// The checkpoint file of one run: what it held at the start (for the summary and the resume)
/// and what was last written to it.
class checkpoint {
public:
  explicit checkpoint(std::string path) : path_(std::move(path)) {}

  /// Reads the file; a message when it exists but cannot be used.
  std::optional<std::string> load() {
    auto read = read_checkpoint(path_);
    if (auto* message = std::get_if<std::string>(&read)) return *message;
    saved_ = std::get<std::optional<event_id>>(read);
    if (saved_) before_ = after_ = format_event_id(saved_->epoch, saved_->seq);
    return std::nullopt;
  }

  /// The id in the file when the run started; nullopt when there was no file.
  const std::optional<event_id>& saved() const { return saved_; }
  const std::string& path() const { return path_; }
  /// For the summary: the id at the start ("none" without a file) and the id now.
  const std::string& before() const { return before_; }
  const std::string& after() const { return after_; }

  /// Writes `id`; prints the failure and returns false when it cannot.
  bool save(const event_id& id) {
    std::string error;
    const std::string text = format_event_id(id.epoch, id.seq);
    if (!write_checkpoint(path_, text, &error)) {
      failure(error);
      return false;
    }
    after_ = text;
    return true;
  }

private:
  std::string path_;
  std::optional<event_id> saved_;
  std::string before_ = "none";
  std::string after_ = "none";
};

/// Where a checkpointed replay starts, online and offline alike.
struct resume_point {
  event_id position;
  /// Set when the checkpoint cannot be resumed from: the events after it are lost to this
  /// consumer and `position` is the newest event instead.
  std::optional<std::string> lost_reason;
};

/// `newest` is the hospital's newest event id (the server's answer to an unknown id). Without a
/// checkpoint: from now, or from the start with --from-start. A checkpoint of the same epoch but
/// newer than `newest` can only come from a database restored from a backup (or an edited file):
/// its sequence numbers are issued again, and resuming after it would silently skip the events
/// that get them. Another epoch is left to the caller (the server answers it with a resync).
resume_point find_resume_point(const checkpoint& cp, const event_id& newest,
                               bool from_start) {
  if (!cp.saved()) return {from_start ? event_id{newest.epoch, 0} : newest, {}};
  if (from_start)
    warn("--from-start is ignored: the checkpoint " + cp.path() + " exists (" + cp.before() +
         "); remove the file to replay every stored event");
  if (cp.saved()->epoch == newest.epoch && cp.saved()->seq > newest.seq)
    return {newest, ahead_reason(newest)};
  return {*cp.saved(), {}};
}

// ---- Offline ----------------------------------------------------------------------------------------

int run_offline(const replay_options& o) {
  std::string error;
  storage::open_options opts;
  opts.read_only = true;
  auto store = storage::event_store::open(o.db, opts, &error);
  if (!store) return failure(error);

  uint64_t after = 0;
  uint64_t printed = 0;
  std::optional<std::string> lost;  // the warning's text for the events printed so far
  std::optional<checkpoint> cp;
  if (!o.checkpoint.empty()) {
    cp.emplace(o.checkpoint);
    if (auto message = cp->load()) return failure(*message);
    // The server answers an unknown id with the hospital's newest event (any hospital's when
    // it has none); so does the offline mode, so that both agree on one checkpoint file.
    uint64_t newest_seq = store->last_seq_of_hospital(o.hospital);
    if (newest_seq == 0) newest_seq = store->last_seq();
    const event_id newest{store->epoch(), newest_seq};
    resume_point start = find_resume_point(*cp, newest, o.from_start);
    if (cp->saved() && cp->saved()->epoch != store->epoch())
      start = {newest, "unknown_event_id: epoch " + cp->saved()->epoch +
                           " is not this database's epoch " + store->epoch()};
    if (start.lost_reason) {
      warn_history_lost("the database", *cp->saved(), *start.lost_reason,
                        format_event_id(newest.epoch, newest.seq));
      const bool saved = cp->save(newest);
      print_summary(0, cp->before(), cp->after());
      return saved ? exit_history_lost : exit_failure;
    }
    if (!cp->saved() && !cp->save(start.position)) return exit_failure;
    after = start.position.seq;
    if (cp->saved() && after < store->pruned_through())
      lost = "events after " + cp->before() + " up to seq " +
             std::to_string(store->pruned_through()) +
             " were removed by retention; the events printed are the ones that remain";
  } else if (o.since) {
    const auto id = *parse_event_id(*o.since);
    if (id.epoch != store->epoch())
      return failure("event id " + *o.since + " is from epoch " + id.epoch +
                     ", but this database's epoch is " + store->epoch() +
                     " (ids of another database cannot be resumed from)");
    if (id.seq > store->last_seq())
      return failure("event id " + *o.since + " is newer than every event of this database "
                     "(newest seq " + std::to_string(store->last_seq()) + ")");
    after = id.seq;
    // Same rule as the server's resume: events after the id may already be gone.
    if (id.seq < store->pruned_through())
      lost = "events after " + *o.since + " up to seq " +
             std::to_string(store->pruned_through()) +
             " were removed by retention; the events printed are the ones that remain";
  }

  const std::string errors_before = store->last_error();
  const auto summary = [&] {
    if (cp) print_summary(printed, cp->before(), cp->after());
    else print_summary(printed, std::nullopt, "");
  };
  for (;;) {
    auto page = store->events_after(o.hospital, after, page_size);
    if (page.empty()) break;
    for (const storage::stored_event& e : page) {
      after = e.seq;
      if (o.from_ms && e.ts < *o.from_ms) continue;
      if (o.to_ms && e.ts > *o.to_ms) continue;
      if (!print_line(e.payload)) {
        summary();
        return failure("cannot write to stdout");
      }
      ++printed;
      // As online: printed first, then the checkpoint moves past it.
      if (cp && !cp->save({store->epoch(), e.seq})) {
        summary();
        return exit_failure;
      }
    }
  }
  summary();
  if (store->last_error() != errors_before) return failure("reading events: " + store->last_error());
  if (lost) {
    warn(*lost);
    return exit_history_lost;
  }
  return exit_ok;
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
  explicit online_replay(replay_options o) : o_(std::move(o)), checkpoint_(o_.checkpoint) {
    urls_ = split_urls(o_.url);
    for (const std::string& url : urls_) endpoints_.push_back(*parse_ws_url(url, nullptr));
  }

  int run() {
    if (auto message = checkpoint_.load()) return failure(*message);
    // A follower usually ends by SIGTERM (systemd stop) or Ctrl-C: end cleanly, with the summary.
    if (o_.follow) catch_stop_signals();
    const int code = run_loaded();
    print_summary(printed_, checkpoint_.before(), checkpoint_.after());
    return code;
  }

private:
  int run_loaded() {
    std::string error;
    // At the start each URL is tried once, in order.
    auto client = connect(&error);
    for (size_t tried = 1; !client && tried < endpoints_.size(); ++tried) {
      current_ = (current_ + 1) % endpoints_.size();
      std::fprintf(stderr, "vigilctl replay: %s; trying %s\n", error.c_str(), urls_[current_].c_str());
      client = connect(&error);
    }
    if (!client) return failure(error);
    auto newest = probe(*client);
    if (auto* code = std::get_if<int>(&newest)) return *code;
    target_ = std::get<event_id>(newest);

    const resume_point start = find_resume_point(checkpoint_, target_, o_.from_start);
    if (start.lost_reason) {
      // The same handling as the server's resync answer (on_event): the server itself would
      // resume "after" an id it has not issued yet, or has issued again to another hospital.
      position_ = *checkpoint_.saved();
      if (auto done = history_lost(start.position, *start.lost_reason)) return *done;
    } else {
      position_ = start.position;
      if (!checkpoint_.saved() && !checkpoint_.save(position_)) return exit_failure;
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
      if (stop_requested()) return exit_ok;
      const int delay = delays.next_ms();
      if (endpoints_.size() > 1) {
        // Several URLs (the nodes of a cluster): every failure moves on to the next one.
        current_ = (current_ + 1) % endpoints_.size();
        std::fprintf(stderr, "vigilctl replay: %s; reconnecting to %s in %.1f s\n", why.c_str(),
                     urls_[current_].c_str(), delay / 1000.0);
      } else {
        std::fprintf(stderr, "vigilctl replay: %s; reconnecting in %.1f s\n", why.c_str(),
                     delay / 1000.0);
      }
      sleep_ms(delay);
      if (stop_requested()) return exit_ok;
      client = connect(&why);
    }
  }

  /// Opens a connection with the current token (--token-file: read again for every connect).
  std::unique_ptr<ws_client> connect(std::string* error) {
    const auto token = o_.tokens.load(error);
    if (!token) return nullptr;
    return open_trpc_connection(endpoints_[current_], *token, connect_timeout_ms, error);
  }

  json::value input() const {
    json::value in = json::value::make_object();
    in.set("hospitalId", o_.hospital);
    return in;
  }

  /// Learns the hospital's newest event id (and the epoch) from the resync event that answers an
  /// invalid lastEventId; then stops that subscription. Returns the id or an exit code.
  std::variant<event_id, int> probe(ws_client& client) {
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
      auto parsed = parse_event_id(id);
      if (!is_resync_event(f->data) || !parsed)
        return failure("the server did not answer an invalid lastEventId with a resync event");
      client.send_text(stop_frame(probe_subscription));
      return *parsed;
    }
  }

  bool caught_up() const {
    return !o_.follow && position_.epoch == target_.epoch && position_.seq >= target_.seq;
  }

  /// The checkpoint cannot be resumed from: warns, moves it to `to` and ends replay with exit 3
  /// (--follow goes on with live events after `to`). One path for the server's resync events
  /// and for a checkpoint newer than the hospital's newest event.
  std::optional<int> history_lost(const event_id& to, const std::string& reason) {
    warn_history_lost("the server", position_, reason, format_event_id(to.epoch, to.seq));
    position_ = to;
    if (!checkpoint_.save(position_)) return exit_failure;
    if (!o_.follow) return exit_history_lost;
    return std::nullopt;
  }

  /// Runs one connection; returns the exit code when done, or nullopt (with *why) to reconnect.
  std::optional<int> session(ws_client& client, std::string* why, backoff& delays) {
    const std::string resume = format_event_id(position_.epoch, position_.seq);
    if (!client.send_text(subscription_frame(replay_subscription, "healthcare.subscribeToAlerts",
                                             input(), resume, false))) {
      *why = "connection lost: " + client.close_reason();
      return std::nullopt;
    }
    bool started = false;
    int64_t last_activity = monotonic_ms();
    keepalive alive;
    for (;;) {
      int64_t left = 0;
      if (!started) left = last_activity + answer_timeout_ms - monotonic_ms();
      else if (!o_.follow) left = last_activity + idle_caught_up_ms - monotonic_ms();
      else left = alive.wait_ms(client);  // live: only the keep-alive bounds the wait
      std::string text;
      const auto status = client.receive(&text, static_cast<int>(std::max<int64_t>(0, left)));
      if (status == ws_client::receive_status::closed) {
        *why = "connection lost: " + client.close_reason();
        return std::nullopt;
      }
      if (status == ws_client::receive_status::timeout) {
        if (stop_requested()) return exit_ok;
        const int64_t quiet = monotonic_ms() - last_activity;
        if (!started) {
          if (quiet >= answer_timeout_ms) return failure("the server did not start the subscription");
        } else if (!o_.follow) {
          if (quiet >= idle_caught_up_ms) return exit_ok;  // idle: caught up (see the usage text)
        } else if (!alive.check(client, why)) {
          return std::nullopt;
        }
        continue;
      }
      std::string error;
      auto f = parse_server_frame(text, &error);
      if (!f) {
        *why = "unreadable frame from the server (" + error + ")";
        return std::nullopt;
      }
      if (f->type == server_frame::kind::reconnect) {
        *why = "the server asked to reconnect (reconnect notification: shutdown, or the token "
               "expires)";
        return std::nullopt;
      }
      if (f->type == server_frame::kind::error && (!f->id || *f->id == replay_subscription)) {
        if (is_token_rejection(*f) && o_.tokens.from_file()) {
          // The probe's connection took the token, so it worked once: it ran out or was revoked
          // meanwhile, and the file may hold the rotated one by the next attempt.
          *why = "the server refused the token (" + f->error_code + ": " + f->error_message +
                 "); reading " + o_.tokens.path() + " again";
          return std::nullopt;
        }
        return failure(describe_error(*f));
      }
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
    auto parsed = parse_event_id(id);
    if (!parsed) return failure("the server sent an event without a valid id");
    if (is_resync_event(f.data)) return history_lost(*parsed, resync_reason(f.data));
    // Never print an event twice, whatever the server sends.
    if (parsed->epoch == position_.epoch && parsed->seq <= position_.seq) return std::nullopt;
    if (!print_line(json::to_string(f.data))) return failure("cannot write to stdout");
    ++printed_;
    position_ = *parsed;
    if (!checkpoint_.save(position_)) return exit_failure;
    if (caught_up()) return exit_ok;
    return std::nullopt;
  }

  replay_options o_;
  std::vector<std::string> urls_;
  std::vector<ws_endpoint> endpoints_;
  size_t current_ = 0;  // the URL in use
  checkpoint checkpoint_;
  uint64_t printed_ = 0;
  event_id target_;    // the hospital's newest event when replay started
  event_id position_;  // the checkpoint: the last printed (or skipped-to) event
};

} // namespace

int run_replay(int argc, char** argv) {
  replay_options o;
  if (auto code = parse_options(argc, argv, o)) return *code;
  if (o.verify && !o.url.empty()) {
    online_verify_options v{o.url, *parse_ws_url(o.url, nullptr), o.tokens, o.hospital, o.json};
    return run_verify_online(v);
  }
  if (o.verify) return run_verify(o);
  if (!o.db.empty()) return run_offline(o);
  return online_replay(std::move(o)).run();
}

} // namespace vigil::ctl
