#pragma once
// A deterministic harness for the hospital actor: an actor system driven by CAF 0.17's
// test_coordinator (no worker threads, a simulated clock), the real storage actor (spawned
// non-detached) on a temporary SQLite file, the real directory, and a client actor that sends
// calls the way connection actors do (request/then). The runtime's wall clock is derived from the
// test coordinator's clock, so alert deadlines and CAF timers agree to the millisecond.
//
// CAF's own test DSL (caf/test/dsl.hpp) pulls in CAF's unit-test engine, which clashes with
// GoogleTest; the coordinator is used directly instead.

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "actors/directory.hpp"
#include "actors/hospital.hpp"
#include "actors/interfaces.hpp"
#include "actors/messages.hpp"
#include "actors/runtime.hpp"
#include "actors/storage_actor.hpp"
#include "domain/config.hpp"
#include "domain/procedures.hpp"
#include "domain/time.hpp"
#include "storage/event_store.hpp"
#include "delivery/outbox.hpp"

namespace vigil::test {

/// 2026-01-05T10:00:00.000Z: what the runtime clock reads when the simulated clock starts.
constexpr int64_t base_ms = 1767607200000;

/// State shared between the test thread and the client actor. Only touched while the scheduler
/// is not running (the test coordinator runs every actor on the test thread).
struct client_box {
  struct outgoing {
    size_t ticket;
    call_ptr c;
    hospital_actor dest;
  };
  std::vector<outgoing> queue;                  // calls not yet sent
  std::map<size_t, call_result_ptr> replies;    // ticket -> reply, in arrival order of tickets
  std::vector<size_t> reply_order;              // tickets in the order their replies arrived
  size_t next_ticket = 0;
  std::map<std::string, hospital_actor> hospitals;  // from the directory
};
using client_box_ptr = std::shared_ptr<client_box>;

/// Tells the client actor to send every queued call.
using send_calls_atom = caf::atom_constant<caf::atom("sendcalls")>;

/// The client actor: on send_calls_atom it sends every queued call in one activation (so N calls
/// reach the hospital's mailbox before the hospital runs any of them); on lookup_atom it asks the
/// directory for a hospital.
inline caf::behavior client_behavior(caf::event_based_actor* self, client_box_ptr box,
                                     directory_actor directory) {
  return {
    [=](send_calls_atom) {
      auto queue = std::move(box->queue);
      box->queue.clear();
      for (auto& o : queue) {
        auto ticket = o.ticket;
        self->request(o.dest, caf::infinite, o.c)
          .then(
            [=](const call_result_ptr& r) {
              box->replies[ticket] = r;
              box->reply_order.push_back(ticket);
            },
            [=](caf::error& err) {
              box->replies[ticket] = call_result::failure(trpc_code::internal_server_error,
                                                          "caf: " + caf::to_string(err));
              box->reply_order.push_back(ticket);
            });
      }
    },
    [=](lookup_atom, const std::string& hospital) {
      self->request(directory, caf::infinite, lookup_atom::value, hospital)
        .then([=](const hospital_actor& h) { box->hospitals[hospital] = h; });
    },
  };
}

/// A parsed outbox frame.
struct frame {
  std::string text;
  json::value v;
  /// result.type ("started", "data", "stopped"), empty for other frames.
  std::string result_type() const {
    auto* r = v.find("result");
    auto* t = r != nullptr ? r->find("type") : nullptr;
    return t != nullptr && t->is_string() ? t->as_string() : std::string{};
  }
  /// The event of a data frame (result.data), or null.
  const json::value* event() const {
    auto* r = v.find("result");
    return r != nullptr ? r->find("data") : nullptr;
  }
  /// result.id of a data frame.
  std::string event_id() const {
    auto* r = v.find("result");
    auto* i = r != nullptr ? r->find("id") : nullptr;
    return i != nullptr && i->is_string() ? i->as_string() : std::string{};
  }
  std::string event_type() const {
    auto* e = event();
    auto* t = e != nullptr ? e->find("type") : nullptr;
    return t != nullptr && t->is_string() ? t->as_string() : std::string{};
  }
  std::string alert_id() const {
    auto* e = event();
    auto* t = e != nullptr ? e->find("alertId") : nullptr;
    return t != nullptr && t->is_string() ? t->as_string() : std::string{};
  }
  /// The event's `data` object.
  const json::value& payload() const {
    static const json::value none;
    auto* e = event();
    auto* d = e != nullptr ? e->find("data") : nullptr;
    return d != nullptr ? *d : none;
  }
};

inline identity make_identity(std::string sub, role r, std::string hospital = "h1") {
  identity who;
  who.sub = std::move(sub);
  who.user_role = r;
  who.hospitals = {std::move(hospital)};
  who.exp = 4102444800; // 2100
  return who;
}

/// Seq part of "<epoch>-<seq>".
inline uint64_t seq_of(const std::string& event_id) {
  auto dash = event_id.rfind('-');
  return dash == std::string::npos ? 0 : std::stoull(event_id.substr(dash + 1));
}

/// Parses JSON text; fails the test on bad text.
inline json::value parse_json(const std::string& text) {
  std::string err;
  auto v = json::parse(text, &err);
  EXPECT_TRUE(v.has_value()) << err << " in " << text;
  return v ? std::move(*v) : json::value{};
}

/// Shorthands for reading a reply or an alert.
inline const json::value& at(const json::value& v, std::string_view key) {
  static const json::value none;
  auto* m = v.find(key);
  return m != nullptr ? *m : none;
}
inline std::optional<int64_t> date_ms(const json::value& v) {
  if (!v.is_string())
    return std::nullopt;
  return parse_iso(v.as_string());
}

class harness {
public:
  /// `tiers` as in escalation.tiers; `ring_size` as storage.ring-size.
  explicit harness(const std::string& tiers = "nurse:2m,doctor:3m,head_doctor",
                   size_t ring_size = 1024) {
    char tmpl[] = "/tmp/vigil-actortest-XXXXXX";
    char* d = ::mkdtemp(tmpl);
    EXPECT_NE(d, nullptr);
    dir_ = d != nullptr ? d : "/tmp";
    db_path = dir_ + "/vigil.db";
    cfg_.set("scheduler.policy", caf::atom("testing"));
    cfg_.set("logger.file-verbosity", caf::atom("quiet"));
    cfg_.set("logger.console-verbosity", caf::atom("quiet"));
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
    t0_ = sched->clock().now();
    rt = std::make_shared<runtime>();
    auto policy = parse_tiers(tiers);
    EXPECT_TRUE(std::holds_alternative<escalation_policy>(policy));
    if (auto* p = std::get_if<escalation_policy>(&policy))
      rt->cfg.escalation = *p;
    rt->cfg.ring_size = ring_size;
    // The failsafe would escalate every alert of these tests at once (their subscribers are
    // viewers): tests of the failsafe turn it on explicitly (hospital_failsafe_test.cpp).
    rt->cfg.failsafe.enabled = false;
    auto* sc = sched;
    auto t0 = t0_;
    rt->clock = [sc, t0] {
      return base_ms
             + std::chrono::duration_cast<std::chrono::milliseconds>(sc->clock().now() - t0)
                 .count();
    };
    rt->out = std::make_shared<outbox>(rt->cfg.outbound_budget);
    box = std::make_shared<client_box>();
  }

