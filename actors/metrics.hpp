#pragma once
// The metrics actor: one per hospital, spawned and fed by its hospital actor. It keeps the
// committed state of the hospital's alerts and the number of staff online, answers getMetrics
// and getAlertStats, and pushes Metrics items to subscribeToMetrics subscribers: at once, after
// changes (a burst of changes is merged into one item) and every `interval`. Keeping this off the
// hospital actor keeps metric computation off the path of alert events.

#include <caf/local_actor.hpp>

#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "actors/runtime.hpp"

namespace vigil {

/// Spawns the metrics actor of `hospital_id`, linked to `parent` (the hospital actor), with the
/// hospital's alerts in memory. Unless `complete` (those are all of the hospital's alerts), it
/// reads the alerts resolved within 24 h from storage when first asked for metrics, and answers
/// once it has them. Interface: metrics_actor in actors/interfaces.hpp.
metrics_actor spawn_metrics(caf::local_actor* parent, runtime_ptr rt, std::string hospital_id,
                            const std::vector<alert>& alerts, bool complete = true);

} // namespace vigil
