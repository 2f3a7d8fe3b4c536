#pragma once
// The http_call actor: one per tRPC HTTP request (GET queries, POST mutations, batch or not).
// Runs every call of the request through the same pipeline as WebSocket calls, then writes one
// response (a JSON array in batch mode, status 207 when the items' statuses differ).

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/messages.hpp"
#include "actors/runtime.hpp"

namespace vigil {

void spawn_http_call(caf::actor_system& sys, runtime_ptr rt, http_request_ptr req);

} // namespace vigil