  ~harness() {
    stop_server();
    kill(client_);
    run_messages();
    sys_.reset(); // the coordinator's stop() fires leftover timers into dead actors
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  harness(const harness&) = delete;
  harness& operator=(const harness&) = delete;

  // ---- server lifecycle --------------------------------------------------------------------

  /// Opens the store, spawns the storage actor (non-detached) and the directory, and restores the
  /// escalation timers (every hospital with one is loaded at once), as vigild does.
  /// `run = false` leaves everything it sent queued (nothing has run yet).
  void start_server(bool read_only = false, bool run = true) {
    std::string err;
    storage::open_options opts;
    opts.read_only = read_only;
    std::shared_ptr<storage::event_store> store{storage::event_store::open(db_path, opts, &err)};
    ASSERT_NE(store, nullptr) << err;
    rt->epoch = store->epoch();
    rt->last_seq = store->last_seq();
    rt->pruned_through = store->pruned_through();
    for (auto& [alert_id, hospital] : store->load_alert_index())
      rt->alerts.put(alert_id, hospital);
    auto plan = plan_escalation_restore(*store);
    ASSERT_TRUE(plan.has_value()) << store->last_error();
    restore_plan_ = *plan;
    rt->storage = spawn_storage(*sys_, rt, std::move(store), false);
    rt->directory = spawn_directory(*sys_, rt);
    restore_escalation_timers(rt->directory, std::move(*plan));
    kill(client_);
    box->hospitals.clear();
    client_ = sys_->spawn(client_behavior, box, rt->directory);
    if (run)
      run_messages();
  }

  /// Stops every hospital, the directory and the storage actor (which closes the database).
  /// Timers of the dead actors stay in the simulated clock and are dropped when they fire.
  void stop_server() {
    // Every hospital the directory runs, as vigild does: the start-up restore runs some that no
    // client asked for.
    if (rt->directory)
      if (auto all = ask<hospital_list>(rt->directory, hospitals_atom::value))
        for (auto& [id, h] : *all)
          kill(h);
    for (auto& [id, h] : box->hospitals)
      kill(h);
    box->hospitals.clear();
    kill(rt->directory);
    kill(rt->storage);
    rt->directory = directory_actor{};
    rt->storage = storage_actor{};
    run_messages();
  }

  /// The hospital actor of `id`, spawned by the directory from a storage snapshot on first use.
  /// Runs messages only, no timers (whatever a fresh hospital sends itself at start-up does run).
  hospital_actor hospital(const std::string& id = "h1") {
    if (auto i = box->hospitals.find(id); i != box->hospitals.end())
      return i->second;
    caf::anon_send(client_, lookup_atom::value, id);
    run_messages();
    auto i = box->hospitals.find(id);
    EXPECT_NE(i, box->hospitals.end());
    return i != box->hospitals.end() ? i->second : hospital_actor{};
  }

  /// Ends hospital `id`'s actor with the abnormal exit `reason` (as an exception escaping a
  /// handler does), forgets the client's handle to it and runs messages (no timers).
  void crash_hospital(const std::string& id, caf::exit_reason reason) {
    auto all = ask<hospital_list>(rt->directory, hospitals_atom::value);
    ASSERT_TRUE(all.has_value());
    auto i = std::find_if(all->begin(), all->end(), [&](auto& kv) { return kv.first == id; });
    ASSERT_NE(i, all->end()) << id << " is not running";
    caf::anon_send_exit(i->second, reason);
    box->hospitals.erase(id);
    run_messages();
  }

  /// Whether `target` runs next (it has messages waiting): with sched->run_once(), for stepping
  /// to the moment a call is in an actor's hands.
  template <class Handle>
  bool runs_next(const Handle& target) {
    auto* a = dynamic_cast<caf::resumable*>(caf::actor_cast<caf::abstract_actor*>(target));
    return a != nullptr && !sched->jobs.empty() && sched->jobs.front() == a;
  }

  /// Ends `hospital` with an abnormal exit before any other actor runs (crash_hospital lets the
  /// others run first). Runs nothing else.
  void crash_at_once(const hospital_actor& hospital) {
    caf::anon_send_exit(hospital, caf::exit_reason::unhandled_exception);
    sched->prioritize(hospital);
    sched->run_once();
    for (auto i = box->hospitals.begin(); i != box->hospitals.end();)
      i = i->second == hospital ? box->hospitals.erase(i) : std::next(i);
  }

  /// What the last start_server() restored (hospitals soonest deadline first, timer count).
  const restore_plan& last_restore() const { return restore_plan_; }

  /// The hospitals the directory runs now, by id (asks it; touches no hospital).
  std::vector<std::string> loaded_hospitals() {
    auto all = ask<hospital_list>(rt->directory, hospitals_atom::value);
    std::vector<std::string> ids;
    if (all)
      for (auto& kv : *all)
        ids.push_back(kv.first);
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  /// The directory's readiness verdict (GET /ready): empty when ready; nullopt when it did not
  /// answer.
  std::optional<std::string> not_ready() {
    auto s = ask<directory_status>(rt->directory, status_atom::value);
    return s ? std::optional<std::string>{s->not_ready} : std::nullopt;
  }

  /// Sends `msg` to `dest` from a one-shot actor and runs messages (no timers) until it answered;
  /// nullopt when it answered with an error or not at all.
  template <class T, class Handle, class... Ts>
  std::optional<T> ask(const Handle& dest, Ts... msg) {
    auto result = std::make_shared<std::optional<T>>();
    sys_->spawn(
      [=](caf::event_based_actor* self, Handle to) {
        self->request(to, caf::infinite, msg...).then([=](T& v) { *result = std::move(v); });
      },
      dest);
    run_messages();
    return *result;
  }

  // ---- scheduling --------------------------------------------------------------------------

  /// Runs queued messages (no timers). Returns the number of messages processed.
  size_t run_messages() { return sched->run(); }

  /// Runs messages and every timer that is due at the current simulated time, until nothing is
  /// left to do now. Returns false when it did not settle within `max_steps` (a retry loop).
  bool run(size_t max_steps = 100000) {
    size_t steps = 0;
    for (;;) {
      steps += sched->run(max_steps - std::min(steps, max_steps));
      if (steps >= max_steps)
        return false;
      if (sched->advance_time(caf::timespan{0}) == 0 && !sched->has_job())
        return true;
    }
  }

  /// Moves the simulated clock forward and runs everything that became due.
  bool advance(std::chrono::milliseconds d, size_t max_steps = 100000) {
    sched->advance_time(std::chrono::duration_cast<caf::timespan>(d));
    return run(max_steps);
  }

  /// Moves the simulated clock forward and delivers the timers that became due into their
  /// actors' mailboxes, without running anything.
  size_t advance_clock_only(std::chrono::milliseconds d) {
    return sched->advance_time(std::chrono::duration_cast<caf::timespan>(d));
  }

  /// Runs exactly one message of `a`; false when `a` has nothing to do.
  template <class Handle>
  bool step(const Handle& a) { return sched->prioritize(a) && sched->try_run_once(); }

  /// The client actor that sends the calls.
  const caf::actor& client() const { return client_; }

  /// The actor system (to spawn connection and http_call actors under test).
  caf::actor_system& system() { return *sys_; }

  /// Advances in steps of `step` up to `total`, running everything due after each step, so that
  /// timers observe the clock at (about) their own deadlines.
  bool advance_stepwise(std::chrono::milliseconds total, std::chrono::milliseconds step) {
    for (std::chrono::milliseconds done{0}; done < total; done += step)
      if (!advance(std::min(step, total - done)))
        return false;
    return true;
  }

  /// Like run(), but each step runs a randomly chosen ready actor instead of the oldest one:
  /// every order it produces is one a multi-threaded scheduler could produce (each actor still
  /// handles its own mailbox in order). Returns false when it did not settle.
  bool run_random(std::mt19937& rng, size_t max_steps = 100000) {
    size_t steps = 0;
    for (;;) {
      while (sched->has_job()) {
        if (++steps > max_steps)
          return false;
        std::uniform_int_distribution<size_t> pick{0, sched->jobs.size() - 1};
        auto i = sched->jobs.begin() + static_cast<std::ptrdiff_t>(pick(rng));
        std::rotate(sched->jobs.begin(), i, i + 1);
        sched->try_run_once();
      }
      if (sched->advance_time(caf::timespan{0}) == 0 && !sched->has_job())
        return true;
    }
  }

  /// The runtime clock (ms since the epoch).
  int64_t now() const { return rt->now(); }

  // ---- calls -------------------------------------------------------------------------------

  /// Validates `input_json` for `path` (fails the test when invalid) and queues the call.
  /// Returns the ticket under which the reply will be recorded.
  size_t queue_call(const hospital_actor& h, const std::string& path, const std::string& input_json,
                    const identity& who) {
    auto* proc = find_procedure(path);
    EXPECT_NE(proc, nullptr) << path;
    auto raw = parse_json(input_json);
    auto valid = validate_input(proc->id, &raw);
    if (auto* err = std::get_if<call_error>(&valid))
      ADD_FAILURE() << "invalid input for " << path << ": " << err->message;
    auto c = std::make_shared<call>();
    c->proc = proc;
    if (auto* v = std::get_if<json::value>(&valid))
      c->input = std::move(*v);
    c->who = std::make_shared<identity>(who);
    auto ticket = box->next_ticket++;
    box->queue.push_back({ticket, call_ptr{c}, h});
    return ticket;
  }

  /// Sends every queued call (in one activation of the client actor) without running anything.
  void send_queued() { caf::anon_send(client_, send_calls_atom::value); }

  /// The reply recorded under `ticket`, or nullptr.
  call_result_ptr reply(size_t ticket) const {
    auto i = box->replies.find(ticket);
    return i == box->replies.end() ? nullptr : i->second;
  }

  /// Queues, sends and runs one call; returns its reply (nullptr when none came).
  call_result_ptr call_now(const hospital_actor& h, const std::string& path,
                           const std::string& input_json, const identity& who) {
    auto t = queue_call(h, path, input_json, who);
    send_queued();
    EXPECT_TRUE(run());
    return reply(t);
  }

  /// createAlert in hospital h1 with `room`; returns the new alert id ("" on failure).
  std::string create_alert(const hospital_actor& h, const std::string& room = "ICU-1",
                           int urgency = 1) {
    auto r = call_now(h, "healthcare.createAlert",
                      R"({"hospitalId":"h1","roomNumber":")" + room
                        + R"(","alertType":"cardiac_arrest","urgencyLevel":)"
                        + std::to_string(urgency) + "}",
                      operator_);
    EXPECT_NE(r, nullptr);
    if (r == nullptr || !r->ok) {
      ADD_FAILURE() << "createAlert failed: " << (r ? r->error.message : "no reply");
      return {};
    }
    return at(at(r->value(), "alert"), "id").as_string();
  }

