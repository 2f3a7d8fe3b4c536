#pragma once
// The metrics actor: one per hospital, spawned and fed by its hospital actor. It keeps the
// committed state of the hospital's alerts and the number of staff online, answers getMetrics
// and getAlertStats, and pushes Metrics items to subscribeToMetrics subscribers: at once, after
// changes (a burst of changes is merged into one item) and every `interval`. Keeping this off the
// hospital actor keeps metric computation off the path of alert events.

#include <caf/actor.hpp>
#include <caf/local_actor.hpp>

#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "actors/runtime.hpp"

namespace vigil {

/// The committed state of one alert, as the hospital actor hands it to its metrics actor.
using alert_ptr = std::shared_ptr<const alert>;

/// Spawns the metrics actor of `hospital_id`, linked to `parent` (the hospital actor).
/// Messages:
///   alert_ptr                                       an alert's committed state
///   (presence_atom, int64_t staff_online)           staffOnline changed
///   subscribe_ptr                                   a metrics subscription (`started` is already sent)
///   (unsubscribe_atom, uint64_t conn, std::string key)  stop it; sends `stopped`
///   (drop_atom, uint64_t conn)                      the connection closed
///   call_ptr -> call_result_ptr                     getMetrics, getAlertStats
caf::actor spawn_metrics(caf::local_actor* parent, runtime_ptr rt, std::string hospital_id,
                         const std::vector<alert>& alerts);

} // namespace vigil

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::alert_ptr)
