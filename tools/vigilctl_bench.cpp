// `vigilctl bench`: a load generator for vigild (and for any server speaking the same tRPC
// procedures, such as bench/baseline). Options, the four scenarios and the report live here; the
// event loop is in vigilctl_bench_loop.cpp, the statistics in vigilctl_bench_stats.cpp.
//
// Every run is bounded in time and in count, and only loopback addresses are accepted as targets.

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <random>
#include <sstream>

#include "domain/auth.hpp"
#include "domain/config.hpp"
#include "tools/vigilctl_bench.hpp"
#include "tools/vigilctl_commands.hpp"
#include "tools/vigilctl_progress.hpp"
#include "tools/ws_client.hpp"

namespace vigil::ctl {

namespace {

using namespace bench;

constexpr int max_subscribers = 100000;
constexpr int max_hospitals = 2000;
constexpr int max_publishers = 256;
constexpr double max_duration_s = 300;
constexpr double max_rate = 1e6;

const char* const usage_text =
    "Usage: vigilctl bench --url ws://127.0.0.1:PORT (--secret S | --token T) [options]\n"
    "\n"
    "Load generator: N subscribers on M hospitals (subscribeToAlerts), P publishers calling\n"
    "createAlert, all in one event loop. Publishers write `bench:<pub>:<seq>:<ns>` into the alert\n"
    "description; subscribers use it for end-to-end latency and for lost/duplicated events.\n"
    "Only loopback targets are accepted (127.0.0.0/8, ::1).\n"
    "`vigilctl bench durable MODE …` runs the durable event log benchmarks instead\n"
    "(bench/durable.sh; see `vigilctl bench durable --help`).\n"
    "\n"
    "Load:\n"
    "  --subscribers N        subscriber connections (default 100, max 100000)\n"
    "  --hospitals M          hospitals; subscriber i subscribes to hospital i %% M (default 1)\n"
    "  --publishers P         publisher connections (default 1, max 256)\n"
    "  --transport ws|http    how publishers call createAlert (default ws; http = one request in\n"
    "                         flight per keep-alive connection)\n"
    "  --rate R               createAlert calls per second in total; 0 = as fast as possible\n"
    "                         (default 100)\n"
    "  --window W             mutations in flight per publisher connection (default 32)\n"
    "  --max-lag L            rate 0: a hospital gets no new event while its slowest subscriber is\n"
    "                         L events behind (keeps the run under the slow-consumer budget;\n"
    "                         default 200, 0 = no limit)\n"
    "  --duration D           seconds of publishing (default 10, max 300)\n"
    "  --drain D              seconds to wait for the last events after publishing (default 10)\n"
    "  --payload BYTES        pad each description by BYTES characters (default 0, max 400)\n"
    "  --stall K              the first K subscribers stop reading once subscribed\n"
    "  --stall-rcvbuf BYTES   SO_RCVBUF of stalled subscribers (default 0 = the kernel's; a small\n"
    "                         buffer closes the window sooner, but Linux then resumes slowly)\n"
    "\n"
    "Other scenarios:\n"
    "  --connect-only         open N subscribed idle connections, hold them --hold seconds, report\n"
    "                         server memory per connection (needs --pid)\n"
    "  --hold D               seconds to hold (default 5, max 600)\n"
    "  --reconnect-storm      connect N subscribers, disconnect them, publish --events E per\n"
    "                         hospital, reconnect all at once with lastEventId, time the catch-up\n"
    "  --events E             events per hospital for --reconnect-storm (default 100)\n"
    "\n"
    "Target and output:\n"
    "  --url URL              ws://HOST:PORT[/path] (the path defaults to /api/trpc)\n"
    "  --publish-port PORT    publishers connect to this port of the same host instead (another\n"
    "                         node of a cluster: fan-out across nodes)\n"
    "  --secret S             mint HS256 tokens (role admin) for the bench's hospitals\n"
    "  --token T              use this token everywhere instead (it must list the hospitals)\n"
    "  --hospital-prefix P    hospital ids are P0, P1, … (default bench-<random>-h; no \"bench:\" in P)\n"
    "  --pid PID              sample the server's RSS and CPU time from /proc/PID\n"
    "  --source-ips A,B       bind connections round-robin to these loopback addresses (more\n"
    "                         than ~28k connections need several)\n"
    "  --connect-concurrency C  connection attempts in progress at once (default 1000)\n"
    "  --connect-timeout S    seconds allowed for connecting everyone (default 60)\n"
    "  --label TEXT           copied into the JSON report\n"
    "  --json                 print the report as one JSON object\n"
    "  --verbose              print the phases of the run on stderr\n"
    "\n"
    "Durations (--duration, --drain, --hold, --connect-timeout) take vigild's syntax: 250ms,\n"
    "30s, 2m (a bare number is seconds); sizes (--payload, --stall-rcvbuf): 4096, 64KiB, 1MB.\n"
    "On a terminal, the phases show their progress on stderr.\n"
    "\n"
    "Exit codes: 0 the run completed (read the report for lost events), 1 it could not run\n"
    "(unreachable server, connections refused), 2 usage error.\n";

int usage_error(const std::string& message) {
  std::fprintf(stderr, "vigilctl bench: %s\n", message.c_str());
  std::fprintf(stderr, "Run `vigilctl bench --help` for the options.\n");
  return exit_usage;
}

struct options {
  std::string url;
  int publish_port = 0;  // 0: publishers use --url's port
  std::string secret;
  std::string token;
  int subscribers = 100;
  int hospitals = 1;
  int publishers = 1;
  bool http = false;
  double rate = 100;
  int window = 32;
  int64_t max_lag = 200;
  double duration = 10;
  double drain = 10;
  int payload = 0;
  int stall = 0;
  int stall_rcvbuf = 0;
  bool connect_only = false;
  double hold = 5;
  bool storm = false;
  int events = 100;
  std::string hospital_prefix;
  int pid = 0;
  std::vector<std::string> source_ips;
  int connect_concurrency = 1000;
  double connect_timeout = 60;
  std::string label;
  bool json = false;
  bool verbose = false;
};

bool verbose_on = false;

/// Progress on stderr with --verbose (phases of a run), never in the report.
void progress(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void progress(const char* fmt, ...) {
  if (!verbose_on) return;
  static const int64_t start = mono_ns();
  std::fprintf(stderr, "[%8.3f] ", (mono_ns() - start) / 1e9);
  va_list args;
  va_start(args, fmt);
  std::vfprintf(stderr, fmt, args);
  va_end(args);
  std::fputc('\n', stderr);
}

bool parse_number(const std::string& text, double lo, double hi, double* out) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end == nullptr || *end != '\0' || !std::isfinite(v) || v < lo || v > hi) return false;
  *out = v;
  return true;
}

/// A duration in vigild's syntax ("250ms", "30s", "2m"; a bare number is seconds, as before)
/// as seconds within lo..hi.
bool parse_seconds(const std::string& text, double lo, double hi, double* out) {
  auto ms = parse_duration_ms(text);
  if (!ms) return false;
  const double s = static_cast<double>(*ms) / 1000.0;
  if (s < lo || s > hi) return false;
  *out = s;
  return true;
}

/// A size in vigild's syntax ("4096", "64KiB", "1MB") within lo..hi bytes.
template <typename Int>
bool parse_bytes(const std::string& text, uint64_t lo, uint64_t hi, Int* out) {
  auto n = parse_size(text);
  if (!n || *n < lo || *n > hi) return false;
  *out = static_cast<Int>(*n);
  return true;
}

template <typename Int>
bool parse_int(const std::string& text, double lo, double hi, Int* out) {
  double v = 0;
  if (!parse_number(text, lo, hi, &v) || v != std::floor(v)) return false;
  *out = static_cast<Int>(v);
  return true;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string random_tag(int n) {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::mt19937 gen(rd());
  std::uniform_int_distribution<int> pick(0, 35);
  std::string s;
  for (int i = 0; i < n; ++i) s += alphabet[pick(gen)];
  return s;
}

/// Parses the options; returns an error message or "".
std::string parse_options(int argc, char** argv, options& o) {
  arg_cursor args(argc, argv);
  auto bad = [](const std::string& name, const std::string& v, const std::string& range) {
    return "invalid value \"" + v + "\" for --" + name + " (" + range + ")";
  };
  while (!args.done()) {
    std::string v;
    if (args.flag("json")) o.json = true;
    else if (args.flag("verbose")) o.verbose = true;
    else if (args.flag("connect-only")) o.connect_only = true;
    else if (args.flag("reconnect-storm")) o.storm = true;
    else if (args.value("url", v)) o.url = v;
    else if (args.value("publish-port", v)) {
      if (!parse_int(v, 1, 65535, &o.publish_port)) return bad("publish-port", v, "1..65535");
    }
    else if (args.value("secret", v)) o.secret = v;
    else if (args.value("token", v)) o.token = v;
    else if (args.value("subscribers", v)) {
      if (!parse_int(v, 0, max_subscribers, &o.subscribers)) return bad("subscribers", v, "0..100000");
    } else if (args.value("hospitals", v)) {
      if (!parse_int(v, 1, max_hospitals, &o.hospitals)) return bad("hospitals", v, "1..2000");
    } else if (args.value("publishers", v)) {
      if (!parse_int(v, 1, max_publishers, &o.publishers)) return bad("publishers", v, "1..256");
    } else if (args.value("transport", v)) {
      if (v != "ws" && v != "http") return bad("transport", v, "ws or http");
      o.http = v == "http";
    } else if (args.value("rate", v)) {
      if (!parse_number(v, 0, max_rate, &o.rate)) return bad("rate", v, "0..1000000");
    } else if (args.value("window", v)) {
      if (!parse_int(v, 1, 10000, &o.window)) return bad("window", v, "1..10000");
    } else if (args.value("max-lag", v)) {
      if (!parse_int(v, 0, 1e7, &o.max_lag)) return bad("max-lag", v, "0..10000000");
    } else if (args.value("duration", v)) {
      if (!parse_seconds(v, 0.1, max_duration_s, &o.duration)) return bad("duration", v, "100ms..5m");
    } else if (args.value("drain", v)) {
      if (!parse_seconds(v, 0, 120, &o.drain)) return bad("drain", v, "0s..2m");
    } else if (args.value("payload", v)) {
      if (!parse_bytes(v, 0, 400, &o.payload)) return bad("payload", v, "0..400 bytes");
    } else if (args.value("stall", v)) {
      if (!parse_int(v, 0, max_subscribers, &o.stall)) return bad("stall", v, "0..100000");
    } else if (args.value("stall-rcvbuf", v)) {
      if (!parse_bytes(v, 0, 64u << 20, &o.stall_rcvbuf)) return bad("stall-rcvbuf", v, "0..64MiB");
    } else if (args.value("hold", v)) {
      if (!parse_seconds(v, 0, 600, &o.hold)) return bad("hold", v, "0s..10m");
    } else if (args.value("events", v)) {
      if (!parse_int(v, 1, 100000, &o.events)) return bad("events", v, "1..100000");
    } else if (args.value("hospital-prefix", v)) {
      o.hospital_prefix = v;
    } else if (args.value("pid", v)) {
      if (!parse_int(v, 1, 4194304, &o.pid)) return bad("pid", v, "a process id");
    } else if (args.value("source-ips", v)) {
      o.source_ips = split(v, ',');
    } else if (args.value("connect-concurrency", v)) {
      if (!parse_int(v, 1, max_subscribers, &o.connect_concurrency)) return bad("connect-concurrency", v, "1..100000");
    } else if (args.value("connect-timeout", v)) {
      if (!parse_seconds(v, 1, 600, &o.connect_timeout)) return bad("connect-timeout", v, "1s..10m");
    } else if (args.value("label", v)) {
      o.label = v;
    } else if (args.failed()) {
      return args.error();
    } else {
      return "unknown option \"" + std::string(args.current()) + "\"";
    }
  }
  if (o.url.empty()) return "--url is required";
  if (o.secret.empty() == o.token.empty()) return "give exactly one of --secret and --token";
  if (o.connect_only && o.storm) return "--connect-only and --reconnect-storm exclude each other";
  if (o.stall > o.subscribers) return "--stall cannot exceed --subscribers";
  if (o.connect_only && o.pid == 0) return "--connect-only measures server memory: give --pid";
  if (o.hospitals > std::max(o.subscribers, 1) && !o.connect_only && o.subscribers > 0)
    return "--hospitals cannot exceed --subscribers";
  if (o.storm && o.subscribers == 0) return "--reconnect-storm needs subscribers";
  // Subscribers take the first "bench:" of an event for the publisher's marker.
  if (o.hospital_prefix.find("bench:") != std::string::npos) return "--hospital-prefix must not contain \"bench:\"";
  if (o.hospital_prefix.empty()) o.hospital_prefix = "bench-" + random_tag(6) + "-h";
  return "";
}

/// Raises RLIMIT_NOFILE to the hard limit; returns the soft limit now in force.
int raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 1024;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur > 1000000 ? 1000000 : static_cast<int>(lim.rlim_cur);
}

// ---- the report ----------------------------------------------------------------------------------

/// A flat, ordered list of report entries, printed as text or as one JSON object.
class report {
public:
  void number(const std::string& key, double v, int decimals = 3) {
    char buf[64];
    if (std::floor(v) == v && std::fabs(v) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", v);
    else std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    entries_.push_back({key, buf, false});
  }
  void text(const std::string& key, const std::string& v) { entries_.push_back({key, v, true}); }
  void counts(const std::string& key, const std::map<std::string, int64_t>& m) {
    std::string json = "{";
    for (const auto& [k, n] : m) {
      if (json.size() > 1) json += ',';
      json += quote(k) + ":" + std::to_string(n);
    }
    json += "}";
    entries_.push_back({key, json, false});
  }
  void latency(const std::string& key, const histogram& h) {
    const double ms = 1e6;
    number(key + ".samples", static_cast<double>(h.count()));
    number(key + ".p50_ms", h.quantile(0.50) / ms);
    number(key + ".p90_ms", h.quantile(0.90) / ms);
    number(key + ".p99_ms", h.quantile(0.99) / ms);
    number(key + ".p999_ms", h.quantile(0.999) / ms);
    number(key + ".max_ms", h.max() / ms);
    number(key + ".mean_ms", h.mean() / ms);
  }

  std::string as_json() const {
    std::string out = "{";
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (i > 0) out += ',';
      out += quote(entries_[i].key) + ":" + (entries_[i].is_text ? quote(entries_[i].value) : entries_[i].value);
    }
    return out + "}";
  }
  std::string as_text() const {
    std::string out;
    for (const auto& e : entries_) out += e.key + ": " + e.value + "\n";
    return out;
  }

private:
  static std::string quote(const std::string& s) {
    std::string q = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') q += '\\';
      if (static_cast<unsigned char>(c) < 0x20) continue;
      q += c;
    }
    return q + "\"";
  }
  struct entry {
    std::string key;
    std::string value;
    bool is_text;
  };
  std::vector<entry> entries_;
};

