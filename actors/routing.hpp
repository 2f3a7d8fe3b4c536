#pragma once
// Getting a call to its hospital actor: a per-caller cache of hospital handles in front of the
// directory, and the batch procedures that touch several alerts one by one. Templates over the
// calling actor (connection and http_call are typed actors of different interfaces; both only
// need `request`), so this header is included by those two translation units only.

#include <caf/all.hpp>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "actors/interfaces.hpp"
#include "actors/runtime.hpp"
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
        [this, hospital, k](const hospital_actor& h) {
          map_.emplace(hospital, h);
          k(h);
        },
        [k](caf::error&) { k(hospital_actor{}); });
  }
  const std::unordered_map<std::string, hospital_actor>& all() const { return map_; }

private:
  std::unordered_map<std::string, hospital_actor> map_;
};

namespace detail {

/// State of one batch call: the ids still to do and the outcome so far.
struct batch_run {
  call_ptr original;
  std::vector<std::string> ids;
  size_t next = 0;
  json::value done = json::value::make_array();
  json::value errors = json::value::make_array();
  const procedure_info* single = nullptr;
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
    auto hospital = rt->alerts.hospital_of(id);
    if (!hospital) {
      fail(id, "Alert not found");
      continue;
    }
    if (!run->original->who->has_hospital(*hospital)) {
      fail(id, "Access denied to this hospital");
      continue;
    }
    auto single = std::make_shared<call>();
    single->proc = run->single;
    single->who = run->original->who;
    auto in = json::value::make_object();
    in.set("alertId", id);
    if (run->single->id == procedure::acknowledge_alert) {
      if (auto* n = run->original->input.find("notes"))
        in.set("notes", *n);
      in.set("urgencyAssessment", "maintain");
    } else if (auto* r = run->original->input.find("resolution")) {
      in.set("resolution", *r);
    }
    single->input = std::move(in);
    cache->with(self, *rt, *hospital, [=](hospital_actor h) {
      if (!h) {
        fail(id, "Internal server error");
        batch_step(self, rt, cache, run);
        return;
      }
      self->request(h, caf::infinite, call_ptr{single})
        .then(
          [=](const call_result_ptr& r) {
            if (r->ok)
              run->done.push(id);
            else
              fail(id, r->error.message);
            batch_step(self, rt, cache, run);
          },
          [=](caf::error&) {
            fail(id, "Internal server error");
            batch_step(self, rt, cache, run);
          });
    });
    return; // continues in the reply handler
  }
  auto v = json::value::make_object();
  bool ack = run->single->id == procedure::acknowledge_alert;
  v.set("success", run->done.size() > 0);
  v.set(ack ? "acknowledged" : "resolved", std::move(run->done));
  v.set("errors", std::move(run->errors));
  run->k(call_result::success(std::move(v)));
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
    run->single = find_procedure(c->proc->id == procedure::batch_acknowledge_alerts
                                   ? "healthcare.acknowledgeAlert"
                                   : "healthcare.resolveAlert");
    std::set<std::string> seen;
    if (auto* ids = c->input.find("alertIds"); ids != nullptr && ids->is_array())
      for (auto& x : ids->as_array())
        if (x.is_string() && seen.insert(x.as_string()).second)
          run->ids.push_back(x.as_string());
    detail::batch_step(self, rt, &cache, run);
    return;
  }
  cache.with(self, *rt, hospital, [self, c, k](hospital_actor h) {
    if (!h) {
      k(call_result::failure(trpc_code::internal_server_error, "Internal server error"));
      return;
    }
    self->request(h, caf::infinite, c)
      .then([k](const call_result_ptr& r) { k(r); },
            [k](caf::error&) {
              k(call_result::failure(trpc_code::internal_server_error, "Internal server error"));
            });
  });
}

} // namespace vigil
