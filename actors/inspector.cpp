#include "actors/inspector.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <unordered_set>

#include "actors/messages.hpp"
#include "actors/runtime.hpp"
#include "domain/json.hpp"
#include "domain/log.hpp"
#include "domain/time.hpp"
#include "delivery/counters.hpp"

namespace vigil {

namespace {

using std::chrono::milliseconds;
using hospital_list = std::vector<std::pair<std::string, caf::actor>>;

/// How long the inspector waits for any one actor; an actor that does not answer in time is
/// reported as such instead of holding up the whole answer.
constexpr auto ask_timeout = std::chrono::seconds(1);
/// events/s and deliveries/s are averaged over this window (one sample per second).
constexpr int64_t rate_window_ms = 10000;
constexpr auto sample_interval = std::chrono::seconds(1);

struct sample {
  int64_t ms = 0;
  uint64_t published = 0;
  uint64_t delivered = 0;
};

struct inspector_state {
  static inline const char* name = "vigil.inspector";
  runtime_ptr rt;
  server_identity identity;
  std::deque<sample> samples; // oldest first, spanning at most rate_window_ms
};

using inspector_actor = caf::stateful_actor<inspector_state>;
using promise = caf::typed_response_promise<std::string>;

// ---- answers -------------------------------------------------------------------------------

std::string ok(json::value data) {
  auto v = json::value::make_object();
  v.set("ok", true);
  v.set("data", std::move(data));
  return json::to_string(v);
}

std::string fail(const std::string& message) {
  auto v = json::value::make_object();
  v.set("ok", false);
  v.set("error", message);
  return json::to_string(v);
}

std::optional<uint64_t> parse_id(const std::string& s) {
  if (s.empty() || s.size() > 19)
    return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

double round1(double x) {
  return std::round(x * 10) / 10;
}

// ---- asking many actors at once ------------------------------------------------------------

/// One actor's answer: the value (nullopt when it failed or timed out) and how long it took.
template <class T>
struct answer {
  std::optional<T> value;
  int64_t reply_us = -1;
  std::string error;
};

/// Sends `msg` to every target with ask_timeout and calls `done` once with every answer, in
/// target order, after the last one arrived or timed out.
template <class T, class... Msg>
void ask_all(inspector_actor* self, const std::vector<caf::actor>& targets,
             std::function<void(std::vector<answer<T>>&)> done, Msg... msg) {
  struct gather {
    std::vector<answer<T>> answers;
    size_t pending = 0;
    std::function<void(std::vector<answer<T>>&)> done;
    void settle() {
      if (--pending == 0)
        done(answers);
    }
  };
  auto g = std::make_shared<gather>();
  g->answers.resize(targets.size());
  g->pending = targets.size() + 1; // +1: settled below, so an empty list completes too
  g->done = std::move(done);
  for (size_t i = 0; i < targets.size(); ++i) {
    if (!targets[i]) {
      g->answers[i].error = "no actor";
      --g->pending;
      continue;
    }
    auto started = std::chrono::steady_clock::now();
    auto elapsed_us = [started] {
      return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now() - started)
        .count();
    };
    self->request(targets[i], ask_timeout, msg...)
      .then(
        [g, i, elapsed_us](T& v) {
          g->answers[i].value = std::move(v);
          g->answers[i].reply_us = elapsed_us();
          g->settle();
        },
        [g, i](caf::error& err) {
          g->answers[i].error = err == caf::sec::request_timeout ? "no answer within 1 s"
                                                                 : caf::to_string(err);
          g->settle();
        });
  }
  g->settle();
}

/// Asks the directory for every loaded hospital; on failure answers `rp` with an error.
void with_hospitals(inspector_actor* self, promise rp, std::function<void(hospital_list&)> next) {
  self->request(self->state.rt->directory, ask_timeout, caf::get_atom::value)
    .then([next](hospital_list& hs) { next(hs); },
          [rp](caf::error& err) mutable {
            rp.deliver(fail("the directory actor did not answer: " + caf::to_string(err)));
          });
}

/// Asks each hospital for its inspection record (hospital.cpp answers `escalate_atom` without
/// arguments with a JSON object); unparsable or missing answers become nullopt.
void with_hospital_details(inspector_actor* self, const hospital_list& hs,
                           std::function<void(std::vector<answer<json::value>>&)> next) {
  std::vector<caf::actor> targets;
  for (auto& h : hs)
    targets.push_back(h.second);
  ask_all<std::string>(
    self, targets,
    [next](std::vector<answer<std::string>>& raw) {
      std::vector<answer<json::value>> parsed(raw.size());
      for (size_t i = 0; i < raw.size(); ++i) {
        parsed[i].reply_us = raw[i].reply_us;
        parsed[i].error = raw[i].error;
        if (!raw[i].value)
          continue;
        std::string err;
        if (auto v = json::parse(*raw[i].value, &err); v && v->is_object())
          parsed[i].value = std::move(*v);
        else
          parsed[i].error = "unreadable answer";
      }
      next(parsed);
    },
    escalate_atom::value);
}

int64_t int_field(const json::value& v, const char* key) {
  auto* f = v.find(key);
  return f != nullptr ? f->as_int() : 0;
}

/// The summary row of one hospital (`hospitals`, `hospital ID`).
json::value hospital_row(const std::string& id, const answer<json::value>& a) {
  auto row = json::value::make_object();
  row.set("hospital", id);
  if (!a.value) {
    row.set("error", a.error);
    return row;
  }
  auto& v = *a.value;
  row.set("open_alerts", int_field(v, "open"));
  row.set("active_alerts", int_field(v, "active"));
  row.set("alerts", int_field(v, "alerts"));
  row.set("subscribers", int_field(v, "subscribers"));
  auto* conns = v.find("connections");
  row.set("connections", conns != nullptr ? conns->size() : size_t{0});
  auto* esc = v.find("escalations");
  row.set("pending_escalations", esc != nullptr ? esc->size() : size_t{0});
  row.set("ring_depth", int_field(v, "ring_depth"));
  row.set("mailbox", int_field(v, "mailbox"));
  return row;
}

/// The pending escalation timers of one hospital's record, as console rows.
void escalation_rows(const std::string& hospital, const json::value& record, int64_t now,
                     std::vector<json::value>& out) {
  auto* esc = record.find("escalations");
  if (esc == nullptr || !esc->is_array())
    return;
  for (auto& e : esc->as_array()) {
    auto row = json::value::make_object();
    auto* alert_id = e.find("alert_id");
    row.set("alert_id", alert_id != nullptr ? alert_id->as_string() : std::string{});
    row.set("hospital", hospital);
    auto tier = int_field(e, "tier");
    row.set("tier", tier);
    row.set("to_tier", tier + 1);
    auto deadline = int_field(e, "deadline");
    row.set("deadline", format_iso(deadline));
    row.set("due_in_ms", std::max<int64_t>(0, deadline - now));
    out.push_back(std::move(row));
  }
}

/// Soonest deadline first (ties by alert id, for a stable listing).
void sort_escalations(std::vector<json::value>& rows) {
  std::sort(rows.begin(), rows.end(), [](const json::value& a, const json::value& b) {
    auto da = int_field(a, "due_in_ms"), db = int_field(b, "due_in_ms");
    if (da != db)
      return da < db;
    return a.find("alert_id")->as_string() < b.find("alert_id")->as_string();
  });
}

const caf::actor* find_hospital(const hospital_list& hs, const std::string& id) {
  for (auto& h : hs)
    if (h.first == id)
      return &h.second;
  return nullptr;
}

std::string not_loaded(const std::string& id) {
  return "hospital \"" + id + "\" is not loaded (no call or subscription has used it since start)";
}

// ---- commands ------------------------------------------------------------------------------

/// Rates over the sampling window: (counter now - counter at the oldest sample) / elapsed.
void add_rates(const inspector_state& st, json::value& out) {
  auto& c = counters::get();
  auto now = now_ms();
  auto published = c.events_published.load();
  auto delivered = c.events_delivered.load();
  double events = 0, deliveries = 0, window_s = 0;
  if (!st.samples.empty() && now > st.samples.front().ms) {
    auto& oldest = st.samples.front();
    window_s = (now - oldest.ms) / 1000.0;
    events = (published - oldest.published) / window_s;
    deliveries = (delivered - oldest.delivered) / window_s;
  }
  out.set("events_per_sec", round1(events));
  out.set("deliveries_per_sec", round1(deliveries));
  out.set("rate_window_s", round1(window_s));
  out.set("events_published", published);
  out.set("events_delivered", delivered);
}

caf::result<std::string> cmd_stats(inspector_actor* self) {
  auto rp = self->make_response_promise<std::string>();
  with_hospitals(self, rp, [self, rp](hospital_list& hs) mutable {
    auto& st = self->state;
    auto& c = counters::get();
    auto v = json::value::make_object();
    // Which server answers, first, so that an operator sees it before the numbers.
    v.set("version", st.identity.version);
    v.set("pid", st.identity.pid);
    v.set("port", static_cast<uint64_t>(st.identity.port));
    v.set("db", st.identity.db);
    v.set("epoch", st.identity.epoch);
    v.set("connections", st.rt->connections.size());
    v.set("subscriptions", c.subscriptions_current.load());
    v.set("hospitals", hs.size());
    add_rates(st, v);
    v.set("drops", c.slow_consumer_closes.load());
    v.set("escalations_fired", c.escalations_fired.load());
    v.set("alerts_indexed", st.rt->alerts.size());
    v.set("uptime_s", (now_ms() - st.rt->started_ms) / 1000);
    v.set("log_level", log::level_name(log::current_level()));
    rp.deliver(ok(std::move(v)));
  });
  return rp;
}

caf::result<std::string> cmd_hospitals(inspector_actor* self) {
  auto rp = self->make_response_promise<std::string>();
  with_hospitals(self, rp, [self, rp](hospital_list& hs) mutable {
    std::sort(hs.begin(), hs.end(), [](auto& a, auto& b) { return a.first < b.first; });
    with_hospital_details(self, hs, [hs, rp](std::vector<answer<json::value>>& details) mutable {
      auto rows = json::value::make_array();
      for (size_t i = 0; i < hs.size(); ++i)
        rows.push(hospital_row(hs[i].first, details[i]));
      rp.deliver(ok(std::move(rows)));
    });
  });
  return rp;
}

caf::result<std::string> cmd_hospital(inspector_actor* self, const std::string& id) {
  auto rp = self->make_response_promise<std::string>();
  with_hospitals(self, rp, [self, rp, id](hospital_list& hs) mutable {
    auto* h = find_hospital(hs, id);
    if (h == nullptr) {
      rp.deliver(fail(not_loaded(id)));
      return;
    }
    hospital_list one{{id, *h}};
    with_hospital_details(self, one, [rp, id](std::vector<answer<json::value>>& details) mutable {
      auto& a = details.front();
      if (!a.value) {
        rp.deliver(fail("hospital \"" + id + "\" did not answer: " + a.error));
        return;
      }
      auto row = hospital_row(id, a);
      auto ids = json::value::make_array();
      if (auto* conns = a.value->find("connections"); conns != nullptr && conns->is_array())
        for (auto& c : conns->as_array())
          ids.push(c);
      row.set("connection_ids", std::move(ids));
      std::vector<json::value> esc;
      escalation_rows(id, *a.value, now_ms(), esc);
      sort_escalations(esc);
      row.set("escalations", json::value{std::move(esc)});
      rp.deliver(ok(std::move(row)));
    });
  });
  return rp;
}

/// One console row for a connection from the registry entry, the outbox and the actor's
/// inspection answer (id, user, role, subscriptions[, mailbox, peer]).
json::value connection_row(runtime& rt, uint64_t id, const connection_registry::entry& e,
                           const answer<std::vector<std::string>>& a, int64_t now) {
  auto row = json::value::make_object();
  row.set("id", id);
  bool known = a.value && a.value->size() >= 4;
  auto text_or_null = [&](size_t i) {
    return known && !(*a.value)[i].empty() ? json::value{(*a.value)[i]} : json::value{};
  };
  row.set("user", text_or_null(1));
  row.set("role", text_or_null(2));
  row.set("subscriptions", known ? json::value{parse_id((*a.value)[3]).value_or(0)}
                                 : json::value{});
  row.set("queue_bytes", rt.out->queued_bytes(id));
  row.set("age_s", std::max<int64_t>(0, now - e.opened_ms) / 1000);
  row.set("opened_at", format_iso(e.opened_ms));
  row.set("peer", known && a.value->size() >= 6 ? json::value{(*a.value)[5]} : json::value{});
  if (!known)
    row.set("error", a.error.empty() ? std::string{"unexpected answer"} : a.error);
  return row;
}

/// Answers with the rows of `conns` (sorted by id), asking each connection actor.
void reply_connections(inspector_actor* self, promise rp,
                       std::vector<std::pair<uint64_t, connection_registry::entry>> conns,
                       bool single) {
  std::sort(conns.begin(), conns.end(), [](auto& a, auto& b) { return a.first < b.first; });
  std::vector<caf::actor> targets;
  for (auto& c : conns)
    targets.push_back(c.second.actor);
  ask_all<std::vector<std::string>>(
    self, targets,
    [self, rp, conns, single](std::vector<answer<std::vector<std::string>>>& answers) mutable {
      auto now = now_ms();
      auto& rt = *self->state.rt;
      if (single) {
        rp.deliver(ok(connection_row(rt, conns[0].first, conns[0].second, answers[0], now)));
        return;
      }
      auto rows = json::value::make_array();
      for (size_t i = 0; i < conns.size(); ++i)
        rows.push(connection_row(rt, conns[i].first, conns[i].second, answers[i], now));
      rp.deliver(ok(std::move(rows)));
    },
    caf::get_atom::value);
}

caf::result<std::string> cmd_connections(inspector_actor* self,
                                         const std::vector<std::string>& args) {
  std::optional<std::string> hospital;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--hospital" && i + 1 < args.size())
      hospital = args[++i];
    else if (args[i].rfind("--hospital=", 0) == 0 && args[i].size() > 11)
      hospital = args[i].substr(11);
    else
      return fail("usage: connections [--hospital ID]");
  }
  auto rp = self->make_response_promise<std::string>();
  if (!hospital) {
    reply_connections(self, rp, self->state.rt->connections.all(), false);
    return rp;
  }
  auto id = *hospital;
  with_hospitals(self, rp, [self, rp, id](hospital_list& hs) mutable {
    auto* h = find_hospital(hs, id);
    if (h == nullptr) {
      rp.deliver(fail(not_loaded(id)));
      return;
    }
    hospital_list one{{id, *h}};
    with_hospital_details(self, one, [self, rp, id](std::vector<answer<json::value>>& d) mutable {
      auto& a = d.front();
      if (!a.value) {
        rp.deliver(fail("hospital \"" + id + "\" did not answer: " + a.error));
        return;
      }
      std::unordered_set<uint64_t> wanted;
      if (auto* conns = a.value->find("connections"); conns != nullptr && conns->is_array())
        for (auto& c : conns->as_array())
          wanted.insert(static_cast<uint64_t>(c.as_int()));
      auto all = self->state.rt->connections.all();
      all.erase(std::remove_if(all.begin(), all.end(),
                               [&](auto& c) { return wanted.count(c.first) == 0; }),
                all.end());
      reply_connections(self, rp, std::move(all), false);
    });
  });
  return rp;
}

caf::result<std::string> cmd_connection(inspector_actor* self, const std::string& arg) {
  auto id = parse_id(arg);
  if (!id)
    return fail("usage: connection ID (a connection id is a number, see `connections`)");
  auto e = self->state.rt->connections.find(*id);
  if (!e)
    return fail("no open connection with id " + arg);
  auto rp = self->make_response_promise<std::string>();
  reply_connections(self, rp, {{*id, *e}}, true);
  return rp;
}

json::value actor_row(const char* kind, const std::string& name, uint64_t id) {
  auto row = json::value::make_object();
  row.set("actor", kind);
  row.set("name", name);
  row.set("id", id);
  row.set("mailbox", json::value{});
  row.set("reply_us", json::value{});
  return row;
}

uint64_t id_of(const caf::actor& a) {
  return a ? static_cast<uint64_t>(a.id()) : uint64_t{0};
}

caf::result<std::string> cmd_actors(inspector_actor* self) {
  // The console listener asks from a short-lived actor of its own: it is alive (and counted in
  // `running`) while this answer is made, so it gets a row too. (Read before the promise is
  // made: the promise takes the sender out of the current message.)
  auto& requester = self->current_sender();
  uint64_t requester_id = requester ? static_cast<uint64_t>(requester->id()) : 0;
  auto rp = self->make_response_promise<std::string>();
  auto started = std::chrono::steady_clock::now();
  with_hospitals(self, rp, [self, rp, started, requester_id](hospital_list& hs) mutable {
    auto directory_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
    std::sort(hs.begin(), hs.end(), [](auto& a, auto& b) { return a.first < b.first; });
    with_hospital_details(self, hs, [self, rp, hs, directory_us, requester_id](
                                      std::vector<answer<json::value>>& details) mutable {
      auto conns = self->state.rt->connections.all();
      std::sort(conns.begin(), conns.end(), [](auto& a, auto& b) { return a.first < b.first; });
      std::vector<caf::actor> targets;
      for (auto& c : conns)
        targets.push_back(c.second.actor);
      auto hospital_rows = std::make_shared<std::vector<json::value>>();
      for (size_t i = 0; i < hs.size(); ++i) {
        auto row = actor_row("hospital", hs[i].first, id_of(hs[i].second));
        if (details[i].value) {
          row.set("mailbox", int_field(*details[i].value, "mailbox"));
          row.set("reply_us", details[i].reply_us);
        } else {
          row.set("error", details[i].error);
        }
        hospital_rows->push_back(std::move(row));
        // Each hospital has one metrics actor (a linked child); its record names it.
        if (details[i].value)
          if (auto metrics_id = int_field(*details[i].value, "metrics_actor"); metrics_id > 0)
            hospital_rows->push_back(
              actor_row("metrics", hs[i].first, static_cast<uint64_t>(metrics_id)));
      }
      ask_all<std::vector<std::string>>(
        self, targets,
        [self, rp, conns, hospital_rows, directory_us,
         requester_id](std::vector<answer<std::vector<std::string>>>& answers) mutable {
          auto& st = self->state;
          auto rows = json::value::make_array();
          auto me = actor_row("inspector", "inspector", self->id());
          me.set("mailbox", self->mailbox().size());
          rows.push(std::move(me));
          auto dir = actor_row("directory", "directory", id_of(st.rt->directory));
          dir.set("reply_us", directory_us);
          rows.push(std::move(dir));
          rows.push(actor_row("storage", "storage", id_of(st.rt->storage)));
          if (st.rt->storage_reader)
            rows.push(actor_row("storage", "reader", id_of(st.rt->storage_reader)));
          for (auto& r : *hospital_rows)
            rows.push(std::move(r));
          for (size_t i = 0; i < conns.size(); ++i) {
            auto row = actor_row("connection", std::to_string(conns[i].first),
                                 id_of(conns[i].second.actor));
            auto& a = answers[i];
            if (a.value) {
              // Connections that report their mailbox append it as a fifth element.
              if (a.value->size() >= 5)
                row.set("mailbox", parse_id((*a.value)[4]).value_or(0));
              row.set("reply_us", a.reply_us);
            } else {
              row.set("error", a.error);
            }
            rows.push(std::move(row));
          }
          if (requester_id != 0)
            rows.push(actor_row("console", "request", requester_id));
          // `running` is CAF's count of every live actor; the rows are the long-lived ones.
          // The difference is short-lived work (HTTP calls, /ready probes) and connection
          // actors finishing after their socket closed; it is named, not hidden.
          auto running = self->system().registry().running();
          auto listed = rows.size();
          auto v = json::value::make_object();
          v.set("running", running);
          v.set("listed", listed);
          v.set("unlisted", running > listed ? running - listed : size_t{0});
          v.set("actors", std::move(rows));
          rp.deliver(ok(std::move(v)));
        },
        caf::get_atom::value);
    });
  });
  return rp;
}

caf::result<std::string> cmd_escalations(inspector_actor* self) {
  auto rp = self->make_response_promise<std::string>();
  with_hospitals(self, rp, [self, rp](hospital_list& hs) mutable {
    with_hospital_details(self, hs, [hs, rp](std::vector<answer<json::value>>& details) mutable {
      std::vector<json::value> rows;
      auto now = now_ms();
      for (size_t i = 0; i < hs.size(); ++i)
        if (details[i].value)
          escalation_rows(hs[i].first, *details[i].value, now, rows);
      sort_escalations(rows);
      rp.deliver(ok(json::value{std::move(rows)}));
    });
  });
  return rp;
}

std::string cmd_kick(inspector_actor* self, const std::string& arg) {
  auto id = parse_id(arg);
  if (!id)
    return fail("usage: kick CONN_ID (a connection id is a number, see `connections`)");
  auto e = self->state.rt->connections.find(*id);
  if (!e)
    return fail("no open connection with id " + arg);
  self->send(e->actor, kick_atom::value);
  log::info("connection_kicked", {{"conn", *id}});
  auto v = json::value::make_object();
  v.set("kicked", *id);
  return ok(std::move(v));
}

std::string cmd_reconnect_all(inspector_actor* self) {
  auto all = self->state.rt->connections.all();
  for (auto& c : all)
    self->send(c.second.actor, reconnect_atom::value);
  log::info("reconnect_all", {{"connections", static_cast<uint64_t>(all.size())}});
  auto v = json::value::make_object();
  v.set("notified", all.size());
  return ok(std::move(v));
}

std::string cmd_log_level(const std::string& arg) {
  auto l = log::parse_level(arg);
  if (!l)
    return fail("usage: log-level debug|info|warn|error (got \"" + arg + "\")");
  auto previous = log::current_level();
  log::set_level(*l);
  // Logged at warn so the change is visible at any level it is changed to.
  log::warn("log_level_changed", {{"from", log::level_name(previous)},
                                  {"to", log::level_name(*l)}});
  auto v = json::value::make_object();
  v.set("level", log::level_name(*l));
  v.set("previous", log::level_name(previous));
  return ok(std::move(v));
}

caf::result<std::string> dispatch(inspector_actor* self, const std::string& cmd,
                                  const std::vector<std::string>& args) {
  auto arity = [&](size_t n, const char* usage) -> std::optional<std::string> {
    if (args.size() != n)
      return fail(std::string{"usage: "} + usage);
    return std::nullopt;
  };
  if (cmd == "stats") {
    if (auto e = arity(0, "stats")) return *e;
    return cmd_stats(self);
  }
  if (cmd == "hospitals") {
    if (auto e = arity(0, "hospitals")) return *e;
    return cmd_hospitals(self);
  }
  if (cmd == "hospital") {
    if (auto e = arity(1, "hospital ID")) return *e;
    return cmd_hospital(self, args[0]);
  }
  if (cmd == "connections")
    return cmd_connections(self, args);
  if (cmd == "connection") {
    if (auto e = arity(1, "connection ID")) return *e;
    return cmd_connection(self, args[0]);
  }
  if (cmd == "actors") {
    if (auto e = arity(0, "actors")) return *e;
    return cmd_actors(self);
  }
  if (cmd == "escalations") {
    if (auto e = arity(0, "escalations")) return *e;
    return cmd_escalations(self);
  }
  if (cmd == "kick") {
    if (auto e = arity(1, "kick CONN_ID")) return *e;
    return cmd_kick(self, args[0]);
  }
  if (cmd == "reconnect-all") {
    if (auto e = arity(0, "reconnect-all")) return *e;
    return cmd_reconnect_all(self);
  }
  if (cmd == "log-level") {
    if (auto e = arity(1, "log-level debug|info|warn|error")) return *e;
    return cmd_log_level(args[0]);
  }
  return fail("unknown command \"" + cmd + "\" (try `help`)");
}

void take_sample(inspector_state& st) {
  auto& c = counters::get();
  auto now = now_ms();
  st.samples.push_back(sample{now, c.events_published.load(), c.events_delivered.load()});
  // Keep the newest sample that is at least a full window old as the window's start.
  while (st.samples.size() > 2 && now - st.samples[1].ms >= rate_window_ms)
    st.samples.pop_front();
}

caf::behavior inspector_behavior(inspector_actor* self, runtime_ptr rt, server_identity identity) {
  self->state.rt = std::move(rt);
  self->state.identity = std::move(identity);
  // Anything else sent to it is answered with an error, not printed on stderr.
  self->set_default_handler(caf::drop);
  take_sample(self->state);
  self->delayed_send(self, sample_interval, tick_atom::value);
  return {
    [=](inspect_atom, const std::string& cmd,
        const std::vector<std::string>& args) -> caf::result<std::string> {
      log::debug("inspector_command", {{"command", cmd}});
      return dispatch(self, cmd, args);
    },
    [=](tick_atom) {
      take_sample(self->state);
      self->delayed_send(self, sample_interval, tick_atom::value);
    },
  };
}

} // namespace

std::string identity_json(const server_identity& id) {
  auto v = json::value::make_object();
  v.set("version", id.version);
  v.set("pid", id.pid);
  v.set("port", static_cast<uint64_t>(id.port));
  v.set("admin_port", static_cast<uint64_t>(id.admin_port));
  v.set("db", id.db);
  v.set("epoch", id.epoch);
  return json::to_string(v);
}

caf::actor spawn_inspector(caf::actor_system& sys, std::shared_ptr<runtime> rt,
                           server_identity identity) {
  return sys.spawn(inspector_behavior, std::move(rt), std::move(identity));
}

} // namespace vigil
