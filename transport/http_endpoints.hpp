#pragma once
// The operational endpoints: /health (liveness), /ready (the delivery path works) and /metrics
// (Prometheus text format).

#include <caf/actor_system.hpp>

#include <string>

#include "actors/runtime.hpp"

namespace vigil {

/// `{"status":"ok","version":"…","uptimeSec":N}`.
std::string health_body(const runtime& rt);

/// Prometheus text exposition of the process counters.
std::string metrics_body(const runtime& rt, size_t ws_connections);

/// Probes the real delivery path within 1 s each step (the storage actor commits a write; the
/// directory answers, has restored every escalation timer and reaches the storage reader that
/// loads hospitals) and answers the HTTP request `conn_id` with 200 ready or 503 not_ready.
/// Creates nothing a client or the console can see.
void spawn_ready_probe(caf::actor_system& sys, runtime_ptr rt, uint64_t conn_id);

} // namespace vigil
