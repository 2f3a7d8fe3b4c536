#include "actors/connection.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <list>
#include <map>

#include "actors/audit.hpp"
#include "actors/call_pipeline.hpp"
#include "actors/messages.hpp"
#include "actors/routing.hpp"
#include "domain/log.hpp"
#include "domain/rate_limiter.hpp"
#include "domain/time.hpp"
#include "domain/trpc.hpp"
#include "delivery/counters.hpp"

namespace vigil {

namespace {

using std::chrono::milliseconds;

constexpr uint64_t anonymous_timer = 1;
constexpr uint64_t expiry_timer = 2;
constexpr uint64_t expiry_close_timer = 3;
/// The longest delay of one expiry timer (see schedule_expiry).
constexpr int64_t max_expiry_timer_ms = 24LL * 3600 * 1000;

struct live_subscription {
  hospital_actor hospital;    // invalid while the hospital is being looked up
  bool stop_requested = false;
};

/// Calls of one connection that may wait for their hospital at once; further frames wait
/// (and, through the inbound gauge, so does the socket).
constexpr size_t max_calls_in_flight = 256;

/// Everything here is kept for every open WebSocket, idle ones included, so it is laid out for
/// size: containers that are usually empty must not allocate while empty (std::deque and the
/// buckets of std::unordered_map do), and at most one timer is pending at a time.
struct connection_state {
  static inline const char* name = "vigil.connection";
  runtime_ptr rt;
  connection_args args;
  bool params_pending = false;
  bool any_superjson = false;
  bool token_expired = false;
  /// The anonymous timer is pending (so the expiry timer may wait for it, see set_auth).
  bool anonymous_timer_pending = false;
  /// An expiry timer is due once the anonymous timer has fired.
  bool expiry_timer_deferred = false;
  auth_state auth;
  int64_t anonymous_deadline_ms = 0; // rt->now() when the anonymous timer fires
  std::unique_ptr<rate_limiter> rate; // null when limits.rate is 0 (no limit)
  std::map<std::string, live_subscription> subs; // a handful per connection: no bucket array
  hospital_cache hospitals;
  size_t calls_in_flight = 0;
  std::list<std::pair<std::string, bool>> deferred; // frames waiting for calls to finish
};

using connection_self = connection_actor::stateful_pointer<connection_state>;

void drain_deferred(connection_self self);

void push(connection_self self, std::string frame) {
  self->state.rt->out->push_text(self->state.args.conn_id, std::move(frame));
}

void push_error(connection_self self, const trpc::ws_request& req, const call_error& e,
                bool superjson) {
  counters::get().rejected_by_code[static_cast<size_t>(e.code) % 16]++;
  push(self, trpc::ws_error(req.id, req.jsonrpc, e, req.path, superjson));
}

void push_parse_error(connection_self self, const std::string& message) {
  push(self, trpc::ws_error(json::value{}, false, call_error{trpc_code::parse_error, message}, "",
                            self->state.any_superjson));
}

/// Arms the expiry timer: at expiry, ask the client to reconnect with a fresh token, and close
/// after the grace period.
void schedule_expiry(connection_self self) {
  auto& st = self->state;
  // A token may carry any exp; a timer further out than a day is re-armed when it fires (the
  // clock adds the delay in nanoseconds, which overflows past ~292 years).
  const int64_t ms_left = ms_until_expiry(*st.auth.who, st.rt->now(), max_expiry_timer_ms);
  self->delayed_send(self, milliseconds(ms_left), timeout_atom::value, expiry_timer);
}

void set_auth(connection_self self, const std::optional<std::string>& token) {
  auto& st = self->state;
  st.auth = authenticate(token, *st.rt);
  if (!st.auth.who) {
    log::info("auth_failed", {{"conn", st.args.conn_id}, {"peer", st.args.peer},
                              {"transport", "ws"}, {"reason", auth_reason_label(st.auth.reason)}});
    return;
  }
  log::info("connection_authenticated", {{"conn", st.args.conn_id}, {"sub", st.auth.who->sub},
                                         {"role", role_name(st.auth.who->user_role)}});
  // A pending CAF timer costs a mailbox element and two clock entries (~220 bytes) until it
  // fires, and cannot be cancelled. While the anonymous timer is pending (the first minute of a
  // connection that sent connectionParams) and the token outlives it, the expiry timer is armed
  // when the anonymous timer fires, so an idle connection holds one timer, not two.
  if (st.anonymous_timer_pending && expiry_ms(*st.auth.who) >= st.anonymous_deadline_ms) {
    st.expiry_timer_deferred = true;
    return;
  }
  schedule_expiry(self);
}

/// The token of a connection: connectionParams.token, connectionParams.authorization, then the
/// upgrade request's Authorization header (first present wins).
void resolve_token(connection_self self, const trpc::connection_params* params) {
  auto& st = self->state;
  set_auth(self, ws_token(params, st.args.header_authorization));
  // Not needed any more; a bearer token is a few hundred bytes kept per connection otherwise.
  std::string{}.swap(st.args.header_authorization);
}

void start_subscription(connection_self self, const trpc::ws_request& req, routed_call& rc,
                        bool superjson) {
  auto& st = self->state;
  auto key = json::to_string(req.id);
  auto spec = subscription_of(rc.proc->id, rc.input, req.last_event_id,
                              st.rt->cfg.metrics_interval_ms);
  auto sr = std::make_shared<subscribe_request>();
  sr->conn_id = st.args.conn_id;
  sr->key = key;
  sr->prefix = trpc::ws_data_prefix(req.id, req.jsonrpc);
  sr->id = req.id;
  sr->jsonrpc = req.jsonrpc;
  sr->superjson = superjson;
  sr->who = std::move(rc.who);
  sr->since_ms = st.rt->now();
  sr->kind = spec.kind;
  sr->alert_id = std::move(spec.alert_id);
  sr->last_event_id = std::move(spec.last_event_id);
  sr->interval_ms = spec.interval_ms;
  sr->filter = std::move(spec.filter);
  st.subs[key] = live_subscription{};
  subscribe_ptr msg = sr;
  st.hospitals.with(self, *st.rt, rc.hospital_id,
                    [self, key, msg, req, superjson](hospital_actor h) {
    auto& st = self->state;
    auto i = st.subs.find(key);
    if (i == st.subs.end())
      return;
    if (!h) {
      st.subs.erase(i);
      push_error(self, req, call_error{trpc_code::internal_server_error, "Internal server error"},
                 superjson);
      return;
    }
    i->second.hospital = h;
    self->send(h, msg);
    if (i->second.stop_requested) {
      self->send(h, unsubscribe_atom::value, st.args.conn_id, key);
      st.subs.erase(i);
    }
  });
}

void handle_request(connection_self self, const trpc::ws_request& req, int64_t now) {
  auto& st = self->state;
  if (req.method == trpc::rpc_method::subscription_stop) {
    auto key = json::to_string(req.id);
    auto i = st.subs.find(key);
    if (i == st.subs.end())
      return; // unknown or finished: ignored
    if (!i->second.hospital) {
      i->second.stop_requested = true;
      return;
    }
    self->send(i->second.hospital, unsubscribe_atom::value, st.args.conn_id, key);
    st.subs.erase(i);
    return;
  }
  // Checks 0–7 of docs/api.md "Order of checks" in one decision.
  auto ctx = make_context(*st.rt, call_transport::websocket, now);
  if (st.rate)
    ctx.rate_limited = st.rate->take(now);
  if (req.method == trpc::rpc_method::subscription) {
    ctx.duplicate_id = st.subs.count(json::to_string(req.id)) > 0;
    ctx.open_subscriptions = st.subs.size();
    ctx.max_subscriptions = st.rt->cfg.subscriptions_per_connection;
  }
  ctx.connection_token_expired = st.token_expired;
  call_request creq{req.method, req.path, req.has_input ? &req.input : nullptr, &req.id};
  auto d = decide(creq, st.auth, ctx);
  if (d.envelope)
    st.any_superjson = true;
  bool superjson = d.superjson;
  if (auto* r = d.refused()) {
    count_refusal(*r);
    audit_refusal(*st.rt, creq, *r, st.auth, ctx, st.args.conn_id, st.args.peer);
    push_error(self, req, r->error, superjson);
    return;
  }
  auto& rc = *d.routed();
  if (req.method == trpc::rpc_method::subscription) {
    start_subscription(self, req, rc, superjson);
    return;
  }
  auto hospital_id = std::move(rc.hospital_id);
  auto id = req.id;
  auto jsonrpc = req.jsonrpc;
  auto path = req.path;
  ++st.calls_in_flight;
  run_call(self, st.rt, st.hospitals, to_call(std::move(rc), st.args.conn_id, st.args.peer),
           hospital_id,
           [self, id, jsonrpc, path, superjson](call_result_ptr r) {
             --self->state.calls_in_flight;
             drain_deferred(self);
             if (r->ok) {
               push(self, r->encoded
                            ? trpc::ws_data_text(id, jsonrpc, r->text, r->text_meta, superjson)
                            : trpc::ws_data(id, jsonrpc, r->data, superjson));
             } else {
               counters::get().rejected_by_code[static_cast<size_t>(r->error.code) % 16]++;
               push(self, trpc::ws_error(id, jsonrpc, r->error, path, superjson));
             }
           });
}

void handle_frame(connection_self self, const std::string& text, bool binary);

/// Marks a frame as processed for the inbound gauge; resumes reading when below the low mark.
void release_inbound(connection_self self, size_t bytes) {
  auto& st = self->state;
  auto& g = st.args.gauge;
  if (!g)
    return;
  auto left = g->bytes.fetch_sub(static_cast<int64_t>(bytes)) - static_cast<int64_t>(bytes);
  if (g->paused.load() && left < inbound_gauge::low_mark)
    st.rt->out->wake(st.args.conn_id);
}

/// Processes deferred frames while calls may be started.
void drain_deferred(connection_self self) {
  auto& st = self->state;
  while (!st.deferred.empty() && st.calls_in_flight < max_calls_in_flight) {
    auto [text, binary] = std::move(st.deferred.front());
    st.deferred.pop_front();
    handle_frame(self, text, binary);
    release_inbound(self, text.size());
  }
}

void handle_frame(connection_self self, const std::string& text, bool binary) {
  auto& st = self->state;
  counters::get().frames_in++;
  if (binary) {
    push_parse_error(self, "Binary frames are not supported");
    return;
  }
  if (st.params_pending) {
    st.params_pending = false;
    auto parsed = trpc::parse_connection_params(text);
    if (auto* err = std::get_if<std::string>(&parsed)) {
      push_parse_error(self, *err);
      st.rt->out->close(st.args.conn_id, 1008, "invalid connection params", true);
      return;
    }
    resolve_token(self, &std::get<trpc::connection_params>(parsed));
    return;
  }
  auto parsed = trpc::parse_ws_frame(text);
  if (auto* err = std::get_if<std::string>(&parsed)) {
    push_parse_error(self, *err);
    return;
  }
  auto& frame = std::get<trpc::ws_frame>(parsed);
  auto now = st.rt->now();
  size_t limit = st.rt->cfg.requests_per_frame;
  for (size_t i = 0; i < frame.requests.size(); ++i) {
    auto& req = frame.requests[i];
    if (i >= limit) {
      bool sj = req.has_input && trpc::is_superjson_envelope(req.input);
      push_error(self, req, call_error{trpc_code::bad_request, "Batch call exceeds maximum size"},
                 sj);
      continue;
    }
    handle_request(self, req, now);
  }
}

connection_actor::behavior_type connection_behavior(connection_self self, runtime_ptr rt,
                                                    connection_args args) {
  auto& st = self->state;
  st.rt = std::move(rt);
  st.args = std::move(args);
  st.params_pending = st.args.expects_params;
  log::info("connection_opened", {{"conn", st.args.conn_id}, {"peer", st.args.peer}});
  if (st.rt->cfg.rate > 0)
    st.rate = std::make_unique<rate_limiter>(st.rt->cfg.rate, st.rt->cfg.rate_burst);
  // A hospital actor this connection used has died (a crash: the directory reloads it). Its handle
  // is dropped, and the subscriptions it served are gone with it: the client is asked to
  // reconnect, and @trpc/client resumes every subscription by lastEventId on the reloaded
  // hospital, so no event is missed.
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    // Only hospital actors are monitored. Their handle may be gone from the cache already (a
    // failed call dropped it); the subscriptions it served are lost all the same.
    st.hospitals.forget_source(dm.source);
    self->send(self, hospital_down_atom::value, dm.source);
    size_t lost = 0;
    for (auto i = st.subs.begin(); i != st.subs.end();) {
      if (i->second.hospital && i->second.hospital.address() == dm.source) {
        i = st.subs.erase(i);
        ++lost;
      } else {
        ++i;
      }
    }
    // A hospital stopped for shutdown is not a crash: the shutdown sends its own reconnect once
    // the server stops accepting, and an early one would bring the client back to it.
    bool crashed = dm.reason != caf::exit_reason::user_shutdown
                   && dm.reason != caf::exit_reason::normal;
    if (lost == 0 || !crashed || st.token_expired)
      return;
    log::warn("subscriptions_lost_hospital", {{"conn", st.args.conn_id},
                                              {"subscriptions", static_cast<uint64_t>(lost)}});
    push(self, trpc::ws_reconnect());
  });
  if (!st.params_pending)
    resolve_token(self, nullptr);
  // Authenticated by the upgrade request already: the connection stays authenticated, so the
  // anonymous timer would find nothing to do.
  if (st.params_pending || !st.auth.who) {
    st.anonymous_timer_pending = true;
    st.anonymous_deadline_ms = st.rt->now() + st.rt->cfg.anonymous_timeout_ms;
    self->delayed_send(self, milliseconds(st.rt->cfg.anonymous_timeout_ms), timeout_atom::value,
                       anonymous_timer);
  }
  return {
    [=](ws_frame_atom, std::string& text, bool binary) {
      auto& st = self->state;
      if (st.calls_in_flight >= max_calls_in_flight || !st.deferred.empty()) {
        st.deferred.emplace_back(std::move(text), binary);
        return;
      }
      handle_frame(self, text, binary);
      release_inbound(self, text.size());
    },
    [=](hospital_down_atom, const caf::actor_addr& hospital) {
      self->state.hospitals.fail_in_flight(hospital);
    },
    [=](timeout_atom, uint64_t which) {
      auto& st = self->state;
      auto conn = st.args.conn_id;
      if (which == anonymous_timer) {
        st.anonymous_timer_pending = false;
        if (!st.auth.who) {
          counters::get().closed_unauthenticated++;
          st.rt->out->close(conn, 4001, "unauthenticated", true);
        } else if (st.expiry_timer_deferred) {
          st.expiry_timer_deferred = false;
          schedule_expiry(self);
        }
      } else if (which == expiry_timer && st.auth.who) {
        if (!token_expired(*st.auth.who, st.rt->now())) {
          schedule_expiry(self); // the delay was capped
          return;
        }
        st.token_expired = true;
        push(self, trpc::ws_reconnect());
        self->delayed_send(self, milliseconds(st.rt->cfg.expiry_grace_ms), timeout_atom::value,
                           expiry_close_timer);
      } else if (which == expiry_close_timer) {
        counters::get().closed_token_expired++;
        st.rt->out->close(conn, 4003, "token expired", true);
      }
    },
    [=](reconnect_atom) { push(self, trpc::ws_reconnect()); },
    [=](kick_atom) { self->state.rt->out->close(self->state.args.conn_id, 4000, "kicked", false); },
    [=](closed_atom, uint16_t code) {
      auto& st = self->state;
      log::info("connection_closed",
                {{"conn", st.args.conn_id}, {"peer", st.args.peer},
                 {"sub", st.auth.who ? std::string_view{st.auth.who->sub} : std::string_view{}},
                 {"code", static_cast<unsigned>(code)}});
      for (auto& [id, h] : st.hospitals.all())
        self->send(h, drop_atom::value, st.args.conn_id);
      self->quit();
    },
    [=](status_atom) {
      auto& st = self->state;
      connection_status s;
      s.conn_id = st.args.conn_id;
      if (st.auth.who) {
        s.user = st.auth.who->sub;
        s.role = role_name(st.auth.who->user_role);
      }
      s.subscriptions = st.subs.size();
      s.mailbox = self->mailbox().size();
      s.peer = st.args.peer;
      return s;
    },
  };
}

} // namespace

connection_actor spawn_connection(caf::actor_system& sys, runtime_ptr rt, connection_args args) {
  return sys.spawn(connection_behavior, std::move(rt), std::move(args));
}

} // namespace vigil
