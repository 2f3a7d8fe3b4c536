#pragma once
// The batch procedures (batchAcknowledgeAlerts, batchResolveAlerts) as per-alert calls
// (docs/api.md "Order of checks": checks 0–5 for the batch, 6–8 per alert). Pure: the routing
// code in actors/ sends each single call to its hospital and collects the outcomes.

#include <optional>
#include <string>
#include <vector>

#include "domain/auth.hpp"
#include "domain/json.hpp"
#include "domain/pipeline.hpp"
#include "domain/procedures.hpp"

namespace vigil {

/// The single-alert procedure a batch procedure runs per alert (acknowledgeAlert or
/// resolveAlert); null for any other procedure.
const procedure_info* batch_single_procedure(procedure batch);

/// The distinct alert ids of a validated batch input, in first-seen order.
std::vector<std::string> batch_alert_ids(const json::value& input);

/// Checks 6 and 7 for one alert of a batch: nullopt when `who` may act on it, otherwise the
/// per-alert error message ("Alert not found", "Access denied to this hospital"). `hospital`
/// receives the alert's hospital.
std::optional<std::string> check_batch_alert(const std::string& alert_id, const identity& who,
                                             const alert_lookup& hospital_of,
                                             std::string* hospital);

/// The input of the single call for `alert_id`: acknowledge takes the batch's `notes` and
/// urgencyAssessment "maintain"; resolve takes the batch's `resolution`.
json::value batch_single_input(procedure batch, const json::value& batch_input,
                               const std::string& alert_id);

/// The batch reply: {"success": any done, "acknowledged"|"resolved": done ids, "errors":
/// [{"alertId","error"}]}.
json::value batch_reply(procedure batch, json::value done, json::value errors);

} // namespace vigil