int64_t seconds_to_ns(double s) { return static_cast<int64_t>(s * 1e9); }

/// Server process figures between two samples.
void server_figures(report& r, const options& o, const std::optional<proc_sample>& before,
                    const std::optional<proc_sample>& after, double wall_s, int64_t peak_kb) {
  if (o.pid == 0) return;
  r.number("server.pid", o.pid);
  if (!before || !after) {
    r.text("server.error", "cannot read /proc/" + std::to_string(o.pid));
    return;
  }
  r.number("server.rss_kb_start", static_cast<double>(before->rss_kb));
  r.number("server.rss_kb_end", static_cast<double>(after->rss_kb));
  r.number("server.rss_kb_peak", static_cast<double>(std::max(peak_kb, after->rss_kb)));
  r.number("server.cpu_s", after->cpu_seconds - before->cpu_seconds, 2);
  r.number("server.cpu_pct", wall_s > 0 ? 100.0 * (after->cpu_seconds - before->cpu_seconds) / wall_s : 0, 1);
}

void client_figures(report& r, const proc_sample& before, const proc_sample& after, double wall_s) {
  r.number("client.cpu_s", after.cpu_seconds - before.cpu_seconds, 2);
  r.number("client.cpu_pct", wall_s > 0 ? 100.0 * (after.cpu_seconds - before.cpu_seconds) / wall_s : 0, 1);
  r.number("client.rss_kb", static_cast<double>(after.rss_kb));
}

