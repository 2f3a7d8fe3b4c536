#pragma once
// The directory actor: one per process. Maps hospital ids to hospital actors, spawning each on
// demand after the storage actor has loaded its alerts (so a hospital actor is always warm).

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/runtime.hpp"

namespace vigil {

/// Spawns the directory. Messages: get_atom(std::string hospital) -> caf::actor;
/// get_atom -> std::vector<std::pair<std::string, caf::actor>> (all hospitals).
caf::actor spawn_directory(caf::actor_system& sys, runtime_ptr rt);

} // namespace vigil
