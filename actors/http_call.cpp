#include "actors/http_call.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <cctype>

#include "actors/audit.hpp"
#include "actors/call_pipeline.hpp"
#include "actors/routing.hpp"
#include "domain/http_call_parse.hpp"
#include "domain/log.hpp"
#include "domain/time.hpp"
#include "domain/trpc.hpp"
#include "delivery/counters.hpp"

namespace vigil {

namespace {

struct item {
  std::string path;
  bool has_input = false;
  json::value input;
  bool superjson = false;
  bool done = false;
  int status = 200;
  std::string body;
};

struct http_call_state {
  static inline const char* name = "vigil.http_call";
  runtime_ptr rt;
  http_request_ptr req;
  std::vector<item> items;
  size_t remaining = 0;
  hospital_cache hospitals;
  /// This actor, until it has responded. Nobody else holds it but the promises of the actors
  /// running its calls: a hospital that dies holding one would destroy this actor with it, and
  /// its down message (which answers the call, see hospital_cache::fail_in_flight) would find
  /// nobody, leaving the request without a response.
  caf::strong_actor_ptr keep_alive;
};

using http_call_self = http_call_actor::stateful_pointer<http_call_state>;

void respond(http_call_self self, int status, std::string body,
             std::vector<std::pair<std::string, std::string>> extra = {}) {
  http_response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(extra);
  self->state.rt->out->respond(self->state.req->conn_id, std::move(r));
  self->quit(); // ends keep_alive with the state
}

void respond_error(http_call_self self, const call_error& e, std::string_view path,
                   bool superjson, std::vector<std::pair<std::string, std::string>> extra = {}) {
  counters::get().rejected_by_code[static_cast<size_t>(e.code) % 16]++;
  respond(self, http_status(e.code), trpc::http_error(e, path, superjson), std::move(extra));
}

void finish(http_call_self self) {
  auto& st = self->state;
  if (!st.req->batch) {
    respond(self, st.items[0].status, std::move(st.items[0].body));
    return;
  }
  std::string body = "[";
  int status = st.items.empty() ? 200 : st.items[0].status;
  for (size_t i = 0; i < st.items.size(); ++i) {
    if (i > 0)
      body += ',';
    body += st.items[i].body;
    if (st.items[i].status != status)
      status = 207;
  }
  body += ']';
  respond(self, status, std::move(body));
}

void complete(http_call_self self, size_t index, int status, std::string body) {
  auto& st = self->state;
  auto& it = st.items[index];
  if (it.done)
    return;
  it.done = true;
  it.status = status;
  it.body = std::move(body);
  if (--st.remaining == 0)
    finish(self);
}

void fail_item(http_call_self self, size_t index, const call_error& e) {
  auto& it = self->state.items[index];
  counters::get().rejected_by_code[static_cast<size_t>(e.code) % 16]++;
  complete(self, index, http_status(e.code), trpc::http_error(e, it.path, it.superjson));
}

void run(http_call_self self) {
  auto& st = self->state;
  auto& req = *st.req;
  counters::get().http_requests++;
  http_call_view view;
  view.post = req.post;
  view.path = req.path;
  view.batch = req.batch;
  view.has_input = req.has_input;
  view.input = req.input;
  view.body = req.body;
  view.content_type = req.content_type;
  view.trpc_accept = req.trpc_accept;
  auto parsed = parse_http_call(view, st.rt->cfg.transformer);
  if (auto* refused = std::get_if<http_refusal>(&parsed)) {
    if (refused->counted)
      counters::get().rejected_by_code[static_cast<size_t>(*refused->counted) % 16]++;
    respond(self, refused->status, std::move(refused->body));
    return;
  }
  auto& calls = std::get<http_calls>(parsed);
  st.items.resize(calls.items.size());
  st.remaining = calls.items.size();
  for (size_t i = 0; i < calls.items.size(); ++i) {
    auto& it = st.items[i];
    it.path = std::move(calls.items[i].path);
    it.has_input = calls.items[i].has_input;
    it.input = std::move(calls.items[i].input);
    it.superjson = calls.items[i].superjson;
  }
  auto auth = authenticate(http_token(req.authorization), *st.rt);
  if (!auth.who)
    log::info("auth_failed", {{"conn", req.conn_id}, {"peer", req.peer}, {"transport", "http"},
                              {"reason", auth_reason_label(auth.reason)}});
  auto now = st.rt->now();
  auto ctx = make_context(*st.rt, call_transport::http, now);
  // As over WebSocket (limits.requests-per-frame): items after the limit are refused, each
  // with its own error, and do not count against the rate; the first ones run.
  size_t limit = st.rt->cfg.requests_per_frame;
  for (size_t i = 0; i < st.items.size(); ++i) {
    auto& it = st.items[i];
    if (i >= limit) {
      fail_item(self, i, call_error{trpc_code::bad_request, "Batch call exceeds maximum size"});
      continue;
    }
    ctx.rate_limited = req.rate ? req.rate->take(now) : std::nullopt;
    call_request creq{calls.method, it.path, it.has_input ? &it.input : nullptr, nullptr};
    auto d = decide(creq, auth, ctx);
    if (auto* r = d.refused()) {
      count_refusal(*r);
      audit_refusal(*st.rt, creq, *r, auth, ctx, req.conn_id, req.peer);
      // A single call with the wrong verb is answered at once, with an Allow header.
      if (r->error.code == trpc_code::method_not_supported && !req.batch) {
        std::vector<std::pair<std::string, std::string>> extra;
        if (r->allow != nullptr)
          extra.emplace_back("Allow", r->allow);
        respond_error(self, r->error, it.path, it.superjson, std::move(extra));
        return;
      }
      fail_item(self, i, r->error);
      continue;
    }
    auto& rc = *d.routed();
    auto hospital_id = std::move(rc.hospital_id);
    bool sj = it.superjson;
    run_call(self, st.rt, st.hospitals, to_call(std::move(rc), req.conn_id, req.peer),
             hospital_id,
             [self, i, sj](call_result_ptr r) {
               if (r->ok)
                 complete(self, i, 200,
                          r->encoded ? trpc::http_result_text(r->text, r->text_meta, sj)
                                     : trpc::http_result(r->data, sj));
               else
                 fail_item(self, i, r->error);
             });
  }
}

http_call_actor::behavior_type http_call_behavior(http_call_self self, runtime_ptr rt,
                                                  http_request_ptr req) {
  self->state.rt = std::move(rt);
  self->state.req = std::move(req);
  // A hospital that dies mid-call: drop its handle (its calls fail, see request_hospital).
  self->set_down_handler([self](caf::down_msg& dm) {
    self->state.hospitals.forget_source(dm.source);
    self->send(self, hospital_down_atom::value, dm.source);
  });
  self->state.keep_alive = caf::actor_cast<caf::strong_actor_ptr>(self);
  self->send(self, start_atom::value);
  return {
    [=](start_atom) { run(self); },
    [=](hospital_down_atom, const caf::actor_addr& hospital) {
      self->state.hospitals.fail_in_flight(hospital);
    },
    [=](status_atom) {
      auto& st = self->state;
      http_call_status s;
      s.conn_id = st.req->conn_id;
      s.items = st.items.size();
      s.remaining = st.remaining;
      s.mailbox = self->mailbox().size();
      return s;
    },
  };
}

} // namespace

void spawn_http_call(caf::actor_system& sys, runtime_ptr rt, http_request_ptr req) {
  sys.spawn(http_call_behavior, std::move(rt), std::move(req));
}

} // namespace vigil