void connect_figures(report& r, loop& lp, int64_t start_ns, int64_t end_ns, int wanted) {
  r.number("connect.wanted", wanted);
  r.number("connect.started", lp.started_count(conn_kind::subscriber));
  r.number("connect.ms", (end_ns - start_ns) / 1e6, 1);
  r.number("connect.retries", static_cast<double>(lp.connect_retries()));
  r.counts("connect.errors", lp.connect_errors());
}

/// Subscription errors and mutation errors by code.
void error_figures(report& r, loop& lp) { r.counts("errors", lp.errors()); }

/// Lost events: for every subscriber still connected (and not stalled), each OK event of its
/// hospital in `round` that it did not see.
struct loss {
  int64_t lost = 0;
  int64_t duplicates = 0;
  int64_t out_of_order = 0;
  int64_t wrong_hospital = 0;
  int64_t foreign = 0;
  int64_t other_events = 0;
  int64_t resyncs = 0;
  int64_t subscribers_checked = 0;
  int64_t subscribers_with_loss = 0;
};

loss count_losses(loop& lp, int round) {
  loss l;
  const auto& sent = lp.sent();
  for (conn* c : lp.subscribers()) {
    l.duplicates += c->duplicates;
    l.out_of_order += c->out_of_order;
    l.wrong_hospital += c->wrong_hospital;
    l.foreign += c->foreign;
    l.other_events += c->other_events;
    l.resyncs += c->resyncs;
    if (c->stalled || c->closed_in_run || c->state != conn_state::open) continue;
    ++l.subscribers_checked;
    int64_t missing = 0;
    for (size_t p = 0; p < sent.size(); ++p)
      for (size_t s = 0; s < sent[p].size(); ++s) {
        const sent_event& e = sent[p][s];
        if (e.status == 1 && e.round == round && e.hospital == c->hospital &&
            !c->seen.contains(static_cast<int>(p), static_cast<int64_t>(s)))
          ++missing;
      }
    l.lost += missing;
    if (missing > 0) ++l.subscribers_with_loss;
  }
  return l;
}

