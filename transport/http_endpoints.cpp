#include "transport/http_endpoints.hpp"

#include <cstdio>

#include "delivery/counters.hpp"
#include "domain/json.hpp"
#include "domain/process_stats.hpp"
#include "domain/time.hpp"

namespace vigil {

std::string health_body(const process_status& st) {
  auto v = json::value::make_object();
  v.set("status", "ok");
  v.set("version", VIGIL_VERSION);
  v.set("uptimeSec", (now_ms() - st.started_ms) / 1000);
  return json::to_string(v);
}

namespace {

void metric(std::string& out, const char* name, const char* type, const char* help,
            uint64_t value, const char* labels = nullptr) {
  if (help != nullptr) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
  }
  out += name;
  if (labels != nullptr) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

/// A histogram of `h` with cumulative buckets, _sum and _count.
void histogram(std::string& out, const char* name, const char* help, const latency_histogram& h) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= latency_histogram::bucket_count; ++i) {
    cumulative += h.buckets[i].load(std::memory_order_relaxed);
    char le[32] = "+Inf";
    if (i < latency_histogram::bucket_count)
      std::snprintf(le, sizeof le, "%g", latency_histogram::bounds[i]);
    out += std::string(name) + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += std::string(name) + "_sum " +
         std::to_string(static_cast<double>(h.sum_us.load()) / 1e6) + "\n";
  // The count is the +Inf bucket (read once above), so that a scrape racing an observation
  // never shows a count below its own buckets.
  out += std::string(name) + "_count " + std::to_string(cumulative) + "\n";
}

} // namespace

std::string metrics_body(const process_status& st, size_t ws_connections) {
  auto& c = counters::get();
  std::string out;
  out.reserve(4096);
  metric(out, "vigil_connections", "gauge", "Open WebSocket connections.", ws_connections);
  metric(out, "vigil_connections_opened_total", "counter", "WebSocket connections accepted.",
         c.connections_opened);
  metric(out, "vigil_accept_pauses_total", "counter",
         "Times accepting stopped because descriptors ran low (connections wait in the backlog).",
         c.accept_pauses);
  metric(out, "vigil_connections_closed_total", "counter",
         "WebSocket connections closed, by reason: the server's (slow_consumer 4008, "
         "frame_too_big 1009, unauthenticated 4001, token_expired 4003, keepalive) or the peer's.",
         c.slow_consumer_closes, "reason=\"slow_consumer\"");
  metric(out, "vigil_connections_closed_total", "counter", nullptr, c.closed_frame_too_big,
         "reason=\"frame_too_big\"");
  metric(out, "vigil_connections_closed_total", "counter", nullptr, c.closed_unauthenticated,
         "reason=\"unauthenticated\"");
  metric(out, "vigil_connections_closed_total", "counter", nullptr, c.closed_token_expired,
         "reason=\"token_expired\"");
  metric(out, "vigil_connections_closed_total", "counter", nullptr, c.closed_keepalive,
         "reason=\"keepalive\"");
  metric(out, "vigil_connections_closed_total", "counter", nullptr, c.closed_by_peer,
         "reason=\"peer\"");
  metric(out, "vigil_http_requests_total", "counter",
         "tRPC calls over HTTP (/api/trpc; not /health, /ready, /metrics).", c.http_requests);
  metric(out, "vigil_ws_frames_received_total", "counter", "WebSocket request frames received.",
         c.frames_in);
  metric(out, "vigil_ws_frames_sent_total", "counter", "WebSocket frames written.", c.frames_out);
  metric(out, "vigil_ws_writes_total", "counter",
         "Coalesced WebSocket writes (frames sent / writes = frames per system call).", c.ws_writes);
  metric(out, "vigil_subscriptions", "gauge", "Live subscriptions.", c.subscriptions_current);
  metric(out, "vigil_events_published_total", "counter", "Alert events committed and published.",
         c.events_published);
  metric(out, "vigil_events_delivered_total", "counter",
         "Alert event frames queued to subscribers (replay included).", c.events_delivered);
  metric(out, "vigil_escalations_fired_total", "counter", "Escalation steps fired by timers.",
         c.escalations_fired);
  metric(out, "vigil_failsafe_escalations_total", "counter",
         "Escalation steps of the unattended-alert failsafe (nobody of the tier's role online, or "
         "no delivery receipt in time), last-tier calls included.", c.failsafe_escalations);
  metric(out, "vigil_alerts_unattended_total", "counter",
         "Alerts the failsafe found unattended at the last tier (hospital-wide alert.escalated).",
         c.alerts_unattended);
  metric(out, "vigil_delivery_receipts_total", "counter",
         "Delivery receipts recorded (confirmDelivery: a user's first for an alert).",
         c.delivery_receipts);
  metric(out, "vigil_storage_commits_total", "counter",
         "SQLite group-commit transactions attempted (failures included).", c.storage_commits);
  metric(out, "vigil_storage_commit_items_total", "counter",
         "Mutations in those transactions (batch size = items / commits).",
         c.storage_commit_items);
  histogram(out, "vigil_storage_commit_seconds",
            "Duration of each SQLite group commit (failures included).", c.storage_commit);
  metric(out, "vigil_storage_commit_failures_total", "counter", "Failed SQLite commits.",
         c.storage_commit_failures);
  metric(out, "vigil_auth_failures_total", "counter", "Calls refused as UNAUTHORIZED, by reason.",
         c.auth_failures_missing, "reason=\"missing\"");
  metric(out, "vigil_auth_failures_total", "counter", nullptr, c.auth_failures_invalid,
         "reason=\"invalid\"");
  metric(out, "vigil_auth_failures_total", "counter", nullptr, c.auth_failures_expired,
         "reason=\"expired\"");
  static const char* codes[] = {"PARSE_ERROR", "BAD_REQUEST", "UNAUTHORIZED", "FORBIDDEN",
                                "NOT_FOUND", "METHOD_NOT_SUPPORTED", "CONFLICT",
                                "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE",
                                "TOO_MANY_REQUESTS", "INTERNAL_SERVER_ERROR",
                                "SERVICE_UNAVAILABLE"};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; ++i) {
    std::string label = std::string{"code=\""} + codes[i] + "\"";
    metric(out, "vigil_rejected_requests_total", "counter",
           i == 0 ? "Calls answered with an error, by tRPC code." : nullptr,
           c.rejected_by_code[i], label.c_str());
  }
  histogram(out, "vigil_publish_to_write_seconds",
            "From an event's commit to the write of its frame to a subscriber's socket.",
            c.publish_to_write);
  metric(out, "vigil_alert_index_size", "gauge", "Alerts known to the routing index.",
         st.alert_index_size);
  metric(out, "vigil_uptime_seconds", "gauge", "Seconds since start.",
         static_cast<uint64_t>((now_ms() - st.started_ms) / 1000));
  out += "# HELP vigil_build_info The running version (always 1).\n"
         "# TYPE vigil_build_info gauge\n"
         "vigil_build_info{version=\"" VIGIL_VERSION "\"} 1\n";
  if (auto p = read_process_stats())
    out += process_metrics_text(*p);
  return out;
}

} // namespace vigil
