#include "actors/sessions.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <utility>

#include "actors/connection.hpp"
#include "actors/http_call.hpp"
#include "actors/interfaces.hpp"
#include "actors/inspector.hpp"
#include "actors/messages.hpp"
#include "domain/json.hpp"
#include "domain/log.hpp"
#include "domain/time.hpp"

namespace vigil {

namespace {

/// A WebSocket's connection actor, as the transport sees it.
class actor_ws_session final : public ws_session {
public:
  actor_ws_session(runtime_ptr rt, uint64_t id, connection_actor actor)
    : rt_(std::move(rt)), id_(id), actor_(std::move(actor)) {}

  void on_frame(std::string text, bool binary) override {
    caf::anon_send(actor_, ws_frame_atom::value, std::move(text), binary);
  }

  void on_closed(uint16_t code) override {
    caf::anon_send(actor_, closed_atom::value, code);
    rt_->connections.remove(id_);
  }

private:
  runtime_ptr rt_;
  uint64_t id_;
  connection_actor actor_;
};

void answer_ready(runtime& rt, uint64_t conn, bool ready, const std::string& reason) {
  http_response r;
  auto v = json::value::make_object();
  if (ready) {
    v.set("status", "ready");
  } else {
    r.status = 503;
    v.set("status", "not_ready");
    v.set("reason", reason);
  }
  r.body = json::to_string(v);
  rt.out->respond(conn, std::move(r));
}

/// The /ready probe's one-shot actor: the storage actor commits a write, then the directory
/// answers (it has restored every escalation timer and reaches the storage reader that loads
/// hospitals), each within 1 s. A function with arguments, not a capturing lambda spawned with
/// none: CAF 0.17 then dereferences a null argument tuple (a UBSan report on every /ready).
void ready_probe(caf::event_based_actor* self, runtime_ptr rt, uint64_t conn_id) {
  using namespace std::chrono_literals;
  const int64_t t0 = now_ms();
  self->request(rt->storage, 1s, status_atom::value)
    .then(
      [=](const storage_status& storage) {
        if (!storage.ok) {
          answer_ready(*rt, conn_id, false, "storage cannot commit");
          return;
        }
        const int64_t t1 = now_ms();
        // The directory, not a hospital of its own: a probe must not create anything visible.
        self->request(rt->directory, 1s, status_atom::value)
          .then([=](const directory_status& d) {
                  // Where a slow /ready spends its time (storage writer, then directory+reader).
                  log::debug("ready_probe", {{"storage_ms", t1 - t0},
                                             {"directory_ms", now_ms() - t1},
                                             {"pending_commits", storage.pending_commits},
                                             {"ready", d.not_ready.empty()}});
                  answer_ready(*rt, conn_id, d.not_ready.empty(), d.not_ready);
                },
                [=](caf::error&) { answer_ready(*rt, conn_id, false, "directory did not answer"); });
      },
      [=](caf::error&) { answer_ready(*rt, conn_id, false, "storage did not answer"); });
}

class actor_session_factory final : public session_factory {
public:
  actor_session_factory(caf::actor_system& sys, runtime_ptr rt) : sys_(sys), rt_(std::move(rt)) {}

  std::unique_ptr<ws_session> open_websocket(ws_upgrade upgrade) override {
    connection_args args;
    args.conn_id = upgrade.conn_id;
    args.peer = std::move(upgrade.peer);
    args.expects_params = upgrade.expects_params;
    args.header_authorization = std::move(upgrade.header_authorization);
    args.gauge = std::move(upgrade.gauge);
    auto actor = spawn_connection(sys_, rt_, std::move(args));
    rt_->connections.add(upgrade.conn_id, actor, now_ms());
    return std::make_unique<actor_ws_session>(rt_, upgrade.conn_id, std::move(actor));
  }

  void handle_http(http_request_ptr req) override { spawn_http_call(sys_, rt_, std::move(req)); }

  void probe_ready(uint64_t conn_id) override { sys_.spawn(ready_probe, rt_, conn_id); }

  process_status status() const override { return {rt_->started_ms, rt_->alerts.size()}; }

private:
  caf::actor_system& sys_;
  runtime_ptr rt_;
};

std::string error_reply(const std::string& message) {
  auto v = json::value::make_object();
  v.set("ok", false);
  v.set("error", message);
  return json::to_string(v);
}

class inspector_console final : public console_handler {
public:
  inspector_console(caf::actor_system& sys, inspector_actor inspector)
    : sys_(sys), inspector_(std::move(inspector)) {}

  std::string inspect(const std::string& command, const std::vector<std::string>& args,
                      std::chrono::seconds timeout) override {
    std::string answer;
    // One actor per request, not per session: an idle console holds no actor, and the one in
    // flight is the `console` row of `actors`.
    caf::scoped_actor self{sys_};
    self->request(inspector_, timeout, inspect_atom::value, command, args)
      .receive([&](std::string& text) { answer = std::move(text); },
               [&](caf::error& err) {
                 answer = error_reply(err == caf::sec::request_timeout
                                        ? "the inspector did not answer within "
                                            + std::to_string(timeout.count()) + " s"
                                        : "the inspector failed: " + caf::to_string(err));
               });
    return answer;
  }

private:
  caf::actor_system& sys_;
  inspector_actor inspector_;
};

} // namespace

std::unique_ptr<session_factory> make_session_factory(caf::actor_system& sys, runtime_ptr rt) {
  return std::make_unique<actor_session_factory>(sys, std::move(rt));
}

std::unique_ptr<console_handler> make_console_handler(caf::actor_system& sys,
                                                      inspector_actor inspector) {
  return std::make_unique<inspector_console>(sys, std::move(inspector));
}

} // namespace vigil
