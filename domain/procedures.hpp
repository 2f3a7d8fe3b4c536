#pragma once
// The procedure table and input validation (docs/api.md "Input validation", "Mutations",
// "Queries", "Subscriptions").

#include <optional>
#include <string_view>
#include <variant>

#include "domain/auth.hpp"
#include "domain/errors.hpp"
#include "domain/json.hpp"

namespace vigil {

enum class proc_kind { query, mutation, subscription };

enum class procedure {
  create_alert, acknowledge_alert, resolve_alert, trigger_escalation, update_alert,
  transfer_alert, batch_acknowledge_alerts, batch_resolve_alerts, confirm_delivery,
  get_active_alerts, get_alert, get_metrics, get_escalation_status, get_active_escalations,
  get_alert_timeline, get_alert_history, get_alert_stats,
  subscribe_to_alerts, subscribe_to_alert, subscribe_to_metrics, subscribe_to_presence,
  get_audit_log,
};

/// How a call finds its hospital (tenancy check, routing).
enum class proc_scope {
  hospital,    // input.hospitalId
  alert,       // the hospital of input.alertId
  alert_list,  // per alert of input.alertIds (batch procedures)
};

struct procedure_info {
  procedure id;
  const char* path;     // "healthcare.createAlert"
  proc_kind kind;
  permission perm;
  proc_scope scope;
};

/// Looks up a full path ("healthcare.getAlert"); nullptr when unknown.
const procedure_info* find_procedure(std::string_view path);

/// Validates a decoded input (`input` is nullptr when there is none) and returns it normalised:
/// defaults applied (e.g. getActiveAlerts limit 20, subscribeToMetrics interval 5000,
/// acknowledgeAlert urgencyAssessment "maintain"), unknown keys dropped, timestamps parsed into
/// date values, roomNumber upper-cased. On failure: BAD_REQUEST
/// "Invalid input: <path>: <reason>; <path>: <reason>" naming every offending field (path
/// `input` when there is no input at all).
std::variant<json::value, call_error> validate_input(procedure p, const json::value* input);

/// True for `^[A-Za-z0-9_.:-]{1,64}$`.
bool valid_hospital_id(std::string_view s);
/// True for 8-4-4-4-12 hex digits, any case.
bool valid_uuid(std::string_view s);

} // namespace vigil
