// `vigilctl replay --verify --url`: replays a hospital's whole history from a running node and
// checks it (see vigilctl_replay_online.hpp). On a cluster node the replay is read from the
// JetStream stream, so this checks the stream-served replay: event ids of one epoch in strictly
// increasing order, nothing after the newest announced event missing, every alert derivable from
// its events and equal to what the node answers for it. Sequence numbers of one hospital have
// gaps by design (other hospitals share the sequence), so gaps are not differences here.

#include "tools/vigilctl_replay_online.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "domain/event_id.hpp"
#include "domain/json.hpp"
#include "domain/time.hpp"
#include "storage/replay_verify.hpp"
#include "tools/vigilctl_commands.hpp"

namespace vigil::ctl {

namespace {

constexpr int connect_timeout_ms = 5000;
constexpr int answer_timeout_ms = 10000;  // for each answer, and for the next replayed event
constexpr int empty_ms = 3000;   // started, and no event at all this long: the hospital is empty
constexpr int quiet_ms = 300;             // no event for this long after the fetches: settled
constexpr int max_rounds = 5;             // fetch rounds while the hospital keeps changing
constexpr int64_t probe_id = 1;
constexpr int64_t replay_id = 2;
constexpr int64_t first_query_id = 100;
constexpr size_t max_events = 5'000'000;  // bounds memory: a bigger hospital needs --db

/// One replayed event, as the verifier wants it.
struct replayed {
  event_id id;
  storage::stored_event stored;
};

class online_verifier {
public:
  explicit online_verifier(const online_verify_options& o) : o_(o) {}

  int run() {
    std::string error;
    const auto token = o_.tokens.load(&error);
    if (token) client_ = open_trpc_connection(o_.endpoint, *token, connect_timeout_ms, &error);
    if (!client_) return fail(error);
    if (!probe(&error)) return fail(error);
    if (!replay(&error)) return fail(error);
    if (empty_ && !check_empty(&error)) return fail(error);
    if (!fetch_alerts(&error)) return fail(error);
    client_->close(200);
    return print_report();
  }

private:
  int fail(const std::string& message) {
    if (o_.json) {
      json::value v = json::value::make_object();
      v.set("url", o_.url);
      v.set("hospital", o_.hospital);
      v.set("error", message);
      std::printf("%s\n", json::to_string(v).c_str());
    }
    std::fprintf(stderr, "vigilctl replay: %s\n", message.c_str());
    return exit_failure;
  }

  json::value input() const {
    json::value in = json::value::make_object();
    in.set("hospitalId", o_.hospital);
    return in;
  }

  /// The next frame within `timeout_ms`; nullopt with *error on a closed connection or an
  /// unreadable frame, a frame of kind `unknown` on timeout (the caller decides).
  std::optional<server_frame> next(int timeout_ms, bool* timed_out, std::string* error) {
    *timed_out = false;
    std::string text;
    const auto status = client_->receive(&text, timeout_ms);
    if (status == ws_client::receive_status::timeout) {
      *timed_out = true;
      return server_frame{};
    }
    if (status == ws_client::receive_status::closed) {
      *error = "connection lost: " + client_->close_reason();
      return std::nullopt;
    }
    auto f = parse_server_frame(text, error);
    if (!f) *error = "unreadable frame from the server (" + *error + ")";
    else if (f->type == server_frame::kind::reconnect) {
      *error = "the server asked to reconnect (it is shutting down); try again";
      return std::nullopt;
    }
    return f;
  }

  static std::string frame_error(const server_frame& f) {
    return "server error " + f.error_code + " (" + std::to_string(f.error_number) +
           "): " + f.error_message;
  }

