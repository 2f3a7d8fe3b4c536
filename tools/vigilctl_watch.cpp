// `vigilctl watch`: subscribes to a hospital's alert events (or one alert's) over the tRPC
// WebSocket protocol and prints each event as one JSON line, like the original app's
// `test-websocket-alerts`, but resumable: after a `reconnect` notification or a dropped
// connection it reconnects with back-off and resumes with lastEventId = the last printed id, so
// no event is printed twice and none is missed (docs/api.md "Event ids and resume"). With several
// --url (the nodes of a cluster) each failure moves on to the next URL, resuming there.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "domain/config.hpp"
#include "domain/json.hpp"
#include "domain/procedures.hpp"
#include "domain/event_id.hpp"
#include "tools/vigilctl_commands.hpp"
#include "tools/ws_client.hpp"

namespace vigil::ctl {

namespace {

constexpr const char* watch_usage =
  "Usage: vigilctl watch --url ws://HOST:PORT[/api/trpc] --hospital ID [options]\n"
  "       vigilctl watch --url ws://HOST:PORT[/api/trpc] --alert ALERT_ID [options]\n"
  "\n"
  "Subscribes to healthcare.subscribeToAlerts (or healthcare.subscribeToAlert with --alert)\n"
  "and prints every event as one JSON line (the flat event object) on stdout.\n"
  "\n"
  "Options:\n"
  "  --url URL            the server's WebSocket URL; the path defaults to /api/trpc;\n"
  "                       wss:// verifies the server against VIGIL_CA_FILE (a PEM CA file)\n"
  "                       when set, else against the system's trusted CAs. Repeat it (or\n"
  "                       give a comma-separated list, at most 16) for the nodes of a\n"
  "                       cluster: watch starts on the first and moves to the next on\n"
  "                       every failure\n"
  "%s"
  "  --hospital ID        the hospital to watch\n"
  "  --alert ALERT_ID     watch one alert instead of a whole hospital\n"
  "  --last-event-id ID   first replay the stored events after this event id\n"
  "  --superjson          speak superjson on the wire (as the app does); output is the same\n"
  "  --count N            exit 0 after printing N events\n"
  "  --timeout D          exit 0 after D (30, 1.5, 500ms, 2m: vigild's duration syntax)\n"
  "\n"
  "On a `reconnect` notification or a dropped connection, watch reconnects after 0.5 s, 1 s,\n"
  "2 s, ... (at most 10 s) and resumes after the last printed event; each such line on stderr\n"
  "says why (close code and reason, connect error, keep-alive timeout, refused token) and, with\n"
  "several URLs, which one comes next (the next in the list, round-robin). After\n"
  "30 s without any message from the server watch sends a PING and reconnects when nothing\n"
  "arrives within 10 s. Resync events (history lost on the server) are printed like any other\n"
  "event. Each time the subscription starts, a line\n"
  "`vigilctl watch: subscribed to <procedure>[ after <id>]` goes to stderr.\n"
  "\n"
  "Exit codes: 0 done (--count or --timeout reached), 1 failure (cannot connect to any URL at\n"
  "the start, error from the server: its code and message go to stderr), 2 usage error.\n";

constexpr int connect_timeout_ms = 5000;
constexpr int64_t subscription_id = 1;
constexpr size_t max_urls = 16;

struct watch_options {
  std::vector<std::string> urls;
  std::vector<ws_endpoint> endpoints;
  token_source tokens;
  std::string hospital;
  std::string alert;
  std::optional<std::string> last_event_id;
  bool superjson = false;
  std::optional<uint64_t> count;
  std::optional<int64_t> timeout_ms;
};

int usage_error(const std::string& message) {
  std::fprintf(stderr, "vigilctl watch: %s\n(run `vigilctl watch --help` for usage)\n",
               message.c_str());
  return exit_usage;
}

int failure(const std::string& message) {
  std::fprintf(stderr, "vigilctl watch: %s\n", message.c_str());
  return exit_failure;
}

std::optional<uint64_t> parse_count(const std::string& text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  uint64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  if (n == 0) return std::nullopt;
  return n;
}

/// A duration in vigild's syntax ("500ms", "30s", "2m"; a bare number is seconds, fractions
/// allowed), 0 < d <= one year, as milliseconds.
std::optional<int64_t> parse_seconds(const std::string& text) {
  auto ms = parse_duration_ms(text);
  if (!ms || *ms <= 0 || *ms > 31536000LL * 1000) return std::nullopt;
  return ms;
}

/// Parses the command line; returns the exit code when it should not run.
std::optional<int> parse_options(int argc, char** argv, watch_options& o) {
  arg_cursor args(argc, argv);
  std::optional<std::string> token, token_file;
  while (!args.done()) {
    std::string v;
    if (args.help()) {
      std::printf(watch_usage, token_options_usage);
      return exit_ok;
    }
    if (args.value("url", v)) {
      // A comma-separated list, or the option repeated: both add to the list.
      for (std::string& url : split_url_list(v)) o.urls.push_back(std::move(url));
    }
    else if (args.value("token-file", v)) token_file = v;
    else if (args.value("token", v)) token = v;
    else if (args.value("hospital", v)) o.hospital = v;
    else if (args.value("alert", v)) o.alert = v;
    else if (args.value("last-event-id", v)) o.last_event_id = v;
    else if (args.flag("superjson")) o.superjson = true;
    else if (args.value("count", v)) {
      o.count = parse_count(v);
      if (!o.count) return usage_error("--count must be a whole number from 1 to 999999999");
    } else if (args.value("timeout", v)) {
      o.timeout_ms = parse_seconds(v);
      if (!o.timeout_ms) return usage_error("--timeout must be a duration above 0 (e.g. 30, 1.5, 500ms, 2m)");
    } else if (args.failed()) return usage_error(args.error());
    else return usage_error("unknown option \"" + std::string(args.current()) + "\"");
  }
  if (o.urls.empty()) return usage_error("--url is required");
  if (o.urls.size() > max_urls) return usage_error("at most 16 URLs (--url)");
  std::string error;
  for (const auto& url : o.urls) {
    if (url.empty()) return usage_error("invalid --url: an empty URL in the list");
    auto endpoint = parse_ws_url(url, &error);
    if (!endpoint) return usage_error("invalid --url " + url + ": " + error);
    o.endpoints.push_back(*endpoint);
  }
  auto tokens = resolve_token_options(token, token_file);
  if (auto* message = std::get_if<std::string>(&tokens)) return usage_error(*message);
  o.tokens = std::get<token_source>(tokens);
  if (o.alert.empty() && o.hospital.empty()) return usage_error("--hospital (or --alert) is required");
  if (!o.alert.empty() && !o.hospital.empty())
    return usage_error("give either --hospital or --alert, not both");
  if (!o.hospital.empty() && !valid_hospital_id(o.hospital))
    return usage_error("invalid hospital id (1..64 of A-Z a-z 0-9 _ . : -)");
  if (!o.alert.empty() && !valid_uuid(o.alert)) return usage_error("--alert must be a UUID");
  if (o.last_event_id && (o.last_event_id->empty() || o.last_event_id->size() > 200))
    return usage_error("--last-event-id must be 1..200 characters");
  return std::nullopt;
}

/// One run of `watch`: connections come and go, the printed position stays.
class watcher {
public:
  explicit watcher(watch_options o) : o_(std::move(o)) {
    resume_id_ = o_.last_event_id;
    if (o_.timeout_ms) deadline_ = monotonic_ms() + *o_.timeout_ms;
  }

