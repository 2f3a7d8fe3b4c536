#pragma once
// The actors' side of the interfaces the transport calls (delivery/session.hpp,
// delivery/console_handler.hpp): WebSockets become connection actors, HTTP requests http_call
// actors, /ready a probe actor, console commands requests to the inspector. vigild creates these
// and hands them to the transport, which thus never sees CAF.

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <memory>

#include "actors/runtime.hpp"
#include "delivery/console_handler.hpp"
#include "delivery/session.hpp"

namespace vigil {

/// Sessions backed by actors of `sys` sharing `rt`; both must outlive the factory.
std::unique_ptr<session_factory> make_session_factory(caf::actor_system& sys, runtime_ptr rt);

/// Console commands answered by the inspector actor `inspector` (actors/inspector.hpp).
std::unique_ptr<console_handler> make_console_handler(caf::actor_system& sys, inspector_actor inspector);

} // namespace vigil