  /// The hospital's newest event id, from the resync event that answers an invalid lastEventId.
  bool probe(std::string* error) {
    client_->send_text(subscription_frame(probe_id, "healthcare.subscribeToAlerts", input(),
                                          std::string("vigilctl-probe"), false));
    for (;;) {
      bool timed_out = false;
      auto f = next(answer_timeout_ms, &timed_out, error);
      if (!f) return false;
      if (timed_out) {
        *error = "the server did not answer within 10 s";
        return false;
      }
      if (f->type == server_frame::kind::error && (!f->id || *f->id == probe_id)) {
        *error = frame_error(*f);
        return false;
      }
      if (f->type != server_frame::kind::data || f->id != probe_id) continue;
      std::string id = f->event_id;
      auto parsed = parse_event_id(id);
      if (!is_resync_event(f->data) || !parsed) {
        *error = "the server did not answer an invalid lastEventId with a resync event";
        return false;
      }
      newest_ = *parsed;
      client_->send_text(stop_frame(probe_id));
      return true;
    }
  }

  /// Handles one event of the replay subscription (also the live ones after the newest).
  void on_event(const server_frame& f) {
    std::string id = f.event_id;
    if (id.empty())
      if (const json::value* v = f.data.find("id"); v != nullptr && v->is_string()) id = v->as_string();
    auto parsed = parse_event_id(id);
    if (!parsed) {
      differences_.push_back("an event without a valid id (\"" + id.substr(0, 60) + "\")");
      return;
    }
    if (is_resync_event(f.data)) {
      const json::value* data = f.data.find("data");
      const json::value* reason = data != nullptr ? data->find("reason") : nullptr;
      differences_.push_back("the server sent a resync event " + id + " (" +
                             (reason != nullptr && reason->is_string() ? reason->as_string()
                                                                        : std::string("?")) +
                             "): it cannot replay the hospital from the start");
      resynced_ = true;
      return;
    }
    if (parsed->epoch != newest_.epoch) {
      differences_.push_back("event " + id + " is not of the epoch " + newest_.epoch +
                             " of the newest event");
      return;
    }
    if (events_.size() >= max_events) {
      overflow_ = true;
      return;
    }
    storage::stored_event e;
    e.seq = parsed->seq;
    e.hospital_id = o_.hospital;
    if (const json::value* v = f.data.find("alertId"); v != nullptr && v->is_string())
      e.alert_id = v->as_string();
    if (const json::value* v = f.data.find("type"); v != nullptr && v->is_string())
      e.type = v->as_string();
    if (const json::value* v = f.data.find("timestamp"); v != nullptr && v->is_string())
      e.ts = parse_iso(v->as_string()).value_or(0);
    e.payload = json::to_string(f.data);
    events_.push_back({*parsed, std::move(e)});
    last_seq_ = std::max(last_seq_, parsed->seq);
    if (!events_.back().stored.alert_id.empty()) touched_.insert(events_.back().stored.alert_id);
  }

  /// Handles a frame that may belong to the replay subscription; false with *error on an error
  /// frame for it.
  bool on_frame(const server_frame& f, std::string* error) {
    if (f.type == server_frame::kind::error && (!f.id || *f.id == replay_id)) {
      *error = frame_error(f);
      return false;
    }
    if (f.id != replay_id) return true;
    if (f.type == server_frame::kind::started) started_ = true;
    else if (f.type == server_frame::kind::data) on_event(f);
    else if (f.type == server_frame::kind::stopped) {
      *error = "the server ended the replay subscription";
      return false;
    }
    return true;
  }

  /// Subscribes from `<epoch>-0` and reads until the newest announced event (or a stall).
  bool replay(std::string* error) {
    client_->send_text(subscription_frame(replay_id, "healthcare.subscribeToAlerts", input(),
                                          format_event_id(newest_.epoch, 0), false));
    for (;;) {
      if (newest_.seq == 0 || last_seq_ >= newest_.seq || resynced_ || overflow_) break;
      bool timed_out = false;
      const bool maybe_empty = started_ && events_.empty();
      auto f = next(maybe_empty ? empty_ms : answer_timeout_ms, &timed_out, error);
      if (!f) return false;
      if (timed_out && maybe_empty) {
        // A hospital without events: the probe's id was then the newest of the whole stream
        // (or database), which this hospital's replay never reaches.
        empty_ = true;
        break;
      }
      if (timed_out) {
        if (!started_) {
          *error = "the server did not start the replay subscription";
          return false;
        }
        // The replay stalled: what is missing is reported, the rest is still verified.
        differences_.push_back(
            "the replay stopped at " +
            (events_.empty() ? std::string("the start")
                             : format_event_id(newest_.epoch, last_seq_)) +
            " (" + std::to_string(events_.size()) + " events) and did not reach the newest event " +
            format_event_id(newest_.epoch, newest_.seq) + " within 10 s");
        break;
      }
      if (!on_frame(*f, error)) return false;
    }
    if (overflow_) {
      *error = "the hospital has more than 5000000 events: verify its database file with --db";
      return false;
    }
    return true;
  }

