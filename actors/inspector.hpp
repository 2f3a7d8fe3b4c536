#pragma once
// The inspector: one actor per vigild process, published with CAF's middleman on 127.0.0.1
// (admin.port) for `vigilctl console`. It answers questions about the running system (stats,
// hospitals, connections, actors, escalation timers) and runs operator commands (kick,
// reconnect-all, log-level).
//
// The protocol is deliberately made of types CAF serializes without registration, so the two
// processes need no add_message_type: a request is
//     (inspect_atom, std::string command, std::vector<std::string> args)
// and the answer is one std::string of JSON, either
//     {"ok":true,"data":<command-specific JSON>}   or   {"ok":false,"error":"<one line>"}.
// docs/operations.md lists the commands and the fields of each answer.

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>

#include <memory>

namespace vigil {

struct runtime;

/// Tags a console request (see the file comment).
using inspect_atom = caf::atom_constant<caf::atom("inspect")>;

/// The commands the inspector answers, for help texts and completion (`help` itself is
/// answered by the console without asking the server).
inline constexpr const char* inspector_commands[] = {
  "stats", "hospitals", "hospital", "connections", "connection", "actors",
  "escalations", "kick", "reconnect-all", "log-level", "help",
};

/// Spawns the inspector. It samples the process counters once a second (for events/s and
/// deliveries/s) until it is stopped with an exit message.
caf::actor spawn_inspector(caf::actor_system& sys, std::shared_ptr<runtime> rt);

} // namespace vigil
