#pragma once
// The request pipeline as one pure decision (docs/api.md "Order of checks"): a call goes in
// with the caller's authentication state and what the actor knows about the connection; out
// comes either a refusal (the error to reply with) or a routed call (procedure, normalised
// input, identity, target hospital). Shared by WebSocket connections and HTTP requests. The
// actors only execute decisions: take the rate-limit token, send to the hospital, write replies.

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "domain/audit.hpp"
#include "domain/auth.hpp"
#include "domain/config.hpp"
#include "domain/errors.hpp"
#include "domain/json.hpp"
#include "domain/procedures.hpp"
#include "domain/trpc.hpp"

namespace vigil {

// ---- authentication -----------------------------------------------------------------------

/// The authentication state of a caller: a verified identity, or why there is none.
struct auth_state {
  std::shared_ptr<const identity> who;           // null when not authenticated
  auth_failure failure = auth_failure::missing;  // meaningful when `who` is null
  auth_reason reason = auth_reason::missing;     // why, for the log (never sent to the client)
};

/// Verifies a bearer token (raw JWT) at `now_ms`; no token (or an empty one) is `missing`.
auth_state authenticate(const std::optional<std::string>& token, const jwt_config& cfg,
                        int64_t now_ms);

/// The token of a WebSocket connection: connectionParams.token, connectionParams.authorization,
/// then the upgrade request's Authorization header (first present wins; `params` is null when
/// the connection sent none). An Authorization value that is not `Bearer <token>` yields a
/// token that never verifies, so the caller gets "Invalid token", not "Authentication required".
std::optional<std::string> ws_token(const trpc::connection_params* params,
                                    std::string_view upgrade_authorization);

/// The token of an HTTP request from its Authorization header (surrounding white space
/// ignored; empty: no token; not `Bearer <token>`: a token that never verifies).
std::optional<std::string> http_token(std::string_view authorization);

// ---- the decision -------------------------------------------------------------------------

enum class call_transport { websocket, http };

/// A call as it arrives, before any check.
struct call_request {
  trpc::rpc_method method = trpc::rpc_method::query;
  std::string_view path;
  const json::value* input = nullptr;  // raw input (maybe a superjson envelope); null: none
  const json::value* id = nullptr;     // WebSocket request id (for "Duplicate id"), else null
};

/// Alert id -> its hospital (the alert index); nullopt when there is no such alert.
using alert_lookup = std::function<std::optional<std::string>(const std::string& alert_id)>;

/// What the caller's actor knows that the decision depends on.
struct call_context {
  call_transport transport = call_transport::websocket;
  int64_t now_ms = 0;
  transformer_mode transformer = transformer_mode::auto_detect;
  /// Check 0: the rate limiter refused this call (the actor took the token).
  std::optional<call_error> rate_limited;
  /// WebSocket subscriptions: the request id is already in use on the connection …
  bool duplicate_id = false;
  /// … and how many subscriptions it has open, of how many allowed.
  size_t open_subscriptions = 0;
  size_t max_subscriptions = std::numeric_limits<size_t>::max();
  /// WebSocket: the connection's token has expired (it was asked to reconnect).
  bool connection_token_expired = false;
  /// The alert index, for alert-scoped procedures (checks 6 and 7).
  alert_lookup hospital_of;
};

/// A call that passed every check before the hospital actor.
struct routed_call {
  const procedure_info* proc = nullptr;
  json::value input;                    // validated, normalised (alert ids lower-case)
  std::shared_ptr<const identity> who;  // never null
  std::string hospital_id;              // empty for alert_list procedures (routed per alert)
};

/// A call refused before reaching a hospital.
struct refusal {
  call_error error;
  /// An authentication failure to count in the metrics (checks 3, not the connection's expiry).
  std::optional<auth_failure> auth_failure_seen;
  /// HTTP 405: the verb the procedure takes ("GET" or "POST"; null for subscriptions and for
  /// every other refusal), for the Allow header.
  const char* allow = nullptr;
};

struct decision {
  bool superjson = false;   // encode the reply (data or error) as superjson
  bool envelope = false;    // the input was a superjson envelope (whatever the transformer)
  std::variant<routed_call, refusal> outcome;

  routed_call* routed() { return std::get_if<routed_call>(&outcome); }
  const refusal* refused() const { return std::get_if<refusal>(&outcome); }
};

/// Runs the checks of docs/api.md "Order of checks" in order and stops at the first failure:
/// 0 rate limit (ctx.rate_limited); 1 procedure lookup (WebSocket: NOT_FOUND
/// `No "<method>"-procedure on path "<path>"`; HTTP: a known path with the wrong verb is 405
/// METHOD_NOT_SUPPORTED, an unknown one NOT_FOUND `No procedure found on path "<path>"`);
/// 2 WebSocket subscriptions: duplicate id, then the subscriptions limit (BAD_REQUEST);
/// WebSocket: the connection's token expired (UNAUTHORIZED); 3 token (UNAUTHORIZED, missing,
/// invalid or expired at ctx.now_ms); 4 role (FORBIDDEN); 5 input: superjson decoding and
/// validation (BAD_REQUEST); 6 the alert exists (NOT_FOUND); 7 hospital access (FORBIDDEN).
decision decide(const call_request& c, const auth_state& auth, const call_context& ctx);

// ---- the audit trail -----------------------------------------------------------------------

/// The audit action of a procedure: its name without the router ("acknowledgeAlert").
std::string audit_action(const procedure_info& proc);

/// The audit record of a refusal (docs/operations.md "Audit trail"), or nullopt when the refusal
/// is not audited. Audited: refusals of known mutations and of getAuditLog, and every
/// UNAUTHORIZED refusal of a known procedure; never a rate-limit refusal (a flood must not turn
/// into a flood of records) nor an unknown path. The user is the verified identity only (none
/// for a token that did not verify); the hospital and alert are the call's target when the input
/// names a well-formed one (an alert's hospital from the alert index). conn_id and remote are
/// left for the caller. Only ids and codes, never input text.
std::optional<audit_record> refusal_audit(const call_request& c, const refusal& r,
                                          const auth_state& auth, const call_context& ctx);

// ---- the parts, for callers that need one -------------------------------------------------

/// Whether the reply to a call with `input` (null: none) is superjson: forced by `superjson`
/// and `json`; under `auto_detect` when the input is a superjson envelope.
bool replies_superjson(const json::value* input, transformer_mode t);

/// Result of the procedure lookup for `path` with `method`.
struct lookup_result {
  const procedure_info* proc = nullptr;
  bool wrong_kind = false;   // exists, but not for this method (HTTP: 405)
};
lookup_result lookup(std::string_view path, trpc::rpc_method method);

/// The NOT_FOUND error for an unknown path: WS `No "<method>"-procedure on path "<path>"`,
/// HTTP `No procedure found on path "<path>"`.
call_error unknown_procedure(call_transport t, trpc::rpc_method m, std::string_view path);

/// The HTTP 405 error: `Unsupported <GET|POST>-request to <kind> procedure at path "<path>"`.
call_error wrong_method(trpc::rpc_method m, const procedure_info& proc);

} // namespace vigil
