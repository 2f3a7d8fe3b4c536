#pragma once
// The inspector's state and what its command files share (actors/inspector.cpp: the behaviour,
// dispatch, stats and operator commands; inspector_hospitals.cpp: hospitals, hospital,
// escalations; inspector_connections.cpp: connections, connection, actors). Every answer is
// built from the status structs the actors report (actors/status.hpp).

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/inspector.hpp"
#include "actors/interfaces.hpp"
#include "actors/runtime.hpp"
#include "domain/json.hpp"

namespace vigil::inspection {

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

using inspector_self = inspector_actor::stateful_pointer<inspector_state>;
using promise = caf::typed_response_promise<std::string>;

// ---- answers -------------------------------------------------------------------------------

/// {"ok":true,"data":<data>}
std::string ok(json::value data);
/// {"ok":false,"error":<message>}
std::string fail(const std::string& message);
/// A decimal id (connection ids); nullopt for anything else.
std::optional<uint64_t> parse_id(const std::string& s);

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
template <class T, class Handle, class... Msg>
void ask_all(inspector_self self, const std::vector<Handle>& targets,
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
void with_hospitals(inspector_self self, promise rp, std::function<void(hospital_list&)> next);
/// Asks each hospital for its status.
void with_hospital_details(inspector_self self, const hospital_list& hs,
                           std::function<void(std::vector<answer<hospital_status>>&)> next);
const hospital_actor* find_hospital(const hospital_list& hs, const std::string& id);
/// The error of a hospital id the directory does not run.
std::string not_loaded(const std::string& id);

// ---- commands (each answers one console command) -------------------------------------------

caf::result<std::string> cmd_hospitals(inspector_self self);
caf::result<std::string> cmd_hospital(inspector_self self, const std::string& id);
caf::result<std::string> cmd_escalations(inspector_self self);
caf::result<std::string> cmd_connections(inspector_self self, const std::vector<std::string>& args);
caf::result<std::string> cmd_connection(inspector_self self, const std::string& arg);
caf::result<std::string> cmd_actors(inspector_self self);

} // namespace vigil::inspection