  int run() {
    bool ever_connected = false;
    size_t failed_at_start = 0;  // URLs that could not be reached before the first connection
    for (;;) {
      std::string error;
      std::optional<int> done;
      // Read before every connect: --token-file may hold a rotated token by now.
      const auto token = o_.tokens.load(&error);
      auto client = token ? open_trpc_connection(o_.endpoints[current_], *token,
                                                 bounded(connect_timeout_ms), &error)
                          : nullptr;
      if (client) {
        ever_connected = true;
        done = session(*client, &error);
        client->close(200);
      }
      if (done) return *done;
      const size_t n = o_.endpoints.size();
      // Before any connection worked: every URL is tried once, then watch gives up.
      if (!ever_connected && (!token || ++failed_at_start >= n)) return failure(error);
      if (expired()) return exit_ok;
      current_ = (current_ + 1) % n;
      const int delay = ever_connected ? backoff_.next_ms() : 0;
      if (n > 1)
        std::fprintf(stderr, "vigilctl watch: %s; reconnecting to %s in %.1f s\n", error.c_str(),
                     o_.urls[current_].c_str(), delay / 1000.0);
      else
        std::fprintf(stderr, "vigilctl watch: %s; reconnecting in %.1f s\n", error.c_str(),
                     delay / 1000.0);
      sleep_ms(std::min<int64_t>(delay, remaining_ms()));
      if (expired()) return exit_ok;
    }
  }

private:
  bool expired() const { return deadline_ && monotonic_ms() >= *deadline_; }
  int64_t remaining_ms() const {
    return deadline_ ? std::max<int64_t>(0, *deadline_ - monotonic_ms()) : INT64_MAX;
  }
  int bounded(int ms) const { return static_cast<int>(std::min<int64_t>(ms, remaining_ms())); }

