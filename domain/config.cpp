// vigild configuration: one table of options (key, default, meaning, parser) drives the config
// file, the environment, the flags and `--help`, so the four can never disagree.

#include "domain/config.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>

namespace vigil {

namespace {

// -- text helpers ------------------------------------------------------------

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos
                                                                   : pos - start));
    if (pos == std::string_view::npos) return parts;
    start = pos + 1;
  }
}

// -- exact decimal numbers ---------------------------------------------------

/// A non-negative decimal "123" or "1.25" as mantissa / 10^scale, parsed exactly (no floating
/// point, so "1.1s" is exactly 1100 ms).
struct decimal {
  uint64_t mantissa = 0;
  int scale = 0;
};

std::optional<decimal> parse_decimal(std::string_view s) {
  decimal d;
  bool any_digit = false;
  bool seen_point = false;
  for (char c : s) {
    if (c == '.') {
      if (seen_point) return std::nullopt;
      seen_point = true;
      continue;
    }
    if (c < '0' || c > '9') return std::nullopt;
    any_digit = true;
    if (d.mantissa > (UINT64_MAX - 9) / 10) return std::nullopt;
    d.mantissa = d.mantissa * 10 + static_cast<uint64_t>(c - '0');
    if (seen_point) ++d.scale;
  }
  if (!any_digit || s.front() == '.' || s.back() == '.') return std::nullopt;
  return d;
}

/// mantissa * unit / 10^scale when that is a whole number that fits in `limit`.
std::optional<uint64_t> scale_exact(const decimal& d, uint64_t unit, uint64_t limit) {
  uint64_t divisor = 1;
  for (int i = 0; i < d.scale; ++i) {
    if (divisor > UINT64_MAX / 10) return std::nullopt;
    divisor *= 10;
  }
  unsigned __int128 product = static_cast<unsigned __int128>(d.mantissa) * unit;
  if (product % divisor != 0) return std::nullopt;
  unsigned __int128 result = product / divisor;
  if (result > limit) return std::nullopt;
  return static_cast<uint64_t>(result);
}

/// Splits "64KiB" or "64 KiB" into number and unit. Spaces are only allowed between the two
/// (callers trim the value; the parsers themselves are strict).
std::optional<std::pair<std::string_view, std::string_view>> split_unit(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
  std::string_view number = s.substr(0, i);
  std::string_view unit = s.substr(i);
  if (!unit.empty() && (unit.front() == ' ' || unit.front() == '\t')) {
    while (!unit.empty() && (unit.front() == ' ' || unit.front() == '\t')) unit.remove_prefix(1);
    if (unit.empty()) return std::nullopt;
  }
  for (char c : unit)
    if (is_blank(c)) return std::nullopt;
  return std::make_pair(number, unit);
}

std::optional<int64_t> parse_int(std::string_view s) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<double> parse_double(std::string_view s) {
  if (s.empty()) return std::nullopt;
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  if (!(v == v) || v > 1e300 || v < -1e300) return std::nullopt; // NaN, infinities
  return v;
}

// -- option table ------------------------------------------------------------

/// A setter returns nullopt on success, else the reason, which becomes
/// `invalid value "<v>" for <key>: <reason>`.
/// The configuration being built plus what is only resolved at the end (the key file is read
/// after all sources are applied, so only the last path given is opened).
struct staged : config {
  std::optional<std::string> key_file;
  bool secret_given = false;   // auth.jwt-secret was set by some source
  bool resolved_alert_days_given = false; // retention.resolved-alert-days was set by some source
};

using setter = std::optional<std::string> (*)(staged&, std::string_view);

struct option {
  const char* key;
  const char* alias;       // short flag without dashes, or nullptr
  const char* env;         // legacy environment variable kept as an alias, or nullptr
  const char* default_text;
  const char* help;
  setter set;
};

constexpr const char* built_in_secret = "dev-secret-change-me";

std::string range_text(int64_t lo, int64_t hi) {
  return "must be between " + std::to_string(lo) + " and " + std::to_string(hi);
}

// Each parse_* helper checks syntax and range and reports in the option's own words.

template <class T>
std::optional<std::string> set_integer(T& out, std::string_view v, int64_t lo, int64_t hi) {
  auto n = parse_int(v);
  if (!n) return "expected an integer";
  if (*n < lo || *n > hi) return range_text(lo, hi);
  out = static_cast<T>(*n);
  return std::nullopt;
}

std::optional<std::string> set_size(size_t& out, std::string_view v, uint64_t lo, uint64_t hi,
                                    const char* lo_text, const char* hi_text) {
  auto n = parse_size(v);
  if (!n) return "expected a size in bytes (e.g. 65536, 64KiB)";
  if (*n < lo || *n > hi) return std::string("must be between ") + lo_text + " and " + hi_text;
  out = *n;
  return std::nullopt;
}

std::optional<std::string> set_duration(int64_t& out, std::string_view v, int64_t lo, int64_t hi,
                                        const char* lo_text, const char* hi_text) {
  auto ms = parse_duration_ms(v);
  if (!ms) return "expected a duration (e.g. 250ms, 30s, 2m, 1h)";
  if (*ms < lo || *ms > hi) return std::string("must be between ") + lo_text + " and " + hi_text;
  out = *ms;
  return std::nullopt;
}

std::optional<std::string> set_choice(std::string& out, std::string_view v,
                                      std::initializer_list<const char*> choices) {
  std::string list;
  for (const char* c : choices) {
    if (v == c) {
      out = std::string(v);
      return std::nullopt;
    }
    if (!list.empty()) list += ", ";
    list += c;
  }
  return "expected one of " + list;
}

