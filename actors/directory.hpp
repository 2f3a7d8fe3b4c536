#pragma once
// The directory actor: one per process. Maps hospital ids to hospital actors, spawning each on
// demand after the storage actor has loaded its alerts (so a hospital actor is always warm), and
// at start-up every hospital with a running escalation timer (restore_atom), so that timers never
// wait for a client to touch their hospital.

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <optional>
#include <string>
#include <vector>

#include "actors/runtime.hpp"
#include "storage/event_store.hpp"

namespace vigil {

/// Spawns the directory. Messages: get_atom(std::string hospital) -> caf::actor;
/// get_atom -> std::vector<std::pair<std::string, caf::actor>> (all hospitals);
/// restore_atom(std::vector<std::string> hospitals): loads these hospitals now, soonest escalation
/// deadline first (a failed load is retried every second);
/// probe_atom -> std::string: why the server is not ready, empty when it is (the restore is done
/// and the storage reader answers).
caf::actor spawn_directory(caf::actor_system& sys, runtime_ptr rt);

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
void restore_escalation_timers(const caf::actor& directory, restore_plan plan);

} // namespace vigil
