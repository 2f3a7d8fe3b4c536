// Delivery receipts and the unattended-alert failsafe. See receipts.hpp.

#include "domain/receipts.hpp"

#include <algorithm>
#include <map>

#include "domain/json_fields.hpp"

namespace vigil {

std::variant<unsigned, std::string> parse_failsafe_urgencies(std::string_view s) {
  unsigned mask = 0;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string_view item = s.substr(start, comma == std::string_view::npos ? s.npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.size() != 1 || item[0] < '1' || item[0] > '5')
      return std::string("expected a comma-separated list of urgency levels 1..5 (e.g. 1,2,3)");
    mask |= 1u << (item[0] - '0');
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if ((mask & 0b110) != 0b110)
    return std::string("urgency levels 1 and 2 always fail safe: the list must contain 1 and 2");
  return mask;
}

std::string failsafe_urgencies_text(unsigned mask) {
  std::string out;
  for (int k = 1; k <= 5; ++k)
    if (mask & (1u << k)) {
      if (!out.empty()) out += ',';
      out += static_cast<char>('0' + k);
    }
  return out;
}

json::value to_json(const delivery_receipt& r) {
  json::value v = json::value::make_object();
  v.set("userId", r.user_id);
  v.set("role", r.role);
  v.set("seenAt", json::value::date(r.seen_at));
  v.set("eventId", r.event_id);
  return v;
}

std::optional<delivery_receipt> receipt_from_json(const json::value& v) {
  delivery_receipt r;
  if (!v.is_object() || !json::read_string(v, "userId", r.user_id) ||
      !json::read_string(v, "role", r.role) || !json::read_time(v, "seenAt", r.seen_at) ||
      !json::read_string(v, "eventId", r.event_id))
    return std::nullopt;
  return r;
}

json::value seen_by_json(const alert& a) {
  std::map<std::string, int64_t> counts; // ordered: the same alert always encodes the same
  for (const auto& r : a.receipts) ++counts[r.role];
  json::value v = json::value::make_object();
  for (const auto& [role, n] : counts) v.set(role, n);
  return v;
}

std::string current_tier_role(const alert& a, const escalation_policy& policy) {
  if (a.escalation_level < 1 || a.escalation_level > policy.max_tier()) return {};
  return policy.tiers[static_cast<size_t>(a.escalation_level - 1)].role;
}

receipt_change apply_receipt(alert& a, const identity& who, const std::string& event_id,
                             int64_t now, const escalation_policy& policy) {
  receipt_change c;
  const std::string role = role_name(who.user_role);
  bool known = std::any_of(a.receipts.begin(), a.receipts.end(),
                           [&](const delivery_receipt& r) { return r.user_id == who.sub; });
  if (!known && a.receipts.size() < max_receipts_per_alert) {
    a.receipts.push_back({who.sub, role, now, event_id});
    c.added = true;
  }
  if (a.status == alert_status::active && a.attended_tier != a.escalation_level &&
      role == current_tier_role(a, policy)) {
    a.attended_tier = a.escalation_level;
    c.attended = true;
  }
  return c;
}

int64_t tier_entered_at(const alert& a) {
  for (auto i = a.escalations.rbegin(); i != a.escalations.rend(); ++i)
    if (!i->unattended && i->to_tier == a.escalation_level) return i->escalated_at;
  return a.created_at;
}

bool failsafe_watches(const alert& a, const failsafe_policy& fs, const escalation_policy& policy) {
  (void)policy;
  if (!fs.enabled || a.status != alert_status::active || !fs.covers(a.urgency_level))
    return false;
  if (a.attended_tier == a.escalation_level) return false;
  return a.escalations.empty() || !a.escalations.back().unattended ||
         a.escalations.back().to_tier != a.escalation_level;
}

int64_t receipt_deadline(const alert& a, const failsafe_policy& fs, int64_t not_before) {
  return std::max(tier_entered_at(a), not_before) + fs.receipt_timeout_ms;
}

transition_result failsafe_escalate(const alert& a, const escalation_policy& policy,
                                    const std::string& reason, int64_t now) {
  if (a.escalation_level >= policy.max_tier())
    return unattended_alert(a, policy, reason, now);
  return escalate_alert(a, policy, "system", reason, now);
}

transition seen_by_update(const alert& a, int64_t now) {
  alert next = a;
  next.updated_at = now;
  json::value data = json::value::make_object();
  data.set("seenBy", seen_by_json(next));
  data.set("updatedBy", "system");
  data.set("updatedAt", json::value::date(now));
  alert_event e = make_alert_event(next, "alert.updated", now, std::move(data));
  return {std::move(next), std::move(e)};
}

} // namespace vigil
