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

/// What getActiveAlerts reads of an alert to filter, sort and page it: an alert held in memory,
/// or one still in storage whose key was read without its text (docs/architecture.md "Lazy
/// loading"). Fields a listing does not use may be left default.
struct alert_key {
  std::string id;
  alert_status status = alert_status::active;
  int64_t created_at = 0;
  int urgency_level = 3;
  std::optional<int64_t> acknowledged_at;
  std::string alert_type;
};
alert_key key_of_alert(const alert& a);

/// Which fields of stored alerts a getActiveAlerts `input` needs besides id, status and
/// createdAt: urgencyLevel, alertType or acknowledgedAt (a filter on them, or a sort by them).
bool listing_needs_details(const json::value& input);

/// getActiveAlerts in two steps, for alerts partly in storage: which keys make the page (indices
/// into `keys`, in listing order), and then the answer built from those alerts.
struct active_page {
  std::vector<size_t> page;
  int64_t total = 0;
  int64_t limit = 20;
  int64_t offset = 0;
  bool has_more = false;
  json::value next_cursor; // null unless has_more
};
std::variant<active_page, call_error> active_alerts_page(const std::vector<alert_key>& keys,
                                                         const json::value& input);
/// The answer of getActiveAlerts: `alerts` are the page's alerts in order (one may be missing
/// when it vanished from storage in between).
json::value active_alerts_json(const active_page& p, const alert_list& alerts);

/// The Metrics shape: `{activeAlerts, criticalAlerts, staffOnline, responseRate, avgResponseTime,
/// avgResponseTimeSec, timestamp}` at `now`.
json::value metrics(const alert_list& alerts, int staff_online, int64_t now);

/// What the metrics (metrics, alert_stats) read of an alert: no id, no text. The metrics actor
/// keeps one of these per open alert and per alert resolved within 24 h.
struct alert_figures {
  alert_status status = alert_status::active;
  int urgency_level = 3;
  int escalation_level = 1;
  int64_t created_at = 0;
  std::optional<int64_t> acknowledged_at;
  std::optional<int64_t> resolved_at;
};
alert_figures figures_of(const alert& a);
using figures_list = std::vector<const alert_figures*>;
json::value metrics(const figures_list& alerts, int staff_online, int64_t now);

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
json::value alert_stats(const figures_list& alerts, int64_t now);

/// getAlertTimeline: `events` are the stored event objects of the alert, oldest first (as
/// json values with dates flagged). `{alert, timeline, responseTime, resolutionTime}`.
json::value alert_timeline(const alert& a, std::vector<json::value> events);

} // namespace vigil