  /// A replay without any event: the node must not know any alert of the hospital either (else
  /// its replay lost them all, which the idle wait alone cannot tell from an empty hospital).
  bool check_empty(std::string* error) {
    json::value in = input();
    in.set("status", "all");
    in.set("limit", 1);
    const int64_t id = first_query_id - 1;
    client_->send_text("{\"id\":" + std::to_string(id) +
                       ",\"method\":\"query\",\"params\":{\"path\":\"healthcare.getActiveAlerts\","
                       "\"input\":" + json::to_string(in) + "}}");
    for (;;) {
      bool timed_out = false;
      auto f = next(answer_timeout_ms, &timed_out, error);
      if (!f) return false;
      if (timed_out) {
        *error = "the server did not answer getActiveAlerts within 10 s";
        return false;
      }
      if (f->id != id) {
        if (!on_frame(*f, error)) return false;
        continue;
      }
      if (f->type == server_frame::kind::error) {
        *error = "getActiveAlerts: " + frame_error(*f);
        return false;
      }
      const json::value* total = f->data.find("total");
      if (total != nullptr && total->is_int() && total->as_int() > 0 && events_.empty())
        differences_.push_back("the replay brought no event, but the node knows " +
                               std::to_string(total->as_int()) + " alerts of the hospital");
      return true;
    }
  }

  /// Fetches getAlert for every alert the events name; repeats while events keep arriving (the
  /// hospital changed meanwhile), so the comparison is of one settled state.
  bool fetch_alerts(std::string* error) {
    for (int round = 0; round < max_rounds; ++round) {
      const size_t events_before = events_.size();
      alerts_.clear();
      std::map<int64_t, std::string> pending;  // request id -> alert id
      int64_t request = first_query_id + round * 1'000'000;
      for (const std::string& alert_id : touched_) {
        json::value in = json::value::make_object();
        in.set("alertId", alert_id);
        std::string frame = "{\"id\":" + std::to_string(request) +
                            ",\"method\":\"query\",\"params\":{\"path\":\"healthcare.getAlert\","
                            "\"input\":" + json::to_string(in) + "}}";
        if (!client_->send_text(frame)) {
          *error = "connection lost: " + client_->close_reason();
          return false;
        }
        pending.emplace(request++, alert_id);
      }
      while (!pending.empty()) {
        bool timed_out = false;
        auto f = next(answer_timeout_ms, &timed_out, error);
        if (!f) return false;
        if (timed_out) {
          *error = "the server did not answer getAlert within 10 s";
          return false;
        }
        if (f->id && pending.count(*f->id) != 0) {
          const std::string alert_id = pending[*f->id];
          pending.erase(*f->id);
          if (f->type == server_frame::kind::error) {
            differences_.push_back("alert " + alert_id + ": getAlert answered " + f->error_code);
            continue;
          }
          alerts_.push_back(row_of(alert_id, f->data));
          continue;
        }
        if (!on_frame(*f, error)) return false;
      }
      // Settled when nothing arrived during the fetches and for a moment after them.
      for (;;) {
        bool timed_out = false;
        auto f = next(quiet_ms, &timed_out, error);
        if (!f) return false;
        if (timed_out) break;
        if (!on_frame(*f, error)) return false;
      }
      if (events_.size() == events_before) return true;
    }
    *error = "the hospital kept changing during " + std::to_string(max_rounds) +
             " rounds of getAlert; verify it when it is quieter";
    return false;
  }

