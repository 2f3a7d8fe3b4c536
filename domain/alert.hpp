#pragma once
// The alert model, its JSON shapes and the alert state machine (docs/api.md "Data types",
// "Alert state machine", "Escalation").
// Pure functions: they take the current alert and validated input and return the changed alert
// plus the event to emit, or a CONFLICT. Nothing here knows about actors, sockets or storage.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "domain/auth.hpp"
#include "domain/errors.hpp"
#include "domain/json.hpp"

namespace vigil {

enum class alert_status { active, acknowledged, resolved };
const char* status_name(alert_status s);
std::optional<alert_status> parse_status(std::string_view s);

struct escalation_record {
  int from_tier = 1;
  int to_tier = 2;
  std::string to_role;
  int64_t escalated_at = 0;
  std::string escalated_by;             // a user's sub, or "system"
  std::optional<std::string> reason;    // "timeout" for timers; failsafe: "no_recipient_online",
                                        // "no_receipt"
  /// The failsafe found nobody at the last tier: from_tier == to_tier, a hospital-wide call.
  bool unattended = false;
};

/// A person was shown an event of the alert (confirmDelivery); one per user, the first kept.
struct delivery_receipt {
  std::string user_id;                  // the token's sub
  std::string role;                     // the token's role
  int64_t seen_at = 0;                  // when the server took the first confirmation
  std::string event_id;                 // the event that user confirmed first
};

struct alert {
  std::string id;
  std::string hospital_id;
  std::string room_number;
  std::string alert_type;
  int urgency_level = 3;
  std::optional<std::string> description;
  alert_status status = alert_status::active;
  int escalation_level = 1;             // == currentEscalationTier
  std::optional<int64_t> next_escalation_at;
  std::optional<std::string> target_department;
  std::optional<std::string> patient_id;
  std::string created_by;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  std::optional<std::string> acknowledged_by;
  std::optional<int64_t> acknowledged_at;
  std::optional<std::string> acknowledgement_notes;
  std::optional<std::string> resolved_by;
  std::optional<int64_t> resolved_at;
  std::optional<std::string> resolution;
  std::vector<escalation_record> escalations; // oldest first
  /// At most max_receipts_per_alert (domain/receipts.hpp), first come first kept.
  std::vector<delivery_receipt> receipts;
  /// The last tier at which a user of that tier's role confirmed a delivery while the alert was
  /// active at that tier (0: none); the failsafe's receipt deadline is met when it equals
  /// escalation_level.
  int attended_tier = 0;
};

/// The Alert shape of docs/api.md "Alert" (every key present, timestamps as dates). With
/// `with_escalations` the `escalations` array is appended, and `receipts`, `seenBy` and
/// `attendedTier` (getAlert, getAlertTimeline, the stored row).
json::value to_json(const alert& a, bool with_escalations = false);
json::value to_json(const escalation_record& r);
/// Reverse of to_json(a, true) (storage reload). nullopt when a required key is missing.
std::optional<alert> alert_from_json(const json::value& v);
/// Reverse of to_json(r): an escalation record (stored in an alert, or an alert.escalated
/// event's data). nullopt when a key is missing or of the wrong type.
std::optional<escalation_record> escalation_from_json(const json::value& v);

/// One escalation tier: the role it reaches and, except for the last tier, its timeout.
struct escalation_tier {
  std::string role;
  std::optional<int64_t> timeout_ms;
};

/// Tiers 1..N (1 <= N <= 3). Default: nurse 2 min, doctor 3 min, head_doctor.
struct escalation_policy {
  std::vector<escalation_tier> tiers = {
    {"nurse", 120000}, {"doctor", 180000}, {"head_doctor", std::nullopt}};
  int max_tier() const { return static_cast<int>(tiers.size()); }
  /// Timeout of tier k (1-based), nullopt at or beyond the last tier.
  std::optional<int64_t> timeout_of(int tier) const;
};

/// An event before or after commit. `seq` and `id` are assigned by storage at commit.
struct alert_event {
  uint64_t seq = 0;
  std::string id;                 // "<epoch>-<seq>"
  std::string type;               // "alert.created", …
  std::string alert_id;
  std::string hospital_id;
  int64_t timestamp = 0;
  json::value data;
  // Filter attributes at the time of the event (docs/api.md "subscribeToAlerts", filter).
  int urgency_level = 0;
  std::string alert_type;
};

/// `{id,type,alertId,hospitalId,timestamp,data}`.
json::value to_json(const alert_event& e);

/// An uncommitted event about `a` (after its change): `seq` and `id` come from storage.
alert_event make_alert_event(const alert& a, const char* type, int64_t now, json::value data);

/// A successful transition: the new alert state and the event to emit.
struct transition {
  alert next;
  alert_event event;
};

using transition_result = std::variant<transition, call_error>;

/// createAlert: `input` is the validated input. `new_id` is a fresh lowercase UUID v4.
transition create_alert(const json::value& input, const identity& who, int64_t now,
                        const escalation_policy& policy, std::string new_id);
/// acknowledgeAlert (also used per alert by batchAcknowledgeAlerts with a minimal input).
transition_result acknowledge_alert(const alert& a, const json::value& input, const identity& who,
                                    int64_t now);
/// resolveAlert / batchResolveAlerts.
transition_result resolve_alert(const alert& a, const json::value& input, const identity& who,
                                int64_t now);
/// triggerEscalation (by = caller's sub, reason from input) or timer (by = "system",
/// reason = "timeout"). Restarts the deadline from `now`.
transition_result escalate_alert(const alert& a, const escalation_policy& policy,
                                 const std::string& by, std::optional<std::string> reason,
                                 int64_t now);
/// The failsafe at the last tier (or beyond the configured tiers): the alert stays where it is and
/// an `alert.escalated` with `unattended: true` (fromTier == toTier) calls the whole hospital.
/// CONFLICT when the alert is not active or its current tier already went unattended.
transition_result unattended_alert(const alert& a, const escalation_policy& policy,
                                   std::string reason, int64_t now);
/// updateAlert.
transition_result update_alert(const alert& a, const json::value& input, const identity& who,
                               int64_t now);
/// transferAlert (ownership: current acknowledger, or head_doctor/admin → else FORBIDDEN).
transition_result transfer_alert(const alert& a, const json::value& input, const identity& who,
                                 int64_t now);

/// A fresh lowercase UUID v4.
std::string make_uuid_v4();

} // namespace vigil
