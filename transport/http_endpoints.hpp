#pragma once
// The operational endpoints /health (liveness) and /metrics (Prometheus text format). /ready
// (the delivery path works) is probed by the session factory (session_factory::probe_ready).

#include <string>

#include "delivery/session.hpp"

namespace vigil {

/// `{"status":"ok","version":"…","uptimeSec":N}`.
std::string health_body(const process_status& st);

/// Prometheus text exposition of the process counters.
std::string metrics_body(const process_status& st, size_t ws_connections);

} // namespace vigil