  /// getAlert (with escalations); null value when it failed.
  json::value get_alert(const hospital_actor& h, const std::string& alert_id) {
    auto r = call_now(h, "healthcare.getAlert", R"({"alertId":")" + alert_id + "\"}", viewer);
    EXPECT_NE(r, nullptr);
    EXPECT_TRUE(r && r->ok) << (r ? r->error.message : "no reply");
    return r && r->ok ? r->value() : json::value{};
  }

  // ---- subscriptions and frames ------------------------------------------------------------

  /// Opens a fake connection in the outbox and subscribes it to the hospital's alert stream.
  void subscribe(const hospital_actor& h, uint64_t conn, std::optional<std::string> last_event_id = {},
                 event_filter filter = {}, int request_id = 1) {
    rt->out->open(conn);
    auto req = std::make_shared<subscribe_request>();
    req->conn_id = conn;
    req->key = std::to_string(request_id);
    req->id = json::value{request_id};
    req->prefix = R"({"id":)" + std::to_string(request_id) + R"(,"result":{"type":"data",)";
    req->kind = stream_kind::alerts;
    req->last_event_id = std::move(last_event_id);
    req->filter = std::move(filter);
    req->who = std::make_shared<identity>(viewer);
    req->since_ms = now();
    caf::anon_send(h, subscribe_ptr{req});
  }