void loss_figures(report& r, const loss& l) {
  r.number("lost", static_cast<double>(l.lost));
  r.number("lost.subscribers_affected", static_cast<double>(l.subscribers_with_loss));
  r.number("duplicated", static_cast<double>(l.duplicates));
  r.number("out_of_order", static_cast<double>(l.out_of_order));
  r.number("wrong_hospital", static_cast<double>(l.wrong_hospital));
  r.number("foreign_events", static_cast<double>(l.foreign));
  r.number("other_events", static_cast<double>(l.other_events));
  r.number("resync_events", static_cast<double>(l.resyncs));
  r.number("subscribers_checked", static_cast<double>(l.subscribers_checked));
}

/// Close codes of connections that ended during the run without the bench asking, split into
/// stalled subscribers and everyone else.
void close_figures(report& r, loop& lp) {
  std::map<std::string, int64_t> stalled, others;
  int64_t stalled_closed = 0;
  for (const auto& c : lp.conns()) {
    if (!c->closed_in_run) continue;
    const std::string code = std::to_string(c->close_code);
    if (c->stalled) {
      ++stalled[code];
      ++stalled_closed;
    } else {
      ++others[c->kind == conn_kind::subscriber ? "subscriber " + code : "publisher " + code];
    }
  }
  r.counts("closed_during_run", others);
  r.counts("stalled.close_codes", stalled);
  r.number("stalled.closed", static_cast<double>(stalled_closed));
}

