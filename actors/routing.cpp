#include "actors/routing.hpp"

#include <memory>

#include "actors/call_pipeline.hpp"
#include "domain/batch.hpp"

namespace vigil {

namespace {

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

void batch_step(caf::event_based_actor* self, runtime_ptr rt, hospital_cache* cache,
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
      fail(id, *refused);
      continue;
    }
    auto single = std::make_shared<call>();
    single->proc = run->single;
    single->who = run->original->who;
    single->input = batch_single_input(run->original->proc->id, run->original->input, id);
    cache->with(self, *rt, hospital, [=](caf::actor h) {
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
  run->k(call_result::success(
    batch_reply(run->original->proc->id, std::move(run->done), std::move(run->errors))));
}

} // namespace

void run_call(caf::event_based_actor* self, const runtime_ptr& rt, hospital_cache& cache,
              call_ptr c, const std::string& hospital,
              std::function<void(call_result_ptr)> k) {
  if (c->proc->scope == proc_scope::alert_list) {
    auto run = std::make_shared<batch_run>();
    run->original = c;
    run->k = std::move(k);
    run->single = batch_single_procedure(c->proc->id);
    run->ids = batch_alert_ids(c->input);
    run->hospital_of = alert_lookup_of(*rt);
    batch_step(self, rt, &cache, run);
    return;
  }
  cache.with(self, *rt, hospital, [self, c, k](caf::actor h) {
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
