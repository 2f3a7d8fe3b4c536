#pragma once
// What a subscription follows, read from its validated input (docs/api.md "Subscriptions").
// Pure: the connection actor turns the result into the subscribe_request it hands a hospital.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/json.hpp"
#include "domain/procedures.hpp"

namespace vigil {

/// Which stream a subscription follows.
enum class stream_kind { alerts, alert, metrics, presence };

/// Event filter of subscribeToAlerts (empty lists = no restriction).
struct event_filter {
  std::vector<std::string> types;
  int max_urgency = 0;                       // 0 = any
  std::vector<std::string> alert_types;
  bool empty() const { return types.empty() && max_urgency == 0 && alert_types.empty(); }
};

/// The parameters of one subscription.
struct subscription_spec {
  stream_kind kind = stream_kind::presence;
  std::string alert_id;                      // stream_kind::alert
  std::optional<std::string> last_event_id;  // resume point
  event_filter filter;                       // stream_kind::alerts
  int64_t interval_ms = 0;                   // stream_kind::metrics
};

/// Reads a subscription from the validated, normalised `input` of procedure `p`:
/// the stream kind from the procedure (presence for any procedure that is not a subscription
/// to alerts, an alert or metrics), `alertId`, the resume point (`frame_last_event_id`, the
/// frame's `params.lastEventId`, wins over `input.lastEventId`), `interval` (a number;
/// `default_interval_ms` otherwise) and `filter` {types, maxUrgencyLevel, alertTypes}: keys of
/// the wrong type are ignored, as are non-string list entries.
subscription_spec subscription_of(procedure p, const json::value& input,
                                  const std::optional<std::string>& frame_last_event_id,
                                  int64_t default_interval_ms);

} // namespace vigil
