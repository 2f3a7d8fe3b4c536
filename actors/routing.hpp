#pragma once
// Getting a call to its hospital actor: a per-caller cache of hospital handles in front of the
// directory, and the batch procedures that touch several alerts one by one. Templates over the
// calling actor (connection and http_call are typed actors of different interfaces; both only
// need `request`), so this header is included by those two translation units only.

#include <caf/all.hpp>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "actors/audit.hpp"
#include "actors/call_pipeline.hpp"
#include "actors/interfaces.hpp"
#include "actors/runtime.hpp"
#include "domain/batch.hpp"
#include "domain/procedures.hpp"

namespace vigil {

/// Hospital handles a caller has already looked up.
class hospital_cache {
public:
  /// Calls `k(handle)` with the hospital's actor (an invalid handle when it cannot be had).
  template <class Self>
  void with(Self* self, const runtime& rt, const std::string& hospital,
            std::function<void(hospital_actor)> k) {
    if (auto i = map_.find(hospital); i != map_.end()) {
      k(i->second);
      return;
    }
    self->request(rt.directory, caf::infinite, lookup_atom::value, hospital)
      .then(
        [this, self, hospital, k](const hospital_actor& h) {
          // Watched, so a crashed hospital's handle is dropped (see forget_source).
          if (map_.emplace(hospital, h).second)
            self->monitor(h);
          k(h);
        },
        [k](caf::error&) { k(hospital_actor{}); });
  }
  /// Drops a handle whose request failed: the next call asks the directory again, which has
  /// reloaded a hospital actor that crashed (without this, every later call on this connection
  /// failed until it reconnected).
  void forget(const std::string& hospital) { map_.erase(hospital); }
  /// Drops the handle of the hospital actor `source` (from its down message).
  void forget_source(const caf::actor_addr& source) {
    for (auto i = map_.begin(); i != map_.end(); ++i)
      if (i->second.address() == source) {
        map_.erase(i);
        return;
      }
  }
  const std::unordered_map<std::string, hospital_actor>& all() const { return map_; }

  /// A call sent to a hospital actor and not answered yet.
  struct in_flight_call {
    caf::actor_addr hospital;
    std::function<void(call_result_ptr)> k;
  };
  using in_flight_ptr = std::shared_ptr<in_flight_call>;
  /// Notes a call sent to `hospital`, answered by `k`.
  in_flight_ptr track(caf::actor_addr hospital, std::function<void(call_result_ptr)> k) {
    auto p = std::make_shared<in_flight_call>(in_flight_call{std::move(hospital), std::move(k)});
    in_flight_.push_back(p);
    return p;
  }
  /// Ends `p`: its continuation, or nothing when it was answered already (its hospital died).
  std::function<void(call_result_ptr)> settle(const in_flight_ptr& p) {
    auto i = std::find(in_flight_.begin(), in_flight_.end(), p);
    if (i == in_flight_.end())
      return {};
    in_flight_.erase(i);
    return std::move(p->k);
  }