  std::string request() const {
    json::value input = json::value::make_object();
    if (!o_.alert.empty()) input.set("alertId", o_.alert);
    else input.set("hospitalId", o_.hospital);
    return subscription_frame(subscription_id, path(), input, resume_id_, o_.superjson);
  }

  const char* path() const {
    return o_.alert.empty() ? "healthcare.subscribeToAlerts" : "healthcare.subscribeToAlert";
  }

  /// Runs one connection. Returns the exit code when watch is done, or nullopt (with *why) to
  /// reconnect.
  std::optional<int> session(ws_client& client, std::string* why) {
    if (!client.send_text(request())) {
      *why = "connection lost: " + client.close_reason();
      return std::nullopt;
    }
    keepalive alive;
    for (;;) {
      if (expired()) return exit_ok;
      std::string text;
      // The keep-alive's next check (at most 30 s away) or the deadline cuts the wait short.
      const auto status = client.receive(&text, bounded(alive.wait_ms(client)));
      if (status == ws_client::receive_status::timeout) {
        if (!alive.check(client, why)) return std::nullopt;
        continue;
      }
      if (status == ws_client::receive_status::closed) {
        *why = "connection lost: " + client.close_reason();
        return std::nullopt;
      }
      std::string error;
      auto frame = parse_server_frame(text, &error);
      if (!frame) {
        *why = "unreadable frame from the server (" + error + ")";
        return std::nullopt;
      }
      if (frame->type == server_frame::kind::reconnect) {
        *why = "the server asked to reconnect (reconnect notification: shutdown, or the token "
               "expires)";
        return std::nullopt;
      }
      if (is_token_rejection(*frame) && (!frame->id || *frame->id == subscription_id) &&
          o_.tokens.from_file() && ever_subscribed_) {
        // The token ran out (or was revoked) while watch kept running: the file may hold the
        // rotated one by the next attempt.
        *why = "the server refused the token (" + frame->error_code + ": " +
               frame->error_message + "); reading " + o_.tokens.path() + " again";
        return std::nullopt;
      }
      if (auto done = handle(*frame)) return done;
    }
  }

  /// Handles a frame other than `reconnect`; returns the exit code when watch is done.
  std::optional<int> handle(const server_frame& f) {
    using kind = server_frame::kind;
    if (f.type == kind::error && (!f.id || *f.id == subscription_id)) {
      return failure("server error " + f.error_code + " (" + std::to_string(f.error_number) +
                     "): " + f.error_message);
    }
    if (!f.id || *f.id != subscription_id) return std::nullopt;
    switch (f.type) {
      case kind::started:
        backoff_.reset();
        ever_subscribed_ = true;
        // Tells an operator (and scripts) that events from now on will be seen.
        std::fprintf(stderr, "vigilctl watch: subscribed to %s%s\n", path(),
                     resume_id_ ? (" after " + *resume_id_).c_str() : "");
        return std::nullopt;
      case kind::stopped:
        std::fprintf(stderr, "vigilctl watch: the server ended the subscription\n");
        return exit_ok;
      case kind::data:
        return print_event(f);
      default:
        return std::nullopt;
    }
  }

  /// Prints an event (unless already printed); returns exit_ok once --count is reached.
  std::optional<int> print_event(const server_frame& f) {
    std::string id = f.event_id;
    if (id.empty())
      if (const json::value* v = f.data.find("id"); v != nullptr && v->is_string())
        id = v->as_string();
    auto parsed = parse_event_id(id);
    // A replay after a reconnect starts after the last printed id; this guard only matters if a
    // server ever sent an event again.
    if (parsed && last_ && parsed->epoch == last_->epoch && parsed->seq <= last_->seq &&
        !is_resync_event(f.data))
      return std::nullopt;
    const std::string line = json::to_string(f.data) + "\n";
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() ||
        std::fflush(stdout) != 0)
      return failure("cannot write to stdout");
    if (parsed) last_ = parsed;
    if (!id.empty()) resume_id_ = id;
    ++printed_;
    if (o_.count && printed_ >= *o_.count) return exit_ok;
    return std::nullopt;
  }

  watch_options o_;
  size_t current_ = 0;  // index of the URL in use
  std::optional<std::string> resume_id_;
  std::optional<event_id> last_;
  uint64_t printed_ = 0;
  bool ever_subscribed_ = false;  // a token that worked once may be rotated (--token-file)
  std::optional<int64_t> deadline_;
  backoff backoff_;
};

} // namespace

int run_watch(int argc, char** argv) {
  watch_options o;
  if (auto code = parse_options(argc, argv, o)) return *code;
  return watcher(std::move(o)).run();
}

} // namespace vigil::ctl
