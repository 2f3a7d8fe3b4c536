#pragma once
// The hospital actor: one per hospital. Owns the hospital's alerts, their escalation timers, the
// ring of recent events and the subscriber set. A mutation changes the alert, goes to the storage
// actor, and only after the commit is its event fanned out (encoded once, shared by every
// subscriber) and its reply sent. Subscribers' frames go straight into the outbox.

#include <caf/local_actor.hpp>

#include "actors/messages.hpp"
#include "actors/runtime.hpp"

namespace vigil {

/// Spawns a hospital actor from a loaded snapshot.
hospital_actor spawn_hospital(caf::local_actor* parent, runtime_ptr rt, hospital_snapshot_ptr snap);

} // namespace vigil
