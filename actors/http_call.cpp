#include "actors/http_call.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <cctype>

#include "actors/call_pipeline.hpp"
#include "actors/routing.hpp"
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
};

using http_call_actor = caf::stateful_actor<http_call_state>;

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return std::string{s};
}

void respond(http_call_actor* self, int status, std::string body,
             std::vector<std::pair<std::string, std::string>> extra = {}) {
  http_response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(extra);
  self->state.rt->out->respond(self->state.req->conn_id, std::move(r));
  self->quit();
}

void respond_error(http_call_actor* self, const call_error& e, std::string_view path,
                   bool superjson, std::vector<std::pair<std::string, std::string>> extra = {}) {
  counters::get().rejected_by_code[static_cast<size_t>(e.code) % 16]++;
  respond(self, http_status(e.code), trpc::http_error(e, path, superjson), std::move(extra));
}

void finish(http_call_actor* self) {
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

void complete(http_call_actor* self, size_t index, int status, std::string body) {
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

void fail_item(http_call_actor* self, size_t index, const call_error& e) {
  auto& it = self->state.items[index];
  counters::get().rejected_by_code[static_cast<size_t>(e.code) % 16]++;
  complete(self, index, http_status(e.code), trpc::http_error(e, it.path, it.superjson));
}

void run(http_call_actor* self) {
  auto& st = self->state;
  auto& req = *st.req;
  counters::get().http_requests++;
  auto method = req.post ? trpc::rpc_method::mutation : trpc::rpc_method::query;
  // Paths: comma-separated (batch), one otherwise.
  std::vector<std::string> paths;
  if (req.batch) {
    size_t start = 0;
    while (true) {
      auto comma = req.path.find(',', start);
      paths.push_back(req.path.substr(start, comma == std::string::npos ? comma : comma - start));
      if (comma == std::string::npos)
        break;
      start = comma + 1;
    }
  } else {
    paths.push_back(req.path);
  }
  std::string first_path = paths.empty() ? std::string{} : paths[0];
  if (!req.trpc_accept.empty() && lower(req.trpc_accept).find("application/jsonl") != std::string::npos) {
    respond_error(self, call_error{trpc_code::bad_request,
                                   "Streaming responses (trpc-accept: application/jsonl) are not "
                                   "supported"},
                  first_path, false);
    return;
  }
  if (req.post && !acceptable_content_type(req.content_type)) {
    respond_error(self, call_error{trpc_code::unsupported_media_type,
                                   "Unsupported content-type \"" + req.content_type + "\""},
                  "", false);
    return;
  }
  // Inputs.
  const std::string& raw = req.post ? req.body : req.input;
  bool have_raw = req.post ? !trim(req.body).empty() : req.has_input;
  json::value parsed;
  if (have_raw) {
    std::string err;
    auto v = json::parse(raw, &err);
    if (!v) {
      call_error e{trpc_code::bad_request, err};
      if (req.batch) {
        std::string body = "[";
        for (size_t i = 0; i < paths.size(); ++i) {
          if (i > 0)
            body += ',';
          body += trpc::http_error(e, paths[i], false);
        }
        body += ']';
        respond(self, 400, std::move(body));
      } else {
        respond_error(self, e, first_path, false);
      }
      return;
    }
    parsed = std::move(*v);
  }
  if (req.batch && have_raw && !parsed.is_object()) {
    call_error e{trpc_code::bad_request, "\"input\" needs to be an object when doing a batch call"};
    std::string body = "[";
    for (size_t i = 0; i < paths.size(); ++i) {
      if (i > 0)
        body += ',';
      body += trpc::http_error(e, paths[i], false);
    }
    body += ']';
    respond(self, 400, std::move(body));
    return;
  }
  st.items.resize(paths.size());
  st.remaining = paths.size();
  for (size_t i = 0; i < paths.size(); ++i) {
    auto& it = st.items[i];
    it.path = paths[i];
    if (req.batch) {
      if (auto* x = parsed.find(std::to_string(i))) {
        it.has_input = true;
        it.input = *x;
      }
    } else if (have_raw) {
      it.has_input = true;
      it.input = parsed;
    }
    it.superjson = it.has_input && trpc::is_superjson_envelope(it.input);
    if (st.rt->cfg.transformer == "superjson")
      it.superjson = true;
    else if (st.rt->cfg.transformer == "json")
      it.superjson = false;
  }
  auto auth_header = trim(req.authorization);
  std::optional<std::string> token;
  if (!auth_header.empty())
    token = bearer_token(auth_header).value_or(std::string{"\x01invalid"});
  auto auth = authenticate(token ? &*token : nullptr, *st.rt);
  if (!auth.who)
    log::info("auth_failed", {{"conn", req.conn_id}, {"peer", req.peer}, {"transport", "http"},
                              {"reason", auth_reason_label(auth.reason)}});
  auto now = st.rt->now();
  // As over WebSocket (limits.requests-per-frame): items after the limit are refused, each
  // with its own error, and do not count against the rate; the first ones run.
  size_t limit = st.rt->cfg.requests_per_frame;
  for (size_t i = 0; i < st.items.size(); ++i) {
    auto& it = st.items[i];
    if (i >= limit) {
      fail_item(self, i, call_error{trpc_code::bad_request, "Batch call exceeds maximum size"});
      continue;
    }
    if (req.rate) {
      if (auto limited = req.rate->take(now)) {
        fail_item(self, i, *limited);
        continue;
      }
    }
    auto found = lookup(it.path, method);
    if (found.proc == nullptr) {
      auto* any = find_procedure(it.path);
      if (any != nullptr) {
        std::string verb = req.post ? "POST" : "GET";
        std::string kind = any->kind == proc_kind::query ? "query"
                           : any->kind == proc_kind::mutation ? "mutation" : "subscription";
        call_error e{trpc_code::method_not_supported, "Unsupported " + verb + "-request to " + kind
                                                        + " procedure at path \"" + it.path + "\""};
        if (!req.batch) {
          std::string allow = any->kind == proc_kind::query ? "GET"
                              : any->kind == proc_kind::mutation ? "POST" : "";
          std::vector<std::pair<std::string, std::string>> extra;
          if (!allow.empty())
            extra.emplace_back("Allow", allow);
          respond_error(self, e, it.path, it.superjson, std::move(extra));
          return;
        }
        fail_item(self, i, e);
      } else {
        fail_item(self, i, unknown_procedure(call_transport::http, method, it.path));
      }
      continue;
    }
    auto prepared = prepare_call(*found.proc, auth, it.has_input, it.input, *st.rt, now);
    if (auto* err = std::get_if<call_error>(&prepared)) {
      fail_item(self, i, *err);
      continue;
    }
    auto& pc = std::get<prepared_call>(prepared);
    bool sj = it.superjson;
    std::string path = it.path;
    run_call(self, st.rt, st.hospitals, pc.c, pc.hospital_id,
             [self, i, sj, path](call_result_ptr r) {
               if (r->ok)
                 complete(self, i, 200, trpc::http_result(r->data, sj));
               else
                 fail_item(self, i, r->error);
             });
  }
}

caf::behavior http_call_behavior(http_call_actor* self, runtime_ptr rt, http_request_ptr req) {
  self->state.rt = std::move(rt);
  self->state.req = std::move(req);
  self->send(self, caf::ok_atom::value);
  return {
    [=](caf::ok_atom) { run(self); },
  };
}

} // namespace

bool acceptable_content_type(const std::string& value) {
  auto v = trim(value);
  if (v.empty())
    return true;
  size_t start = 0;
  while (start <= v.size()) {
    auto comma = v.find(',', start);
    auto part = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto semi = part.find(';');
    auto media = lower(trim(part.substr(0, semi)));
    if (media != "application/json")
      return false;
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return true;
}

void spawn_http_call(caf::actor_system& sys, runtime_ptr rt, http_request_ptr req) {
  sys.spawn(http_call_behavior, std::move(rt), std::move(req));
}

} // namespace vigil