void print(const report& r, const options& o) {
  if (o.json) std::printf("%s\n", r.as_json().c_str());
  else std::printf("%s", r.as_text().c_str());
  std::fflush(stdout);
}

// ---- scenarios ------------------------------------------------------------------------------------

struct target {
  std::string host;
  int port = 0;
  std::string path;
};

/// Connects the subscribers and waits until all are started (or the connect timeout).
bool connect_all_subscribers(loop& lp, const options& o, bool with_last_id, int64_t* start, int64_t* end) {
  *start = mono_ns();
  lp.set_retry_failed_connects(true);
  lp.connect_subscribers(with_last_id);
  const int wanted = static_cast<int>(lp.subscribers().size());
  progress_line bar; // on a terminal only
  lp.run_until(
      [&] {
        if (bar.due())
          bar.update("connecting: %d of %d subscribers started",
                     lp.started_count(conn_kind::subscriber), wanted);
        return lp.pending_connects() == 0 &&
               lp.started_count(conn_kind::subscriber) + static_cast<int>(std::count_if(
                   lp.subscribers().begin(), lp.subscribers().end(),
                   [](conn* c) { return c->state == conn_state::closed; })) >= wanted;
      },
      *start + seconds_to_ns(o.connect_timeout));
  // Everyone else who is open but not yet started gets a little more time only within the
  // timeout above; report what we have.
  *end = mono_ns();
  bar.clear();
  lp.set_retry_failed_connects(false);
  progress("connect: %d of %d subscribers started in %.1f ms (%lld retries)",
           lp.started_count(conn_kind::subscriber), wanted, (*end - *start) / 1e6,
           static_cast<long long>(lp.connect_retries()));
  return lp.started_count(conn_kind::subscriber) > 0 || wanted == 0;
}

bool connect_all_publishers(loop& lp, const options& o) {
  lp.connect_publishers();
  lp.run_until(
      [&] {
        return lp.pending_connects() == 0;
      },
      mono_ns() + seconds_to_ns(o.connect_timeout));
  return lp.started_count(o.http ? conn_kind::http_publisher : conn_kind::ws_publisher) ==
         static_cast<int>(lp.publishers().size());
}

/// True when every live, non-stalled subscriber has every OK event of its hospital and no
/// mutation is in flight.
bool all_delivered(loop& lp) {
  if (lp.inflight_total() > 0 || lp.publishing()) return false;
  const auto& ok = lp.ok_per_hospital();
  for (conn* c : lp.subscribers()) {
    if (c->stalled || c->state != conn_state::open || !c->started) continue;
    if (c->received < ok[c->hospital]) return false;
  }
  return true;
}

void common_figures(report& r, const options& o, const std::string& mode) {
  r.text("mode", mode);
  if (!o.label.empty()) r.text("label", o.label);
  r.text("url", o.url);
  if (o.publish_port != 0) r.number("publish_port", o.publish_port);
  r.number("subscribers", o.subscribers);
  r.number("hospitals", o.hospitals);
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  r.text("date", date);
}

