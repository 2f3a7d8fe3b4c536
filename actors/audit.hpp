#pragma once
// Feeding the audit trail from the actors (docs/operations.md "Audit trail"): records of
// successful mutations travel with their commit (pending_write::audit, one transaction); records
// of refused actions go to the storage writer on their own and are appended with its next commit.

#include <string>

#include "actors/messages.hpp"
#include "actors/runtime.hpp"
#include "domain/pipeline.hpp"

namespace vigil {

/// The record of call `c` on `hospital_id` / `alert_id` at `now_ms` with `outcome` ("ok" or a
/// code name): the caller's verified identity, connection and peer; never the call's input.
audit_record audit_of(const call& c, const std::string& hospital_id, const std::string& alert_id,
                      int64_t now_ms, std::string outcome);

/// The record of an escalation fired by a hospital's timer (user and role "system").
audit_record timer_escalation_audit(const std::string& hospital_id, const std::string& alert_id,
                                    int64_t now_ms);

/// Sends refused actions' records to the storage writer (nothing when storage is not running).
void send_audit(const runtime& rt, std::vector<audit_record> records);

/// A refusal before the hospital (domain/pipeline.hpp refusal_audit): sends its record, with the
/// connection id and peer, when the refusal is audited.
void audit_refusal(const runtime& rt, const call_request& c, const refusal& r,
                   const auth_state& auth, const call_context& ctx, uint64_t conn_id,
                   const std::string& peer);

} // namespace vigil
