#pragma once
// vigild configuration: defaults, the config file, environment variables and command-line flags,
// validated at start-up. Precedence: defaults < config file < environment < flags.
// Every option is documented in config/vigil.conf.example (the manual).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "domain/alert.hpp"
#include "domain/auth.hpp"
#include "domain/receipts.hpp"

namespace vigil {

/// Where scripts/build-web puts the dashboard (relative to the repository root, where scripts/run
/// starts vigild).
inline constexpr const char* default_static_dir = "web/dist";

/// How replies are encoded (server.transformer). Inputs are decoded by their shape in every mode:
/// a superjson envelope is unwrapped, anything else is taken as it is.
enum class transformer_mode {
  auto_detect, // "auto": a reply is superjson when its request's input was a superjson envelope
  superjson,   // "superjson": every reply and error is superjson
  json,        // "json": every reply and error is plain JSON
};

/// "auto", "superjson", "json".
const char* transformer_name(transformer_mode m);
/// Parses "auto", "superjson" or "json"; nullopt otherwise.
std::optional<transformer_mode> parse_transformer(std::string_view s);

struct config {
  // [server]
  std::string host = "0.0.0.0";          // server.host, --host
  bool host_is_default = true;           // server.host was not set anywhere
  /// server.host was not set and no secret is configured, so `host` became 127.0.0.1: tokens
  /// signed with the public development secret must not be accepted from the network.
  bool loopback_for_dev_secret = false;
  uint16_t port = 3001;                  // server.port, --port, WEBSOCKET_PORT
  std::string db_path = "./data/vigil.db"; // storage.path, --db, VIGIL_DB
  std::string log_level = "info";        // log.level, --log-level, LOG_LEVEL: debug|info|warn|error
  std::string log_format = "logfmt";     // log.format: logfmt|json
  transformer_mode transformer = transformer_mode::auto_detect; // server.transformer
  /// http.static-dir (the web dashboard, built by scripts/build-web), empty = none. The default
  /// is relative to the working directory and may be missing (then nothing is served at /); a
  /// directory set explicitly must exist.
  std::string static_dir = default_static_dir;
  bool static_dir_is_default = true;     // http.static-dir was not set anywhere
  std::vector<std::string> cors_origins = {"*"}; // http.cors-origins (comma-separated)
  int64_t http_write_timeout_ms = 30000; // http.write-timeout (a reply not taken by then: close)
  int64_t http_body_timeout_ms = 30000;  // http.body-timeout (a POST body not complete by then: 408)
  size_t worker_threads = 2;             // scheduler.threads (CAF workers, >= 1)
  std::string scheduler_policy = "sharing"; // scheduler.policy: sharing | stealing
  uint16_t admin_port = 3011;            // admin.port (0 disables the inspector)
  std::string admin_token_file;          // admin.token-file (empty: admin.token next to db_path)
  int64_t shutdown_drain_ms = 5000;      // shutdown.drain-timeout

  // [tls]
  std::string tls_cert_file;             // tls.cert-file (PEM chain, leaf first; empty = plain)
  std::string tls_key_file;              // tls.key-file (PEM private key of the leaf)
  uint16_t tls_plain_port = 0;           // tls.plain-port (plain listener on 127.0.0.1; 0 = none)
  /// True when server.port speaks TLS (both files given).
  bool tls() const { return !tls_cert_file.empty(); }

  // [auth]
  jwt_config jwt;                        // auth.jwt-secret (AUTH_JWT_SECRET), auth.public-key-file, auth.algorithm
  std::string jwt_secret_file;           // auth.jwt-secret-file (read at load; empty = none)
  std::string jwt_previous_secret_file;  // auth.jwt-previous-secret-file (read at load; empty = none)
  bool default_secret = true;            // true while the built-in dev secret is in use (warn loudly)
  int64_t anonymous_timeout_ms = 60000;  // auth.anonymous-timeout
  int64_t expiry_grace_ms = 10000;       // auth.expiry-grace

  // [limits]
  size_t frame_size = 64 * 1024;         // limits.frame-size
  size_t http_body = 1024 * 1024;        // limits.http-body
  size_t requests_per_frame = 50;        // limits.requests-per-frame
  size_t subscriptions_per_connection = 100; // limits.subscriptions-per-connection
  double rate = 1000;                    // limits.rate (requests/s per connection, 0 = off)
  double rate_burst = 2000;              // limits.rate-burst
  size_t outbound_budget = 1024 * 1024;  // limits.outbound-budget (bytes)
  size_t max_connections = 0;            // limits.max-connections (0 = derived from the fd limit)