int run_publish(loop& lp, const options& o) {
  report r;
  common_figures(r, o, "publish");
  r.number("publishers", o.publishers);
  r.text("transport", o.http ? "http" : "ws");
  r.number("rate", o.rate);
  r.number("window", o.window);
  r.number("max_lag", static_cast<double>(o.max_lag));
  r.number("duration_s", o.duration);
  r.number("payload", o.payload);
  r.number("stall", o.stall);
  if (o.stall > 0) r.number("stall_rcvbuf", o.stall_rcvbuf);

  for (int i = 0; i < o.stall; ++i) lp.subscribers()[i]->stalled = true;
  int64_t c0 = 0, c1 = 0;
  if (!connect_all_subscribers(lp, o, false, &c0, &c1)) {
    std::fprintf(stderr, "vigilctl bench: no subscriber could connect to %s\n", o.url.c_str());
    return exit_failure;
  }
  connect_figures(r, lp, c0, c1, o.subscribers);
  if (!connect_all_publishers(lp, o)) {
    std::fprintf(stderr, "vigilctl bench: not every publisher could connect to %s\n", o.url.c_str());
    return exit_failure;
  }

  const auto server0 = o.pid ? read_proc(o.pid) : std::nullopt;
  const proc_sample self0 = read_self();
  const int64_t t0 = mono_ns();
  lp.watch_pid(o.pid);
  lp.set_measuring(true);
  lp.start_publishing(o.rate, o.window, o.rate > 0 ? 0 : o.max_lag, t0 + seconds_to_ns(o.duration), 1);
  progress_line bar; // on a terminal only; figures are computed only when the line is redrawn
  auto show = [&](const char* phase) {
    if (!bar.due()) return;
    size_t sent = 0;
    for (const auto& log : lp.sent()) sent += log.size();
    int64_t ok = 0;
    for (int64_t n : lp.ok_per_hospital()) ok += n;
    bar.update("%s: %.1f of %.0f s, %zu calls sent, %lld events committed", phase,
               (mono_ns() - t0) / 1e9, o.duration, sent, static_cast<long long>(ok));
  };
  lp.run_until([&] { show("publishing"); return !lp.publishing(); },
               t0 + seconds_to_ns(o.duration) + 1'000'000'000);
  const int64_t publish_end = mono_ns();
  const bool drained = lp.run_until([&] { show("draining"); return all_delivered(lp); },
                                    publish_end + seconds_to_ns(o.drain));
  bar.clear();
  const int64_t t1 = mono_ns();
  const auto server1 = o.pid ? read_proc(o.pid) : std::nullopt;
  const proc_sample self1 = read_self();
  lp.set_measuring(false);

  // Let the stalled subscribers read again: they either find the server's close (4008) or catch up.
  if (o.stall > 0) {
    for (int i = 0; i < o.stall; ++i) lp.set_stalled(*lp.subscribers()[i], false);
    lp.run_until(
        [&] {
          for (int i = 0; i < o.stall; ++i) {
            conn* c = lp.subscribers()[i];
            if (c->state == conn_state::open && c->received < lp.ok_per_hospital()[c->hospital]) return false;
          }
          return true;
        },
        mono_ns() + 5'000'000'000);
    // Keep the "stalled" mark for the report.
    for (int i = 0; i < o.stall; ++i) lp.subscribers()[i]->stalled = true;
  }

  int64_t sent = 0, ok = 0, failed = 0, pending = 0;
  for (const auto& log : lp.sent())
    for (const sent_event& e : log) {
      ++sent;
      if (e.status == 1) ++ok;
      else if (e.status == 2) ++failed;
      else ++pending;
    }
  const double publish_s = (publish_end - t0) / 1e9;
  r.number("published.sent", static_cast<double>(sent));
  r.number("published.ok", static_cast<double>(ok));
  r.number("published.failed", static_cast<double>(failed));
  r.number("published.no_reply", static_cast<double>(pending));
  r.number("published.per_s", publish_s > 0 ? ok / publish_s : 0, 1);
  r.number("published.behind_schedule_max", static_cast<double>(lp.behind_schedule()));
  const double deliver_s =
      lp.last_delivery_ns() > lp.first_send_ns() ? (lp.last_delivery_ns() - lp.first_send_ns()) / 1e9 : 0;
  r.number("delivered.events", static_cast<double>(lp.deliveries()));
  r.number("delivered.window_s", deliver_s, 3);
  r.number("delivered.per_s", deliver_s > 0 ? lp.deliveries() / deliver_s : 0, 0);
  r.text("drained", drained ? "yes" : "no");
  r.latency("latency", lp.latency());
  r.latency("latency_first", lp.latency_first());
  r.latency("mutation_rtt", lp.rtt());
  loss_figures(r, count_losses(lp, 1));
  close_figures(r, lp);
  if (o.stall > 0) {
    int64_t got = 0;
    for (int i = 0; i < o.stall; ++i) got += lp.subscribers()[i]->received;
    r.number("stalled.events_received", static_cast<double>(got));
  }
  error_figures(r, lp);
  server_figures(r, o, server0, server1, (t1 - t0) / 1e9, lp.peak_server_rss_kb());
  client_figures(r, self0, self1, (t1 - t0) / 1e9);
  print(r, o);
  return exit_ok;
}

int run_connect_only(loop& lp, const options& o) {
  report r;
  common_figures(r, o, "connect-only");
  r.number("hold_s", o.hold);
  const auto server0 = read_proc(o.pid);
  const proc_sample self0 = read_self();
  int64_t c0 = 0, c1 = 0;
  if (!connect_all_subscribers(lp, o, false, &c0, &c1)) {
    std::fprintf(stderr, "vigilctl bench: no subscriber could connect to %s\n", o.url.c_str());
    return exit_failure;
  }
  connect_figures(r, lp, c0, c1, o.subscribers);
  const auto server1 = read_proc(o.pid);
  lp.watch_pid(o.pid);
  lp.run_for(mono_ns() + seconds_to_ns(o.hold));
  const auto server2 = read_proc(o.pid);
  const int started = lp.started_count(conn_kind::subscriber);
  r.number("connections_held", started);
  if (server0 && server1 && server2) {
    r.number("server.rss_kb_before", static_cast<double>(server0->rss_kb));
    r.number("server.rss_kb_connected", static_cast<double>(server1->rss_kb));
    r.number("server.rss_kb_after_hold", static_cast<double>(server2->rss_kb));
    const double per = started > 0 ? (server2->rss_kb - server0->rss_kb) * 1024.0 / started : 0;
    const double per_connected = started > 0 ? (server1->rss_kb - server0->rss_kb) * 1024.0 / started : 0;
    r.number("server.rss_bytes_per_connection", per, 0);
    r.number("server.rss_bytes_per_connection_at_connect", per_connected, 0);
    r.number("server.cpu_s_during_hold", server2->cpu_seconds - server1->cpu_seconds, 2);
    r.number("server.cpu_s_connecting", server1->cpu_seconds - server0->cpu_seconds, 2);
  } else {
    r.text("server.error", "cannot read /proc/" + std::to_string(o.pid));
  }
  close_figures(r, lp);
  error_figures(r, lp);
  client_figures(r, self0, read_self(), (mono_ns() - c0) / 1e9);
  print(r, o);
  return exit_ok;
}

int run_storm(loop& lp, const options& o) {
  report r;
  common_figures(r, o, "reconnect-storm");
  r.number("events_per_hospital", o.events);
  r.number("publishers", o.publishers);
  int64_t c0 = 0, c1 = 0;
  if (!connect_all_subscribers(lp, o, false, &c0, &c1)) {
    std::fprintf(stderr, "vigilctl bench: no subscriber could connect to %s\n", o.url.c_str());
    return exit_failure;
  }
  connect_figures(r, lp, c0, c1, o.subscribers);
  if (!connect_all_publishers(lp, o)) {
    std::fprintf(stderr, "vigilctl bench: not every publisher could connect to %s\n", o.url.c_str());
    return exit_failure;
  }
  const int64_t phase_timeout = seconds_to_ns(std::max(o.duration, 30.0));

  progress("storm: %d subscribers started, %d publishers ready", lp.started_count(conn_kind::subscriber),
           static_cast<int>(lp.publishers().size()));
  // Round 1: one event per hospital, so that every subscriber has a lastEventId.
  lp.reset_subscriber_counts();
  lp.publish_fixed(1, o.window, 1);
  lp.run_until([&] { return all_delivered(lp); }, mono_ns() + phase_timeout);
  int without_id = 0;
  for (conn* c : lp.subscribers()) without_id += c->last_event_id.empty() ? 1 : 0;
  r.number("storm.subscribers_without_last_event_id", without_id);

  progress("storm: round 1 delivered, %d without a lastEventId", without_id);
  // Everyone leaves.
  lp.close_subscribers();
  lp.run_until([&] { return lp.open_count(conn_kind::subscriber) == 0; }, mono_ns() + phase_timeout);
  progress("storm: subscribers closed, %d still open", lp.open_count(conn_kind::subscriber));

  // Round 2: E events per hospital while nobody listens.
  lp.publish_fixed(o.events, o.window, 2);
  lp.run_until([&] { return !lp.publishing() && lp.inflight_total() == 0; }, mono_ns() + phase_timeout);
  int64_t ok2 = 0;
  for (int64_t n : lp.ok_per_hospital()) ok2 += n;
  progress("storm: round 2 published: %lld ok", static_cast<long long>(ok2));
  r.number("storm.events_published", static_cast<double>(ok2));

  // The storm: everyone reconnects at once and resumes from its lastEventId.
  lp.reset_subscriber_counts();
  const auto server0 = o.pid ? read_proc(o.pid) : std::nullopt;
  const proc_sample self0 = read_self();
  lp.watch_pid(o.pid);
  lp.set_measuring(true);  // counts deliveries; the latency of replayed events is not meaningful
  const int64_t s0 = mono_ns();
  const int64_t retries_before = lp.connect_retries();
  lp.set_retry_failed_connects(true);
  lp.connect_subscribers(true);
  const int wanted = static_cast<int>(lp.subscribers().size());
  lp.run_until(
      [&] {
        if (lp.pending_connects() > 0) return false;
        const auto& ok = lp.ok_per_hospital();
        for (conn* c : lp.subscribers())
          if (c->state != conn_state::closed && c->received < ok[c->hospital]) return false;
        return true;
      },
      s0 + phase_timeout);
  const int64_t s1 = mono_ns();
  lp.set_retry_failed_connects(false);
  const auto server1 = o.pid ? read_proc(o.pid) : std::nullopt;
  progress("storm: reconnect phase over after %.1f ms: %d started, %d pending connects",
           (s1 - s0) / 1e6, lp.started_count(conn_kind::subscriber), lp.pending_connects());

  histogram started_h, caught_h;
  int caught_up = 0;
  const auto& ok = lp.ok_per_hospital();
  int64_t last_caught = s0;
  for (conn* c : lp.subscribers()) {
    if (c->started) started_h.add(c->started_ns - s0);
    if (c->state == conn_state::open && c->received >= ok[c->hospital]) {
      ++caught_up;
      const int64_t at = c->caught_up_ns > 0 ? c->caught_up_ns : c->started_ns;
      caught_h.add(at - s0);
      last_caught = std::max(last_caught, at);
    }
  }
  r.number("storm.reconnected", lp.started_count(conn_kind::subscriber));
  r.number("storm.caught_up", caught_up);
  r.text("storm.all_caught_up", caught_up == wanted ? "yes" : "no");
  r.text("drained", caught_up == wanted ? "yes" : "no");
  r.number("storm.all_caught_up_ms", caught_up == wanted ? (last_caught - s0) / 1e6 : -1, 1);
  r.latency("storm.started", started_h);
  r.latency("storm.caught_up", caught_h);
  r.number("delivered.events", static_cast<double>(lp.deliveries()));
  r.number("delivered.per_s", s1 > s0 ? lp.deliveries() / ((last_caught - s0) / 1e9 + 1e-9) : 0, 0);
  loss_figures(r, count_losses(lp, 2));
  close_figures(r, lp);
  r.counts("connect.errors_storm", lp.connect_errors());
  r.number("storm.connect_retries", static_cast<double>(lp.connect_retries() - retries_before));
  error_figures(r, lp);
  server_figures(r, o, server0, server1, (s1 - s0) / 1e9, lp.peak_server_rss_kb());
  client_figures(r, self0, read_self(), (s1 - s0) / 1e9);
  print(r, o);
  return exit_ok;
}

} // namespace

int run_bench(int argc, char** argv) {
  // `vigilctl bench durable MODE …`: the durable event log benchmarks have options of their own.
  if (argc >= 2 && std::string_view(argv[1]) == "durable") return durable::run(argc - 1, argv + 1);
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf(usage_text);
      return exit_ok;
    }
  }
  options o;
  if (std::string err = parse_options(argc, argv, o); !err.empty()) return usage_error(err);
  verbose_on = o.verbose;

  std::string error;
  auto ep = parse_ws_url(o.url, &error);
  if (!ep) return usage_error(error);
  if (ep->tls)
    return usage_error("vigilctl bench speaks plain ws:// only; against a TLS server use its "
                       "loopback tls.plain-port");
  // Load generators must never hit a remote host: resolve and require loopback only.
  if (!resolves_to_loopback(ep->host))
    return usage_error("refusing " + ep->host + ": vigilctl bench only targets loopback addresses (127.0.0.0/8, ::1)");
  for (const std::string& ip : o.source_ips)
    if (!resolves_to_loopback(ip))
      return usage_error("--source-ips: " + ip + " is not a loopback address");

  const int fd_limit = raise_fd_limit();
  const int needed = o.subscribers + o.publishers + 64;
  if (needed > fd_limit)
    return usage_error("the run needs " + std::to_string(needed) + " file descriptors but the limit is " +
                       std::to_string(fd_limit));
  if (static_cast<size_t>(o.subscribers) > 28000 * std::max<size_t>(o.source_ips.size(), 1))
    std::fprintf(stderr, "vigilctl bench: warning: over ~28k connections per source address may run out of "
                         "ephemeral ports; use --source-ips 127.0.0.1,127.0.0.2,…\n");

  loop_config cfg;
  cfg.host = ep->host;
  cfg.port = ep->port;
  cfg.publisher_port = o.publish_port != 0 ? o.publish_port : ep->port;
  cfg.ws_path = ep->path + (ep->path.find('?') == std::string::npos ? "?" : "&") + "connectionParams=1";
  cfg.http_base = ep->path.substr(0, ep->path.find('?'));
  while (cfg.http_base.size() > 1 && cfg.http_base.back() == '/') cfg.http_base.pop_back();
  cfg.source_ips = o.source_ips;
  cfg.payload_bytes = static_cast<size_t>(o.payload);
  cfg.connect_concurrency = o.connect_concurrency;
  cfg.stall_rcvbuf = o.stall_rcvbuf;
  cfg.max_fds = fd_limit;
  for (int h = 0; h < o.hospitals; ++h) cfg.hospital_ids.push_back(o.hospital_prefix + std::to_string(h));
  const int64_t now_s = static_cast<int64_t>(std::time(nullptr));
  if (!o.token.empty()) {
    cfg.publisher_token = o.token;
    cfg.subscriber_tokens.assign(o.hospitals, o.token);
  } else {
    identity who;
    who.sub = "vigilctl-bench";
    who.user_role = role::admin;
    who.exp = now_s + 3600;
    who.hospitals = cfg.hospital_ids;
    cfg.publisher_token = mint_hs256(o.secret, who, now_s);
    for (int h = 0; h < o.hospitals; ++h) {
      who.hospitals = {cfg.hospital_ids[h]};
      cfg.subscriber_tokens.push_back(mint_hs256(o.secret, who, now_s));
    }
  }

  loop lp(cfg);
  if (!lp.init(&error)) {
    std::fprintf(stderr, "vigilctl bench: %s\n", error.c_str());
    return exit_failure;
  }
  lp.add_subscribers(o.subscribers, o.hospitals);
  if (!o.connect_only) lp.add_publishers(o.publishers, o.http);
  if (o.connect_only) return run_connect_only(lp, o);
  if (o.storm) return run_storm(lp, o);
  return run_publish(lp, o);
}

} // namespace vigil::ctl