std::optional<std::string> set_port(uint16_t& out, std::string_view v) {
  return set_integer(out, v, 0, 65535);
}

std::optional<std::string> set_rate(double& out, std::string_view v, double hi) {
  auto d = parse_double(v);
  if (!d) return "expected a number";
  if (*d < 0 || *d > hi) return "must be between 0 and " + std::to_string(static_cast<int64_t>(hi));
  out = *d;
  return std::nullopt;
}

std::optional<std::string> set_cors(staged& c, std::string_view v) {
  std::vector<std::string> origins;
  if (!trim(v).empty()) {
    for (std::string_view part : split(v, ',')) {
      part = trim(part);
      if (part.empty()) return "expected a comma-separated list of origins without empty items";
      origins.emplace_back(part);
    }
  }
  if (origins.size() > 1)
    for (const std::string& o : origins)
      if (o == "*") return "\"*\" cannot be combined with other origins";
  c.cors_origins = std::move(origins);
  return std::nullopt;
}

std::optional<std::string> set_non_empty(std::string& out, std::string_view v) {
  if (v.empty()) return "must not be empty";
  out = std::string(v);
  return std::nullopt;
}

const std::vector<option>& options() {
  static const std::vector<option> table = {
    {"server.host", "host", nullptr, "0.0.0.0 (127.0.0.1 without a configured secret)",
     "address to listen on (0.0.0.0 = every interface)",
     [](staged& c, std::string_view v) {
       c.host_is_default = false;
       return set_non_empty(c.host, v);
     }},
    {"server.port", "port", "WEBSOCKET_PORT", "3001",
     "port for WebSocket and HTTP, 0..65535 (0 = any free port)",
     [](staged& c, std::string_view v) { return set_port(c.port, v); }},
    {"server.transformer", nullptr, nullptr, "auto",
     "reply encoding: auto (per request), superjson or json",
     [](staged& c, std::string_view v) {
       auto m = parse_transformer(v);
       if (!m) return std::optional<std::string>{"expected one of auto, superjson, json"};
       c.transformer = *m;
       return std::optional<std::string>{};
     }},
    {"storage.path", "db", "VIGIL_DB", "./data/vigil.db", "SQLite database file",
     [](staged& c, std::string_view v) { return set_non_empty(c.db_path, v); }},
    {"storage.synchronous", nullptr, nullptr, "normal",
     "SQLite synchronous mode: normal (WAL, survives process crashes) or full (also power loss)",
     [](staged& c, std::string_view v) -> std::optional<std::string> {
       if (v == "normal") c.synchronous_full = false;
       else if (v == "full") c.synchronous_full = true;
       else return std::string("expected one of normal, full");
       return std::nullopt;
     }},
    {"storage.ring-size", nullptr, nullptr, "1024",
     "recent events kept in memory per hospital for fast replay, 16..1000000",
     [](staged& c, std::string_view v) { return set_integer(c.ring_size, v, 16, 1000000); }},
    {"storage.resolved-window", nullptr, nullptr, "100",
     "newest resolved alerts kept in memory per hospital (older ones are read from SQLite on "
     "demand), 0..1000000",
     [](staged& c, std::string_view v) { return set_integer(c.resolved_window, v, 0, 1000000); }},
    {"storage.engine", nullptr, nullptr, "sqlite",
     "event store: sqlite (one node, embedded) or jetstream (a cluster node on NATS JetStream)",
     [](staged& c, std::string_view v) -> std::optional<std::string> {
       if (v == "sqlite") c.jetstream = false;
       else if (v == "jetstream") c.jetstream = true;
       else return std::string("expected one of sqlite, jetstream");
       return std::nullopt;
     }},
    {"cluster.nats-urls", nullptr, nullptr, "(none)",
     "comma-separated NATS server URLs (nats://host:port) of the JetStream cluster",
     [](staged& c, std::string_view v) -> std::optional<std::string> {
       c.nats_urls.clear();
       if (v.empty()) return std::optional<std::string>{}; // none (the default)
       size_t start = 0;
       while (start <= v.size()) {
         auto comma = v.find(',', start);
         auto item = v.substr(start, comma == std::string_view::npos ? v.npos : comma - start);
         while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
         while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
         if (item.empty()) return std::string("expected nats://host:port[,nats://host:port...]");
         if (item.rfind("nats://", 0) != 0 && item.rfind("tls://", 0) != 0)
           return "\"" + std::string(item) + "\" is not a nats:// or tls:// URL";
         c.nats_urls.emplace_back(item);
         if (comma == std::string_view::npos) break;
         start = comma + 1;
       }
       return std::nullopt;
     }},
    {"cluster.replicas", nullptr, nullptr, "3", "replicas of the event stream, 1..5",
     [](staged& c, std::string_view v) { return set_integer(c.cluster_replicas, v, 1, 5); }},
    {"cluster.stream", nullptr, nullptr, "VIGIL_EVENTS",
     "JetStream stream name (letters, digits, _ and -)",
     [](staged& c, std::string_view v) -> std::optional<std::string> {
       if (v.empty() || v.size() > 64) return std::string("expected 1..64 characters");
       for (char ch : v)
         if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-')
           return std::string("expected letters, digits, _ and - only");
       c.cluster_stream = std::string(v);
       return std::nullopt;
     }},
    {"retention.days", nullptr, nullptr, "30", "days of event log kept for replay, 1..3650",
     [](staged& c, std::string_view v) { return set_integer(c.retention_days, v, 1, 3650); }},
    {"retention.resolved-alert-days", nullptr, nullptr, "365",
     "days a resolved alert is kept after its resolution (0: forever; at least retention.days, "
     "which raises the default), 0..36500",
     [](staged& c, std::string_view v) {
       c.resolved_alert_days_given = true;
       return set_integer(c.resolved_alert_retention_days, v, 0, 36500);
     }},
    {"audit.retention-days", nullptr, nullptr, "2190",
     "days of audit trail kept (apart from the event log), 1..36500",
     [](staged& c, std::string_view v) {
       return set_integer(c.audit_retention_days, v, 1, 36500);
     }},
    {"log.level", "log-level", "LOG_LEVEL", "info", "debug, info, warn or error",
     [](staged& c, std::string_view v) {
       return set_choice(c.log_level, v, {"debug", "info", "warn", "error"});
     }},
    {"log.format", nullptr, nullptr, "logfmt", "log line format: logfmt or json",
     [](staged& c, std::string_view v) { return set_choice(c.log_format, v, {"logfmt", "json"}); }},
    {"auth.jwt-secret", nullptr, "AUTH_JWT_SECRET", built_in_secret,
     "HS256 secret (the default is for development only: it logs a warning and keeps vigild on "
     "loopback); prefer auth.jwt-secret-file, since a flag shows in `ps`; reloaded on SIGHUP",
     [](staged& c, std::string_view v) {
       c.secret_given = true;
       return set_non_empty(c.jwt.hs256_secret, v);
     }},
    {"auth.jwt-secret-file", nullptr, nullptr, "(none)",
     "file holding the HS256 secret (trailing newlines dropped; must not be empty); read at "
     "start-up and on SIGHUP; excludes auth.jwt-secret",
     [](staged& c, std::string_view v) -> std::optional<std::string> {
       c.jwt_secret_file = std::string(v);
       return std::nullopt;
     }},
    {"auth.jwt-previous-secret", nullptr, nullptr, "(none)",
     "during a rotation, tokens signed with this former HS256 secret are still accepted; "
     "reloaded on SIGHUP",
     [](staged& c, std::string_view v) -> std::optional<std::string> {
       c.jwt.previous_hs256_secret = std::string(v);
       return std::nullopt;
     }},
    {"auth.jwt-previous-secret-file", nullptr, nullptr, "(none)",
     "file holding auth.jwt-previous-secret (same rules as auth.jwt-secret-file); read at "
     "start-up and on SIGHUP",
     [](staged& c, std::string_view v) -> std::optional<std::string> {
       c.jwt_previous_secret_file = std::string(v);
       return std::nullopt;
     }},
    {"auth.public-key-file", nullptr, nullptr, "(none)",
     "PEM public key for RS256/ES256; read at start-up and on SIGHUP; HS256 is then refused",
     [](staged& c, std::string_view v) -> std::optional<std::string> {
       if (v.empty()) c.key_file.reset();
       else c.key_file = std::string(v);
       return std::nullopt;
     }},
    {"auth.algorithm", nullptr, nullptr, "HS256",
     "the only accepted JWT alg: HS256, RS256 or ES256 (RS256/ES256 need auth.public-key-file)",
     [](staged& c, std::string_view v) {
       return set_choice(c.jwt.algorithm, v, {"HS256", "RS256", "ES256"});
     }},
    {"auth.anonymous-timeout", nullptr, nullptr, "60s",
     "close a connection without a valid token after this long (code 4001), 100ms..1h",
     [](staged& c, std::string_view v) {
       return set_duration(c.anonymous_timeout_ms, v, 100, 3600000, "100ms", "1h");
     }},
    {"auth.expiry-grace", nullptr, nullptr, "10s",
     "after a token expires, close the connection this long after `reconnect` (code 4003), "
     "0..10m",
     [](staged& c, std::string_view v) {
       return set_duration(c.expiry_grace_ms, v, 0, 600000, "0s", "10m");
     }},
    {"limits.frame-size", nullptr, nullptr, "64KiB",
     "largest inbound WebSocket frame (bigger: close 1009), 1KiB..16MiB",
     [](staged& c, std::string_view v) {
       return set_size(c.frame_size, v, 1024, 16u << 20, "1KiB", "16MiB");
     }},
    {"limits.http-body", nullptr, nullptr, "1MiB", "largest HTTP request body (bigger: 413), 1KiB..64MiB",
     [](staged& c, std::string_view v) {
       return set_size(c.http_body, v, 1024, 64u << 20, "1KiB", "64MiB");
     }},
    {"limits.requests-per-frame", nullptr, nullptr, "50",
     "requests in one WebSocket batch frame, 1..1000",
     [](staged& c, std::string_view v) { return set_integer(c.requests_per_frame, v, 1, 1000); }},
    {"limits.subscriptions-per-connection", nullptr, nullptr, "100",
     "live subscriptions per connection, 1..10000",
     [](staged& c, std::string_view v) {
       return set_integer(c.subscriptions_per_connection, v, 1, 10000);
     }},
    {"limits.rate", nullptr, nullptr, "1000",
     "requests per second per connection (token bucket), 0..1000000 (0 = off)",
     [](staged& c, std::string_view v) { return set_rate(c.rate, v, 1e6); }},
    {"limits.rate-burst", nullptr, nullptr, "2000",
     "token bucket size: requests allowed at once, 0..10000000 (at least 1 while limits.rate is on)",
     [](staged& c, std::string_view v) { return set_rate(c.rate_burst, v, 1e7); }},
    {"limits.outbound-budget", nullptr, nullptr, "1MiB",
     "bytes queued for one connection before it is closed as a slow consumer (4008), 64KiB..1GiB",
     [](staged& c, std::string_view v) {
       return set_size(c.outbound_budget, v, 64 * 1024, 1u << 30, "64KiB", "1GiB");
     }},
    {"limits.max-connections", nullptr, nullptr, "0",
     "concurrent connections, 0..1000000 (0 = the file-descriptor limit less a reserve)",
     [](staged& c, std::string_view v) { return set_integer(c.max_connections, v, 0, 1000000); }},
    {"keepalive.ping-interval", nullptr, nullptr, "30s",
     "send a text PING after this much silence, 100ms..1h",
     [](staged& c, std::string_view v) {
       return set_duration(c.ping_interval_ms, v, 100, 3600000, "100ms", "1h");
     }},
    {"keepalive.pong-wait", nullptr, nullptr, "5s",
     "close if nothing arrives this long after a PING, 100ms..10m",
     [](staged& c, std::string_view v) {
       return set_duration(c.pong_wait_ms, v, 100, 600000, "100ms", "10m");
     }},
    {"escalation.tiers", nullptr, nullptr, "nurse:2m,doctor:3m,head_doctor",
     "escalation tiers role:timeout,...,last_role (1..3 tiers, timeouts 100ms..7d)",
     [](staged& c, std::string_view v) -> std::optional<std::string> {
       auto r = parse_tiers(v);
       if (auto* err = std::get_if<std::string>(&r)) return *err;
       c.escalation = std::get<escalation_policy>(std::move(r));
       return std::nullopt;
     }},
    {"escalation.failsafe", nullptr, nullptr, "on",
     "unattended-alert failsafe: escalate at once when nobody of the tier's role is online, or "
     "when nobody of it confirmed delivery within escalation.receipt-timeout (on or off)",
     [](staged& c, std::string_view v) -> std::optional<std::string> {
       if (v == "on") c.failsafe.enabled = true;
       else if (v == "off") c.failsafe.enabled = false;
       else return std::string("expected one of on, off");
       return std::nullopt;
     }},
    {"escalation.receipt-timeout", nullptr, nullptr, "30s",
     "failsafe: a tier with nobody of its role confirming delivery this long escalates, 100ms..1h",
     [](staged& c, std::string_view v) {
       return set_duration(c.failsafe.receipt_timeout_ms, v, 100, 3600000, "100ms", "1h");
     }},
    {"escalation.failsafe-urgencies", nullptr, nullptr, "1,2,3,4,5",
     "urgency levels the failsafe covers, comma-separated; must contain 1 and 2",
     [](staged& c, std::string_view v) -> std::optional<std::string> {
       auto r = parse_failsafe_urgencies(v);
       if (auto* err = std::get_if<std::string>(&r)) return *err;
       c.failsafe.urgency_mask = std::get<unsigned>(r);
       return std::nullopt;
     }},
    {"metrics.interval", nullptr, nullptr, "5s",
     "default subscribeToMetrics push interval, 1s..60s",
     [](staged& c, std::string_view v) {
       return set_duration(c.metrics_interval_ms, v, 1000, 60000, "1s", "60s");
     }},
    {"http.cors-origins", nullptr, nullptr, "*",
     "allowed browser origins, comma-separated (* = any, empty = none)", set_cors},
    {"http.static-dir", nullptr, nullptr, "web/dist (when it exists)",
     "directory served at / (the web dashboard); must exist when set, empty = none",
     [](staged& c, std::string_view v) -> std::optional<std::string> {
       c.static_dir = std::string(v);
       // Naming the default is the default: it may be missing (see check_whole).
       c.static_dir_is_default = v == default_static_dir;
       if (c.static_dir_is_default) return std::nullopt;
       if (v.empty()) return std::nullopt;
       struct stat st {};
       if (::stat(c.static_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
         return std::string("not a directory");
       return std::nullopt;
     }},
    {"http.write-timeout", nullptr, nullptr, "30s",
     "an HTTP reply whose client takes nothing of it for this long is dropped, 1s..10m",
     [](staged& c, std::string_view v) {
       return set_duration(c.http_write_timeout_ms, v, 1000, 600000, "1s", "10m");
     }},
    {"http.body-timeout", nullptr, nullptr, "30s",
     "a POST whose whole body has not arrived this long after its head gets 408, 1s..10m",
     [](staged& c, std::string_view v) {
       return set_duration(c.http_body_timeout_ms, v, 1000, 600000, "1s", "10m");
     }},
    {"admin.port", nullptr, nullptr, "3011",
     "port of the inspection console on 127.0.0.1, 0..65535 (0 = disabled)",
     [](staged& c, std::string_view v) { return set_port(c.admin_port, v); }},
    {"admin.token-file", nullptr, nullptr, "(admin.token next to storage.path)",
     "file with the console's admin token; created (mode 0600, random) at first start",
     [](staged& c, std::string_view v) { return set_non_empty(c.admin_token_file, v); }},
    {"tls.cert-file", nullptr, nullptr, "(none: plain ws:// and http://)",
     "PEM certificate chain (leaf first); with tls.key-file server.port speaks only TLS 1.2+ "
     "(wss://, https://); re-read on SIGHUP",
     [](staged& c, std::string_view v) {
       c.tls_cert_file = std::string(v);
       return std::optional<std::string>{};
     }},
    {"tls.key-file", nullptr, nullptr, "(none)",
     "PEM private key of tls.cert-file (unencrypted); re-read on SIGHUP",
     [](staged& c, std::string_view v) {
       c.tls_key_file = std::string(v);
       return std::optional<std::string>{};
     }},
    {"tls.plain-port", nullptr, nullptr, "0",
     "with TLS on, also serve plain ws:// and http:// on 127.0.0.1 at this port, 0..65535 "
     "(0 = none)",
     [](staged& c, std::string_view v) { return set_port(c.tls_plain_port, v); }},
    {"scheduler.threads", nullptr, nullptr, "2", "CAF worker threads, 1..64",
     [](staged& c, std::string_view v) { return set_integer(c.worker_threads, v, 1, 64); }},
    {"scheduler.policy", nullptr, nullptr, "sharing",
     "CAF scheduling: sharing (idle workers sleep until work comes) or stealing (idle workers "
     "poll; can be faster under saturation, costs CPU when quiet)",
     [](staged& c, std::string_view v) {
       return set_choice(c.scheduler_policy, v, {"sharing", "stealing"});
     }},
    {"shutdown.drain-timeout", nullptr, nullptr, "5s",
     "on SIGTERM, time allowed to flush replies and commits before closing, 0..5m",
     [](staged& c, std::string_view v) {
       return set_duration(c.shutdown_drain_ms, v, 0, 300000, "0s", "5m");
     }},
  };
  return table;
}

const option* find_option(std::string_view key) {
  for (const option& o : options())
    if (key == o.key) return &o;
  return nullptr;
}

const option* find_alias(std::string_view alias) {
  for (const option& o : options())
    if (o.alias && alias == o.alias) return &o;
  return nullptr;
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

/// Where a value came from, for error messages: "" (flag), "file:12: ", or " (from ENV)".
struct origin {
  std::string prefix;
  std::string suffix;
};

std::optional<std::string> apply(staged& c, const option& o, std::string_view value,
                                 const origin& from) {
  auto err = o.set(c, value);
  if (!err) return std::nullopt;
  return from.prefix + "invalid value " + quoted(value) + " for " + o.key + from.suffix + ": " +
         *err;
}

// -- config file -------------------------------------------------------------

bool valid_section(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

/// Reads a value: a double-quoted string (\" and \\ escapes) or bare text, where " #" starts a
/// comment. Returns nullopt with `error` set on bad quoting.
std::optional<std::string> parse_value(std::string_view raw, std::string& error) {
  raw = trim(raw);
  if (raw.empty() || raw.front() != '"') {
    for (size_t i = 1; i < raw.size(); ++i)
      if (raw[i] == '#' && (raw[i - 1] == ' ' || raw[i - 1] == '\t'))
        return std::string(trim(raw.substr(0, i)));
    return std::string(raw);
  }
  std::string out;
  size_t i = 1;
  for (; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\\' && i + 1 < raw.size() && (raw[i + 1] == '"' || raw[i + 1] == '\\')) {
      out.push_back(raw[++i]);
    } else if (c == '"') {
      break;
    } else {
      out.push_back(c);
    }
  }
  if (i >= raw.size()) {
    error = "unterminated quoted value";
    return std::nullopt;
  }
  std::string_view rest = trim(raw.substr(i + 1));
  if (!rest.empty() && rest.front() != '#') {
    error = "unexpected text after the quoted value";
    return std::nullopt;
  }
  return out;
}

struct file_entry {
  std::string key;
  std::string value;
  int line = 0;
};

/// Parses the INI-like file into entries; an error names `file:line`.
std::variant<std::vector<file_entry>, std::string> read_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot read config file \"" + path + "\"";
  std::vector<file_entry> entries;
  std::string section;
  std::string line_text;
  int line_no = 0;
  while (std::getline(in, line_text)) {
    ++line_no;
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    std::string_view line = trim(line_text);
    if (line_no == 1 && starts_with(line, "\xEF\xBB\xBF")) line = trim(line.substr(3)); // BOM
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') return where + "expected \"[section]\"";
      std::string_view name = trim(line.substr(1, line.size() - 2));
      if (!valid_section(name)) return where + "invalid section name " + quoted(name);
      section = std::string(name);
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) return where + "expected \"key = value\"";
    std::string_view key = trim(line.substr(0, eq));
    if (key.empty()) return where + "expected \"key = value\"";
    std::string error;
    auto value = parse_value(line.substr(eq + 1), error);
    if (!value) return where + error;
    // Dotted keys stand on their own anywhere; plain keys belong to the current section.
    std::string full = key.find('.') != std::string_view::npos || section.empty()
                         ? std::string(key)
                         : section + "." + std::string(key);
    entries.push_back({std::move(full), std::move(*value), line_no});
  }
  return entries;
}

// -- command line ------------------------------------------------------------

struct flag_entry {
  const option* opt;
  std::string value;
};

struct parsed_flags {
  std::vector<flag_entry> entries;
  std::optional<std::string> config_file;
  bool help = false;
  bool version = false;
  bool check = false;
};

std::variant<parsed_flags, std::string> parse_flags(int argc, const char* const* argv) {
  parsed_flags out;
  // Help wins over everything else on the line, so `vigild --typo --help` still helps.
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i] ? argv[i] : "";
    if (arg == "--help" || arg == "-h") {
      out.help = true;
      return out;
    }
  }
  // Then the version, which needs no valid configuration either (like `redis-server -v`).
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i] ? argv[i] : "";
    if (arg == "--version" || arg == "-v") {
      out.version = true;
      return out;
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i] ? argv[i] : "";
    if (arg == "--check-config" || arg == "-t") {
      out.check = true;
      continue;
    }
    if (!starts_with(arg, "--") || arg.size() == 2)
      return "unexpected argument " + quoted(arg) + " (options look like --key=value)";
    std::string_view body = arg.substr(2);
    std::string_view name = body;
    std::optional<std::string> value;
    if (size_t eq = body.find('='); eq != std::string_view::npos) {
      name = body.substr(0, eq);
      value = std::string(body.substr(eq + 1));
    }
    const option* opt = nullptr;
    bool is_config = name == "config";
    if (!is_config) {
      opt = find_option(name);
      if (!opt) opt = find_alias(name);
      if (!opt) return "unknown option " + quoted(name);
    }
    if (!value) {
      if (i + 1 >= argc) return "missing value for --" + std::string(name);
      value = std::string(argv[++i]);
    }
    if (is_config) {
      if (value->empty()) return "missing value for --config";
      out.config_file = std::move(*value);
    } else {
      out.entries.push_back({opt, std::move(*value)});
    }
  }
  return out;
}

