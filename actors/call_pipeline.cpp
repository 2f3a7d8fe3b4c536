#include "actors/call_pipeline.hpp"

#include <cctype>

#include "domain/time.hpp"
#include "delivery/counters.hpp"

namespace vigil {

auth_state authenticate(const std::optional<std::string>& token, const runtime& rt) {
  return authenticate(token, *rt.jwt(), rt.now());
}

alert_lookup alert_lookup_of(const runtime& rt) {
  return [alerts = &rt.alerts](const std::string& alert_id) { return alerts->hospital_of(alert_id); };
}

call_context make_context(const runtime& rt, call_transport transport, int64_t now_ms) {
  call_context ctx;
  ctx.transport = transport;
  ctx.now_ms = now_ms;
  ctx.transformer = rt.cfg.transformer;
  ctx.hospital_of = alert_lookup_of(rt);
  return ctx;
}

void count_refusal(const refusal& r) {
  if (!r.auth_failure_seen)
    return;
  auto& c = counters::get();
  switch (*r.auth_failure_seen) {
    case auth_failure::missing: c.auth_failures_missing++; break;
    case auth_failure::invalid: c.auth_failures_invalid++; break;
    case auth_failure::expired: c.auth_failures_expired++; break;
  }
}

call_ptr to_call(routed_call&& r) {
  auto c = std::make_shared<call>();
  c->proc = r.proc;
  c->input = std::move(r.input);
  c->who = std::move(r.who);
  return c;
}

} // namespace vigil
