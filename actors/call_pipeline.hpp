#pragma once
// The checks every call goes through before it reaches a hospital actor, in the order of
// docs/api.md "Order of checks": procedure lookup, token, role, input validation, alert existence,
// hospital access.
// Shared by WebSocket connections and HTTP requests; no actor code here.

#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "actors/messages.hpp"
#include "actors/runtime.hpp"
#include "domain/trpc.hpp"

namespace vigil {

/// The authentication state of a caller: a verified identity, or why there is none.
struct auth_state {
  std::shared_ptr<const identity> who;           // null when not authenticated
  auth_failure failure = auth_failure::missing;  // meaningful when `who` is null
  auth_reason reason = auth_reason::missing;     // why, for the log (never sent to the client)
};

/// Verifies a bearer token (raw JWT) into an auth_state.
auth_state authenticate(const std::string* token, const runtime& rt);

/// A call that passed checks 1–5 and knows its hospital.
struct prepared_call {
  call_ptr c;
  std::string hospital_id;   // empty for alert_list calls (routed per alert)
};

enum class call_transport { websocket, http };

/// Result of the procedure lookup for `path` with `method`.
struct lookup_result {
  const procedure_info* proc = nullptr;
  bool wrong_kind = false;   // exists, but not for this method (HTTP: 405)
};
lookup_result lookup(std::string_view path, trpc::rpc_method method);

/// Runs checks 1–5 for a call whose procedure is known. `superjson` receives whether the input
/// was a superjson envelope (for encoding the reply, errors included).
std::variant<prepared_call, call_error> prepare_call(const procedure_info& proc,
                                                     const auth_state& auth, bool has_input,
                                                     const json::value& raw_input,
                                                     const runtime& rt, int64_t now_ms);

/// The NOT_FOUND error for an unknown path: WS `No "<method>"-procedure on path "<path>"`,
/// HTTP `No procedure found on path "<path>"`.
call_error unknown_procedure(call_transport t, trpc::rpc_method m, std::string_view path);

} // namespace vigil
