#pragma once
// Delivery receipts and the unattended-alert failsafe (docs/api.md "confirmDelivery",
// "Escalation" → "Failsafe"). Pure functions over the alert model; the hospital actor keeps the
// timers and knows who is online.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "domain/alert.hpp"
#include "domain/auth.hpp"
#include "domain/json.hpp"

namespace vigil {

/// Receipts kept per alert (first come first kept); later users are not recorded.
inline constexpr size_t max_receipts_per_alert = 50;
/// At most one `alert.updated` carrying `seenBy` per alert in this many milliseconds.
inline constexpr int64_t seen_by_interval_ms = 1000;

/// Failsafe reasons (EscalationRecord.reason).
inline constexpr const char* reason_no_recipient_online = "no_recipient_online";
inline constexpr const char* reason_no_receipt = "no_receipt";

/// escalation.failsafe, escalation.receipt-timeout, escalation.failsafe-urgencies.
struct failsafe_policy {
  bool enabled = true;
  int64_t receipt_timeout_ms = 30000;
  /// Bit k set: urgency level k (1..5) fails safe. 1 and 2 always do.
  unsigned urgency_mask = 0b111110;
  bool covers(int urgency) const {
    return urgency >= 1 && urgency <= 5 && (urgency_mask & (1u << urgency)) != 0;
  }
};

/// Parses escalation.failsafe-urgencies: a comma-separated list of levels 1..5 that must contain
/// 1 and 2 (e.g. "1,2,3"). The mask (bit k = level k), or the reason it is invalid.
std::variant<unsigned, std::string> parse_failsafe_urgencies(std::string_view s);
/// "1,2,3": the levels of a mask, ascending.
std::string failsafe_urgencies_text(unsigned mask);

/// `{userId, role, seenAt, eventId}`.
json::value to_json(const delivery_receipt& r);
/// Reverse of to_json(r); nullopt when a key is missing or of the wrong type.
std::optional<delivery_receipt> receipt_from_json(const json::value& v);
/// `{"<role>": <users>, …}`: distinct users with a receipt, per role (roles without one left out).
json::value seen_by_json(const alert& a);

/// What one confirmation changed.
struct receipt_change {
  bool added = false;     // a new user's receipt (seenBy changed)
  bool attended = false;  // the current tier's role confirmed: the receipt deadline is met
  bool any() const { return added || attended; }
};

/// Records that `who` was shown event `event_id` of `a` at `now`: a receipt for a user without
/// one (while fewer than max_receipts_per_alert are kept), and, when the alert is active and
/// `who` has the role of its current tier, attended_tier = that tier. Idempotent.
receipt_change apply_receipt(alert& a, const identity& who, const std::string& event_id,
                             int64_t now, const escalation_policy& policy);

/// The role of the alert's current tier ("" beyond the configured tiers).
std::string current_tier_role(const alert& a, const escalation_policy& policy);
/// When the alert entered its current tier: the newest escalation record that reached it, else
/// createdAt.
int64_t tier_entered_at(const alert& a);
/// Whether the failsafe watches `a` now: it is on, the alert is active, its urgency is covered,
/// its current tier has had no receipt from that tier's role, and that tier has not already gone
/// unattended.
bool failsafe_watches(const alert& a, const failsafe_policy& fs, const escalation_policy& policy);
/// The receipt deadline of the current tier: a full receipt timeout from the later of tier entry
/// and `not_before` (server start: clients must reconnect before they can confirm).
int64_t receipt_deadline(const alert& a, const failsafe_policy& fs, int64_t not_before);
/// The failsafe step: one tier up (escalatedBy "system", `reason`), or at the last tier the
/// unattended call (unattended_alert).
transition_result failsafe_escalate(const alert& a, const escalation_policy& policy,
                                    const std::string& reason, int64_t now);
/// The throttled `alert.updated` carrying `{seenBy, updatedBy: "system", updatedAt}`.
transition seen_by_update(const alert& a, int64_t now);

} // namespace vigil
