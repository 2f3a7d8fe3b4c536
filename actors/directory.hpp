#pragma once
// The directory actor: one per process. Maps hospital ids to hospital actors, spawning each on
// demand after the storage actor has loaded its alerts (so a hospital actor is always warm), and
// at start-up every hospital with a running escalation timer (restore_atom), so that timers never
// wait for a client to touch their hospital.

#include <caf/actor_system.hpp>

#include <optional>
#include <string>
#include <vector>

#include "actors/runtime.hpp"
#include "storage/event_store.hpp"

namespace vigil {

/// Spawns the directory (interface: directory_actor in actors/interfaces.hpp). The start-up
/// restore loads the given hospitals soonest escalation deadline first; a failed load is retried
/// every second. Its status says why the server is not ready, nothing when it is (the restore is
/// done and the storage reader answers).
directory_actor spawn_directory(caf::actor_system& sys, runtime_ptr rt);

/// What the start-up restore has to do: every hospital with a running escalation timer, soonest
/// deadline first, and how many timers they have.
struct restore_plan {
  std::vector<std::string> hospitals;
  size_t timers = 0;
};

/// Start-up (vigild, and the actor tests the same way), before the storage actors own `store`:
/// reads the restore plan. nullopt when the store could not answer (vigild then refuses to start:
/// timers would silently not run).
std::optional<restore_plan> plan_escalation_restore(storage::event_store& store);

/// Has the directory load every hospital of `plan` now (restore_atom); /ready is 503 until done.
void restore_escalation_timers(const directory_actor& directory, restore_plan plan);

} // namespace vigil
