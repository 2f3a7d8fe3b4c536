#pragma once
// Read-only answers computed from a hospital's alerts (docs/api.md "Queries"). Pure functions:
// the hospital actor passes its alerts in; nothing here touches actors or storage.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "domain/alert.hpp"
#include "domain/errors.hpp"
#include "domain/json.hpp"

namespace vigil {

using alert_list = std::vector<const alert*>;

/// getActiveAlerts: `input` is the validated input (defaults applied: status, sortBy, sortOrder,
/// limit, offset; optional urgencyLevel, alertType, cursor). Returns
/// `{alerts, total, pagination:{total, limit, offset, hasMore, nextCursor}}` or BAD_REQUEST
/// ("Invalid cursor") for an unreadable cursor. Cursor: opaque string produced by this function
/// (encode the sort key of the page's last alert: sort value, createdAt, id), or an ISO timestamp
/// (only with sortBy createdAt: alerts created at or before it for desc, at or after for asc).
std::variant<json::value, call_error> active_alerts(const alert_list& alerts,
                                                    const json::value& input);

/// The Metrics shape: `{activeAlerts, criticalAlerts, staffOnline, responseRate, avgResponseTime,
/// avgResponseTimeSec, timestamp}` at `now`.
json::value metrics(const alert_list& alerts, int staff_online, int64_t now);

/// getEscalationStatus for one alert.
json::value escalation_status(const alert& a, const escalation_policy& policy, int64_t now);

/// getActiveEscalations: `{totalActive, byTier:{"1":[…],…}, overdue}`.
json::value active_escalations(const alert_list& alerts, const escalation_policy& policy,
                               int64_t now);

/// getAlertHistory: `input` validated (hospitalId, startDate?, endDate? as dates, limit, offset).
/// `{alerts, total}` newest first.
json::value alert_history(const alert_list& alerts, const json::value& input);

/// The range and page of a getAlertHistory input (createdAt bounds inclusive).
struct history_range {
  std::optional<int64_t> from;
  std::optional<int64_t> to;
  int64_t limit = 50;
  int64_t offset = 0;
};
history_range read_history_range(const json::value& input);

/// getAlertHistory's answer for a page already cut (newest first) out of `total` alerts.
json::value history_json(const alert_list& page, int64_t total);

/// getAlertStats: `{active, acknowledged, resolved24h, escalated, avgResponseTime}`.
json::value alert_stats(const alert_list& alerts, int64_t now);

/// getAlertTimeline: `events` are the stored event objects of the alert, oldest first (as
/// json values with dates flagged). `{alert, timeline, responseTime, resolutionTime}`.
json::value alert_timeline(const alert& a, std::vector<json::value> events);

} // namespace vigil