  // [keepalive]
  int64_t ping_interval_ms = 30000;      // keepalive.ping-interval
  int64_t pong_wait_ms = 5000;           // keepalive.pong-wait

  // [storage] / [retention]
  bool synchronous_full = false;         // storage.synchronous: normal|full
  size_t ring_size = 1024;               // storage.ring-size (recent events kept per hospital)
  size_t resolved_window = 100;          // storage.resolved-window (resolved alerts kept per hospital)
  int retention_days = 30;               // retention.days
  int audit_retention_days = 2190;       // audit.retention-days (6 years)
  /// retention.resolved-alert-days: resolved alerts are deleted this long after their resolution
  /// (0: kept forever). Never shorter than retention_days (a check, or the default raised).
  int resolved_alert_retention_days = 365;

  // [storage] engine / [cluster] (docs/operations.md "Running a cluster")
  bool jetstream = false;                // storage.engine: sqlite (default) | jetstream
  std::vector<std::string> nats_urls;    // cluster.nats-urls (comma-separated nats:// URLs)
  int cluster_replicas = 3;              // cluster.replicas (stream replicas, 1..5)
  std::string cluster_stream = "VIGIL_EVENTS"; // cluster.stream (JetStream stream name)

  // [escalation]
  escalation_policy escalation;          // escalation.tiers, e.g. "nurse:2m,doctor:3m,head_doctor"
  /// escalation.failsafe (on|off), escalation.receipt-timeout, escalation.failsafe-urgencies
  failsafe_policy failsafe;

  // [metrics]
  int64_t metrics_interval_ms = 5000;    // default subscribeToMetrics interval

  std::string config_file;               // --config (empty: none)
  /// Problems that do not stop vigild (e.g. a secret file other users can read), one sentence
  /// each, for vigild to log at start and on every reload.
  std::vector<std::string> warnings;
};

/// True for an address only this machine can reach: 127.0.0.0/8, ::1, "localhost".
bool is_loopback_host(std::string_view host);

/// Environment lookup (injectable for tests); returns nullopt when unset.
using env_lookup = std::function<std::optional<std::string>(const char*)>;
env_lookup process_env();

/// Outcome of parsing the command line.
struct config_result {
  config cfg;
  bool help = false;                      // --help was given: print config_help() and exit 0
  bool version = false;                   // --version: print the version and exit 0
  bool check = false;                     // --check-config: validate, report and exit 0
};

/// Builds the configuration from defaults, the config file (`--config=FILE` or `--config FILE`),
/// the environment (`VIGIL_<SECTION>_<KEY>` for every option, plus the legacy WEBSOCKET_PORT,
/// AUTH_JWT_SECRET, VIGIL_DB and LOG_LEVEL) and flags (`--key=value` or `--key value`, keys as in the file, e.g.
/// `--limits.frame-size=65536`; short aliases `--port`, `--host`, `--db`, `--log-level`).
/// On any error returns one clear line naming the option, e.g.
/// `invalid value "abc" for limits.frame-size: expected a size in bytes (e.g. 65536, 64KiB)`.
std::variant<config_result, std::string> load_config(int argc, const char* const* argv,
                                                     const env_lookup& env);

/// The environment variable of option `key`: "limits.outbound-budget" ->
/// "VIGIL_LIMITS_OUTBOUND_BUDGET" (upper case, '.' and '-' become '_').
std::string env_name(std::string_view key);

/// Every option key of the table, in `--help` order.
std::vector<std::string> option_keys();

/// Parses a duration: "250ms", "30s", "2m", "1h", or a bare number of seconds ("1.5").
std::optional<int64_t> parse_duration_ms(std::string_view s);
/// Parses a size: "65536", "64KiB", "1MiB", "1MB".
std::optional<size_t> parse_size(std::string_view s);
/// Parses escalation tiers: "nurse:2m,doctor:3m,head_doctor" (1..3 tiers; every tier but the
/// last needs a timeout; the last has none).
std::variant<escalation_policy, std::string> parse_tiers(std::string_view s);

/// The admin token file used when admin.token-file is not set: `admin.token` in the directory
/// of the database file (vigild and `vigilctl console --db` agree on it).
std::string default_admin_token_file(const std::string& db_path);

/// The text printed by `vigild --help`: every option with its default and meaning.
std::string config_help();

} // namespace vigil
