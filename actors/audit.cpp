#include "actors/audit.hpp"

#include <caf/all.hpp>

namespace vigil {

audit_record audit_of(const call& c, const std::string& hospital_id, const std::string& alert_id,
                      int64_t now_ms, std::string outcome) {
  audit_record r;
  r.ts = now_ms;
  if (c.who) {
    r.user_id = c.who->sub;
    r.role = role_name(c.who->user_role);
  }
  r.hospital_id = hospital_id;
  r.alert_id = alert_id;
  r.action = audit_action(*c.proc);
  r.outcome = std::move(outcome);
  r.conn_id = c.conn_id;
  r.remote = c.remote;
  return r;
}

audit_record timer_escalation_audit(const std::string& hospital_id, const std::string& alert_id,
                                    int64_t now_ms) {
  audit_record r;
  r.ts = now_ms;
  r.user_id = "system";
  r.role = "system";
  r.hospital_id = hospital_id;
  r.alert_id = alert_id;
  r.action = audit_timer_escalation;
  r.outcome = audit_ok;
  return r;
}

void send_audit(const runtime& rt, std::vector<audit_record> records) {
  if (!rt.storage || records.empty())
    return;
  caf::anon_send(rt.storage, audit_atom::value,
                 audit_records_ptr{std::make_shared<const std::vector<audit_record>>(
                   std::move(records))});
}

void audit_refusal(const runtime& rt, const call_request& c, const refusal& r,
                   const auth_state& auth, const call_context& ctx, uint64_t conn_id,
                   const std::string& peer) {
  auto rec = refusal_audit(c, r, auth, ctx);
  if (!rec)
    return;
  rec->conn_id = conn_id;
  rec->remote = peer;
  send_audit(rt, {std::move(*rec)});
}

} // namespace vigil