// -- cross-option checks -----------------------------------------------------

std::optional<std::string> read_public_key(const std::string& path, std::string& pem) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot read auth.public-key-file \"" + path + "\"";
  std::ostringstream text;
  text << in.rdbuf();
  pem = text.str();
  if (pem.find("PRIVATE KEY") != std::string::npos)
    return "auth.public-key-file \"" + path + "\" holds a private key; give the public key";
  if (pem.find("-----BEGIN ") == std::string::npos || pem.find("PUBLIC KEY-----") == std::string::npos)
    return "auth.public-key-file \"" + path + "\" is not a PEM public key";
  return std::nullopt;
}

/// The [tls] options together: both files or neither, both readable (whether they hold a matching
/// certificate and key is checked by transport/tls.hpp, which has OpenSSL), and a plain port only
/// beside TLS, on a port of its own.
std::optional<std::string> check_tls(const staged& c) {
  if (c.tls_cert_file.empty() != c.tls_key_file.empty())
    return c.tls_cert_file.empty() ? "tls.key-file needs tls.cert-file"
                                   : "tls.cert-file needs tls.key-file";
  for (auto [key, path] : {std::pair{"tls.cert-file", &c.tls_cert_file},
                           std::pair{"tls.key-file", &c.tls_key_file}}) {
    if (path->empty()) continue;
    std::ifstream in(*path, std::ios::binary);
    if (!in) return std::string("cannot read ") + key + " \"" + *path + "\"";
  }
  if (c.tls_plain_port == 0) return std::nullopt;
  if (!c.tls())
    return "tls.plain-port needs tls.cert-file and tls.key-file (without TLS, server.port is "
           "plain already)";
  if (c.tls_plain_port == c.port)
    return "tls.plain-port must differ from server.port (" + std::to_string(c.port) + ")";
  if (c.tls_plain_port == c.admin_port)
    return "tls.plain-port must differ from admin.port (" + std::to_string(c.admin_port) + ")";
  return std::nullopt;
}