  static storage::alert_row row_of(const std::string& alert_id, const json::value& v) {
    storage::alert_row row;
    row.id = alert_id;
    if (const json::value* x = v.find("hospitalId"); x != nullptr && x->is_string())
      row.hospital_id = x->as_string();
    if (const json::value* x = v.find("status"); x != nullptr && x->is_string())
      row.status = x->as_string();
    if (const json::value* x = v.find("createdAt"); x != nullptr && x->is_string())
      row.created_at = parse_iso(x->as_string()).value_or(0);
    if (const json::value* x = v.find("nextEscalationAt"); x != nullptr && x->is_string())
      row.next_escalation_at = parse_iso(x->as_string());
    row.json = json::to_string(v);
    return row;
  }

  int print_report() {
    // pruned_through = the last seq: per-hospital seqs have gaps by design (see the top).
    storage::replay_verifier verifier(newest_.epoch, last_seq_, last_seq_);
    // In the order the server sent them: the verifier reports any seq that does not increase.
    for (const replayed& e : events_) verifier.add_event(e.stored);
    storage::verify_report r = verifier.finish(alerts_);
    std::vector<std::string> all = differences_;
    // The verifier speaks of a database's alerts table; here the state is the node's getAlert.
    const std::pair<std::string, std::string> wording[] = {
      {"the alerts table's json", "the getAlert answer"}, {"the alerts table", "the node's getAlert"}};
    for (std::string d : r.differences) {
      for (const auto& [from, to] : wording)
        for (size_t at = d.find(from); at != std::string::npos; at = d.find(from, at + to.size()))
          d.replace(at, from.size(), to);
      all.push_back(std::move(d));
    }
    const bool consistent = all.empty();
    const std::string newest = format_event_id(newest_.epoch, newest_.seq);
    const std::string first = events_.empty() ? "" : format_event_id(newest_.epoch, r.first_seq);
    const std::string last = events_.empty() ? "" : format_event_id(newest_.epoch, r.last_seq);
    std::string out;
    if (o_.json) {
      json::value v = json::value::make_object();
      v.set("url", o_.url);
      v.set("hospital", o_.hospital);
      v.set("consistent", consistent);
      v.set("epoch", newest_.epoch);
      v.set("newest", newest);
      v.set("events", r.events);
      v.set("first", first);
      v.set("last", last);
      v.set("alerts", r.alerts);
      v.set("alertsVerified", r.alerts_verified);
      v.set("alertsNotVerifiable", r.alerts_not_verifiable);
      json::value d = json::value::make_array();
      for (const std::string& x : all) d.push(x);
      v.set("differences", std::move(d));
      out = json::to_string(v) + "\n";
    } else {
      out += "url: " + o_.url + "\nhospital: " + o_.hospital + "\n";
      out += "newest event: " + newest + " (epoch " + newest_.epoch + ")" +
             (empty_ ? ": the newest of the stream; this hospital has no events" : "") + "\n";
      out += "events replayed: " + std::to_string(r.events);
      if (!events_.empty()) out += " (" + first + " .. " + last + ")";
      out += "\nalerts: " + std::to_string(r.alerts) + " (" + std::to_string(r.alerts_verified) +
             " verified against getAlert, " + std::to_string(r.alerts_not_verifiable) +
             " not verifiable: their alert.created event is not in the replay)\n";
      out += "differences: " + std::to_string(all.size()) + "\n";
      for (const std::string& x : all) out += "  - " + x + "\n";
      out += consistent ? "result: consistent\n" : "result: INCONSISTENT\n";
    }
    if (std::fputs(out.c_str(), stdout) < 0 || std::fflush(stdout) != 0) {
      std::fprintf(stderr, "vigilctl replay: cannot write to stdout\n");
      return exit_failure;
    }
    return consistent ? exit_ok : exit_failure;
  }

  const online_verify_options& o_;
  std::unique_ptr<ws_client> client_;
  event_id newest_;
  bool started_ = false;
  bool resynced_ = false;
  bool overflow_ = false;
  bool empty_ = false;
  uint64_t last_seq_ = 0;
  std::vector<replayed> events_;      // in the order the server sent them
  std::set<std::string> touched_;     // alert ids named by the events
  std::vector<storage::alert_row> alerts_;
  std::vector<std::string> differences_;
};

} // namespace

int run_verify_online(const online_verify_options& o) { return online_verifier(o).run(); }

} // namespace vigil::ctl
