#pragma once
// Glue between the actors and the request pipeline (domain/pipeline.hpp): the runtime's parts a
// decision needs, the metrics a refusal counts, and the call message a routed decision becomes.
// Shared by WebSocket connections and HTTP requests; no actor code here.

#include <string>

#include "actors/messages.hpp"
#include "actors/runtime.hpp"
#include "domain/pipeline.hpp"

namespace vigil {

/// Verifies a bearer token against the runtime's JWT configuration and clock.
auth_state authenticate(const std::optional<std::string>& token, const runtime& rt);

/// The runtime's alert index as the pipeline's lookup (the runtime must outlive it).
alert_lookup alert_lookup_of(const runtime& rt);

/// A call_context for `transport` at `now_ms` with the runtime's transformer and alert index
/// (the runtime must outlive the context).
call_context make_context(const runtime& rt, call_transport transport, int64_t now_ms);

/// Counts what a refusal says in the metrics (authentication failures).
void count_refusal(const refusal& r);

/// The message a routed call is sent to its hospital as, with the caller's connection (or HTTP
/// request) id and peer address for the audit trail.
call_ptr to_call(routed_call&& r, uint64_t conn_id, const std::string& remote);

} // namespace vigil
