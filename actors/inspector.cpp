// The inspector's behaviour: console command dispatch, the counter samples behind the rates,
// `stats` and the operator commands (kick, reconnect-all, log-level).
#include "actors/inspector.hpp"
#include "actors/inspector_state.hpp"

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

namespace inspection {

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

static double round1(double x) {
  return std::round(x * 10) / 10;
}

/// Asks the directory for every loaded hospital; on failure answers `rp` with an error.
void with_hospitals(inspector_self self, promise rp, std::function<void(hospital_list&)> next) {
  self->request(self->state.rt->directory, ask_timeout, hospitals_atom::value)
    .then([next](hospital_list& hs) { next(hs); },
          [rp](caf::error& err) mutable {
            rp.deliver(fail("the directory actor did not answer: " + caf::to_string(err)));
          });
}

const hospital_actor* find_hospital(const hospital_list& hs, const std::string& id) {
  for (auto& h : hs)
    if (h.first == id)
      return &h.second;
  return nullptr;
}

std::string not_loaded(const std::string& id) {
  return "hospital \"" + id + "\" is not loaded (no call or subscription has used it since start)";
}

namespace {

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

caf::result<std::string> cmd_stats(inspector_self self) {
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
    v.set("failsafe_escalations", c.failsafe_escalations.load());
    v.set("alerts_unattended", c.alerts_unattended.load());
    v.set("alerts_indexed", st.rt->alerts.size());
    v.set("uptime_s", (now_ms() - st.rt->started_ms) / 1000);
    v.set("log_level", log::level_name(log::current_level()));
    rp.deliver(ok(std::move(v)));
  });
  return rp;
}

std::string cmd_kick(inspector_self self, const std::string& arg) {
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

std::string cmd_reconnect_all(inspector_self self) {
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

caf::result<std::string> dispatch(inspector_self self, const std::string& cmd,
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

inspector_actor::behavior_type inspector_behavior(inspector_self self, runtime_ptr rt,
                                                  server_identity identity) {
  self->state.rt = std::move(rt);
  self->state.identity = std::move(identity);
  // Anything else sent to it is answered with an error, not printed on stderr.
  self->set_default_handler(caf::drop);
  take_sample(self->state);
  self->delayed_send(self, sample_interval, sample_tick_atom::value);
  return {
    [=](inspect_atom, const std::string& cmd,
        const std::vector<std::string>& args) -> caf::result<std::string> {
      log::debug("inspector_command", {{"command", cmd}});
      return dispatch(self, cmd, args);
    },
    [=](sample_tick_atom) {
      take_sample(self->state);
      self->delayed_send(self, sample_interval, sample_tick_atom::value);
    },
    [=](status_atom) {
      inspector_status s;
      s.samples = self->state.samples.size();
      s.mailbox = self->mailbox().size();
      return s;
    },
  };
}

} // namespace

} // namespace inspection

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

inspector_actor spawn_inspector(caf::actor_system& sys, std::shared_ptr<runtime> rt,
                           server_identity identity) {
  return sys.spawn(inspection::inspector_behavior, std::move(rt), std::move(identity));
}

} // namespace vigil
