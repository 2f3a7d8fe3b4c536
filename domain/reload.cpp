// SIGHUP reload: which settings change live, which need a restart (domain/reload.hpp).

#include "domain/reload.hpp"

namespace vigil {

namespace {

bool same_tiers(const escalation_policy& a, const escalation_policy& b) {
  if (a.tiers.size() != b.tiers.size()) return false;
  for (size_t i = 0; i < a.tiers.size(); ++i)
    if (a.tiers[i].role != b.tiers[i].role || a.tiers[i].timeout_ms != b.tiers[i].timeout_ms)
      return false;
  return true;
}

/// Every setting that needs a restart, by option key, with whether it differs. A new option
/// must be listed here or in reloadable_keys() (tests/unit/reload_test.cpp checks that each
/// option key is one or the other).
std::vector<std::pair<const char*, bool>> restart_settings(const config& a, const config& b) {
  return {
    {"server.host", a.host != b.host},
    {"server.port", a.port != b.port},
    {"server.transformer", a.transformer != b.transformer},
    {"storage.path", a.db_path != b.db_path},
    {"storage.synchronous", a.synchronous_full != b.synchronous_full},
    {"storage.ring-size", a.ring_size != b.ring_size},
    {"storage.resolved-window", a.resolved_window != b.resolved_window},
    {"audit.retention-days", a.audit_retention_days != b.audit_retention_days},
    {"escalation.failsafe", a.failsafe.enabled != b.failsafe.enabled},
    {"escalation.receipt-timeout",
     a.failsafe.receipt_timeout_ms != b.failsafe.receipt_timeout_ms},
    {"escalation.failsafe-urgencies", a.failsafe.urgency_mask != b.failsafe.urgency_mask},
    {"storage.engine", a.jetstream != b.jetstream},
    {"cluster.nats-urls", a.nats_urls != b.nats_urls},
    {"cluster.replicas", a.cluster_replicas != b.cluster_replicas},
    {"cluster.stream", a.cluster_stream != b.cluster_stream},
    {"retention.days", a.retention_days != b.retention_days},
    {"retention.resolved-alert-days",
     a.resolved_alert_retention_days != b.resolved_alert_retention_days},
    {"log.format", a.log_format != b.log_format},
    {"auth.anonymous-timeout", a.anonymous_timeout_ms != b.anonymous_timeout_ms},
    {"auth.expiry-grace", a.expiry_grace_ms != b.expiry_grace_ms},
    {"limits.frame-size", a.frame_size != b.frame_size},
    {"limits.http-body", a.http_body != b.http_body},
    {"limits.requests-per-frame", a.requests_per_frame != b.requests_per_frame},
    {"limits.subscriptions-per-connection",
     a.subscriptions_per_connection != b.subscriptions_per_connection},
    {"limits.rate", a.rate != b.rate},
    {"limits.rate-burst", a.rate_burst != b.rate_burst},
    {"limits.outbound-budget", a.outbound_budget != b.outbound_budget},
    {"limits.max-connections", a.max_connections != b.max_connections},
    {"keepalive.ping-interval", a.ping_interval_ms != b.ping_interval_ms},
    {"keepalive.pong-wait", a.pong_wait_ms != b.pong_wait_ms},
    {"escalation.tiers", !same_tiers(a.escalation, b.escalation)},
    {"metrics.interval", a.metrics_interval_ms != b.metrics_interval_ms},
    {"http.static-dir", a.static_dir != b.static_dir},
    {"http.write-timeout", a.http_write_timeout_ms != b.http_write_timeout_ms},
    {"http.body-timeout", a.http_body_timeout_ms != b.http_body_timeout_ms},
    {"admin.port", a.admin_port != b.admin_port},
    {"admin.token-file", a.admin_token_file != b.admin_token_file},
    // The paths and the port; the files' contents are read again on every SIGHUP.
    {"tls.cert-file", a.tls_cert_file != b.tls_cert_file},
    {"tls.key-file", a.tls_key_file != b.tls_key_file},
    {"tls.plain-port", a.tls_plain_port != b.tls_plain_port},
    {"scheduler.threads", a.worker_threads != b.worker_threads},
    {"scheduler.policy", a.scheduler_policy != b.scheduler_policy},
    {"shutdown.drain-timeout", a.shutdown_drain_ms != b.shutdown_drain_ms},
  };
}

/// Every reloadable setting, by the key it is reported under, with whether it differs.
std::vector<std::pair<const char*, bool>> reloadable_settings(const config& a, const config& b) {
  return {
    {"log.level", a.log_level != b.log_level},
    {"auth.jwt-secret", a.jwt.hs256_secret != b.jwt.hs256_secret},
    {"auth.jwt-previous-secret", a.jwt.previous_hs256_secret != b.jwt.previous_hs256_secret},
    {"auth.public-key-file", a.jwt.public_key_pem != b.jwt.public_key_pem},
    {"auth.algorithm", a.jwt.algorithm != b.jwt.algorithm},
    {"http.cors-origins", a.cors_origins != b.cors_origins},
  };
}

} // namespace

const std::vector<std::string>& reloadable_keys() {
  static const std::vector<std::string> keys = {
    "log.level",
    "auth.jwt-secret",
    "auth.jwt-secret-file",
    "auth.jwt-previous-secret",
    "auth.jwt-previous-secret-file",
    "auth.public-key-file",
    "auth.algorithm",
    "http.cors-origins",
  };
  return keys;
}

reload_diff diff_for_reload(const config& running, const config& next) {
  reload_diff d;
  for (auto& [key, changed] : reloadable_settings(running, next))
    if (changed) d.reloaded.emplace_back(key);
  for (auto& [key, changed] : restart_settings(running, next))
    if (changed) d.restart_needed.emplace_back(key);
  return d;
}

std::optional<std::string> refuse_reload(const config& running, const config& next) {
  if (next.default_secret && !is_loopback_host(running.host))
    return "the new configuration has no JWT secret (the built-in development secret would be "
           "accepted) while vigild listens on " + running.host +
           "; set auth.jwt-secret-file (or auth.jwt-secret) and send SIGHUP again";
  return std::nullopt;
}

config apply_reloadable(const config& running, const config& next) {
  config out = running;
  out.log_level = next.log_level;
  out.jwt = next.jwt;
  out.jwt_secret_file = next.jwt_secret_file;
  out.jwt_previous_secret_file = next.jwt_previous_secret_file;
  out.default_secret = next.default_secret;
  out.cors_origins = next.cors_origins;
  out.warnings = next.warnings;
  return out;
}

} // namespace vigil