  /// Answers the calls the dead hospital actor `source` had taken and not answered: CAF 0.17
  /// tells a requester nothing when the actor holding its promise dies (they would wait
  /// forever). Runs after the down message's own turn: the down message is urgent, while the
  /// calls still in the dead actor's mailbox come back as `request_receiver_down` errors in
  /// the normal queue before it, and are sent again (see request_hospital).
  void fail_in_flight(const caf::actor_addr& source) {
    std::vector<in_flight_ptr> lost;
    for (auto i = in_flight_.begin(); i != in_flight_.end();)
      if ((*i)->hospital == source) {
        lost.push_back(std::move(*i));
        i = in_flight_.erase(i);
      } else {
        ++i;
      }
    // The hospital may have stored the call's change before it died.
    for (auto& p : lost)
      p->k(call_result::failure(trpc_code::internal_server_error,
                                "The hospital failed during the call; it may have taken effect"));
  }

private:
  std::unordered_map<std::string, hospital_actor> map_;
  /// Bounded by the calls a caller may have in flight (max_calls_in_flight per connection).
  std::vector<in_flight_ptr> in_flight_;
};

/// Sends `c` to the hospital and hands its result to `k`. A cached handle to a hospital actor that
/// has died is dropped; when the call was bounced unprocessed (`request_receiver_down`: it never
/// ran, so sending it again cannot do it twice) it is sent once more to the handle the directory
/// has now. Any other failure is INTERNAL_SERVER_ERROR.
template <class Self>
void request_hospital(Self* self, const runtime_ptr& rt, hospital_cache& cache,
                      const std::string& hospital, call_ptr c,
                      std::function<void(call_result_ptr)> k, bool may_retry = true) {
  cache.with(self, *rt, hospital, [=, &cache](hospital_actor h) {
    if (!h) {
      k(call_result::failure(trpc_code::internal_server_error, "Internal server error"));
      return;
    }
    auto call = cache.track(h.address(), k);
    self->request(h, caf::infinite, c)
      .then(
        [call, &cache](const call_result_ptr& r) {
          if (auto k = cache.settle(call))
            k(r);
        },
        [=, &cache](caf::error& err) {
          if (!cache.settle(call))
            return; // answered when the hospital's down message came
          cache.forget(hospital);
          if (may_retry && err == caf::sec::request_receiver_down) {
            request_hospital(self, rt, cache, hospital, c, k, false);
            return;
          }
          k(call_result::failure(trpc_code::internal_server_error, "Internal server error"));
        });
  });
}

namespace detail {

/// State of one batch call: the ids still to do and the outcome so far.
struct batch_run {
  call_ptr original;
  std::vector<std::string> ids;
  size_t next = 0;
  json::value done = json::value::make_array();
  json::value errors = json::value::make_array();
  const procedure_info* single = nullptr;
  alert_lookup hospital_of;    // the alert index
  std::function<void(call_result_ptr)> k;
};

template <class Self>
void batch_step(Self* self, runtime_ptr rt, hospital_cache* cache,
                std::shared_ptr<batch_run> run) {
  auto fail = [run](const std::string& id, const std::string& message) {
    auto e = json::value::make_object();
    e.set("alertId", id);
    e.set("error", message);
    run->errors.push(std::move(e));
  };
  while (run->next < run->ids.size()) {
    auto id = run->ids[run->next++];
    std::string hospital;
    if (auto refused = check_batch_alert(id, *run->original->who, run->hospital_of, &hospital)) {
      // Refused before any hospital (no such alert, or another hospital's): the single action's
      // record; the hospitals audit the rest.
      auto target = run->hospital_of(id);
      auto rec = audit_of(*run->original, target.value_or(""), id, rt->now(),
                          audit_outcome(target ? trpc_code::forbidden : trpc_code::not_found));
      rec.action = audit_action(*run->single);
      send_audit(*rt, {std::move(rec)});
      fail(id, *refused);
      continue;
    }
    auto single = std::make_shared<call>();
    single->proc = run->single;
    single->who = run->original->who;
    single->conn_id = run->original->conn_id;
    single->remote = run->original->remote;
    single->input = batch_single_input(run->original->proc->id, run->original->input, id);
    request_hospital(self, rt, *cache, hospital, single, [=](call_result_ptr r) {
      if (r->ok)
        run->done.push(id);
      else
        fail(id, r->error.message);
      batch_step(self, rt, cache, run);
    });
    return; // continues in the reply handler
  }
  run->k(call_result::success(
    batch_reply(run->original->proc->id, std::move(run->done), std::move(run->errors))));
}

} // namespace detail

/// Runs a routed call and hands the result to `k`. Batch procedures (alert_list scope) are run
/// as one single-alert call per distinct alert id, in order, collecting per-alert errors.
template <class Self>
void run_call(Self* self, const runtime_ptr& rt, hospital_cache& cache,
              call_ptr c, const std::string& hospital,
              std::function<void(call_result_ptr)> k) {
  if (c->proc->scope == proc_scope::alert_list) {
    auto run = std::make_shared<detail::batch_run>();
    run->original = c;
    run->k = std::move(k);
    run->single = batch_single_procedure(c->proc->id);
    run->ids = batch_alert_ids(c->input);
    run->hospital_of = alert_lookup_of(*rt);
    detail::batch_step(self, rt, &cache, run);
    return;
  }
  request_hospital(self, rt, cache, hospital, std::move(c), std::move(k));
}

} // namespace vigil