  /// Moves every frame queued for `conn` out of the outbox into the harness's record of that
  /// connection and returns the frames that were new.
  std::vector<frame> take_frames(uint64_t conn) {
    std::vector<out_frame> raw;
    while (rt->out->take(conn, raw, 1024)) {
    }
    std::vector<frame> out;
    for (auto& f : raw) {
      frame fr;
      f.append_to(fr.text);
      fr.v = parse_json(fr.text);
      out.push_back(fr);
    }
    return out;
  }

  /// Only the data frames (events) of `frames`.
  static std::vector<frame> events(const std::vector<frame>& frames) {
    std::vector<frame> out;
    for (auto& f : frames)
      if (f.result_type() == "data")
        out.push_back(f);
    return out;
  }

  // ---- members -----------------------------------------------------------------------------

  runtime_ptr rt;
  caf::scheduler::test_coordinator* sched = nullptr;
  client_box_ptr box;
  std::string db_path;

  identity operator_ = make_identity("u-op-1", role::operator_);
  identity nurse = make_identity("u-nurse-1", role::nurse);
  identity head = make_identity("u-head-1", role::head_doctor);
  identity viewer = make_identity("u-view-1", role::viewer);

private:
  template <class Handle>
  void kill(Handle& h) {
    if (h)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    h = Handle{};
  }

  std::string dir_;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::actor_clock::time_point t0_;
  caf::actor client_;
  restore_plan restore_plan_;
};

} // namespace vigil::test
