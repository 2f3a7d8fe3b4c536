#pragma once
// The directory actor: one per process. Maps hospital ids to hospital actors, spawning each on
// demand after the storage actor has loaded its alerts (so a hospital actor is always warm), and
// after a start every hospital with an active alert shortly before its first escalation or
// failsafe deadline (restore_atom), so that timers never wait for a client to touch their
// hospital, and start-up does not wait for those loads.

#include <caf/actor_system.hpp>

#include <optional>
#include <string>
#include <vector>

#include "actors/runtime.hpp"
#include "storage/event_store.hpp"

namespace vigil {

/// Spawns the directory (interface: directory_actor in actors/interfaces.hpp). The start-up
/// restore (restore_atom) does not hold readiness: each hospital of the plan loads shortly before
/// its first escalation or failsafe deadline (at once when that is near or past); until then its
/// timers wait in the directory. A failed load is retried every second. Its status says why the
/// server is not ready, nothing when it is (the storage reader answers).
directory_actor spawn_directory(caf::actor_system& sys, runtime_ptr rt);

/// A hospital of the restore plan loads this long before its first deadline, so that its actor
/// has armed its timers when the deadline falls.
constexpr int64_t restore_lead_ms = 10000;

/// Start-up (vigild, and the actor tests the same way), before the storage actors own `store`:
/// reads the restore plan (indexes only). nullopt when the store could not answer (vigild then
/// refuses to start: timers would silently not run).
std::optional<restore_plan> plan_escalation_restore(storage::event_store& store);

/// Hands the plan to the directory (restore_atom); /ready does not wait for it.
void restore_escalation_timers(const directory_actor& directory, restore_plan plan);

} // namespace vigil
