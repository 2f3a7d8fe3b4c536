#pragma once
// The inspector: one actor per vigild process, asked by the console listener
// (actors/console_server.hpp) on behalf of `vigilctl console`. It answers questions about the
// running system (stats, hospitals, connections, actors, escalation timers) and runs operator
// commands (kick, reconnect-all, log-level).
//
// A request is
//     (inspect_atom, std::string command, std::vector<std::string> args)
// and the answer is one std::string of JSON, either
//     {"ok":true,"data":<command-specific JSON>}   or   {"ok":false,"error":"<one line>"}.
// docs/operations.md lists the commands and the fields of each answer.

#include <caf/actor_system.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "actors/interfaces.hpp"

namespace vigil {

struct runtime;

/// Which vigild this is, so an operator cannot inspect the wrong one by accident: shown by the
/// console when it connects and at the top of `stats`.
struct server_identity {
  std::string version;   // VIGIL_VERSION
  int64_t pid = 0;
  uint16_t port = 0;     // the bound server.port
  uint16_t admin_port = 0;
  std::string db;        // storage.path
  std::string epoch;     // the database's epoch
};

/// The identity as a JSON object text: {"version","pid","port","admin_port","db","epoch"}.
std::string identity_json(const server_identity& id);

/// Spawns the inspector. It samples the process counters once a second (for events/s and
/// deliveries/s) until it is stopped with an exit message.
inspector_actor spawn_inspector(caf::actor_system& sys, std::shared_ptr<runtime> rt,
                           server_identity identity);

} // namespace vigil