/// Reads the secret in `path` (option `key`) into `out`: trailing CR/LF dropped, empty refused,
/// at most 64 KiB. A file other users may read is accepted with a warning (container runtimes
/// mount secrets 0444 or 0644). The error and the warning never contain the secret.
std::optional<std::string> read_secret_file(const std::string& path, const char* key,
                                            std::string& out, std::vector<std::string>& warnings) {
  const std::string named = std::string(key) + " " + quoted(path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "cannot read " + named;
  if (!S_ISREG(st.st_mode)) return named + " is not a regular file";
  constexpr off_t max_secret_file = 64 * 1024;
  if (st.st_size > max_secret_file) return named + " is larger than 64 KiB; it must hold only the secret";
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot read " + named;
  std::ostringstream text;
  text << in.rdbuf();
  out = text.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (out.empty()) return named + " is empty";
  if (st.st_mode & S_IROTH)
    warnings.push_back(named + " is readable by every user; chmod 600 it (owner: vigild's user)");
  return std::nullopt;
}

/// The secrets: auth.jwt-secret or its file, the previous secret or its file, and what they
/// allow together with the algorithm.
std::optional<std::string> check_secrets(staged& c, bool asymmetric) {
  if (c.secret_given && !c.jwt_secret_file.empty())
    return "auth.jwt-secret and auth.jwt-secret-file are both set; keep one (the file keeps the "
           "secret out of `ps` and the environment)";
  if (!c.jwt.previous_hs256_secret.empty() && !c.jwt_previous_secret_file.empty())
    return "auth.jwt-previous-secret and auth.jwt-previous-secret-file are both set; keep one";
  if (!c.jwt_secret_file.empty()) {
    if (auto err = read_secret_file(c.jwt_secret_file, "auth.jwt-secret-file", c.jwt.hs256_secret,
                                    c.warnings))
      return err;
  }
  if (!c.jwt_previous_secret_file.empty()) {
    if (auto err = read_secret_file(c.jwt_previous_secret_file, "auth.jwt-previous-secret-file",
                                    c.jwt.previous_hs256_secret, c.warnings))
      return err;
  }
  c.default_secret = !asymmetric && c.jwt.hs256_secret == built_in_secret;
  if (!c.jwt.previous_hs256_secret.empty()) {
    if (asymmetric) return "auth.jwt-previous-secret applies to auth.algorithm HS256 only";
    if (c.default_secret)
      return "auth.jwt-previous-secret is set but no current secret (auth.jwt-secret-file or "
             "auth.jwt-secret) is";
  }
  if (c.default_secret) {
    if (c.host_is_default) {
      c.host = "127.0.0.1";
      c.loopback_for_dev_secret = true;
    } else if (!is_loopback_host(c.host)) {
      return "refusing to listen on " + c.host + " with the built-in development JWT secret "
             "(anyone can sign tokens with it): set auth.jwt-secret-file (or AUTH_JWT_SECRET), "
             "or listen on 127.0.0.1";
    }
  }
  return std::nullopt;
}

std::optional<std::string> check_whole(staged& c) {
  const std::optional<std::string>& key_file = c.key_file;
  const bool asymmetric = c.jwt.algorithm != "HS256";
  if (asymmetric && !key_file)
    return "auth.algorithm " + c.jwt.algorithm + " needs auth.public-key-file";
  if (!asymmetric && key_file)
    return "auth.public-key-file needs auth.algorithm RS256 or ES256";
  c.jwt.public_key_pem.clear();
  if (key_file) {
    if (auto err = read_public_key(*key_file, c.jwt.public_key_pem)) return err;
  }
  if (auto err = check_secrets(c, asymmetric)) return err;
  if (c.rate > 0 && c.rate_burst < 1)
    return "limits.rate-burst must be at least 1 while limits.rate is on";
  // A resolved alert outlives its events: its row is what is left of it after retention.days.
  if (c.resolved_alert_retention_days != 0 && c.resolved_alert_retention_days < c.retention_days) {
    if (c.resolved_alert_days_given)
      return "retention.resolved-alert-days (" + std::to_string(c.resolved_alert_retention_days) +
             ") must be 0 (forever) or at least retention.days (" +
             std::to_string(c.retention_days) + ")";
    c.resolved_alert_retention_days = c.retention_days;
  }
  if (c.admin_port != 0 && c.admin_port == c.port)
    return "admin.port must differ from server.port (" + std::to_string(c.port) + ")";
  if (c.jetstream && c.nats_urls.empty())
    return "storage.engine jetstream needs cluster.nats-urls (e.g. nats://127.0.0.1:4222)";
  if (!c.jetstream && !c.nats_urls.empty())
    return "cluster.nats-urls is set but storage.engine is sqlite; set storage.engine = jetstream";
  if (c.admin_token_file.empty())
    c.admin_token_file = default_admin_token_file(c.db_path);
  if (auto err = check_tls(c)) return err;
  if (c.static_dir_is_default) {
    // The default dashboard directory is optional: without a built dashboard, / serves nothing.
    struct stat st {};
    if (::stat(c.static_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) c.static_dir.clear();
  }
  return std::nullopt;
}

} // namespace

const char* transformer_name(transformer_mode m) {
  switch (m) {
    case transformer_mode::auto_detect: return "auto";
    case transformer_mode::superjson: return "superjson";
    case transformer_mode::json: return "json";
  }
  return "auto";
}

std::optional<transformer_mode> parse_transformer(std::string_view s) {
  if (s == "auto") return transformer_mode::auto_detect;
  if (s == "superjson") return transformer_mode::superjson;
  if (s == "json") return transformer_mode::json;
  return std::nullopt;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  const std::string text(host);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

std::string default_admin_token_file(const std::string& db_path) {
  auto slash = db_path.rfind('/');
  if (slash == std::string::npos)
    return "admin.token";
  return db_path.substr(0, slash + 1) + "admin.token";
}

std::string env_name(std::string_view key) {
  std::string out = "VIGIL_";
  for (char c : key) {
    if (c == '.' || c == '-') out.push_back('_');
    else if (c >= 'a' && c <= 'z') out.push_back(static_cast<char>(c - 'a' + 'A'));
    else out.push_back(c);
  }
  return out;
}

std::vector<std::string> option_keys() {
  std::vector<std::string> keys;
  for (const option& o : options()) keys.emplace_back(o.key);
  return keys;
}

env_lookup process_env() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

std::variant<config_result, std::string> load_config(int argc, const char* const* argv,
                                                     const env_lookup& env) {
  config_result result;
  auto flags_or_error = parse_flags(argc, argv);
  if (auto* err = std::get_if<std::string>(&flags_or_error)) return *err;
  auto& flags = std::get<parsed_flags>(flags_or_error);
  if (flags.help || flags.version) {
    result.help = flags.help;
    result.version = flags.version;
    return result;
  }
  result.check = flags.check;

  staged c;

  // An empty environment variable counts as unset (a common artefact of templated units).
  auto get_env = [&](const char* name) -> std::optional<std::string> {
    if (!env) return std::nullopt;
    auto v = env(name);
    if (v && v->empty()) return std::nullopt;
    return v;
  };

  // 1. the config file: --config wins over VIGIL_CONFIG
  if (flags.config_file) c.config_file = *flags.config_file;
  else if (auto from_env = get_env("VIGIL_CONFIG")) c.config_file = *from_env;
  if (!c.config_file.empty()) {
    auto entries = read_config_file(c.config_file);
    if (auto* err = std::get_if<std::string>(&entries)) return *err;
    for (const file_entry& e : std::get<std::vector<file_entry>>(entries)) {
      const std::string where = c.config_file + ":" + std::to_string(e.line) + ": ";
      const option* opt = find_option(e.key);
      if (!opt) return where + "unknown option " + quoted(e.key);
      if (auto err = apply(c, *opt, e.value, {where, ""})) return *err;
    }
  }

  // 2. the environment: the legacy name first, so that VIGIL_<SECTION>_<KEY> wins when both
  //    are set
  for (const option& o : options()) {
    std::vector<std::string> names;
    if (o.env) names.emplace_back(o.env);
    names.push_back(env_name(o.key));
    for (const std::string& name : names) {
      if (auto v = get_env(name.c_str())) {
        if (auto err = apply(c, o, *v, {"", " (from " + name + ")"})) return *err;
      }
    }
  }

  // 3. flags, in order (the last of repeated flags wins)
  for (const flag_entry& f : flags.entries)
    if (auto err = apply(c, *f.opt, f.value, {})) return *err;

  if (auto err = check_whole(c)) return *err;
  result.cfg = static_cast<config&&>(std::move(c));
  return result;
}

std::optional<int64_t> parse_duration_ms(std::string_view s) {
  auto parts = split_unit(s);
  if (!parts) return std::nullopt;
  auto [number, unit] = *parts;
  auto d = parse_decimal(number);
  if (!d) return std::nullopt;
  uint64_t unit_ms = 0;
  if (unit.empty() || unit == "s") unit_ms = 1000;
  else if (unit == "ms") unit_ms = 1;
  else if (unit == "m") unit_ms = 60 * 1000;
  else if (unit == "h") unit_ms = 3600 * 1000;
  else return std::nullopt;
  // Whole milliseconds only; the cap (about 292 million years) only guards against overflow.
  auto ms = scale_exact(*d, unit_ms, static_cast<uint64_t>(INT64_MAX));
  if (!ms) return std::nullopt;
  return static_cast<int64_t>(*ms);
}

std::optional<size_t> parse_size(std::string_view s) {
  auto parts = split_unit(s);
  if (!parts) return std::nullopt;
  auto [number, unit] = *parts;
  auto d = parse_decimal(number);
  if (!d) return std::nullopt;
  struct unit_def {
    const char* name;
    uint64_t bytes;
  };
  static constexpr unit_def units[] = {
    {"", 1},           {"B", 1},
    {"KB", 1000},      {"KiB", 1024},
    {"MB", 1000000},   {"MiB", 1024 * 1024},
    {"GB", 1000000000}, {"GiB", 1024ull * 1024 * 1024},
  };
  for (const unit_def& u : units) {
    if (iequals(unit, u.name)) {
      auto bytes = scale_exact(*d, u.bytes, SIZE_MAX);
      if (!bytes) return std::nullopt;
      return static_cast<size_t>(*bytes);
    }
  }
  return std::nullopt;
}

std::variant<escalation_policy, std::string> parse_tiers(std::string_view s) {
  constexpr int64_t min_timeout = 100;                  // 100ms: short enough for tests
  constexpr int64_t max_timeout = 7LL * 24 * 3600 * 1000; // 7 days
  escalation_policy policy;
  policy.tiers.clear();
  std::vector<std::string_view> items = split(s, ',');
  if (items.size() > 3) return std::string("at most 3 tiers");
  for (size_t i = 0; i < items.size(); ++i)
    if (trim(items[i]).empty()) return "tier " + std::to_string(i + 1) + " is empty";
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string tier = "tier " + std::to_string(i + 1);
    std::string_view item = trim(items[i]);
    std::string_view role_text = item;
    std::optional<std::string_view> timeout_text;
    if (size_t colon = item.find(':'); colon != std::string_view::npos) {
      role_text = trim(item.substr(0, colon));
      timeout_text = trim(item.substr(colon + 1));
    }
    if (!parse_role(role_text))
      return tier + ": unknown role " + quoted(role_text) +
             " (expected admin, head_doctor, doctor, nurse, operator or viewer)";
    escalation_tier t{std::string(role_text), std::nullopt};
    const bool last = i + 1 == items.size();
    if (last && timeout_text)
      return tier + " (" + t.role + ") is the last tier and takes no timeout";
    if (!last) {
      if (!timeout_text) return tier + " (" + t.role + ") needs a timeout, e.g. " + t.role + ":2m";
      auto ms = parse_duration_ms(*timeout_text);
      if (!ms) return tier + ": invalid timeout " + quoted(*timeout_text) + " (e.g. 90s, 2m)";
      if (*ms < min_timeout || *ms > max_timeout)
        return tier + ": timeout must be between 100ms and 7d";
      t.timeout_ms = *ms;
    }
    policy.tiers.push_back(std::move(t));
  }
  return policy;
}

std::string config_help() {
  std::string out =
    "Usage: vigild [--config FILE] [--check-config] [--KEY=VALUE | --KEY VALUE]...\n"
    "       vigild --version | --help\n"
    "\n"
    "Vigil real-time clinical alert server. Settings come from built-in defaults, then the\n"
    "config file (--config FILE or VIGIL_CONFIG), then environment variables, then flags.\n"
    "Every KEY below is also a config file key (\"key = value\", or \"[section]\" + \"name = "
    "value\")\n"
    "and an environment variable VIGIL_<SECTION>_<KEY> (upper case, '.' and '-' become '_',\n"
    "e.g. VIGIL_LIMITS_OUTBOUND_BUDGET); the older names listed after it still work, and the\n"
    "VIGIL_ name wins when both are set. Empty variables count as unset.\n"
    "Durations: 250ms, 30s, 2m, 1h (a bare number is seconds). Sizes: 65536, 64KiB, 1MiB, 1MB.\n"
    "The annotated example config/vigil.conf.example explains every option.\n"
    "\n"
    "Options:\n"
    "  --config FILE    read settings from FILE (env VIGIL_CONFIG)\n"
    "  -t, --check-config\n"
    "                   validate the file, environment and flags, print \"configuration OK\"\n"
    "                   (exit 0) or the error (exit 2), and exit without starting\n"
    "  -v, --version    print the version and exit\n"
    "  -h, --help       print this help and exit\n";
  for (const option& o : options()) {
    out += "  --";
    out += o.key;
    if (o.alias) {
      out += ", --";
      out += o.alias;
    }
    out += "\n      ";
    out += o.help;
    out += "\n      default: ";
    out += o.default_text;
    out += "   env: ";
    out += env_name(o.key);
    if (o.env) {
      out += ", ";
      out += o.env;
    }
    out += "\n";
  }
  return out;
}

} // namespace vigil
